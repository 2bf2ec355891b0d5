//! Keelbase as a library: configuration and the server wiring, so the binary and the
//! integration tests start the very same thing (`Server::build(config).await?.run(shutdown)`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use kb_app::App;
use kb_app::backups::{self, layout};
use kb_store::postgres::PostgresBackend;
use kb_store::sqlite::{SqliteBackend, SqliteLogStore};
use kb_store::{Backend, Store};
use tokio::net::TcpListener;

/// Process settings (runtime settings live in the database).
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub http: SocketAddr,
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    /// Where the records live: `None` for `data.db` in the data directory, or a
    /// `postgres://` URL. Request logs and files stay in the data directory either way.
    pub database_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("cannot open the database: {0}")]
    Store(#[from] kb_store::StoreError),
    #[error("cannot load the application state: {0}")]
    App(#[from] kb_app::AppError),
    #[error("cannot open the file storage: {0}")]
    Files(#[from] kb_files::FileError),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("cannot apply the backup restore waiting in {0}: {1}")]
    Restore(PathBuf, std::io::Error),
}

/// Open the application on the data directory, with its records in `database_url` when one
/// is given (used by `serve` and the admin commands).
pub async fn open_app(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
) -> Result<Arc<App>, StartError> {
    Ok(open(data_dir, database_url).await?.0)
}

/// The application, and its PostgreSQL backend when it has one.
async fn open(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
) -> Result<(Arc<App>, Option<Arc<PostgresBackend>>), StartError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StartError::DataDir(data_dir.to_owned(), e))?;
    let (backend, postgres): (Arc<dyn Backend>, _) = match database_url {
        Some(url) => {
            let postgres = Arc::new(PostgresBackend::open(url).await?);
            (postgres.clone(), Some(postgres))
        }
        None => {
            // A restore asked for before the last restart is swapped in before anything
            // opens the data.
            let replaced = backups::apply_pending_restore(data_dir)
                .map_err(|e| StartError::Restore(data_dir.to_owned(), e))?;
            if let Some(replaced) = replaced {
                tracing::warn!(
                    replaced = %replaced.display(),
                    "restored a backup; the data it replaced is kept in this directory"
                );
            }
            (
                Arc::new(SqliteBackend::open(&data_dir.join(layout::DATA_DB)).await?),
                None,
            )
        }
    };
    // Record files live under `<data dir>/storage` unless the settings choose S3.
    let files = kb_files::FileStorage::open_local(data_dir.join(layout::STORAGE_DIR))?;
    let app = App::open(Store::new(backend), Arc::new(files)).await?;
    Ok((app, postgres))
}

/// Several nodes must see the same files: a node that keeps them in a directory of its own
/// while other nodes serve the same database says so at start.
async fn warn_about_local_files(app: &App, postgres: &PostgresBackend) {
    if app.files().backend_kind() != kb_files::BackendKind::Local {
        return;
    }
    match postgres.other_live_nodes().await {
        Ok(0) => {}
        Ok(others) => tracing::warn!(
            others,
            storage = %app.files().local_root().display(),
            "other Keelbase nodes serve this database, but this node keeps record files in \
             a local directory the others may not see: use S3 storage (settings.s3), or \
             one directory every node mounts"
        ),
        Err(error) => tracing::warn!(%error, "could not count the other nodes"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("there is no Keelbase database at {0}")]
    NoSource(PathBuf),
    #[error("cannot open a database: {0}")]
    Store(#[from] kb_store::StoreError),
    #[error(transparent)]
    Copy(#[from] kb_store::copy::CopyError),
}

/// Copy the SQLite Keelbase in `data_dir` (schema, records with their ids and password
/// hashes, file names, settings) into the empty PostgreSQL database `database_url`, and
/// check that every table has as many records on both sides. The source is only read; the
/// files stay in its `storage` directory.
pub async fn migrate_data(
    data_dir: &std::path::Path,
    database_url: &str,
) -> Result<kb_store::copy::CopyReport, MigrateError> {
    let source_file = data_dir.join(layout::DATA_DB);
    if !source_file.is_file() {
        return Err(MigrateError::NoSource(source_file));
    }
    let source = Store::new(Arc::new(SqliteBackend::open(&source_file).await?));
    let target = Store::new(Arc::new(PostgresBackend::open(database_url).await?));
    let copied = kb_store::copy::copy_database(&source, &target).await;
    source.close().await;
    target.close().await;
    Ok(copied?)
}

/// Why [`Server::run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The shutdown future resolved.
    Shutdown,
    /// A backup restore is waiting: start again on the same data directory to apply it.
    ForRestart,
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
}

impl Server {
    pub async fn build(config: Config) -> Result<Server, StartError> {
        let (app, postgres) = open(&config.data_dir, config.database_url.as_deref()).await?;
        match &postgres {
            Some(postgres) => warn_about_local_files(&app, postgres).await,
            // Backups copy SQLite files; a PostgreSQL server has none to copy.
            None => backups::Backups::attach(&app, &config.data_dir)?,
        }
        // Logs go to their own database (PocketBase's auxiliary.db), so writing them never
        // contends with data writes.
        let logs = SqliteLogStore::open(&config.data_dir.join(layout::AUXILIARY_DB)).await?;
        app.logs.attach(&app, Arc::new(logs));
        let listener = TcpListener::bind(config.http)
            .await
            .map_err(|e| StartError::Listen(config.http, e))?;
        Ok(Server { listener, app })
    }

    /// The address actually bound (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn app(&self) -> Arc<App> {
        self.app.clone()
    }

    /// Serve until `shutdown` resolves, or a restored backup asks for a restart; then finish
    /// in-flight requests and close the databases cleanly.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<Stopped> {
        let restart = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let app = self.app.clone();
        let restart_flag = restart.clone();
        let shutdown = async move {
            tokio::select! {
                () = shutdown => {}
                () = app.backups.restart_requested() => {
                    restart_flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            // Realtime streams never finish on their own: end them when shutdown starts,
            // or the graceful shutdown would wait for them.
            app.realtime.shutdown();
        };
        let result = kb_http::serve(self.listener, self.app.clone(), shutdown).await;
        // Queued logs are written before the databases close.
        self.app.logs.close().await;
        self.app.close().await;
        result?;
        Ok(if restart.load(std::sync::atomic::Ordering::SeqCst) {
            Stopped::ForRestart
        } else {
            Stopped::Shutdown
        })
    }
}
