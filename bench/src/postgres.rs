//! The PostgreSQL server behind the "Keelbase (PostgreSQL)" target: checked once, then a
//! fresh database for every Keelbase started on it, dropped when that server goes.

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use tokio_postgres::{Client, NoTls};
use url::Url;

/// A PostgreSQL server reached through a maintenance database (usually `postgres`) in
/// which the harness creates and drops its own databases.
pub struct Postgres {
    admin_url: Url,
    /// `SHOW server_version`, for the report.
    pub version: String,
}

impl Postgres {
    /// Connects once, so an unreachable server fails the run before anything starts.
    pub async fn check(admin_url: &str) -> Result<Postgres> {
        let admin_url =
            Url::parse(admin_url).with_context(|| format!("parsing --postgres-url {admin_url}"))?;
        let client = connect(admin_url.as_str()).await.with_context(|| {
            format!(
                "PostgreSQL at {} is not reachable: start it, point --postgres-url at \
                 another server, or pass --no-postgres to skip the Keelbase (PostgreSQL) \
                 target",
                without_password(&admin_url)
            )
        })?;
        let version = client
            .query_one("SHOW server_version", &[])
            .await?
            .get::<_, String>(0);
        Ok(Postgres { admin_url, version })
    }

    /// Where the server is, without any password in the URL.
    pub fn location(&self) -> String {
        without_password(&self.admin_url)
    }

    pub async fn create_database(&self) -> Result<ScratchDatabase> {
        // The process id keeps concurrent harnesses apart; the counter, the servers of one.
        static CREATED: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "kb_bench_{}_{}",
            std::process::id(),
            CREATED.fetch_add(1, Ordering::Relaxed)
        );
        let client = connect(self.admin_url.as_str()).await?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name}"))?;
        let mut url = self.admin_url.clone();
        url.set_path(&name);
        Ok(ScratchDatabase {
            admin_url: self.admin_url.clone(),
            name,
            url: url.into(),
        })
    }
}

/// A database of the harness's own, dropped on drop: when its server stops, and on every
/// path out of a failed start or run.
pub struct ScratchDatabase {
    admin_url: Url,
    name: String,
    /// The connection URL for Keelbase's `--db`.
    pub url: String,
}

impl Drop for ScratchDatabase {
    /// Best effort, with a message naming the database if it stays behind. `Drop` cannot
    /// await and may run inside the harness's runtime, so the drop gets a thread and a
    /// runtime of its own. `WITH (FORCE)` ends the server's connections in case it was only
    /// just killed (on a failure path nothing waits for it to exit).
    fn drop(&mut self) {
        let admin_url = self.admin_url.to_string();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = connect(&admin_url).await?;
                client.batch_execute(&statement).await?;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("could not drop database {}: {err:#}", self.name),
            Err(_) => eprintln!("could not drop database {}: the thread panicked", self.name),
        }
    }
}

/// A client whose connection runs on the current runtime until the client is dropped.
/// The harness talks to a local server: no TLS (`sslmode=require` fails here).
async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        // Ends with an error only when the server goes away, which the next query reports.
        let _ = connection.await;
    });
    Ok(client)
}

fn without_password(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_password(None);
    url.into()
}
