//! Copying a database into an empty one: definitions, every record (in pages), settings and
//! views, checked record by record; a target that is not empty is refused.

use std::sync::Arc;

use kb_core::collection::Collection;
use kb_core::settings::Settings;
use kb_query::SortKey;
use kb_store::copy::{CopyError, CopyReport, copy_database};
use kb_store::sqlite::SqliteBackend;
use kb_store::{ListQuery, RequestInfo, Row, SortSpec, Store, StoreError};
use serde_json::json;

async fn open(dir: &tempfile::TempDir) -> Store {
    let backend = SqliteBackend::open(&dir.path().join("data.db"))
        .await
        .expect("open the database");
    Store::new(Arc::new(backend))
}

fn notes() -> Collection {
    serde_json::from_value(json!({
        "id": "notes0000000001", "name": "notes", "type": "base",
        "fields": [
            {"name": "id", "type": "text", "primaryKey": true},
            {"name": "title", "type": "text"},
            {"name": "n", "type": "number"},
            {"name": "secret", "type": "text", "hidden": true},
            {"name": "tags", "type": "select", "values": ["a", "b"], "maxSelect": 2},
            {"name": "meta", "type": "json"}
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_title ON notes (title)"]
    }))
    .unwrap()
}

fn big_notes() -> Collection {
    serde_json::from_value(json!({
        "id": "bignotes0000001", "name": "big_notes", "type": "view",
        "viewQuery": "SELECT id, title FROM notes WHERE n > 1000",
        "fields": [
            {"name": "id", "type": "text", "primaryKey": true},
            {"name": "title", "type": "text"}
        ]
    }))
    .unwrap()
}

async fn all_rows(store: &Store, collection: &Collection) -> Vec<Row> {
    let collection = collection.clone();
    store
        .read(move |r| {
            let order = SortKey::RowId;
            let query = ListQuery {
                collection: &collection,
                conditions: Vec::new(),
                // A view has no insertion order.
                sort: if collection.is_view() {
                    Vec::new()
                } else {
                    vec![SortSpec {
                        key: &order,
                        descending: false,
                    }]
                },
                limit: None,
                offset: 0,
            };
            r.list(&query, &RequestInfo::default())
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn everything_is_copied_and_counted() {
    let (from_dir, to_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(&from_dir).await;
    let mut settings = Settings::default();
    settings.meta.app_name = "copied app".into();
    let expected_settings = settings.clone();
    source
        .write(move |w| {
            w.save_collection(&notes(), None)?;
            w.save_collection(&big_notes(), None)?;
            for n in 0..1234 {
                let row: Row = serde_json::from_value(json!({
                    "id": format!("note{n:011}"), "title": format!("title {n}"), "n": n,
                    "secret": format!("s{n}"), "tags": ["a", "b"], "meta": {"n": n, "deep": [n]}
                }))
                .unwrap();
                w.insert(&notes(), &row)?;
            }
            w.save_settings(&settings)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let target = open(&to_dir).await;

    let report = copy_database(&source, &target).await.unwrap();
    assert_eq!(
        report,
        CopyReport {
            collections: vec![("notes".into(), 1234), ("big_notes".into(), 0)],
        }
    );
    let source_rows = all_rows(&source, &notes()).await;
    assert_eq!(source_rows.len(), 1234);
    assert_eq!(all_rows(&target, &notes()).await, source_rows);
    let view = all_rows(&target, &big_notes()).await;
    assert_eq!(view.len(), 233, "the view reads the copied table");
    let (collections, copied_settings) = target
        .read(|r| Ok::<_, StoreError>((r.load_collections()?, r.load_settings()?)))
        .await
        .unwrap();
    let names: Vec<&str> = collections.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["notes", "big_notes"]);
    assert_eq!(collections[0].indexes, notes().indexes);
    assert_eq!(copied_settings, Some(expected_settings));
    // The unique index came along.
    let duplicate: Row =
        serde_json::from_value(json!({"id": "dupe00000000001", "title": "title 1"})).unwrap();
    let refused = target.write(move |w| w.insert(&notes(), &duplicate)).await;
    assert!(
        matches!(refused, Err(StoreError::Unique { .. })),
        "{refused:?}"
    );

    // The source is untouched, and a second copy into the now full target is refused.
    assert_eq!(all_rows(&source, &notes()).await, source_rows);
    assert!(matches!(
        copy_database(&source, &target).await,
        Err(CopyError::TargetNotEmpty)
    ));
}
