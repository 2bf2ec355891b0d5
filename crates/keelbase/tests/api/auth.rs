//! Superuser authentication: tokens, refresh, invalid tokens, credential errors.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn auth_with_password_returns_a_token_and_the_record() {
    let app = TestApp::spawn().await;
    let (status, auth) = app
        .guest()
        .auth_with_password("_superusers", SU_EMAIL, SU_PASSWORD)
        .await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(sorted_keys(&auth), ["record", "token"]);
    let record = &auth["record"];
    assert_eq!(
        sorted_keys(record),
        [
            "collectionId",
            "collectionName",
            "created",
            "email",
            "emailVisibility",
            "id",
            "updated",
            "verified"
        ]
    );
    assert_eq!(record["email"], SU_EMAIL);
    assert_eq!(record["collectionName"], "_superusers");
    assert_eq!(record["collectionId"], SUPERUSERS_ID);
    assert_eq!(record["verified"], true);
    assert!(record["emailVisibility"].is_boolean());
    assert!(is_record_id(record["id"].as_str().unwrap()), "{record}");
    assert!(is_datetime(record["created"].as_str().unwrap()), "{record}");
    assert!(is_datetime(record["updated"].as_str().unwrap()), "{record}");
    assert_eq!(record["id"], app.su_id.as_str());

    let token = auth["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT");
    assert_eq!(jwt_header(token)["alg"], "HS256");
    let claims = jwt_payload(token);
    assert_eq!(claims["type"], "auth");
    assert_eq!(claims["collectionId"], SUPERUSERS_ID);
    assert_eq!(claims["id"], record["id"]);
    assert_eq!(claims["refreshable"], true);
    // exp = now + the collection's authToken.duration
    let duration = app.collection_ok("_superusers").await["authToken"]["duration"]
        .as_i64()
        .expect("authToken.duration");
    assert!(duration > 0);
    let exp = claims["exp"].as_i64().expect("numeric exp");
    let expected = unix_now() + duration;
    assert!(
        (exp - expected).abs() <= 60,
        "exp {exp} vs now + {duration} = {expected}"
    );

    // the token works: superuser-only endpoints answer
    let (status, settings) = app.with_token(token).get("/api/settings").await;
    assert_eq!(status, 200, "{settings}");
}

#[tokio::test]
async fn bearer_prefix_is_accepted_in_any_case() {
    let app = TestApp::spawn().await;
    for prefix in ["Bearer ", "bearer ", "BEARER ", ""] {
        let client = app.with_token(&format!("{prefix}{}", app.token()));
        let (status, body) = client.get("/api/settings").await;
        assert_eq!(status, 200, "prefix {prefix:?}: {body}");
        assert_eq!(body["meta"]["appName"], "Acme");
    }
}

#[tokio::test]
async fn invalid_tokens_make_a_guest() {
    let app = TestApp::spawn().await;
    let token = app.token().to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    // same claims, forged signature
    let mut forged_sig = parts[2].to_owned();
    let last = forged_sig.pop().unwrap();
    forged_sig.push(if last == 'A' { 'B' } else { 'A' });
    let forged = format!("{}.{}.{}", parts[0], parts[1], forged_sig);
    // claims edited (longer expiry), original signature
    let mut claims = jwt_payload(&token);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 1000);
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        base64url_encode(claims.to_string().as_bytes()),
        parts[2]
    );
    // an unsigned ("alg": "none") token with the superuser's claims
    let none = format!(
        "{}.{}.",
        base64url_encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    for bad in [
        "garbage.token.value",
        "x",
        forged.as_str(),
        edited.as_str(),
        none.as_str(),
        "Bearer ",
    ] {
        let client = app.with_token(bad);
        for path in [
            "/api/settings",
            "/api/collections",
            "/api/collections/meta/scaffolds",
        ] {
            let resp = client.get(path).await;
            assert_plain_error(&resp, 401, NEEDS_AUTH);
        }
        let resp = client.list("_superusers", &[]).await;
        assert_plain_error(&resp, 403, SUPERUSERS_ONLY);
        let (status, health) = client.get("/api/health").await;
        assert_eq!(
            (status, &health["data"]),
            (200, &json!({})),
            "token {bad:?}"
        );
    }
}

#[tokio::test]
async fn auth_refresh_issues_a_fresh_token_for_the_same_record() {
    let app = TestApp::spawn().await;
    let (status, refreshed) = app
        .post_json("/api/collections/_superusers/auth-refresh", &json!({}))
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["record"]["id"], app.su_id.as_str());
    assert_eq!(refreshed["record"]["email"], SU_EMAIL);
    let token = refreshed["token"].as_str().unwrap();
    let claims = jwt_payload(token);
    assert_eq!(claims["type"], "auth");
    assert_eq!(claims["collectionId"], SUPERUSERS_ID);
    assert_eq!(claims["id"], app.su_id.as_str());
    assert_eq!(claims["refreshable"], true);
    // the new token is usable, and so is the old one
    assert_eq!(app.with_token(token).get("/api/settings").await.0, 200);
    assert_eq!(app.get("/api/settings").await.0, 200);
    // also through the collection id
    let (status, _) = app
        .post_json(
            &format!("/api/collections/{SUPERUSERS_ID}/auth-refresh"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn auth_refresh_applies_the_fields_picker() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post_json(
            "/api/collections/_superusers/auth-refresh?fields=token,record.id",
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(sorted_keys(&body), ["record", "token"]);
    assert_eq!(body["record"], json!({"id": app.su_id}));
    // and on auth-with-password
    let (status, body) = app
        .guest()
        .post_json(
            "/api/collections/_superusers/auth-with-password?fields=record.email",
            &json!({"identity": SU_EMAIL, "password": SU_PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"record": {"email": SU_EMAIL}}));
}

#[tokio::test]
async fn auth_refresh_without_a_valid_token_is_401() {
    let app = TestApp::spawn().await;
    for client in [app.guest(), app.with_token("garbage")] {
        let resp = client
            .post_json("/api/collections/_superusers/auth-refresh", &json!({}))
            .await;
        assert_plain_error(&resp, 401, NEEDS_AUTH);
    }
}

#[tokio::test]
async fn auth_refresh_of_another_auth_collection_is_403() {
    // PocketBase's RequireSameCollectionContextAuth names the collection of the *token's*
    // record: `e.Auth.Collection().Name`, here `_superusers`.
    let app = TestApp::spawn().await;
    let resp = app
        .post_json("/api/collections/users/auth-refresh", &json!({}))
        .await;
    assert_plain_error(
        &resp,
        403,
        "The request requires auth record from _superusers collection.",
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_identity_give_the_same_400() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    for _ in 0..5 {
        let resp = guest
            .auth_with_password("_superusers", SU_EMAIL, "wrong-password-123")
            .await;
        assert_plain_error(&resp, 400, "Failed to authenticate.");
    }
    let resp = guest
        .auth_with_password("_superusers", "nobody@example.com", "wrong-password-123")
        .await;
    assert_plain_error(&resp, 400, "Failed to authenticate.");
    // the right one still works after the failures (no lockout by default)
    let (status, _) = guest
        .auth_with_password("_superusers", SU_EMAIL, SU_PASSWORD)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn blank_credentials_are_validation_errors() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    for body in [
        json!({"identity": "", "password": ""}),
        json!({}),
        json!({"identity": null, "password": null}),
    ] {
        let resp = guest
            .post_json("/api/collections/_superusers/auth-with-password", &body)
            .await;
        let data = assert_error(
            &resp,
            400,
            "An error occurred while validating the submitted data.",
        );
        assert_eq!(
            codes(&data),
            code_map(&[
                ("identity", "validation_required"),
                ("password", "validation_required")
            ]),
            "{body}"
        );
        assert_eq!(data["identity"]["message"], "Cannot be blank.");
    }
    // only the password missing
    let resp = guest
        .post_json(
            "/api/collections/_superusers/auth-with-password",
            &json!({"identity": SU_EMAIL}),
        )
        .await;
    let data = assert_error(
        &resp,
        400,
        "An error occurred while validating the submitted data.",
    );
    assert_eq!(
        codes(&data),
        code_map(&[("password", "validation_required")])
    );
}

#[tokio::test]
async fn malformed_auth_bodies_are_load_errors() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    for body in ["{bad", "{\"identity\":", "[1,2]"] {
        let resp = guest
            .raw_body(
                Method::POST,
                "/api/collections/_superusers/auth-with-password",
                "application/json",
                body,
            )
            .await
            .pair();
        assert_plain_error(
            &resp,
            400,
            "An error occurred while loading the submitted data.",
        );
    }
}

#[tokio::test]
async fn auth_with_password_on_a_non_auth_collection_is_404() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "posts", "fields": [{"name": "title", "type": "text"}]}))
        .await;
    // checked against PocketBase 0.40.6: an unknown collection has the generic message
    for (collection, message) in [
        ("posts", "Missing or invalid auth collection context."),
        ("nosuchcollection", "Missing or invalid collection context."),
    ] {
        let resp = app
            .guest()
            .auth_with_password(collection, SU_EMAIL, SU_PASSWORD)
            .await;
        assert_plain_error(&resp, 404, message);
    }
}

#[tokio::test]
async fn password_change_through_the_library_rotates_the_token_key() {
    let app = TestApp::spawn().await;
    let old_token = app.token().to_owned();
    app.app
        .upsert_superuser(SU_EMAIL, "a-brand-new-password")
        .await
        .expect("upsert");
    // the old token no longer authenticates
    let resp = app.with_token(&old_token).get("/api/settings").await;
    assert_plain_error(&resp, 401, NEEDS_AUTH);
    let guest = app.guest();
    let resp = guest
        .auth_with_password("_superusers", SU_EMAIL, SU_PASSWORD)
        .await;
    assert_plain_error(&resp, 400, "Failed to authenticate.");
    let (status, auth) = guest
        .auth_with_password("_superusers", SU_EMAIL, "a-brand-new-password")
        .await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(
        auth["record"]["id"],
        app.su_id.as_str(),
        "same record, new password"
    );
    let new_token = auth["token"].as_str().unwrap();
    assert_eq!(app.with_token(new_token).get("/api/settings").await.0, 200);
}

#[tokio::test]
async fn superuser_records_are_hidden_from_guests_and_password_is_never_serialized() {
    let app = TestApp::spawn().await;
    let list = app.list_ok("_superusers", &[]).await;
    assert_eq!(list["totalItems"], 1);
    let record: &Value = &items(&list)[0];
    assert_eq!(record["email"], SU_EMAIL);
    assert!(record.get("password").is_none(), "{record}");
    assert!(record.get("tokenKey").is_none(), "{record}");
    let resp = app.guest().view("_superusers", &app.su_id, &[]).await;
    assert_plain_error(&resp, 403, SUPERUSERS_ONLY);
}
