//! Copying a whole database from one backend into another, empty one (what
//! `keelbase migrate-data` runs): the collection definitions with their tables and indexes,
//! every record with its id, hidden fields and password hashes, and the settings. The source
//! is only read. Record files stay where they are (the records keep their names), and view
//! collections are recreated, not copied: their rows come from the tables under them.

use kb_core::Collection;
use kb_query::SortKey;

use crate::{ListQuery, RequestInfo, SortSpec, Store, StoreError};

/// Records copied per write transaction.
const PAGE: u64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target database already holds collections; copy into an empty database")]
    TargetNotEmpty,
    #[error(
        "collection {collection}: {source_count} records in the source, {target_count} in the target"
    )]
    CountMismatch {
        collection: String,
        source_count: u64,
        target_count: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was copied: each collection with its record count (views count 0), in copy order.
#[derive(Debug, Default, PartialEq)]
pub struct CopyReport {
    pub collections: Vec<(String, u64)>,
}

/// Copy everything in `source` into the empty `target`, then check that every table has
/// as many records on both sides.
pub async fn copy_database(source: &Store, target: &Store) -> Result<CopyReport, CopyError> {
    let existing = target
        .read(|r| Ok::<_, StoreError>(r.load_collections()?.len()))
        .await?;
    if existing > 0 {
        return Err(CopyError::TargetNotEmpty);
    }
    let (collections, settings) = source
        .read(|r| Ok::<_, StoreError>((r.load_collections()?, r.load_settings()?)))
        .await?;
    // Tables first: a view's query reads them. Views keep their order among themselves.
    let (tables, views): (Vec<Collection>, Vec<Collection>) =
        collections.into_iter().partition(|c| !c.is_view());
    let ordered: Vec<Collection> = tables.into_iter().chain(views).collect();
    let definitions = ordered.clone();
    target
        .write(move |w| {
            for collection in &definitions {
                w.save_collection(collection, None)?;
            }
            if let Some(settings) = &settings {
                w.save_settings(settings)?;
            }
            Ok::<_, StoreError>(())
        })
        .await?;
    let mut report = CopyReport::default();
    for collection in ordered {
        let copied = if collection.is_view() {
            0
        } else {
            copy_records(source, target, &collection).await?
        };
        report.collections.push((collection.name.clone(), copied));
    }
    Ok(report)
}

/// Copy one table's records page by page, in insertion order; answers how many.
async fn copy_records(
    source: &Store,
    target: &Store,
    collection: &Collection,
) -> Result<u64, CopyError> {
    let mut copied = 0u64;
    loop {
        let from = collection.clone();
        let rows = source
            .read(move |r| {
                let order = SortKey::RowId;
                let query = ListQuery {
                    collection: &from,
                    conditions: Vec::new(),
                    sort: vec![SortSpec {
                        key: &order,
                        descending: false,
                    }],
                    limit: Some(PAGE),
                    offset: copied,
                };
                r.list(&query, &RequestInfo::default())
            })
            .await?;
        let count = rows.len() as u64;
        if count > 0 {
            let into = collection.clone();
            target
                .write(move |w| {
                    for row in &rows {
                        w.insert(&into, row)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await?;
        }
        copied += count;
        if count < PAGE {
            break;
        }
    }
    let counted = collection.clone();
    let counts = |store: &Store| {
        let collection = counted.clone();
        let store = store.clone();
        async move {
            store
                .read(move |r| r.count(&collection, None, &[], &RequestInfo::default()))
                .await
        }
    };
    let (source_count, target_count) = (counts(source).await?, counts(target).await?);
    if source_count != target_count || target_count != copied {
        return Err(CopyError::CountMismatch {
            collection: collection.name.clone(),
            source_count,
            target_count,
        });
    }
    Ok(copied)
}
