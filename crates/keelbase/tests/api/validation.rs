//! Record field validation: codes, messages, params, and "required" on zero values.

use serde_json::{Value, json};

use crate::helpers::*;

struct Fixture {
    app: TestApp,
    t: [String; 3],
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let target = app
        .create_collection(
            &json!({"name": "vtarget", "fields": [{"name": "name", "type": "text"}]}),
        )
        .await;
    let mut t = Vec::new();
    for name in ["t1", "t2", "t3"] {
        t.push(id_of(
            &app.create_record("vtarget", &json!({"name": name})).await,
        ));
    }
    app.create_collection(&json!({
        "name": "val",
        "fields": [
            {"name": "req", "type": "text", "required": true},
            {"name": "txt", "type": "text", "min": 3, "max": 5, "pattern": "^[a-z]+$"},
            {"name": "num", "type": "number", "min": 1, "max": 10, "onlyInt": true},
            {"name": "mail", "type": "email", "onlyDomains": ["ok.test"]},
            {"name": "mail2", "type": "email", "exceptDomains": ["bad.test"]},
            {"name": "link", "type": "url"},
            {"name": "link2", "type": "url", "onlyDomains": ["ok.test"]},
            {"name": "sel", "type": "select", "values": ["x", "y"], "maxSelect": 1},
            {"name": "msel", "type": "select", "values": ["x", "y", "z"], "maxSelect": 2},
            {"name": "rel", "type": "relation", "collectionId": target["id"], "maxSelect": 1},
            {"name": "rels", "type": "relation", "collectionId": target["id"], "maxSelect": 2},
            {"name": "js", "type": "json", "maxSize": 20},
            {"name": "dt", "type": "date", "min": "2020-01-01 00:00:00.000Z", "max": "2030-01-01 00:00:00.000Z"},
            {"name": "geo", "type": "geoPoint"},
            {"name": "ed", "type": "editor", "maxSize": 10},
            {"name": "pw", "type": "password", "min": 4},
        ],
    }))
    .await;
    Fixture {
        app,
        t: t.try_into().unwrap(),
    }
}

fn one(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message})
}

fn with_params(code: &str, message: &str, params: Value) -> Value {
    json!({"code": code, "message": message, "params": params})
}

impl Fixture {
    /// Create in `val` with `req` set; expect 400 "Failed to create record." and return `data`.
    async fn fails(&self, body: Value) -> Value {
        let mut full = json!({"req": "r"});
        for (k, v) in body.as_object().unwrap() {
            full[k] = v.clone();
        }
        let resp = self.app.try_create("val", &full).await;
        assert_error(&resp, 400, "Failed to create record.")
    }

    async fn ok(&self, body: Value) -> Value {
        let mut full = json!({"req": "r"});
        for (k, v) in body.as_object().unwrap() {
            full[k] = v.clone();
        }
        self.app.create_record("val", &full).await
    }
}

#[tokio::test]
async fn required_text() {
    let f = fixture().await;
    for body in [json!({}), json!({"req": ""}), json!({"req": null})] {
        let resp = f.app.try_create("val", &body).await;
        assert_eq!(
            resp,
            (
                400,
                json!({"data": {"req": one("validation_required", "Cannot be blank.")}, "message": "Failed to create record.", "status": 400})
            ),
            "{body}"
        );
    }
    // whitespace is not blank
    let r = f.app.create_record("val", &json!({"req": "   "})).await;
    assert_eq!(r["req"], "   ");
    assert_eq!(f.app.count("val").await, 1, "failed creates stored nothing");
}

#[tokio::test]
async fn text_min_max_pattern() {
    let f = fixture().await;
    assert_eq!(
        f.fails(json!({"txt": "ab"})).await,
        json!({"txt": with_params("validation_min_text_constraint", "Must be at least 3 character(s).", json!({"min": 3}))})
    );
    assert_eq!(
        f.fails(json!({"txt": "abcdef"})).await,
        json!({"txt": with_params("validation_max_text_constraint", "Must be no more than 5 character(s).", json!({"max": 5}))})
    );
    assert_eq!(
        f.fails(json!({"txt": "ABC"})).await,
        json!({"txt": one("validation_invalid_format", "Invalid value format.")})
    );
    assert_eq!(f.ok(json!({"txt": "abc"})).await["txt"], "abc");
    // an empty non-required text skips min and pattern
    assert_eq!(f.ok(json!({"txt": ""})).await["txt"], "");
}

#[tokio::test]
async fn text_default_max_is_5000_characters_not_bytes() {
    let f = fixture().await;
    let resp = f
        .app
        .try_create("vtarget", &json!({"name": "x".repeat(5001)}))
        .await;
    let data = assert_error(&resp, 400, "Failed to create record.");
    assert_eq!(
        data,
        json!({"name": with_params("validation_max_text_constraint", "Must be no more than 5000 character(s).", json!({"max": 5000}))})
    );
    let ok = f
        .app
        .create_record("vtarget", &json!({"name": "é".repeat(5000)}))
        .await;
    assert_eq!(ok["name"].as_str().unwrap().chars().count(), 5000);
}

#[tokio::test]
async fn number_min_max_only_int() {
    let f = fixture().await;
    assert_eq!(
        f.fails(json!({"num": -1})).await,
        json!({"num": with_params("validation_min_number_constraint", "Must be greater or equal than 1.", json!({"min": 1}))})
    );
    assert_eq!(
        f.fails(json!({"num": 11})).await,
        json!({"num": with_params("validation_max_number_constraint", "Must be less or equal than 10.", json!({"max": 10}))})
    );
    assert_eq!(
        f.fails(json!({"num": 2.5})).await,
        json!({"num": one("validation_only_int_constraint", "Decimal numbers are not allowed.")})
    );
    // onlyInt is checked before min
    assert_eq!(
        f.fails(json!({"num": 0.5})).await,
        json!({"num": one("validation_only_int_constraint", "Decimal numbers are not allowed.")})
    );
    // a non-required zero skips min
    assert_eq!(f.ok(json!({"num": 0})).await["num"], 0);
    assert_eq!(f.ok(json!({"num": 10})).await["num"], 10);
}

#[tokio::test]
async fn email_and_url_formats_and_domains() {
    let f = fixture().await;
    assert_eq!(
        f.fails(json!({"mail": "nope"})).await,
        json!({"mail": one("validation_is_email", "Must be a valid email address.")})
    );
    assert_eq!(
        f.fails(json!({"mail": "a@other.test"})).await,
        json!({"mail": one("validation_email_domain_not_allowed", "Email domain is not allowed.")})
    );
    assert_eq!(
        f.fails(json!({"mail2": "a@bad.test"})).await,
        json!({"mail2": one("validation_email_domain_not_allowed", "Email domain is not allowed.")})
    );
    assert_eq!(
        f.ok(json!({"mail": "a@ok.test", "mail2": "b@fine.test"}))
            .await["mail"],
        "a@ok.test"
    );
    assert_eq!(
        f.fails(json!({"link": "nope"})).await,
        json!({"link": one("validation_invalid_url", "Must be a valid url.")})
    );
    assert_eq!(
        f.fails(json!({"link2": "https://other.test/x"})).await,
        json!({"link2": one("validation_url_domain_not_allowed", "Url domain is not allowed.")})
    );
    assert_eq!(
        f.ok(json!({"link": "ftp://x.test"})).await["link"],
        "ftp://x.test",
        "any scheme"
    );
    assert_eq!(
        f.ok(json!({"link2": "https://ok.test/a"})).await["link2"],
        "https://ok.test/a"
    );
}

#[tokio::test]
async fn select_values_and_counts() {
    let f = fixture().await;
    assert_eq!(
        f.fails(json!({"sel": "q"})).await,
        json!({"sel": with_params("validation_invalid_value", "Invalid value q.", json!({"value": "q"}))})
    );
    assert_eq!(
        f.fails(json!({"msel": ["x", "q"]})).await,
        json!({"msel": with_params("validation_invalid_value", "Invalid value q.", json!({"value": "q"}))})
    );
    assert_eq!(
        f.fails(json!({"msel": ["x", "y", "z"]})).await,
        json!({"msel": with_params("validation_too_many_values", "Select no more than 2.", json!({"maxSelect": 2}))})
    );
    assert_eq!(
        f.ok(json!({"sel": ["x", "y"]})).await["sel"],
        "y",
        "a single select keeps the last value"
    );
}

#[tokio::test]
async fn relation_missing_records_and_counts() {
    let f = fixture().await;
    let [t1, t2, t3] = &f.t;
    let missing = one(
        "validation_missing_rel_records",
        "Failed to find all relation records with the provided ids.",
    );
    assert_eq!(
        f.fails(json!({"rel": "aaaaaaaaaaaaaaa"})).await,
        json!({"rel": missing})
    );
    assert_eq!(
        f.fails(json!({"rels": [t1, "aaaaaaaaaaaaaaa"]})).await,
        json!({"rels": missing})
    );
    assert_eq!(
        f.fails(json!({"rels": [t1, t2, t3]})).await,
        json!({"rels": with_params("validation_too_many_values", "Select no more than 2.", json!({"maxSelect": 2}))})
    );
    // duplicates collapse before the maxSelect check
    assert_eq!(
        f.ok(json!({"rels": [t1, t1, t1]})).await["rels"],
        json!([t1])
    );
}

#[tokio::test]
async fn json_editor_date_geo_password_limits() {
    let f = fixture().await;
    assert_eq!(
        f.fails(json!({"js": {"a": "x".repeat(50)}})).await,
        json!({"js": with_params("validation_json_size_limit", "The maximum allowed JSON size is 20 bytes.", json!({"maxSize": 20}))})
    );
    assert_eq!(f.ok(json!({"js": [1, 2, 3]})).await["js"], json!([1, 2, 3]));
    assert_eq!(
        f.fails(json!({"ed": "x".repeat(20)})).await,
        json!({"ed": with_params("validation_content_size_limit", "The maximum allowed content size is 10 bytes.", json!({"maxSize": 10}))})
    );
    assert_eq!(
        f.fails(json!({"dt": "2019-01-01 00:00:00.000Z"})).await,
        json!({"dt": with_params("validation_min_greater_equal_than_required", "Must be no less than 2020-01-01 00:00:00 +0000 UTC.", json!({"threshold": "2020-01-01T00:00:00Z"}))})
    );
    assert_eq!(
        f.fails(json!({"dt": "2031-01-01 00:00:00.000Z"})).await,
        json!({"dt": with_params("validation_max_less_equal_than_required", "Must be no greater than 2030-01-01 00:00:00 +0000 UTC.", json!({"threshold": "2030-01-01T00:00:00Z"}))})
    );
    assert_eq!(
        f.ok(json!({"dt": "2025-01-01"})).await["dt"],
        "2025-01-01 00:00:00.000Z"
    );
    let lat = one(
        "validation_invalid_latitude",
        "Latitude must be between -90 and 90 degrees.",
    );
    assert_eq!(
        f.fails(json!({"geo": {"lon": 0, "lat": 91}})).await,
        json!({"geo": lat})
    );
    assert_eq!(
        f.fails(json!({"geo": {"lon": -181, "lat": 0}})).await,
        json!({"geo": one("validation_invalid_longitude", "Longitude must be between -180 and 180 degrees.")})
    );
    assert_eq!(
        f.fails(json!({"geo": {"lon": 200, "lat": -100}})).await,
        json!({"geo": lat}),
        "only latitude"
    );
    assert_eq!(
        f.ok(json!({"geo": {"lon": 180, "lat": -90}})).await["geo"],
        json!({"lon": 180, "lat": -90})
    );
    assert_eq!(
        f.fails(json!({"pw": "abc"})).await,
        json!({"pw": one("validation_min_text_constraint", "Must be at least 4 character(s).")}),
        "password errors carry no params"
    );
    assert_eq!(f.ok(json!({"pw": "abcd"})).await["pw"], "");
}

#[tokio::test]
async fn several_errors_are_reported_together_and_update_uses_its_own_message() {
    let f = fixture().await;
    let resp = f
        .app
        .try_create("val", &json!({"txt": "A", "num": 100, "mail": "x"}))
        .await;
    let data = assert_error(&resp, 400, "Failed to create record.");
    assert_eq!(
        codes(&data),
        code_map(&[
            ("mail", "validation_is_email"),
            ("num", "validation_max_number_constraint"),
            ("req", "validation_required"),
            ("txt", "validation_min_text_constraint"),
        ])
    );
    let r = f.ok(json!({})).await;
    let resp = f
        .app
        .try_update("val", &id_of(&r), &json!({"req": "", "num": 1.5}))
        .await;
    assert_eq!(
        resp,
        (
            400,
            json!({
                "data": {
                    "num": one("validation_only_int_constraint", "Decimal numbers are not allowed."),
                    "req": one("validation_required", "Cannot be blank."),
                },
                "message": "Failed to update record.",
                "status": 400,
            })
        )
    );
    // nothing was written by the failed update; a valid partial update keeps the rest
    let got = f.app.view_ok("val", &id_of(&r), &[]).await;
    assert_eq!((&got["req"], &got["num"]), (&json!("r"), &json!(0)));
    let u = f
        .app
        .update_record("val", &id_of(&r), &json!({"num": 3}))
        .await;
    assert_eq!((&u["num"], &u["req"]), (&json!(3), &json!("r")));
}

async fn required_fixture() -> Fixture {
    let f = fixture().await;
    let target = f.app.collection_ok("vtarget").await;
    f.app
        .create_collection(&json!({
            "name": "reqz",
            "fields": [
                {"name": "n", "type": "number", "required": true},
                {"name": "b", "type": "bool", "required": true},
                {"name": "j", "type": "json", "required": true},
                {"name": "d", "type": "date", "required": true},
                {"name": "g", "type": "geoPoint", "required": true},
                {"name": "s", "type": "select", "values": ["x"], "required": true},
                {"name": "r", "type": "relation", "collectionId": target["id"], "required": true, "maxSelect": 2},
                {"name": "e", "type": "email", "required": true},
                {"name": "u", "type": "url", "required": true},
                {"name": "ed", "type": "editor", "required": true},
            ],
        }))
        .await;
    f
}

fn full(t1: &str, patch: Value) -> Value {
    let mut v = json!({
        "n": 1, "b": true, "j": 1, "d": "2024-01-01", "g": {"lon": 1, "lat": 1}, "s": "x",
        "r": [t1], "e": "a@b.co", "u": "https://x.test", "ed": "x",
    });
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[tokio::test]
async fn zero_values_of_every_type_are_blank_for_required_fields() {
    let f = required_fixture().await;
    let resp = f
        .app
        .try_create(
            "reqz",
            &json!({"n": 0, "b": false, "j": null, "d": "", "g": {"lon": 0, "lat": 0}, "s": "", "r": [], "e": "", "u": "", "ed": ""}),
        )
        .await;
    let data = assert_error(&resp, 400, "Failed to create record.");
    let want: Vec<(&str, &str)> = ["b", "d", "e", "ed", "g", "j", "n", "r", "s", "u"]
        .iter()
        .map(|k| (*k, "validation_required"))
        .collect();
    assert_eq!(codes(&data), code_map(&want));
    // a full valid body passes
    f.app.create_record("reqz", &full(&f.t[0], json!({}))).await;
}

#[tokio::test]
async fn required_bool_number_json_geo_semantics() {
    let f = required_fixture().await;
    let t1 = &f.t[0];
    let only = |resp: &(u16, Value), key: &str| {
        let data = assert_error(resp, 400, "Failed to create record.");
        assert_eq!(sorted_keys(&data), [key], "{data}");
    };
    only(
        &f.app
            .try_create("reqz", &full(t1, json!({"b": false})))
            .await,
        "b",
    );
    only(
        &f.app.try_create("reqz", &full(t1, json!({"n": 0}))).await,
        "n",
    );
    assert_eq!(
        f.app
            .create_record("reqz", &full(t1, json!({"n": -1})))
            .await["n"],
        -1
    );
    for j in [Value::Null, json!(""), json!({}), json!([])] {
        only(
            &f.app.try_create("reqz", &full(t1, json!({"j": j}))).await,
            "j",
        );
    }
    for j in [json!(0), json!(false), json!("x"), json!([0])] {
        assert_eq!(
            f.app
                .create_record("reqz", &full(t1, json!({"j": j})))
                .await["j"],
            j
        );
    }
    only(
        &f.app
            .try_create("reqz", &full(t1, json!({"g": {"lon": 0, "lat": 0}})))
            .await,
        "g",
    );
    assert_eq!(
        f.app
            .create_record("reqz", &full(t1, json!({"g": {"lon": 0, "lat": 1}})))
            .await["g"],
        json!({"lon": 0, "lat": 1})
    );
}
