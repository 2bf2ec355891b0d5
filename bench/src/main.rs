//! `kb-bench`: Keelbase against the real PocketBase 0.40.6, side by side (issue 6).
//!
//! Starts both servers, Keelbase a second time on a fresh PostgreSQL database, and the raw
//! floor on 127.0.0.1 with fresh data dirs, sets up the same schema, users, rules and data
//! in each through the HTTP API, runs every scenario on each server it applies to in
//! alternation, and writes `RESULTS.md`. `bench/run` builds everything and calls this with
//! the binaries' paths.

mod api;
mod load;
mod postgres;
mod realtime;
mod report;
mod scenarios;
mod servers;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use hyper::StatusCode;
use kb_bench::dataset::{self, MEMBER_USERS, OUTSIDER};
use reqwest::Method;
use serde_json::json;

use crate::api::{Api, Session};
use crate::load::LoadSpec;
use crate::postgres::Postgres;
use crate::realtime::{Fanout, SseStream};
use crate::report::{KEELBASE, Measurement, MemoryMeasurement, Outcome, RunInfo, ScenarioResult};
use crate::scenarios::Scenario;
use crate::servers::{Server, process_cpu_time};

#[derive(Parser)]
#[command(about = "Benchmark Keelbase against PocketBase 0.40.6 (issue 6)")]
struct Args {
    /// The Keelbase binary (a release build).
    #[arg(long)]
    keelbase: PathBuf,
    /// The PocketBase 0.40.6 binary.
    #[arg(long)]
    pocketbase: PathBuf,
    /// The raw floor server; defaults to `raw-floor` beside this binary.
    #[arg(long)]
    raw_floor: Option<PathBuf>,
    /// The PostgreSQL server for the Keelbase (PostgreSQL) target, as a URL of a database
    /// the harness may create and drop databases from (it makes one per server, no TLS).
    #[arg(
        long,
        env = "KB_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Skip the Keelbase (PostgreSQL) target, e.g. where no PostgreSQL server runs.
    #[arg(long)]
    no_postgres: bool,
    /// Smoke run: short measurements and few realtime writes.
    #[arg(long)]
    quick: bool,
    /// Seconds per measurement round of a load scenario [default: 10, quick: 2].
    #[arg(long)]
    duration: Option<f64>,
    /// Rounds per server and scenario, alternating between the servers.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Connections of the load generator, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Most requests of one round, whatever the duration.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// Messages seeded into every server.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// SSE subscribers of the realtime scenario.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Timed writes per server in the realtime scenario [default: 20, quick: 5].
    #[arg(long)]
    writes: Option<usize>,
    /// Idle SSE connections of the memory scenario.
    #[arg(long, default_value_t = 10_000)]
    sse_connections: usize,
    /// Turn request logging off in Keelbase and PocketBase (`logs.maxDays = 0`), to measure
    /// what logging every request costs; both log by default.
    #[arg(long)]
    no_request_logs: bool,
    /// Run only these scenarios (comma-separated); all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    scenarios: Vec<Scenario>,
    /// Where the report goes [default: RESULTS.md beside this project's Cargo.toml].
    #[arg(long)]
    output: Option<PathBuf>,
    /// The command line to print in the report (`bench/run` passes its own).
    #[arg(long, env = "KB_BENCH_COMMAND")]
    command: Option<String>,
}

/// One server under test with what its setup produced.
struct Target {
    server: Server,
    /// `None` for the raw floor, which has no API beyond the two measured routes.
    api: Option<Api>,
    tokens: Vec<String>,
    /// VmRSS after setup and seeding, before any load.
    idle_rss_kb: u64,
}

struct Plan {
    load: LoadSpec,
    rounds: usize,
    records: usize,
    subscribers: usize,
    writes: usize,
    sse_connections: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    tokio::select! {
        finished = run(args) => return finished,
        _ = tokio::signal::ctrl_c() => {}
    }
    // Dropping the run stopped every server it started and removed their data dirs and
    // databases, which an interrupted process would otherwise leave behind.
    eprintln!("interrupted");
    std::process::exit(130);
}

async fn run(args: Args) -> Result<()> {
    ensure!(
        args.records >= MEMBER_USERS * 20,
        "--records must be at least {} so every user has messages to view",
        MEMBER_USERS * 20
    );
    ensure!(
        args.rounds > 0 && args.concurrency > 0 && args.max_requests > 0,
        "--rounds, --concurrency and --max-requests must be positive"
    );
    let plan = Plan {
        load: LoadSpec {
            concurrency: args.concurrency,
            duration: Duration::from_secs_f64(args.duration.unwrap_or(if args.quick {
                2.0
            } else {
                10.0
            })),
            max_requests: args.max_requests,
        },
        rounds: args.rounds,
        records: args.records,
        subscribers: args.subscribers,
        writes: args.writes.unwrap_or(if args.quick { 5 } else { 20 }),
        sse_connections: args.sse_connections,
    };
    let mut scenarios: Vec<Scenario> = if args.scenarios.is_empty() {
        <Scenario as clap::ValueEnum>::value_variants().to_vec()
    } else {
        args.scenarios.clone()
    };
    // Always in their declared order, whatever order they were named in (see `Scenario`).
    scenarios.sort();
    scenarios.dedup();
    check_open_files(&plan, &scenarios)?;
    let floor_bin = match &args.raw_floor {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("raw-floor"),
    };

    let postgres = if args.no_postgres {
        None
    } else {
        match Postgres::check(&args.postgres_url).await {
            Ok(postgres) => Some(postgres),
            // The message says what to do; a backtrace (RUST_BACKTRACE) would bury it.
            Err(err) => {
                eprintln!("{err:#}");
                std::process::exit(2);
            }
        }
    };

    let (targets, setup_notes) = start_and_set_up(&args, &floor_bin, postgres.as_ref()).await?;

    let load_average_before = load_average();
    let mut results = Vec::new();
    for scenario in scenarios {
        eprintln!("scenario {}: {}", scenario.number(), scenario.title());
        let measured: Vec<&Target> = targets
            .iter()
            .filter(|target| scenario.runs_on(target.server.name))
            .collect();
        let outcome = match scenario {
            Scenario::Realtime => run_realtime(&measured, &plan).await,
            Scenario::SseMemory => run_sse_memory(&args, &measured, &plan).await,
            _ => run_load(scenario, &measured, &plan).await,
        };
        if let Err(err) = &outcome {
            eprintln!("  FAILED: {err:#}");
        }
        results.push(ScenarioResult {
            scenario,
            outcome: outcome.map_err(|err| format!("{err:#}")),
        });
    }
    let load_average_after = load_average();

    let mut server_exits = Vec::new();
    for mut target in targets {
        if let Err(exited) = target.server.ensure_running() {
            server_exits.push(format!("{exited:#}"));
        }
        target.server.stop().await?;
    }

    let info = RunInfo {
        quick: args.quick,
        command: args
            .command
            .clone()
            .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" ")),
        machine: format!(
            "{}; load average {load_average_before} before the scenarios, \
             {load_average_after} after",
            machine()
        ),
        revision: revision(),
        postgres: postgres.map_or_else(
            || "not measured (--no-postgres)".to_owned(),
            |postgres| {
                format!(
                    "{} at {}, a fresh database for the run",
                    postgres.version,
                    postgres.location()
                )
            },
        ),
        settings: format!(
            "concurrency {}, {} rounds of {:.1} s per server and scenario (at most {} \
             requests each), {} seeded messages, {} realtime subscribers × {} writes, {} \
             idle SSE connections{}",
            plan.load.concurrency,
            plan.rounds,
            plan.load.duration.as_secs_f64(),
            plan.load.max_requests,
            plan.records,
            plan.subscribers,
            plan.writes,
            plan.sse_connections,
            if args.no_request_logs {
                ", request logging off in both servers (--no-request-logs)"
            } else {
                ""
            }
        ),
        setup: setup_notes.join("; "),
        server_exits,
    };
    let output = args
        .output
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md"));
    std::fs::write(&output, report::render(&info, &results))
        .with_context(|| format!("writing {}", output.display()))?;
    eprintln!("wrote {}", output.display());
    let failed = results.iter().filter(|r| r.outcome.is_err()).count();
    if failed > 0 || !info.server_exits.is_empty() {
        // Everything is stopped and reported: a plain message and the exit status say
        // the rest (returning the error would add a backtrace of `main`).
        eprintln!(
            "{failed} scenario(s) failed, {} server(s) exited during the run; see {}",
            info.server_exits.len(),
            output.display()
        );
        std::process::exit(1);
    }
    Ok(())
}

/// Starts the servers and gives every real one the same schema, users and data. Returns
/// them (Keelbase, Keelbase on `postgres` if given, PocketBase, raw floor: the order of the
/// rounds) with a note per seeding.
async fn start_and_set_up(
    args: &Args,
    floor_bin: &Path,
    postgres: Option<&Postgres>,
) -> Result<(Vec<Target>, Vec<String>)> {
    let also_postgres = if postgres.is_some() {
        ", Keelbase on PostgreSQL"
    } else {
        ""
    };
    eprintln!("starting Keelbase{also_postgres}, PocketBase and the raw floor on 127.0.0.1");
    let keelbase = Server::start_keelbase(&args.keelbase, None).await?;
    let keelbase_postgres = match postgres {
        Some(postgres) => Some(Server::start_keelbase(&args.keelbase, Some(postgres)).await?),
        None => None,
    };
    let pocketbase = Server::start_pocketbase(&args.pocketbase).await?;
    let floor = Server::start_raw_floor(floor_bin, args.records).await?;

    let mut setup_notes = Vec::new();
    let mut targets = Vec::new();
    for server in [Some(keelbase), keelbase_postgres, Some(pocketbase)]
        .into_iter()
        .flatten()
    {
        eprintln!(
            "{}: setting up and seeding {} messages",
            server.name, args.records
        );
        let api = Api::connect(&server).await?;
        let session = api
            .set_up(args.records, !args.no_request_logs)
            .await
            .with_context(|| format!("setting up {}", server.name))?;
        check_create_rule(&api, &session)
            .await
            .with_context(|| format!("{} enforces the create rule", server.name))?;
        setup_notes.push(format!(
            "{} seeded {} messages in {:.1} s",
            server.name,
            args.records,
            session.seed_time.as_secs_f64()
        ));
        targets.push(Target {
            server,
            api: Some(api),
            tokens: session.user_tokens,
            idle_rss_kb: 0,
        });
    }
    targets.push(Target {
        server: floor,
        api: None,
        tokens: Vec::new(),
        idle_rss_kb: 0,
    });
    // Let background work after the seeding (WAL checkpoints, log flushes) settle first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for target in &mut targets {
        target.idle_rss_kb = target.server.memory()?.rss_kb;
    }

    Ok((targets, setup_notes))
}

/// The create rule must refuse an outsider and a member posting in someone else's room,
/// or scenario 1 would measure a rule that checks nothing.
async fn check_create_rule(api: &Api, session: &Session) -> Result<()> {
    let member = 0;
    let foreign_room = (0..dataset::ROOMS)
        .find(|room| !dataset::user_rooms(member).contains(room))
        .context("every room is user 0's")?;
    let attempts = [
        (OUTSIDER, dataset::user_rooms(member)[0]),
        (member, foreign_room),
    ];
    for (user, room) in attempts {
        let body = json!({
            "room": dataset::room_id(room),
            "author": dataset::user_id(user),
            "text": "not allowed",
            "seq": 0,
        });
        let (status, answer) = api
            .send_raw(
                Method::POST,
                "/api/collections/messages/records",
                body,
                Some(&session.user_tokens[user]),
            )
            .await?;
        ensure!(
            !status.is_success(),
            "user {user} could post in room {room}, which is not theirs: {answer}"
        );
    }
    Ok(())
}

async fn run_load(scenario: Scenario, targets: &[&Target], plan: &Plan) -> Result<Outcome> {
    for target in targets {
        let request = scenario.request(&target.tokens, plan.records, 0, 0);
        let body = load::send_once(target.server.addr, &request, StatusCode::OK)
            .await
            .with_context(|| format!("checking {}", target.server.name))?;
        let answer = serde_json::from_slice(&body)
            .with_context(|| format!("{} answered no JSON", target.server.name))?;
        scenario
            .validate(&answer, plan.records)
            .with_context(|| format!("checking {}", target.server.name))?;
    }
    let mut measurements: Vec<Measurement> = targets
        .iter()
        .map(|t| Measurement::new(t.server.name))
        .collect();
    for round in 1..=plan.rounds {
        for (target, measurement) in targets.iter().zip(&mut measurements) {
            target.server.reset_peak_rss()?;
            let cpu_before = target.server.cpu_time()?;
            let client_cpu_before = process_cpu_time(std::process::id())?;
            let tokens = target.tokens.clone();
            let records = plan.records;
            let make =
                Arc::new(move |worker, sent| scenario.request(&tokens, records, worker, sent));
            let outcome = load::run(target.server.addr, plan.load, StatusCode::OK, make)
                .await
                .with_context(|| format!("{} round {round}", target.server.name))?;
            let cpu = target.server.cpu_time()? - cpu_before;
            let client_cpu = process_cpu_time(std::process::id())? - client_cpu_before;
            let memory = target.server.memory()?;
            let throughput = outcome.requests as f64 / outcome.elapsed.as_secs_f64();
            eprintln!(
                "  {:<21} round {round}: {throughput:>8.0} req/s",
                target.server.name
            );
            measurement.round_throughputs.push(throughput);
            measurement.server_cpu += cpu;
            measurement.client_cpu += client_cpu;
            measurement.requests += outcome.requests;
            measurement.elapsed += outcome.elapsed;
            measurement.latency.add(&outcome.latency)?;
            measurement.peak_rss_kb = measurement.peak_rss_kb.max(memory.peak_kb);
        }
    }
    Ok(Outcome::Load(measurements))
}

async fn run_realtime(targets: &[&Target], plan: &Plan) -> Result<Outcome> {
    let mut fanouts = Vec::new();
    for target in targets {
        let api = target.api.as_ref().context("realtime needs the API")?;
        target.server.reset_peak_rss()?;
        let streams = realtime::open_many(
            target.server.addr,
            plan.subscribers,
            Some((api, &target.tokens[..MEMBER_USERS])),
        )
        .await
        .with_context(|| format!("{} subscribers", target.server.name))?;
        fanouts.push(Fanout::listen(streams));
    }
    let write =
        |target: &Target, sent| Scenario::Realtime.request(&target.tokens, plan.records, 0, sent);
    // The first write of each server is the check, and is not timed.
    for (target, fanout) in targets.iter().zip(&mut fanouts) {
        let api = target.api.as_ref().context("realtime needs the API")?;
        fanout
            .time_write(api, &write(target, 0))
            .await
            .with_context(|| format!("checking {}", target.server.name))?;
    }
    let mut measurements: Vec<Measurement> = targets
        .iter()
        .map(|t| Measurement::new(t.server.name))
        .collect();
    for sent in 1..=plan.writes as u64 {
        for ((target, fanout), measurement) in
            targets.iter().zip(&mut fanouts).zip(&mut measurements)
        {
            let api = target.api.as_ref().context("realtime needs the API")?;
            let took = fanout
                .time_write(api, &write(target, sent))
                .await
                .with_context(|| format!("{} write {sent}", target.server.name))?;
            measurement.requests += 1;
            measurement.elapsed += took;
            measurement
                .latency
                .saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        }
    }
    for (target, measurement) in targets.iter().zip(&mut measurements) {
        measurement.peak_rss_kb = target.server.memory()?.peak_kb;
        eprintln!(
            "  {:<21} p50 {:.1} ms to the last of {} subscribers",
            target.server.name,
            measurement.latency.value_at_quantile(0.5) as f64 / 1000.0,
            plan.subscribers
        );
    }
    for fanout in fanouts {
        fanout.close().await;
    }
    Ok(Outcome::Realtime {
        subscribers: plan.subscribers,
        measurements,
    })
}

/// The connections go to a fresh instance of each server (empty, just started), one at a
/// time: a process that has served the other scenarios may keep memory it freed and reuse
/// it for the connections, which would hide what they cost.
async fn run_sse_memory(args: &Args, seeded: &[&Target], plan: &Plan) -> Result<Outcome> {
    let mut measurements = Vec::new();
    for target in seeded {
        let fresh = match target.server.name {
            KEELBASE => Server::start_keelbase(&args.keelbase, None).await?,
            _ => Server::start_pocketbase(&args.pocketbase).await?,
        };
        // Let startup work (migrations, the first log flush) finish first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = fresh.memory()?;
        let streams: Vec<SseStream> = realtime::open_many(fresh.addr, plan.sse_connections, None)
            .await
            .with_context(|| format!("{} idle SSE connections", fresh.name))?;
        // Give the server a moment to finish whatever each new client set off.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let connected = fresh.memory()?;
        eprintln!(
            "  {:<21} {:.1} MiB with {} SSE connections ({:.1} MiB before)",
            fresh.name,
            connected.rss_kb as f64 / 1024.0,
            streams.len(),
            started.rss_kb as f64 / 1024.0
        );
        measurements.push(MemoryMeasurement {
            server: fresh.name,
            idle_rss_kb: target.idle_rss_kb,
            started_rss_kb: started.rss_kb,
            connections: streams.len(),
            connected_rss_kb: connected.rss_kb,
        });
        drop(streams);
        fresh.stop().await?;
    }
    Ok(Outcome::Memory(measurements))
}

/// Every SSE stream is a socket here and on the server: fail early and clearly instead of
/// halfway through with "too many open files".
fn check_open_files(plan: &Plan, scenarios: &[Scenario]) -> Result<()> {
    let mut needed = plan.load.concurrency;
    if scenarios.contains(&Scenario::Realtime) {
        needed = needed.max(2 * plan.subscribers);
    }
    if scenarios.contains(&Scenario::SseMemory) {
        needed = needed.max(plan.sse_connections);
    }
    needed += 256;
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let soft: Option<usize> = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|value| value.parse().ok());
    match soft {
        Some(limit) if limit < needed => bail!(
            "the open files limit is {limit}, the scenarios need about {needed}: raise it \
             with `ulimit -n {needed}` (bench/run raises it to the hard limit)"
        ),
        _ => Ok(()),
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map_or("unknown CPU", |rest| {
            rest.trim_start_matches([' ', '\t', ':'])
        });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores available, {memory_gib:.1} GiB RAM, Linux {}",
        kernel.trim()
    )
}

fn load_average() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    loadavg
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The Keelbase commit the bench sits in, marked when the work tree has changes.
fn revision() -> String {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let dirty = git(&["status", "--porcelain", "--", "crates"])
                .is_some_and(|status| !status.is_empty());
            if dirty {
                format!("{commit} (with uncommitted changes under crates/)")
            } else {
                commit
            }
        }
        None => "unknown".to_owned(),
    }
}
