//! Logs in their own SQLite file (PocketBase's `auxiliary.db`), on an executor of their own:
//! a burst of log inserts queues behind the auxiliary writer thread, never behind the data
//! writer, and a slow logs query never takes a reader the API needs.

use std::path::Path;
use std::sync::Arc;

use kb_core::Collection;
use kb_query::FilterPlan;
use kb_sqlite::{Executor, ExecutorOptions};
use parking_lot::Mutex;
use rusqlite::Connection;

use super::{Sqlite, SqliteConn, dialect, executor_err, map_err};
use crate::logs::{HourlyCount, LogEntry, LogPage, LogQuery, LogStore, log_collection};
use crate::sql::{self, SortSpec};
use crate::values::RequestInfo;
use crate::{BoxFuture, Row, StoreError};

const BOOTSTRAP: &str = r#"
    CREATE TABLE IF NOT EXISTS "_logs" (
        "id"      TEXT PRIMARY KEY NOT NULL,
        "level"   INTEGER NOT NULL DEFAULT 0,
        "message" TEXT NOT NULL DEFAULT '',
        "data"    JSON NOT NULL DEFAULT '{}',
        "created" TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS "idx_logs_level" ON "_logs" ("level");
    CREATE INDEX IF NOT EXISTS "idx_logs_created" ON "_logs" ("created");
"#;

/// Page cache per connection of the logs database, in KiB.
const LOGS_CACHE_KIB: u32 = 2000;

/// The logs store on one SQLite file.
pub struct SqliteLogStore {
    executor: Mutex<Option<Arc<Executor>>>,
    /// The pseudo-collection plans are rendered against (built once).
    collection: Arc<Collection>,
}

impl SqliteLogStore {
    /// Open (or create) the logs database at `path` (WAL, like the data database).
    pub async fn open(path: &Path) -> Result<SqliteLogStore, StoreError> {
        let options = ExecutorOptions {
            // Logs are read rarely (the dashboard); one reader is plenty and leaves the
            // cores to the data database.
            readers: 1,
            on_connect: Some(Arc::new(|conn: &Connection| {
                dialect::register_functions(conn)?;
                // Logs are appended in id and time order, so writes touch the last pages of
                // each index; the data database's page caches would only fill up with
                // pages of old logs a busy server never reads again.
                conn.execute_batch(&format!("PRAGMA cache_size = -{LOGS_CACHE_KIB};"))
            })),
            ..Default::default()
        };
        let executor = Executor::open(path, options).map_err(executor_err)?;
        executor
            .write(|conn: &mut Connection| conn.execute_batch(BOOTSTRAP).map_err(map_err))
            .await
            .map_err(executor_err)??;
        Ok(SqliteLogStore {
            executor: Mutex::new(Some(Arc::new(executor))),
            collection: Arc::new(log_collection()),
        })
    }

    fn executor(&self) -> Result<Arc<Executor>, StoreError> {
        self.executor.lock().clone().ok_or(StoreError::Closed)
    }

    /// Run `f` on a reader inside one snapshot.
    fn read<R, F>(&self, f: F) -> BoxFuture<'static, Result<R, StoreError>>
    where
        F: FnOnce(&mut SqliteConn<'_>, &Collection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let executor = self.executor();
        let collection = self.collection.clone();
        Box::pin(async move {
            executor?
                .read(move |conn| {
                    let snapshot = conn.unchecked_transaction();
                    let result = f(&mut SqliteConn { conn }, &collection);
                    drop(snapshot);
                    result
                })
                .await
                .map_err(executor_err)?
        })
    }

    fn write<R, F>(&self, f: F) -> BoxFuture<'static, Result<R, StoreError>>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let executor = self.executor();
        Box::pin(async move {
            executor?
                .write(move |conn: &mut Connection| f(conn))
                .await
                .map_err(executor_err)?
        })
    }
}

fn refs(conditions: &[FilterPlan]) -> Vec<&FilterPlan> {
    conditions.iter().collect()
}

fn count(
    conn: &mut SqliteConn<'_>,
    collection: &Collection,
    conditions: &[&FilterPlan],
) -> Result<u64, StoreError> {
    let statement = sql::count_records(&Sqlite, collection, None, conditions);
    let mut stmt = conn.prepare(&statement, &RequestInfo::default())?;
    let mut rows = stmt.raw_query();
    match rows.next().map_err(map_err)? {
        Some(row) => Ok(row.get::<_, i64>(0).map_err(map_err)?.max(0) as u64),
        None => Ok(0),
    }
}

impl LogStore for SqliteLogStore {
    fn insert_batch(&self, entries: Vec<LogEntry>) -> BoxFuture<'static, Result<(), StoreError>> {
        self.write(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    r#"INSERT INTO "_logs" ("id", "created", "level", "message", "data")
                       VALUES (?1, ?2, ?3, ?4, ?5)"#,
                )
                .map_err(map_err)?;
            for entry in entries {
                stmt.execute(rusqlite::params![
                    entry.id,
                    entry.created,
                    entry.level,
                    entry.message,
                    entry.data,
                ])
                .map_err(map_err)?;
            }
            Ok(())
        })
    }

    fn list(&self, query: LogQuery) -> BoxFuture<'static, Result<LogPage, StoreError>> {
        self.read(move |conn, collection| {
            let conditions = refs(&query.conditions);
            let sort: Vec<SortSpec<'_>> = query
                .sort
                .iter()
                .map(|(key, descending)| SortSpec {
                    key,
                    descending: *descending,
                })
                .collect();
            let statement = sql::select_records(
                &Sqlite,
                collection,
                &conditions,
                &sort,
                Some(query.limit),
                query.offset,
            );
            let rows = conn.rows(collection, &statement, &RequestInfo::default())?;
            let total = if query.with_total {
                Some(count(conn, collection, &conditions)?)
            } else {
                None
            };
            Ok(LogPage { rows, total })
        })
    }

    fn count(&self, conditions: Vec<FilterPlan>) -> BoxFuture<'static, Result<u64, StoreError>> {
        self.read(move |conn, collection| count(conn, collection, &refs(&conditions)))
    }

    fn get(&self, id: String) -> BoxFuture<'static, Result<Option<Row>, StoreError>> {
        self.read(move |conn, collection| {
            let statement = sql::select_record(&Sqlite, collection, &id, &[]);
            Ok(conn
                .rows(collection, &statement, &RequestInfo::default())?
                .into_iter()
                .next())
        })
    }

    fn stats(
        &self,
        conditions: Vec<FilterPlan>,
    ) -> BoxFuture<'static, Result<Vec<HourlyCount>, StoreError>> {
        self.read(move |conn, collection| {
            // The filtered rows come from the shared renderer (so the filter means what it
            // means everywhere else); only the hourly grouping around them is written here.
            // Stored datetimes are `YYYY-MM-DD HH:MM:SS.mmmZ`, so the hour is a prefix.
            let mut created_only = collection.clone();
            created_only.fields.retain(|f| f.name == "created");
            let inner =
                sql::select_records(&Sqlite, &created_only, &refs(&conditions), &[], None, 0);
            let statement = sql::Statement {
                sql: format!(
                    r#"SELECT substr("created", 1, 13) || ':00:00.000Z' AS "date", COUNT(*)
                       FROM ({}) GROUP BY "date" ORDER BY "date""#,
                    inner.sql
                ),
                params: inner.params,
            };
            let mut stmt = conn.prepare(&statement, &RequestInfo::default())?;
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(map_err)? {
                out.push(HourlyCount {
                    date: row.get(0).map_err(map_err)?,
                    total: row.get::<_, i64>(1).map_err(map_err)?.max(0) as u64,
                });
            }
            Ok(out)
        })
    }

    fn delete_all(&self) -> BoxFuture<'static, Result<u64, StoreError>> {
        self.write(|conn| {
            let deleted = conn
                .execute(r#"DELETE FROM "_logs""#, [])
                .map_err(map_err)?;
            Ok(deleted as u64)
        })
    }

    fn delete_older_than(
        &self,
        created_before: String,
    ) -> BoxFuture<'static, Result<u64, StoreError>> {
        self.write(move |conn| {
            let deleted = conn
                .prepare_cached(r#"DELETE FROM "_logs" WHERE "created" < ?1"#)
                .and_then(|mut stmt| stmt.execute([created_before]))
                .map_err(map_err)?;
            Ok(deleted as u64)
        })
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let executor = self.executor.lock().take();
        Box::pin(async move {
            if let Some(executor) = executor.and_then(|e| Arc::try_unwrap(e).ok()) {
                executor.close().await;
            }
        })
    }
    fn snapshot_into(
        &self,
        path: std::path::PathBuf,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        super::copy_into(self.executor(), path)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(id: &str, created: &str, level: i64, status: i64) -> LogEntry {
        LogEntry {
            id: id.into(),
            created: created.into(),
            level,
            message: format!("GET /x/{id}"),
            data: json!({"type": "request", "status": status}).to_string(),
        }
    }

    fn plan(filter: &str) -> FilterPlan {
        let expr = kb_filter::parse_filter(filter).unwrap().unwrap();
        let schema = kb_core::Schema::new(Vec::new(), 1);
        kb_query::resolve_filter(
            &expr,
            &schema,
            &log_collection(),
            &kb_query::ResolveOptions::default(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn insert_filter_count_stats_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteLogStore::open(&dir.path().join("auxiliary.db"))
            .await
            .unwrap();
        store
            .insert_batch(vec![
                entry("a", "2026-01-02 10:05:00.000Z", 0, 200),
                entry("b", "2026-01-02 10:59:59.999Z", 8, 404),
                entry("c", "2026-01-02 11:00:00.000Z", 8, 500),
            ])
            .await
            .unwrap();

        let page = store
            .list(LogQuery {
                conditions: vec![plan("data.status >= 400")],
                limit: 10,
                with_total: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let ids: Vec<_> = page.rows.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, [json!("b"), json!("c")]);
        assert_eq!(page.total, Some(2));
        assert_eq!(
            page.rows[0]["data"],
            json!({"type": "request", "status": 404})
        );
        assert_eq!(page.rows[0]["level"], json!(8));

        assert_eq!(
            store.stats(Vec::new()).await.unwrap(),
            [
                HourlyCount {
                    date: "2026-01-02 10:00:00.000Z".into(),
                    total: 2
                },
                HourlyCount {
                    date: "2026-01-02 11:00:00.000Z".into(),
                    total: 1
                },
            ]
        );
        assert_eq!(store.count(vec![plan("level = 8")]).await.unwrap(), 2);
        assert!(store.get("c".into()).await.unwrap().is_some());
        assert!(store.get("zz".into()).await.unwrap().is_none());

        let deleted = store
            .delete_older_than("2026-01-02 11:00:00.000Z".into())
            .await
            .unwrap();
        assert_eq!(deleted, 2);
        assert_eq!(store.delete_all().await.unwrap(), 1);
        assert_eq!(store.count(Vec::new()).await.unwrap(), 0);
        store.close().await;
    }
}
