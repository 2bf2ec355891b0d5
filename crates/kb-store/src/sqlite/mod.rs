//! The SQLite backend: the storage traits implemented on `rusqlite` connections owned by the
//! `kb-sqlite` executor (one writer with group commit, several readers).

mod ddl;
mod dialect;
mod logs;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kb_core::settings::Settings;
use kb_core::{Collection, Field};
use kb_query::FilterPlan;
use kb_sqlite::{Executor, ExecutorError, ExecutorOptions};
use parking_lot::Mutex;
use rusqlite::Connection;
use rusqlite::types::ValueRef;

pub use dialect::Sqlite;
pub use logs::SqliteLogStore;

use crate::sql::{self, Param, Statement};
use crate::values::{self, Clock, RequestInfo, SqlValue};
use crate::{
    Backend, BoxFuture, ListQuery, Outcome, ReadJob, Reader, Row, StoreError, ViewColumn, WriteJob,
    Writer,
};

/// Map a driver error to a typed storage error; unique violations name their columns.
pub(crate) fn map_err(error: rusqlite::Error) -> StoreError {
    // A LIKE whose pattern comes from stored data (field ~ field) can exceed SQLite's pattern
    // limit: a bad request about that data, not a server fault.
    if let rusqlite::Error::SqliteFailure(_, Some(message)) = &error
        && message.contains("LIKE or GLOB pattern too complex")
    {
        return StoreError::Invalid("Something went wrong while processing your request.".into());
    }
    if let rusqlite::Error::SqliteFailure(failure, Some(message)) = &error
        && failure.code == rusqlite::ErrorCode::ConstraintViolation
        && let Some(list) = message.strip_prefix("UNIQUE constraint failed: ")
    {
        let columns = list
            .split(", ")
            .map(|qualified| qualified.rsplit('.').next().unwrap_or(qualified).to_owned())
            .collect();
        return StoreError::Unique { columns };
    }
    StoreError::Database(error.to_string())
}

/// A database error as PocketBase words them (`SQL logic error: no such column: x (1)`),
/// for messages that deliberately show the database's reason (view queries, indexes).
pub(crate) fn describe_error(error: &rusqlite::Error) -> String {
    let (failure, message) = match error {
        rusqlite::Error::SqliteFailure(failure, Some(message)) => (failure, message),
        rusqlite::Error::SqlInputError { error, msg, .. } => (error, msg),
        other => return other.to_string(),
    };
    let kind = match failure.code {
        rusqlite::ErrorCode::Unknown => "SQL logic error",
        rusqlite::ErrorCode::ConstraintViolation => "constraint failed",
        _ => "database error",
    };
    format!("{kind}: {message} ({})", failure.extended_code)
}

fn executor_err(error: ExecutorError) -> StoreError {
    match error {
        ExecutorError::Closed => StoreError::Closed,
        other => StoreError::Database(other.to_string()),
    }
}

pub struct SqliteBackend {
    executor: Mutex<Option<Arc<Executor>>>,
}

impl SqliteBackend {
    /// Open (or create) the database file and make sure the system tables exist.
    pub async fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
        let options = ExecutorOptions {
            on_connect: Some(Arc::new(dialect::register_functions)),
            ..Default::default()
        };
        let executor = Executor::open(path, options).map_err(executor_err)?;
        executor
            .write(|conn: &mut Connection| ddl::bootstrap(conn))
            .await
            .map_err(executor_err)??;
        Ok(SqliteBackend {
            executor: Mutex::new(Some(Arc::new(executor))),
        })
    }

    fn executor(&self) -> Result<Arc<Executor>, StoreError> {
        self.executor.lock().clone().ok_or(StoreError::Closed)
    }
}

impl Backend for SqliteBackend {
    fn run_read(&self, job: ReadJob) -> BoxFuture<'static, Result<(), StoreError>> {
        let executor = self.executor();
        Box::pin(async move {
            executor?
                .read(move |conn| {
                    // One snapshot for the whole job: a page and its total count agree.
                    let snapshot = conn.unchecked_transaction();
                    job(&mut SqliteConn { conn });
                    drop(snapshot);
                })
                .await
                .map_err(executor_err)
        })
    }

    fn run_write(&self, job: WriteJob) -> BoxFuture<'static, Result<(), StoreError>> {
        let executor = self.executor();
        Box::pin(async move {
            let outcome = executor?
                .write_then(
                    move |conn: &mut Connection| match job(&mut SqliteConn { conn }) {
                        Outcome::Commit(after_commit) => Ok(((), move || {
                            if let Some(hook) = after_commit {
                                hook();
                            }
                        })),
                        Outcome::Rollback => Err(()),
                    },
                )
                .await
                .map_err(executor_err)?;
            // A job that asked for a rollback has its own error in its result slot.
            let _rolled_back = outcome.is_err();
            Ok(())
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

    fn snapshot_into(&self, path: PathBuf) -> BoxFuture<'static, Result<(), StoreError>> {
        copy_into(self.executor(), path)
    }
}

/// SQLite's online backup, run on a reader: every page of one read snapshot copied into the
/// new database file `path` in a single step, while the writer goes on.
pub(crate) fn copy_into(
    executor: Result<Arc<Executor>, StoreError>,
    path: PathBuf,
) -> BoxFuture<'static, Result<(), StoreError>> {
    Box::pin(async move {
        executor?
            .read(move |conn| {
                let mut target = Connection::open(&path).map_err(map_err)?;
                let backup = rusqlite::backup::Backup::new(conn, &mut target).map_err(map_err)?;
                match backup.step(-1).map_err(map_err)? {
                    rusqlite::backup::StepResult::Done => Ok(()),
                    other => Err(StoreError::Database(format!(
                        "the backup of the database did not finish: {other:?}"
                    ))),
                }
            })
            .await
            .map_err(executor_err)?
    })
}

/// The storage traits on one connection (a reader's, or the writer's inside a transaction).
struct SqliteConn<'c> {
    conn: &'c Connection,
}

fn sql_value(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(r) => SqlValue::Real(r),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            SqlValue::Text(String::from_utf8_lossy(t).into_owned())
        }
    }
}

fn to_sql(value: SqlValue) -> rusqlite::types::Value {
    match value {
        SqlValue::Null => rusqlite::types::Value::Null,
        SqlValue::Integer(i) => rusqlite::types::Value::Integer(i),
        SqlValue::Real(r) => rusqlite::types::Value::Real(r),
        SqlValue::Text(t) => rusqlite::types::Value::Text(t),
    }
}

impl SqliteConn<'_> {
    fn prepare<'s>(
        &'s self,
        statement: &Statement,
        request: &RequestInfo,
    ) -> Result<rusqlite::CachedStatement<'s>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&statement.sql).map_err(map_err)?;
        let clock = Clock(jiff::Timestamp::now());
        for (i, param) in statement.params.iter().enumerate() {
            let value = match param {
                Param::Bound(v) => v.clone(),
                Param::Source(source) => values::param_value(source, request, clock),
            };
            stmt.raw_bind_parameter(i + 1, to_sql(value))
                .map_err(map_err)?;
        }
        Ok(stmt)
    }

    fn rows(
        &self,
        collection: &Collection,
        statement: &Statement,
        request: &RequestInfo,
    ) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.prepare(statement, request)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut record = Row::with_capacity(collection.fields.len());
            for (i, field) in collection.fields.iter().enumerate() {
                let raw = row.get_ref(i).map_err(map_err)?;
                record.insert(field.name.clone(), values::decode(field, sql_value(raw)));
            }
            out.push(record);
        }
        Ok(out)
    }

    fn execute(&self, statement: &Statement) -> Result<usize, StoreError> {
        let mut stmt = self.prepare(statement, &RequestInfo::default())?;
        stmt.raw_execute().map_err(map_err)
    }

    fn columns<'r>(collection: &Collection, record: &'r Row) -> Vec<(&'r str, SqlValue)>
    where
        'r: 'r,
    {
        collection
            .fields
            .iter()
            .filter_map(|field| {
                record
                    .get_key_value(&field.name)
                    .map(|(name, value)| (name.as_str(), values::encode(field, value)))
            })
            .collect()
    }
}

impl Reader for SqliteConn<'_> {
    fn list(
        &mut self,
        query: &ListQuery<'_>,
        request: &RequestInfo,
    ) -> Result<Vec<Row>, StoreError> {
        let statement = sql::select_records(
            &Sqlite,
            query.collection,
            &query.conditions,
            &query.sort,
            query.limit,
            query.offset,
        );
        self.rows(query.collection, &statement, request)
    }

    fn count(
        &mut self,
        collection: &Collection,
        among: Option<&[String]>,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<u64, StoreError> {
        let statement = sql::count_records(&Sqlite, collection, among, conditions);
        let mut stmt = self.prepare(&statement, request)?;
        let mut rows = stmt.raw_query();
        match rows.next().map_err(map_err)? {
            Some(row) => Ok(row.get::<_, i64>(0).map_err(map_err)?.max(0) as u64),
            None => Ok(0),
        }
    }

    fn get(
        &mut self,
        collection: &Collection,
        id: &str,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<Option<Row>, StoreError> {
        let statement = sql::select_record(&Sqlite, collection, id, conditions);
        Ok(self
            .rows(collection, &statement, request)?
            .into_iter()
            .next())
    }

    fn satisfies(
        &mut self,
        collection: &Collection,
        record: &Row,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<bool, StoreError> {
        let statement = sql::select_satisfied(&Sqlite, collection, record, conditions);
        let mut stmt = self.prepare(&statement, request)?;
        let mut rows = stmt.raw_query();
        Ok(rows.next().map_err(map_err)?.is_some())
    }

    fn get_many(
        &mut self,
        collection: &Collection,
        ids: &[String],
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<Vec<Row>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let statement = sql::select_records_by_ids(&Sqlite, collection, ids, conditions);
        self.rows(collection, &statement, request)
    }

    fn referencing(
        &mut self,
        collection: &Collection,
        field: &Field,
        id: &str,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
        limit: Option<u64>,
    ) -> Result<Vec<Row>, StoreError> {
        let statement = sql::select_referencing(&Sqlite, collection, field, id, conditions, limit);
        self.rows(collection, &statement, request)
    }

    fn load_collections(&mut self) -> Result<Vec<Collection>, StoreError> {
        ddl::load_definitions(self.conn)
    }

    fn load_settings(&mut self) -> Result<Option<Settings>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(r#"SELECT "value" FROM "_params" WHERE "id" = 'settings'"#)
            .map_err(map_err)?;
        let mut rows = stmt.raw_query();
        let Some(row) = rows.next().map_err(map_err)? else {
            return Ok(None);
        };
        let text: String = row.get(0).map_err(map_err)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Database(format!("corrupt settings: {e}")))
    }

    fn describe_view_query(&mut self, query: &str) -> Result<Vec<ViewColumn>, StoreError> {
        let query = query.trim().trim_end_matches(';').trim();
        // Prepared as a subquery, so nothing but one SELECT (or WITH … SELECT) can be valid,
        // and on its own, so it cannot close that subquery early: the view is created from
        // the query as written.
        let wrapped = format!("SELECT * FROM ({query})");
        self.conn
            .prepare(&wrapped)
            .map_err(|e| StoreError::Invalid(describe_error(&e)))?;
        let stmt = self
            .conn
            .prepare(query)
            .map_err(|e| StoreError::Invalid(describe_error(&e)))?;
        if !stmt.readonly() {
            return Err(StoreError::Invalid(
                "the view query must not modify anything".into(),
            ));
        }
        let counts = sql::count_columns(query);
        let columns = stmt
            .columns_with_metadata()
            .iter()
            .enumerate()
            .map(|(i, meta)| ViewColumn {
                name: meta.name().to_owned(),
                origin: meta
                    .table_name()
                    .zip(meta.origin_name())
                    .map(|(t, c)| (t.to_owned(), c.to_owned())),
                is_count: counts.get(i).copied().unwrap_or(false),
            })
            .collect();
        Ok(columns)
    }
}

impl Writer for SqliteConn<'_> {
    fn insert(&mut self, collection: &Collection, record: &Row) -> Result<(), StoreError> {
        let columns = Self::columns(collection, record);
        self.execute(&sql::insert_record(&Sqlite, &collection.name, &columns))
            .map(|_| ())
    }

    fn update(
        &mut self,
        collection: &Collection,
        id: &str,
        record: &Row,
    ) -> Result<(), StoreError> {
        let columns = Self::columns(collection, record);
        self.execute(&sql::update_record(&Sqlite, &collection.name, id, &columns))
            .map(|_| ())
    }

    fn delete(&mut self, collection: &Collection, id: &str) -> Result<bool, StoreError> {
        self.execute(&sql::delete_record(&Sqlite, &collection.name, id))
            .map(|n| n > 0)
    }

    fn save_collection(
        &mut self,
        new: &Collection,
        old: Option<&Collection>,
    ) -> Result<(), StoreError> {
        ddl::apply_collection(self.conn, new, old)?;
        ddl::save_definition(self.conn, new)
    }

    fn delete_collection(&mut self, collection: &Collection) -> Result<(), StoreError> {
        ddl::drop_relation(self.conn, collection)?;
        self.conn
            .execute(
                r#"DELETE FROM "_collections" WHERE "id" = ?1"#,
                [&collection.id],
            )
            .map(|_| ())
            .map_err(map_err)
    }

    fn truncate(&mut self, collection: &Collection) -> Result<(), StoreError> {
        let mut table = String::new();
        crate::dialect::Dialect::quote(&Sqlite, &collection.name, &mut table);
        self.conn
            .execute(&format!("DELETE FROM {table}"), [])
            .map(|_| ())
            .map_err(map_err)
    }

    fn save_settings(&mut self, settings: &Settings) -> Result<(), StoreError> {
        let value =
            serde_json::to_string(settings).map_err(|e| StoreError::Database(e.to_string()))?;
        let now = kb_core::datetime::now();
        self.conn
            .execute(
                r#"INSERT INTO "_params" ("id","value","created","updated") VALUES ('settings', ?1, ?2, ?2)
                   ON CONFLICT ("id") DO UPDATE SET "value" = excluded."value", "updated" = excluded."updated""#,
                rusqlite::params![value, now],
            )
            .map(|_| ())
            .map_err(map_err)
    }
}
