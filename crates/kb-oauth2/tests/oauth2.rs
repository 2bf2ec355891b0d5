//! The OAuth2 providers against the local test provider, and the catalogue, validation and
//! authorization URLs against what PocketBase 0.40.6 answers.

use kb_oauth2::testing::TestProvider;
use kb_oauth2::{
    AuthUser, OAuth2Error, Provider, ProviderConfig, apple_redirect_name, pkce_pair, provider_info,
    providers, random_state, s256_challenge, validate_providers,
};
use serde_json::{Value, json};

const REDIRECT: &str = "http://127.0.0.1:8090/api/oauth2-redirect";

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// The whole flow: authorization URL → consent → code exchange → user.
async fn sign_in(idp: &TestProvider, config: &ProviderConfig) -> Result<AuthUser, OAuth2Error> {
    let provider = Provider::new(config).unwrap();
    let (verifier, challenge) = pkce_pair();
    let url = provider.auth_url("state-1", Some(&challenge)) + REDIRECT;
    let (code, state) = idp.authorize(&url).await.unwrap();
    assert_eq!(state, "state-1");
    provider
        .authenticate(&client(), &code, &verifier, REDIRECT)
        .await
}

fn assert_fresh_tokens(user: &AuthUser) {
    assert!(
        user.access_token.starts_with("at-"),
        "{}",
        user.access_token
    );
    assert!(user.refresh_token.starts_with("rt-"));
    let expiry = user.expiry.expect("an expiry");
    let left = expiry.as_second() - jiff::Timestamp::now().as_second();
    assert!((3590..=3600).contains(&left), "{left}");
}

// ---------------------------------------------------------------------------------------
// catalogue

#[test]
fn catalogue_lists_pocketbases_providers_in_order() {
    let names: Vec<&str> = providers().iter().map(|p| p.name).collect();
    assert_eq!(
        names.join(" "),
        "apple google microsoft yandex facebook instagram2 github gitlab bitbucket gitee gitea \
         discord twitter kakao vk linear notion monday lark box spotify trakt twitch patreon \
         strava wakatime livechat mailcow planningcenter oidc oidc2 oidc3"
    );
    for p in providers() {
        assert!(
            p.logo
                .starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"")
        );
        assert!(p.logo.ends_with("</svg>"));
    }
    let github = provider_info("github").unwrap();
    assert_eq!(github.display_name, "GitHub");
    assert_eq!(
        github.token_url,
        "https://github.com/login/oauth/access_token"
    );
    assert_eq!(provider_info("vk").unwrap().display_name, "ВКонтакте");
    assert_eq!(
        provider_info("gitea").unwrap().display_name,
        "Gitea/Forgejo"
    );
    assert!(!provider_info("bitbucket").unwrap().pkce);
    assert!(!provider_info("linear").unwrap().pkce);
    assert!(provider_info("GitHub").is_none());
    assert!(provider_info("instagram").is_none());
}

// ---------------------------------------------------------------------------------------
// validation (codes and messages as PocketBase 0.40.6 answered a PATCH of `users`)

fn config(value: Value) -> ProviderConfig {
    serde_json::from_value(value).unwrap()
}

#[test]
fn validation_matches_pocketbase() {
    let errors = config(json!({"name": "github", "clientId": "", "clientSecret": ""})).validate();
    assert_eq!(
        errors,
        vec![
            (
                "clientId",
                "validation_required",
                "Cannot be blank.".to_owned()
            ),
            (
                "clientSecret",
                "validation_required",
                "Cannot be blank.".to_owned()
            ),
        ]
    );
    let errors = config(json!({"name": "nope", "clientId": "a", "clientSecret": "b",
        "authURL": "not a url", "tokenURL": "ftp://x", "userInfoURL": "http://"}))
    .validate();
    assert_eq!(
        errors,
        vec![
            (
                "name",
                "validation_missing_provider",
                "Invalid or missing provider with name nope.".to_owned()
            ),
            (
                "authURL",
                "validation_is_url",
                "Must be a valid URL.".to_owned()
            ),
            (
                "userInfoURL",
                "validation_is_url",
                "Must be a valid URL.".to_owned()
            ),
        ]
    );
    let errors = config(json!({"name": "", "clientId": " ", "clientSecret": "b",
        "authURL": "example.com", "tokenURL": "http://localhost:9/x", "userInfoURL": "https://a b"}))
    .validate();
    assert_eq!(
        errors,
        vec![
            ("name", "validation_required", "Cannot be blank.".to_owned()),
            (
                "userInfoURL",
                "validation_is_url",
                "Must be a valid URL.".to_owned()
            ),
        ]
    );
    let errors = config(
        json!({"name": "GitHub", "clientId": "a", "clientSecret": "b",
        "authURL": "/relative/path", "tokenURL": "x.y", "userInfoURL": "localhost:8090/x"}),
    )
    .validate();
    let keys: Vec<(&str, &str)> = errors.iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(
        keys,
        vec![
            ("name", "validation_missing_provider"),
            ("authURL", "validation_is_url"),
            ("tokenURL", "validation_is_url"),
        ]
    );
    assert!(
        config(json!({"name": "oidc", "clientId": "a", "clientSecret": "b"}))
            .validate()
            .is_empty()
    );
}

#[test]
fn a_repeated_name_is_the_only_list_error() {
    let list = vec![
        config(json!({"name": "github", "clientId": "", "clientSecret": "b"})),
        config(json!({"name": "github", "clientId": "a", "clientSecret": "b"})),
        config(json!({"name": "github", "clientId": "a", "clientSecret": "b"})),
    ];
    assert_eq!(
        validate_providers(&list),
        vec![(
            1,
            "name",
            "validation_duplicated_provider",
            "The provider github is already registered.".to_owned()
        )]
    );
    let list = vec![
        config(json!({"name": "github", "clientId": "a", "clientSecret": "b"})),
        config(json!({"name": "google", "clientId": "", "clientSecret": "b"})),
    ];
    assert_eq!(
        validate_providers(&list),
        vec![(
            1,
            "clientId",
            "validation_required",
            "Cannot be blank.".to_owned()
        )]
    );
}

#[test]
fn config_json_uses_pocketbases_keys() {
    let parsed = config(
        json!({"name": "oidc", "clientId": "id", "clientSecret": "s",
        "authURL": "https://idp/a", "tokenURL": null, "userInfoURL": "https://idp/u",
        "displayName": "My IdP", "pkce": false, "extra": {"jwksURL": "https://idp/jwks"}}),
    );
    assert_eq!(parsed.client_secret, "s");
    assert_eq!(parsed.token_url, "");
    assert_eq!(parsed.pkce, Some(false));
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        json!({"pkce": false, "name": "oidc", "clientId": "id", "clientSecret": "s",
               "authURL": "https://idp/a", "tokenURL": "", "userInfoURL": "https://idp/u",
               "displayName": "My IdP", "extra": {"jwksURL": "https://idp/jwks"}})
    );
    let bare = config(json!({"name": "github", "extra": null, "pkce": null}));
    assert_eq!(
        serde_json::to_string(&bare).unwrap(),
        r#"{"pkce":null,"name":"github","clientId":"","authURL":"","tokenURL":"","userInfoURL":"","displayName":"","extra":{}}"#
    );
}

// ---------------------------------------------------------------------------------------
// authorization URLs (the shape PocketBase 0.40.6's auth-methods showed)

fn provider(value: Value) -> Provider {
    Provider::new(&config(value)).unwrap()
}

#[test]
fn auth_urls_match_pocketbase() {
    let github = provider(json!({"name": "github", "clientId": "cid", "clientSecret": "sec"}));
    assert_eq!(
        github.auth_url("STATE", Some("CHAL")),
        "https://github.com/login/oauth/authorize?client_id=cid&code_challenge=CHAL\
         &code_challenge_method=S256&response_type=code&scope=read%3Auser+user%3Aemail\
         &state=STATE&redirect_uri="
    );
    let google = provider(json!({"name": "google", "clientId": "cid", "clientSecret": "sec"}));
    assert_eq!(
        google.auth_url("S", Some("C")),
        "https://accounts.google.com/o/oauth2/v2/auth?client_id=cid&code_challenge=C\
         &code_challenge_method=S256&response_type=code\
         &scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fuserinfo.profile+https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fuserinfo.email\
         &state=S&redirect_uri="
    );
    let apple = provider(json!({"name": "apple", "clientId": "cid", "clientSecret": "sec"}));
    assert_eq!(
        apple.auth_url("S", Some("C")),
        "https://appleid.apple.com/auth/authorize?client_id=cid&code_challenge=C\
         &code_challenge_method=S256&response_mode=form_post&response_type=code\
         &scope=name+email&state=S&redirect_uri="
    );
    // PKCE off by default: no challenge even if one is given.
    let bitbucket =
        provider(json!({"name": "bitbucket", "clientId": "cid", "clientSecret": "sec"}));
    assert!(!bitbucket.pkce());
    assert_eq!(
        bitbucket.auth_url("S", Some("C")),
        "https://bitbucket.org/site/oauth2/authorize?client_id=cid&response_type=code\
         &scope=account&state=S&redirect_uri="
    );
    // No scopes: no scope parameter.
    let notion = provider(json!({"name": "notion", "clientId": "cid", "clientSecret": "sec"}));
    assert_eq!(
        notion.auth_url("S", Some("C")),
        "https://api.notion.com/v1/oauth/authorize?client_id=cid&code_challenge=C\
         &code_challenge_method=S256&response_type=code&state=S&redirect_uri="
    );
    // A configured URL with a query keeps it; an unset one gives a bare query.
    let oidc2 = provider(
        json!({"name": "oidc2", "clientId": "c i/d", "clientSecret": "sec",
        "authURL": "https://idp.example.com/auth?x=1"}),
    );
    assert_eq!(
        oidc2.auth_url("S", None),
        "https://idp.example.com/auth?x=1&client_id=c+i%2Fd&response_type=code\
         &scope=openid+email+profile&state=S&redirect_uri="
    );
    let oidc = provider(json!({"name": "oidc", "clientId": "cid", "clientSecret": "sec"}));
    assert_eq!(
        oidc.auth_url("S", Some("C")),
        "?client_id=cid&code_challenge=C&code_challenge_method=S256&response_type=code\
         &scope=openid+email+profile&state=S&redirect_uri="
    );
    // The config's pkce overrides the default; displayName too.
    let vk = provider(
        json!({"name": "vk", "clientId": "cid", "clientSecret": "sec",
        "pkce": true, "displayName": "VK"}),
    );
    assert!(vk.pkce());
    assert_eq!(vk.display_name(), "VK");
    assert_eq!(
        vk.auth_url("S", Some("C")),
        "https://oauth.vk.com/authorize?client_id=cid&code_challenge=C&code_challenge_method=S256\
         &response_type=code&scope=email&state=S&redirect_uri="
    );
    // Microsoft asks for `openid` when an id_token email claim is configured.
    let microsoft = provider(
        json!({"name": "microsoft", "clientId": "cid", "clientSecret": "sec",
        "extra": {"idTokenEmailClaim": "email"}}),
    );
    assert_eq!(microsoft.scopes(), ["User.Read", "openid"]);
    assert!(
        microsoft
            .auth_url("S", None)
            .contains("&scope=User.Read+openid&")
    );
}

#[test]
fn unknown_provider_is_an_error() {
    let err = Provider::new(&config(json!({"name": "myspace"}))).unwrap_err();
    assert!(matches!(err, OAuth2Error::UnknownProvider(ref n) if n == "myspace"));
}

#[test]
fn pkce_and_state_helpers() {
    // RFC 7636, appendix B.
    assert_eq!(
        s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    let (verifier, challenge) = pkce_pair();
    assert_eq!(verifier.len(), 43);
    assert!(verifier.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(challenge, s256_challenge(&verifier));
    assert_eq!(challenge.len(), 43);
    let state = random_state();
    assert_eq!(state.len(), 30);
    assert!(state.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_ne!(state, random_state());
}

#[test]
fn apple_redirect_names() {
    assert_eq!(
        apple_redirect_name(
            r#"{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"a@b.c"}"#
        )
        .as_deref(),
        Some("Ada Lovelace")
    );
    assert_eq!(
        apple_redirect_name(r#"{"name":{"firstName":"Ada"}}"#).as_deref(),
        Some("Ada")
    );
    assert_eq!(apple_redirect_name(r#"{"name":{}}"#), None);
    assert_eq!(apple_redirect_name("not json"), None);
    assert_eq!(apple_redirect_name(""), None);
}

// ---------------------------------------------------------------------------------------
// full sign-ins against the test provider

#[tokio::test]
async fn google_sign_in() {
    let idp = TestProvider::start().await;
    let raw = json!({"sub": "109876", "name": "Ada Lovelace", "given_name": "Ada",
        "picture": "https://lh3.example/a.png", "email": "ada@gmail.com", "email_verified": true});
    idp.set_next_user(raw.clone());
    let user = sign_in(&idp, &idp.config("google")).await.unwrap();
    assert_eq!(user.id, "109876");
    assert_eq!(user.name, "Ada Lovelace");
    assert_eq!(user.username, "");
    assert_eq!(user.email, "ada@gmail.com");
    assert_eq!(user.avatar_url, "https://lh3.example/a.png");
    assert_eq!(user.raw_user, raw);
    assert_fresh_tokens(&user);

    // The first token request used HTTP Basic, with the PKCE verifier and redirect URL.
    let requests = idp.token_requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].basic_auth);
    let keys: Vec<&str> = requests[0].form.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["code", "code_verifier", "grant_type", "redirect_uri"]
    );
    assert_eq!(requests[0].form["redirect_uri"], REDIRECT);

    idp.set_next_user(json!({"sub": "2", "email": "eve@gmail.com", "email_verified": false}));
    let user = sign_in(&idp, &idp.config("google")).await.unwrap();
    assert_eq!((user.id.as_str(), user.email.as_str()), ("2", ""));
}

#[tokio::test]
async fn github_sign_in_reads_the_primary_verified_email() {
    let idp = TestProvider::start().await;
    idp.set_next_user(json!({"login": "octocat", "id": 583231, "name": "The Octocat",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4", "email": "public@octo.cat"}));
    idp.set_emails(json!([
        {"email": "secondary@octo.cat", "verified": true, "primary": false},
        {"email": "octocat@github.com", "verified": true, "primary": true, "visibility": "public"},
    ]));
    let user = sign_in(&idp, &idp.config("github")).await.unwrap();
    assert_eq!(user.id, "583231");
    assert_eq!(user.name, "The Octocat");
    assert_eq!(user.username, "octocat");
    assert_eq!(user.email, "octocat@github.com");
    assert_eq!(
        user.avatar_url,
        "https://avatars.githubusercontent.com/u/583231?v=4"
    );
    assert_eq!(user.raw_user["email"], "public@octo.cat");
    assert_fresh_tokens(&user);

    // An unverified primary address is not used.
    idp.set_emails(json!([{"email": "octocat@github.com", "verified": false, "primary": true}]));
    let user = sign_in(&idp, &idp.config("github")).await.unwrap();
    assert_eq!(user.email, "");
}

#[tokio::test]
async fn gitlab_sign_in() {
    let idp = TestProvider::start().await;
    idp.set_next_user(
        json!({"id": 42, "username": "gl", "name": "Git Lab", "email": "gl@gitlab.com",
        "avatar_url": "https://gitlab.com/a.png", "confirmed_at": "2012-05-23T09:05:22Z"}),
    );
    let user = sign_in(&idp, &idp.config("gitlab")).await.unwrap();
    assert_eq!(
        (
            user.id.as_str(),
            user.name.as_str(),
            user.username.as_str(),
            user.email.as_str(),
            user.avatar_url.as_str()
        ),
        (
            "42",
            "Git Lab",
            "gl",
            "gl@gitlab.com",
            "https://gitlab.com/a.png"
        )
    );
    assert_fresh_tokens(&user);
    idp.set_next_user(
        json!({"id": 43, "username": "new", "email": "new@gitlab.com", "confirmed_at": null}),
    );
    let user = sign_in(&idp, &idp.config("gitlab")).await.unwrap();
    assert_eq!((user.id.as_str(), user.email.as_str()), ("43", ""));
}

#[tokio::test]
async fn microsoft_sign_in() {
    let idp = TestProvider::start().await;
    idp.set_next_user(
        json!({"id": "8e2f-ms", "displayName": "Mia Wong", "mail": "mia@contoso.com",
        "userPrincipalName": "mia@contoso.onmicrosoft.com"}),
    );
    let user = sign_in(&idp, &idp.config("microsoft")).await.unwrap();
    assert_eq!(
        (
            user.id.as_str(),
            user.name.as_str(),
            user.username.as_str(),
            user.email.as_str(),
            user.avatar_url.as_str()
        ),
        ("8e2f-ms", "Mia Wong", "", "mia@contoso.com", "")
    );
    assert_fresh_tokens(&user);

    // With extra.idTokenEmailClaim the address comes from the id_token's claims.
    let mut config = idp.config("microsoft");
    config
        .extra
        .insert("idTokenEmailClaim".into(), "verified_primary_email".into());
    idp.set_id_token_claims(json!({"verified_primary_email": ["mia@verified.example"]}));
    let user = sign_in(&idp, &config).await.unwrap();
    assert_eq!(user.email, "mia@verified.example");
    config
        .extra
        .insert("idTokenEmailClaim".into(), "email_and_xms_edov".into());
    idp.set_id_token_claims(json!({"email": "mia@edov.example", "xms_edov": false}));
    let user = sign_in(&idp, &config).await.unwrap();
    assert_eq!(user.email, "");
    idp.set_id_token_claims(json!({"email": "mia@edov.example", "xms_edov": true}));
    let user = sign_in(&idp, &config).await.unwrap();
    assert_eq!(user.email, "mia@edov.example");
}

#[tokio::test]
async fn discord_sign_in() {
    let idp = TestProvider::start().await;
    idp.set_next_user(
        json!({"id": "80351110224678912", "username": "nelly", "discriminator": "0",
        "global_name": "Nelly", "avatar": "8342729096ea3675442027381ff50dfe",
        "verified": true, "email": "nelly@discord.com"}),
    );
    let user = sign_in(&idp, &idp.config("discord")).await.unwrap();
    assert_eq!(user.id, "80351110224678912");
    assert_eq!(user.name, "Nelly");
    assert_eq!(user.username, "nelly");
    assert_eq!(user.email, "nelly@discord.com");
    assert_eq!(
        user.avatar_url,
        "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png"
    );
    assert_fresh_tokens(&user);

    idp.set_next_user(
        json!({"id": "1", "username": "old", "discriminator": "1337",
        "global_name": null, "avatar": null, "verified": false, "email": "old@discord.com"}),
    );
    let user = sign_in(&idp, &idp.config("discord")).await.unwrap();
    assert_eq!(
        (
            user.name.as_str(),
            user.email.as_str(),
            user.avatar_url.as_str()
        ),
        ("old#1337", "", "")
    );
}

#[tokio::test]
async fn apple_sign_in_reads_the_verified_id_token() {
    let idp = TestProvider::start().await;
    idp.set_next_user(
        json!({"sub": "001234.abcd", "email": "x1@privaterelay.appleid.com",
        "email_verified": "true", "is_private_email": "true"}),
    );
    // Apple's issuer is fixed; the test provider's tokens claim it.
    idp.set_id_token_claims(json!({"iss": "https://appleid.apple.com"}));
    let user = sign_in(&idp, &idp.config("apple")).await.unwrap();
    assert_eq!(user.id, "001234.abcd");
    assert_eq!(user.name, "");
    assert_eq!(user.username, "");
    assert_eq!(user.email, "x1@privaterelay.appleid.com");
    assert_eq!(user.avatar_url, "");
    assert_eq!(user.raw_user["aud"], TestProvider::CLIENT_ID);
    assert_eq!(user.raw_user["is_private_email"], "true");
    assert_fresh_tokens(&user);

    // The provider's own issuer is not Apple's.
    idp.set_id_token_claims(json!({}));
    let err = sign_in(&idp, &idp.config("apple")).await.unwrap_err();
    assert!(
        matches!(err, OAuth2Error::User(ref m) if m.contains("issuer")),
        "{err}"
    );
    // Apple requires exp.
    idp.set_id_token_claims(json!({"iss": "https://appleid.apple.com", "exp": null}));
    let err = sign_in(&idp, &idp.config("apple")).await.unwrap_err();
    assert!(
        matches!(err, OAuth2Error::User(ref m) if m.contains("exp")),
        "{err}"
    );
    // A forged signature.
    idp.set_id_token_claims(json!({"iss": "https://appleid.apple.com"}));
    idp.sign_with_untrusted_key(true);
    let err = sign_in(&idp, &idp.config("apple")).await.unwrap_err();
    assert!(
        matches!(err, OAuth2Error::User(ref m) if m.contains("signature")),
        "{err}"
    );
}

#[tokio::test]
async fn oidc_sign_in_from_the_id_token() {
    let idp = TestProvider::start().await;
    idp.set_next_user(
        json!({"sub": "oidc-7", "name": "Olga", "preferred_username": "olga",
        "picture": "https://idp/olga.png", "email": "olga@idp.example", "email_verified": true}),
    );
    for name in ["oidc", "oidc2", "oidc3"] {
        let user = sign_in(&idp, &idp.config(name)).await.unwrap();
        assert_eq!(
            (
                user.id.as_str(),
                user.name.as_str(),
                user.username.as_str(),
                user.email.as_str(),
                user.avatar_url.as_str()
            ),
            (
                "oidc-7",
                "Olga",
                "olga",
                "olga@idp.example",
                "https://idp/olga.png"
            ),
            "{name}"
        );
        assert_eq!(user.raw_user["iss"], idp.base_url());
        assert_fresh_tokens(&user);
    }

    idp.set_next_user(
        json!({"sub": "oidc-8", "email": "u@idp.example", "email_verified": "false"}),
    );
    let user = sign_in(&idp, &idp.config("oidc")).await.unwrap();
    assert_eq!((user.id.as_str(), user.email.as_str()), ("oidc-8", ""));
}

#[tokio::test]
async fn oidc_with_a_userinfo_url() {
    let idp = TestProvider::start().await;
    idp.set_next_user(
        json!({"sub": "ui-1", "name": "Ui", "email": "ui@idp.example", "email_verified": true}),
    );
    let mut config = idp.config("oidc2");
    config.user_info_url = format!("{}/userinfo", idp.base_url());
    config.extra.clear();
    // The id_token is not even looked at: a forged one does not matter.
    idp.sign_with_untrusted_key(true);
    let user = sign_in(&idp, &config).await.unwrap();
    assert_eq!(
        (user.id.as_str(), user.name.as_str(), user.email.as_str()),
        ("ui-1", "Ui", "ui@idp.example")
    );
    assert_eq!(
        user.raw_user,
        json!({"sub": "ui-1", "name": "Ui", "email": "ui@idp.example", "email_verified": true})
    );
}

#[tokio::test]
async fn oidc_rejects_bad_id_tokens() {
    let idp = TestProvider::start().await;
    idp.set_next_user(json!({"sub": "x", "email": "x@idp.example", "email_verified": true}));

    idp.set_id_token_claims(json!({"aud": "someone-else"}));
    let err = sign_in(&idp, &idp.config("oidc")).await.unwrap_err();
    assert!(
        matches!(err, OAuth2Error::User(ref m) if m.contains("audience")),
        "{err}"
    );

    idp.set_id_token_claims(json!({"aud": ["other", TestProvider::CLIENT_ID]}));
    assert_eq!(sign_in(&idp, &idp.config("oidc")).await.unwrap().id, "x");

    idp.set_id_token_claims(json!({"iss": "https://evil.example"}));
    let err = sign_in(&idp, &idp.config("oidc")).await.unwrap_err();
    assert!(
        matches!(err, OAuth2Error::User(ref m) if m.contains("issuer")),
        "{err}"
    );

    idp.set_id_token_claims(json!({"exp": jiff::Timestamp::now().as_second() - 3600}));
    let err = sign_in(&idp, &idp.config("oidc")).await.unwrap_err();
    assert!(
        matches!(err, OAuth2Error::User(ref m) if m.contains("expired")),
        "{err}"
    );

    idp.set_id_token_claims(json!({}));
    idp.sign_with_untrusted_key(true);
    let err = sign_in(&idp, &idp.config("oidc")).await.unwrap_err();
    assert!(
        matches!(err, OAuth2Error::User(ref m) if m.contains("signature")),
        "{err}"
    );

    // Without extra.jwksURL the signature is not checked (the token came over TLS from
    // the token endpoint), as PocketBase does; the claims still are.
    let mut config = idp.config("oidc");
    config.extra.remove("jwksURL");
    assert_eq!(sign_in(&idp, &config).await.unwrap().id, "x");
}

#[tokio::test]
async fn token_errors() {
    let idp = TestProvider::start().await;
    idp.set_next_user(json!({"sub": "1", "email": "a@b.c", "email_verified": true}));
    let config = idp.config("google");
    let provider = Provider::new(&config).unwrap();

    // A verifier that does not match the challenge.
    let (_, challenge) = pkce_pair();
    let (other_verifier, _) = pkce_pair();
    let url = provider.auth_url("s", Some(&challenge)) + REDIRECT;
    let (code, _) = idp.authorize(&url).await.unwrap();
    let err = provider
        .authenticate(&client(), &code, &other_verifier, REDIRECT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OAuth2Error::Token(ref m) if m.contains("invalid_grant")),
        "{err}"
    );

    // A wrong client secret: refused with Basic, then with the form fields too.
    let mut bad = config.clone();
    bad.client_secret = "wrong".into();
    let bad_provider = Provider::new(&bad).unwrap();
    let (verifier, challenge) = pkce_pair();
    let url = bad_provider.auth_url("s", Some(&challenge)) + REDIRECT;
    let (code, _) = idp.authorize(&url).await.unwrap();
    let before = idp.token_requests().len();
    let err = bad_provider
        .authenticate(&client(), &code, &verifier, REDIRECT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OAuth2Error::Token(ref m) if m.contains("401") && m.contains("invalid_client")),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong"));
    let requests = &idp.token_requests()[before..];
    assert_eq!(requests.len(), 2);
    assert!(requests[0].basic_auth);
    assert!(!requests[1].basic_auth);
    assert_eq!(requests[1].form["client_id"], TestProvider::CLIENT_ID);

    // The good client with that same code: codes are single-use only once consumed, and
    // a refused client consumed nothing.
    let user = provider
        .authenticate(&client(), &code, &verifier, REDIRECT)
        .await
        .unwrap();
    assert_eq!(user.id, "1");
    let err = provider
        .authenticate(&client(), &code, &verifier, REDIRECT)
        .await
        .unwrap_err();
    assert!(matches!(err, OAuth2Error::Token(_)), "{err}");

    // A different redirect URL than the authorization request's.
    let (verifier, challenge) = pkce_pair();
    let url = provider.auth_url("s", Some(&challenge)) + REDIRECT;
    let (code, _) = idp.authorize(&url).await.unwrap();
    let err = provider
        .authenticate(&client(), &code, &verifier, "http://elsewhere/cb")
        .await
        .unwrap_err();
    assert!(matches!(err, OAuth2Error::Token(_)), "{err}");

    // Nothing listening.
    let mut dead = config.clone();
    dead.token_url = "http://127.0.0.1:9/token".into();
    let err = Provider::new(&dead)
        .unwrap()
        .authenticate(&client(), "c", "v", REDIRECT)
        .await
        .unwrap_err();
    assert!(matches!(err, OAuth2Error::Token(_)), "{err}");
}

#[tokio::test]
async fn user_endpoint_errors_are_user_errors() {
    let idp = TestProvider::start().await;
    let mut config = idp.config("google");
    config.user_info_url = format!("{}/jwks/none", idp.base_url());
    let err = sign_in(&idp, &config).await.unwrap_err();
    assert!(
        matches!(err, OAuth2Error::User(ref m) if m.contains("404")),
        "{err}"
    );
}

#[tokio::test]
async fn token_extras_reach_the_mapping() {
    let idp = TestProvider::start().await;
    idp.set_next_user(json!({"response": [{"id": 210700286, "first_name": "Lindsey",
        "last_name": "Stirling", "screen_name": "lindseystirling", "photo_max": "https://vk/p.jpg"}]}));
    idp.set_token_extra(json!({"email": "lindsey@vk.example", "user_id": 210700286}));
    let user = sign_in(&idp, &idp.config("vk")).await.unwrap();
    assert_eq!(
        (
            user.id.as_str(),
            user.name.as_str(),
            user.username.as_str(),
            user.email.as_str(),
            user.avatar_url.as_str()
        ),
        (
            "210700286",
            "Lindsey Stirling",
            "lindseystirling",
            "lindsey@vk.example",
            "https://vk/p.jpg"
        )
    );
    // VK has PKCE off: no verifier was sent.
    let last = idp.token_requests().pop().unwrap();
    assert!(!last.form.contains_key("code_verifier"));
}

#[tokio::test]
async fn gitea_and_bitbucket_and_gitee_emails() {
    let idp = TestProvider::start().await;
    idp.set_next_user(json!({"id": 5, "login": "tea", "full_name": "Tea Pot", "avatar_url": "https://gitea/a", "active": true}));
    idp.set_emails(json!([{"email": "tea@gitea.io", "verified": true, "primary": true}]));
    let user = sign_in(&idp, &idp.config("gitea")).await.unwrap();
    assert_eq!(
        (user.id.as_str(), user.name.as_str(), user.email.as_str()),
        ("5", "Tea Pot", "tea@gitea.io")
    );

    idp.set_next_user(
        json!({"uuid": "{b-1}", "username": "bb", "display_name": "Bit Bucket",
        "account_status": "active", "links": {"avatar": {"href": "https://bb/a"}}}),
    );
    idp.set_emails(json!({"values": [
        {"email": "old@bb.org", "is_primary": false, "is_confirmed": true},
        {"email": "bb@bb.org", "is_primary": true, "is_confirmed": true}]}));
    let user = sign_in(&idp, &idp.config("bitbucket")).await.unwrap();
    assert_eq!(
        (
            user.id.as_str(),
            user.email.as_str(),
            user.avatar_url.as_str()
        ),
        ("{b-1}", "bb@bb.org", "https://bb/a")
    );

    idp.set_next_user(json!({"id": 77, "login": "gt", "name": "Gi Tee", "email": null, "avatar_url": "https://gitee/a"}));
    idp.set_emails(
        json!([{"email": "gt@gitee.com", "state": "confirmed", "scope": ["primary", "committed"]}]),
    );
    let user = sign_in(&idp, &idp.config("gitee")).await.unwrap();
    assert_eq!(
        (
            user.id.as_str(),
            user.username.as_str(),
            user.email.as_str()
        ),
        ("77", "gt", "gt@gitee.com")
    );
}

#[tokio::test]
async fn graphql_providers_post_their_query() {
    let idp = TestProvider::start().await;
    idp.set_next_user(
        json!({"data": {"viewer": {"id": "lin-1", "displayName": "lin", "name": "Lin Ear",
        "email": "lin@linear.app", "avatarUrl": "https://linear/a", "active": true}}}),
    );
    let user = sign_in(&idp, &idp.config("linear")).await.unwrap();
    assert_eq!(
        (
            user.id.as_str(),
            user.name.as_str(),
            user.username.as_str(),
            user.email.as_str()
        ),
        ("lin-1", "Lin Ear", "lin", "lin@linear.app")
    );
}

#[test]
fn meta_json_and_debug() {
    let user = AuthUser {
        id: "1".into(),
        name: "N".into(),
        username: "u".into(),
        email: "e@x.com".into(),
        avatar_url: "https://a".into(),
        access_token: "secret-access".into(),
        refresh_token: "secret-refresh".into(),
        expiry: Some("2030-01-02T03:04:05.678Z".parse().unwrap()),
        raw_user: json!({"k": 1}),
    };
    assert_eq!(
        Value::Object(user.meta_json()),
        json!({"id": "1", "name": "N", "username": "u", "email": "e@x.com", "avatarURL": "https://a",
               "accessToken": "secret-access", "refreshToken": "secret-refresh",
               "expiry": "2030-01-02 03:04:05.678Z", "rawUser": {"k": 1}, "avatarUrl": "https://a"})
    );
    let debug = format!("{user:?}");
    assert!(!debug.contains("secret-"), "{debug}");
    let provider = provider(json!({"name": "github", "clientId": "cid", "clientSecret": "hush"}));
    assert!(!format!("{provider:?}").contains("hush"));
    assert_eq!(AuthUser::default().meta_json()["expiry"], "");
}
