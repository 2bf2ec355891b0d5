//! Starting, watching and stopping the servers under test, each on a free port of 127.0.0.1
//! with a fresh data directory (and, for Keelbase on PostgreSQL, a fresh database) that
//! disappears with it.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::postgres::{Postgres, ScratchDatabase};
use crate::report::{FLOOR, KEELBASE, KEELBASE_POSTGRES, POCKETBASE};

pub const SUPERUSER_EMAIL: &str = "bench@example.com";
pub const SUPERUSER_PASSWORD: &str = "bench-superuser-password";

/// `USER_HZ`, the unit of the CPU times in `/proc/PID/stat`: 100 on every Linux
/// architecture this runs on (`getconf CLK_TCK`).
const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// How long a server may take to answer `/api/health` after it was spawned.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Child,
    pid: u32,
    log: PathBuf,
    /// Removed on drop, after the process is gone (`kill_on_drop` runs first: fields drop
    /// in declaration order).
    _data: TempDir,
    /// Keelbase on PostgreSQL: its records, dropped with it.
    _database: Option<ScratchDatabase>,
}

impl Server {
    /// Keelbase on SQLite in its data dir, or with `postgres` on a fresh database there
    /// (the data dir still holds files and the request logs).
    pub async fn start_keelbase(bin: &Path, postgres: Option<&Postgres>) -> Result<Server> {
        let data = tempfile::Builder::new()
            .prefix("kb-bench-keelbase.")
            .tempdir()?;
        let database = match postgres {
            Some(postgres) => Some(postgres.create_database().await?),
            None => None,
        };
        let mut data_flags: Vec<OsString> =
            vec!["--dir".into(), data.path().join("kb_data").into_os_string()];
        if let Some(database) = &database {
            data_flags.extend(["--db".into(), database.url.clone().into()]);
        }
        run_to_end(
            Command::new(bin)
                .args(["superuser", "upsert", SUPERUSER_EMAIL, SUPERUSER_PASSWORD])
                .args(&data_flags),
        )
        .await?;
        let addr = free_port()?;
        let mut serve = Command::new(bin);
        // Keelbase logs each request at `info` to stderr; PocketBase prints nothing per
        // request, so both keep the terminal quiet and only the request log in the database.
        serve
            .args(["serve", "--http", &addr.to_string()])
            .args(&data_flags)
            .env("KEELBASE_LOG", "warn");
        let name = if database.is_some() {
            KEELBASE_POSTGRES
        } else {
            KEELBASE
        };
        Server::spawn(name, serve, addr, data, database).await
    }

    /// PocketBase keeps migrations, hooks and public files beside its data dir and writes a
    /// migration file for every collection change; all of that stays in the temp dir, with
    /// automigrate off (as `shared/tools/pocketbase-reference` does).
    pub async fn start_pocketbase(bin: &Path) -> Result<Server> {
        let data = tempfile::Builder::new()
            .prefix("kb-bench-pocketbase.")
            .tempdir()?;
        let root = data.path();
        let flags = [
            "--dir".to_owned(),
            root.join("pb_data").display().to_string(),
            "--migrationsDir".to_owned(),
            root.join("pb_migrations").display().to_string(),
            "--hooksDir".to_owned(),
            root.join("pb_hooks").display().to_string(),
            "--publicDir".to_owned(),
            root.join("pb_public").display().to_string(),
            "--automigrate=false".to_owned(),
        ];
        run_to_end(
            Command::new(bin)
                .args(["superuser", "upsert", SUPERUSER_EMAIL, SUPERUSER_PASSWORD])
                .args(&flags),
        )
        .await?;
        let addr = free_port()?;
        let mut serve = Command::new(bin);
        serve
            .args(["serve", "--http", &addr.to_string()])
            .args(&flags);
        Server::spawn(POCKETBASE, serve, addr, data, None).await
    }

    pub async fn start_raw_floor(bin: &Path, seed: usize) -> Result<Server> {
        let data = tempfile::Builder::new()
            .prefix("kb-bench-floor.")
            .tempdir()?;
        let addr = free_port()?;
        let mut serve = Command::new(bin);
        serve
            .args(["--http", &addr.to_string(), "--seed", &seed.to_string()])
            .arg("--dir")
            .arg(data.path().join("data"));
        Server::spawn(FLOOR, serve, addr, data, None).await
    }

    async fn spawn(
        name: &'static str,
        mut command: Command,
        addr: SocketAddr,
        data: TempDir,
        database: Option<ScratchDatabase>,
    ) -> Result<Server> {
        let log = data.path().join("server.log");
        let log_file = std::fs::File::create(&log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let pid = child.id().context("the server exited at once")?;
        let mut server = Server {
            name,
            addr,
            child,
            pid,
            log,
            _data: data,
            _database: database,
        };
        server.wait_healthy().await?;
        Ok(server)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn wait_healthy(&mut self) -> Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/api/health", self.base_url());
        let started = Instant::now();
        loop {
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            self.ensure_running()?;
            if started.elapsed() > STARTUP_LIMIT {
                bail!(
                    "{} did not answer {url} within {STARTUP_LIMIT:?}",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Fails with the end of the server's log if the process has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
            bail!(
                "{} exited ({status}); its log ends (newest first):\n{tail}",
                self.name
            );
        }
        Ok(())
    }

    /// Starts a new peak for [`Memory::peak_kb`] (writing 5 to `clear_refs` sets VmHWM to
    /// the current RSS), so each measurement reports its own peak.
    pub fn reset_peak_rss(&self) -> Result<()> {
        let path = format!("/proc/{}/clear_refs", self.pid);
        std::fs::write(&path, "5").with_context(|| format!("resetting the peak RSS via {path}"))
    }

    pub fn memory(&self) -> Result<Memory> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in {path}"))
        };
        Ok(Memory {
            rss_kb: field("VmRSS:")?,
            peak_kb: field("VmHWM:")?,
        })
    }

    /// CPU time (user + system, all threads) the server has used so far. Per request it
    /// is steadier than throughput on a busy machine: other work slows a server down but
    /// does not make it burn more CPU per request.
    pub fn cpu_time(&self) -> Result<Duration> {
        process_cpu_time(self.pid)
    }

    pub async fn stop(mut self) -> Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kb: u64,
    pub peak_kb: u64,
}

/// CPU time (user + system, all threads) process `pid` has used so far.
pub fn process_cpu_time(pid: u32) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name in parentheses may hold spaces; the fields after it do not.
    // utime and stime are the 14th and 15th fields, the 12th and 13th after it.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {path}"))?;
    ensure!(ticks.len() == 2, "{path} is too short");
    Ok(Duration::from_millis(
        (ticks[0] + ticks[1]) * 1000 / CLOCK_TICKS_PER_SECOND,
    ))
}

async fn run_to_end(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .await
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A port the kernel just handed out and released; nothing else on this machine binds
/// 127.0.0.1 ports in a loop, so it is still free a moment later.
fn free_port() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}
