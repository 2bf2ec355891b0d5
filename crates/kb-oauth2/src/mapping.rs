//! How each provider's user JSON becomes PocketBase's user fields. Pure functions; the
//! extra requests some providers need (GitHub's e-mail list, …) are in `provider`.

use serde_json::{Map, Value};

/// The mapped fields of a user.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Mapped {
    pub id: String,
    pub name: String,
    pub username: String,
    pub email: String,
    pub avatar_url: String,
}

/// The value at a `/`-separated path of object keys (an all-digit segment indexes an array).
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(value, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(list) => key.parse::<usize>().ok().and_then(|i| list.get(i)),
        _ => None,
    })
}

/// Text at a path: strings as is, integers in decimal (ids), anything else empty.
pub(crate) fn text(value: &Value, path: &str) -> String {
    match at(value, path) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => String::new(),
    }
}

/// A JSON `true` at a path.
pub(crate) fn flag(value: &Value, path: &str) -> bool {
    matches!(at(value, path), Some(Value::Bool(true)))
}

/// A loose boolean, for claims providers send as booleans or strings (`email_verified`):
/// `true`, `"true"`/`"1"`/`"t"`/`"T"`/`"TRUE"`/`"True"`, or a non-zero number.
pub(crate) fn loose_flag(value: &Value, path: &str) -> bool {
    match at(value, path) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

/// A plausible e-mail address (one `@`, non-empty local part and domain, no spaces).
pub(crate) fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// The catalogue name whose mapping a provider uses (`oidc2`/`oidc3` read like `oidc`).
pub(crate) fn family(name: &str) -> &str {
    match name {
        "oidc2" | "oidc3" => "oidc",
        other => other,
    }
}

/// Maps the user JSON of provider `name`. `token` is the token response (some providers
/// put user data there: VK's e-mail). An `Err` is a user the provider reports as inactive
/// or a response without the user.
pub(crate) fn map_user(
    name: &str,
    raw: &Value,
    token: &Map<String, Value>,
) -> Result<Mapped, String> {
    let t = |path: &str| text(raw, path);
    let mut user = Mapped::default();
    match family(name) {
        "apple" => {
            user.id = t("sub");
            user.name = t("name");
            if loose_flag(raw, "email_verified") {
                user.email = t("email");
            }
        }
        "google" => {
            user.id = t("sub");
            user.name = t("name");
            user.avatar_url = t("picture");
            if flag(raw, "email_verified") {
                user.email = t("email");
            }
        }
        "microsoft" => {
            user.id = t("id");
            user.name = t("displayName");
            // Graph's `mail` is the default; `provider` may replace it from the id_token.
            user.email = t("mail");
        }
        "yandex" => {
            user.id = t("id");
            user.name = t("real_name");
            user.username = t("login");
            user.email = t("default_email");
            if !flag(raw, "is_avatar_empty") {
                user.avatar_url = format!(
                    "https://avatars.yandex.net/get-yapic/{}/islands-200",
                    t("default_avatar_id")
                );
            }
        }
        "facebook" => {
            user.id = t("id");
            user.name = t("name");
            user.email = t("email");
            user.avatar_url = t("picture/data/url");
        }
        "instagram2" => {
            user.id = t("user_id");
            user.name = t("name");
            user.username = t("username");
            user.avatar_url = t("profile_picture_url");
        }
        "github" | "gitee" => {
            user.id = t("id");
            user.name = t("name");
            user.username = t("login");
            user.avatar_url = t("avatar_url");
            // GitHub: from /user/emails; Gitee: its own field when valid, else /emails.
        }
        "gitlab" => {
            user.id = t("id");
            user.name = t("name");
            user.username = t("username");
            user.avatar_url = t("avatar_url");
            // A confirmation time (RFC 3339) means the address is confirmed.
            if t("confirmed_at").parse::<jiff::Timestamp>().is_ok() {
                user.email = t("email");
            }
        }
        "bitbucket" => {
            if t("account_status") != "active" {
                return Err("the Bitbucket user is not active".to_owned());
            }
            user.id = t("uuid");
            user.name = t("display_name");
            user.username = t("username");
            user.avatar_url = t("links/avatar/href");
        }
        "gitea" => {
            if !flag(raw, "active") {
                return Err("the Gitea user is not active".to_owned());
            }
            user.id = t("id");
            user.name = t("full_name");
            user.username = t("login");
            user.avatar_url = t("avatar_url");
        }
        "discord" => {
            user.id = t("id");
            user.username = t("username");
            user.name = t("global_name");
            if user.name.is_empty() {
                user.name = user.username.clone();
                let discriminator = t("discriminator");
                if !discriminator.is_empty() && discriminator != "0" {
                    user.name = format!("{}#{discriminator}", user.name);
                }
            }
            let avatar = t("avatar");
            if !avatar.is_empty() {
                user.avatar_url = format!(
                    "https://cdn.discordapp.com/avatars/{}/{avatar}.png",
                    user.id
                );
            }
            if flag(raw, "verified") {
                user.email = t("email");
            }
        }
        "twitter" => {
            user.id = t("data/id");
            user.name = t("data/name");
            user.username = t("data/username");
            // X only returns `confirmed_email`, a confirmed address.
            user.email = t("data/confirmed_email");
            user.avatar_url = t("data/profile_image_url");
        }
        "kakao" => {
            user.id = t("id");
            user.username = t("properties/nickname");
            user.avatar_url = t("properties/profile_image");
            if flag(raw, "kakao_account/is_email_valid")
                && flag(raw, "kakao_account/is_email_verified")
            {
                user.email = t("kakao_account/email");
            }
        }
        "vk" => {
            if at(raw, "response/0").is_none() {
                return Err("the VK response has no user".to_owned());
            }
            user.id = t("response/0/id");
            user.name = format!(
                "{} {}",
                t("response/0/first_name"),
                t("response/0/last_name")
            )
            .trim()
            .to_owned();
            user.username = t("response/0/screen_name");
            user.avatar_url = t("response/0/photo_max");
            // VK hands the (verified) address out with the token.
            user.email = match token.get("email") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
        }
        "linear" => {
            if !flag(raw, "data/viewer/active") {
                return Err("the Linear user is not active".to_owned());
            }
            user.id = t("data/viewer/id");
            user.name = t("data/viewer/name");
            user.username = t("data/viewer/displayName");
            user.email = t("data/viewer/email");
            user.avatar_url = t("data/viewer/avatarUrl");
        }
        "notion" => {
            user.id = t("bot/owner/user/id");
            user.name = t("bot/owner/user/name");
            user.email = t("bot/owner/user/person/email");
            user.avatar_url = t("bot/owner/user/avatar_url");
        }
        "monday" => {
            if !flag(raw, "data/me/enabled") {
                return Err("the monday.com user is not enabled".to_owned());
            }
            user.id = t("data/me/id");
            user.name = t("data/me/name");
            user.avatar_url = t("data/me/photo_small");
            if flag(raw, "data/me/is_verified") {
                user.email = t("data/me/email");
            }
        }
        "lark" => {
            user.id = t("data/union_id");
            user.name = t("data/name");
            user.avatar_url = t("data/avatar_url");
        }
        "box" => {
            let status = t("status");
            if status != "active" {
                return Err(format!("the Box user is not active (status {status:?})"));
            }
            user.id = t("id");
            user.name = t("name");
            user.avatar_url = t("avatar_url");
            // Box only lets users with a verified login address authorize.
            user.email = t("login");
        }
        "spotify" => {
            user.id = t("id");
            user.name = t("display_name");
            user.avatar_url = t("images/0/url");
        }
        "trakt" => {
            user.id = t("user/ids/uuid");
            user.name = t("user/name");
            user.username = t("user/username");
            user.avatar_url = t("user/images/avatar/full");
        }
        "twitch" => {
            if at(raw, "data/0").is_none() {
                return Err("the Twitch response has no user".to_owned());
            }
            user.id = t("data/0/id");
            user.name = t("data/0/display_name");
            user.username = t("data/0/login");
            // Twitch only returns the address once it is verified.
            user.email = t("data/0/email");
            user.avatar_url = t("data/0/profile_image_url");
        }
        "patreon" => {
            user.id = t("data/id");
            user.name = t("data/attributes/full_name");
            user.username = t("data/attributes/vanity");
            user.avatar_url = t("data/attributes/image_url");
            if flag(raw, "data/attributes/is_email_verified") {
                user.email = t("data/attributes/email");
            }
        }
        "strava" => {
            let id = t("id");
            user.id = if id == "0" { String::new() } else { id };
            user.name = format!("{} {}", t("firstname"), t("lastname"))
                .trim()
                .to_owned();
            user.username = t("username");
            user.avatar_url = t("profile");
        }
        "wakatime" => {
            user.id = t("data/id");
            user.name = t("data/display_name");
            user.username = t("data/username");
            if flag(raw, "data/is_email_confirmed") {
                user.email = t("data/email");
            }
            if flag(raw, "data/photo_public") {
                user.avatar_url = t("data/photo");
            }
        }
        "livechat" => {
            user.id = t("account_id");
            user.name = t("name");
            user.avatar_url = t("avatar_url");
            if flag(raw, "email_verified") {
                user.email = t("email");
            }
        }
        "mailcow" => {
            if at(raw, "active").and_then(Value::as_i64) != Some(1) {
                return Err("the mailcow user is not active".to_owned());
            }
            user.id = t("id");
            user.name = t("full_name");
            user.username = t("username");
            if let Some((local, _)) = user.username.split_once('@') {
                user.username = local.to_owned();
            }
            user.email = t("email");
        }
        "planningcenter" => {
            if t("data/attributes/status") != "active" {
                return Err("the Planning Center user is not active".to_owned());
            }
            user.id = t("data/id");
            user.name = t("data/attributes/name");
            user.avatar_url = t("data/attributes/avatar");
        }
        "oidc" => {
            user.id = t("sub");
            user.name = t("name");
            user.username = t("preferred_username");
            user.avatar_url = t("picture");
            if loose_flag(raw, "email_verified") {
                user.email = t("email");
            }
        }
        other => return Err(format!("no user mapping for {other:?}")),
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(name: &str, raw: Value) -> Mapped {
        map_user(name, &raw, &Map::new()).unwrap()
    }

    #[test]
    fn every_catalogue_provider_has_a_mapping() {
        for info in crate::providers() {
            let result = map_user(info.name, &json!({}), &Map::new());
            if let Err(e) = result {
                assert!(!e.starts_with("no user mapping"), "{}: {e}", info.name);
            }
        }
    }

    #[test]
    fn small_mappings() {
        let u = map(
            "yandex",
            json!({"id": "7", "real_name": "Ann Lee", "login": "ann", "default_email": "a@ya.ru",
                   "is_avatar_empty": false, "default_avatar_id": "131652443"}),
        );
        assert_eq!(
            u,
            Mapped {
                id: "7".into(),
                name: "Ann Lee".into(),
                username: "ann".into(),
                email: "a@ya.ru".into(),
                avatar_url: "https://avatars.yandex.net/get-yapic/131652443/islands-200".into(),
            }
        );
        let u = map(
            "facebook",
            json!({"id": "10", "name": "Bo", "email": "bo@fb.com",
                                      "picture": {"data": {"url": "https://fb/p.jpg"}}}),
        );
        assert_eq!(
            (u.id.as_str(), u.email.as_str(), u.avatar_url.as_str()),
            ("10", "bo@fb.com", "https://fb/p.jpg")
        );
        let u = map(
            "kakao",
            json!({"id": 123456789012_i64, "properties": {"nickname": "nick", "profile_image": "https://k/i.png"},
                                   "kakao_account": {"email": "k@kakao.com", "is_email_valid": true, "is_email_verified": false}}),
        );
        assert_eq!(
            (u.id.as_str(), u.username.as_str(), u.email.as_str()),
            ("123456789012", "nick", "")
        );
        let u = map_user("vk", &json!({"response": [{"id": 5, "first_name": "Ivan", "last_name": "", "screen_name": "iv", "photo_max": "https://vk/p"}]}),
                         json!({"email": "iv@vk.com"}).as_object().unwrap()).unwrap();
        assert_eq!(
            (u.id.as_str(), u.name.as_str(), u.email.as_str()),
            ("5", "Ivan", "iv@vk.com")
        );
        assert!(map_user("vk", &json!({"response": []}), &Map::new()).is_err());
        let u = map(
            "twitch",
            json!({"data": [{"id": "44", "login": "tw", "display_name": "Tw", "email": "t@tw.tv", "profile_image_url": "https://tw/p"}]}),
        );
        assert_eq!(
            (
                u.id.as_str(),
                u.name.as_str(),
                u.username.as_str(),
                u.email.as_str()
            ),
            ("44", "Tw", "tw", "t@tw.tv")
        );
        let u = map(
            "patreon",
            json!({"data": {"id": "9", "attributes": {"email": "p@p.com", "full_name": "Pat", "vanity": "pat", "image_url": "https://p/i", "is_email_verified": false}}}),
        );
        assert_eq!(
            (
                u.id.as_str(),
                u.name.as_str(),
                u.username.as_str(),
                u.email.as_str()
            ),
            ("9", "Pat", "pat", "")
        );
        let u = map(
            "strava",
            json!({"id": 0, "firstname": "Sam", "lastname": "", "username": "s", "profile": "https://s/p"}),
        );
        assert_eq!((u.id.as_str(), u.name.as_str()), ("", "Sam"));
        let u = map(
            "mailcow",
            json!({"id": "m1", "username": "joe@mail.example", "email": "joe@mail.example", "full_name": "Joe", "active": 1}),
        );
        assert_eq!(
            (u.username.as_str(), u.email.as_str()),
            ("joe", "joe@mail.example")
        );
        assert!(map_user("mailcow", &json!({"active": 0}), &Map::new()).is_err());
        assert!(map_user("box", &json!({"status": "inactive"}), &Map::new()).is_err());
        let u = map(
            "box",
            json!({"id": "b1", "name": "Box U", "login": "u@box.com", "avatar_url": "https://b/a", "status": "active"}),
        );
        assert_eq!(u.email, "u@box.com");
        let u = map(
            "trakt",
            json!({"user": {"username": "tk", "name": "Trak", "ids": {"slug": "tk", "uuid": "u-1"}, "images": {"avatar": {"full": "https://t/a"}}}}),
        );
        assert_eq!(
            (u.id.as_str(), u.username.as_str(), u.avatar_url.as_str()),
            ("u-1", "tk", "https://t/a")
        );
        let u = map(
            "monday",
            json!({"data": {"me": {"id": "3", "enabled": true, "name": "Mo", "email": "m@m.com", "is_verified": true, "photo_small": "https://m/p"}}}),
        );
        assert_eq!((u.id.as_str(), u.email.as_str()), ("3", "m@m.com"));
        assert!(
            map_user(
                "linear",
                &json!({"data": {"viewer": {"active": false}}}),
                &Map::new()
            )
            .is_err()
        );
        let u = map(
            "notion",
            json!({"bot": {"owner": {"type": "user", "user": {"id": "n1", "name": "No", "avatar_url": "https://n/a", "person": {"email": "n@n.so"}}}}}),
        );
        assert_eq!((u.id.as_str(), u.email.as_str()), ("n1", "n@n.so"));
        let u = map(
            "wakatime",
            json!({"data": {"id": "w", "display_name": "Wa", "username": "wa", "email": "w@w.com", "photo": "https://w/p", "photo_public": false, "is_email_confirmed": true}}),
        );
        assert_eq!((u.email.as_str(), u.avatar_url.as_str()), ("w@w.com", ""));
        let u = map(
            "spotify",
            json!({"id": "sp", "display_name": "Spo", "images": [{"url": "https://s/1"}, {"url": "https://s/2"}]}),
        );
        assert_eq!(u.avatar_url, "https://s/1");
        let u = map(
            "planningcenter",
            json!({"data": {"id": "pc", "attributes": {"status": "active", "name": "Plan", "avatar": "https://pc/a"}}}),
        );
        assert_eq!((u.id.as_str(), u.name.as_str()), ("pc", "Plan"));
        let u = map(
            "oidc3",
            json!({"sub": "s", "email": "o@o.com", "email_verified": "true", "preferred_username": "oo"}),
        );
        assert_eq!(
            (u.id.as_str(), u.email.as_str(), u.username.as_str()),
            ("s", "o@o.com", "oo")
        );
        let u = map(
            "gitlab",
            json!({"id": 1, "email": "g@g.com", "confirmed_at": null}),
        );
        assert_eq!(u.email, "");
        let u = map(
            "discord",
            json!({"id": "80", "username": "old", "discriminator": "1234", "avatar": ""}),
        );
        assert_eq!((u.name.as_str(), u.avatar_url.as_str()), ("old#1234", ""));
    }
}
