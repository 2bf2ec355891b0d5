//! Account emails through a real SMTP server (the test sink): verification, password reset
//! and email change, each from request to confirmation, with tokens read from the mail.

use std::time::Duration;

use kb_mail::testing::SmtpSink;
use serde_json::{Value, json};

use crate::helpers::*;

const PASSWORD: &str = "user-password-1";
const WAIT: Duration = Duration::from_secs(10);

/// A server whose SMTP settings point at a fresh sink, with an open `users` collection.
async fn app_with_mail() -> (TestApp, SmtpSink) {
    let app = TestApp::spawn().await;
    let sink = SmtpSink::start().await;
    let (status, body) = app
        .patch_json(
            "/api/settings",
            &json!({
                "smtp": {"enabled": true, "host": sink.host(), "port": sink.port(), "tls": false},
                "meta": {"appName": "Harbor", "appURL": "https://harbor.example/", "senderAddress": "noreply@harbor.example", "senderName": "Harbor"}
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.update_collection(
        "users",
        &json!({"listRule": "", "viewRule": "", "createRule": "", "updateRule": "id = @request.auth.id"}),
    )
    .await;
    (app, sink)
}

async fn sign_up(app: &TestApp, email: &str) -> Value {
    let (status, body) = app
        .guest()
        .try_create(
            "users",
            &json!({"email": email, "password": PASSWORD, "passwordConfirm": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The JWT in a mail's text (links render as `[label](url)` there).
fn token_in(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || "()[]\"'<>/".contains(c))
        .find(|part| part.starts_with("eyJ") && part.matches('.').count() == 2)
        .unwrap_or_else(|| panic!("no token in mail: {text}"))
        .to_owned()
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    app.guest()
        .post_json(&format!("/api/collections/users/{path}"), &body)
        .await
}

#[tokio::test]
async fn verification_round_trip() {
    let (app, sink) = app_with_mail().await;
    let user = sign_up(&app, "vera@example.com").await;
    assert_eq!(
        post(
            &app,
            "request-verification",
            json!({"email": "vera@example.com"})
        )
        .await
        .0,
        204
    );
    let mail = sink.next_message(WAIT).await.expect("a verification mail");
    assert_eq!(mail.subject, "Verify your Harbor email");
    assert_eq!(mail.to[0].email, "vera@example.com");
    let text = mail.text.clone().unwrap_or_default();
    assert!(
        text.contains("https://harbor.example/_/#/auth/confirm-verification/"),
        "{text}"
    );
    assert!(!text.contains('{'), "every placeholder is replaced: {text}");
    let token = token_in(&text);
    let claims = jwt_payload(&token);
    assert_eq!(claims["type"], "verification");
    assert_eq!(claims["email"], "vera@example.com");

    assert_eq!(
        post(&app, "confirm-verification", json!({"token": token}))
            .await
            .0,
        204
    );
    assert_eq!(
        app.view_ok("users", &id_of(&user), &[]).await["verified"],
        true
    );

    // unknown addresses get the same answer and no mail
    assert_eq!(
        post(
            &app,
            "request-verification",
            json!({"email": "nobody@example.com"})
        )
        .await
        .0,
        204
    );
    let data = assert_error(
        &post(&app, "confirm-verification", json!({"token": "garbage"})).await,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(data["token"]["code"], "validation_invalid_token_claims");
    let data = assert_error(
        &post(
            &app,
            "request-verification",
            json!({"email": "not-an-email"}),
        )
        .await,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(data["email"]["code"], "validation_is_email");
    assert!(
        sink.next_message(Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn password_reset_round_trip_revokes_old_tokens() {
    let (app, sink) = app_with_mail().await;
    sign_up(&app, "rita@example.com").await;
    let (_, auth) = app
        .guest()
        .auth_with_password("users", "rita@example.com", PASSWORD)
        .await;
    let old_token = auth["token"].as_str().unwrap().to_owned();

    assert_eq!(
        post(
            &app,
            "request-password-reset",
            json!({"email": "rita@example.com"})
        )
        .await
        .0,
        204
    );
    let mail = sink.next_message(WAIT).await.expect("a reset mail");
    assert_eq!(mail.subject, "Reset your Harbor password");
    let token = token_in(&mail.text.unwrap_or_default());

    let data = assert_error(
        &post(
            &app,
            "confirm-password-reset",
            json!({"token": token, "password": "new-password-9", "passwordConfirm": "different-9"}),
        )
        .await,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(
        data["passwordConfirm"]["code"],
        "validation_values_mismatch"
    );
    assert_eq!(
        post(
            &app,
            "confirm-password-reset",
            json!({"token": token, "password": "new-password-9", "passwordConfirm": "new-password-9"}),
        )
        .await
        .0,
        204
    );
    assert_eq!(
        app.guest()
            .auth_with_password("users", "rita@example.com", "new-password-9")
            .await
            .0,
        200
    );
    assert_eq!(
        app.guest()
            .auth_with_password("users", "rita@example.com", PASSWORD)
            .await
            .0,
        400
    );
    let (status, _) = app
        .with_token(&old_token)
        .post_json("/api/collections/users/auth-refresh", &json!({}))
        .await;
    assert_eq!(status, 401, "the reset revoked earlier tokens");
    // the reset token was bound to the old token key: it cannot be used twice
    let data = assert_error(
        &post(
            &app,
            "confirm-password-reset",
            json!({"token": token, "password": "third-password-9", "passwordConfirm": "third-password-9"}),
        )
        .await,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(data["token"]["code"], "validation_invalid_token");
}

#[tokio::test]
async fn password_reset_confirmation_input_errors() {
    let app = TestApp::spawn().await;
    let data = assert_error(
        &post(&app, "confirm-password-reset", json!({})).await,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(
        data,
        json!({
            "password": {"code": "validation_required", "message": "Cannot be blank."},
            "passwordConfirm": {"code": "validation_required", "message": "Cannot be blank."},
            "token": {"code": "validation_required", "message": "Cannot be blank."},
        })
    );
    // garbage, and a well-formed token without an address, are invalid tokens here
    // (verification reports the missing claim instead)
    let no_email = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6IngifQ.x";
    for token in ["bad", no_email] {
        let data = assert_error(
            &post(
                &app,
                "confirm-password-reset",
                json!({"token": token, "password": "new-password-9", "passwordConfirm": "new-password-9"}),
            )
            .await,
            400,
            "An error occurred while validating the submitted data.",
        );
        assert_eq!(
            data,
            json!({"token": {"code": "validation_invalid_token", "message": "Invalid or expired token."}})
        );
        let data = assert_error(
            &post(&app, "confirm-verification", json!({"token": token})).await,
            400,
            "An error occurred while validating the submitted data.",
        );
        assert_eq!(data["token"]["code"], "validation_invalid_token_claims");
    }
}

#[tokio::test]
async fn email_change_round_trip() {
    let (app, sink) = app_with_mail().await;
    let user = sign_up(&app, "olga@example.com").await;
    let (_, auth) = app
        .guest()
        .auth_with_password("users", "olga@example.com", PASSWORD)
        .await;
    let owner = app.with_token(auth["token"].as_str().unwrap());

    let (status, _) = app
        .guest()
        .post_json(
            "/api/collections/users/request-email-change",
            &json!({"newEmail": "x@example.com"}),
        )
        .await;
    assert_eq!(status, 401);
    let data = assert_error(
        &owner
            .post_json(
                "/api/collections/users/request-email-change",
                &json!({"newEmail": "olga@example.com"}),
            )
            .await,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(
        data["newEmail"]["code"], "validation_not_in_invalid",
        "the current address"
    );
    let (status, body) = owner
        .post_json(
            "/api/collections/users/request-email-change",
            &json!({"newEmail": "olga@new.example"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let mail = sink.next_message(WAIT).await.expect("an email-change mail");
    assert_eq!(
        mail.to[0].email, "olga@new.example",
        "the mail goes to the new address"
    );
    assert_eq!(mail.subject, "Confirm your Harbor new email address");
    let token = token_in(&mail.text.unwrap_or_default());
    assert_eq!(jwt_payload(&token)["newEmail"], "olga@new.example");

    let data = assert_error(
        &post(
            &app,
            "confirm-email-change",
            json!({"token": token, "password": "wrong-password"}),
        )
        .await,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(data["password"]["code"], "validation_invalid_password");
    assert_eq!(
        post(
            &app,
            "confirm-email-change",
            json!({"token": token, "password": PASSWORD})
        )
        .await
        .0,
        204
    );
    // a used token is an invalid token; garbage is an unreadable one
    let data = assert_error(
        &post(
            &app,
            "confirm-email-change",
            json!({"token": token, "password": PASSWORD}),
        )
        .await,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(data["token"]["code"], "validation_invalid_token");
    let data = assert_error(
        &post(
            &app,
            "confirm-email-change",
            json!({"token": "garbage", "password": PASSWORD}),
        )
        .await,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(data["token"]["code"], "validation_invalid_token_payload");
    assert_eq!(data["password"]["code"], "validation_invalid_password");
    let record = app.view_ok("users", &id_of(&user), &[]).await;
    assert_eq!(record["email"], "olga@new.example");
    assert_eq!(record["verified"], true);
    assert_eq!(
        app.guest()
            .auth_with_password("users", "olga@new.example", PASSWORD)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn delivery_failures_are_kept_not_swallowed() {
    let (app, sink) = app_with_mail().await;
    sign_up(&app, "fred@example.com").await;
    sink.fail_next(1);
    assert_eq!(
        post(
            &app,
            "request-password-reset",
            json!({"email": "fred@example.com"})
        )
        .await
        .0,
        204,
        "the request does not wait for the mail"
    );
    let server = app.app.clone();
    let mut failures = Vec::new();
    for _ in 0..100 {
        failures = server.mail_failures();
        if !failures.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failures.len(), 1, "the failed delivery is recorded");
    assert_eq!(failures[0].recipients, "fred@example.com");
    // the outbox keeps working
    sign_up(&app, "gina@example.com").await;
    assert_eq!(
        post(
            &app,
            "request-password-reset",
            json!({"email": "gina@example.com"})
        )
        .await
        .0,
        204
    );
    let mail = sink.next_message(WAIT).await.expect("the next mail");
    assert_eq!(mail.rcpt_to, vec!["gina@example.com".to_owned()]);
}

/// A second verification or reset mail to the same record within two minutes is not sent
/// (the answer stays 204, so nobody learns anything); other kinds and records are not held up.
#[tokio::test]
async fn account_mails_are_not_resent_within_two_minutes() {
    let (app, sink) = app_with_mail().await;
    sign_up(&app, "hana@example.com").await;
    sign_up(&app, "ivan@example.com").await;
    let ask = |path: &'static str, email: &'static str| {
        let app = &app;
        async move { post(app, path, json!({"email": email})).await.0 }
    };
    assert_eq!(ask("request-password-reset", "hana@example.com").await, 204);
    assert_eq!(ask("request-password-reset", "hana@example.com").await, 204);
    assert_eq!(ask("request-verification", "hana@example.com").await, 204);
    assert_eq!(ask("request-verification", "hana@example.com").await, 204);
    assert_eq!(ask("request-password-reset", "ivan@example.com").await, 204);
    let mut received = Vec::new();
    while let Some(mail) = sink.next_message(Duration::from_millis(800)).await {
        received.push((mail.rcpt_to.join(","), mail.subject));
    }
    received.sort();
    assert_eq!(
        received,
        vec![
            (
                "hana@example.com".to_owned(),
                "Reset your Harbor password".to_owned()
            ),
            (
                "hana@example.com".to_owned(),
                "Verify your Harbor email".to_owned()
            ),
            (
                "ivan@example.com".to_owned(),
                "Reset your Harbor password".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn one_time_passwords_by_email() {
    let (app, sink) = app_with_mail().await;
    let user = sign_up(&app, "otto@example.com").await;
    // OTP is off by default
    assert_eq!(
        post(&app, "request-otp", json!({"email": "otto@example.com"})).await,
        (
            403,
            plain_error(
                403,
                "The collection is not configured to allow OTP authentication."
            )
        )
    );
    app.update_collection("users", &json!({"otp": {"enabled": true, "length": 6}}))
        .await;
    let (status, body) = post(&app, "request-otp", json!({"email": "otto@example.com"})).await;
    assert_eq!(status, 200, "{body}");
    let otp_id = body["otpId"].as_str().unwrap().to_owned();
    assert_eq!(otp_id.len(), 15);
    let mail = sink.next_message(WAIT).await.expect("an OTP mail");
    assert_eq!(mail.subject, "OTP for Harbor");
    let text = mail.text.unwrap_or_default();
    let code: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|part| part.len() == 6)
        .unwrap_or_else(|| panic!("no 6-digit code in {text}"))
        .to_owned();

    // unknown addresses get an id too, and no mail
    let (status, fake) = post(&app, "request-otp", json!({"email": "ghost@example.com"})).await;
    assert_eq!(status, 200);
    assert_ne!(fake["otpId"], body["otpId"]);
    let invalid = (400, plain_error(400, "Invalid or expired OTP."));
    assert_eq!(
        post(
            &app,
            "auth-with-otp",
            json!({"otpId": fake["otpId"], "password": code})
        )
        .await,
        invalid
    );
    assert_eq!(
        post(
            &app,
            "auth-with-otp",
            json!({"otpId": otp_id, "password": "000000x"})
        )
        .await,
        invalid
    );

    let (status, auth) = post(
        &app,
        "auth-with-otp",
        json!({"otpId": otp_id, "password": code}),
    )
    .await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["record"]["id"], user["id"]);
    assert_eq!(
        auth["record"]["verified"], true,
        "the code proved the address"
    );
    // the OTP is used up
    assert_eq!(
        post(
            &app,
            "auth-with-otp",
            json!({"otpId": otp_id, "password": code})
        )
        .await,
        invalid
    );
}

#[tokio::test]
async fn otp_attempts_are_limited_per_record() {
    let (app, sink) = app_with_mail().await;
    sign_up(&app, "tess@example.com").await;
    app.update_collection("users", &json!({"otp": {"enabled": true}}))
        .await;
    let (_, body) = post(&app, "request-otp", json!({"email": "tess@example.com"})).await;
    let otp_id = body["otpId"].clone();
    sink.next_message(WAIT).await.expect("an OTP mail");
    for _ in 0..5 {
        assert_eq!(
            post(
                &app,
                "auth-with-otp",
                json!({"otpId": otp_id, "password": "00000000x"})
            )
            .await
            .0,
            400
        );
    }
    assert_eq!(
        post(
            &app,
            "auth-with-otp",
            json!({"otpId": otp_id, "password": "00000000x"})
        )
        .await,
        (
            429,
            plain_error(
                429,
                "Too many attempts, please try again later with a new OTP."
            )
        )
    );
}

#[tokio::test]
async fn mfa_needs_two_different_factors() {
    let (app, sink) = app_with_mail().await;
    sign_up(&app, "mia@example.com").await;
    app.update_collection(
        "users",
        &json!({"mfa": {"enabled": true, "duration": 600}, "otp": {"enabled": true}}),
    )
    .await;
    let (status, first) = app
        .guest()
        .auth_with_password("users", "mia@example.com", PASSWORD)
        .await;
    assert_eq!(status, 401);
    let mfa_id = first["mfaId"].as_str().unwrap().to_owned();
    assert_eq!(
        first,
        json!({"mfaId": mfa_id}),
        "exactly the mfaId, no error envelope"
    );

    // the same method again is not a second factor
    let (status, body) = app
        .guest()
        .post_json(
            &format!("/api/collections/users/auth-with-password?mfaId={mfa_id}"),
            &json!({"identity": "mia@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            plain_error(400, "A different authentication method is required.")
        )
    );

    let (_, otp) = post(&app, "request-otp", json!({"email": "mia@example.com"})).await;
    let mail = sink.next_message(WAIT).await.expect("an OTP mail");
    let text = mail.text.unwrap_or_default();
    let code: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|part| part.len() == 8)
        .unwrap_or_else(|| panic!("no code in {text}"))
        .to_owned();
    let (status, auth) = app
        .guest()
        .post_json(
            "/api/collections/users/auth-with-otp",
            &json!({"otpId": otp["otpId"], "password": code, "mfaId": mfa_id}),
        )
        .await;
    assert_eq!(status, 200, "{auth}");
    assert!(auth["token"].as_str().is_some_and(|t| !t.is_empty()));

    // the session is used up
    let (status, body) = app
        .guest()
        .post_json(
            &format!("/api/collections/users/auth-with-password?mfaId={mfa_id}"),
            &json!({"identity": "mia@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, plain_error(400, "Invalid or expired MFA session."))
    );
}

#[tokio::test]
async fn template_values_are_escaped_in_subject_and_body() {
    let (app, sink) = app_with_mail().await;
    app.update_collection(
        "users",
        &json!({"verificationTemplate": {"subject": "Hi {RECORD:name}", "body": "<p>{RECORD:name} {APP_NAME} {UNKNOWN}</p>"}}),
    )
    .await;
    let user = sign_up(&app, "ned@example.com").await;
    app.update_record("users", &id_of(&user), &json!({"name": "<b>&"}))
        .await;
    assert_eq!(
        post(
            &app,
            "request-verification",
            json!({"email": "ned@example.com"})
        )
        .await
        .0,
        204
    );
    let mail = sink.next_message(WAIT).await.expect("a verification mail");
    assert_eq!(mail.subject, "Hi &lt;b&gt;&amp;");
    let html = mail.html.unwrap_or_default();
    assert!(html.contains("&lt;b&gt;&amp; Harbor {UNKNOWN}"), "{html}");
}

#[tokio::test]
async fn an_auth_token_is_not_a_verification_token() {
    let (app, _sink) = app_with_mail().await;
    sign_up(&app, "abe@example.com").await;
    let (_, auth) = app
        .guest()
        .auth_with_password("users", "abe@example.com", PASSWORD)
        .await;
    let data = assert_error(
        &post(
            &app,
            "confirm-verification",
            json!({"token": auth["token"]}),
        )
        .await,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(
        data["token"],
        json!({"code": "validation_invalid_token_claims", "message": "Missing email token claim."})
    );

    let (status, body) = app
        .post_json(
            "/api/collections/_superusers/request-email-change",
            &json!({"newEmail": "x@example.com"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            plain_error(400, "All superusers can change their emails directly.")
        )
    );
}

#[tokio::test]
async fn a_token_of_another_collection_is_refused() {
    let (app, sink) = app_with_mail().await;
    app.create_collection(&json!({"name": "members", "type": "auth", "fields": []}))
        .await;
    sign_up(&app, "cy@example.com").await;
    assert_eq!(
        post(
            &app,
            "request-verification",
            json!({"email": "cy@example.com"})
        )
        .await
        .0,
        204
    );
    let mail = sink.next_message(WAIT).await.expect("a verification mail");
    let token = token_in(&mail.text.unwrap_or_default());
    let (status, body) = app
        .guest()
        .post_json(
            "/api/collections/members/confirm-verification",
            &json!({"token": token}),
        )
        .await;
    let data = assert_error(
        &(status, body),
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(
        data["token"],
        json!({"code": "validation_token_collection_mismatch", "message": "The provided token is for different auth collection."})
    );
}

async fn login_with_agent(app: &TestApp, email: &str, user_agent: &str) {
    let guest = app.guest();
    let response = guest
        .send(
            guest
                .request(
                    reqwest::Method::POST,
                    "/api/collections/users/auth-with-password",
                )
                .header("User-Agent", user_agent)
                .json(&json!({"identity": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
}

fn origin_fingerprints(app: &TestApp, record_id: &str) -> Vec<String> {
    app.db().column(
        "SELECT fingerprint FROM \"_authOrigins\" WHERE \"recordRef\" = $1 ORDER BY updated DESC",
        &[record_id],
    )
}

#[tokio::test]
async fn a_login_from_a_new_origin_mails_an_alert() {
    let (app, sink) = app_with_mail().await;
    let user = sign_up(&app, "lena@example.com").await;
    let id = user["id"].as_str().unwrap();

    login_with_agent(&app, "lena@example.com", "agent-one").await; // first login: no alert
    login_with_agent(&app, "lena@example.com", "agent-one").await; // known origin: no alert
    assert_eq!(origin_fingerprints(&app, id).len(), 1);
    login_with_agent(&app, "lena@example.com", "agent-two").await;
    let mail = sink.next_message(WAIT).await.expect("an alert");
    assert_eq!(mail.rcpt_to, vec!["lena@example.com".to_owned()]);
    assert_eq!(mail.subject, "Login from a new location");
    let html = mail.html.unwrap_or_default();
    assert!(html.contains("127.0.0.1 agent-two"), "{html}");
    assert!(html.contains("Harbor"), "{html}");
    // the fingerprint is PocketBase's: md5(ip + user agent)
    assert_eq!(
        origin_fingerprints(&app, id)[0],
        "2af6689399199f3ef7d3313b6df35f25",
        "md5(\"127.0.0.1agent-two\")"
    );

    // origins are capped at five, the least recently used going first
    for n in 3..=7 {
        login_with_agent(&app, "lena@example.com", &format!("agent-{n}")).await;
    }
    login_with_agent(&app, "lena@example.com", "agent-7").await; // known: no alert
    let subjects_and_agents: Vec<bool> = {
        let mut seen = Vec::new();
        for n in 3..=7 {
            let mail = sink
                .next_message(WAIT)
                .await
                .expect("an alert per new origin");
            seen.push(
                mail.html
                    .unwrap_or_default()
                    .contains(&format!("agent-{n}")),
            );
        }
        seen
    };
    assert_eq!(subjects_and_agents, vec![true; 5]);
    assert!(
        sink.next_message(Duration::from_millis(500))
            .await
            .is_none(),
        "a known origin sends nothing"
    );
    assert_eq!(origin_fingerprints(&app, id).len(), 5);

    // switched off: no alerts
    app.update_collection("users", &json!({"authAlert": {"enabled": false}}))
        .await;
    login_with_agent(&app, "lena@example.com", "agent-8").await;
    assert!(
        sink.next_message(Duration::from_millis(500))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_origin() {
    let (app, sink) = app_with_mail().await;
    sign_up(&app, "omar@example.com").await;
    login_with_agent(&app, "omar@example.com", "agent-one").await;
    let (status, body) = app
        .patch_json(
            "/api/settings",
            &json!({"trustedProxy": {"headers": ["X-Forwarded-For"], "useLeftmostIP": false}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let guest = app.guest();
    let response = guest
        .send(
            guest
                .request(
                    reqwest::Method::POST,
                    "/api/collections/users/auth-with-password",
                )
                .header("User-Agent", "agent-one")
                .header("X-Forwarded-For", "198.51.100.7, 203.0.113.9")
                .json(&json!({"identity": "omar@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let mail = sink.next_message(WAIT).await.expect("an alert");
    let html = mail.html.unwrap_or_default();
    assert!(
        html.contains("203.0.113.9 agent-one"),
        "the proxy's rightmost entry: {html}"
    );
}

#[tokio::test]
async fn superusers_send_test_emails_of_every_template() {
    let (app, sink) = app_with_mail().await;
    let path = "/api/settings/test/email";
    for (template, subject) in [
        ("verification", "Verify your Harbor email"),
        ("password-reset", "Reset your Harbor password"),
        ("email-change", "Confirm your Harbor new email address"),
        ("otp", "OTP for Harbor"),
        ("login-alert", "Login from a new location"),
    ] {
        let (status, body) = app
            .post_json(
                path,
                &json!({"email": "test@example.com", "template": template, "collection": "users"}),
            )
            .await;
        assert_eq!(status, 204, "{template}: {body}");
        let mail = sink.next_message(WAIT).await.expect("the test mail");
        assert_eq!(mail.subject, subject);
        assert_eq!(mail.rcpt_to, vec!["test@example.com".to_owned()]);
    }
    let otp = {
        app.post_json(
            path,
            &json!({"email": "test@example.com", "template": "otp"}),
        )
        .await;
        sink.next_message(WAIT)
            .await
            .expect("the superusers' otp mail")
    };
    assert!(otp.html.unwrap_or_default().contains("123456"));

    let data = assert_error(
        &app.post_json(path, &json!({})).await,
        400,
        "Failed to send the test email.",
    );
    assert_eq!(
        data,
        json!({
            "email": {"code": "validation_required", "message": "Cannot be blank."},
            "template": {"code": "validation_required", "message": "Cannot be blank."},
        })
    );
    let data = assert_error(
        &app.post_json(
            path,
            &json!({"email": "bad", "template": "nope", "collection": "nosuch"}),
        )
        .await,
        400,
        "Failed to send the test email.",
    );
    assert_eq!(data["email"]["code"], "validation_is_email");
    assert_eq!(data["template"]["code"], "validation_in_invalid");
    assert_eq!(
        data["collection"]["code"],
        "validation_invalid_auth_collection"
    );

    // a failed delivery is the answer
    sink.fail_next(1);
    let (status, body) = app
        .post_json(
            path,
            &json!({"email": "test@example.com", "template": "verification"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Failed to send the test email. Raw error: "),
        "{body}"
    );
    let (status, _) = app.guest().post_json(path, &json!({})).await;
    assert_eq!(status, 401);
}
