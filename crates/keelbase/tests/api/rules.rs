//! API rules for guests (only superusers exist as auth records): null, empty, expressions, and
//! `@request.*` / `@collection.*` inside rules.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn docs(app: &TestApp, rules: Value) -> Vec<String> {
    let mut def = json!({
        "name": "docs",
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "views", "type": "number"},
            {"name": "status", "type": "select", "values": ["open", "closed"], "maxSelect": 1},
        ],
    });
    for (k, v) in rules.as_object().unwrap() {
        def[k] = v.clone();
    }
    app.create_collection(&def).await;
    let mut ids = Vec::new();
    for (title, views, status) in [
        ("low", 1, "open"),
        ("mid", 10, "closed"),
        ("high", 100, "open"),
    ] {
        ids.push(id_of(
            &app.create_record(
                "docs",
                &json!({"title": title, "views": views, "status": status}),
            )
            .await,
        ));
    }
    ids
}

#[tokio::test]
async fn null_rules_are_superuser_only() {
    let app = TestApp::spawn().await;
    let ids = docs(&app, json!({})).await;
    let guest = app.guest();
    for resp in [
        guest.list("docs", &[]).await,
        guest.view("docs", &ids[0], &[]).await,
        guest.try_create("docs", &json!({"title": "x"})).await,
        guest
            .try_update("docs", &ids[0], &json!({"title": "x"}))
            .await,
        guest.delete_record("docs", &ids[0]).await.pair(),
    ] {
        assert_plain_error(&resp, 403, SUPERUSERS_ONLY);
    }
    // nothing happened
    assert_eq!(app.count("docs").await, 3);
    assert_eq!(app.view_ok("docs", &ids[0], &[]).await["title"], "low");
    // superusers ignore rules
    assert_eq!(app.list_ok("docs", &[]).await["totalItems"], 3);
}

#[tokio::test]
async fn empty_rules_are_public() {
    let app = TestApp::spawn().await;
    let ids = docs(
        &app,
        json!({"listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": ""}),
    )
    .await;
    let guest = app.guest();
    assert_eq!(guest.list_ok("docs", &[]).await["totalItems"], 3);
    assert_eq!(guest.view_ok("docs", &ids[0], &[]).await["title"], "low");
    let created = guest
        .create_record("docs", &json!({"title": "by guest"}))
        .await;
    assert_eq!(
        guest
            .update_record("docs", &ids[0], &json!({"title": "edited"}))
            .await["title"],
        "edited"
    );
    assert_eq!(guest.delete_record("docs", &ids[1]).await.status, 204);
    assert_eq!(app.count("docs").await, 3);
    assert_eq!(
        app.view_ok("docs", &id_of(&created), &[]).await["title"],
        "by guest"
    );
}

#[tokio::test]
async fn list_rule_expression_filters_rows() {
    let app = TestApp::spawn().await;
    let ids = docs(
        &app,
        json!({"listRule": "views > 5", "viewRule": "views > 5"}),
    )
    .await;
    let guest = app.guest();
    let list = guest.list_ok("docs", &[("sort", "@rowid")]).await;
    assert_eq!(list["totalItems"], 2);
    assert_eq!(item_ids(&list), [ids[1].clone(), ids[2].clone()]);
    // the client filter is ANDed with the rule
    let list = guest.list_ok("docs", &[("filter", "views < 50")]).await;
    assert_eq!(item_ids(&list), [ids[1].clone()]);
    let list = guest.list_ok("docs", &[("filter", "views < 5")]).await;
    assert_eq!(
        (&list["totalItems"], &list["items"]),
        (&json!(0), &json!([]))
    );
    // view: unmet → 404, met → 200
    assert_plain_error(&guest.view("docs", &ids[0], &[]).await, 404, NOT_FOUND);
    assert_eq!(guest.view_ok("docs", &ids[2], &[]).await["title"], "high");
}

#[tokio::test]
async fn create_rule_unmet_is_400_and_creates_nothing() {
    let app = TestApp::spawn().await;
    docs(
        &app,
        json!({"createRule": "title != \"forbidden\" && views < 50"}),
    )
    .await;
    let guest = app.guest();
    for body in [
        json!({"title": "forbidden"}),
        json!({"title": "ok", "views": 60}),
    ] {
        let resp = guest.try_create("docs", &body).await;
        assert_plain_error(&resp, 400, "Failed to create record.");
    }
    assert_eq!(app.count("docs").await, 3);
    let created = guest
        .create_record("docs", &json!({"title": "allowed", "views": 5}))
        .await;
    assert_eq!(created["title"], "allowed");
    assert_eq!(app.count("docs").await, 4);
}

#[tokio::test]
async fn update_and_delete_rules_unmet_are_404() {
    let app = TestApp::spawn().await;
    let ids = docs(
        &app,
        json!({"updateRule": "status = \"open\"", "deleteRule": "views >= 100"}),
    )
    .await;
    let guest = app.guest();
    // ids[1] is closed
    assert_plain_error(
        &guest
            .try_update("docs", &ids[1], &json!({"title": "x"}))
            .await,
        404,
        NOT_FOUND,
    );
    assert_eq!(
        guest
            .update_record("docs", &ids[0], &json!({"title": "changed"}))
            .await["title"],
        "changed"
    );
    assert_eq!(app.view_ok("docs", &ids[1], &[]).await["title"], "mid");
    // delete: only views >= 100
    assert_plain_error(
        &guest.delete_record("docs", &ids[0]).await.pair(),
        404,
        NOT_FOUND,
    );
    assert_eq!(guest.delete_record("docs", &ids[2]).await.status, 204);
    assert_eq!(app.count("docs").await, 2);
    // the update rule is checked against the stored record, not the new values
    assert_plain_error(
        &guest
            .try_update("docs", &ids[1], &json!({"status": "open"}))
            .await,
        404,
        NOT_FOUND,
    );
}

#[tokio::test]
async fn rules_can_use_the_request_body() {
    let app = TestApp::spawn().await;
    let ids = docs(
        &app,
        json!({
            "createRule": "@request.body.views < 100 && @request.body.title:isset = true",
            "updateRule": "@request.body.status:isset = false",
        }),
    )
    .await;
    let guest = app.guest();
    assert_plain_error(
        &guest
            .try_create("docs", &json!({"title": "big", "views": 500}))
            .await,
        400,
        "Failed to create record.",
    );
    assert_plain_error(
        &guest.try_create("docs", &json!({"views": 5})).await,
        400,
        "Failed to create record.",
    );
    guest
        .create_record("docs", &json!({"title": "small", "views": 5}))
        .await;
    assert_plain_error(
        &guest
            .try_update("docs", &ids[0], &json!({"status": "closed"}))
            .await,
        404,
        NOT_FOUND,
    );
    assert_eq!(
        guest
            .update_record("docs", &ids[0], &json!({"title": "t"}))
            .await["title"],
        "t"
    );
    assert_eq!(app.view_ok("docs", &ids[0], &[]).await["status"], "open");
    // modifiers are resolved before the rule sees the body
    app.update_collection("docs", &json!({"updateRule": "@request.body.views <= 10"}))
        .await;
    assert_plain_error(
        &guest
            .try_update("docs", &ids[1], &json!({"views+": 5}))
            .await,
        404,
        NOT_FOUND,
    );
    assert_eq!(
        guest
            .update_record("docs", &ids[0], &json!({"views+": 5}))
            .await["views"],
        6
    );
}

#[tokio::test]
async fn changed_and_isset_modifiers_in_rules() {
    let app = TestApp::spawn().await;
    let ids = docs(
        &app,
        json!({"updateRule": "@request.body.status:changed = false && @request.body.views:isset = false"}),
    )
    .await;
    let guest = app.guest();
    // sending the same status is not a change
    let u = guest
        .update_record(
            "docs",
            &ids[0],
            &json!({"status": "open", "title": "same status"}),
        )
        .await;
    assert_eq!(u["title"], "same status");
    // a different status is a change; views may not be sent at all
    assert_plain_error(
        &guest
            .try_update("docs", &ids[0], &json!({"status": "closed"}))
            .await,
        404,
        NOT_FOUND,
    );
    assert_plain_error(
        &guest
            .try_update("docs", &ids[0], &json!({"views": 1}))
            .await,
        404,
        NOT_FOUND,
    );
    let got = app.view_ok("docs", &ids[0], &[]).await;
    assert_eq!((&got["status"], &got["views"]), (&json!("open"), &json!(1)));
}

#[tokio::test]
async fn rules_can_use_query_headers_and_method() {
    let app = TestApp::spawn().await;
    let ids = docs(
        &app,
        json!({
            "listRule": "@request.query.key = \"secret\"",
            "viewRule": "@request.headers.x_token = \"abc\"",
            "updateRule": "@request.method = \"PATCH\"",
            "deleteRule": "@request.method = \"POST\"",
        }),
    )
    .await;
    let guest = app.guest();
    let list = guest.list_ok("docs", &[]).await;
    assert_eq!(
        (&list["totalItems"], &list["items"]),
        (&json!(0), &json!([]))
    );
    let list = guest.list_ok("docs", &[("key", "secret")]).await;
    assert_eq!(list["totalItems"], 3);
    assert_eq!(
        guest.list_ok("docs", &[("key", "wrong")]).await["totalItems"],
        0
    );

    assert_plain_error(&guest.view("docs", &ids[0], &[]).await, 404, NOT_FOUND);
    let resp = guest
        .send(
            guest
                .request(
                    Method::GET,
                    &format!("/api/collections/docs/records/{}", ids[0]),
                )
                .header("X-Token", "abc"),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let resp = guest
        .send(
            guest
                .request(
                    Method::GET,
                    &format!("/api/collections/docs/records/{}", ids[0]),
                )
                .header("X-Token", "abd"),
        )
        .await;
    assert_eq!(resp.status, 404);

    assert_eq!(
        guest
            .update_record("docs", &ids[0], &json!({"title": "m"}))
            .await["title"],
        "m"
    );
    assert_plain_error(
        &guest.delete_record("docs", &ids[0]).await.pair(),
        404,
        NOT_FOUND,
    );
    assert_eq!(app.count("docs").await, 3);
}

#[tokio::test]
async fn rules_can_join_other_collections() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "allow", "fields": [{"name": "name", "type": "text"}]}))
        .await;
    app.create_record("allow", &json!({"name": "mid"})).await;
    app.create_record("allow", &json!({"name": "high"})).await;
    let ids = docs(
        &app,
        json!({"listRule": "@collection.allow.name ?= title", "viewRule": "@collection.allow.name ?= title"}),
    )
    .await;
    let guest = app.guest();
    let list = guest.list_ok("docs", &[("sort", "@rowid")]).await;
    assert_eq!(item_ids(&list), [ids[1].clone(), ids[2].clone()]);
    assert_plain_error(&guest.view("docs", &ids[0], &[]).await, 404, NOT_FOUND);
    assert_eq!(guest.view_ok("docs", &ids[1], &[]).await["title"], "mid");
    // the rule follows the data
    app.create_record("allow", &json!({"name": "low"})).await;
    assert_eq!(guest.view_ok("docs", &ids[0], &[]).await["title"], "low");
    // a guest still may not use @collection in its own filter
    assert_plain_error(
        &guest
            .list("docs", &[("filter", "@collection.allow.name ?= \"x\"")])
            .await,
        403,
        "Only superusers can filter by @collection.",
    );
}

#[tokio::test]
async fn guest_auth_fields_resolve_to_empty() {
    let app = TestApp::spawn().await;
    docs(
        &app,
        json!({"listRule": "@request.auth.id != \"\"", "viewRule": "@request.auth.id = \"\""}),
    )
    .await;
    let guest = app.guest();
    assert_eq!(guest.list_ok("docs", &[]).await["totalItems"], 0);
    let ids = app.ids_where("docs", "").await;
    assert_eq!(guest.view_ok("docs", &ids[0], &[]).await["title"], "low");
    // the superuser bypasses the rule entirely
    assert_eq!(app.list_ok("docs", &[]).await["totalItems"], 3);
}

#[tokio::test]
async fn rule_changes_apply_immediately() {
    let app = TestApp::spawn().await;
    docs(&app, json!({"listRule": "views > 50"})).await;
    let guest = app.guest();
    assert_eq!(guest.list_ok("docs", &[]).await["totalItems"], 1);
    app.update_collection("docs", &json!({"listRule": "views > 5"}))
        .await;
    assert_eq!(guest.list_ok("docs", &[]).await["totalItems"], 2);
    app.update_collection("docs", &json!({"listRule": null}))
        .await;
    assert_plain_error(&guest.list("docs", &[]).await, 403, SUPERUSERS_ONLY);
    app.update_collection("docs", &json!({"listRule": ""}))
        .await;
    assert_eq!(guest.list_ok("docs", &[]).await["totalItems"], 3);
}

#[tokio::test]
async fn default_users_collection_is_private_to_guests() {
    let app = TestApp::spawn().await;
    let user = app
        .create_record(
            "users",
            &json!({"email": "u1@example.com", "password": "user-password-1", "passwordConfirm": "user-password-1", "name": "U1"}),
        )
        .await;
    for secret in ["password", "tokenKey", "passwordConfirm"] {
        assert!(user.get(secret).is_none(), "{secret} serialized: {user}");
    }
    assert_eq!(
        user["email"], "u1@example.com",
        "superusers see every email"
    );
    let guest = app.guest();
    // listRule `id = @request.auth.id`: a guest sees nothing, but it is not an error
    let list = guest.list_ok("users", &[]).await;
    assert_eq!(
        (&list["totalItems"], &list["items"]),
        (&json!(0), &json!([]))
    );
    assert_plain_error(
        &guest.view("users", &id_of(&user), &[]).await,
        404,
        NOT_FOUND,
    );
    // hidden fields are no oracle: guests may not filter or sort by them
    for (key, value) in [
        ("filter", "password != \"\""),
        ("filter", "tokenKey ~ \"a\""),
        ("sort", "password"),
    ] {
        assert_plain_error(
            &guest.list("users", &[(key, value)]).await,
            400,
            BAD_REQUEST,
        );
    }
    // and may not change or delete someone else's account
    assert_plain_error(
        &guest
            .try_update("users", &id_of(&user), &json!({"name": "x"}))
            .await,
        404,
        NOT_FOUND,
    );
    assert_plain_error(
        &guest.delete_record("users", &id_of(&user)).await.pair(),
        404,
        NOT_FOUND,
    );
    assert_eq!(app.view_ok("users", &id_of(&user), &[]).await["name"], "U1");
}

#[tokio::test]
async fn auth_emails_are_hidden_unless_visible() {
    let app = TestApp::spawn().await;
    app.update_collection("users", &json!({"listRule": "", "viewRule": ""}))
        .await;
    let hidden = app
        .create_record(
            "users",
            &json!({"email": "hidden@example.com", "password": "user-password-1", "passwordConfirm": "user-password-1"}),
        )
        .await;
    let shown = app
        .create_record(
            "users",
            &json!({"email": "shown@example.com", "emailVisibility": true, "password": "user-password-1", "passwordConfirm": "user-password-1"}),
        )
        .await;
    let guest = app.guest();
    let got = guest.view_ok("users", &id_of(&hidden), &[]).await;
    assert!(got.get("email").is_none(), "emailVisibility false: {got}");
    let got = guest.view_ok("users", &id_of(&shown), &[]).await;
    assert_eq!(got["email"], "shown@example.com");
    let list = guest.list_ok("users", &[("sort", "@rowid")]).await;
    assert!(items(&list)[0].get("email").is_none(), "{list}");
    assert_eq!(items(&list)[1]["email"], "shown@example.com");
    assert!(!list.to_string().contains("hidden@example.com"), "{list}");
    // guests cannot find the hidden address through a filter either
    let list = guest
        .list_ok("users", &[("filter", "email = \"hidden@example.com\"")])
        .await;
    assert_eq!(list["totalItems"], 0, "{list}");
    // superusers see both
    let list = app.list_ok("users", &[("sort", "@rowid")]).await;
    assert_eq!(
        pluck(&list, "email"),
        [json!("hidden@example.com"), json!("shown@example.com")]
    );
}
