//! Checking conditions against a record's values that are not (or no longer) stored, as a
//! node does for a delete another node committed: the values stand in for the table, and
//! relations are followed into the stored tables.

use std::sync::Arc;

use kb_core::Schema;
use kb_core::collection::Collection;
use kb_query::{FilterPlan, ResolveOptions, resolve_filter};
use kb_store::sqlite::SqliteBackend;
use kb_store::{RequestInfo, Row, Store, StoreError};
use serde_json::json;

fn schema() -> Schema {
    let users: Collection = serde_json::from_value(json!({
        "id": "users0000000001", "name": "users", "type": "base",
        "fields": [{"name": "id", "type": "text", "primaryKey": true}, {"name": "name", "type": "text"}]
    }))
    .unwrap();
    let posts: Collection = serde_json::from_value(json!({
        "id": "posts0000000001", "name": "posts", "type": "base",
        "fields": [
            {"name": "id", "type": "text", "primaryKey": true},
            {"name": "title", "type": "text"},
            {"name": "views", "type": "number"},
            {"name": "tags", "type": "select", "values": ["a", "b"], "maxSelect": 2},
            {"name": "author", "type": "relation", "collectionId": "users0000000001", "maxSelect": 1}
        ]
    }))
    .unwrap();
    Schema::new(vec![users, posts], 1)
}

fn plan(schema: &Schema, filter: &str) -> FilterPlan {
    let expr = kb_filter::parse_filter(filter).unwrap().unwrap();
    let options = ResolveOptions {
        allow_hidden: true,
        allow_request: true,
        auth_collection: None,
        respect_list_rules: false,
    };
    resolve_filter(&expr, schema, schema.by_name("posts").unwrap(), &options).unwrap()
}

fn row(value: serde_json::Value) -> Row {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn conditions_hold_or_not_for_values_alone() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(&dir.path().join("data.db"))
        .await
        .unwrap();
    let store = Store::new(Arc::new(backend));
    let schema = Arc::new(schema());
    let setup = schema.clone();
    store
        .write(move |w| {
            for collection in setup.iter() {
                w.save_collection(collection, None)?;
            }
            let users = setup.by_name("users").unwrap();
            w.insert(users, &row(json!({"id": "ann000000000001", "name": "Ann"})))?;
            // A stored post with the same id but other values: the check must not see it.
            let posts = setup.by_name("posts").unwrap();
            w.insert(
                posts,
                &row(json!({"id": "post00000000001", "title": "stored", "views": 1})),
            )
        })
        .await
        .unwrap();

    let image = row(
        json!({"id": "post00000000001", "title": "gone", "views": 50,
        "tags": ["a", "b"], "author": "ann000000000001"}),
    );
    let check = |filter: &str| {
        let (store, schema, image, plan) = (
            store.clone(),
            schema.clone(),
            image.clone(),
            plan(&schema, filter),
        );
        async move {
            store
                .read(move |r| {
                    let posts = schema.by_name("posts").unwrap();
                    r.satisfies(posts, &image, &[&plan], &RequestInfo::default())
                })
                .await
        }
    };
    for (filter, expected) in [
        ("views > 10 && title = 'gone'", true),
        ("title = 'stored'", false),
        ("tags:each ?= 'b'", true),
        ("tags:each ?= 'z'", false),
        ("author.name = 'Ann'", true),
        ("author.name = 'Bob'", false),
    ] {
        let got: Result<bool, StoreError> = check(filter).await;
        assert_eq!(got.unwrap(), expected, "{filter}");
    }
}
