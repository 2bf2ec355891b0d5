//! The collections API: create (every field type), view, list, update (fields, options,
//! rename), indexes, validation, delete, truncate, import, system collections, scaffolds —
//! and what each does to the real SQLite schema.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn id_field() -> Value {
    json!({
        "autogeneratePattern": "[a-z0-9]{15}", "help": "", "hidden": false, "id": "text3208210256",
        "max": 15, "min": 15, "name": "id", "pattern": "^[a-z0-9]+$", "presentable": false,
        "primaryKey": true, "required": true, "system": true, "type": "text",
    })
}

async fn target(app: &TestApp) -> Value {
    app.create_collection(&json!({
        "name": "target", "type": "base", "listRule": "", "viewRule": "",
        "fields": [{"name": "name", "type": "text"}],
    }))
    .await
}

async fn everything(app: &TestApp, target: &Value) -> Value {
    app.create_collection(&json!({
        "name": "everything",
        "type": "base",
        "listRule": "",
        "viewRule": "",
        "createRule": "@request.auth.id != \"\"",
        "updateRule": null,
        "fields": [
            {"name": "title", "type": "text", "required": true, "min": 2, "max": 20, "pattern": "^[a-zA-Z0-9 ]+$", "presentable": true},
            {"name": "body", "type": "editor", "convertURLs": true},
            {"name": "views", "type": "number", "min": 0, "max": 1000, "onlyInt": true},
            {"name": "score", "type": "number"},
            {"name": "published", "type": "bool"},
            {"name": "contact", "type": "email", "onlyDomains": ["example.com"]},
            {"name": "site", "type": "url", "exceptDomains": ["bad.test"]},
            {"name": "when", "type": "date", "min": "2020-01-01 00:00:00.000Z"},
            {"name": "created", "type": "autodate", "onCreate": true},
            {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true},
            {"name": "status", "type": "select", "values": ["draft", "live"], "maxSelect": 1},
            {"name": "tags", "type": "select", "values": ["a", "b", "c"], "maxSelect": 2},
            {"name": "doc", "type": "file", "maxSelect": 1, "maxSize": 1000, "mimeTypes": ["text/plain"]},
            {"name": "images", "type": "file", "maxSelect": 3, "thumbs": ["100x100"], "protected": true},
            {"name": "rel", "type": "relation", "collectionId": target["id"], "maxSelect": 1},
            {"name": "rels", "type": "relation", "collectionId": target["id"], "maxSelect": 5, "cascadeDelete": true},
            {"name": "meta", "type": "json", "maxSize": 2000},
            {"name": "secret", "type": "password", "hidden": true},
            {"name": "loc", "type": "geoPoint", "help": "where"},
        ],
    }))
    .await
}

#[tokio::test]
async fn create_with_every_field_type_returns_the_full_model() {
    let app = TestApp::spawn().await;
    let target = target(&app).await;
    let col = everything(&app, &target).await;

    assert_eq!(col["id"], collection_id("base", "everything"));
    assert_eq!(col["name"], "everything");
    assert_eq!(col["type"], "base");
    assert_eq!(col["system"], false);
    assert_eq!(col["listRule"], "");
    assert_eq!(col["viewRule"], "");
    assert_eq!(col["createRule"], "@request.auth.id != \"\"");
    assert_eq!(col["updateRule"], Value::Null);
    assert_eq!(
        col["deleteRule"],
        Value::Null,
        "omitted rule defaults to null"
    );
    assert_eq!(col["indexes"], json!([]));
    assert!(is_datetime(col["created"].as_str().unwrap()), "{col}");
    assert!(is_datetime(col["updated"].as_str().unwrap()), "{col}");
    assert_eq!(
        sorted_keys(&col),
        [
            "createRule",
            "created",
            "deleteRule",
            "fields",
            "id",
            "indexes",
            "listRule",
            "name",
            "system",
            "type",
            "updateRule",
            "updated",
            "viewRule"
        ]
    );

    // the system id field comes first, the order is kept, field ids are type + crc32(name)
    assert_eq!(col["fields"][0], id_field());
    assert_eq!(
        field_names(&col),
        [
            "id",
            "title",
            "body",
            "views",
            "score",
            "published",
            "contact",
            "site",
            "when",
            "created",
            "updated",
            "status",
            "tags",
            "doc",
            "images",
            "rel",
            "rels",
            "meta",
            "secret",
            "loc"
        ]
    );
    for f in col["fields"].as_array().unwrap() {
        assert_eq!(
            f["id"].as_str().unwrap(),
            field_id(f["type"].as_str().unwrap(), f["name"].as_str().unwrap()),
            "{f}"
        );
    }

    let base = |extra: Value| {
        let mut v = json!({"help": "", "hidden": false, "presentable": false, "required": false, "system": false});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let expected = [
        (
            "title",
            base(
                json!({"id": "text724990059", "name": "title", "type": "text", "required": true, "presentable": true, "min": 2, "max": 20, "pattern": "^[a-zA-Z0-9 ]+$", "autogeneratePattern": "", "primaryKey": false}),
            ),
        ),
        (
            "body",
            base(
                json!({"id": field_id("editor", "body"), "name": "body", "type": "editor", "convertURLs": true, "maxSize": 0}),
            ),
        ),
        (
            "views",
            base(
                json!({"id": field_id("number", "views"), "name": "views", "type": "number", "min": 0, "max": 1000, "onlyInt": true}),
            ),
        ),
        (
            "score",
            base(
                json!({"id": field_id("number", "score"), "name": "score", "type": "number", "min": null, "max": null, "onlyInt": false}),
            ),
        ),
        (
            "published",
            base(json!({"id": field_id("bool", "published"), "name": "published", "type": "bool"})),
        ),
        (
            "contact",
            base(
                json!({"id": field_id("email", "contact"), "name": "contact", "type": "email", "onlyDomains": ["example.com"], "exceptDomains": []}),
            ),
        ),
        (
            "site",
            base(
                json!({"id": field_id("url", "site"), "name": "site", "type": "url", "onlyDomains": [], "exceptDomains": ["bad.test"]}),
            ),
        ),
        (
            "when",
            base(
                json!({"id": field_id("date", "when"), "name": "when", "type": "date", "min": "2020-01-01 00:00:00.000Z", "max": ""}),
            ),
        ),
        (
            "created",
            json!({"hidden": false, "presentable": false, "system": false, "id": "autodate2990389176", "name": "created", "type": "autodate", "onCreate": true, "onUpdate": false}),
        ),
        (
            "updated",
            json!({"hidden": false, "presentable": false, "system": false, "id": "autodate3332085495", "name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}),
        ),
        (
            "status",
            base(
                json!({"id": field_id("select", "status"), "name": "status", "type": "select", "values": ["draft", "live"], "maxSelect": 1}),
            ),
        ),
        (
            "tags",
            base(
                json!({"id": field_id("select", "tags"), "name": "tags", "type": "select", "values": ["a", "b", "c"], "maxSelect": 2}),
            ),
        ),
        (
            "doc",
            base(
                json!({"id": field_id("file", "doc"), "name": "doc", "type": "file", "maxSelect": 1, "maxSize": 1000, "mimeTypes": ["text/plain"], "thumbs": [], "protected": false}),
            ),
        ),
        (
            "images",
            base(
                json!({"id": field_id("file", "images"), "name": "images", "type": "file", "maxSelect": 3, "maxSize": 0, "mimeTypes": [], "thumbs": ["100x100"], "protected": true}),
            ),
        ),
        (
            "rel",
            base(
                json!({"id": field_id("relation", "rel"), "name": "rel", "type": "relation", "collectionId": target["id"], "cascadeDelete": false, "minSelect": 0, "maxSelect": 1}),
            ),
        ),
        (
            "rels",
            base(
                json!({"id": field_id("relation", "rels"), "name": "rels", "type": "relation", "collectionId": target["id"], "cascadeDelete": true, "minSelect": 0, "maxSelect": 5}),
            ),
        ),
        (
            "meta",
            base(
                json!({"id": field_id("json", "meta"), "name": "meta", "type": "json", "maxSize": 2000}),
            ),
        ),
        (
            "secret",
            base(
                json!({"id": field_id("password", "secret"), "name": "secret", "type": "password", "hidden": true, "min": 0, "max": 0, "pattern": "", "cost": 0}),
            ),
        ),
        (
            "loc",
            base(
                json!({"id": field_id("geoPoint", "loc"), "name": "loc", "type": "geoPoint", "help": "where"}),
            ),
        ),
    ];
    for (name, want) in expected {
        assert_eq!(field(&col, name), &want, "field {name}");
    }
}

#[tokio::test]
async fn created_collection_is_a_real_table_with_native_column_types() {
    let app = TestApp::spawn().await;
    let target = target(&app).await;
    everything(&app, &target).await;
    let db = app.db();
    assert!(table_exists(&db, "everything"));
    let columns = table_columns(&db, "everything");
    use ColumnKind::{Bool, Document, Json, Number, Text};
    let expect = [
        ("id", Text, true),
        ("title", Text, false),
        ("body", Text, false),
        ("views", Number, false),
        ("score", Number, false),
        ("published", Bool, false),
        ("contact", Text, false),
        ("site", Text, false),
        ("when", Text, false),
        ("created", Text, false),
        ("updated", Text, false),
        ("status", Text, false),
        ("tags", Json, false),
        ("doc", Text, false),
        ("images", Json, false),
        ("rel", Text, false),
        ("rels", Json, false),
        ("meta", Document, false),
        ("secret", Text, false),
        ("loc", Json, false),
    ];
    let expect: Vec<(String, String, bool)> = expect
        .iter()
        .map(|(name, kind, pk)| {
            let native = kind.native_type(app.backend());
            ((*name).to_owned(), native.to_owned(), *pk)
        })
        .collect();
    assert_eq!(columns, expect);

    // a record written over HTTP is a row with the stored values
    let rec = app
        .create_record(
            "everything",
            &json!({"title": "Row one", "views": 7, "tags": ["a", "b"], "published": true}),
        )
        .await;
    let stored = |record: &Value, column: &str| {
        db.value(
            &format!("SELECT {column} FROM everything WHERE id = $1"),
            &[record["id"].as_str().unwrap()],
        )
    };
    assert_eq!(stored(&rec, "title"), "Row one");
    assert_eq!(stored(&rec, "views"), "7");
    assert_eq!(
        serde_json::from_str::<Value>(&stored(&rec, "tags")).unwrap(),
        json!(["a", "b"])
    );
    // read as an integer, the one spelling of true both backends share
    assert_eq!(stored(&rec, "CAST(published AS integer)"), "1");
    // the hidden password field is stored hashed, never in clear
    let rec = app
        .create_record(
            "everything",
            &json!({"title": "Pw", "secret": "hunter2-secret"}),
        )
        .await;
    assert_eq!(rec["secret"], "");
    let secret = stored(&rec, "secret");
    assert!(
        !secret.is_empty() && !secret.contains("hunter2-secret"),
        "{secret}"
    );
}

#[tokio::test]
async fn minimal_field_definitions_get_zero_valued_options() {
    let app = TestApp::spawn().await;
    let target = target(&app).await;
    let c = app
        .create_collection(&json!({
            "name": "minimal",
            "fields": [
                {"name": "s", "type": "select", "values": ["x"]},
                {"name": "r", "type": "relation", "collectionId": target["id"]},
                {"name": "f", "type": "file"},
            ],
        }))
        .await;
    assert_eq!(c["type"], "base", "type defaults to base");
    assert_eq!(field(&c, "s")["maxSelect"], 0);
    assert_eq!(field(&c, "r")["maxSelect"], 0);
    assert_eq!(field(&c, "r")["minSelect"], 0);
    assert_eq!(field(&c, "r")["cascadeDelete"], false);
    assert_eq!(field(&c, "f")["maxSelect"], 0);
    assert_eq!(field(&c, "f")["maxSize"], 0);
    assert_eq!(field(&c, "f")["thumbs"], json!([]));
    // no created/updated autodate fields are added implicitly through the API
    assert_eq!(field_names(&c), ["id", "s", "r", "f"]);
    for rule in [
        "listRule",
        "viewRule",
        "createRule",
        "updateRule",
        "deleteRule",
    ] {
        assert_eq!(c[rule], Value::Null, "{rule}");
    }
    // maxSelect 0 behaves as single
    let rec = app.create_record("minimal", &json!({"s": "x"})).await;
    assert_eq!(
        (&rec["s"], &rec["r"], &rec["f"]),
        (&json!("x"), &json!(""), &json!(""))
    );
}

#[tokio::test]
async fn view_by_name_and_by_id_return_the_same_model() {
    let app = TestApp::spawn().await;
    let target = target(&app).await;
    let col = everything(&app, &target).await;
    assert_eq!(app.collection_ok("everything").await, col);
    assert_eq!(app.collection_ok(col["id"].as_str().unwrap()).await, col);
    // the name is matched case-insensitively
    assert_eq!(app.collection_ok("EVERYTHING").await["id"], col["id"]);
    assert_plain_error(&app.collection("missing").await, 404, NOT_FOUND);
    // fields picker on collections
    let (status, picked) = app.get("/api/collections/everything?fields=id,name").await;
    assert_eq!(status, 200);
    assert_eq!(picked, json!({"id": col["id"], "name": "everything"}));
}

#[tokio::test]
async fn list_collections_with_filter_sort_and_paging() {
    let app = TestApp::spawn().await;
    for name in ["zeta", "alpha", "mid"] {
        app.create_collection(&json!({"name": name, "fields": []}))
            .await;
    }
    let (status, list) = app
        .get(&format!(
            "/api/collections{}",
            qs(&[
                ("filter", "system = false && name != \"users\""),
                ("sort", "name")
            ])
        ))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        (
            &list["page"],
            &list["perPage"],
            &list["totalItems"],
            &list["totalPages"]
        ),
        (&json!(1), &json!(30), &json!(3), &json!(1))
    );
    assert_eq!(
        pluck(&list, "name"),
        [json!("alpha"), json!("mid"), json!("zeta")]
    );

    let (_, list) = app
        .get(&format!(
            "/api/collections{}",
            qs(&[
                (
                    "filter",
                    "name = \"zeta\" || name = \"alpha\" || name = \"mid\""
                ),
                ("sort", "-name"),
                ("page", "2"),
                ("perPage", "2"),
                ("fields", "name"),
            ])
        ))
        .await;
    assert_eq!(
        list,
        json!({"page": 2, "perPage": 2, "totalItems": 3, "totalPages": 2, "items": [{"name": "alpha"}]})
    );

    let (_, list) = app
        .get(&format!(
            "/api/collections{}",
            qs(&[("filter", "name ~ \"ph\"")])
        ))
        .await;
    assert_eq!(pluck(&list, "name"), [json!("alpha")]);

    let (_, list) = app
        .get(&format!(
            "/api/collections{}",
            qs(&[("filter", "name = \"_superusers\""), ("perPage", "1")])
        ))
        .await;
    assert_eq!(list["totalItems"], 1);
    let su = &items(&list)[0];
    assert_eq!(
        (&su["id"], &su["system"], &su["type"]),
        (&json!(SUPERUSERS_ID), &json!(true), &json!("auth"))
    );

    // skipTotal
    let (_, list) = app.get("/api/collections?skipTotal=1&perPage=2").await;
    assert_eq!(
        (&list["totalItems"], &list["totalPages"]),
        (&json!(-1), &json!(-1))
    );
    assert_eq!(items(&list).len(), 2);

    for q in [
        qs(&[("filter", "nosuchfield = 1")]),
        qs(&[("sort", "nosuchfield")]),
        qs(&[("filter", "name = ")]),
    ] {
        let resp = app.get(&format!("/api/collections{q}")).await;
        assert_plain_error(&resp, 400, BAD_REQUEST);
    }
}

#[tokio::test]
async fn system_collections_exist_and_superusers_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let (_, list) = app
        .get(&format!(
            "/api/collections{}",
            qs(&[
                ("filter", "system = true"),
                ("sort", "name"),
                ("perPage", "100")
            ])
        ))
        .await;
    let mut found: Vec<(String, String, String)> = items(&list)
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
                c["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.retain(|(name, _, _)| name != "users"); // `users` is not a system collection in PocketBase
    let want = [
        ("_authOrigins", "pbc_4275539003", "base"),
        ("_externalAuths", "pbc_2281828961", "base"),
        ("_mfas", "pbc_2279338944", "base"),
        ("_otps", "pbc_1638494021", "base"),
        ("_superusers", SUPERUSERS_ID, "auth"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
        .collect();
    assert_eq!(found, want);

    let users = app.collection_ok("users").await;
    assert_eq!(users["id"], "_pb_users_auth_");
    assert_eq!(users["type"], "auth");

    let db = app.db();
    for table in [
        "_superusers",
        "users",
        "_mfas",
        "_otps",
        "_externalAuths",
        "_authOrigins",
    ] {
        assert!(table_exists(&db, table), "table {table}");
    }

    for name in ["_superusers", SUPERUSERS_ID] {
        let resp = app.delete_collection(name).await.pair();
        assert_plain_error(&resp, 400, "Failed to delete collection.");
    }
    for name in ["_mfas", "_otps", "_externalAuths", "_authOrigins"] {
        let resp = app.delete_collection(name).await;
        assert_eq!(resp.status, 400, "{name}: {}", resp.text);
    }
    assert_eq!(app.collection_ok("_superusers").await["id"], SUPERUSERS_ID);
    assert!(table_exists(&db, "_superusers"));
    // and the superuser can still log in
    let (status, _) = app
        .guest()
        .auth_with_password("_superusers", SU_EMAIL, SU_PASSWORD)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn non_superusers_cannot_use_the_collections_api() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "posts", "fields": []}))
        .await;
    let g = app.guest();
    let calls = [
        g.get("/api/collections").await,
        g.get("/api/collections/posts").await,
        g.get("/api/collections/meta/scaffolds").await,
        g.post_json("/api/collections", &json!({"name": "nope"}))
            .await,
        g.patch_json("/api/collections/posts", &json!({"name": "renamed"}))
            .await,
        g.delete("/api/collections/posts").await,
        g.delete("/api/collections/posts/truncate").await,
        g.put_json(
            "/api/collections/import",
            &json!({"collections": [{"name": "x"}]}),
        )
        .await,
    ];
    for resp in calls {
        assert_plain_error(&resp, 401, NEEDS_AUTH);
    }
    assert_eq!(app.collection_ok("posts").await["name"], "posts");
    assert_eq!(app.collection("nope").await.0, 404);
    assert_eq!(app.collection("x").await.0, 404);
}

#[tokio::test]
async fn duplicate_names_are_rejected_case_insensitively() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "dup", "fields": []}))
        .await;
    for name in ["dup", "DUP", "Dup", "users", "_SUPERUSERS"] {
        let resp = app
            .try_create_collection(&json!({"name": name, "type": "base"}))
            .await;
        let data = assert_error(&resp, 400, "Failed to create collection.");
        assert_eq!(
            data["name"],
            json!({"code": "validation_collection_name_exists", "message": "Collection name must be unique (case insensitive)."}),
            "{name}"
        );
    }
}

#[tokio::test]
async fn invalid_rules_report_the_parser_error() {
    let app = TestApp::spawn().await;
    let resp = app
        .try_create_collection(&json!({
            "name": "badrule", "type": "base", "fields": [{"name": "title", "type": "text"}],
            "listRule": "title === 1", "viewRule": "nosuch = 1", "createRule": "title = ",
        }))
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(
        codes(&data),
        code_map(&[
            ("createRule", "validation_invalid_rule"),
            ("listRule", "validation_invalid_rule"),
            ("viewRule", "validation_invalid_rule"),
        ])
    );
    assert_eq!(
        data["listRule"]["message"],
        "Invalid rule. Raw error: invalid sign operator \"===\"."
    );
    assert_eq!(
        data["viewRule"]["message"],
        "Invalid rule. Raw error: invalid left operand \"nosuch\" - unknown field \"nosuch\"."
    );
    assert_eq!(app.collection("badrule").await.0, 404);
    assert!(!table_exists(&app.db(), "badrule"));
}

#[tokio::test]
async fn invalid_collection_names() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"name": "bad name!", "type": "base"}),
            "validation_match_invalid",
        ),
        (
            json!({"name": "a_via_b", "type": "base"}),
            "validation_found_via",
        ),
        (json!({"type": "base"}), "validation_required"),
        (json!({"name": "", "type": "base"}), "validation_required"),
        (
            json!({"name": "x;DROP TABLE users", "type": "base"}),
            "validation_match_invalid",
        ),
        (
            json!({"name": "a\"b", "type": "base"}),
            "validation_match_invalid",
        ),
    ];
    for (body, code) in cases {
        let resp = app.try_create_collection(&body).await;
        let data = assert_error(&resp, 400, "Failed to create collection.");
        assert_eq!(codes(&data), code_map(&[("name", code)]), "{body}");
    }
    let data = assert_error(
        &app.try_create_collection(&json!({"name": "bad name"}))
            .await,
        400,
        "Failed to create collection.",
    );
    assert_eq!(data["name"]["message"], "Must be in a valid format.");
    let data = assert_error(
        &app.try_create_collection(&json!({"name": "a_via_b"})).await,
        400,
        "Failed to create collection.",
    );
    assert_eq!(
        data["name"]["message"],
        "The value cannot contain \"_via_\"."
    );
    // the internal tables are not collection names
    for name in ["_collections", "_params"] {
        let resp = app
            .try_create_collection(
                &json!({"name": name, "fields": [{"name": "t", "type": "text"}]}),
            )
            .await;
        let data = assert_error(&resp, 400, "Failed to create collection.");
        assert_eq!(
            data,
            json!({"name": {
                "code": "validation_collection_name_invalid",
                "message": "The name shouldn't match with an existing internal table.",
            }}),
            "{name}"
        );
    }
    let resp = app
        .try_create_collection(
            &json!({"name": "sqlite_master", "fields": [{"name": "t", "type": "text"}]}),
        )
        .await;
    assert_eq!(resp.0, 400, "{}", resp.1);
    assert!(table_exists(&app.db(), "_collections"));
    assert!(table_exists(&app.db(), "_params"));
    assert_eq!(app.collection_ok("users").await["name"], "users");
}

#[tokio::test]
async fn collection_names_are_at_most_255_characters() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "x".repeat(255), "fields": []}))
        .await;
    let resp = app
        .try_create_collection(&json!({"name": "y".repeat(256), "fields": []}))
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    // ozzo-validation's Length(1, 255) in PocketBase's collection validator
    assert_eq!(
        data["name"],
        json!({
            "code": "validation_length_out_of_range",
            "message": "The length must be between 1 and 255.",
            "params": {"max": 255, "min": 1},
        })
    );
}

#[tokio::test]
async fn invalid_fields_are_reported_by_index() {
    let app = TestApp::spawn().await;
    // index 0 is the implicit id field, so the user's fields start at 1
    let resp = app
        .try_create_collection(&json!({
            "name": "badfields",
            "fields": [{"name": "ok", "type": "text"}, {"name": "expand", "type": "text"}],
        }))
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(sorted_keys(&data), ["fields"]);
    assert_eq!(sorted_keys(&data["fields"]), ["2"]);
    assert_eq!(
        data["fields"]["2"]["name"],
        json!({"code": "validation_not_in_invalid", "message": "Must not be in list."})
    );

    for reserved in ["collectionId", "collectionName", "_rowid_"] {
        let resp = app
            .try_create_collection(
                &json!({"name": "reserved", "fields": [{"name": reserved, "type": "text"}]}),
            )
            .await;
        let data = assert_error(&resp, 400, "Failed to create collection.");
        assert_eq!(
            data["fields"]["1"]["name"]["code"], "validation_not_in_invalid",
            "{reserved}: {data}"
        );
    }

    let resp = app
        .try_create_collection(&json!({
            "name": "dupfields",
            "fields": [{"name": "ok", "type": "text"}, {"name": "OK", "type": "text"}],
        }))
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(
        data["fields"]["2"]["name"],
        json!({"code": "validation_duplicated_field_name", "message": "Duplicated or invalid field name OK.", "params": {"fieldName": "OK"}})
    );

    let resp = app
        .try_create_collection(
            &json!({"name": "novalues", "fields": [{"name": "s", "type": "select"}]}),
        )
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(data["fields"]["1"]["values"]["code"], "validation_required");

    let resp = app
        .try_create_collection(
            &json!({"name": "badfieldname", "fields": [{"name": "a b", "type": "text"}]}),
        )
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(
        data["fields"]["1"]["name"]["code"],
        "validation_match_invalid"
    );

    // a relation must point at a collection id (a name is not enough)
    target(&app).await;
    let resp = app
        .try_create_collection(&json!({
            "name": "relname", "fields": [{"name": "r", "type": "relation", "collectionId": "target"}],
        }))
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(
        data["fields"]["1"]["collectionId"],
        json!({"code": "validation_field_relation_missing_collection", "message": "The relation collection doesn't exist."})
    );

    for name in [
        "badfields",
        "reserved",
        "dupfields",
        "novalues",
        "badfieldname",
        "relname",
    ] {
        assert_eq!(app.collection(name).await.0, 404, "{name} was not created");
        assert!(!table_exists(&app.db(), name), "no table {name}");
    }
}

#[tokio::test]
async fn unknown_field_type_is_a_load_error() {
    let app = TestApp::spawn().await;
    for fields in [
        json!([{"name": "x", "type": "weird"}]),
        json!([{"name": "x"}]),
    ] {
        let resp = app
            .try_create_collection(&json!({"name": "badtype", "fields": fields}))
            .await;
        assert_plain_error(
            &resp,
            400,
            "Failed to load the submitted data due to invalid formatting.",
        );
    }
    assert_eq!(app.collection("badtype").await.0, 404);
}

#[tokio::test]
async fn invalid_index_expressions() {
    let app = TestApp::spawn().await;
    let resp = app
        .try_create_collection(&json!({
            "name": "badidx", "fields": [{"name": "a", "type": "text"}],
            "indexes": ["CREATE INDEX oops ON whatever (nosuch)"],
        }))
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(sorted_keys(&data), ["indexes"]);
    assert_eq!(
        data["indexes"]["0"]["code"],
        "validation_invalid_index_expression"
    );
    let resp = app
        .try_create_collection(&json!({
            "name": "badidx", "fields": [{"name": "a", "type": "text"}],
            "indexes": ["CREATE INDEX ok1 ON badidx (a)", "not sql at all"],
        }))
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(sorted_keys(&data["indexes"]), ["1"]);
    assert_eq!(
        data["indexes"]["1"],
        json!({"code": "validation_invalid_index_expression", "message": "Invalid CREATE INDEX expression."})
    );
    assert_eq!(app.collection("badidx").await.0, 404);
    assert!(!table_exists(&app.db(), "badidx"));
}

#[tokio::test]
async fn index_errors_carry_the_sqlite_message() {
    let app = TestApp::spawn().await;
    let resp = app
        .try_create_collection(&json!({
            "name": "badidx", "fields": [{"name": "a", "type": "text"}],
            "indexes": ["CREATE INDEX oops ON whatever (nosuch)"],
        }))
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(
        data["indexes"]["0"],
        json!({
            "code": "validation_invalid_index_expression",
            "message": "Failed to create index oops - SQL logic error: no such column: nosuch (1).",
        })
    );
}

#[tokio::test]
async fn update_adds_renames_and_drops_fields_keeping_data() {
    let app = TestApp::spawn().await;
    let c = app
        .create_collection(&json!({
            "name": "upd", "type": "base",
            "fields": [
                {"name": "keep", "type": "text", "max": 10},
                {"name": "oldname", "type": "number"},
                {"name": "gone", "type": "text"},
            ],
        }))
        .await;
    let rec = app
        .create_record(
            "upd",
            &json!({"keep": "kept", "oldname": 42, "gone": "bye"}),
        )
        .await;
    let id = id_of(&rec);

    let mut fields: Vec<Value> = c["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] != "gone")
        .cloned()
        .collect();
    for f in &mut fields {
        if f["name"] == "oldname" {
            f["name"] = json!("newname"); // same id => rename
        }
        if f["name"] == "keep" {
            f["max"] = json!(3); // option change
        }
    }
    fields.push(json!({"name": "added", "type": "bool"}));
    let u = app
        .update_collection(
            c["id"].as_str().unwrap(),
            &json!({"fields": fields, "listRule": "keep != \"\""}),
        )
        .await;
    assert_eq!(u["id"], c["id"]);
    assert_eq!(u["listRule"], "keep != \"\"");
    assert_eq!(field_names(&u), ["id", "keep", "newname", "added"]);
    assert_eq!(
        field(&u, "newname")["id"],
        field_id("number", "oldname"),
        "a rename keeps the field id"
    );
    assert_eq!(field(&u, "added")["id"], field_id("bool", "added"));
    assert_eq!(field(&u, "keep")["max"], 3);
    assert!(u["updated"].as_str().unwrap() >= c["updated"].as_str().unwrap());
    assert_eq!(u["created"], c["created"]);

    let after = app.view_ok("upd", &id, &[]).await;
    assert_eq!(
        after["newname"], 42,
        "the value moved to the renamed column"
    );
    assert!(after.get("oldname").is_none());
    assert!(after.get("gone").is_none());
    assert_eq!(after["added"], false);
    assert_eq!(
        after["keep"], "kept",
        "tightened options are not applied retroactively"
    );

    // the real table follows
    assert_eq!(
        column_names(&app.db(), "upd"),
        ["id", "keep", "newname", "added"]
    );

    // the new option is enforced on the next write
    let resp = app
        .try_update("upd", &id, &json!({"keep": "toolong"}))
        .await;
    let data = assert_error(&resp, 400, "Failed to update record.");
    assert_eq!(
        data["keep"],
        json!({"code": "validation_max_text_constraint", "message": "Must be no more than 3 character(s).", "params": {"max": 3}})
    );
    // the renamed field is filterable and writable under its new name only
    assert_eq!(
        app.ids_where("upd", "newname = 42").await,
        std::slice::from_ref(&id)
    );
    assert_plain_error(
        &app.list("upd", &[("filter", "oldname = 42")]).await,
        400,
        BAD_REQUEST,
    );
    // (the whole record is validated on write: `keep` must satisfy its new max too)
    let u = app
        .update_record(
            "upd",
            &id,
            &json!({"newname": 43, "oldname": 1, "keep": "ok"}),
        )
        .await;
    assert_eq!(u["newname"], 43);
}

#[tokio::test]
async fn renaming_a_field_used_by_a_rule_invalidates_the_rule() {
    let app = TestApp::spawn().await;
    let c = app
        .create_collection(&json!({"name": "ruled", "listRule": "score > 0", "fields": [{"name": "score", "type": "number"}]}))
        .await;
    let mut fields = c["fields"].as_array().unwrap().clone();
    fields[1]["name"] = json!("points");
    let resp = app
        .try_update_collection("ruled", &json!({"fields": fields}))
        .await;
    let data = assert_error(&resp, 400, "Failed to update collection.");
    assert_eq!(
        codes(&data),
        code_map(&[("listRule", "validation_invalid_rule")])
    );
    assert_eq!(
        column_names(&app.db(), "ruled"),
        ["id", "score"],
        "nothing was renamed"
    );
    // renaming the field and the rule together is fine
    let u = app
        .update_collection(
            "ruled",
            &json!({"fields": fields, "listRule": "points > 0"}),
        )
        .await;
    assert_eq!(u["listRule"], "points > 0");
    assert_eq!(column_names(&app.db(), "ruled"), ["id", "points"]);
}

#[tokio::test]
async fn fields_without_ids_are_matched_by_name_and_id_field_is_kept() {
    let app = TestApp::spawn().await;
    let c = app
        .create_collection(&json!({"name": "byname", "fields": [{"name": "a", "type": "text"}, {"name": "b", "type": "text"}]}))
        .await;
    let rec = app
        .create_record("byname", &json!({"a": "A", "b": "B"}))
        .await;
    let u = app
        .update_collection(
            "byname",
            &json!({"fields": [{"name": "b", "type": "text", "max": 5}]}),
        )
        .await;
    let pairs: Vec<(Value, Value)> = u["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].clone(), f["id"].clone()))
        .collect();
    assert_eq!(
        pairs,
        [
            (json!("id"), json!("text3208210256")),
            (json!("b"), json!(field_id("text", "b")))
        ]
    );
    assert_eq!(u["id"], c["id"]);
    let got = app.view_ok("byname", &id_of(&rec), &[]).await;
    assert_eq!(got["b"], "B");
    assert!(got.get("a").is_none());
    assert_eq!(column_names(&app.db(), "byname"), ["id", "b"]);

    // same name, different type, no id: the field is dropped and recreated (data lost)
    let u = app
        .update_collection(
            "byname",
            &json!({"fields": [{"name": "b", "type": "number"}]}),
        )
        .await;
    assert_eq!(field(&u, "b")["id"], field_id("number", "b"));
    assert_eq!(app.view_ok("byname", &id_of(&rec), &[]).await["b"], 0);
}

#[tokio::test]
async fn changing_a_field_type_in_place_is_rejected() {
    let app = TestApp::spawn().await;
    let c = app
        .create_collection(&json!({"name": "typechg", "fields": [{"name": "n", "type": "number"}]}))
        .await;
    app.create_record("typechg", &json!({"n": 5})).await;
    let fields: Vec<Value> = c["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if f["name"] == "n" {
                f["type"] = json!("text");
            }
            f
        })
        .collect();
    let resp = app
        .try_update_collection("typechg", &json!({"fields": fields}))
        .await;
    let data = assert_error(&resp, 400, "Failed to update collection.");
    assert_eq!(
        data,
        json!({"fields": {"1": {"code": "validation_field_type_change", "message": "Field type cannot be changed."}}})
    );
    let again = app.collection_ok("typechg").await;
    assert_eq!(field(&again, "n")["type"], "number");
    assert_eq!(pluck(&app.list_ok("typechg", &[]).await, "n"), [json!(5)]);
}

#[tokio::test]
async fn invalid_updates_change_nothing() {
    let app = TestApp::spawn().await;
    let c = app
        .create_collection(&json!({"name": "updbad", "fields": [{"name": "t", "type": "text"}]}))
        .await;
    app.create_collection(&json!({"name": "other", "fields": []}))
        .await;
    let id = c["id"].as_str().unwrap();

    let data = assert_error(
        &app.try_update_collection(id, &json!({"listRule": "t ~~ 1"}))
            .await,
        400,
        "Failed to update collection.",
    );
    assert_eq!(
        codes(&data),
        code_map(&[("listRule", "validation_invalid_rule")])
    );

    let data = assert_error(
        &app.try_update_collection(id, &json!({"name": "OTHER"}))
            .await,
        400,
        "Failed to update collection.",
    );
    assert_eq!(
        codes(&data),
        code_map(&[("name", "validation_collection_name_exists")])
    );

    let data = assert_error(
        &app.try_update_collection(id, &json!({"type": "auth"}))
            .await,
        400,
        "Failed to update collection.",
    );
    assert_eq!(
        data["type"],
        json!({"code": "validation_collection_type_change", "message": "Collection type cannot be changed."})
    );
    let data = assert_error(
        &app.try_update_collection(id, &json!({"name": "a_via_b"}))
            .await,
        400,
        "Failed to update collection.",
    );
    assert_eq!(codes(&data), code_map(&[("name", "validation_found_via")]));

    let again = app.collection_ok(id).await;
    assert_eq!(again, c, "nothing changed");
    assert!(table_exists(&app.db(), "updbad"));
}

#[tokio::test]
async fn renaming_a_collection_keeps_its_id_records_and_renames_the_table() {
    let app = TestApp::spawn().await;
    let c = app
        .create_collection(
            &json!({"name": "ren", "listRule": "", "fields": [{"name": "t", "type": "text"}]}),
        )
        .await;
    let rec = app.create_record("ren", &json!({"t": "x"})).await;
    let u = app
        .update_collection(c["id"].as_str().unwrap(), &json!({"name": "renamed"}))
        .await;
    assert_eq!(u["id"], c["id"]);
    assert_eq!(u["name"], "renamed");
    assert_plain_error(&app.collection("ren").await, 404, NOT_FOUND);
    let list = app.list_ok("renamed", &[]).await;
    assert_eq!(list["totalItems"], 1);
    assert_eq!(items(&list)[0]["collectionName"], "renamed");
    assert_eq!(items(&list)[0]["collectionId"], c["id"]);
    assert_eq!(items(&list)[0]["id"], rec["id"]);
    assert_plain_error(
        &app.list("ren", &[]).await,
        404,
        "Missing collection context.",
    );

    let db = app.db();
    assert!(table_exists(&db, "renamed"));
    assert!(!table_exists(&db, "ren"));
    assert_eq!(row_count(&db, "renamed"), 1);
}

#[tokio::test]
async fn indexes_follow_a_collection_rename() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({
        "name": "before", "fields": [{"name": "code", "type": "text"}],
        "indexes": ["CREATE UNIQUE INDEX idx_code ON before (code)"],
    }))
    .await;
    app.create_record("before", &json!({"code": "A"})).await;
    let u = app
        .update_collection("before", &json!({"name": "after"}))
        .await;
    assert_eq!(u["indexes"].as_array().unwrap().len(), 1);
    assert_eq!(index_names(&app.db(), "after"), ["idx_code"]);
    let data = assert_error(
        &app.try_create("after", &json!({"code": "A"})).await,
        400,
        "Failed to create record.",
    );
    assert_eq!(codes(&data), code_map(&[("code", "validation_not_unique")]));
}

#[tokio::test]
async fn unique_index_is_stored_verbatim_created_in_sqlite_and_enforced() {
    let app = TestApp::spawn().await;
    let idx = "CREATE UNIQUE INDEX idx_uniq_code ON uniq (code)";
    let c = app
        .create_collection(&json!({
            "name": "uniq",
            "fields": [{"name": "code", "type": "text"}, {"name": "n", "type": "number"}],
            "indexes": [idx],
        }))
        .await;
    assert_eq!(c["indexes"], json!([idx]));
    assert_eq!(index_names(&app.db(), "uniq"), ["idx_uniq_code"]);

    let r1 = app.create_record("uniq", &json!({"code": "A1"})).await;
    let resp = app.try_create("uniq", &json!({"code": "A1"})).await;
    assert_eq!(
        resp,
        (
            400,
            json!({
                "data": {"code": {"code": "validation_not_unique", "message": "Value must be unique."}},
                "message": "Failed to create record.", "status": 400,
            })
        )
    );
    let r2 = app.create_record("uniq", &json!({"code": "B2"})).await;
    let resp = app
        .try_update("uniq", &id_of(&r2), &json!({"code": "A1"}))
        .await;
    let data = assert_error(&resp, 400, "Failed to update record.");
    assert_eq!(codes(&data), code_map(&[("code", "validation_not_unique")]));
    // updating a record with its own value is fine
    app.update_record("uniq", &id_of(&r1), &json!({"code": "A1", "n": 1}))
        .await;
    assert_eq!(app.count("uniq").await, 2);
    assert_eq!(app.view_ok("uniq", &id_of(&r2), &[]).await["code"], "B2");
}

#[tokio::test]
async fn indexes_can_be_added_and_removed_by_update() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "idx", "fields": [{"name": "email", "type": "email"}, {"name": "n", "type": "number"}]}))
        .await;
    let idx = "CREATE INDEX idx_idx_email ON idx (email)";
    let uidx = "CREATE UNIQUE INDEX idx_idx_n ON idx (n)";
    let u = app
        .update_collection("idx", &json!({"indexes": [idx, uidx]}))
        .await;
    assert_eq!(u["indexes"], json!([idx, uidx]));
    assert_eq!(
        index_names(&app.db(), "idx"),
        ["idx_idx_email", "idx_idx_n"]
    );
    app.create_record("idx", &json!({"n": 1})).await;
    let data = assert_error(
        &app.try_create("idx", &json!({"n": 1})).await,
        400,
        "Failed to create record.",
    );
    assert_eq!(codes(&data), code_map(&[("n", "validation_not_unique")]));

    let u = app
        .update_collection("idx", &json!({"indexes": [idx]}))
        .await;
    assert_eq!(u["indexes"], json!([idx]));
    assert_eq!(index_names(&app.db(), "idx"), ["idx_idx_email"]);
    app.create_record("idx", &json!({"n": 1})).await;

    // a unique index that existing rows violate is refused, and nothing changes
    let resp = app
        .try_update_collection("idx", &json!({"indexes": [idx, uidx]}))
        .await;
    let data = assert_error(&resp, 400, "Failed to update collection.");
    assert_eq!(
        data["indexes"]["1"]["code"], "validation_invalid_index_expression",
        "{data}"
    );
    assert_eq!(index_names(&app.db(), "idx"), ["idx_idx_email"]);
    assert_eq!(app.collection_ok("idx").await["indexes"], json!([idx]));
}

#[tokio::test]
async fn delete_collection_answers_204_and_drops_the_table() {
    let app = TestApp::spawn().await;
    let c = app
        .create_collection(&json!({"name": "del", "fields": [{"name": "t", "type": "text"}]}))
        .await;
    app.create_record("del", &json!({"t": "x"})).await;
    let resp = app.delete_collection(c["id"].as_str().unwrap()).await;
    assert_eq!(resp.status, 204);
    assert_eq!(resp.text, "");
    assert_plain_error(&app.collection("del").await, 404, NOT_FOUND);
    assert!(!table_exists(&app.db(), "del"));
    assert_plain_error(&app.delete_collection("del").await.pair(), 404, NOT_FOUND);
    // the name is free again
    app.create_collection(&json!({"name": "del", "fields": []}))
        .await;
    assert_eq!(app.count("del").await, 0);
}

#[tokio::test]
async fn a_referenced_collection_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let target = target(&app).await;
    for name in ["refa", "refb"] {
        app.create_collection(&json!({"name": name, "fields": [{"name": "r", "type": "relation", "collectionId": target["id"]}]}))
            .await;
    }
    let resp = app.delete_collection("target").await.pair();
    assert_eq!(resp.0, 400, "{}", resp.1);
    assert_eq!(resp.1["data"], json!({}));
    let message = resp.1["message"].as_str().unwrap();
    assert!(
        message == "Failed to delete collection probably due to existing reference in refa, refb."
            || message
                == "Failed to delete collection probably due to existing reference in refb, refa.",
        "{message}"
    );
    assert!(table_exists(&app.db(), "target"));
    assert_eq!(app.delete_collection("refa").await.status, 204);
    assert_plain_error(
        &app.delete_collection("target").await.pair(),
        400,
        "Failed to delete collection probably due to existing reference in refb.",
    );
    assert_eq!(app.delete_collection("refb").await.status, 204);
    assert_eq!(app.delete_collection("target").await.status, 204);
}

#[tokio::test]
async fn truncate_removes_all_records_and_cascades() {
    let app = TestApp::spawn().await;
    let parent = app
        .create_collection(&json!({"name": "parent", "fields": [{"name": "t", "type": "text"}]}))
        .await;
    app.create_collection(&json!({
        "name": "child",
        "fields": [{"name": "p", "type": "relation", "collectionId": parent["id"], "maxSelect": 1, "cascadeDelete": true}],
    }))
    .await;
    app.create_collection(&json!({
        "name": "loose",
        "fields": [{"name": "ps", "type": "relation", "collectionId": parent["id"], "maxSelect": 5}],
    }))
    .await;
    let a = app.create_record("parent", &json!({"t": "a"})).await;
    let b = app.create_record("parent", &json!({"t": "b"})).await;
    app.create_record("parent", &json!({"t": "c"})).await;
    app.create_record("child", &json!({"p": a["id"]})).await;
    app.create_record("child", &json!({"p": b["id"]})).await;
    let orphan = app.create_record("child", &json!({})).await;
    let l = app
        .create_record("loose", &json!({"ps": [a["id"], b["id"]]}))
        .await;

    let resp = app.truncate("parent").await;
    assert_eq!(resp.status, 204);
    assert_eq!(resp.text, "");
    let list = app.list_ok("parent", &[]).await;
    assert_eq!(
        (&list["totalItems"], &list["totalPages"], &list["items"]),
        (&json!(0), &json!(0), &json!([]))
    );
    // cascade: children pointing at the deleted records are gone, the unrelated one stays
    assert_eq!(item_ids(&app.list_ok("child", &[]).await), [id_of(&orphan)]);
    // non-required multi relation: ids removed, record kept
    assert_eq!(app.view_ok("loose", &id_of(&l), &[]).await["ps"], json!([]));
    assert_eq!(app.collection_ok("parent").await["name"], "parent");
    assert_eq!(row_count(&app.db(), "parent"), 0);
    // truncate by id works too, and the collection is usable afterwards
    app.create_record("parent", &json!({"t": "d"})).await;
    assert_eq!(
        app.truncate(parent["id"].as_str().unwrap()).await.status,
        204
    );
    assert_eq!(app.count("parent").await, 0);
    assert_plain_error(&app.truncate("nosuch").await.pair(), 404, NOT_FOUND);
}

#[tokio::test]
async fn truncate_blocked_by_a_required_reference_changes_nothing() {
    let app = TestApp::spawn().await;
    let parent = app
        .create_collection(&json!({"name": "parent", "fields": [{"name": "t", "type": "text"}]}))
        .await;
    app.create_collection(&json!({
        "name": "reqd",
        "fields": [{"name": "p", "type": "relation", "collectionId": parent["id"], "maxSelect": 1, "required": true}],
    }))
    .await;
    let a = app.create_record("parent", &json!({"t": "a"})).await;
    app.create_record("parent", &json!({"t": "b"})).await;
    app.create_record("reqd", &json!({"p": a["id"]})).await;
    let resp = app.truncate("parent").await.pair();
    assert_plain_error(
        &resp,
        400,
        "Failed to truncate collection (most likely due to required cascade delete record references).",
    );
    assert_eq!(app.count("parent").await, 2, "all-or-nothing");
    assert_eq!(app.count("reqd").await, 1);
}

#[tokio::test]
async fn import_creates_and_updates_by_name() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "keep", "fields": []}))
        .await;
    let resp = app
        .import(&json!({
            "collections": [
                {"name": "imp1", "type": "base", "fields": [{"name": "t", "type": "text"}]},
                {"name": "imp2", "type": "base", "listRule": "", "fields": [{"name": "n", "type": "number"}]},
            ],
            "deleteMissing": false,
        }))
        .await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    assert_eq!(resp.text, "");
    let c1 = app.collection_ok("imp1").await;
    let c2 = app.collection_ok("imp2").await;
    assert_eq!(c1["id"], collection_id("base", "imp1"));
    assert_eq!(c1["listRule"], Value::Null);
    assert_eq!(c2["listRule"], "");
    assert!(
        c1["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "id" && f["system"] == true && f["primaryKey"] == true),
        "the id field is added: {c1}"
    );
    let mut names = field_names(&c1);
    names.retain(|n| n != "id");
    assert_eq!(names, ["t"]);
    assert!(table_exists(&app.db(), "imp1"));
    let rec = app.create_record("imp1", &json!({"t": "survives"})).await;

    // re-import imp1 by name with an extra field: updated in place, data kept
    let resp = app
        .import(&json!({"collections": [{"name": "imp1", "type": "base", "fields": [{"name": "t", "type": "text"}, {"name": "u", "type": "bool"}]}]}))
        .await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    let c1b = app.collection_ok("imp1").await;
    assert_eq!(c1b["id"], c1["id"]);
    let mut names = field_names(&c1b);
    names.retain(|n| n != "id");
    assert_eq!(names, ["t", "u"]);
    let got = app.view_ok("imp1", &id_of(&rec), &[]).await;
    assert_eq!((&got["t"], &got["u"]), (&json!("survives"), &json!(false)));
    // untouched collections survive
    assert_eq!(app.collection_ok("keep").await["name"], "keep");
    assert_eq!(app.collection_ok("imp2").await["id"], c2["id"]);
}

#[tokio::test]
async fn import_with_delete_missing_removes_unlisted_collections() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "stay", "fields": [{"name": "t", "type": "text"}]}))
        .await;
    app.create_collection(&json!({"name": "goner", "fields": [{"name": "t", "type": "text"}]}))
        .await;
    app.create_record("goner", &json!({"t": "x"})).await;
    // everything that exists (system collections included) except `goner`, plus a new one
    let (_, all) = app.get("/api/collections?perPage=500").await;
    let mut list: Vec<Value> = items(&all)
        .iter()
        .filter(|c| c["name"] != "goner")
        .cloned()
        .collect();
    list.push(
        json!({"name": "fresh", "type": "base", "fields": [{"name": "n", "type": "number"}]}),
    );
    let resp = app
        .import(&json!({"collections": list, "deleteMissing": true}))
        .await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    assert_plain_error(&app.collection("goner").await, 404, NOT_FOUND);
    assert!(!table_exists(&app.db(), "goner"));
    assert_eq!(app.collection_ok("stay").await["name"], "stay");
    assert_eq!(app.collection_ok("fresh").await["name"], "fresh");
    assert_eq!(app.collection_ok("_superusers").await["id"], SUPERUSERS_ID);
    // the superuser is still there
    assert_eq!(app.get("/api/settings").await.0, 200);
}

#[tokio::test]
async fn a_failing_import_rolls_back_everything() {
    let app = TestApp::spawn().await;
    app.create_collection(
        &json!({"name": "existing", "listRule": "", "fields": [{"name": "t", "type": "text"}]}),
    )
    .await;
    app.create_record("existing", &json!({"t": "x"})).await;
    let before = app.collection_ok("existing").await;
    let resp = app
        .import(&json!({"collections": [
            {"name": "existing", "type": "base", "listRule": null, "fields": [{"name": "t", "type": "text"}, {"name": "extra", "type": "number"}]},
            {"name": "impgood", "type": "base", "fields": []},
            {"name": "impbad", "type": "base", "listRule": "nope = 1"},
        ]}))
        .await
        .pair();
    let data = assert_error(&resp, 400, "Failed to import collections.");
    assert_eq!(
        codes(&data),
        code_map(&[("collections", "validation_collections_import_failure")])
    );
    let message = data["collections"]["message"].as_str().unwrap();
    let prefix = format!(
        "Data validations failed for collection \"impbad\" ({}):",
        collection_id("base", "impbad")
    );
    assert!(message.starts_with(&prefix), "{message}");
    assert!(message.contains("listRule"), "{message}");
    assert_eq!(app.collection("impgood").await.0, 404);
    assert_eq!(app.collection("impbad").await.0, 404);
    assert_eq!(
        app.collection_ok("existing").await,
        before,
        "the update was rolled back"
    );
    let db = app.db();
    assert!(!table_exists(&db, "impgood"));
    assert_eq!(column_names(&db, "existing"), ["id", "t"]);
    assert_eq!(app.count("existing").await, 1);
}

#[tokio::test]
async fn import_requires_collections() {
    let app = TestApp::spawn().await;
    for body in [
        json!({"collections": []}),
        json!({}),
        json!({"collections": [], "deleteMissing": true}),
    ] {
        let data = assert_error(
            &app.import(&body).await.pair(),
            400,
            "An error occurred while validating the submitted data.",
        );
        assert_eq!(
            codes(&data),
            code_map(&[("collections", "validation_required")]),
            "{body}"
        );
    }
    // an empty list with deleteMissing must not wipe anything
    assert_eq!(app.collection_ok("_superusers").await["id"], SUPERUSERS_ID);
    assert_eq!(app.collection_ok("users").await["name"], "users");
}

async fn view_fixture(app: &TestApp) -> Value {
    app.create_collection(&json!({
        "name": "vsrc",
        "fields": [
            {"name": "title", "type": "text", "max": 50},
            {"name": "views", "type": "number", "onlyInt": true},
            {"name": "published", "type": "bool"},
        ],
    }))
    .await;
    app.create_record("vsrc", &json!({"title": "zero", "views": 0}))
        .await;
    app.create_record(
        "vsrc",
        &json!({"title": "one", "views": 1, "published": true}),
    )
    .await;
    app.create_record("vsrc", &json!({"title": "two", "views": 2}))
        .await;
    app.create_collection(&json!({
        "name": "vview", "type": "view", "listRule": "", "viewRule": "",
        "createRule": "", "updateRule": "", "deleteRule": "",
        "viewQuery": "SELECT id, title, views, (views * 2) AS dbl, published FROM vsrc WHERE views > 0",
    }))
    .await
}

#[tokio::test]
async fn view_collection_fields_are_inferred() {
    let app = TestApp::spawn().await;
    let view = view_fixture(&app).await;
    assert_eq!(view["type"], "view");
    assert_eq!(view["id"], collection_id("view", "vview"));
    assert!(
        view["viewQuery"]
            .as_str()
            .unwrap()
            .starts_with("SELECT id, title")
    );
    for rule in ["createRule", "updateRule", "deleteRule"] {
        assert_eq!(view[rule], Value::Null, "{rule} is forced to null on views");
    }
    assert_eq!(
        (&view["listRule"], &view["viewRule"]),
        (&json!(""), &json!(""))
    );
    let kinds: Vec<(Value, Value)> = view["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].clone(), f["type"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (json!("id"), json!("text")),
            (json!("title"), json!("text")),
            (json!("views"), json!("number")),
            (json!("dbl"), json!("json")),
            (json!("published"), json!("bool")),
        ]
    );
    let id = field(&view, "id");
    assert_eq!(
        (
            &id["primaryKey"],
            &id["min"],
            &id["max"],
            &id["autogeneratePattern"]
        ),
        (&json!(true), &json!(0), &json!(0), &json!(""))
    );
    assert_eq!(
        field(&view, "title")["max"],
        50,
        "source options are copied"
    );
    assert!(
        field(&view, "title")["id"]
            .as_str()
            .unwrap()
            .starts_with("_clone_")
    );
    assert_eq!(field(&view, "views")["onlyInt"], true);
    assert_eq!(field(&view, "dbl")["maxSize"], 1);
    assert_eq!(schema_object(&app.db(), "vview").as_deref(), Some("view"));
}

#[tokio::test]
async fn view_records_are_readable_and_read_only() {
    let app = TestApp::spawn().await;
    let view = view_fixture(&app).await;
    let list = app.list_ok("vview", &[("sort", "-views")]).await;
    assert_eq!(list["totalItems"], 2);
    let rows: Vec<Value> = items(&list)
        .iter()
        .map(|r| json!([r["title"], r["views"], r["dbl"], r["published"]]))
        .collect();
    assert_eq!(
        rows,
        [json!(["two", 2, 4, false]), json!(["one", 1, 2, true])]
    );
    assert_eq!(items(&list)[0]["collectionName"], "vview");
    assert_eq!(items(&list)[0]["collectionId"], view["id"]);
    let one_id = id_of(&items(&list)[1]);
    assert_eq!(app.view_ok("vview", &one_id, &[]).await["title"], "one");
    assert_eq!(
        pluck(
            &app.list_ok("vview", &[("filter", "dbl >= 4")]).await,
            "title"
        ),
        [json!("two")]
    );
    // guests read it too (listRule/viewRule "")
    assert_eq!(app.guest().list_ok("vview", &[]).await["totalItems"], 2);
    // it follows the source
    app.create_record("vsrc", &json!({"title": "three", "views": 3}))
        .await;
    assert_eq!(app.count("vview").await, 3);

    for resp in [
        app.try_create("vview", &json!({"title": "x"})).await,
        app.try_update("vview", &one_id, &json!({"title": "x"}))
            .await,
        app.delete_record("vview", &one_id).await.pair(),
    ] {
        assert_plain_error(&resp, 400, "Unsupported collection type.");
    }
    assert_plain_error(
        &app.truncate("vview").await.pair(),
        400,
        "View collections cannot be truncated since they don't store their own records.",
    );
    assert_eq!(app.count("vsrc").await, 4);
}

#[tokio::test]
async fn invalid_view_queries_are_rejected_and_execute_nothing() {
    let app = TestApp::spawn().await;
    view_fixture(&app).await;
    let data = assert_error(
        &app.try_create_collection(
            &json!({"name": "vbad", "type": "view", "viewQuery": "SELECT title FROM vsrc"}),
        )
        .await,
        400,
        "Failed to create collection.",
    );
    assert_eq!(
        data["fields"]["code"], "validation_missing_primary_key",
        "{data}"
    );
    assert_eq!(
        data["viewQuery"],
        json!({
            "code": "validation_invalid_view_query",
            "message": "Invalid query - missing required id column (you can use `(ROW_NUMBER() OVER()) as id` if you don't have one).",
        })
    );
    let data = assert_error(
        &app.try_create_collection(
            &json!({"name": "vbad", "type": "view", "viewQuery": "DELETE FROM vsrc"}),
        )
        .await,
        400,
        "Failed to create collection.",
    );
    assert_eq!(data["viewQuery"]["code"], "validation_invalid_view_query");

    let attach_path = app.data_dir().join("attached.db");
    let hostile = [
        "SELECT id FROM vsrc; DROP TABLE vsrc".to_owned(),
        "SELECT 1 as id; DROP TABLE vsrc".to_owned(),
        "SELECT id FROM vsrc; DELETE FROM vsrc".to_owned(),
        "DROP TABLE vsrc".to_owned(),
        "UPDATE vsrc SET title = 'hacked'".to_owned(),
        "INSERT INTO vsrc (id, title) VALUES ('hackedhackedhac', 'x')".to_owned(),
        "PRAGMA writable_schema = ON".to_owned(),
        "PRAGMA table_info(vsrc)".to_owned(),
        format!("ATTACH DATABASE '{}' AS evil", attach_path.display()),
        "CREATE TABLE evil (id TEXT)".to_owned(),
        "SELECT id FROM vsrc WHERE 1; ATTACH ':memory:' AS x".to_owned(),
        "".to_owned(),
    ];
    for query in &hostile {
        let resp = app
            .try_create_collection(&json!({"name": "vhostile", "type": "view", "viewQuery": query}))
            .await;
        let data = assert_error(&resp, 400, "Failed to create collection.");
        assert!(data["viewQuery"].is_object(), "{query}: {data}");
        assert_eq!(app.collection("vhostile").await.0, 404, "{query}");
    }
    // the source is untouched, nothing was attached or created
    let titles = pluck(&app.list_ok("vsrc", &[("sort", "@rowid")]).await, "title");
    assert_eq!(titles, [json!("zero"), json!("one"), json!("two")]);
    let db = app.db();
    assert!(table_exists(&db, "vsrc"));
    assert_eq!(row_count(&db, "vsrc"), 3);
    assert!(schema_object(&db, "evil").is_none());
    assert!(schema_object(&db, "vhostile").is_none());
    assert!(!attach_path.exists(), "ATTACH created no file");

    // and an update of an existing view to a hostile query is refused the same way
    let resp = app
        .try_update_collection(
            "vview",
            &json!({"viewQuery": "SELECT id FROM vsrc; DROP TABLE vsrc"}),
        )
        .await;
    let data = assert_error(&resp, 400, "Failed to update collection.");
    assert!(data["viewQuery"].is_object(), "{data}");
    assert_eq!(row_count(&app.db(), "vsrc"), 3);
    assert_eq!(app.count("vview").await, 2);
}

#[tokio::test]
async fn view_queries_cannot_load_extensions_or_break_the_server() {
    let app = TestApp::spawn().await;
    view_fixture(&app).await;
    let probe = app.data_dir().join("probe");
    let mut problems = Vec::new();
    for query in [
        format!(
            "SELECT id, load_extension('{}') AS x FROM vsrc",
            probe.display()
        ),
        "SELECT id, abs(-9223372036854775807 - 1) AS x FROM vsrc".to_owned(),
        "SELECT id, json_extract('not json', '$') AS x FROM vsrc".to_owned(),
        "SELECT id, randomblob(2000000000) AS x FROM vsrc".to_owned(),
    ] {
        let (status, body) = app
            .try_create_collection(
                &json!({"name": "vext", "type": "view", "listRule": "", "viewQuery": query}),
            )
            .await;
        match status {
            // refused up front
            400 => assert!(body["data"]["viewQuery"].is_object(), "{query}: {body}"),
            // or accepted: reading it then works or is a clean 400 (PocketBase answers list
            // errors with BadRequestError), never a 500
            200 => {
                let guest = app.guest();
                let list = guest
                    .send_unchecked(guest.request(Method::GET, "/api/collections/vext/records"))
                    .await;
                if list.status != 200 && list.status != 400 {
                    problems.push(format!(
                        "{query}: list answered {} {}",
                        list.status, list.text
                    ));
                }
                assert_eq!(app.delete_collection("vext").await.status, 204);
            }
            other => panic!("{query}: {other} {body}"),
        }
    }
    assert!(!probe.exists());
    assert_eq!(app.get("/api/health").await.0, 200);
    assert_eq!(app.count("vsrc").await, 3);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn view_query_errors_carry_the_database_message() {
    let app = TestApp::spawn().await;
    view_fixture(&app).await;
    let resp = app
        .try_create_collection(
            &json!({"name": "vbad", "type": "view", "viewQuery": "DELETE FROM vsrc"}),
        )
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    // PostgreSQL checks the query as a subquery, where `DELETE` parses as a table name, so
    // its syntax error points at the `FROM` after it.
    let database_message = match app.backend() {
        Backend::Sqlite => "SQL logic error: near \"DELETE\": syntax error (1)",
        Backend::Postgres => "syntax error at or near \"FROM\"",
    };
    assert_eq!(
        data["viewQuery"],
        json!({"code": "validation_invalid_view_query",
            "message": format!("Invalid query - {database_message}.")})
    );
}

#[tokio::test]
async fn view_collections_do_not_support_indexes() {
    let app = TestApp::spawn().await;
    view_fixture(&app).await;
    let resp = app
        .try_update_collection(
            "vview",
            &json!({"indexes": ["CREATE INDEX idx_v ON vview (title)"]}),
        )
        .await;
    let data = assert_error(&resp, 400, "Failed to update collection.");
    assert_eq!(
        data["indexes"],
        json!({"code": "validation_indexes_not_supported", "message": "View collections don't support indexes."})
    );
    assert_eq!(app.collection_ok("vview").await["indexes"], json!([]));
}

#[tokio::test]
async fn scaffolds_shape() {
    let app = TestApp::spawn().await;
    let (status, s) = app.get("/api/collections/meta/scaffolds").await;
    assert_eq!(status, 200);
    assert_eq!(sorted_keys(&s), ["auth", "base", "view"]);
    for kind in ["auth", "base", "view"] {
        let sc = &s[kind];
        assert_eq!(sc["type"], kind);
        assert_eq!(
            (&sc["id"], &sc["name"], &sc["system"]),
            (&json!(""), &json!(""), &json!(false))
        );
        assert!(sc["indexes"].is_array() && sc["fields"].is_array(), "{sc}");
        for rule in [
            "listRule",
            "viewRule",
            "createRule",
            "updateRule",
            "deleteRule",
        ] {
            assert_eq!(sc[rule], Value::Null, "{kind}.{rule}");
        }
    }
    assert_eq!(s["base"]["fields"], json!([id_field()]));
    assert_eq!(s["view"]["fields"], json!([]));
    assert_eq!(s["view"]["viewQuery"], "");
    let auth = &s["auth"];
    assert_eq!(
        field_names(auth),
        [
            "id",
            "password",
            "tokenKey",
            "email",
            "emailVisibility",
            "verified"
        ]
    );
    let ids: Vec<&str> = auth["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "text3208210256",
            "password901924565",
            "text2504183744",
            "email3885137012",
            "bool1547992806",
            "bool256245529"
        ]
    );
    assert_eq!(auth["authRule"], "");
    assert_eq!(auth["manageRule"], Value::Null);
    assert_eq!(
        auth["passwordAuth"],
        json!({"enabled": true, "identityFields": ["email"]})
    );
    assert_eq!(auth["authToken"], json!({"duration": 432000}));
    let indexes = auth["indexes"].as_array().unwrap();
    assert_eq!(indexes.len(), 2);
    let i0 = indexes[0].as_str().unwrap();
    let i1 = indexes[1].as_str().unwrap();
    assert!(
        i0.starts_with("CREATE UNIQUE INDEX `idx_tokenKey_")
            && i0.ends_with("` ON `` (`tokenKey`)"),
        "{i0}"
    );
    assert!(
        i1.starts_with("CREATE UNIQUE INDEX `idx_email_")
            && i1.ends_with("` ON `` (`email`) WHERE `email` != ''"),
        "{i1}"
    );
}

#[tokio::test]
async fn collection_errors_use_the_standard_envelope() {
    let app = TestApp::spawn().await;
    let resp = app
        .try_create_collection(&json!({"name": "bad name"}))
        .await;
    let data = assert_error(&resp, 400, "Failed to create collection.");
    assert_eq!(
        data,
        json!({"name": {"code": "validation_match_invalid", "message": "Must be in a valid format."}})
    );
    // fields is not applied to error bodies
    let resp = app
        .post_json(
            "/api/collections?fields=status",
            &json!({"name": "bad name"}),
        )
        .await;
    assert_error(&resp, 400, "Failed to create collection.");
    // malformed JSON
    let resp = app
        .raw_body(Method::POST, "/api/collections", "application/json", "{bad")
        .await
        .pair();
    assert_plain_error(
        &resp,
        400,
        "Failed to load the collection type data due to invalid formatting.",
    );
}

#[tokio::test]
async fn system_collection_rules_names_and_flags_cannot_change() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "plain", "fields": []}))
        .await;
    let before_su = app.collection_ok("_superusers").await;
    let before_mfas = app.collection_ok("_mfas").await;
    let rule = (
        "validation_collection_system_rule_change",
        "System collection API rule cannot be changed.",
    );
    let cases = [
        ("_superusers", json!({"listRule": ""}), "listRule", rule),
        ("_superusers", json!({"viewRule": ""}), "viewRule", rule),
        ("_superusers", json!({"createRule": ""}), "createRule", rule),
        ("_mfas", json!({"listRule": ""}), "listRule", rule),
        ("_otps", json!({"deleteRule": ""}), "deleteRule", rule),
        (
            "_superusers",
            json!({"name": "renamed_su"}),
            "name",
            (
                "validation_collection_system_name_change",
                "System collection name cannot be changed.",
            ),
        ),
        (
            "_superusers",
            json!({"system": false}),
            "system",
            (
                "validation_collection_system_flag_change",
                "System collection state cannot be changed.",
            ),
        ),
        (
            "plain",
            json!({"system": true}),
            "system",
            (
                "validation_collection_system_flag_change",
                "System collection state cannot be changed.",
            ),
        ),
    ];
    let mut problems = Vec::new();
    for (collection, body, key, (code, message)) in cases {
        let resp = app.try_update_collection(collection, &body).await;
        let want = json!({"code": code, "message": message});
        if resp.0 != 400 || resp.1["data"][key] != want {
            problems.push(format!("{collection} {body}: {} {}", resp.0, resp.1));
        }
    }
    // whatever was accepted, guests must still not see the superusers
    let leak = app.guest().list("_superusers", &[]).await;
    if leak != (403, plain_error(403, SUPERUSERS_ONLY)) {
        problems.push(format!("guest list of _superusers: {} {}", leak.0, leak.1));
    }
    if app.collection_ok("_superusers").await != before_su {
        problems.push("_superusers changed".into());
    }
    if app.collection_ok("_mfas").await != before_mfas {
        problems.push("_mfas changed".into());
    }
    if app.collection_ok("plain").await["system"] != false {
        problems.push("plain became a system collection".into());
    }
    assert!(
        problems.is_empty(),
        "accepted or wrongly reported: {problems:#?}"
    );
}

#[tokio::test]
async fn superuser_unique_indexes_cannot_be_removed() {
    // checked against PocketBase 0.40.6: dropping them is silently undone
    let app = TestApp::spawn().await;
    let before = index_names(&app.db(), "_superusers");
    assert_eq!(before.len(), 2, "{before:?}");
    let updated = app
        .update_collection("_superusers", &json!({"indexes": []}))
        .await;
    assert_eq!(
        updated["indexes"].as_array().map(Vec::len),
        Some(2),
        "{updated}"
    );
    assert_eq!(index_names(&app.db(), "_superusers"), before);
}

#[tokio::test]
async fn superuser_emails_are_unique() {
    let app = TestApp::spawn().await;
    let dup = app
        .try_create(
            "_superusers",
            &json!({"email": SU_EMAIL, "password": "another-password-1", "passwordConfirm": "another-password-1"}),
        )
        .await;
    let data = assert_error(&dup, 400, "Failed to create record.");
    assert_eq!(
        codes(&data),
        code_map(&[("email", "validation_not_unique")])
    );
    assert_eq!(app.count("_superusers").await, 1);
}

#[tokio::test]
async fn the_only_superuser_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let resp = app.delete_record("_superusers", &app.su_id).await.pair();
    assert_plain_error(&resp, 400, "You can't delete the only existing superuser.");
    assert_eq!(
        app.get("/api/settings").await.0,
        200,
        "still there and logged in"
    );
}

#[tokio::test]
async fn truncating_superusers_cannot_remove_the_last_one() {
    let app = TestApp::spawn().await;
    let resp = app.truncate("_superusers").await.pair();
    let (login, _) = app
        .guest()
        .auth_with_password("_superusers", SU_EMAIL, SU_PASSWORD)
        .await;
    assert_eq!(
        login, 200,
        "truncate deleted the only superuser (answered {resp:?})"
    );
    assert_plain_error(
        &resp,
        400,
        "Failed to truncate collection (most likely due to required cascade delete record references).",
    );
}

#[tokio::test]
async fn superusers_created_through_the_api_are_verified_and_deletable() {
    let app = TestApp::spawn().await;
    let second = app
        .create_record(
            "_superusers",
            &json!({"email": "second@example.com", "password": "second-password-1", "passwordConfirm": "second-password-1"}),
        )
        .await;
    let (status, auth) = app
        .guest()
        .auth_with_password("_superusers", "second@example.com", "second-password-1")
        .await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(
        app.delete_record("_superusers", &id_of(&second))
            .await
            .status,
        204
    );
    assert_eq!(app.count("_superusers").await, 1);
    assert_eq!(
        second["verified"], true,
        "superusers are always verified: {second}"
    );
}

#[tokio::test]
async fn a_view_query_is_tried_without_keeping_anything() {
    let app = TestApp::spawn().await;
    app.create_record(
        "users",
        &json!({"email": "ann@example.com", "password": "1234567890", "passwordConfirm": "1234567890", "name": "Ann"}),
    )
    .await;
    let url = "/api/collections/meta/dry-run-view";
    let (status, body) = app
        .post_json(
            url,
            &json!({"query": "SELECT id, name, count(*) AS total FROM users GROUP BY id"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let fields: Vec<(&str, &str)> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [("id", "text"), ("name", "text"), ("total", "number")]
    );
    let sample = body["sample"].as_array().unwrap();
    assert_eq!(sample.len(), 1, "{body}");
    assert_eq!(sample[0]["name"], "Ann");
    assert_eq!(sample[0]["total"], 1);
    let temp = sample[0]["collectionName"].as_str().unwrap();
    assert!(temp.starts_with("temp_view_"), "{temp}");
    // Nothing stays: no collection, no view in the database.
    assert_eq!(app.collection(temp).await.0, 404);
    assert_eq!(schema_object(&app.db(), temp), None);

    let (status, body) = app
        .post_json(url, &json!({"query": "SELECT 1 AS one"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "Invalid view query. Raw error: \nmissing required id column (you can use `(ROW_NUMBER() OVER()) as id` if you don't have one)."
    );
    let (status, body) = app
        .post_json(url, &json!({"query": "DELETE FROM users"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid view query. Raw error: \n"),
        "{body}"
    );
    assert_eq!(app.count("users").await, 1, "the statement did not run");
    let (status, body) = app.post_json(url, &json!({"query": ""})).await;
    assert_eq!(status, 400);
    assert_eq!(body["data"]["query"]["code"], "validation_required");
    let (status, body) = app.post_json(url, &json!({"query": 5})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            400,
            Some("An error occurred while loading the submitted data.")
        )
    );
    assert_eq!(
        app.guest()
            .post_json(url, &json!({"query": "SELECT id FROM users"}))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_sorted_page_reads_the_index_instead_of_sorting_every_match() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({
        "name": "msgs", "type": "base",
        "fields": [{"name": "room", "type": "text"}, {"name": "seq", "type": "number"}],
        "indexes": ["CREATE INDEX idx_msgs_room_seq ON msgs (room, seq)"],
    }))
    .await;
    // The renderer's ORDER BY, as a list with `filter=room='r1'&sort=-seq` sends it.
    let page = |direction: &str| {
        format!(
            r#"SELECT "id" FROM "msgs" WHERE "room" = 'r1' ORDER BY "seq" {direction} LIMIT 20"#
        )
    };
    let db = app.db();
    match app.backend() {
        Backend::Postgres => {
            db.rows(
                r#"INSERT INTO "msgs" ("id", "room", "seq") SELECT 'id' || g, 'r' || (g % 10), g FROM generate_series(1, 20000) g"#,
                &[],
            );
            db.rows(r#"ANALYZE "msgs""#, &[]);
            for direction in ["DESC NULLS LAST", "ASC NULLS FIRST"] {
                let plan = db
                    .column(&format!("EXPLAIN {}", page(direction)), &[])
                    .join("\n");
                assert!(plan.contains("Index Scan"), "{direction}: {plan}");
                assert!(!plan.contains("Sort"), "{direction} needs no sort: {plan}");
            }
        }
        Backend::Sqlite => {
            for direction in ["DESC", "ASC"] {
                let plan = db
                    .rows(&format!("EXPLAIN QUERY PLAN {}", page(direction)), &[])
                    .into_iter()
                    .map(|row| row.into_iter().flatten().collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n");
                assert!(plan.contains("idx_msgs_room_seq"), "{plan}");
                assert!(
                    !plan.contains("TEMP B-TREE"),
                    "{direction} needs no sort: {plan}"
                );
            }
        }
    }
}
