//! Records of auth collections (the default `users`): sign-up, login, refresh, the auth
//! rule, password and email changes, token rotation, auth methods and impersonation.

use serde_json::{Value, json};

use crate::helpers::*;

const PASSWORD: &str = "user-password-1";

async fn open_users(app: &TestApp) {
    app.update_collection(
        "users",
        &json!({"listRule": "", "viewRule": "", "createRule": "", "updateRule": "id = @request.auth.id"}),
    )
    .await;
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

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    app.guest()
        .auth_with_password("users", email, password)
        .await
}

async fn token_of(app: &TestApp, email: &str) -> String {
    let (status, body) = login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sign_up_log_in_and_refresh() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let user = sign_up(&app, "ann@example.com").await;
    assert_eq!(user["verified"], false);
    assert!(
        user.get("email").is_none(),
        "a guest is not the owner: {user}"
    );
    assert!(user.get("password").is_none() && user.get("tokenKey").is_none());

    let (status, auth) = login(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["record"]["id"], user["id"]);
    assert_eq!(auth["record"]["email"], "ann@example.com");
    let claims = jwt_payload(auth["token"].as_str().unwrap());
    assert_eq!(claims["type"], "auth");
    assert_eq!(claims["collectionId"], "_pb_users_auth_");
    assert_eq!(claims["refreshable"], true);

    let client = app.with_token(auth["token"].as_str().unwrap());
    let (status, refreshed) = client
        .post_json("/api/collections/users/auth-refresh", &json!({}))
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["record"]["id"], user["id"]);

    // a users token cannot refresh as a superuser
    let (status, body) = client
        .post_json("/api/collections/_superusers/auth-refresh", &json!({}))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["message"],
        "The request requires auth record from users collection."
    );

    // wrong password and unknown email answer the same
    assert_eq!(
        login(&app, "ann@example.com", "wrong-password").await,
        (400, plain_error(400, "Failed to authenticate."))
    );
    assert_eq!(
        login(&app, "nobody@example.com", PASSWORD).await,
        (400, plain_error(400, "Failed to authenticate."))
    );
}

#[tokio::test]
async fn sign_up_checks_the_password_confirmation_and_cannot_self_verify() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let (status, body) = app
        .guest()
        .try_create(
            "users",
            &json!({"email": "bob@example.com", "password": PASSWORD, "passwordConfirm": "something-else"}),
        )
        .await;
    let data = assert_error(&(status, body), 400, "Failed to create record.");
    assert_eq!(
        data["passwordConfirm"],
        json!({"code": "validation_values_mismatch", "message": "Values don't match."})
    );
    let (status, body) = app
        .guest()
        .try_create(
            "users",
            &json!({"email": "bob@example.com", "password": PASSWORD, "passwordConfirm": PASSWORD, "verified": true}),
        )
        .await;
    // a guest cannot sign up verified (PocketBase 0.40.6 answers the same)
    let data = assert_error(&(status, body), 400, "Failed to create record.");
    assert_eq!(
        codes(&data),
        code_map(&[("verified", "validation_values_mismatch")])
    );
    assert_eq!(app.count("users").await, 0, "nothing was created");
}

#[tokio::test]
async fn the_auth_rule_decides_who_may_log_in() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    sign_up(&app, "carl@example.com").await;
    let (_, before) = login(&app, "carl@example.com", PASSWORD).await;
    let old_token = before["token"].as_str().unwrap().to_owned();
    app.update_collection("users", &json!({"authRule": "verified = true"}))
        .await;
    let (status, _) = app
        .with_token(&old_token)
        .post_json("/api/collections/users/auth-refresh", &json!({}))
        .await;
    assert_eq!(
        status, 401,
        "a new auth rule revokes the tokens issued before it"
    );
    let refused = plain_error(
        403,
        "The request doesn't satisfy the collection requirements to authenticate.",
    );
    assert_eq!(
        login(&app, "carl@example.com", PASSWORD).await,
        (403, refused.clone())
    );
    let id = app.ids_where("users", "email = 'carl@example.com'").await[0].clone();
    app.update_record("users", &id, &json!({"verified": true}))
        .await;
    assert_eq!(login(&app, "carl@example.com", PASSWORD).await.0, 200);
    app.update_collection("users", &json!({"authRule": null}))
        .await;
    assert_eq!(
        login(&app, "carl@example.com", PASSWORD).await,
        (403, refused)
    );
}

#[tokio::test]
async fn a_deleted_record_s_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let id = id_of(&sign_up(&app, "gone@example.com").await);
    let owner = app.with_token(&token_of(&app, "gone@example.com").await);
    // verified once (and kept as verified by the server)
    for _ in 0..2 {
        let (status, body) = owner
            .post_json("/api/collections/users/auth-refresh", &json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(app.delete_record("users", &id).await.status, 204);
    let (status, _) = owner
        .post_json("/api/collections/users/auth-refresh", &json!({}))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn owners_need_their_old_password_and_a_new_password_revokes_old_tokens() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let user = sign_up(&app, "dee@example.com").await;
    let id = id_of(&user);
    let token = token_of(&app, "dee@example.com").await;
    let owner = app.with_token(&token);
    let new_password = "another-password-2";

    let data = assert_error(
        &owner
            .try_update(
                "users",
                &id,
                &json!({"password": new_password, "passwordConfirm": new_password}),
            )
            .await,
        400,
        "Failed to update record.",
    );
    assert_eq!(
        codes(&data),
        code_map(&[("oldPassword", "validation_required")])
    );
    let data = assert_error(
        &owner
            .try_update(
                "users",
                &id,
                &json!({"password": new_password, "passwordConfirm": new_password, "oldPassword": "not-it-at-all"}),
            )
            .await,
        400,
        "Failed to update record.",
    );
    assert_eq!(
        codes(&data),
        code_map(&[("oldPassword", "validation_invalid_old_password")])
    );
    let (status, body) = owner
        .try_update(
            "users",
            &id,
            &json!({"password": new_password, "passwordConfirm": new_password, "oldPassword": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // the old token is now a guest's
    let (status, _) = owner
        .post_json("/api/collections/users/auth-refresh", &json!({}))
        .await;
    assert_eq!(status, 401);
    assert_eq!(login(&app, "dee@example.com", PASSWORD).await.0, 400);
    assert_eq!(login(&app, "dee@example.com", new_password).await.0, 200);
}

#[tokio::test]
async fn owners_cannot_change_their_email_or_verified_but_superusers_can() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let user = sign_up(&app, "eve@example.com").await;
    let id = id_of(&user);
    let token = token_of(&app, "eve@example.com").await;
    let owner = app.with_token(&token);
    let data = assert_error(
        &owner
            .try_update(
                "users",
                &id,
                &json!({"email": "eve2@example.com", "verified": true}),
            )
            .await,
        400,
        "Failed to update record.",
    );
    assert_eq!(
        codes(&data),
        code_map(&[
            ("email", "validation_values_mismatch"),
            ("verified", "validation_values_mismatch")
        ])
    );
    // other fields are fine
    let (status, body) = owner
        .try_update("users", &id, &json!({"name": "Eve"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Eve");

    // a superuser may change the email, which rotates the token key
    let updated = app
        .update_record(
            "users",
            &id,
            &json!({"email": "eve2@example.com", "verified": true}),
        )
        .await;
    assert_eq!(updated["email"], "eve2@example.com");
    assert_eq!(updated["verified"], true);
    let (status, _) = owner
        .post_json("/api/collections/users/auth-refresh", &json!({}))
        .await;
    assert_eq!(status, 401, "the email change revoked the old token");
}

#[tokio::test]
async fn auth_methods_describe_the_login_options() {
    let app = TestApp::spawn().await;
    let (status, body) = app.guest().get("/api/collections/users/auth-methods").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "password": {"enabled": true, "identityFields": ["email"]},
            "oauth2": {"enabled": false, "providers": []},
            "mfa": {"enabled": false, "duration": 0},
            "otp": {"enabled": false, "duration": 0},
            "authProviders": [],
            "usernamePassword": false,
            "emailPassword": true
        })
    );
    let (status, body) = app
        .guest()
        .get("/api/collections/posts_missing/auth-methods")
        .await;
    assert_eq!(
        (status, body),
        (
            404,
            plain_error(404, "Missing or invalid collection context.")
        )
    );
}

#[tokio::test]
async fn superusers_impersonate_with_a_token_that_does_not_refresh() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let user = sign_up(&app, "fay@example.com").await;
    let id = id_of(&user);
    let (status, auth) = app
        .post_json(
            &format!("/api/collections/users/impersonate/{id}"),
            &json!({"duration": 60}),
        )
        .await;
    assert_eq!(status, 200, "{auth}");
    let token = auth["token"].as_str().unwrap().to_owned();
    let claims = jwt_payload(&token);
    assert_eq!(claims["refreshable"], false);
    assert_eq!(claims["id"], json!(id));
    let now = jiff::Timestamp::now().as_second();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(
        (now + 55..=now + 61).contains(&exp),
        "exp {exp} vs now {now}"
    );
    let (status, refreshed) = app
        .with_token(&token)
        .post_json("/api/collections/users/auth-refresh", &json!({}))
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        refreshed["token"],
        json!(token),
        "not refreshable: the same token"
    );

    let user_token = token_of(&app, "fay@example.com").await;
    let (status, _) = app
        .with_token(&user_token)
        .post_json(
            &format!("/api/collections/users/impersonate/{id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .guest()
        .post_json(
            &format!("/api/collections/users/impersonate/{id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .post_json(
            "/api/collections/users/impersonate/missing12345678",
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn passwords_are_argon2id_and_bcrypt_hashes_still_log_in() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let user = sign_up(&app, "gus@example.com").await;
    let id = id_of(&user);
    let db = app.db();
    let password = || db.value("SELECT password FROM users WHERE id = $1", &[&id]);
    let stored = password();
    assert!(stored.starts_with("$argon2id$"), "{stored}");

    // an account imported from PocketBase keeps its bcrypt hash, logs in, and is upgraded
    let imported = bcrypt::hash("imported-password", 4).unwrap();
    let changed = db.execute(
        "UPDATE users SET password = $1 WHERE id = $2",
        &[&imported, &id],
    );
    assert_eq!(changed, 1);
    assert_eq!(
        login(&app, "gus@example.com", "imported-password").await.0,
        200
    );
    let upgraded = password();
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
    assert_eq!(
        login(&app, "gus@example.com", "imported-password").await.0,
        200
    );
}

#[tokio::test]
async fn relation_filters_only_reach_records_the_related_list_rule_shows() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let alice = sign_up(&app, "alice@example.com").await;
    app.update_record("users", &id_of(&alice), &json!({"name": "alice"}))
        .await;
    app.update_collection("users", &json!({"listRule": "id = @request.auth.id"}))
        .await;
    app.create_collection(&json!({
        "name": "posts", "listRule": "",
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "author", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1}
        ]
    }))
    .await;
    app.create_record("posts", &json!({"title": "a", "author": id_of(&alice)}))
        .await;
    let filter = [("filter", "author.name = 'alice'")];
    let total = |list: Value| list["totalItems"].clone();

    assert_eq!(
        total(app.guest().list_ok("posts", &filter).await),
        0,
        "guests cannot see users"
    );
    let token = token_of(&app, "alice@example.com").await;
    let alice_client = app.with_token(&token);
    assert_eq!(
        total(alice_client.list_ok("posts", &filter).await),
        1,
        "alice sees herself"
    );
    assert_eq!(
        total(app.list_ok("posts", &filter).await),
        1,
        "superusers see everything"
    );
    // sorting by a hidden relation field is allowed, it just sees nothing
    assert_eq!(
        total(
            app.guest()
                .list_ok("posts", &[("sort", "-author.name")])
                .await
        ),
        1
    );

    app.update_collection("users", &json!({"listRule": null}))
        .await;
    assert_eq!(
        alice_client.list("posts", &filter).await,
        (400, plain_error(400, BAD_REQUEST)),
        "a locked collection cannot be filtered through"
    );
    // and the rule itself is unaffected: a rule may look through relations freely
    app.update_collection("posts", &json!({"listRule": "author.name = 'alice'"}))
        .await;
    assert_eq!(total(app.guest().list_ok("posts", &[]).await), 1);
}

#[tokio::test]
async fn rate_limits_answer_429_per_rule_and_reset_when_saved() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    sign_up(&app, "hal@example.com").await;
    let limits = json!({"rateLimits": {"enabled": true, "rules": [
        {"label": "*:auth", "audience": "", "duration": 60, "maxRequests": 2},
        {"label": "/api/", "audience": "", "duration": 60, "maxRequests": 1000}
    ]}});
    assert_eq!(app.patch_json("/api/settings", &limits).await.0, 200);
    assert_eq!(login(&app, "hal@example.com", PASSWORD).await.0, 200);
    assert_eq!(
        login(&app, "hal@example.com", "wrong-password").await.0,
        400
    );
    assert_eq!(
        login(&app, "hal@example.com", PASSWORD).await,
        (
            429,
            json!({"data": {}, "message": "Too Many Requests.", "status": 429})
        )
    );
    // other routes fall under the path rule, superusers are never limited
    assert_eq!(
        app.guest()
            .get("/api/collections/users/auth-methods")
            .await
            .0,
        200
    );
    for _ in 0..3 {
        assert_eq!(
            app.auth_with_password("_superusers", SU_EMAIL, SU_PASSWORD)
                .await
                .0,
            200
        );
    }
    // saving the settings starts the windows afresh
    assert_eq!(app.patch_json("/api/settings", &limits).await.0, 200);
    assert_eq!(login(&app, "hal@example.com", PASSWORD).await.0, 200);

    let (status, body) = app
        .patch_json(
            "/api/settings",
            &json!({"rateLimits": {"rules": [{"label": "nope label", "audience": "x", "duration": 1, "maxRequests": 1}]}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["data"]["rateLimits"]["rules"]["0"]["label"]["code"],
        "validation_match_invalid"
    );
    assert_eq!(
        body["data"]["rateLimits"]["rules"]["0"]["audience"]["code"],
        "validation_in_invalid"
    );
}

#[tokio::test]
async fn rules_follow_relations_of_the_requesters_own_auth_collection() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let teams = app
        .create_collection(
            &json!({"name": "teams", "listRule": "", "fields": [{"name": "name", "type": "text"}]}),
        )
        .await;
    let red = app.create_record("teams", &json!({"name": "red"})).await;
    app.create_collection(&json!({
        "name": "people", "type": "auth", "listRule": "", "viewRule": "", "createRule": "",
        "fields": [{"name": "team", "type": "relation", "collectionId": teams["id"], "maxSelect": 1}]
    }))
    .await;
    app.create_record(
        "people",
        &json!({"email": "pat@example.com", "password": PASSWORD, "passwordConfirm": PASSWORD, "team": id_of(&red)}),
    )
    .await;
    app.create_collection(&json!({
        "name": "docs", "listRule": "@request.auth.team.name = 'red'",
        "fields": [{"name": "title", "type": "text"}]
    }))
    .await;
    app.create_record("docs", &json!({"title": "d1"})).await;
    let (_, pat) = app
        .guest()
        .auth_with_password("people", "pat@example.com", PASSWORD)
        .await;
    let pat = app.with_token(pat["token"].as_str().unwrap());
    assert_eq!(pat.list_ok("docs", &[]).await["totalItems"], 1);
    // a users token has no `team`: nothing matches, and it is not an error
    sign_up(&app, "uma@example.com").await;
    let uma = app.with_token(&token_of(&app, "uma@example.com").await);
    assert_eq!(uma.list_ok("docs", &[]).await["totalItems"], 0);
    assert_eq!(app.guest().list_ok("docs", &[]).await["totalItems"], 0);
}

#[tokio::test]
async fn managers_see_the_emails_of_records_they_manage() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let boss = sign_up(&app, "boss@example.com").await;
    sign_up(&app, "staff@example.com").await;
    app.update_collection(
        "users",
        &json!({"manageRule": format!("@request.auth.id = '{}'", id_of(&boss))}),
    )
    .await;
    let visible = |list: &Value| {
        items(list)
            .iter()
            .filter_map(|r| r.get("email").and_then(Value::as_str).map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let boss_client = app.with_token(&token_of(&app, "boss@example.com").await);
    let list = boss_client.list_ok("users", &[("sort", "@rowid")]).await;
    assert_eq!(visible(&list), ["boss@example.com", "staff@example.com"]);
    let staff_client = app.with_token(&token_of(&app, "staff@example.com").await);
    let list = staff_client.list_ok("users", &[("sort", "@rowid")]).await;
    assert_eq!(visible(&list), ["staff@example.com"], "only their own");
}

#[tokio::test]
async fn auth_system_fields_come_back_and_cannot_be_renamed() {
    let app = TestApp::spawn().await;
    let created = app
        .create_collection(&json!({"name": "members", "type": "auth", "fields": [{"name": "nick", "type": "text"}]}))
        .await;
    let names = |c: &Value| -> Vec<String> {
        c["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&created),
        [
            "id",
            "nick",
            "password",
            "tokenKey",
            "email",
            "emailVisibility",
            "verified"
        ]
    );
    // a dropped system field comes back at the end, dropped system indexes come back too
    let without_email: Vec<Value> = created["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] != "email")
        .cloned()
        .collect();
    let updated = app
        .update_collection("members", &json!({"fields": without_email, "indexes": []}))
        .await;
    assert_eq!(
        names(&updated),
        [
            "id",
            "nick",
            "password",
            "tokenKey",
            "emailVisibility",
            "verified",
            "email"
        ]
    );
    assert_eq!(updated["indexes"], created["indexes"]);
    // renaming one is refused
    let renamed: Vec<Value> = updated["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if f["name"] == "verified" {
                f["name"] = json!("isVerified");
            }
            f
        })
        .collect();
    let data = assert_error(
        &app.try_update_collection("members", &json!({"fields": renamed}))
            .await,
        400,
        "Failed to update collection.",
    );
    assert_eq!(
        data["fields"],
        json!({"code": "validation_system_field_change", "message": "System fields cannot be deleted or renamed."})
    );
}

#[tokio::test]
async fn password_errors_are_reported_before_field_errors() {
    let app = TestApp::spawn().await;
    open_users(&app).await;
    let keys = |resp: (u16, Value)| -> Vec<String> {
        let data = assert_error(&resp, 400, "Failed to create record.");
        codes(&data).into_keys().collect()
    };
    let guest = app.guest();
    assert_eq!(
        keys(
            guest
                .try_create("users", &json!({"email": "not-an-email"}))
                .await
        ),
        ["password", "passwordConfirm"]
    );
    assert_eq!(
        keys(guest.try_create("users", &json!({"email": "ok@example.com", "password": "short", "passwordConfirm": "short"})).await),
        ["password"]
    );
    assert_eq!(
        keys(guest.try_create("users", &json!({"email": "not-an-email", "password": PASSWORD, "passwordConfirm": PASSWORD})).await),
        ["email"],
        "field errors once the password pair is valid"
    );
}

/// Each invalid auth option is reported under its own key, as PocketBase reports it.
#[tokio::test]
async fn invalid_auth_options_are_reported_per_key() {
    let app = TestApp::spawn().await;
    let required = json!({"code": "validation_required", "message": "Cannot be blank."});
    let at_least = |n: i64| json!({"code": "validation_min_greater_equal_than_required", "message": format!("Must be no less than {n}."), "params": {"threshold": n}});
    let cases = [
        (
            json!({"fields": [{"name": "nick", "type": "text"}], "passwordAuth": {"enabled": true, "identityFields": ["email", "nick"]}}),
            json!({"passwordAuth": {"identityFields": {"code": "validation_missing_unique_constraint", "message": "The field nick doesn't have a UNIQUE constraint.", "params": {"fieldName": "nick"}}}}),
        ),
        (
            json!({"passwordAuth": {"enabled": true, "identityFields": ["nosuch"]}}),
            json!({"passwordAuth": {"identityFields": {"code": "validation_missing_field", "message": "Invalid or missing field nosuch.", "params": {"fieldName": "nosuch"}}}}),
        ),
        (
            json!({"passwordAuth": {"enabled": true, "identityFields": []}}),
            json!({"passwordAuth": {"identityFields": required}}),
        ),
        (
            json!({"authToken": {"duration": 5}, "fileToken": {"duration": 0}, "emailChangeToken": {"secret": "short"}}),
            json!({
                "authToken": {"duration": at_least(10)},
                "emailChangeToken": {"secret": {"code": "validation_length_out_of_range", "message": "The length must be between 30 and 255.", "params": {"max": 255, "min": 30}}},
                "fileToken": {"duration": required},
            }),
        ),
        (
            json!({"verificationToken": {"duration": 999_999_999}}),
            json!({"verificationToken": {"duration": {"code": "validation_max_less_equal_than_required", "message": "Must be no greater than 94670856.", "params": {"threshold": 94_670_856}}}}),
        ),
        (
            json!({"otp": {"enabled": true, "length": 2, "duration": 5}, "mfa": {"enabled": true, "duration": 0}}),
            json!({"mfa": {"duration": required}, "otp": {"duration": at_least(10), "length": at_least(4)}}),
        ),
        (
            json!({"mfa": {"enabled": true}}),
            json!({"mfa": {"enabled": {"code": "validation_mfa_not_enough_auths", "message": "MFA requires at least 2 auth methods to be enabled."}}}),
        ),
        (
            json!({"mfa": {"enabled": true, "rule": "nosuch = 1"}, "otp": {"enabled": true}}),
            json!({"mfa": {"rule": {"code": "validation_invalid_rule", "message": "Invalid rule. Raw error: invalid left operand \"nosuch\" - unknown field \"nosuch\"."}}}),
        ),
        (
            json!({"manageRule": "", "authAlert": {"emailTemplate": {"subject": ""}}, "verificationTemplate": {"body": ""}}),
            json!({
                "authAlert": {"emailTemplate": {"subject": required}},
                "manageRule": {"code": "validation_nil_or_not_empty_required", "message": "Cannot be blank."},
                "verificationTemplate": {"body": required},
            }),
        ),
        (
            json!({"fields": [{"name": "passwordConfirm", "type": "text"}, {"name": "expand", "type": "text"}]}),
            json!({"fields": {
                "1": {"name": {"code": "validation_reserved_field_name", "message": "The field name is reserved and cannot be used."}},
                "2": {"name": {"code": "validation_not_in_invalid", "message": "Must not be in list."}},
            }}),
        ),
        (
            json!({"oauth2": {"enabled": true, "providers": [
                {"name": "github", "clientId": "a", "clientSecret": "b"},
                {"name": "github", "clientId": "c", "clientSecret": "d"},
            ]}}),
            json!({"oauth2": {"providers": {"1": {"name": {"code": "validation_duplicated_provider", "message": "The provider github is already registered.", "params": {"name": "github"}}}}}}),
        ),
    ];
    for (options, expected) in cases {
        let mut body = json!({"name": "members", "type": "auth"});
        merge(&mut body, &options);
        let (status, response) = app.try_create_collection(&body).await;
        assert_eq!(status, 400, "{options} -> {response}");
        assert_eq!(response["message"], "Failed to create collection.");
        assert_eq!(response["data"], expected, "{options}");
    }
    // none of them was created; valid options still are
    assert_eq!(app.collection("members").await.0, 404);
    let created = app
        .create_collection(&json!({"name": "members", "type": "auth", "mfa": {"enabled": true, "rule": "verified = true"}, "otp": {"enabled": true}}))
        .await;
    assert_eq!(created["mfa"]["rule"], "verified = true");

    // the superusers' own rules are fixed
    let (status, response) = app
        .try_update_collection(
            "_superusers",
            &json!({"authRule": "verified = true", "manageRule": "id != ''"}),
        )
        .await;
    assert_eq!(status, 400, "{response}");
    let fixed = json!({"code": "validation_collection_system_rule_change", "message": "System collection API rule cannot be changed."});
    assert_eq!(
        response["data"],
        json!({"authRule": fixed, "manageRule": fixed})
    );
}

fn merge(target: &mut Value, extra: &Value) {
    if let (Some(target), Some(extra)) = (target.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            target.insert(key.clone(), value.clone());
        }
    }
}

/// A burst of sign-ups (each an argon2 hash of 46 MiB) keeps the real binary's memory
/// bounded while it runs (hashes queue for one thread per core) and gives it back after.
#[tokio::test]
async fn a_burst_of_sign_ups_keeps_memory_bounded() {
    const SIGN_UPS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let server = crate::process::ServeProcess::start(dir.path());
    let before = crate::process::memory_kib(server.pid(), "VmRSS");
    let guest = Client::new(&server.base, None);
    let mut sign_ups = tokio::task::JoinSet::new();
    for n in 0..SIGN_UPS {
        let guest = guest.clone();
        sign_ups.spawn(async move {
            guest
                .post_json(
                    "/api/collections/users/records",
                    &json!({"email": format!("burst{n}@example.com"), "password": PASSWORD,
                            "passwordConfirm": PASSWORD}),
                )
                .await
                .0
        });
    }
    let statuses = sign_ups.join_all().await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let peak = crate::process::memory_kib(server.pid(), "VmHWM");
    let after = crate::process::memory_kib(server.pid(), "VmRSS");
    let (peak_mib, kept_mib) = (
        peak.saturating_sub(before) / 1024,
        after.saturating_sub(before) / 1024,
    );
    eprintln!("{SIGN_UPS} concurrent sign-ups: +{peak_mib} MiB at the peak, +{kept_mib} MiB kept");
    assert!(peak_mib < 150, "peak memory grew by {peak_mib} MiB");
    assert!(kept_mib < 32, "{kept_mib} MiB kept after the burst");
}
