//! The PostgreSQL backend: the storage traits implemented on `tokio-postgres` connections from
//! a `deadpool-postgres` pool.
//!
//! Jobs are synchronous, so each runs on a blocking thread that owns one pooled connection
//! and one transaction, driving the async driver with `Handle::block_on`. Reads run in a
//! read-only REPEATABLE READ snapshot each (a page and its count agree). Writes queue for
//! one writer task, which runs whatever is queued in one transaction, each job in its own
//! savepoint (see [`writer`]): after-commit hooks fire in commit order as on SQLite, and a
//! job's future resolves only after its batch's `COMMIT` returned.

mod cluster;
mod ddl;
mod dialect;
mod values;
mod writer;

use std::cell::Cell as Flag;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::str::FromStr;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use kb_core::settings::Settings;
use kb_core::{Collection, Field};
use kb_query::FilterPlan;
use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, config::SslMode};

pub use dialect::{Postgres, ROWID_COLUMN};
/// The driver this backend speaks through, for tools and tests that inspect the same
/// database without a second copy of it.
pub use tokio_postgres;

use crate::sql::{self, Param, Statement};
use crate::values::{self as shared_values, Clock, RequestInfo};
use crate::{
    Backend, BoxFuture, ChangeKind, ListQuery, ReadJob, Reader, Row, StoreError, ViewColumn,
    WriteJob, Writer,
};

/// The advisory lock that serialises collection changes across nodes.
const SCHEMA_LOCK: i64 = 7303;

/// Connections per pool: enough for concurrent readers next to the writer task.
const POOL_SIZE: usize = 16;

/// The database's own words for an error (`ERROR: …` with its detail), for logs and for the
/// messages that deliberately show the database's reason (view queries, indexes).
pub(crate) fn db_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => error.to_string(),
    }
}

/// The indexed columns named in a unique violation's detail: `Key (a, lower(b))=(…) …`.
fn unique_columns(detail: &str) -> Vec<String> {
    let Some(list) = detail
        .strip_prefix("Key (")
        .and_then(|rest| rest.split_once(")=(").map(|(list, _)| list))
    else {
        return Vec::new();
    };
    list.split(", ")
        .map(|column| {
            let column = column
                .trim_start_matches("lower(")
                .trim_start_matches("rtrim(")
                .trim_end_matches(')');
            column.trim_matches('"').to_owned()
        })
        .collect()
}

/// Map a driver error to a typed storage error.
fn map_err(error: tokio_postgres::Error) -> StoreError {
    let Some(db) = error.as_db_error() else {
        return StoreError::Database(error.to_string());
    };
    let code = db.code();
    if *code == SqlState::UNIQUE_VIOLATION {
        return StoreError::Unique {
            columns: unique_columns(db.detail().unwrap_or_default()),
        };
    }
    // Values a filter cannot compare or PostgreSQL cannot hold (a LIKE on a malformed
    // pattern, a number out of range, a NUL character): a bad request, not a server fault.
    if [
        SqlState::CHARACTER_NOT_IN_REPERTOIRE,
        SqlState::UNTRANSLATABLE_CHARACTER,
        SqlState::INVALID_ESCAPE_SEQUENCE,
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        SqlState::INVALID_TEXT_REPRESENTATION,
        SqlState::DATATYPE_MISMATCH,
        SqlState::UNDEFINED_FUNCTION,
    ]
    .contains(code)
    {
        return StoreError::Invalid("Something went wrong while processing your request.".into());
    }
    StoreError::Database(db_message(&error))
}

fn pool_err(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("cannot get a database connection: {error}"))
}

/// A connection for a job; after `close` the pool refuses, as a closed SQLite executor does.
async fn connection(pool: &Pool) -> Result<deadpool_postgres::Client, StoreError> {
    pool.get().await.map_err(|error| match error {
        deadpool_postgres::PoolError::Closed => StoreError::Closed,
        other => pool_err(other),
    })
}

fn parse_config(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    tokio_postgres::Config::from_str(url)
        .map_err(|e| StoreError::Database(format!("invalid database URL: {e}")))
}

/// TLS when the URL asks for it (`sslmode=require`), verified against the web PKI roots.
fn manager(config: tokio_postgres::Config) -> Result<Manager, StoreError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    if config.get_ssl_mode() != SslMode::Require {
        return Ok(Manager::from_config(config, NoTls, manager_config));
    }
    Ok(Manager::from_config(
        config,
        tls_connector()?,
        manager_config,
    ))
}

/// Connections with TLS, verified against the web PKI roots.
fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Database(format!("cannot set up TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
}

/// A pool of at most `size` connections to the database `url` names.
fn pool(url: &str, size: usize) -> Result<Pool, StoreError> {
    Pool::builder(manager(parse_config(url)?)?)
        .max_size(size)
        .build()
        .map_err(pool_err)
}

/// Run one administrative statement on a fresh connection to `url` (outside any transaction).
async fn administer(url: &str, statement: &str) -> Result<(), StoreError> {
    let client = pool(url, 1)?.get().await.map_err(pool_err)?;
    client.batch_execute(statement).await.map_err(map_err)
}

fn quoted(name: &str) -> String {
    let mut out = String::new();
    crate::dialect::Dialect::quote(&Postgres, name, &mut out);
    out
}

/// Create database `name` on the server `url` points to (for tests and provisioning).
pub async fn create_database(url: &str, name: &str) -> Result<(), StoreError> {
    administer(url, &format!("CREATE DATABASE {}", quoted(name))).await
}

/// Drop database `name`, ending the connections still open on it.
pub async fn drop_database(url: &str, name: &str) -> Result<(), StoreError> {
    administer(
        url,
        &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(name)),
    )
    .await
}

struct Shared {
    pool: Pool,
    /// Where write jobs queue; `close` takes it, refusing new ones.
    writes: Mutex<Option<writer::WriteQueue>>,
    /// This process among the nodes on the database (its own announcements are not news).
    node: String,
    config: tokio_postgres::Config,
}

pub struct PostgresBackend {
    shared: Mutex<Option<Arc<Shared>>>,
}

impl PostgresBackend {
    /// Connect to the database `url` names and make sure the system tables exist.
    pub async fn open(url: &str) -> Result<PostgresBackend, StoreError> {
        let pool = pool(url, POOL_SIZE)?;
        let client = pool.get().await.map_err(pool_err)?;
        // Concurrent first starts must not race on CREATE … IF NOT EXISTS; the notices of a
        // later start ("already exists, skipping") are noise.
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL client_min_messages = warning; \
                 SELECT pg_advisory_xact_lock(7302); {} {} COMMIT;",
                ddl::BOOTSTRAP,
                cluster::BOOTSTRAP
            ))
            .await
            .map_err(map_err)?;
        drop(client);
        let node = kb_core::id::new_record_id();
        // Other nodes see this one from its start.
        cluster::beat(&pool, &node).await?;
        tokio::spawn(cluster::heartbeat(pool.clone(), node.clone()));
        Ok(PostgresBackend {
            shared: Mutex::new(Some(Arc::new(Shared {
                writes: Mutex::new(Some(writer::WriteQueue::start(pool.clone(), node.clone()))),
                pool,
                node,
                config: parse_config(url)?,
            }))),
        })
    }

    /// How many other nodes on this database are alive now.
    pub async fn other_live_nodes(&self) -> Result<u64, StoreError> {
        let shared = self.shared()?;
        cluster::other_live_nodes(&shared.pool, &shared.node).await
    }

    fn shared(&self) -> Result<Arc<Shared>, StoreError> {
        self.shared.lock().clone().ok_or(StoreError::Closed)
    }
}

fn join_err(error: tokio::task::JoinError) -> StoreError {
    match error.try_into_panic() {
        Ok(panic) => resume_unwind(panic),
        Err(error) => StoreError::Database(format!("job cancelled: {error}")),
    }
}

/// Run `job` on `conn` in a read-only snapshot. The snapshot ends before a panic goes on, so
/// the connection returns to the pool clean; a failed statement stays the job's own answer.
fn read_only(conn: &mut PgConn<'_>, job: ReadJob) -> Result<(), StoreError> {
    conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
    let ran = catch_unwind(AssertUnwindSafe(|| job(conn)));
    let ended = conn.batch("ROLLBACK");
    if let Err(panic) = ran {
        resume_unwind(panic);
    }
    ended
}

impl Backend for PostgresBackend {
    fn run_read(&self, job: ReadJob) -> BoxFuture<'static, Result<(), StoreError>> {
        let shared = self.shared();
        Box::pin(async move {
            let shared = shared?;
            let client = connection(&shared.pool).await?;
            let handle = Handle::current();
            tokio::task::spawn_blocking(move || {
                read_only(&mut PgConn::new(&client, handle, &shared.node), job)
            })
            .await
            .map_err(join_err)?
        })
    }

    fn run_write(&self, job: WriteJob) -> BoxFuture<'static, Result<(), StoreError>> {
        let shared = self.shared();
        Box::pin(async move {
            let written = shared?
                .writes
                .lock()
                .as_ref()
                .map(|queue| queue.submit(job));
            written.ok_or(StoreError::Closed)?.await
        })
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let shared = self.shared.lock().take();
        Box::pin(async move {
            if let Some(shared) = shared {
                // Let the queued writes run, then refuse new connections.
                let writes = shared.writes.lock().take();
                if let Some(writes) = writes {
                    writes.close().await;
                }
                cluster::leave(&shared.pool, &shared.node).await;
                shared.pool.close();
            }
        })
    }

    fn shared_counters(&self) -> Option<Arc<dyn crate::Counters>> {
        let shared = self.shared().ok()?;
        Some(Arc::new(cluster::SharedCounters {
            pool: shared.pool.clone(),
        }))
    }

    fn publish(
        &self,
        message: serde_json::Value,
    ) -> Option<BoxFuture<'static, Result<(), StoreError>>> {
        let shared = self.shared().ok()?;
        Some(Box::pin(async move {
            cluster::publish(&shared.pool, &shared.node, message).await
        }))
    }

    fn remote_changes(&self) -> Option<crate::RemoteChanges> {
        let shared = self.shared().ok()?;
        let (changes, heard) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(cluster::listen(
            shared.config.clone(),
            shared.pool.clone(),
            shared.node.clone(),
            changes,
        ));
        Some(heard)
    }
}

/// The storage traits on one pooled connection, inside the job's transaction.
pub(crate) struct PgConn<'c> {
    client: &'c deadpool_postgres::Client,
    handle: Handle,
    /// A statement failed: PostgreSQL has aborted the transaction.
    failed: Flag<bool>,
    /// The job ran DDL: statements cached on other connections may be stale after commit.
    schema_changed: bool,
    /// This node, and what the transaction will announce to the other nodes at commit.
    node: &'c str,
    announced: Vec<cluster::Announced>,
}

impl<'c> PgConn<'c> {
    fn new(client: &'c deadpool_postgres::Client, handle: Handle, node: &'c str) -> Self {
        PgConn {
            client,
            handle,
            failed: Flag::new(false),
            schema_changed: false,
            node,
            announced: Vec::new(),
        }
    }

    /// Note a collection or settings change for the other nodes (once per transaction).
    fn announce_once(&mut self, change: cluster::Announced) {
        if !self.announced.contains(&change) {
            self.announced.push(change);
        }
    }

    fn block_on<T>(
        &self,
        future: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, tokio_postgres::Error> {
        let result = self.handle.block_on(future);
        if result.is_err() {
            self.failed.set(true);
        }
        result
    }

    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.block_on(self.client.batch_execute(sql))
            .map_err(map_err)
    }

    /// One DDL statement through the extended protocol (which refuses a second statement).
    fn execute_raw(&mut self, sql: &str) -> Result<u64, tokio_postgres::Error> {
        self.schema_changed = true;
        // This connection's own cache may hold statements on the table being changed.
        self.client.statement_cache.clear();
        self.block_on(self.client.execute(sql, &[]))
    }

    fn execute_ddl(&mut self, sql: &str) -> Result<(), StoreError> {
        self.execute_raw(sql).map(|_| ()).map_err(map_err)
    }

    fn execute_typed(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        self.block_on(async {
            let statement = self.client.prepare_cached(sql).await?;
            self.client.execute(&statement, params).await
        })
        .map_err(map_err)
    }

    fn query_typed(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.block_on(async {
            let statement = self.client.prepare_cached(sql).await?;
            self.client.query(&statement, params).await
        })
        .map_err(map_err)
    }

    /// Run a rendered statement and return its rows.
    fn query(
        &self,
        statement: &Statement,
        request: &RequestInfo,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.block_on(async {
            let prepared = self.client.prepare_cached(&statement.sql).await?;
            let params = bind(statement, prepared.params(), request);
            self.client.query(&prepared, &param_refs(&params)).await
        })
        .map_err(map_err)
    }

    /// Run a rendered statement and return how many rows it changed.
    fn execute(&self, statement: &Statement) -> Result<u64, StoreError> {
        self.block_on(async {
            let prepared = self.client.prepare_cached(&statement.sql).await?;
            let params = bind(statement, prepared.params(), &RequestInfo::default());
            self.client.execute(&prepared, &param_refs(&params)).await
        })
        .map_err(map_err)
    }

    fn rows(
        &self,
        collection: &Collection,
        statement: &Statement,
        request: &RequestInfo,
    ) -> Result<Vec<Row>, StoreError> {
        let rows = self.query(statement, request)?;
        rows.iter()
            .map(|row| {
                let mut record = Row::with_capacity(collection.fields.len());
                for (i, field) in collection.fields.iter().enumerate() {
                    let values::Cell(raw) = row.try_get(i).map_err(map_err)?;
                    record.insert(field.name.clone(), shared_values::decode(field, raw));
                }
                Ok(record)
            })
            .collect()
    }
}

/// The statement's parameters, each converted to the type PostgreSQL inferred for its
/// placeholder.
fn bind(
    statement: &Statement,
    types: &[tokio_postgres::types::Type],
    request: &RequestInfo,
) -> Vec<values::PgParam> {
    let clock = Clock(jiff::Timestamp::now());
    statement
        .params
        .iter()
        .zip(types)
        .map(|(param, ty)| {
            let value = match param {
                Param::Bound(value) => value.clone(),
                Param::Source(source) => shared_values::param_value(source, request, clock),
            };
            values::param(value, ty)
        })
        .collect()
}

fn param_refs(params: &[values::PgParam]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Reader for PgConn<'_> {
    fn list(
        &mut self,
        query: &ListQuery<'_>,
        request: &RequestInfo,
    ) -> Result<Vec<Row>, StoreError> {
        let statement = sql::select_records(
            &Postgres,
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
        let statement = sql::count_records(&Postgres, collection, among, conditions);
        let rows = self.query(&statement, request)?;
        match rows.first() {
            Some(row) => Ok(row.try_get::<_, i64>(0).map_err(map_err)?.max(0) as u64),
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
        let statement = sql::select_record(&Postgres, collection, id, conditions);
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
        let statement = sql::select_satisfied(&Postgres, collection, record, conditions);
        Ok(!self.query(&statement, request)?.is_empty())
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
        let statement = sql::select_records_by_ids(&Postgres, collection, ids, conditions);
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
        let statement =
            sql::select_referencing(&Postgres, collection, field, id, conditions, limit);
        self.rows(collection, &statement, request)
    }

    fn load_collections(&mut self) -> Result<Vec<Collection>, StoreError> {
        ddl::load_definitions(self)
    }

    fn load_settings(&mut self) -> Result<Option<Settings>, StoreError> {
        let rows = self.query_typed(
            r#"SELECT "value" FROM "_params" WHERE "id" = 'settings'"#,
            &[],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let text: String = row.try_get(0).map_err(map_err)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Database(format!("corrupt settings: {e}")))
    }

    fn describe_view_query(&mut self, query: &str) -> Result<Vec<ViewColumn>, StoreError> {
        let query = query.trim().trim_end_matches(';').trim();
        // A savepoint keeps a rejected query from aborting the job's transaction.
        self.batch("SAVEPOINT kb_view_query")?;
        let described = self.handle.block_on(async {
            // Prepared as a subquery, so nothing but one SELECT (or WITH … SELECT without
            // data-modifying parts) can be valid; the extended protocol refuses a second
            // statement.
            self.client
                .prepare(&format!("SELECT * FROM ({query}) AS \"_kb_view\""))
                .await?;
            self.client.prepare(query).await
        });
        let statement = match described {
            Ok(statement) => {
                self.batch("RELEASE SAVEPOINT kb_view_query")?;
                statement
            }
            Err(error) => {
                self.batch("ROLLBACK TO SAVEPOINT kb_view_query")?;
                return Err(StoreError::Invalid(db_message(&error)));
            }
        };
        let counts = sql::count_columns(query);
        let mut columns = Vec::new();
        for (i, column) in statement.columns().iter().enumerate() {
            if column.name() == ROWID_COLUMN {
                continue;
            }
            let origin = match (column.table_oid(), column.column_id()) {
                (Some(table), Some(attribute)) => self
                    .query_typed(
                        "SELECT c.relname::text, a.attname::text FROM pg_attribute a \
                         JOIN pg_class c ON c.oid = a.attrelid WHERE a.attrelid = $1 AND a.attnum = $2",
                        &[&table, &attribute],
                    )?
                    .first()
                    .map(|row| Ok::<_, StoreError>((row.try_get(0).map_err(map_err)?, row.try_get(1).map_err(map_err)?)))
                    .transpose()?,
                _ => None,
            };
            columns.push(ViewColumn {
                name: column.name().to_owned(),
                origin,
                is_count: counts.get(i).copied().unwrap_or(false),
            });
        }
        Ok(columns)
    }
}

impl PgConn<'_> {
    fn columns<'r>(collection: &Collection, record: &'r Row) -> Vec<(&'r str, crate::SqlValue)> {
        collection
            .fields
            .iter()
            .filter_map(|field| {
                record
                    .get_key_value(&field.name)
                    .map(|(name, value)| (name.as_str(), shared_values::encode(field, value)))
            })
            .collect()
    }
}

impl Writer for PgConn<'_> {
    fn insert(&mut self, collection: &Collection, record: &Row) -> Result<(), StoreError> {
        let columns = Self::columns(collection, record);
        self.execute(&sql::insert_record(&Postgres, &collection.name, &columns))?;
        self.announced.push(cluster::Announced::record(
            ChangeKind::Create,
            &collection.id,
            record,
        ));
        Ok(())
    }

    fn update(
        &mut self,
        collection: &Collection,
        id: &str,
        record: &Row,
    ) -> Result<(), StoreError> {
        let columns = Self::columns(collection, record);
        self.execute(&sql::update_record(
            &Postgres,
            &collection.name,
            id,
            &columns,
        ))?;
        self.announced.push(cluster::Announced::record(
            ChangeKind::Update,
            &collection.id,
            record,
        ));
        Ok(())
    }

    fn delete(&mut self, collection: &Collection, id: &str) -> Result<bool, StoreError> {
        // Other nodes check their subscribers against the record as it was.
        let Some(record) = self.get(collection, id, &[], &RequestInfo::default())? else {
            return Ok(false);
        };
        let deleted = self.execute(&sql::delete_record(&Postgres, &collection.name, id))? > 0;
        if deleted {
            self.announced.push(cluster::Announced::record(
                ChangeKind::Delete,
                &collection.id,
                &record,
            ));
        }
        Ok(deleted)
    }

    fn save_collection(
        &mut self,
        new: &Collection,
        old: Option<&Collection>,
    ) -> Result<(), StoreError> {
        ddl::apply_collection(self, new, old)?;
        ddl::save_definition(self, new)?;
        self.announce_once(cluster::Announced::Schema);
        Ok(())
    }

    fn delete_collection(&mut self, collection: &Collection) -> Result<(), StoreError> {
        ddl::drop_relation(self, collection)?;
        self.execute_typed(
            r#"DELETE FROM "_collections" WHERE "id" = $1"#,
            &[&collection.id],
        )?;
        self.announce_once(cluster::Announced::Schema);
        Ok(())
    }

    fn truncate(&mut self, collection: &Collection) -> Result<(), StoreError> {
        // DELETE rather than TRUNCATE: it is transactional for concurrent snapshots too.
        self.execute_typed(&format!("DELETE FROM {}", quoted(&collection.name)), &[])
            .map(|_| ())
    }

    fn lock_schema(&mut self) -> Result<(), StoreError> {
        self.batch(&format!("SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
    }

    fn save_settings(&mut self, settings: &Settings) -> Result<(), StoreError> {
        let value =
            serde_json::to_string(settings).map_err(|e| StoreError::Database(e.to_string()))?;
        let now = kb_core::datetime::now();
        self.execute_typed(
            r#"INSERT INTO "_params" ("id","value","created","updated") VALUES ('settings', $1, $2, $2)
               ON CONFLICT ("id") DO UPDATE SET "value" = excluded."value", "updated" = excluded."updated""#,
            &[&value, &now],
        )?;
        self.announce_once(cluster::Announced::Settings);
        Ok(())
    }
}
