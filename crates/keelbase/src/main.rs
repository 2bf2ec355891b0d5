//! The `keelbase` command: parse the CLI, start tracing, and call the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use keelbase::{Config, Server, Stopped, migrate_data, open_app};

#[global_allocator]
static ALLOCATOR: kb_alloc::Allocator = kb_alloc::Allocator;

#[derive(Parser)]
#[command(
    name = "keelbase",
    version,
    about = "A PocketBase-compatible back end in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct DataDir {
    /// The data directory.
    #[arg(
        long = "dir",
        env = "KEELBASE_DIR",
        default_value = "kb_data",
        global = true
    )]
    dir: PathBuf,
    /// Keep records in this PostgreSQL database (`postgres://user@host/db`, add
    /// `?sslmode=require` for TLS) instead of `data.db` in the data directory.
    #[arg(long = "db", env = "KEELBASE_DATABASE_URL", global = true)]
    db: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "KEELBASE_HTTP", default_value = "127.0.0.1:8090")]
        http: SocketAddr,
        #[command(flatten)]
        data: DataDir,
    },
    /// Manage superusers.
    Superuser {
        #[command(subcommand)]
        action: SuperuserAction,
        #[command(flatten)]
        data: DataDir,
    },
    /// Copy a SQLite Keelbase into an empty PostgreSQL database (the source is only read).
    MigrateData {
        /// The data directory to copy from.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database to copy into (`postgres://user@host/db`).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum SuperuserAction {
    /// Create a superuser, or set the password of an existing one.
    Upsert { email: String, password: String },
    /// Delete a superuser.
    Delete { email: String },
}

/// Wait for one signal; a stream that could not be registered never fires.
#[cfg(unix)]
async fn recv(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are registered when this is called, not
/// when first polled, so a signal that arrives right after start-up is not missed.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let [interrupt, terminate] = {
        use tokio::signal::unix::{SignalKind, signal};
        [SignalKind::interrupt(), SignalKind::terminate()].map(|kind| signal(kind).ok())
    };
    async move {
        #[cfg(unix)]
        tokio::select! {
            () = recv(interrupt) => {},
            () = recv(terminate) => {},
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEELBASE_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { http, data } => {
            let server = Server::build(Config {
                http,
                data_dir: data.dir.clone(),
                database_url: data.db.clone(),
            })
            .await
            .context("failed to start")?;
            let addr = server.local_addr();
            let shutdown = shutdown_signal();
            // The URL may hold a password: name the backend only.
            let database = if data.db.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            };
            tracing::info!(
                "Keelbase is serving http://{addr} (REST API: http://{addr}/api/, dashboard: http://{addr}/_/, data: {}, records in {database})",
                data.dir.display()
            );
            if let Some(token) = server
                .app()
                .open_install()
                .await
                .context("failed to check for a superuser")?
            {
                println!(
                    "\nNo superuser yet. Create the first one in the dashboard (this link works once):\n\n    http://{addr}/_/#/install/{token}\n\nor run: keelbase superuser upsert EMAIL PASSWORD\n"
                );
            }
            if server.run(shutdown).await.context("server error")? == Stopped::ForRestart {
                restart();
            }
        }
        Command::MigrateData { from, to } => {
            let report = migrate_data(&from, &to).await.context("migration failed")?;
            for (collection, records) in &report.collections {
                println!("{collection}: {records} records");
            }
            println!(
                "Copied and verified. Record files stay in {}: give every node that directory, \
                 or move them to S3.",
                from.join("storage").display()
            );
        }
        Command::Superuser { action, data } => {
            let app = open_app(&data.dir, data.db.as_deref())
                .await
                .context("failed to open the data directory")?;
            match action {
                SuperuserAction::Upsert { email, password } => {
                    app.upsert_superuser(&email, &password)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}: {}", describe(&e)))?;
                    println!("Superuser {email} saved.");
                }
                SuperuserAction::Delete { email } => {
                    let deleted = app
                        .delete_superuser(&email)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    if deleted {
                        println!("Superuser {email} deleted.");
                    } else {
                        println!("No superuser {email}.");
                    }
                }
            }
            app.close().await;
        }
    }
    Ok(())
}

/// Start this program again in this process, with the same arguments (after a restore, so
/// the restored data is swapped in before anything opens it). Returns only if that fails,
/// and then exits: the restore is applied whenever the server is next started.
fn restart() -> ! {
    tracing::info!("restarting to apply the restored backup");
    let error = match std::env::current_exe() {
        #[cfg(unix)]
        Ok(program) => {
            use std::os::unix::process::CommandExt;
            std::process::Command::new(program)
                .args(std::env::args_os().skip(1))
                .exec()
        }
        #[cfg(not(unix))]
        Ok(_) => std::io::Error::other("restarting in place needs a Unix system"),
        Err(error) => error,
    };
    eprintln!("could not restart ({error}); start keelbase again to apply the restored backup");
    std::process::exit(1)
}

/// The field errors of a validation failure, for the terminal.
fn describe(error: &kb_app::AppError) -> String {
    match error {
        kb_app::AppError::BadRequest { data, .. } => {
            serde_json::to_string(data).unwrap_or_default()
        }
        _ => String::new(),
    }
}
