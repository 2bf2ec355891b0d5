//! `POST /api/batch`: creates, upserts, updates and deletes in one transaction, rules per
//! inner request, the batch settings, bad payloads and inner URLs, multipart with
//! `@jsonPayload`, and realtime events only for a committed batch. Expected values were
//! measured on PocketBase 0.40.6.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::realtime::{Sse, subscribe};

const INVALID: &str = "Invalid batch request data.";
const READ_ERROR: &str = "Failed to read the submitted batch data.";

pub(crate) async fn enable(app: &TestApp, batch: Value) {
    let mut settings = json!({"enabled": true});
    for (key, value) in batch.as_object().expect("object") {
        settings[key] = value.clone();
    }
    let (status, body) = app
        .patch_json("/api/settings", &json!({"batch": settings}))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A public `posts` collection (every rule empty) with a required title.
async fn posts(app: &TestApp) {
    app.create_collection(&json!({
        "name": "posts",
        "listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": "",
        "fields": [
            {"name": "title", "type": "text", "required": true},
            {"name": "n", "type": "number"},
        ],
    }))
    .await;
}

async fn send(client: &Client, requests: Value) -> (u16, Value) {
    client
        .post_json("/api/batch", &json!({"requests": requests}))
        .await
}

fn titles(app: &TestApp) -> Vec<String> {
    let db = app.db();
    db.column(
        &format!("SELECT title FROM posts ORDER BY {}", db.rowid_column()),
        &[],
    )
}

/// The 400 of a batch whose request `index` failed with `response`.
fn failed_at(index: usize, response: Value) -> Value {
    json!({"status": 400, "message": "Batch transaction failed.", "data": {"requests": {
        index.to_string(): {"code": "batch_request_failed", "message": "Batch request failed.",
            "response": response}}}})
}

fn plain(status: u16, message: &str) -> Value {
    json!({"status": status, "message": message, "data": {}})
}

#[tokio::test]
async fn every_method_runs_in_order_and_answers_per_request() {
    let app = TestApp::spawn().await;
    posts(&app).await;
    enable(&app, json!({})).await;
    let gone = id_of(&app.create_record("posts", &json!({"title": "gone"})).await);
    let (status, body) = send(
        &app,
        json!([
            {"method": "POST", "url": "/api/collections/posts/records?fields=id,title", "body": {"title": "a"}},
            {"method": "PUT", "url": "/api/collections/posts/records", "body": {"id": "upsert000000001", "title": "u"}},
            {"method": "PUT", "url": "/api/collections/posts/records", "body": {"id": "upsert000000001", "title": "u2"}},
            {"method": "PATCH", "url": "/api/collections/posts/records/upsert000000001?fields=n,title", "body": {"n": 5}},
            {"method": "DELETE", "url": format!("/api/collections/posts/records/{gone}")},
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let results = body.as_array().expect("an array");
    assert_eq!(results.len(), 5);
    assert_eq!(results[0]["status"], 200);
    assert_eq!(sorted_keys(&results[0]["body"]), ["id", "title"]);
    assert_eq!(results[0]["body"]["title"], "a");
    // The upsert created the record, then (seeing it in the same transaction) updated it.
    for (i, title) in [(1, "u"), (2, "u2")] {
        assert_eq!(
            results[i],
            json!({"status": 200, "body": {"collectionId": collection_id("base", "posts"),
                "collectionName": "posts", "id": "upsert000000001", "n": 0, "title": title}})
        );
    }
    assert_eq!(
        results[3],
        json!({"status": 200, "body": {"n": 5, "title": "u2"}})
    );
    assert_eq!(results[4], json!({"status": 204, "body": null}));
    assert_eq!(titles(&app), ["a", "u2"]);
}

#[tokio::test]
async fn a_failing_request_rolls_back_every_earlier_one() {
    let app = TestApp::spawn().await;
    posts(&app).await;
    enable(&app, json!({})).await;
    let kept = id_of(&app.create_record("posts", &json!({"title": "kept"})).await);
    let create = |title: &str| json!({"method": "POST", "url": "/api/collections/posts/records", "body": {"title": title}});
    let (status, body) = send(
        &app,
        json!([
            create("r1"),
            {"method": "PATCH", "url": format!("/api/collections/posts/records/{kept}"), "body": {"title": "changed"}},
            create(""),
            create("never"),
        ]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        failed_at(
            2,
            json!({"status": 400, "message": "Failed to create record.", "data": {
                "title": {"code": "validation_required", "message": "Cannot be blank."}}})
        )
    );
    assert_eq!(titles(&app), ["kept"], "nothing of the batch was written");

    // Failures of other kinds are reported the same way, with their own status inside.
    let missing = "/api/collections/posts/records/nope";
    for (request, response) in [
        (
            json!({"method": "PATCH", "url": missing, "body": {}}),
            plain(404, NOT_FOUND),
        ),
        (
            json!({"method": "DELETE", "url": missing}),
            plain(404, NOT_FOUND),
        ),
        (
            json!({"method": "POST", "url": "/api/collections/nope/records"}),
            plain(404, "Missing collection context."),
        ),
    ] {
        let (status, body) = send(&app, json!([create("x"), request])).await;
        assert_eq!((status, body), (400, failed_at(1, response)));
    }
    assert_eq!(titles(&app), ["kept"]);
}

#[tokio::test]
async fn each_request_runs_under_its_rules_for_the_batch_requester() {
    let app = TestApp::spawn().await;
    enable(&app, json!({})).await;
    app.update_collection("users", &json!({"createRule": ""}))
        .await;
    let user = |email: &str| {
        let email = email.to_owned();
        let app = &app;
        async move {
            let created = app
                .create_record(
                    "users",
                    &json!({"email": email, "password": "user-password-1", "passwordConfirm": "user-password-1"}),
                )
                .await;
            let (_, login) = app
                .guest()
                .auth_with_password("users", &email, "user-password-1")
                .await;
            (
                id_of(&created),
                app.with_token(login["token"].as_str().expect("token")),
            )
        }
    };
    let (ann_id, ann) = user("ann@example.com").await;
    let (bob_id, _) = user("bob@example.com").await;
    app.create_collection(&json!({
        "name": "notes",
        "listRule": "", "viewRule": "",
        "createRule": "@request.auth.id != \"\" && owner = @request.auth.id && @request.context = \"batch\"",
        "updateRule": "owner = @request.auth.id",
        "deleteRule": null,
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "owner", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
        ],
    }))
    .await;
    let bobs = id_of(
        &app.create_record("notes", &json!({"title": "bob's", "owner": bob_id}))
            .await,
    );
    let own = json!({"method": "POST", "url": "/api/collections/notes/records", "body": {"title": "mine", "owner": ann_id}});

    // The create rule asks for the batch context: the same create alone is refused.
    let (status, _) = ann
        .post_json(
            "/api/collections/notes/records",
            &json!({"title": "mine", "owner": ann_id}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = send(&ann, json!([own])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["body"]["owner"], ann_id.as_str());

    // Someone else's record is invisible to the update rule; deletes are superusers' only;
    // a guest fails the create rule.
    let (status, body) = send(
        &ann,
        json!([own, {"method": "PATCH", "url": format!("/api/collections/notes/records/{bobs}"), "body": {"title": "x"}}]),
    )
    .await;
    assert_eq!((status, body), (400, failed_at(1, plain(404, NOT_FOUND))));
    let (status, body) = send(
        &ann,
        json!([{"method": "DELETE", "url": format!("/api/collections/notes/records/{bobs}")}]),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, failed_at(0, plain(403, SUPERUSERS_ONLY)))
    );
    let (status, body) = send(&app.guest(), json!([own])).await;
    assert_eq!(
        (status, body),
        (400, failed_at(0, plain(400, "Failed to create record.")))
    );
    // An Authorization header of an inner request does not change who asks.
    let (status, _) = send(
        &app.guest(),
        json!([{"method": "POST", "url": "/api/collections/notes/records",
            "headers": {"Authorization": ann.token.clone().expect("token")},
            "body": {"title": "x", "owner": ann_id}}]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(app.count("notes").await, 2);

    // Inner headers are merged over the batch request's; methods are the inner ones.
    app.create_collection(&json!({
        "name": "hdr",
        "listRule": "", "viewRule": "",
        "createRule": "@request.headers.x_token = \"abc\" && @request.method = \"POST\"",
        "updateRule": "@request.method = \"PATCH\" && @request.query.q = \"1\"",
        "fields": [{"name": "title", "type": "text"}],
    }))
    .await;
    let guest = app.guest();
    let (status, body) = send(
        &guest,
        json!([
            {"method": "POST", "url": "/api/collections/hdr/records", "headers": {"X-Token": "abc"}, "body": {"id": "hdr000000000001"}},
            {"method": "PUT", "url": "/api/collections/hdr/records?q=1", "body": {"id": "hdr000000000001", "title": "upserted"}},
            {"method": "PUT", "url": "/api/collections/hdr/records", "headers": {"x-token": "abc"}, "body": {"id": "hdr000000000002"}},
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[1]["body"]["title"], "upserted");
    let outer = guest.send(
        guest
            .request(Method::POST, "/api/batch")
            .header("X-Token", "abc")
            .json(&json!({"requests": [{"method": "POST", "url": "/api/collections/hdr/records", "body": {}}]})),
    );
    assert_eq!(outer.await.status, 200);
    let (status, _) = send(
        &guest,
        json!([{"method": "POST", "url": "/api/collections/hdr/records", "body": {}}]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(app.count("hdr").await, 3);
}

#[tokio::test]
async fn the_batch_settings_are_enforced() {
    let app = TestApp::spawn().await;
    posts(&app).await;
    let one = json!([{"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "t"}}]);
    let resp = send(&app, one.clone()).await;
    assert_eq!(resp, (403, plain(403, "Batch requests are not allowed.")));

    enable(&app, json!({"maxRequests": 2, "maxBodySize": 300})).await;
    let three = json!([
        {"method": "p", "url": "/x"}, {"method": "POST", "url": "/x"}, {"method": "POST", "url": "/x"},
    ]);
    let (status, body) = send(&app, three).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"status": 400, "message": INVALID, "data": {"requests": {
            "code": "validation_length_too_long", "message": "The length must be no more than 2.",
            "params": {"max": 2, "min": 0}}}})
    );
    let big = json!([{"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "a".repeat(300)}}]);
    assert_eq!(
        send(&app, big).await,
        (413, plain(413, "Request entity too large."))
    );
    assert_eq!(send(&app, one).await.0, 200);
    assert_eq!(app.count("posts").await, 1);
}

#[tokio::test]
async fn bad_payloads_and_inner_urls_are_refused() {
    let app = TestApp::spawn().await;
    posts(&app).await;
    enable(&app, json!({})).await;
    let blank = json!({"status": 400, "message": INVALID, "data": {"requests": {
        "code": "validation_required", "message": "Cannot be blank."}}});
    for body in [
        json!({}),
        json!({"requests": []}),
        json!({"requests": null}),
    ] {
        assert_eq!(
            app.post_json("/api/batch", &body).await,
            (400, blank.clone()),
            "{body}"
        );
    }
    for body in [
        json!({"requests": "x"}),
        json!({"requests": [1]}),
        json!({"requests": [{"method": 5, "url": "/x"}]}),
        json!({"requests": [{"method": "POST", "url": "/x", "body": [1]}]}),
        json!({"requests": [{"method": "POST", "url": "/x", "headers": {"x": 1}}]}),
    ] {
        assert_eq!(
            app.post_json("/api/batch", &body).await,
            (400, plain(400, READ_ERROR)),
            "{body}"
        );
    }
    for (content_type, raw) in [
        ("application/json", "{not json"),
        ("text/plain", r#"{"requests":[]}"#),
        ("application/x-www-form-urlencoded", "requests=1"),
    ] {
        let resp = app
            .raw_body(Method::POST, "/api/batch", content_type, raw)
            .await;
        assert_eq!(
            (resp.status, resp.body),
            (400, plain(400, READ_ERROR)),
            "{content_type}"
        );
    }
    let (status, body) = send(
        &app,
        json!([{"method": "", "url": ""}, {"method": "post", "url": "/x"}]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["data"],
        json!({"requests": {
            "0": {"method": {"code": "validation_required", "message": "Cannot be blank."},
                  "url": {"code": "validation_required", "message": "Cannot be blank."}},
            "1": {"method": {"code": "validation_in_invalid", "message": "Must be a valid value."}}}})
    );
    for (method, url) in [
        ("GET", "/api/collections/posts/records"),
        ("POST", "/api/collections/posts/records/abc"),
        ("PUT", "/api/collections/posts/records/abc"),
        ("PATCH", "/api/collections/posts/records"),
        ("DELETE", "/api/collections/posts/records/"),
        ("POST", "/api/health"),
        ("POST", "/api/batch"),
        ("POST", "http://localhost/api/collections/posts/records"),
        ("POST", "/api/collections/posts/records/../records"),
    ] {
        let (status, body) = send(
            &app,
            json!([{"method": method, "url": url, "body": {"title": "t"}}]),
        )
        .await;
        assert_eq!(
            (status, body),
            (400, failed_at(0, plain(400, BAD_REQUEST))),
            "{method} {url}"
        );
    }
    assert_eq!(app.count("posts").await, 0);
}

#[tokio::test]
async fn multipart_batches_carry_the_requests_in_json_payload() {
    let app = TestApp::spawn().await;
    posts(&app).await;
    enable(&app, json!({})).await;
    let payload = json!({"requests": [
        {"method": "POST", "url": "/api/collections/posts/records?fields=title", "body": {"title": "mp"}},
    ]});
    let form = reqwest::multipart::Form::new()
        .text("@jsonPayload", payload.to_string())
        // A file for a field the collection does not have is ignored.
        .part(
            "requests.0.attachment",
            reqwest::multipart::Part::bytes(b"data".to_vec()).file_name("a.txt"),
        );
    let resp = app
        .send(app.request(Method::POST, "/api/batch").multipart(form))
        .await;
    assert_eq!(
        (resp.status, resp.body),
        (200, json!([{"status": 200, "body": {"title": "mp"}}]))
    );
    let form = reqwest::multipart::Form::new().text("requests", "x");
    let resp = app
        .send(app.request(Method::POST, "/api/batch").multipart(form))
        .await;
    assert_eq!((resp.status, resp.body), (400, plain(400, READ_ERROR)));
}

#[tokio::test]
async fn inner_requests_count_against_their_rate_limits() {
    let app = TestApp::spawn().await;
    posts(&app).await;
    enable(&app, json!({})).await;
    let (status, body) = app
        .patch_json(
            "/api/settings",
            &json!({"rateLimits": {"enabled": true, "rules": [
                {"label": "*:create", "audience": "", "duration": 60, "maxRequests": 2},
                {"label": "/api/batch", "audience": "", "duration": 60, "maxRequests": 30},
            ]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let create =
        json!({"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "t"}});
    let guest = app.guest();
    let (status, body) = send(&guest, json!([create, create, create])).await;
    assert_eq!(
        (status, body),
        (400, failed_at(2, plain(429, "Too Many Requests.")))
    );
    assert_eq!(app.count("posts").await, 0);
    // Superusers are never limited.
    assert_eq!(send(&app, json!([create, create, create])).await.0, 200);
}

#[tokio::test]
async fn realtime_reports_a_batch_only_when_it_commits() {
    let app = TestApp::spawn().await;
    posts(&app).await;
    enable(&app, json!({})).await;
    let existing = id_of(&app.create_record("posts", &json!({"title": "old"})).await);
    let doomed = id_of(
        &app.create_record("posts", &json!({"title": "doomed"}))
            .await,
    );
    let mut sse = Sse::open(&app).await;
    let (status, _) = subscribe(&app.guest(), &sse.client_id, &["posts"]).await;
    assert_eq!(status, 204);

    let create = |title: &str| json!({"method": "POST", "url": "/api/collections/posts/records", "body": {"title": title}});
    let (status, _) = send(
        &app,
        json!([create("rolled back"), {"method": "DELETE", "url": format!("/api/collections/posts/records/{existing}")}, create("")]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        sse.next_event(Duration::from_millis(500)).await.is_none(),
        "a rolled-back batch sends nothing"
    );

    let (status, body) = send(
        &app,
        json!([
            create("new"),
            {"method": "PATCH", "url": format!("/api/collections/posts/records/{existing}"), "body": {"title": "edited"}},
            {"method": "DELETE", "url": format!("/api/collections/posts/records/{doomed}")},
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = sse
            .next_event(Duration::from_secs(10))
            .await
            .expect("an event per change");
        assert_eq!(event.event, "posts");
        let data: Value = serde_json::from_str(&event.data).expect("JSON");
        seen.push((
            data["action"].as_str().expect("action").to_owned(),
            data["record"]["title"].as_str().expect("title").to_owned(),
        ));
    }
    assert_eq!(
        seen,
        [
            ("create".to_owned(), "new".to_owned()),
            ("update".to_owned(), "edited".to_owned()),
            ("delete".to_owned(), "doomed".to_owned()),
        ]
    );
    assert!(sse.next_event(Duration::from_millis(300)).await.is_none());
}

/// A batch that runs past `settings.batch.timeout` fails whole and writes nothing. Each
/// user here costs a password hash (argon2, tens of milliseconds even in release builds),
/// so 150 of them cannot fit in one second.
#[tokio::test]
async fn a_batch_past_its_timeout_writes_nothing() {
    let app = TestApp::spawn().await;
    app.update_collection("users", &json!({"createRule": ""}))
        .await;
    enable(&app, json!({"maxRequests": 200, "timeout": 1})).await;
    let requests: Vec<Value> = (0..150)
        .map(|n| {
            json!({"method": "POST", "url": "/api/collections/users/records", "body": {
                "email": format!("u{n}@example.com"), "password": "a-long-password-1",
                "passwordConfirm": "a-long-password-1"}})
        })
        .collect();
    let started = std::time::Instant::now();
    let (status, body) = send(&app.guest(), json!(requests)).await;
    assert_eq!(
        (status, body),
        (400, plain(400, "Batch transaction failed."))
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "gave up near the deadline, not after all the work"
    );
    assert_eq!(app.count("users").await, 0);
}
