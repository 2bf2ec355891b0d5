//! Hostile and malformed input: broken JSON, wrong types, huge bodies, unsupported content
//! types, and SQL-injection payloads in every place a client can put text. Each must be a
//! 4xx (or ignored where PocketBase ignores it), never a 500 (the client helper asserts
//! that on every response), and the data must be unchanged afterwards.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

/// `posts` (3 records) and `authors` (2 records), both public to read.
async fn fixture() -> (TestApp, Vec<String>) {
    let app = TestApp::spawn().await;
    let authors = app
        .create_collection(&json!({
            "name": "authors", "listRule": "", "viewRule": "",
            "fields": [{"name": "name", "type": "text"}],
        }))
        .await;
    app.create_collection(&json!({
        "name": "posts", "listRule": "", "viewRule": "", "createRule": "", "updateRule": "",
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "views", "type": "number"},
            {"name": "author", "type": "relation", "collectionId": authors["id"], "maxSelect": 1},
        ],
    }))
    .await;
    let ann = app.create_record("authors", &json!({"name": "Ann"})).await;
    app.create_record("authors", &json!({"name": "Bob"})).await;
    let mut ids = Vec::new();
    for (title, views) in [("alpha", 1), ("beta", 2), ("gamma", 3)] {
        ids.push(id_of(
            &app.create_record(
                "posts",
                &json!({"title": title, "views": views, "author": ann["id"]}),
            )
            .await,
        ));
    }
    (app, ids)
}

/// The fixture is exactly as created: tables, schema and rows.
async fn assert_intact(app: &TestApp) {
    let list = app.list_ok("posts", &[("sort", "@rowid")]).await;
    assert_eq!(
        pluck(&list, "title"),
        [json!("alpha"), json!("beta"), json!("gamma")]
    );
    assert_eq!(pluck(&list, "views"), [json!(1), json!(2), json!(3)]);
    assert_eq!(app.count("authors").await, 2);
    let col = app.collection_ok("posts").await;
    assert_eq!(field_names(&col), ["id", "title", "views", "author"]);
    assert_eq!(app.list_ok("_superusers", &[]).await["totalItems"], 1);
    let db = app.db();
    for table in [
        "posts",
        "authors",
        "_superusers",
        "_collections",
        "_params",
        "users",
    ] {
        assert!(table_exists(&db, table), "table {table} still exists");
    }
    assert_eq!(row_count(&db, "posts"), 3);
    assert_eq!(row_count(&db, "authors"), 2);
    assert_eq!(row_count(&db, "_superusers"), 1);
    assert_eq!(
        column_names(&db, "posts"),
        ["id", "title", "views", "author"]
    );
    let tables = ["evil", "x", "pwned"]
        .iter()
        .filter(|name| table_exists(&db, name))
        .count();
    assert_eq!(tables, 0, "no table was created by a payload");
}

#[tokio::test]
async fn malformed_json_bodies() {
    let (app, ids) = fixture().await;
    for body in [
        "{\"title\":",
        "[1,2]",
        "{bad",
        "\"just a string\"",
        "12",
        "{\"title\":\"a\"} trailing",
        "{\"title\":\"\\ud800\"x}",
    ] {
        for resp in [
            app.raw_body(
                Method::POST,
                "/api/collections/posts/records",
                "application/json",
                body,
            )
            .await,
            app.raw_body(
                Method::PATCH,
                &format!("/api/collections/posts/records/{}", ids[0]),
                "application/json",
                body,
            )
            .await,
        ] {
            assert_eq!(resp.status, 400, "{body:?}: {}", resp.text);
            assert_eq!(resp.body, plain_error(400, BAD_REQUEST), "{body:?}");
        }
    }
    // invalid UTF-8
    let resp = app
        .raw_body(
            Method::POST,
            "/api/collections/posts/records",
            "application/json",
            b"{\"title\":\"\xff\xfe\"}".to_vec(),
        )
        .await;
    // (Go's decoder substitutes U+FFFD, serde rejects: either is fine, a 500 is not)
    match resp.status {
        400 => assert_eq!(resp.body, plain_error(400, BAD_REQUEST)),
        200 => assert_eq!(
            app.delete_record("posts", &id_of(&resp.body)).await.status,
            204
        ),
        other => panic!("invalid UTF-8: {other} {}", resp.text),
    }
    // deeply nested JSON
    let deep = format!(
        "{{\"title\":{}1{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let resp = app
        .raw_body(
            Method::POST,
            "/api/collections/posts/records",
            "application/json",
            deep,
        )
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_intact(&app).await;
}

#[tokio::test]
async fn duplicate_keys_and_out_of_range_numbers_are_rejected() {
    let (app, _) = fixture().await;
    for body in [
        "{\"title\":\"a\",\"title\":\"b\"}",
        "{\"views\":1e400}",
        "{\"views\":-1e400}",
    ] {
        let resp = app
            .raw_body(
                Method::POST,
                "/api/collections/posts/records",
                "application/json",
                body,
            )
            .await;
        assert_eq!(
            resp.body,
            plain_error(400, BAD_REQUEST),
            "{body}: {}",
            resp.text
        );
    }
    assert_intact(&app).await;
}

#[tokio::test]
async fn wrong_types_in_collection_and_auth_bodies() {
    let (app, _) = fixture().await;
    for body in [
        json!({"name": 5}),
        json!({"name": "typed", "fields": "x"}),
        json!({"name": "typed", "fields": [1, 2]}),
        json!({"name": "typed", "indexes": "CREATE INDEX"}),
        json!({"name": "typed", "listRule": 5}),
        json!({"name": ["a"]}),
    ] {
        let resp = app.try_create_collection(&body).await;
        assert_eq!(resp.0, 400, "{body}: {}", resp.1);
        assert_eq!(resp.1["status"], 400);
    }
    assert_eq!(app.collection("typed").await.0, 404);
    for body in [
        json!({"identity": 5, "password": true}),
        json!({"identity": ["a"], "password": {}}),
    ] {
        let resp = app
            .guest()
            .post_json("/api/collections/_superusers/auth-with-password", &body)
            .await;
        assert_eq!(resp.0, 400, "{body}: {}", resp.1);
    }
    assert_intact(&app).await;
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let (app, ids) = fixture().await;
    let huge = format!("{{\"title\":\"{}\"}}", "x".repeat(33 << 20));
    let want = plain_error(413, "Request entity too large.");
    let resp = app
        .raw_body(
            Method::POST,
            "/api/collections/posts/records",
            "application/json",
            huge.clone(),
        )
        .await;
    assert_eq!((resp.status, &resp.body), (413, &want), "create");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    // the unread rest of the body makes the connection unusable: clients must not reuse it
    assert_eq!(resp.header("connection"), Some("close"));
    let resp = app
        .raw_body(
            Method::PATCH,
            &format!("/api/collections/posts/records/{}", ids[0]),
            "application/json",
            huge.clone(),
        )
        .await;
    assert_eq!((resp.status, &resp.body), (413, &want), "update");
    let resp = app
        .raw_body(Method::PATCH, "/api/settings", "application/json", huge)
        .await;
    assert_eq!((resp.status, &resp.body), (413, &want), "settings");
    // multipart counts too
    let form = reqwest::multipart::Form::new().text("title", "x".repeat(33 << 20));
    let resp = app
        .send(
            app.request(Method::POST, "/api/collections/posts/records")
                .multipart(form),
        )
        .await;
    assert_eq!((resp.status, &resp.body), (413, &want), "multipart");
    // just under the limit is read (and then validated as usual)
    let padded = format!("{{\"title\":\"ok\"{}}}", " ".repeat((32 << 20) - 64));
    let resp = app
        .raw_body(
            Method::POST,
            "/api/collections/posts/records",
            "application/json",
            padded,
        )
        .await;
    assert_eq!(
        resp.status,
        200,
        "{}",
        &resp.text[..resp.text.len().min(300)]
    );
    assert_eq!(app.count("posts").await, 4);
}

#[tokio::test]
async fn unsupported_content_types() {
    let (app, ids) = fixture().await;
    for ct in ["text/plain", "application/xml", "image/png"] {
        let resp = app
            .raw_body(
                Method::POST,
                "/api/collections/posts/records",
                ct,
                "{\"title\":\"x\"}",
            )
            .await;
        assert_eq!(
            resp.body,
            plain_error(400, "Unsupported Content-Type."),
            "{ct}"
        );
        let resp = app
            .raw_body(
                Method::PATCH,
                &format!("/api/collections/posts/records/{}", ids[0]),
                ct,
                "{\"title\":\"x\"}",
            )
            .await;
        assert_eq!(
            resp.body,
            plain_error(400, "Unsupported Content-Type."),
            "{ct}"
        );
    }
    // a broken multipart body
    let resp = app
        .raw_body(
            Method::POST,
            "/api/collections/posts/records",
            "multipart/form-data; boundary=XYZ",
            "--XYZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nunterminated",
        )
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_intact(&app).await;
}

#[tokio::test]
async fn injection_in_filters_is_rejected_or_inert() {
    let (app, _) = fixture().await;
    let guest = app.guest();
    let rejected = [
        "title = \"x\" ; DROP TABLE posts",
        "title = \"x\" OR 1=1",
        "title = \"x\") OR (1=1",
        "title = 'x'' OR ''1''=''1'",
        "1=1) UNION SELECT * FROM _superusers --",
        "title = \"a\" /* x */",
        "views = (SELECT count(*) FROM posts)",
        "title = \"x\"; DELETE FROM posts; --",
        "id = \"x\" UNION ALL SELECT id, email, password, 1 FROM _superusers",
        "title = 1; ATTACH DATABASE 'x.db' AS x",
        "title = \"a\" -- comment",
        "title` = 1",
        "[title] = 1",
        "posts.title = 1",
        "sqlite_master.name != \"\"",
    ];
    for filter in rejected {
        for client in [&*app, &guest] {
            let resp = client.list("posts", &[("filter", filter)]).await;
            assert_plain_error(&resp, 400, BAD_REQUEST);
        }
    }
    let inert = [
        "title = \"x\\\" OR 1=1 --\"",
        "id = \"1' OR '1'='1\"",
        "title ~ \"%' OR 1=1 --\"",
        "title = \"'; DROP TABLE posts; --\"",
        "title = \"\\\"; DROP TABLE posts; --\"",
        "title ~ \"\\\\\"",
    ];
    for filter in inert {
        let list = app.list_ok("posts", &[("filter", filter)]).await;
        assert_eq!(list["totalItems"], 0, "{filter}");
    }
    // a NUL byte inside a string: no match, or refused by the lexer
    let resp = app.list("posts", &[("filter", "title = \"\u{0}\"")]).await;
    match resp.0 {
        200 => assert_eq!(resp.1["totalItems"], 0),
        400 => assert_eq!(resp.1, plain_error(400, BAD_REQUEST)),
        other => panic!("{other} {}", resp.1),
    }
    assert_intact(&app).await;
}

#[tokio::test]
async fn injection_in_sort_expand_and_fields() {
    let (app, ids) = fixture().await;
    for sort in [
        "title; DROP TABLE posts",
        "title) --",
        "(SELECT 1)",
        "title desc",
        "views,;",
        "title COLLATE NOCASE",
        "1",
        "CASE WHEN 1 THEN title END",
        "\"title\"",
        "title'",
    ] {
        assert_plain_error(
            &app.list("posts", &[("sort", sort)]).await,
            400,
            BAD_REQUEST,
        );
    }
    // expand and fields: unknown names are ignored
    let r = app
        .view_ok(
            "posts",
            &ids[0],
            &[
                ("expand", "author; DROP TABLE posts"),
                ("fields", "id,title; DROP"),
            ],
        )
        .await;
    assert_eq!(r["id"], ids[0].as_str());
    for expand in [
        "author) UNION SELECT * FROM _superusers --",
        "'",
        "author.author.author.author.author.author.author.author",
        "\"author\"",
    ] {
        let (status, body) = app.view("posts", &ids[0], &[("expand", expand)]).await;
        assert!(status == 200 || status == 400, "{expand}: {status} {body}");
    }
    for fields in [
        "*,(SELECT password FROM _superusers)",
        "id:excerpt(1; DROP TABLE posts)",
        "id:excerpt(99999999999999999999)",
        "'",
        ",,,",
    ] {
        let (status, body) = app.view("posts", &ids[0], &[("fields", fields)]).await;
        assert!(status == 200 || status == 400, "{fields}: {status} {body}");
        assert!(!body.to_string().contains("$argon2"), "{body}");
    }
    assert_intact(&app).await;
}

#[tokio::test]
async fn injection_in_record_ids_and_collection_paths() {
    let (app, ids) = fixture().await;
    for id in [
        "' OR '1'='1",
        "x; DROP TABLE posts",
        "%27",
        "a\"b",
        "*",
        "../../_superusers",
        "1 OR 1=1",
    ] {
        assert_plain_error(&app.view("posts", id, &[]).await, 404, NOT_FOUND);
        assert_plain_error(
            &app.try_update("posts", id, &json!({"title": "pwned"}))
                .await,
            404,
            NOT_FOUND,
        );
        assert_plain_error(&app.delete_record("posts", id).await.pair(), 404, NOT_FOUND);
    }
    for collection in [
        "posts; DROP TABLE posts",
        "posts\" --",
        "' OR 1=1 --",
        "_superusers\"--",
        "sqlite_master",
    ] {
        assert_plain_error(
            &app.list(collection, &[]).await,
            404,
            "Missing collection context.",
        );
        assert_plain_error(
            &app.view(collection, &ids[0], &[]).await,
            404,
            "Missing collection context.",
        );
        assert_plain_error(
            &app.delete_record(collection, &ids[0]).await.pair(),
            404,
            "Missing collection context.",
        );
        assert_plain_error(&app.collection(collection).await, 404, NOT_FOUND);
        assert_plain_error(&app.truncate(collection).await.pair(), 404, NOT_FOUND);
        assert_plain_error(
            &app.delete_collection(collection).await.pair(),
            404,
            NOT_FOUND,
        );
    }
    // a custom id that looks like SQL
    let resp = app
        .try_create(
            "posts",
            &json!({"id": "x'); DROP TABLE posts; --", "title": "pwned"}),
        )
        .await;
    let data = assert_error(&resp, 400, "Failed to create record.");
    assert!(data["id"].is_object(), "{data}");
    assert_intact(&app).await;
}

#[tokio::test]
async fn injection_in_schema_definitions() {
    let (app, _) = fixture().await;
    let bad_collections = [
        json!({"name": "x; DROP TABLE posts", "fields": []}),
        json!({"name": "x\"; DROP TABLE posts; --", "fields": []}),
        json!({"name": "pwned", "fields": [{"name": "a\" TEXT); DROP TABLE posts; --", "type": "text"}]}),
        json!({"name": "pwned", "fields": [{"name": "a", "type": "text"}], "indexes": ["CREATE INDEX i1 ON pwned (a); DROP TABLE posts"]}),
        json!({"name": "pwned", "fields": [{"name": "a", "type": "text"}], "indexes": ["DROP TABLE posts"]}),
        json!({"name": "pwned", "fields": [{"name": "a", "type": "text"}], "indexes": ["CREATE INDEX i1 ON posts (title) WHERE 1; DROP TABLE posts"]}),
        json!({"name": "pwned", "fields": [{"name": "a", "type": "text"}], "listRule": "1=1; DROP TABLE posts"}),
        json!({"name": "pwned", "fields": [{"name": "a", "type": "text"}], "listRule": "a = \"\" ) OR (1=1"}),
        json!({"name": "pwned", "fields": [{"name": "a", "type": "text"}], "viewRule": "a = (SELECT password FROM _superusers)"}),
        json!({"name": "pwned", "type": "view", "viewQuery": "SELECT id FROM posts; DROP TABLE posts"}),
        json!({"name": "pwned", "type": "view", "viewQuery": "SELECT id FROM posts UNION SELECT id FROM posts; DELETE FROM authors"}),
        json!({"name": "pwned", "fields": [{"name": "s", "type": "select", "values": ["a'); DROP TABLE posts; --"]}], "indexes": ["CREATE INDEX `i2` ON `pwned` (`s`); DROP TABLE authors"]}),
    ];
    for body in &bad_collections {
        let resp = app.try_create_collection(body).await;
        assert_eq!(resp.0, 400, "{body}: {}", resp.1);
        assert_eq!(resp.1["status"], 400, "{body}");
        assert_eq!(app.collection("pwned").await.0, 404, "{body}");
    }
    // the same payloads on update of an existing collection
    let updates = [
        json!({"name": "posts; DROP TABLE authors"}),
        json!({"indexes": ["CREATE INDEX i3 ON posts (title); DROP TABLE authors"]}),
        json!({"listRule": "title = \"\"; DROP TABLE authors"}),
        json!({"fields": [{"name": "title\"; DROP TABLE authors; --", "type": "text"}]}),
    ];
    for body in &updates {
        let resp = app.try_update_collection("posts", body).await;
        assert_eq!(resp.0, 400, "{body}: {}", resp.1);
    }
    // values are data, never SQL: a select value with quotes round-trips
    app.create_collection(&json!({"name": "quoted", "fields": [{"name": "s", "type": "select", "values": ["a'); DROP TABLE posts; --"]}]}))
        .await;
    let r = app
        .create_record("quoted", &json!({"s": "a'); DROP TABLE posts; --"}))
        .await;
    assert_eq!(r["s"], "a'); DROP TABLE posts; --");
    assert_intact(&app).await;
}

#[tokio::test]
async fn injection_in_record_values_is_stored_verbatim() {
    let (app, _) = fixture().await;
    let payloads = [
        "'; DROP TABLE posts; --",
        "\"); DELETE FROM authors; --",
        "Robert'); DROP TABLE Students;--",
        "%_\\",
    ];
    for p in payloads {
        let r = app.create_record("posts", &json!({"title": p})).await;
        assert_eq!(r["title"], p);
        assert_eq!(app.view_ok("posts", &id_of(&r), &[]).await["title"], p);
        let filter = format!(
            "title = \"{}\"",
            p.replace('\\', "\\\\").replace('"', "\\\"")
        );
        assert_eq!(
            app.ids_where("posts", &filter).await,
            [id_of(&r)],
            "{filter}"
        );
        assert_eq!(app.delete_record("posts", &id_of(&r)).await.status, 204);
    }
    let nul = json!({"title": "nul\u{0}byte"});
    match app.backend() {
        Backend::Sqlite => {
            let r = app.create_record("posts", &nul).await;
            assert_eq!(
                app.view_ok("posts", &id_of(&r), &[]).await["title"],
                "nul\u{0}byte"
            );
            assert_eq!(app.delete_record("posts", &id_of(&r)).await.status, 204);
        }
        // PostgreSQL text cannot hold NUL: the value is refused, as bad input.
        Backend::Postgres => {
            assert_plain_error(&app.try_create("posts", &nul).await, 400, BAD_REQUEST);
        }
    }
    assert_intact(&app).await;
}

#[tokio::test]
async fn hostile_query_strings_and_paths() {
    let (app, _) = fixture().await;
    for q in [
        "page=%00",
        "perPage=99999999999999999999999",
        "page=-99999999999999999999",
        "filter=%ff%fe",
        "sort=%00",
    ] {
        let resp = app
            .raw(Method::GET, &format!("/api/collections/posts/records?{q}"))
            .await;
        assert!(
            resp.status == 200 || resp.status == 400,
            "{q}: {} {}",
            resp.status,
            resp.text
        );
    }
    let long_path = format!("/api/collections/posts/records/{}", "a".repeat(20_000));
    for path in [
        "/api/collections/..%2F..%2Fetc%2Fpasswd/records",
        "/api/collections/%00/records",
        "/api/../../etc/passwd",
        &long_path,
    ] {
        let resp = app.raw(Method::GET, path).await;
        assert_eq!(resp.status, 404, "{path}: {}", resp.text);
        assert!(!resp.text.contains("root:"), "{path}");
    }
    assert_intact(&app).await;
}

/// Found by the `filter_to_sql` fuzz target: data the JSON functions cannot read, and
/// filters needing more joins than SQLite allows, are 4xx or simply non-matching, never 500.
#[tokio::test]
async fn json_paths_over_plain_text_and_huge_join_counts_are_not_500() {
    let app = TestApp::spawn().await;
    app.create_collection(
        &json!({"name": "people", "listRule": "", "fields": [{"name": "name", "type": "text"}]}),
    )
    .await;
    app.create_record("people", &json!({"name": "Ann"})).await;
    app.create_collection(&json!({
        "name": "shouts", "type": "view", "listRule": "",
        "viewQuery": "SELECT id, name || '!' AS shout FROM people"
    }))
    .await;
    let list = app
        .guest()
        .list_ok("shouts", &[("filter", "shout.k = ''")])
        .await;
    assert_eq!(
        list["totalItems"], 1,
        "plain text has no inside: the path is empty"
    );

    let filter = (0..64)
        .map(|i| format!("@collection.people:a{i}.id ?= id"))
        .collect::<Vec<_>>()
        .join(" && ");
    let resp = app.list("people", &[("filter", filter.as_str())]).await;
    assert_eq!(resp, (400, plain_error(400, BAD_REQUEST)));

    let resp = app
        .try_create_collection(&json!({"name": "json_each", "fields": []}))
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(data["name"]["code"], "validation_collection_name_invalid");
}

/// A `~` between two fields uses stored data as the LIKE pattern; one over SQLite's pattern
/// limit is the client's problem (400), as PocketBase answers it. PostgreSQL has no such
/// limit: there the filter is simply answered, and quickly.
#[tokio::test]
async fn huge_like_patterns_from_data_are_400() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "notes", "listRule": "", "fields": [
        {"name": "a", "type": "editor"}, {"name": "b", "type": "editor"}
    ]}))
    .await;
    let huge = "y".repeat(60_000);
    app.create_record("notes", &json!({"a": "x", "b": huge}))
        .await;
    let contains_b = app
        .create_record("notes", &json!({"a": format!("<{huge}>"), "b": huge}))
        .await;
    let started = std::time::Instant::now();
    let resp = app.guest().list("notes", &[("filter", "a ~ b")]).await;
    match app.backend() {
        Backend::Sqlite => assert_eq!(resp, (400, plain_error(400, BAD_REQUEST))),
        Backend::Postgres => {
            assert_eq!(resp.0, 200, "{}", resp.1);
            assert_eq!(item_ids(&resp.1), [id_of(&contains_b)]);
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
        }
    }
}
