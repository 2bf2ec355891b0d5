//! The built-in providers: names, display names, logos, default endpoints and scopes.
//! Static data only; how each provider's user is read lives in [`crate::mapping`].

/// A built-in provider's defaults. Every URL can be overridden per collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderInfo {
    /// The name used in `oauth2.providers[].name` and in auth-with-oauth2's `provider`.
    pub name: &'static str,
    /// Shown in auth-methods when the config sets no `displayName`.
    pub display_name: &'static str,
    /// An SVG of our own: a rounded square in a brand-like colour with an initial.
    pub logo: &'static str,
    /// Empty for `mailcow` and the `oidc*` providers, which must be configured.
    pub auth_url: &'static str,
    pub token_url: &'static str,
    /// Empty where the user comes from the id_token (Apple; OIDC without a userinfo URL).
    pub user_info_url: &'static str,
    pub scopes: &'static [&'static str],
    /// Whether PKCE (S256) is used by default; the config's `pkce` overrides it.
    pub pkce: bool,
}

/// A 64×64 rounded square with white (or `$fg`) text, as one `&'static str`.
macro_rules! logo {
    ($bg:literal, $text:literal, $size:literal) => {
        logo!($bg, "#ffffff", $text, $size)
    };
    ($bg:literal, $fg:literal, $text:literal, $size:literal) => {
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">"#,
            r#"<rect width="64" height="64" rx="14" fill=""#,
            $bg,
            r#""/><text x="32" y="32" dy="0.35em" text-anchor="middle" font-family="Helvetica,Arial,sans-serif" font-weight="700" font-size=""#,
            $size,
            r#"" fill=""#,
            $fg,
            r#"">"#,
            $text,
            "</text></svg>"
        )
    };
}

const OIDC_LOGO: &str = logo!("#f78c40", "ID", "26");
const OIDC_SCOPES: &[&str] = &["openid", "email", "profile"];

static PROVIDERS: [ProviderInfo; 32] = [
    ProviderInfo {
        name: "apple",
        display_name: "Apple",
        logo: logo!("#111111", "A", "34"),
        auth_url: "https://appleid.apple.com/auth/authorize",
        token_url: "https://appleid.apple.com/auth/token",
        user_info_url: "",
        scopes: &["name", "email"],
        pkce: true,
    },
    ProviderInfo {
        name: "google",
        display_name: "Google",
        logo: logo!("#4285f4", "G", "34"),
        auth_url: "https://accounts.google.com/o/oauth2/v2/auth",
        token_url: "https://oauth2.googleapis.com/token",
        user_info_url: "https://www.googleapis.com/oauth2/v3/userinfo",
        scopes: &[
            "https://www.googleapis.com/auth/userinfo.profile",
            "https://www.googleapis.com/auth/userinfo.email",
        ],
        pkce: true,
    },
    ProviderInfo {
        name: "microsoft",
        display_name: "Microsoft",
        logo: logo!("#00a4ef", "M", "34"),
        auth_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        user_info_url: "https://graph.microsoft.com/v1.0/me",
        scopes: &["User.Read"],
        pkce: true,
    },
    ProviderInfo {
        name: "yandex",
        display_name: "Yandex",
        logo: logo!("#fc3f1d", "Y", "34"),
        auth_url: "https://oauth.yandex.com/authorize",
        token_url: "https://oauth.yandex.com/token",
        user_info_url: "https://login.yandex.ru/info",
        scopes: &["login:email", "login:avatar", "login:info"],
        pkce: true,
    },
    ProviderInfo {
        name: "facebook",
        display_name: "Facebook",
        logo: logo!("#1877f2", "f", "38"),
        auth_url: "https://www.facebook.com/v3.2/dialog/oauth",
        token_url: "https://graph.facebook.com/v3.2/oauth/access_token",
        user_info_url: "https://graph.facebook.com/me?fields=name,email,picture.type(large)",
        scopes: &["email"],
        pkce: true,
    },
    ProviderInfo {
        name: "instagram2",
        display_name: "Instagram",
        logo: logo!("#e1306c", "I", "34"),
        auth_url: "https://www.instagram.com/oauth/authorize",
        token_url: "https://api.instagram.com/oauth/access_token",
        user_info_url: "https://graph.instagram.com/me?fields=id,username,account_type,user_id,name,profile_picture_url,followers_count,follows_count,media_count",
        scopes: &["instagram_business_basic"],
        pkce: true,
    },
    ProviderInfo {
        name: "github",
        display_name: "GitHub",
        logo: logo!("#24292f", "GH", "26"),
        auth_url: "https://github.com/login/oauth/authorize",
        token_url: "https://github.com/login/oauth/access_token",
        user_info_url: "https://api.github.com/user",
        scopes: &["read:user", "user:email"],
        // GitHub ignores the PKCE parameters it does not know, so sending them is harmless.
        pkce: true,
    },
    ProviderInfo {
        name: "gitlab",
        display_name: "GitLab",
        logo: logo!("#fc6d26", "GL", "26"),
        auth_url: "https://gitlab.com/oauth/authorize",
        token_url: "https://gitlab.com/oauth/token",
        user_info_url: "https://gitlab.com/api/v4/user",
        scopes: &["read_user"],
        pkce: true,
    },
    ProviderInfo {
        name: "bitbucket",
        display_name: "Bitbucket",
        logo: logo!("#2684ff", "B", "34"),
        auth_url: "https://bitbucket.org/site/oauth2/authorize",
        token_url: "https://bitbucket.org/site/oauth2/access_token",
        user_info_url: "https://api.bitbucket.org/2.0/user",
        scopes: &["account"],
        pkce: false,
    },
    ProviderInfo {
        name: "gitee",
        display_name: "Gitee",
        logo: logo!("#c71d23", "G", "34"),
        auth_url: "https://gitee.com/oauth/authorize",
        token_url: "https://gitee.com/oauth/token",
        user_info_url: "https://gitee.com/api/v5/user",
        scopes: &["user_info", "emails"],
        pkce: true,
    },
    ProviderInfo {
        name: "gitea",
        display_name: "Gitea/Forgejo",
        logo: logo!("#609926", "Gt", "26"),
        auth_url: "https://gitea.com/login/oauth/authorize",
        token_url: "https://gitea.com/login/oauth/access_token",
        user_info_url: "https://gitea.com/api/v1/user",
        scopes: &["read:user", "user:email"],
        pkce: true,
    },
    ProviderInfo {
        name: "discord",
        display_name: "Discord",
        logo: logo!("#5865f2", "D", "34"),
        auth_url: "https://discord.com/api/oauth2/authorize",
        token_url: "https://discord.com/api/oauth2/token",
        user_info_url: "https://discord.com/api/users/@me",
        scopes: &["identify", "email"],
        pkce: true,
    },
    ProviderInfo {
        name: "twitter",
        display_name: "X/Twitter",
        logo: logo!("#000000", "X", "34"),
        auth_url: "https://x.com/i/oauth2/authorize",
        token_url: "https://api.x.com/2/oauth2/token",
        user_info_url: "https://api.x.com/2/users/me?user.fields=id,name,username,profile_image_url,confirmed_email",
        scopes: &["users.read", "users.email", "tweet.read"],
        pkce: true,
    },
    ProviderInfo {
        name: "kakao",
        display_name: "Kakao",
        logo: logo!("#fee500", "#191919", "K", "34"),
        auth_url: "https://kauth.kakao.com/oauth/authorize",
        token_url: "https://kauth.kakao.com/oauth/token",
        user_info_url: "https://kapi.kakao.com/v2/user/me",
        scopes: &["account_email", "profile_nickname", "profile_image"],
        pkce: true,
    },
    ProviderInfo {
        name: "vk",
        display_name: "ВКонтакте",
        logo: logo!("#0077ff", "VK", "26"),
        auth_url: "https://oauth.vk.com/authorize",
        token_url: "https://oauth.vk.com/access_token",
        user_info_url: "https://api.vk.com/method/users.get?fields=photo_max,screen_name&v=5.131",
        scopes: &["email"],
        // VK rejects authorization requests that carry PKCE parameters.
        pkce: false,
    },
    ProviderInfo {
        name: "linear",
        display_name: "Linear",
        logo: logo!("#5e6ad2", "L", "34"),
        auth_url: "https://linear.app/oauth/authorize",
        token_url: "https://api.linear.app/oauth/token",
        user_info_url: "https://api.linear.app/graphql",
        scopes: &["read"],
        // Linear answers with an error when PKCE parameters are present.
        pkce: false,
    },
    ProviderInfo {
        name: "notion",
        display_name: "Notion",
        logo: logo!("#000000", "N", "34"),
        auth_url: "https://api.notion.com/v1/oauth/authorize",
        token_url: "https://api.notion.com/v1/oauth/token",
        user_info_url: "https://api.notion.com/v1/users/me",
        scopes: &[],
        pkce: true,
    },
    ProviderInfo {
        name: "monday",
        display_name: "monday.com",
        logo: logo!("#ff3d57", "m", "38"),
        auth_url: "https://auth.monday.com/oauth2/authorize",
        token_url: "https://auth.monday.com/oauth2/token",
        user_info_url: "https://api.monday.com/v2",
        scopes: &["me:read"],
        pkce: true,
    },
    ProviderInfo {
        name: "lark",
        display_name: "Lark",
        logo: logo!("#00d6b9", "L", "34"),
        auth_url: "https://accounts.feishu.cn/open-apis/authen/v1/authorize",
        token_url: "https://open.feishu.cn/open-apis/authen/v2/oauth/token",
        user_info_url: "https://open.feishu.cn/open-apis/authen/v1/user_info",
        scopes: &[],
        pkce: true,
    },
    ProviderInfo {
        name: "box",
        display_name: "Box",
        logo: logo!("#0061d5", "box", "22"),
        auth_url: "https://account.box.com/api/oauth2/authorize",
        token_url: "https://api.box.com/oauth2/token",
        user_info_url: "https://api.box.com/2.0/users/me",
        scopes: &["root_readonly"],
        pkce: true,
    },
    ProviderInfo {
        name: "spotify",
        display_name: "Spotify",
        logo: logo!("#1db954", "S", "34"),
        auth_url: "https://accounts.spotify.com/authorize",
        token_url: "https://accounts.spotify.com/api/token",
        user_info_url: "https://api.spotify.com/v1/me",
        scopes: &["user-read-private"],
        pkce: true,
    },
    ProviderInfo {
        name: "trakt",
        display_name: "Trakt",
        logo: logo!("#ed1c24", "T", "34"),
        auth_url: "https://trakt.tv/oauth/authorize",
        token_url: "https://api.trakt.tv/oauth/token",
        user_info_url: "https://api.trakt.tv/users/settings",
        scopes: &[],
        pkce: true,
    },
    ProviderInfo {
        name: "twitch",
        display_name: "Twitch",
        logo: logo!("#9146ff", "T", "34"),
        auth_url: "https://id.twitch.tv/oauth2/authorize",
        token_url: "https://id.twitch.tv/oauth2/token",
        user_info_url: "https://api.twitch.tv/helix/users",
        scopes: &["user:read:email"],
        pkce: true,
    },
    ProviderInfo {
        name: "patreon",
        display_name: "Patreon",
        logo: logo!("#ff424d", "P", "34"),
        auth_url: "https://www.patreon.com/oauth2/authorize",
        token_url: "https://www.patreon.com/api/oauth2/token",
        user_info_url: "https://www.patreon.com/api/oauth2/v2/identity?fields%5Buser%5D=full_name,email,vanity,image_url,is_email_verified",
        scopes: &["identity", "identity[email]"],
        pkce: true,
    },
    ProviderInfo {
        name: "strava",
        display_name: "Strava",
        logo: logo!("#fc4c02", "S", "34"),
        auth_url: "https://www.strava.com/oauth/authorize",
        token_url: "https://www.strava.com/api/v3/oauth/token",
        user_info_url: "https://www.strava.com/api/v3/athlete",
        scopes: &["profile:read_all"],
        pkce: true,
    },
    ProviderInfo {
        name: "wakatime",
        display_name: "WakaTime",
        logo: logo!("#1f1f1f", "W", "34"),
        auth_url: "https://wakatime.com/oauth/authorize",
        token_url: "https://wakatime.com/oauth/token",
        user_info_url: "https://wakatime.com/api/v1/users/current",
        scopes: &["email"],
        pkce: true,
    },
    ProviderInfo {
        name: "livechat",
        display_name: "LiveChat",
        logo: logo!("#ff5100", "LC", "26"),
        auth_url: "https://accounts.livechat.com/",
        token_url: "https://accounts.livechat.com/token",
        user_info_url: "https://accounts.livechat.com/v2/accounts/me",
        // LiveChat takes its scopes from the application's settings.
        scopes: &[],
        pkce: true,
    },
    ProviderInfo {
        name: "mailcow",
        display_name: "mailcow",
        logo: logo!("#1f4e79", "mc", "26"),
        // Self-hosted: the endpoints come from the config.
        auth_url: "",
        token_url: "",
        user_info_url: "",
        scopes: &["profile"],
        pkce: true,
    },
    ProviderInfo {
        name: "planningcenter",
        display_name: "Planning Center",
        logo: logo!("#2266f7", "PC", "26"),
        auth_url: "https://api.planningcenteronline.com/oauth/authorize",
        token_url: "https://api.planningcenteronline.com/oauth/token",
        user_info_url: "https://api.planningcenteronline.com/people/v2/me",
        scopes: &["people"],
        pkce: true,
    },
    ProviderInfo {
        name: "oidc",
        display_name: "OIDC",
        logo: OIDC_LOGO,
        auth_url: "",
        token_url: "",
        user_info_url: "",
        scopes: OIDC_SCOPES,
        pkce: true,
    },
    ProviderInfo {
        name: "oidc2",
        display_name: "OIDC",
        logo: OIDC_LOGO,
        auth_url: "",
        token_url: "",
        user_info_url: "",
        scopes: OIDC_SCOPES,
        pkce: true,
    },
    ProviderInfo {
        name: "oidc3",
        display_name: "OIDC",
        logo: OIDC_LOGO,
        auth_url: "",
        token_url: "",
        user_info_url: "",
        scopes: OIDC_SCOPES,
        pkce: true,
    },
];

/// Every built-in provider, in PocketBase's order.
pub fn providers() -> &'static [ProviderInfo] {
    &PROVIDERS
}

/// The built-in provider with this exact name.
pub fn provider_info(name: &str) -> Option<&'static ProviderInfo> {
    PROVIDERS.iter().find(|p| p.name == name)
}

/// Apple's id_token issuer and signing keys.
pub(crate) const APPLE_ISSUER: &str = "https://appleid.apple.com";
pub(crate) const APPLE_JWKS_URL: &str = "https://appleid.apple.com/auth/keys";
