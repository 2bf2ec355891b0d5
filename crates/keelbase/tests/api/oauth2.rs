//! OAuth2 logins against a real local provider (`kb_oauth2::testing::TestProvider`): the code
//! flow, the SDK's all-in-one flow through realtime and /api/oauth2-redirect, linking,
//! sign-up with mapped fields, and the protections against account pre-hijacking.

use kb_oauth2::testing::TestProvider;
use serde_json::{Value, json};

use crate::helpers::*;

const REDIRECT: &str = "http://127.0.0.1:1/callback";

/// The `users` collection with OAuth2 on through `provider`, open for sign-up and reading.
async fn enable(app: &TestApp, provider: &TestProvider, name: &str) {
    let config = serde_json::to_value(provider.config(name)).unwrap();
    app.update_collection(
        "users",
        &json!({
            "createRule": "", "listRule": "", "viewRule": "",
            "oauth2": {"enabled": true, "providers": [config], "mappedFields": {"name": "name", "avatarURL": "avatar"}},
        }),
    )
    .await;
}

/// What auth-methods offers for the first provider: (authURL, codeVerifier).
async fn start_login(app: &TestApp) -> (String, String) {
    let (status, methods) = app.guest().get("/api/collections/users/auth-methods").await;
    assert_eq!(status, 200, "{methods}");
    let provider = &methods["oauth2"]["providers"][0];
    (
        provider["authURL"].as_str().unwrap().to_owned(),
        provider["codeVerifier"].as_str().unwrap().to_owned(),
    )
}

/// The browser's part: consent at the provider, which answers with a code.
async fn code_for(provider: &TestProvider, auth_url: &str) -> String {
    let (code, _) = provider
        .authorize(&format!("{auth_url}{}", enc(REDIRECT)))
        .await
        .expect("the provider redirects with a code");
    code
}

async fn login(client: &Client, code: &str, verifier: &str) -> (u16, Value) {
    client
        .post_json(
            "/api/collections/users/auth-with-oauth2",
            &json!({"provider": "github", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT}),
        )
        .await
}

async fn github_login(
    app: &TestApp,
    provider: &TestProvider,
    user: Value,
    emails: Value,
) -> (u16, Value) {
    provider.set_next_user(user);
    provider.set_emails(emails);
    let (auth_url, verifier) = start_login(app).await;
    let code = code_for(provider, &auth_url).await;
    login(&app.guest(), &code, &verifier).await
}

/// A one-route web server answering every request with `body` as a PNG; returns its base URL.
async fn serve_png(body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}")
}

fn verified(email: &str) -> Value {
    json!([{"email": email, "primary": true, "verified": true}])
}

#[tokio::test]
async fn a_mapped_avatar_is_downloaded_into_a_file_field() {
    let app = TestApp::spawn().await;
    let provider = TestProvider::start().await;
    enable(&app, &provider, "github").await;
    let mut png = Vec::new();
    image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let base = serve_png(png.clone()).await;
    let user = json!({"id": 7, "login": "pic", "name": "Pic", "avatar_url": format!("{base}/u/My%20Face.png?s=40")});
    let (status, auth) = github_login(&app, &provider, user, verified("pic@example.com")).await;
    assert_eq!(status, 200, "{auth}");
    let record = &auth["record"];
    let avatar = record["avatar"].as_str().unwrap();
    assert!(
        avatar.starts_with("my_face_") && avatar.ends_with(".png") && avatar.len() == 22,
        "{avatar}"
    );
    let url = app.url(&format!(
        "/api/files/{}/{}/{avatar}",
        record["collectionId"].as_str().unwrap(),
        id_of(record)
    ));
    let stored = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(stored.to_vec(), png);
}

#[tokio::test]
async fn a_github_login_signs_up_then_logs_in_the_same_record() {
    let app = TestApp::spawn().await;
    let provider = TestProvider::start().await;
    enable(&app, &provider, "github").await;
    let user = json!({"id": 4242, "login": "octo", "name": "Octo Cat", "avatar_url": "https://img.example/octo.png"});

    let (status, first) =
        github_login(&app, &provider, user.clone(), verified("octo@example.com")).await;
    assert_eq!(status, 200, "{first}");
    let record = &first["record"];
    assert_eq!(record["email"], "octo@example.com");
    assert_eq!(
        record["verified"], true,
        "the provider verified the address"
    );
    assert_eq!(record["name"], "Octo Cat");
    assert_eq!(
        record["avatar"], "",
        "an avatar that cannot be downloaded is left out"
    );
    let meta = &first["meta"];
    assert_eq!(meta["isNew"], true);
    assert_eq!(meta["id"], "4242");
    assert_eq!(meta["username"], "octo");
    assert_eq!(meta["email"], "octo@example.com");
    assert_eq!(meta["avatarURL"], "https://img.example/octo.png");
    assert_eq!(meta["avatarUrl"], "https://img.example/octo.png");
    assert_eq!(meta["rawUser"]["login"], "octo");
    assert!(!meta["accessToken"].as_str().unwrap().is_empty());
    let keys: Vec<&String> = meta.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        keys, sorted,
        "meta keys in PocketBase's (alphabetical) order"
    );
    let token = first["token"].as_str().unwrap();
    let (status, refreshed) = app
        .with_token(token)
        .post_json("/api/collections/users/auth-refresh", &json!({}))
        .await;
    assert_eq!(status, 200, "{refreshed}");

    // PKCE: the token request carried the verifier auth-methods handed out
    assert!(provider.token_requests().iter().all(|r| {
        r.form
            .get("code_verifier")
            .and_then(Value::as_str)
            .is_some_and(|v| v.len() == 43)
    }));

    // the link is stored
    let links = app.db().rows(
        "SELECT \"recordRef\", provider, \"providerId\" FROM \"_externalAuths\"",
        &[],
    );
    let record_id = record["id"].as_str().unwrap().to_owned();
    assert_eq!(
        links,
        [[Some(record_id), Some("github".into()), Some("4242".into())]]
    );

    // again, with a new name at the provider: the same record, unchanged
    let (status, second) = github_login(
        &app,
        &provider,
        json!({"id": 4242, "login": "octo", "name": "Renamed"}),
        verified("octo@example.com"),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["record"]["id"], record["id"]);
    assert_eq!(second["record"]["name"], "Octo Cat");
    assert_eq!(second["meta"]["isNew"], false);
    assert_eq!(row_count(&app.db(), "users"), 1);
}

#[tokio::test]
async fn an_unverified_record_with_the_same_email_is_taken_over_safely() {
    let app = TestApp::spawn().await;
    let provider = TestProvider::start().await;
    enable(&app, &provider, "github").await;
    // someone registered the address first, with a password of their own
    let squatter = app
        .guest()
        .try_create(
            "users",
            &json!({"email": "real@example.com", "password": "squatter-pass-1", "passwordConfirm": "squatter-pass-1"}),
        )
        .await;
    assert_eq!(squatter.0, 200, "{}", squatter.1);
    let (status, auth) = github_login(
        &app,
        &provider,
        json!({"id": 7, "login": "real"}),
        verified("real@example.com"),
    )
    .await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["record"]["id"], squatter.1["id"]);
    assert_eq!(auth["record"]["verified"], true);
    assert_eq!(auth["meta"]["isNew"], false);
    let (status, _) = app
        .guest()
        .auth_with_password("users", "real@example.com", "squatter-pass-1")
        .await;
    assert_eq!(status, 400, "the squatter's password was replaced");
}

#[tokio::test]
async fn an_unverified_provider_email_signs_up_with_create_data() {
    let app = TestApp::spawn().await;
    let provider = TestProvider::start().await;
    enable(&app, &provider, "github").await;
    provider.set_next_user(json!({"id": 9, "login": "nomail", "name": "No Mail"}));
    provider.set_emails(
        json!([{"email": "unverified@example.com", "primary": true, "verified": false}]),
    );
    let (auth_url, verifier) = start_login(&app).await;
    let code = code_for(&provider, &auth_url).await;
    let (status, auth) = app
        .guest()
        .post_json(
            "/api/collections/users/auth-with-oauth2",
            &json!({
                "provider": "github", "code": code, "codeVerifier": verifier, "redirectUrl": REDIRECT,
                "createData": {"email": "chosen@example.com", "name": "Chosen"},
            }),
        )
        .await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["meta"]["email"], "");
    assert_eq!(auth["record"]["email"], "chosen@example.com");
    assert_eq!(auth["record"]["name"], "Chosen");
    assert_eq!(auth["record"]["verified"], false);
}

#[tokio::test]
async fn oauth2_errors() {
    let app = TestApp::spawn().await;
    let provider = TestProvider::start().await;
    let path = "/api/collections/users/auth-with-oauth2";
    let (status, body) = app
        .guest()
        .post_json(path, &json!({"provider": "github", "code": "x"}))
        .await;
    assert_eq!(
        (status, body),
        (
            403,
            plain_error(
                403,
                "The collection is not configured to allow OAuth2 authentication."
            )
        )
    );
    enable(&app, &provider, "github").await;
    let data = assert_error(
        &app.guest().post_json(path, &json!({})).await,
        400,
        "An error occurred while loading the submitted data.",
    );
    assert_eq!(
        data,
        json!({
            "code": {"code": "validation_required", "message": "Cannot be blank."},
            "provider": {"code": "validation_required", "message": "Cannot be blank."},
        })
    );
    let data = assert_error(
        &app.guest()
            .post_json(path, &json!({"provider": "google", "code": "x"}))
            .await,
        400,
        "An error occurred while loading the submitted data.",
    );
    assert_eq!(data["provider"]["code"], "validation_invalid_provider");
    assert_eq!(data["provider"]["params"], json!({"name": "google"}));
    let (status, body) = app
        .guest()
        .post_json(
            path,
            &json!({"provider": "github", "code": ["not", "text"]}),
        )
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            400,
            Some("An error occurred while loading the submitted data.")
        )
    );
    // a code the provider never issued, and a verifier that does not match the challenge
    let (status, body) = login(&app.guest(), "forged-code", "verifier").await;
    assert_eq!(
        (status, body),
        (400, plain_error(400, "Failed to fetch OAuth2 token."))
    );
    provider.set_next_user(json!({"id": 1, "login": "x"}));
    let (auth_url, _) = start_login(&app).await;
    let code = code_for(&provider, &auth_url).await;
    let (status, body) = login(
        &app.guest(),
        &code,
        "a-different-verifier-of-43-characters-long00",
    )
    .await;
    assert_eq!(
        (status, body),
        (400, plain_error(400, "Failed to fetch OAuth2 token."))
    );
    assert_eq!(row_count(&app.db(), "users"), 0);
}

#[tokio::test]
async fn superusers_cannot_sign_up_through_oauth2() {
    let app = TestApp::spawn().await;
    let provider = TestProvider::start().await;
    let config = serde_json::to_value(provider.config("github")).unwrap();
    app.update_collection(
        "_superusers",
        &json!({"oauth2": {"enabled": true, "providers": [config]}}),
    )
    .await;
    provider.set_next_user(json!({"id": 5, "login": "intruder"}));
    provider.set_emails(verified("intruder@example.com"));
    let (_, methods) = app
        .guest()
        .get("/api/collections/_superusers/auth-methods")
        .await;
    let auth_url = methods["oauth2"]["providers"][0]["authURL"]
        .as_str()
        .unwrap()
        .to_owned();
    let verifier = methods["oauth2"]["providers"][0]["codeVerifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&provider, &auth_url).await;
    let (status, body) = app
        .guest()
        .post_json(
            "/api/collections/_superusers/auth-with-oauth2",
            &json!({"provider": "github", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT}),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, plain_error(400, "Failed to authenticate."))
    );
    assert_eq!(row_count(&app.db(), "_superusers"), 1);
}

#[tokio::test]
async fn the_oauth2_provider_catalogue_is_for_superusers() {
    let app = TestApp::spawn().await;
    let (status, all) = app.get("/api/collections/meta/oauth2-providers").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 32);
    assert_eq!(&names[..3], ["apple", "google", "microsoft"]);
    assert_eq!(
        all[6],
        json!({"name": "github", "displayName": "GitHub", "logo": all[6]["logo"]})
    );
    assert!(all[6]["logo"].as_str().unwrap().starts_with("<svg"));
    let (status, _) = app
        .guest()
        .get("/api/collections/meta/oauth2-providers")
        .await;
    assert_eq!(status, 401);
}

/// The JS SDK's flow: realtime `@oauth2`, the provider redirecting to /api/oauth2-redirect
/// with the client id as state, the code arriving over SSE, then auth-with-oauth2. Here with
/// the generic OpenID Connect provider (user from a signed id_token, checked against the
/// provider's JWKS) and Apple's first-login name from the redirect's form post.
#[tokio::test]
async fn the_sdk_flow_through_realtime_with_openid_connect() {
    use crate::realtime::{Sse, subscribe};
    let app = TestApp::spawn().await;
    let provider = TestProvider::start().await;
    let config = serde_json::to_value(provider.config("oidc")).unwrap();
    app.update_collection(
        "users",
        &json!({"createRule": "", "oauth2": {"enabled": true, "providers": [config], "mappedFields": {"name": "name"}}}),
    )
    .await;
    provider.set_next_user(json!({"sub": "oidc-user-1", "email": "ida@example.com", "email_verified": true, "name": "Ida"}));

    let mut sse = Sse::open(&app).await;
    assert_eq!(
        subscribe(&app.guest(), &sse.client_id, &["@oauth2"])
            .await
            .0,
        204
    );
    let (_, methods) = app.guest().get("/api/collections/users/auth-methods").await;
    let entry = &methods["oauth2"]["providers"][0];
    assert_eq!(entry["name"], "oidc");
    let state = entry["state"].as_str().unwrap();
    let redirect = format!("{}/api/oauth2-redirect", app.base());
    let auth_url = entry["authURL"].as_str().unwrap().replace(
        &format!("state={state}"),
        &format!("state={}", sse.client_id),
    );
    let (code, returned_state) = provider
        .authorize(&format!("{auth_url}{}", enc(&redirect)))
        .await
        .expect("a code");
    assert_eq!(returned_state, sse.client_id);
    // the browser lands on our redirect endpoint
    let landing = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{redirect}?state={}&code={code}", sse.client_id))
        .send()
        .await
        .unwrap();
    assert_eq!(landing.status().as_u16(), 307);
    let event = sse
        .next_event(std::time::Duration::from_secs(5))
        .await
        .expect("the @oauth2 event");
    assert_eq!(event.event, "@oauth2");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data, json!({"state": sse.client_id, "code": code}));

    let (status, auth) = app
        .guest()
        .post_json(
            "/api/collections/users/auth-with-oauth2",
            &json!({"provider": "oidc", "code": data["code"], "codeVerifier": entry["codeVerifier"], "redirectURL": redirect}),
        )
        .await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["record"]["email"], "ida@example.com");
    assert_eq!(auth["record"]["name"], "Ida");
    assert_eq!(auth["record"]["verified"], true);
    assert_eq!(auth["meta"]["id"], "oidc-user-1");

    // a forged id_token signature is refused
    provider.sign_with_untrusted_key(true);
    let (_, methods) = app.guest().get("/api/collections/users/auth-methods").await;
    let entry = &methods["oauth2"]["providers"][0];
    let code = code_for(&provider, entry["authURL"].as_str().unwrap()).await;
    let (status, body) = app
        .guest()
        .post_json(
            "/api/collections/users/auth-with-oauth2",
            &json!({"provider": "oidc", "code": code, "codeVerifier": entry["codeVerifier"], "redirectURL": REDIRECT}),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, plain_error(400, "Failed to fetch OAuth2 user."))
    );
}

#[tokio::test]
async fn apple_sends_the_name_with_the_redirect_only() {
    let app = TestApp::spawn().await;
    let provider = TestProvider::start().await;
    let config = serde_json::to_value(provider.config("apple")).unwrap();
    app.update_collection(
        "users",
        &json!({"createRule": "", "oauth2": {"enabled": true, "providers": [config], "mappedFields": {"name": "name"}}}),
    )
    .await;
    provider.set_id_token_claims(json!({"iss": "https://appleid.apple.com"}));
    provider.set_next_user(
        json!({"sub": "apple-1", "email": "jo@example.com", "email_verified": "true"}),
    );
    let (_, methods) = app.guest().get("/api/collections/users/auth-methods").await;
    let entry = &methods["oauth2"]["providers"][0];
    assert!(
        entry["authURL"]
            .as_str()
            .unwrap()
            .contains("response_mode=form_post")
    );
    let code = code_for(&provider, entry["authURL"].as_str().unwrap()).await;
    // Apple posts the form (with the name, on the first consent only) to the redirect URL
    let landing = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/api/oauth2-redirect", app.base()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("state", "no-realtime-client")
                .append_pair("code", &code)
                .append_pair(
                    "user",
                    r#"{"name":{"firstName":"Jo","lastName":"Apple"},"email":"jo@example.com"}"#,
                )
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(landing.status().as_u16(), 303);
    let (status, auth) = app
        .guest()
        .post_json(
            "/api/collections/users/auth-with-oauth2",
            &json!({"provider": "apple", "code": code, "codeVerifier": entry["codeVerifier"], "redirectURL": REDIRECT}),
        )
        .await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["meta"]["name"], "Jo Apple");
    assert_eq!(auth["record"]["name"], "Jo Apple");
    assert_eq!(auth["record"]["email"], "jo@example.com");
}

/// A P-256 key in PKCS#8 PEM, made for these tests (`openssl ecparam -name prime256v1`).
const APPLE_TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgC5x14vnjKR/xl20Q
2VWSbtihiO2r6VUkJGP1/q7z2CChRANCAARq9yyoyweE4bVcpBMkIJ9J08QEWNus
Hlkh5VSws3w0ccbhq/r36ItId5rnB0ZPHxS1JriTrdd2Re24LFz/Ug7w
-----END PRIVATE KEY-----";

#[tokio::test]
async fn the_apple_client_secret_is_generated_for_superusers() {
    let app = TestApp::spawn().await;
    let url = "/api/settings/apple/generate-client-secret";
    let (status, body) = app.post_json(url, &json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Invalid client secret data.");
    for key in ["clientId", "teamId", "keyId", "privateKey", "duration"] {
        assert_eq!(
            body["data"][key]["code"], "validation_required",
            "{key}: {body}"
        );
    }
    let (status, body) = app
        .post_json(
            url,
            &json!({"clientId": "c", "teamId": "t", "keyId": "k", "privateKey": "nope", "duration": 99_999_999}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["data"]["teamId"],
        json!({"code": "validation_length_invalid", "message": "The length must be exactly 10.", "params": {"max": 10, "min": 10}})
    );
    assert_eq!(body["data"]["keyId"]["code"], "validation_length_invalid");
    assert_eq!(
        body["data"]["privateKey"]["code"],
        "validation_match_invalid"
    );
    assert_eq!(
        body["data"]["duration"],
        json!({"code": "validation_max_less_equal_than_required", "message": "Must be no greater than 15777000.", "params": {"threshold": 15_777_000}})
    );

    let good = json!({"clientId": "com.example.app", "teamId": "TEAM123456", "keyId": "KEY1234567",
                      "privateKey": APPLE_TEST_KEY, "duration": 3600});
    let (status, body) = app.post_json(url, &good).await;
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"].as_str().unwrap();
    let parts: Vec<Value> = secret
        .split('.')
        .take(2)
        .map(|part| {
            use base64::Engine;
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(part)
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(
        parts[0],
        json!({"alg": "ES256", "kid": "KEY1234567", "typ": "JWT"})
    );
    assert_eq!(parts[1]["iss"], "TEAM123456");
    assert_eq!(parts[1]["sub"], "com.example.app");
    assert_eq!(parts[1]["aud"], json!(["https://appleid.apple.com"]));
    assert_eq!(
        parts[1]["exp"].as_i64().unwrap() - parts[1]["iat"].as_i64().unwrap(),
        3600
    );

    let mut broken = good.clone();
    broken["privateKey"] = json!("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----");
    let (status, body) = app.post_json(url, &broken).await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Failed to generate client secret. Raw error: \n"),
        "{body}"
    );
    assert_eq!(app.guest().post_json(url, &good).await.0, 401);
}
