//! Value modifiers (`+field`, `field+`, `field-`) and what deleting a referenced record does
//! (cascade, required references, cleanup of optional ones).

use serde_json::{Value, json};

use crate::helpers::*;

struct Fixture {
    app: TestApp,
    t: [String; 3],
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let target = app
        .create_collection(&json!({"name": "target", "fields": [{"name": "name", "type": "text"}]}))
        .await;
    let mut t = Vec::new();
    for name in ["t1", "t2", "t3"] {
        t.push(id_of(
            &app.create_record("target", &json!({"name": name})).await,
        ));
    }
    app.create_collection(&json!({
        "name": "m",
        "fields": [
            {"name": "views", "type": "number"},
            {"name": "status", "type": "select", "values": ["draft", "live"], "maxSelect": 1},
            {"name": "tags", "type": "select", "values": ["a", "b", "c", "d"], "maxSelect": 3},
            {"name": "rel", "type": "relation", "collectionId": target["id"], "maxSelect": 1},
            {"name": "rels", "type": "relation", "collectionId": target["id"], "maxSelect": 5},
        ],
    }))
    .await;
    Fixture {
        app,
        t: t.try_into().unwrap(),
    }
}

impl Fixture {
    async fn update(&self, id: &str, body: Value) -> Value {
        self.app.update_record("m", id, &body).await
    }
}

#[tokio::test]
async fn multi_select_append_prepend_remove() {
    let f = fixture().await;
    let id = id_of(&f.app.create_record("m", &json!({"tags": ["b"]})).await);
    assert_eq!(
        f.update(&id, json!({"tags+": "c"})).await["tags"],
        json!(["b", "c"])
    );
    assert_eq!(
        f.update(&id, json!({"+tags": "a"})).await["tags"],
        json!(["a", "b", "c"])
    );
    assert_eq!(
        f.update(&id, json!({"tags-": "b"})).await["tags"],
        json!(["a", "c"])
    );
    assert_eq!(
        f.update(&id, json!({"tags+": "a"})).await["tags"],
        json!(["a", "c"]),
        "no duplicate"
    );
    assert_eq!(
        f.update(&id, json!({"tags-": ["a", "zz"]})).await["tags"],
        json!(["c"]),
        "unknown removals ignored"
    );
    assert_eq!(
        f.update(&id, json!({"tags+": ["a", "d"]})).await["tags"],
        json!(["c", "a", "d"])
    );

    let resp = f.app.try_update("m", &id, &json!({"tags+": "b"})).await;
    let data = assert_error(&resp, 400, "Failed to update record.");
    assert_eq!(
        data,
        json!({"tags": {"code": "validation_too_many_values", "message": "Select no more than 3.", "params": {"maxSelect": 3}}})
    );
    let resp = f
        .app
        .try_update("m", &id, &json!({"tags-": "c", "tags+": "zz"}))
        .await;
    let data = assert_error(&resp, 400, "Failed to update record.");
    assert_eq!(
        codes(&data),
        code_map(&[("tags", "validation_invalid_value")])
    );
    assert_eq!(
        f.app.view_ok("m", &id, &[]).await["tags"],
        json!(["c", "a", "d"]),
        "failed updates change nothing"
    );

    // the plain key is applied before the (longer) modifier key
    assert_eq!(
        f.update(&id, json!({"tags": ["a"], "tags+": "b"})).await["tags"],
        json!(["a", "b"])
    );
    assert_eq!(
        f.update(&id, json!({"tags": ["a", "b"], "tags-": "a"}))
            .await["tags"],
        json!(["b"])
    );
}

#[tokio::test]
async fn single_select_modifiers_replace_and_clear() {
    let f = fixture().await;
    let id = id_of(&f.app.create_record("m", &json!({})).await);
    assert_eq!(
        f.update(&id, json!({"status+": "draft"})).await["status"],
        "draft"
    );
    assert_eq!(
        f.update(&id, json!({"status+": "live"})).await["status"],
        "live"
    );
    assert_eq!(
        f.update(&id, json!({"status-": "live"})).await["status"],
        ""
    );
}

#[tokio::test]
async fn number_add_and_subtract() {
    let f = fixture().await;
    let id = id_of(&f.app.create_record("m", &json!({"views": 10})).await);
    assert_eq!(f.update(&id, json!({"views+": 5})).await["views"], 15);
    assert_eq!(f.update(&id, json!({"views-": 2.5})).await["views"], 12.5);
    assert_eq!(f.update(&id, json!({"views-": "3"})).await["views"], 9.5);
    assert_eq!(
        f.update(&id, json!({"views": 10, "views+": 5, "views-": 1}))
            .await["views"],
        14
    );
}

#[tokio::test]
async fn relation_modifiers() {
    let f = fixture().await;
    let [t1, t2, t3] = &f.t;
    let id = id_of(&f.app.create_record("m", &json!({"rels": [t1]})).await);
    assert_eq!(
        f.update(&id, json!({"rels+": t2})).await["rels"],
        json!([t1, t2])
    );
    assert_eq!(
        f.update(&id, json!({"+rels": [t3]})).await["rels"],
        json!([t3, t1, t2])
    );
    assert_eq!(
        f.update(&id, json!({"rels-": [t1, t3]})).await["rels"],
        json!([t2])
    );
    let resp = f
        .app
        .try_update("m", &id, &json!({"rels+": "aaaaaaaaaaaaaaa"}))
        .await;
    let data = assert_error(&resp, 400, "Failed to update record.");
    assert_eq!(
        codes(&data),
        code_map(&[("rels", "validation_missing_rel_records")])
    );
    assert_eq!(f.update(&id, json!({"rel+": t1})).await["rel"], t1.as_str());
    assert_eq!(f.update(&id, json!({"rel-": t1})).await["rel"], "");
}

#[tokio::test]
async fn modifiers_work_on_create() {
    let f = fixture().await;
    let [t1, _, _] = &f.t;
    let r = f
        .app
        .create_record(
            "m",
            &json!({"tags+": "a", "views+": 3, "rels+": t1, "+tags": "b"}),
        )
        .await;
    assert_eq!(r["tags"], json!(["b", "a"]));
    assert_eq!(r["views"], 3);
    assert_eq!(r["rels"], json!([t1]));
}

async fn parent(app: &TestApp) -> Value {
    app.create_collection(&json!({"name": "parent", "fields": [{"name": "name", "type": "text"}]}))
        .await
}

#[tokio::test]
async fn cascade_delete_removes_referencing_records() {
    let app = TestApp::spawn().await;
    let p = parent(&app).await;
    app.create_collection(&json!({"name": "casc", "fields": [{"name": "p", "type": "relation", "collectionId": p["id"], "maxSelect": 1, "cascadeDelete": true}]}))
        .await;
    app.create_collection(&json!({"name": "cascm", "fields": [{"name": "ps", "type": "relation", "collectionId": p["id"], "maxSelect": 5, "cascadeDelete": true}]}))
        .await;
    // a second level: grandchildren cascade from casc
    let casc = app.collection_ok("casc").await;
    app.create_collection(&json!({"name": "grand", "fields": [{"name": "c", "type": "relation", "collectionId": casc["id"], "maxSelect": 1, "cascadeDelete": true}]}))
        .await;
    let a = id_of(&app.create_record("parent", &json!({"name": "a"})).await);
    let b = id_of(&app.create_record("parent", &json!({"name": "b"})).await);
    let c1 = id_of(&app.create_record("casc", &json!({"p": a})).await);
    let c2 = id_of(&app.create_record("casc", &json!({"p": b})).await);
    let m1 = id_of(&app.create_record("cascm", &json!({"ps": [a, b]})).await);
    let m2 = id_of(&app.create_record("cascm", &json!({"ps": [a]})).await);
    let g1 = id_of(&app.create_record("grand", &json!({"c": c1})).await);
    let g2 = id_of(&app.create_record("grand", &json!({"c": c2})).await);

    assert_eq!(app.delete_record("parent", &a).await.status, 204);
    assert_eq!(
        item_ids(&app.list_ok("casc", &[]).await),
        std::slice::from_ref(&c2)
    );
    assert_plain_error(&app.view("casc", &c1, &[]).await, 404, NOT_FOUND);
    let rest = app.list_ok("cascm", &[]).await;
    assert_eq!(item_ids(&rest), std::slice::from_ref(&m1));
    assert_eq!(
        items(&rest)[0]["ps"],
        json!([b]),
        "the multiple relation only loses the id"
    );
    assert_plain_error(&app.view("cascm", &m2, &[]).await, 404, NOT_FOUND);
    assert_eq!(
        item_ids(&app.list_ok("grand", &[]).await),
        [g2],
        "cascade is recursive"
    );
    assert_eq!(app.view("grand", &g1, &[]).await.0, 404);
    assert_eq!(row_count(&app.db(), "casc"), 1);
}

#[tokio::test]
async fn a_required_reference_blocks_the_delete() {
    let app = TestApp::spawn().await;
    let p = parent(&app).await;
    app.create_collection(&json!({"name": "reqd", "fields": [{"name": "p", "type": "relation", "collectionId": p["id"], "maxSelect": 1, "required": true}]}))
        .await;
    // an optional cascade reference to the same parent must not be deleted by the failed attempt
    app.create_collection(&json!({"name": "casc", "fields": [{"name": "p", "type": "relation", "collectionId": p["id"], "maxSelect": 1, "cascadeDelete": true}]}))
        .await;
    let a = id_of(
        &app.create_record("parent", &json!({"name": "blocked"}))
            .await,
    );
    let r = id_of(&app.create_record("reqd", &json!({"p": a})).await);
    let c = id_of(&app.create_record("casc", &json!({"p": a})).await);
    let resp = app.delete_record("parent", &a).await.pair();
    assert_plain_error(
        &resp,
        400,
        "Failed to delete record. Make sure that the record is not part of a required relation reference.",
    );
    assert_eq!(app.view_ok("parent", &a, &[]).await["name"], "blocked");
    assert_eq!(app.view_ok("reqd", &r, &[]).await["p"], a.as_str());
    assert_eq!(
        app.view_ok("casc", &c, &[]).await["p"],
        a.as_str(),
        "the whole delete was rolled back"
    );
    assert_eq!(app.delete_record("reqd", &r).await.status, 204);
    assert_eq!(app.delete_record("parent", &a).await.status, 204);
    assert_eq!(app.count("casc").await, 0);
}

#[tokio::test]
async fn a_required_multiple_relation_loses_the_id_until_it_would_be_empty() {
    let app = TestApp::spawn().await;
    let p = parent(&app).await;
    app.create_collection(&json!({"name": "reqm", "fields": [{"name": "ps", "type": "relation", "collectionId": p["id"], "maxSelect": 5, "required": true}]}))
        .await;
    let a = id_of(&app.create_record("parent", &json!({"name": "ra"})).await);
    let b = id_of(&app.create_record("parent", &json!({"name": "rb"})).await);
    let r = id_of(&app.create_record("reqm", &json!({"ps": [a, b]})).await);
    assert_eq!(app.delete_record("parent", &a).await.status, 204);
    assert_eq!(app.view_ok("reqm", &r, &[]).await["ps"], json!([b]));
    let resp = app.delete_record("parent", &b).await.pair();
    assert_plain_error(
        &resp,
        400,
        "Failed to delete record. Make sure that the record is not part of a required relation reference.",
    );
    assert_eq!(app.view_ok("reqm", &r, &[]).await["ps"], json!([b]));
}

#[tokio::test]
async fn optional_references_are_cleaned_up() {
    let app = TestApp::spawn().await;
    let p = parent(&app).await;
    app.create_collection(&json!({"name": "multi", "fields": [{"name": "ps", "type": "relation", "collectionId": p["id"], "maxSelect": 5}]}))
        .await;
    app.create_collection(&json!({"name": "single", "fields": [{"name": "p", "type": "relation", "collectionId": p["id"], "maxSelect": 1}]}))
        .await;
    let a = id_of(&app.create_record("parent", &json!({"name": "na"})).await);
    let b = id_of(&app.create_record("parent", &json!({"name": "nb"})).await);
    let m = id_of(&app.create_record("multi", &json!({"ps": [a, b]})).await);
    let m0 = id_of(&app.create_record("multi", &json!({"ps": [a]})).await);
    let s = id_of(&app.create_record("single", &json!({"p": a})).await);
    let s2 = id_of(&app.create_record("single", &json!({"p": b})).await);
    assert_eq!(app.delete_record("parent", &a).await.status, 204);
    assert_eq!(app.view_ok("multi", &m, &[]).await["ps"], json!([b]));
    assert_eq!(
        app.view_ok("multi", &m0, &[]).await["ps"],
        json!([]),
        "kept with an empty relation"
    );
    assert_eq!(app.view_ok("single", &s, &[]).await["p"], "");
    assert_eq!(app.view_ok("single", &s2, &[]).await["p"], b.as_str());
    // no dangling ids are left in the database either
    let stored = app.db().column("SELECT ps FROM multi", &[]);
    assert_eq!(stored.len(), 2);
    for ps in stored {
        let ids: Vec<String> = serde_json::from_str(&ps).expect("a JSON array of ids");
        assert!(!ids.contains(&a), "{a} is still referenced by {ps}");
    }
}

#[tokio::test]
async fn self_relations_cascade_without_looping() {
    let app = TestApp::spawn().await;
    let c = app
        .create_collection(&json!({"name": "nodes", "fields": [{"name": "name", "type": "text"}]}))
        .await;
    app.update_collection(
        "nodes",
        &json!({"fields": [
            {"name": "name", "type": "text"},
            {"name": "parent", "type": "relation", "collectionId": c["id"], "maxSelect": 1, "cascadeDelete": true},
        ]}),
    )
    .await;
    let root = id_of(&app.create_record("nodes", &json!({"name": "root"})).await);
    let child = id_of(
        &app.create_record("nodes", &json!({"name": "child", "parent": root}))
            .await,
    );
    app.create_record("nodes", &json!({"name": "grandchild", "parent": child}))
        .await;
    let other = id_of(&app.create_record("nodes", &json!({"name": "other"})).await);
    assert_eq!(app.delete_record("nodes", &root).await.status, 204);
    assert_eq!(item_ids(&app.list_ok("nodes", &[]).await), [other]);
}
