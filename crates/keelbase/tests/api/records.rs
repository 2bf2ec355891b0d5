//! Records CRUD: status codes, JSON / multipart / urlencoded bodies, value coercion, ids,
//! zero values, hidden fields, datetimes, autodates, paging and default order.

use reqwest::Method;
use reqwest::multipart::Form;
use serde_json::{Value, json};

use crate::helpers::*;

/// A relation target (t1, t2, t3) and `all`, a public collection with every field type.
struct Fixture {
    app: TestApp,
    all: Value,
    t: [String; 3],
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let target = app
        .create_collection(&json!({
            "name": "target", "listRule": "", "viewRule": "", "fields": [{"name": "name", "type": "text"}],
        }))
        .await;
    let mut t = Vec::new();
    for name in ["t1", "t2", "t3"] {
        t.push(id_of(
            &app.create_record("target", &json!({"name": name})).await,
        ));
    }
    let all = app
        .create_collection(&json!({
            "name": "all",
            "listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": "",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "body", "type": "editor"},
                {"name": "views", "type": "number"},
                {"name": "published", "type": "bool"},
                {"name": "contact", "type": "email"},
                {"name": "site", "type": "url"},
                {"name": "when", "type": "date"},
                {"name": "created", "type": "autodate", "onCreate": true},
                {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true},
                {"name": "status", "type": "select", "values": ["draft", "live"], "maxSelect": 1},
                {"name": "tags", "type": "select", "values": ["a", "b", "c", "d"], "maxSelect": 3},
                {"name": "doc", "type": "file", "maxSelect": 1},
                {"name": "docs", "type": "file", "maxSelect": 3},
                {"name": "rel", "type": "relation", "collectionId": target["id"], "maxSelect": 1},
                {"name": "rels", "type": "relation", "collectionId": target["id"], "maxSelect": 5},
                {"name": "meta", "type": "json"},
                {"name": "secret", "type": "password"},
                {"name": "loc", "type": "geoPoint"},
            ],
        }))
        .await;
    Fixture {
        app,
        all,
        t: t.try_into().unwrap(),
    }
}

#[tokio::test]
async fn create_with_one_field_fills_every_other_field_with_its_zero_value() {
    let f = fixture().await;
    let (status, r) = f.app.try_create("all", &json!({"title": "zero"})).await;
    assert_eq!(status, 200, "create answers 200, not 201: {r}");
    assert!(is_record_id(r["id"].as_str().unwrap()), "{r}");
    assert!(is_datetime(r["created"].as_str().unwrap()), "{r}");
    assert_eq!(r["updated"], r["created"]);
    let mut rest = r.clone();
    for k in ["id", "created", "updated"] {
        rest.as_object_mut().unwrap().remove(k);
    }
    assert_eq!(
        rest,
        json!({
            "collectionId": f.all["id"], "collectionName": "all",
            "title": "zero", "body": "", "views": 0, "published": false, "contact": "", "site": "",
            "when": "", "status": "", "tags": [], "doc": "", "docs": [], "rel": "", "rels": [],
            "meta": null, "secret": "", "loc": {"lon": 0, "lat": 0},
        })
    );
    // explicit zero values give the same result
    let z = f
        .app
        .create_record(
            "all",
            &json!({
                "title": "", "views": 0, "published": false, "tags": [], "meta": null,
                "loc": {"lon": 0, "lat": 0}, "when": "", "rels": [], "rel": "", "status": "",
            }),
        )
        .await;
    let got: Vec<&Value> = [
        "title",
        "views",
        "published",
        "tags",
        "meta",
        "loc",
        "when",
        "rels",
        "rel",
        "status",
    ]
    .iter()
    .map(|k| &z[*k])
    .collect();
    assert_eq!(
        got,
        [
            &json!(""),
            &json!(0),
            &json!(false),
            &json!([]),
            &Value::Null,
            &json!({"lon": 0, "lat": 0}),
            &json!(""),
            &json!([]),
            &json!(""),
            &json!("")
        ]
    );
}

#[tokio::test]
async fn create_with_every_field_set_stores_and_returns_the_values() {
    let f = fixture().await;
    let [t1, t2, _] = &f.t;
    let r = f
        .app
        .create_record(
            "all",
            &json!({
                "title": "Full one",
                "body": "<p>Hello <b>bold</b></p>",
                "views": 12.5,
                "published": true,
                "contact": "a@example.com",
                "site": "https://example.com/a?b=c",
                "when": "2024-05-06T07:08:09.123456Z",
                "status": "live",
                "tags": ["a", "b"],
                "rel": t1,
                "rels": [t2, t1],
                "meta": {"k": [1, 2], "s": "x", "n": null},
                "secret": "hunter2",
                "loc": {"lon": 23.3, "lat": 42.7},
                "created": "2000-01-01 00:00:00.000Z",
                "updated": "2000-01-01 00:00:00.000Z",
                "unknownKey": "ignored",
                "expand": {"x": 1},
                "collectionId": "pbc_1",
                "collectionName": "other",
            }),
        )
        .await;
    assert_eq!(r["title"], "Full one");
    assert_eq!(r["body"], "<p>Hello <b>bold</b></p>");
    assert_eq!(r["views"], 12.5);
    assert_eq!(r["published"], true);
    assert_eq!(r["contact"], "a@example.com");
    assert_eq!(r["site"], "https://example.com/a?b=c");
    assert_eq!(
        r["when"], "2024-05-06 07:08:09.123Z",
        "normalized to ms with a space"
    );
    assert_eq!(r["status"], "live");
    assert_eq!(r["tags"], json!(["a", "b"]));
    assert_eq!(r["rel"], t1.as_str());
    assert_eq!(r["rels"], json!([t2, t1]), "relation order is preserved");
    assert_eq!(r["meta"], json!({"k": [1, 2], "s": "x", "n": null}));
    assert_eq!(
        r["secret"], "",
        "base-collection password fields serialize as \"\""
    );
    assert_eq!(r["loc"], json!({"lon": 23.3, "lat": 42.7}));
    assert_ne!(
        r["created"], "2000-01-01 00:00:00.000Z",
        "autodate ignores client values"
    );
    assert_ne!(r["updated"], "2000-01-01 00:00:00.000Z");
    assert!(is_datetime(r["created"].as_str().unwrap()));
    assert!(r.get("unknownKey").is_none());
    assert!(r.get("expand").is_none());
    assert_eq!(r["collectionId"], f.all["id"]);
    assert_eq!(r["collectionName"], "all");
    assert_eq!(f.app.view_ok("all", &id_of(&r), &[]).await, r);
}

#[tokio::test]
async fn custom_ids_and_invalid_ids() {
    let f = fixture().await;
    let app = &f.app;
    let r = app
        .create_record(
            "all",
            &json!({"id": "customid0000001", "title": "custom id"}),
        )
        .await;
    assert_eq!(r["id"], "customid0000001");
    assert_eq!(
        app.view_ok("all", "customid0000001", &[]).await["title"],
        "custom id"
    );

    let data = assert_error(
        &app.try_create("all", &json!({"id": "short"})).await,
        400,
        "Failed to create record.",
    );
    assert_eq!(
        data,
        json!({"id": {"code": "validation_min_text_constraint", "message": "Must be at least 15 character(s).", "params": {"min": 15}}})
    );
    let data = assert_error(
        &app.try_create("all", &json!({"id": "ABCDEFGHIJKLMNO"}))
            .await,
        400,
        "Failed to create record.",
    );
    assert_eq!(
        data,
        json!({"id": {"code": "validation_invalid_format", "message": "Invalid value format."}})
    );
    let data = assert_error(
        &app.try_create("all", &json!({"id": "aaaaaaaaaaaaaaaa"}))
            .await,
        400,
        "Failed to create record.",
    );
    assert_eq!(
        codes(&data),
        code_map(&[("id", "validation_max_text_constraint")])
    );
    let data = assert_error(
        &app.try_create("all", &json!({"id": "customid0000001"}))
            .await,
        400,
        "Failed to create record.",
    );
    assert_eq!(codes(&data), code_map(&[("id", "validation_not_unique")]));
    assert_eq!(app.count("all").await, 1);
}

#[tokio::test]
async fn changing_the_id_on_update_is_rejected() {
    let f = fixture().await;
    let app = &f.app;
    let r = app.create_record("all", &json!({"title": "pk"})).await;
    let id = id_of(&r);
    let resp = app
        .try_update("all", &id, &json!({"id": "otherid00000001"}))
        .await;
    assert_eq!(
        resp,
        (
            400,
            json!({
                "data": {"id": {"code": "validation_pk_change", "message": "The record primary key cannot be changed."}},
                "message": "Failed to update record.", "status": 400,
            })
        )
    );
    assert_eq!(app.view("all", "otherid00000001", &[]).await.0, 404);
    let u = app
        .update_record("all", &id, &json!({"id": id, "title": "pk2"}))
        .await;
    assert_eq!(u["title"], "pk2");
}

#[tokio::test]
async fn date_inputs_are_normalized() {
    let f = fixture().await;
    for (input, want) in [
        (json!("2024-01-02"), "2024-01-02 00:00:00.000Z"),
        (json!("2024-01-02 10:00:00"), "2024-01-02 10:00:00.000Z"),
        (
            json!("2024-01-02T10:00:00+02:00"),
            "2024-01-02 08:00:00.000Z",
        ),
        (json!("2024-01-02 10:00:00.5Z"), "2024-01-02 10:00:00.500Z"),
        (
            json!("2024-05-06T07:08:09.123456Z"),
            "2024-05-06 07:08:09.123Z",
        ),
        (json!("garbage"), ""),
        (json!(1700000000), ""),
    ] {
        let r = f.app.create_record("all", &json!({"when": input})).await;
        assert_eq!(r["when"], want, "{input}");
    }
}

#[tokio::test]
async fn wrong_json_types_are_coerced_leniently() {
    let f = fixture().await;
    let [t1, t2, _] = &f.t;
    let cases = [
        (json!({"views": "abc"}), "views", json!(0)),
        (json!({"views": "12"}), "views", json!(12)),
        (json!({"views": true}), "views", json!(1)),
        (json!({"views": [1]}), "views", json!(0)),
        (json!({"views": null}), "views", json!(0)),
        (json!({"views": "1e3"}), "views", json!(1000)),
        (json!({"views": " 12 "}), "views", json!(0)),
        (json!({"published": "yes"}), "published", json!(false)),
        (json!({"published": "true"}), "published", json!(true)),
        (json!({"published": 1}), "published", json!(true)),
        (json!({"published": "1"}), "published", json!(true)),
        (json!({"published": "TRUE"}), "published", json!(true)),
        (json!({"title": 123}), "title", json!("123")),
        (json!({"title": true}), "title", json!("true")),
        (json!({"title": 1.5}), "title", json!("1.5")),
        (json!({"title": {"a": 1}}), "title", json!("")),
        (json!({"tags": "a"}), "tags", json!(["a"])),
        (json!({"tags": null}), "tags", json!([])),
        (json!({"status": ["live"]}), "status", json!("live")),
        (
            json!({"status": ["draft", "live"]}),
            "status",
            json!("live"),
        ),
        (json!({"rels": t1}), "rels", json!([t1])),
        (json!({"rels": null}), "rels", json!([])),
        (json!({"rel": [t1, t2]}), "rel", json!(t2)),
        (json!({"meta": "notjson"}), "meta", json!("notjson")),
        (json!({"meta": "{\"a\":1}"}), "meta", json!({"a": 1})),
        (json!({"meta": 5}), "meta", json!(5)),
        (
            json!({"loc": "{\"lon\":1,\"lat\":2}"}),
            "loc",
            json!({"lon": 1, "lat": 2}),
        ),
        (json!({"loc": "abc"}), "loc", json!({"lon": 0, "lat": 0})),
        (json!({"loc": [1, 2]}), "loc", json!({"lon": 0, "lat": 0})),
        (
            json!({"loc": {"lat": "5", "lon": "x"}}),
            "loc",
            json!({"lon": 0, "lat": 0}),
        ),
    ];
    for (body, key, want) in cases {
        let r = f.app.create_record("all", &body).await;
        assert_eq!(r[key], want, "{body}");
    }
    // a comma-separated string is not split for a multi select
    let data = assert_error(
        &f.app.try_create("all", &json!({"tags": "a,b"})).await,
        400,
        "Failed to create record.",
    );
    assert_eq!(
        data,
        json!({"tags": {"code": "validation_invalid_value", "message": "Invalid value a,b.", "params": {"value": "a,b"}}})
    );
}

#[tokio::test]
async fn body_keys_are_case_sensitive_and_duplicates_are_deduplicated() {
    let f = fixture().await;
    let [t1, _, _] = &f.t;
    let r = f
        .app
        .create_record("all", &json!({"TITLE": "upper", "Views": 3}))
        .await;
    assert_eq!((&r["title"], &r["views"]), (&json!(""), &json!(0)));
    let r = f
        .app
        .create_record("all", &json!({"tags": ["a", "a", "b"], "rels": [t1, t1]}))
        .await;
    assert_eq!(r["tags"], json!(["a", "b"]));
    assert_eq!(r["rels"], json!([t1]));
}

#[tokio::test]
async fn unknown_records_and_collections_are_404() {
    let f = fixture().await;
    let app = &f.app;
    assert_plain_error(
        &app.view("all", "nosuchrecord123", &[]).await,
        404,
        NOT_FOUND,
    );
    assert_plain_error(
        &app.try_update("all", "nosuchrecord123", &json!({"title": "x"}))
            .await,
        404,
        NOT_FOUND,
    );
    assert_plain_error(
        &app.delete_record("all", "nosuchrecord123").await.pair(),
        404,
        NOT_FOUND,
    );
    assert_plain_error(
        &app.list("nope", &[]).await,
        404,
        "Missing collection context.",
    );
    assert_plain_error(
        &app.view("nope", "abc", &[]).await,
        404,
        "Missing collection context.",
    );
    assert_plain_error(
        &app.delete_record("nope", "abc").await.pair(),
        404,
        "Missing collection context.",
    );
    assert_plain_error(
        &app.try_create("nope", &json!({})).await,
        404,
        "Missing or invalid collection context.",
    );
    assert_plain_error(
        &app.try_update("nope", "abc", &json!({})).await,
        404,
        "Missing or invalid collection context.",
    );
    // the same for guests
    assert_plain_error(
        &app.guest().list("nope", &[]).await,
        404,
        "Missing collection context.",
    );
}

#[tokio::test]
async fn records_are_addressable_through_the_collection_id() {
    let f = fixture().await;
    let id = f.all["id"].as_str().unwrap();
    let r = f.app.create_record(id, &json!({"title": "by id"})).await;
    let got = f.app.view_ok(id, &id_of(&r), &[]).await;
    assert_eq!(
        (&got["title"], &got["collectionName"]),
        (&json!("by id"), &json!("all"))
    );
    assert_eq!(f.app.list_ok(id, &[]).await["totalItems"], 1);
    // collection names are matched case-insensitively
    assert_eq!(f.app.list_ok("ALL", &[]).await["totalItems"], 1);
}

#[tokio::test]
async fn multipart_text_fields_are_inferred() {
    let f = fixture().await;
    let [t1, t2, _] = &f.t;
    let form = Form::new()
        .text("title", "Hello")
        .text("views", "12.5")
        .text("published", "true")
        .text("tags", "a")
        .text("tags", "b")
        .text("rels", t1.clone())
        .text("rels", t2.clone())
        .text("meta", "{\"k\":[1,2]}")
        .text("status", "live")
        .text("@jsonPayload", "{\"loc\":{\"lon\":23.3,\"lat\":42.7}}");
    let resp = f
        .app
        .send(
            f.app
                .request(Method::POST, "/api/collections/all/records")
                .multipart(form),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let r = resp.body;
    assert_eq!(r["title"], "Hello");
    assert_eq!(r["views"], 12.5);
    assert_eq!(r["published"], true);
    assert_eq!(r["tags"], json!(["a", "b"]));
    assert_eq!(r["rels"], json!([t1, t2]));
    assert_eq!(r["meta"], json!({"k": [1, 2]}));
    assert_eq!(r["status"], "live");
    assert_eq!(r["loc"], json!({"lon": 23.3, "lat": 42.7}));

    // multipart update, with a number-looking text value
    let form = Form::new()
        .text("title", "123")
        .text("views", "-3")
        .text("published", "false");
    let resp = f
        .app
        .send(
            f.app
                .request(
                    Method::PATCH,
                    &format!("/api/collections/all/records/{}", r["id"].as_str().unwrap()),
                )
                .multipart(form),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(
        (
            &resp.body["title"],
            &resp.body["views"],
            &resp.body["published"],
            &resp.body["tags"]
        ),
        (&json!("123"), &json!(-3), &json!(false), &json!(["a", "b"]))
    );
}

#[tokio::test]
async fn urlencoded_bodies_are_accepted_with_value_inference() {
    let f = fixture().await;
    let resp = f
        .app
        .raw_body(
            Method::POST,
            "/api/collections/all/records",
            "application/x-www-form-urlencoded",
            "title=form+body&views=7&published=true&tags=a&tags=c",
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let r = resp.body;
    assert_eq!(
        (&r["title"], &r["views"], &r["published"], &r["tags"]),
        (
            &json!("form body"),
            &json!(7),
            &json!(true),
            &json!(["a", "c"])
        )
    );
}

#[tokio::test]
async fn empty_null_and_empty_object_bodies_mean_no_data() {
    let f = fixture().await;
    for body in ["", "null", "{}"] {
        let resp = f
            .app
            .raw_body(
                Method::POST,
                "/api/collections/all/records",
                "application/json",
                body,
            )
            .await;
        assert_eq!(resp.status, 200, "{body:?}: {}", resp.text);
        assert_eq!(resp.body["title"], "");
    }
    // no content type at all
    let resp = f
        .app
        .send(f.app.request(Method::POST, "/api/collections/all/records"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(f.app.count("all").await, 4);
}

#[tokio::test]
async fn update_keeps_created_bumps_updated_and_leaves_other_fields() {
    let f = fixture().await;
    let app = &f.app;
    let r = app
        .create_record(
            "all",
            &json!({"title": "before", "views": 1, "tags": ["a"]}),
        )
        .await;
    // make sure the clock moves past the creation millisecond
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let u = app
        .update_record(
            "all",
            &id_of(&r),
            &json!({"title": "after", "views": 2, "created": "2000-01-01 00:00:00.000Z", "updated": "2000-01-01 00:00:00.000Z"}),
        )
        .await;
    assert_eq!(u["id"], r["id"]);
    assert_eq!((&u["title"], &u["views"]), (&json!("after"), &json!(2)));
    assert_eq!(
        u["tags"],
        json!(["a"]),
        "untouched fields keep their values"
    );
    assert_eq!(u["created"], r["created"]);
    assert!(is_datetime(u["updated"].as_str().unwrap()));
    assert!(
        u["updated"].as_str().unwrap() > r["updated"].as_str().unwrap(),
        "{} > {}",
        u["updated"],
        r["updated"]
    );
    assert_eq!(app.view_ok("all", &id_of(&r), &[]).await, u);
    // an empty update is fine and changes nothing but `updated`
    let again = app.update_record("all", &id_of(&r), &json!({})).await;
    assert_eq!(
        (&again["title"], &again["created"]),
        (&json!("after"), &r["created"])
    );
}

#[tokio::test]
async fn delete_answers_204_with_an_empty_body() {
    let f = fixture().await;
    let app = &f.app;
    let r = app.create_record("all", &json!({"title": "del"})).await;
    let keep = app.create_record("all", &json!({"title": "keep"})).await;
    let resp = app.delete_record("all", &id_of(&r)).await;
    assert_eq!(resp.status, 204);
    assert_eq!(resp.text, "");
    assert_plain_error(&app.view("all", &id_of(&r), &[]).await, 404, NOT_FOUND);
    assert_plain_error(
        &app.delete_record("all", &id_of(&r)).await.pair(),
        404,
        NOT_FOUND,
    );
    assert_eq!(item_ids(&app.list_ok("all", &[]).await), [id_of(&keep)]);
    assert_eq!(row_count(&app.db(), "all"), 1);
}

#[tokio::test]
async fn hidden_fields_are_only_for_superusers() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({
        "name": "notes",
        "listRule": "", "viewRule": "", "createRule": "", "updateRule": "",
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "internal", "type": "text", "hidden": true},
        ],
    }))
    .await;
    let r = app
        .create_record("notes", &json!({"title": "t", "internal": "su-only"}))
        .await;
    assert_eq!(r["internal"], "su-only", "superusers see hidden fields");
    let guest = app.guest();
    let got = guest.view_ok("notes", &id_of(&r), &[]).await;
    assert!(got.get("internal").is_none(), "{got}");
    assert_eq!(got["title"], "t");
    let list = guest.list_ok("notes", &[]).await;
    assert!(items(&list)[0].get("internal").is_none());
    // guests cannot filter or sort by a hidden field
    assert_plain_error(
        &guest
            .list("notes", &[("filter", "internal = \"su-only\"")])
            .await,
        400,
        BAD_REQUEST,
    );
    assert_plain_error(
        &guest.list("notes", &[("sort", "internal")]).await,
        400,
        BAD_REQUEST,
    );
    // and cannot write it (silently dropped)
    let (status, created) = guest
        .try_create("notes", &json!({"title": "g", "internal": "from guest"}))
        .await;
    assert_eq!(status, 200, "{created}");
    assert!(created.get("internal").is_none());
    assert_eq!(
        app.view_ok("notes", &id_of(&created), &[]).await["internal"],
        ""
    );
    let (status, _) = guest
        .try_update("notes", &id_of(&r), &json!({"internal": "overwritten"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.view_ok("notes", &id_of(&r), &[]).await["internal"],
        "su-only"
    );
    // superusers can filter by it
    assert_eq!(
        app.ids_where("notes", "internal = \"su-only\"").await,
        [id_of(&r)]
    );
}

async fn paging_fixture() -> (TestApp, Vec<String>) {
    let app = TestApp::spawn().await;
    app.create_collection(
        &json!({"name": "paging", "listRule": "", "fields": [{"name": "n", "type": "number"}]}),
    )
    .await;
    let mut ids = Vec::new();
    // inserted out of numeric order, so rowid order and `n` order differ
    for n in [3, 1, 7, 2, 6, 4, 5] {
        ids.push(id_of(&app.create_record("paging", &json!({"n": n})).await));
    }
    (app, ids)
}

#[tokio::test]
async fn list_paging_reports_totals_and_slices() {
    let (app, _) = paging_fixture().await;
    let p1 = app
        .list_ok("paging", &[("page", "1"), ("perPage", "3"), ("sort", "n")])
        .await;
    assert_eq!(
        sorted_keys(&p1),
        ["items", "page", "perPage", "totalItems", "totalPages"]
    );
    assert_eq!(
        (
            &p1["page"],
            &p1["perPage"],
            &p1["totalItems"],
            &p1["totalPages"]
        ),
        (&json!(1), &json!(3), &json!(7), &json!(3))
    );
    assert_eq!(pluck(&p1, "n"), [json!(1), json!(2), json!(3)]);
    let p3 = app
        .list_ok("paging", &[("page", "3"), ("perPage", "3"), ("sort", "n")])
        .await;
    assert_eq!(
        (&p3["page"], &p3["totalItems"], &p3["totalPages"]),
        (&json!(3), &json!(7), &json!(3))
    );
    assert_eq!(pluck(&p3, "n"), [json!(7)]);
    let p9 = app
        .list_ok("paging", &[("page", "9"), ("perPage", "3"), ("sort", "n")])
        .await;
    assert_eq!(
        p9,
        json!({"page": 9, "perPage": 3, "totalItems": 7, "totalPages": 3, "items": []})
    );
}

#[tokio::test]
async fn list_defaults_and_fallbacks() {
    let (app, ids) = paging_fixture().await;
    let d = app.list_ok("paging", &[]).await;
    assert_eq!(
        (
            &d["page"],
            &d["perPage"],
            &d["totalItems"],
            &d["totalPages"]
        ),
        (&json!(1), &json!(30), &json!(7), &json!(1))
    );
    assert_eq!(item_ids(&d), ids, "without sort: insertion order");
    assert_eq!(
        pluck(&d, "n"),
        [
            json!(3),
            json!(1),
            json!(7),
            json!(2),
            json!(6),
            json!(4),
            json!(5)
        ]
    );
    for (page, per_page) in [("0", "0"), ("-1", "-5")] {
        let l = app
            .list_ok("paging", &[("page", page), ("perPage", per_page)])
            .await;
        assert_eq!(
            (&l["page"], &l["perPage"], items(&l).len()),
            (&json!(1), &json!(30), 7)
        );
    }
    let l = app.list_ok("paging", &[("perPage", "5000")]).await;
    assert_eq!(
        (&l["perPage"], items(&l).len()),
        (&json!(1000), 7),
        "perPage is clamped to 1000"
    );
    let l = app.list_ok("paging", &[("perPage", "1000")]).await;
    assert_eq!(l["perPage"], 1000);
}

#[tokio::test]
async fn skip_total_returns_minus_one() {
    let (app, _) = paging_fixture().await;
    let l = app
        .list_ok(
            "paging",
            &[
                ("page", "2"),
                ("perPage", "2"),
                ("skipTotal", "1"),
                ("sort", "n"),
            ],
        )
        .await;
    assert_eq!(
        (
            &l["page"],
            &l["perPage"],
            &l["totalItems"],
            &l["totalPages"]
        ),
        (&json!(2), &json!(2), &json!(-1), &json!(-1))
    );
    assert_eq!(pluck(&l, "n"), [json!(3), json!(4)]);
    for v in ["true", "t", "TRUE"] {
        assert_eq!(
            app.list_ok("paging", &[("skipTotal", v)]).await["totalItems"],
            -1,
            "{v}"
        );
    }
    for v in ["false", "0", ""] {
        assert_eq!(
            app.list_ok("paging", &[("skipTotal", v)]).await["totalItems"],
            7,
            "{v}"
        );
    }
    // an empty collection: 0 and 0
    app.create_collection(&json!({"name": "empty", "fields": []}))
        .await;
    let l = app.list_ok("empty", &[]).await;
    assert_eq!(
        (&l["totalItems"], &l["totalPages"], &l["items"]),
        (&json!(0), &json!(0), &json!([]))
    );
}

#[tokio::test]
async fn invalid_paging_parameters_are_400() {
    let (app, _) = paging_fixture().await;
    for q in [
        [("page", "abc")],
        [("perPage", "1.5")],
        [("skipTotal", "yes")],
        [("page", "1e2")],
    ] {
        assert_plain_error(&app.list("paging", &q).await, 400, BAD_REQUEST);
    }
}

#[tokio::test]
async fn datetimes_use_the_pocketbase_layout() {
    let f = fixture().await;
    let r = f
        .app
        .create_record("all", &json!({"when": "2024-01-02T03:04:05Z"}))
        .await;
    for key in ["created", "updated", "when"] {
        let v = r[key].as_str().unwrap();
        assert!(is_datetime(v), "{key} = {v}");
    }
    let col = f.app.collection_ok("all").await;
    assert!(is_datetime(col["created"].as_str().unwrap()));
    // created is "now" (UTC): compare the date part with the server-side @todayStart filter
    let ids = f
        .app
        .ids_where("all", "created >= @todayStart && created <= @now")
        .await;
    assert_eq!(ids, [id_of(&r)]);
}
