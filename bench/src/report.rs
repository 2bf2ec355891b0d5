//! The measurements and their rendering as `RESULTS.md`: per-server tables, the
//! Keelbase/PocketBase ratios, and the issue's targets with whether this run met them.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::load::new_histogram;
use crate::scenarios::Scenario;

pub const KEELBASE: &str = "Keelbase";
pub const KEELBASE_POSTGRES: &str = "Keelbase (PostgreSQL)";
pub const POCKETBASE: &str = "PocketBase";
pub const FLOOR: &str = "raw floor";

/// One server's numbers for one scenario, summed over its rounds.
pub struct Measurement {
    pub server: &'static str,
    /// Requests (load scenarios) or timed writes (realtime).
    pub requests: u64,
    pub elapsed: Duration,
    /// Microseconds: request latency, or time to the last delivery for realtime.
    pub latency: Histogram<u64>,
    pub peak_rss_kb: u64,
    /// Load scenarios: each round's throughput, to show how much the rounds disagree.
    pub round_throughputs: Vec<f64>,
    /// Load scenarios: CPU time the server process used during the rounds.
    pub server_cpu: Duration,
    /// Load scenarios: CPU time the load generator used meanwhile. Near a core's worth
    /// per second, the client rather than the server sets the pace.
    pub client_cpu: Duration,
}

impl Measurement {
    pub fn new(server: &'static str) -> Measurement {
        Measurement {
            server,
            requests: 0,
            elapsed: Duration::ZERO,
            latency: new_histogram(),
            peak_rss_kb: 0,
            round_throughputs: Vec::new(),
            server_cpu: Duration::ZERO,
            client_cpu: Duration::ZERO,
        }
    }

    fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn cpu_micros_per_request(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.requests as f64
    }

    fn client_cpu_micros_per_request(&self) -> f64 {
        self.client_cpu.as_secs_f64() * 1e6 / self.requests as f64
    }

    fn quantile_ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Scenario 7 for one server.
pub struct MemoryMeasurement {
    pub server: &'static str,
    /// The benchmarked server after setup and seeding, before any load.
    pub idle_rss_kb: u64,
    /// A fresh instance (empty) just after startup, before the SSE connections.
    pub started_rss_kb: u64,
    pub connections: usize,
    pub connected_rss_kb: u64,
}

pub enum Outcome {
    Load(Vec<Measurement>),
    Realtime {
        subscribers: usize,
        measurements: Vec<Measurement>,
    },
    Memory(Vec<MemoryMeasurement>),
}

pub struct ScenarioResult {
    pub scenario: Scenario,
    pub outcome: Result<Outcome, String>,
}

/// Everything the header of the report says about how the numbers were made.
pub struct RunInfo {
    pub quick: bool,
    pub command: String,
    pub machine: String,
    pub revision: String,
    /// The PostgreSQL server of the Keelbase (PostgreSQL) target, or why there is none.
    pub postgres: String,
    pub settings: String,
    pub setup: String,
    /// Servers that were no longer running at the end, with their logs' last lines.
    pub server_exits: Vec<String>,
}

pub fn render(info: &RunInfo, results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, info, results);
    out
}

fn render_into(out: &mut String, info: &RunInfo, results: &[ScenarioResult]) -> std::fmt::Result {
    writeln!(out, "# Benchmark results: Keelbase vs PocketBase 0.40.6\n")?;
    if info.quick {
        writeln!(
            out,
            "> **Quick run** (`--quick`: short measurements) on a shared machine where other \
             work was running at the same time. The numbers show that the harness works and \
             their rough size; they are noisy and not a verdict on the targets.\n"
        )?;
    }
    writeln!(out, "- command: `{}`", info.command)?;
    writeln!(out, "- machine: {}", info.machine)?;
    writeln!(out, "- Keelbase revision: {}", info.revision)?;
    writeln!(out, "- PostgreSQL: {}", info.postgres)?;
    writeln!(out, "- settings: {}", info.settings)?;
    writeln!(out, "- setup: {}", info.setup)?;
    writeln!(
        out,
        "\nServers and load generator share the machine, all on 127.0.0.1. Each load \
         scenario is sent once to every server and checked before it is measured; \
         measurements alternate between the servers round by round (A, B, C, A, B, C); \
         throughput and latency are over all rounds, peak RSS is the highest VmHWM of a \
         round (reset to the current RSS before each, so it includes what the process kept \
         from earlier steps; see Memory). CPU per request is user + system time of the \
         server process, and of the load generator (client), over the requests; when the \
         client's share nears the machine's, the client sets the pace. Any unexpected \
         status fails the scenario.\n"
    )?;
    writeln!(
        out,
        "{KEELBASE_POSTGRES} is the same Keelbase binary with its records in a fresh \
         database of the PostgreSQL server above, on the same machine; it runs scenarios \
         1–5. Its peak RSS and server CPU are the Keelbase process's alone: the memory and \
         CPU of the PostgreSQL server (its backends for this database) are not counted, so \
         those two columns flatter it next to the SQLite servers, which do all the work \
         in-process.\n"
    )?;

    writeln!(out, "## Requests\n")?;
    writeln!(
        out,
        "| # | scenario | server | req/s | req/s per round | p50 ms | p99 ms | server CPU µs/req | client CPU µs/req | peak RSS MiB | requests |"
    )?;
    writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for result in results {
        let Ok(Outcome::Load(measurements)) = &result.outcome else {
            continue;
        };
        for m in measurements {
            let number = if m.server == FLOOR {
                "8".to_owned()
            } else {
                result.scenario.number().to_string()
            };
            writeln!(
                out,
                "| {number} | {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {} | {} |",
                result.scenario.title(),
                m.server,
                m.throughput(),
                m.round_throughputs
                    .iter()
                    .map(|t| format!("{t:.0}"))
                    .collect::<Vec<_>>()
                    .join(" / "),
                m.quantile_ms(0.5),
                m.quantile_ms(0.99),
                m.cpu_micros_per_request(),
                m.client_cpu_micros_per_request(),
                mib(m.peak_rss_kb),
                m.requests
            )?;
        }
    }

    writeln!(out, "\n## Keelbase / PocketBase\n")?;
    writeln!(
        out,
        "Above 1 means Keelbase has more throughput; below 1 means a lower p99, less \
         server CPU per request or a smaller peak RSS. Server CPU per request (user + \
         system time of the server process over its requests) is the steadiest of these on \
         a busy machine. The last two columns compare throughput only: Keelbase against the \
         raw floor, and {KEELBASE_POSTGRES} against PocketBase.\n"
    )?;
    writeln!(
        out,
        "| # | scenario | throughput | p99 | server CPU per request | peak RSS | Keelbase / raw floor throughput | {KEELBASE_POSTGRES} / PocketBase throughput |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|")?;
    for result in results {
        let Ok(Outcome::Load(measurements)) = &result.outcome else {
            continue;
        };
        let (Some(kb), Some(pb)) = (find(measurements, KEELBASE), find(measurements, POCKETBASE))
        else {
            continue;
        };
        let floor = find(measurements, FLOOR).map_or("—".to_owned(), |floor| {
            ratio(kb.throughput(), floor.throughput())
        });
        let postgres = find(measurements, KEELBASE_POSTGRES).map_or("—".to_owned(), |kb_pg| {
            ratio(kb_pg.throughput(), pb.throughput())
        });
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {floor} | {postgres} |",
            result.scenario.number(),
            result.scenario.title(),
            ratio(kb.throughput(), pb.throughput()),
            ratio(kb.quantile_ms(0.99), pb.quantile_ms(0.99)),
            ratio(kb.cpu_micros_per_request(), pb.cpu_micros_per_request()),
            ratio(kb.peak_rss_kb as f64, pb.peak_rss_kb as f64),
        )?;
    }

    for result in results {
        match &result.outcome {
            Ok(Outcome::Realtime {
                subscribers,
                measurements,
            }) => {
                writeln!(
                    out,
                    "\n## Realtime (6): one write delivered to {subscribers} SSE subscribers\n"
                )?;
                writeln!(
                    out,
                    "Time from sending the create to the moment the last subscriber had the \
                     event.\n"
                )?;
                writeln!(
                    out,
                    "| server | writes | p50 ms | p99 ms | max ms | peak RSS MiB |"
                )?;
                writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
                for m in measurements {
                    writeln!(
                        out,
                        "| {} | {} | {:.1} | {:.1} | {:.1} | {} |",
                        m.server,
                        m.requests,
                        m.quantile_ms(0.5),
                        m.quantile_ms(0.99),
                        m.quantile_ms(1.0),
                        mib(m.peak_rss_kb)
                    )?;
                }
            }
            Ok(Outcome::Memory(measurements)) => {
                writeln!(out, "\n## Memory (7)\n")?;
                writeln!(
                    out,
                    "VmRSS in MiB. Idle: the benchmarked server after setup and seeding, \
                     before any load. The SSE connections go to a fresh, empty instance of \
                     each server: just started, then with every connection holding its \
                     `PB_CONNECT`.\n"
                )?;
                writeln!(
                    out,
                    "| server | idle, seeded | fresh instance | SSE connections | with them | increase |"
                )?;
                writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
                for m in measurements {
                    writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} |",
                        m.server,
                        mib(m.idle_rss_kb),
                        mib(m.started_rss_kb),
                        m.connections,
                        mib(m.connected_rss_kb),
                        mib(m.connected_rss_kb.saturating_sub(m.started_rss_kb))
                    )?;
                }
            }
            _ => {}
        }
    }

    writeln!(out, "\n## Targets of issue 6\n")?;
    writeln!(out, "| target | this run | met |")?;
    writeln!(out, "|---|---|---|")?;
    for (target, measured, met) in targets(results) {
        let met = match met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "not measured",
        };
        writeln!(out, "| {target} | {measured} | {met} |")?;
    }

    if !info.server_exits.is_empty() {
        writeln!(out, "\n## Servers that exited during the run\n")?;
        for exit in &info.server_exits {
            writeln!(out, "```\n{exit}\n```")?;
        }
    }

    let failures: Vec<_> = results
        .iter()
        .filter_map(|r| r.outcome.as_ref().err().map(|err| (r.scenario, err)))
        .collect();
    if !failures.is_empty() {
        writeln!(out, "\n## Failed scenarios\n")?;
        for (scenario, err) in failures {
            writeln!(out, "- **{}** ({}):", scenario.title(), scenario.number())?;
            writeln!(out, "  ```\n  {}\n  ```", err.replace('\n', "\n  "))?;
        }
    }
    Ok(())
}

/// Each target of the issue: what it asks, what this run measured, and whether it was met
/// (`None` when the scenario did not run or failed).
fn targets(results: &[ScenarioResult]) -> Vec<(String, String, Option<bool>)> {
    let load = |scenario: Scenario| {
        results
            .iter()
            .find_map(|r| match (&r.outcome, r.scenario == scenario) {
                (Ok(Outcome::Load(m)), true) => Some(m),
                _ => None,
            })
    };
    let mut rows = Vec::new();
    for scenario in [
        Scenario::Create,
        Scenario::View,
        Scenario::ListIndexed,
        Scenario::ListIndexedNoTotal,
    ] {
        let target = format!(
            "{}: ≥ 4× PocketBase throughput, lower p99",
            scenario.title()
        );
        let pair = load(scenario).and_then(|m| find(m, KEELBASE).zip(find(m, POCKETBASE)));
        rows.push(match pair {
            Some((kb, pb)) => {
                let times = kb.throughput() / pb.throughput();
                let (kb99, pb99) = (kb.quantile_ms(0.99), pb.quantile_ms(0.99));
                let measured = format!("{times:.2}×, p99 {kb99:.2} vs {pb99:.2} ms");
                (target, measured, Some(times >= 4.0 && kb99 < pb99))
            }
            None => (target, "—".to_owned(), None),
        });
    }
    for scenario in [Scenario::View, Scenario::Create] {
        let target = format!("{}: ≥ 75% of the raw floor's throughput", scenario.title());
        let pair = load(scenario).and_then(|m| find(m, KEELBASE).zip(find(m, FLOOR)));
        rows.push(match pair {
            Some((kb, floor)) => {
                let share = kb.throughput() / floor.throughput();
                let measured = format!("{:.0}%", share * 100.0);
                (target, measured, Some(share >= 0.75))
            }
            None => (target, "—".to_owned(), None),
        });
    }
    let target = "unindexed filtered list with totals: ≥ 2× PocketBase".to_owned();
    let pair =
        load(Scenario::ListUnindexed).and_then(|m| find(m, KEELBASE).zip(find(m, POCKETBASE)));
    rows.push(match pair {
        Some((kb, pb)) => {
            let times = kb.throughput() / pb.throughput();
            (target, format!("{times:.2}×"), Some(times >= 2.0))
        }
        None => (target, "—".to_owned(), None),
    });

    // The highest peak of each server over the load scenarios, with the scenario it was in.
    let peak = |server: &str| {
        results
            .iter()
            .filter_map(|r| match &r.outcome {
                Ok(Outcome::Load(m)) => find(m, server).map(|m| (m.peak_rss_kb, r.scenario)),
                _ => None,
            })
            .max_by_key(|(peak_kb, _)| *peak_kb)
    };
    let target = "peak RSS under load ≤ ⅓ of PocketBase's".to_owned();
    rows.push(match peak(KEELBASE).zip(peak(POCKETBASE)) {
        Some(((kb, kb_scenario), (pb, pb_scenario))) => {
            let measured = format!(
                "{} MiB ({}) vs {} MiB ({})",
                mib(kb),
                kb_scenario.title(),
                mib(pb),
                pb_scenario.title()
            );
            (target, measured, Some(kb * 3 <= pb))
        }
        None => (target, "—".to_owned(), None),
    });

    let target = "10,000 idle SSE connections under 100 MB".to_owned();
    let memory = results.iter().find_map(|r| match &r.outcome {
        Ok(Outcome::Memory(m)) => m.iter().find(|m| m.server == KEELBASE),
        _ => None,
    });
    rows.push(match memory {
        Some(m) if m.connections >= 10_000 => {
            let bytes = m.connected_rss_kb * 1024;
            let measured = format!("{:.1} MB (fresh instance)", bytes as f64 / 1e6);
            (target, measured, Some(bytes < 100_000_000))
        }
        Some(m) => (
            target,
            format!("only {} connections opened", m.connections),
            None,
        ),
        None => (target, "—".to_owned(), None),
    });
    rows
}

fn find<'a>(measurements: &'a [Measurement], server: &str) -> Option<&'a Measurement> {
    measurements.iter().find(|m| m.server == server)
}

fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 {
        format!("{:.2}", numerator / denominator)
    } else {
        "—".to_owned()
    }
}

fn mib(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}
