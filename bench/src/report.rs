//! Results: per-case summaries (median and range over rounds), the printed tables (Markdown,
//! so they can be pasted into BENCHMARKS.md), the goals of the issue checked against the
//! medians, and the JSON file.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::load::{Mode, RunResult};
use crate::options::Options;
use crate::peers::Kind;
use crate::procstat::Machine;
use crate::stats::Spread;
use crate::table::markdown_table;

/// Everything one invocation measured, as written to the JSON file.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    /// Unix time the run started.
    pub started_unix: u64,
    pub git_commit: Option<String>,
    pub machine: Machine,
    /// /proc/loadavg when the run started and when it ended: the machine may be shared, and
    /// a load above the core count means the numbers were taken with other work running.
    pub load_average_start: String,
    pub load_average_end: String,
    pub options: Options,
    pub cases: Vec<CaseReport>,
    /// The rate scenario 4's fractions were taken of (requests/s).
    pub max_rate: Option<f64>,
    /// Peers whose maximum could not be measured for scenario 4, and why.
    pub max_rate_note: Vec<String>,
    pub goals: Vec<Goal>,
    /// Scenarios that did not run, and why.
    pub skipped: Vec<String>,
    /// Scenario 5 (connection swap), when it ran.
    pub swap: Option<crate::swap::SwapResults>,
}

/// One case for one peer, over all its rounds.
#[derive(Debug, Serialize, Deserialize)]
pub struct CaseReport {
    pub scenario: u8,
    pub name: String,
    pub kind: Kind,
    pub mode: Mode,
    pub size: usize,
    pub concurrency: usize,
    pub connections: usize,
    pub offered_rate: Option<f64>,
    pub runs: Vec<RunOutcome>,
    /// True when any round failed; a failed case has no summary.
    pub failed: bool,
    pub failure: Option<String>,
    pub summary: Option<Summary>,
}

/// One round: what the client reported, or why the run could not be measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunOutcome {
    pub result: Option<RunResult>,
    pub error: Option<String>,
}

/// Median and range over the rounds of a case that had no failure.
#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
    /// Requests per second (messages per second for streams).
    pub requests_per_second: Spread,
    /// Payload megabytes (10^6 bytes) per second received by the client; for echoes the same
    /// amount also went the other way.
    pub megabytes_per_second: Spread,
    pub p50_us: Option<Spread>,
    pub p99_us: Option<Spread>,
    pub p999_us: Option<Spread>,
    pub max_us: Option<Spread>,
    /// Server CPU time per request (per message for streams), microseconds.
    pub server_cpu_us: Spread,
    /// Client CPU time per request (per message for streams), microseconds.
    pub client_cpu_us: Spread,
    /// Server resident memory per held connection (scenario 6), KiB.
    pub rss_per_connection_kib: Option<Spread>,
    pub rss_before_mib: Option<Spread>,
    pub rss_after_mib: Option<Spread>,
}

/// One goal of the issue, checked against this run's medians.
#[derive(Debug, Serialize, Deserialize)]
pub struct Goal {
    pub goal: String,
    pub target: String,
    pub value: Option<f64>,
    pub status: GoalStatus,
    pub note: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalStatus {
    Met,
    Missed,
    NotMeasured,
}

impl Report {
    pub fn new(options: Options) -> Report {
        Report {
            tool: format!("rpcnet-bench {}", env!("CARGO_PKG_VERSION")),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            git_commit: git_commit(),
            machine: Machine::current(),
            load_average_start: load_average(),
            load_average_end: String::new(),
            options,
            cases: Vec::new(),
            max_rate: None,
            max_rate_note: Vec::new(),
            goals: Vec::new(),
            skipped: Vec::new(),
            swap: None,
        }
    }

    /// (passed, failed) case-and-peer entries.
    pub fn tally(&self) -> (usize, usize) {
        let failed = self.cases.iter().filter(|c| c.failed).count();
        let (swap_passed, swap_failed) = self.swap.as_ref().map_or((0, 0), |s| s.tally());
        (
            self.cases.len() - failed + swap_passed,
            failed + swap_failed,
        )
    }

    /// Writes the report as pretty JSON, creating the parent directory.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    fn summary(&self, scenario: u8, name: &str, kind: Kind) -> Result<&Summary, String> {
        let case = self
            .cases
            .iter()
            .find(|c| c.scenario == scenario && c.name == name && c.kind == kind)
            .ok_or_else(|| format!("scenario {scenario} {name} {kind} did not run"))?;
        case.summary
            .as_ref()
            .ok_or_else(|| format!("scenario {scenario} {name} {kind} failed"))
    }

    /// The share of an `Auto` case's rounds whose connection ended on HTTP/3.
    fn auto_on_http3(&self, scenario: u8, name: &str) -> Result<f64, String> {
        let case = self
            .cases
            .iter()
            .find(|c| c.scenario == scenario && c.name == name && c.kind == Kind::RpcnetAuto)
            .ok_or_else(|| format!("scenario {scenario} {name} rpcnet-auto did not run"))?;
        let ended: Vec<Option<&str>> = case
            .runs
            .iter()
            .map(|run| run.result.as_ref().and_then(|r| r.transport_end.as_deref()))
            .collect();
        if ended.is_empty() {
            return Err("no round ran".to_string());
        }
        let on_h3 = ended.iter().filter(|t| **t == Some("HTTP/3")).count();
        Ok(on_h3 as f64 / ended.len() as f64)
    }

    /// Which transports an `Auto` case started and ended on, in words.
    pub fn auto_transports(&self, scenario: u8, name: &str) -> String {
        let Some(case) = self
            .cases
            .iter()
            .find(|c| c.scenario == scenario && c.name == name && c.kind == Kind::RpcnetAuto)
        else {
            return "rpcnet-auto did not run".to_string();
        };
        transports_of(case)
    }

    /// Checks the goals against this run's medians.
    pub fn evaluate_goals(&mut self) {
        let mut goals = Vec::new();
        let ratio =
            |a: Result<f64, String>, b: Result<f64, String>| -> Result<f64, String> { Ok(a? / b?) };
        let rps =
            |s: u8, n: &str, k: Kind| self.summary(s, n, k).map(|x| x.requests_per_second.median);
        let mbps =
            |s: u8, n: &str, k: Kind| self.summary(s, n, k).map(|x| x.megabytes_per_second.median);
        let p50 = |s: u8, n: &str, k: Kind| {
            self.summary(s, n, k).and_then(|x| {
                x.p50_us
                    .map(|p| p.median)
                    .ok_or_else(|| "no latency".into())
            })
        };
        let p999 = |s: u8, n: &str, k: Kind| {
            self.summary(s, n, k).and_then(|x| {
                x.p999_us
                    .map(|p| p.median)
                    .ok_or_else(|| "no latency".into())
            })
        };
        let (r, h2, t, q) = (Kind::Rpcnet, Kind::RpcnetH2, Kind::Tonic, Kind::Quinn);
        if self.options.loss_goals {
            let label = self.options.label.clone().unwrap_or_default();
            let c = LOSS_CASE;
            goals.push(goal(
                &format!("{label}, unary c=16: requests/s vs tonic"),
                ">= 1.4x",
                ratio(rps(7, c, r), rps(7, c, t)),
                |v| v >= 1.4,
                "x",
            ));
            goals.push(goal(
                &format!("{label}, unary c=16: p99.9 vs tonic"),
                "<= 0.25x",
                ratio(p999(7, c, r), p999(7, c, t)),
                |v| v <= 0.25,
                "x",
            ));
            let mut picked = goal(
                &format!("{label}, Auto client: rounds that ended on HTTP/3"),
                "every round",
                self.auto_on_http3(7, c),
                |v| v >= 1.0,
                "",
            );
            picked.note = self.auto_transports(7, c);
            goals.push(picked);
            goals.push(goal(
                &format!("{label}, Auto client, unary c=16: requests/s vs tonic"),
                ">= 1.4x",
                ratio(rps(7, c, Kind::RpcnetAuto), rps(7, c, t)),
                |v| v >= 1.4,
                "x",
            ));
            goals.push(goal(
                &format!("{label}, Auto client, unary c=16: p99.9 vs tonic"),
                "<= 0.25x",
                ratio(p999(7, c, Kind::RpcnetAuto), p999(7, c, t)),
                |v| v <= 0.25,
                "x",
            ));
            self.goals = goals;
            return;
        }
        goals.push(goal(
            "unary c=64: requests/s vs tonic",
            ">= 1.2x",
            ratio(rps(1, "c=64", r), rps(1, "c=64", t)),
            |v| v >= 1.2,
            "x",
        ));
        goals.push(goal(
            "HTTP/2: unary 64 B c=64 requests/s, rpcnet-h2 vs tonic",
            ">= 0.9x",
            ratio(rps(1, "c=64", h2), rps(1, "c=64", t)),
            |v| v >= 0.9,
            "x",
        ));
        goals.push(goal(
            "HTTP/2: streaming 64 B messages/s, rpcnet-h2 vs tonic",
            ">= 0.9x",
            ratio(rps(3, "64 B", h2), rps(3, "64 B", t)),
            |v| v >= 0.9,
            "x",
        ));
        for (name, kept) in KEPT_RATIOS {
            let measured = match name {
                "unary c=64" => ratio(rps(1, "c=64", r), rps(1, "c=64", t)),
                "streaming 64 B" => ratio(rps(3, "64 B", r), rps(3, "64 B", t)),
                _ => ratio(mbps(2, "64 KiB", r), mbps(2, "64 KiB", t)),
            };
            let floor = KEEP_FRACTION * kept;
            goals.push(goal(
                &format!("HTTP/3 keeps its ratio to tonic: {name} (was {kept:.2}x at {KEPT_AT})"),
                &format!(">= {floor:.2}x"),
                measured,
                |v| v >= floor,
                "x",
            ));
        }
        goals.push(goal(
            "unary c=1: p50 vs tonic",
            "<= 0.85x",
            ratio(p50(1, "c=1", r), p50(1, "c=1", t)),
            |v| v <= 0.85,
            "x",
        ));
        goals.push(goal(
            "unary c=128: no collapse (rpcnet c=128 vs c=64 requests/s)",
            ">= 0.9x",
            ratio(rps(1, "c=128", r), rps(1, "c=64", r)),
            |v| v >= 0.9,
            "x",
        ));
        goals.push(goal(
            "framework overhead: unary c=64 requests/s vs raw quinn",
            ">= 0.5x",
            ratio(rps(1, "c=64", r), rps(1, "c=64", q)),
            |v| v >= 0.5,
            "x",
        ));
        goals.push(goal(
            "streaming 64 B: messages/s vs tonic",
            ">= 1.5x",
            ratio(rps(3, "64 B", r), rps(3, "64 B", t)),
            |v| v >= 1.5,
            "x",
        ));
        goals.push(goal(
            "64 KiB at c=32: MB/s vs tonic",
            ">= 1.0x",
            ratio(mbps(2, "64 KiB", r), mbps(2, "64 KiB", t)),
            |v| v >= 1.0,
            "x",
        ));
        let swap = self
            .swap
            .as_ref()
            .ok_or_else(|| "scenario 5 did not run".to_string());
        goals.push(goal(
            "director hop: added p50 per token",
            "<= 100 us",
            swap.clone().and_then(|s| s.hop_added_p50_us()),
            |v| v <= 100.0,
            " us",
        ));
        let gaps = swap.and_then(|s| s.gap_percentiles_ms());
        let mut gap_goal = goal(
            "swap gap p99 over 20 failures",
            "<= 20 ms",
            gaps.clone().map(|(_, _, p99, _)| p99),
            |v| v <= 20.0,
            " ms",
        );
        if let Ok((count, p50, _, _)) = gaps {
            let _ = write!(gap_goal.note, " (p50 {p50:.2} ms, {count} swaps)");
            if count < 20 {
                gap_goal.note.push_str(" - fewer than 20 swaps");
            }
        }
        goals.push(gap_goal);
        // The director is what the goal names; the bare rpcnet server stands in when the
        // director case did not run.
        let memory_case = |kind: Kind| {
            self.cases
                .iter()
                .find(|c| c.scenario == 6 && c.kind == kind)
        };
        let (memory_kind, memory_of) = match memory_case(Kind::Director) {
            Some(case) => (Kind::Director, Some(case)),
            None => (r, memory_case(r)),
        };
        let memory = memory_of
            .ok_or_else(|| "scenario 6 did not run".to_string())
            .and_then(|c| {
                c.summary
                    .as_ref()
                    .and_then(|s| s.rss_per_connection_kib)
                    .map(|s| s.median)
                    .ok_or_else(|| format!("scenario 6 {} failed", c.kind))
            });
        let mut memory_goal = goal(
            "memory: director RSS per open client connection",
            "<= 128 KiB",
            memory,
            |v| v <= 128.0,
            " KiB",
        );
        if memory_kind != Kind::Director {
            memory_goal.note.push_str(
                " (the director case did not run: this is the rpcnet bench server holding one \
                 stream per connection)",
            );
        }
        goals.push(memory_goal);
        goals.push(Goal {
            goal: "3% loss, unary c=16: requests/s >= 1.4x and p99.9 <= 0.25x tonic, for rpcnet \
                   and its Auto client (which must end on HTTP/3)"
                .to_string(),
            target: "see bench/loss.sh".to_string(),
            value: None,
            status: GoalStatus::NotMeasured,
            note: "measured by bench/loss.sh (needs root), not by this command".to_string(),
        });
        self.goals = goals;
    }
}

/// The case of scenario 7 (unary, c=16).
const LOSS_CASE: &str = "c=16";

/// rpcnet-over-HTTP/3 to tonic ratios recorded in BENCHMARKS.md at `KEPT_AT` (the last full
/// run before the HTTP/2 transport), which HTTP/3 has to keep.
const KEPT_RATIOS: [(&str, f64); 3] = [
    ("unary c=64", 1.20),
    ("streaming 64 B", 0.62),
    ("64 KiB MB/s", 0.62),
];
const KEPT_AT: &str = "c9ac067";
/// "Kept" means at least this fraction of the recorded ratio: single runs on this shared
/// machine move by about a tenth (BENCHMARKS.md).
const KEEP_FRACTION: f64 = 0.9;

/// "started on HTTP/2 in 1 of 5 rounds, ended on HTTP/3 in 5 of 5 (2 connections in 1)".
fn transports_of(case: &CaseReport) -> String {
    let results: Vec<&RunResult> = case.runs.iter().filter_map(|r| r.result.as_ref()).collect();
    let n = results.len();
    let count = |f: &dyn Fn(&RunResult) -> bool| results.iter().filter(|r| f(r)).count();
    let on = |t: &Option<String>, want: &str| t.as_deref() == Some(want);
    format!(
        "{kind}: started on HTTP/3 in {} and on HTTP/2 in {} of {n} rounds; ended on HTTP/3 in \
         {} of {n}; more than one connection in {}",
        count(&|r| on(&r.transport_start, "HTTP/3")),
        count(&|r| on(&r.transport_start, "HTTP/2")),
        count(&|r| on(&r.transport_end, "HTTP/3")),
        count(&|r| r.connections_opened.is_some_and(|c| c > 1)),
        kind = case.kind,
    )
}

fn goal(
    name: &str,
    target: &str,
    value: Result<f64, String>,
    met: impl Fn(f64) -> bool,
    unit: &str,
) -> Goal {
    match value {
        Ok(value) if value.is_finite() => Goal {
            goal: name.to_string(),
            target: target.to_string(),
            value: Some(value),
            status: if met(value) {
                GoalStatus::Met
            } else {
                GoalStatus::Missed
            },
            note: format!("{value:.2}{unit}"),
        },
        Ok(value) => Goal {
            goal: name.to_string(),
            target: target.to_string(),
            value: None,
            status: GoalStatus::NotMeasured,
            note: format!("not a number ({value})"),
        },
        Err(why) => Goal {
            goal: name.to_string(),
            target: target.to_string(),
            value: None,
            status: GoalStatus::NotMeasured,
            note: why,
        },
    }
}

impl CaseReport {
    pub fn new(
        scenario: u8,
        name: &str,
        kind: Kind,
        mode: Mode,
        size: usize,
        concurrency: usize,
        connections: usize,
    ) -> CaseReport {
        CaseReport {
            scenario,
            name: name.to_string(),
            kind,
            mode,
            size,
            concurrency,
            connections,
            offered_rate: None,
            runs: Vec::new(),
            failed: false,
            failure: None,
            summary: None,
        }
    }

    /// Adds one round's outcome; a round with errors marks the whole case failed.
    pub fn push(&mut self, outcome: Result<RunResult, String>) {
        if let Some(why) = failure_of(&outcome) {
            self.failed = true;
            self.failure.get_or_insert(why);
        }
        self.runs.push(match outcome {
            Ok(result) => RunOutcome {
                result: Some(result),
                error: None,
            },
            Err(error) => RunOutcome {
                result: None,
                error: Some(error),
            },
        });
    }

    /// Computes the summary, unless a round failed: a failed case reports no numbers.
    pub fn summarise(&mut self) {
        if self.failed || self.runs.is_empty() {
            self.summary = None;
            return;
        }
        let results: Vec<&RunResult> = self.runs.iter().filter_map(|r| r.result.as_ref()).collect();
        let each = |f: &dyn Fn(&RunResult) -> f64| -> Spread {
            let values: Vec<f64> = results.iter().map(|r| f(r)).collect();
            Spread::of(&values).unwrap_or(Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            })
        };
        let optional = |f: &dyn Fn(&RunResult) -> Option<f64>| -> Option<Spread> {
            let values: Vec<f64> = results.iter().filter_map(|r| f(r)).collect();
            if values.len() == results.len() {
                Spread::of(&values)
            } else {
                None
            }
        };
        let per = |cpu: u64, r: &RunResult| cpu as f64 / r.completed.max(1) as f64;
        let hold = self.mode == Mode::Hold;
        self.summary = Some(Summary {
            requests_per_second: each(&|r| r.completed as f64 / r.seconds),
            megabytes_per_second: each(&|r| r.bytes as f64 / r.seconds / 1e6),
            p50_us: optional(&|r| r.latency.map(|l| l.p50_us)),
            p99_us: optional(&|r| r.latency.map(|l| l.p99_us)),
            p999_us: optional(&|r| r.latency.map(|l| l.p999_us)),
            max_us: optional(&|r| r.latency.map(|l| l.max_us)),
            server_cpu_us: each(&|r| per(r.server_cpu_us, r)),
            client_cpu_us: each(&|r| per(r.client_cpu_us, r)),
            rss_per_connection_kib: if hold {
                optional(&|r| {
                    let (before, after, held) = (
                        r.server_rss_before?,
                        r.server_rss_after?,
                        r.connections_held?,
                    );
                    Some((after as f64 - before as f64) / held.max(1) as f64 / 1024.0)
                })
            } else {
                None
            },
            rss_before_mib: optional(&|r| r.server_rss_before.map(|b| b as f64 / 1048576.0)),
            rss_after_mib: optional(&|r| r.server_rss_after.map(|b| b as f64 / 1048576.0)),
        });
    }
}

/// Why a round counts as failed, if it does.
fn failure_of(outcome: &Result<RunResult, String>) -> Option<String> {
    match outcome {
        Err(error) => Some(error.clone()),
        Ok(r) if r.errors > 0 => Some(format!(
            "{} failed calls; first: {}",
            r.errors,
            r.first_error.as_deref().unwrap_or("?")
        )),
        Ok(r) if r.calls_ok == 0 => Some("no call completed".to_string()),
        Ok(_) => None,
    }
}

/// One round in a line, for the progress log.
pub fn one_line(outcome: &Result<RunResult, String>) -> String {
    if let Some(why) = failure_of(outcome) {
        return format!("FAILED: {why}");
    }
    let Ok(r) = outcome else {
        unreachable!("failure_of covers errors")
    };
    if let (Some(before), Some(after), Some(held)) =
        (r.server_rss_before, r.server_rss_after, r.connections_held)
    {
        return format!(
            "server RSS {:.1} -> {:.1} MiB for {held} held connections",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0
        );
    }
    let mut line = format!(
        "{:.0}/s, {:.1} MB/s",
        r.completed as f64 / r.seconds,
        r.bytes as f64 / r.seconds / 1e6
    );
    if let Some(l) = r.latency {
        let _ = write!(
            line,
            ", p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us",
            l.p50_us, l.p99_us, l.p999_us
        );
    }
    line
}

/// `64 B`, `4 KiB`, `1 MiB`.
pub fn size_name(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// `median (min-max)` with `digits` decimals.
fn spread(s: &Spread, digits: usize) -> String {
    format!("{:.d$} ({:.d$}-{:.d$})", s.median, s.min, s.max, d = digits)
}

fn median(s: &Option<Spread>, digits: usize) -> String {
    s.map_or_else(
        || "-".to_string(),
        |s| format!("{:.d$}", s.median, d = digits),
    )
}

/// Prints the table of one scenario, then how rpcnet compares with its peers per case.
pub fn print_scenario(report: &Report, scenario: u8) {
    let cases: Vec<&CaseReport> = report
        .cases
        .iter()
        .filter(|c| c.scenario == scenario)
        .collect();
    if cases.is_empty() {
        return;
    }
    let rounds = cases.iter().map(|c| c.runs.len()).max().unwrap_or(0);
    let (title, headers): (String, &[&str]) = match scenario {
        1 => (
            "Scenario 1: unary echo, 64 B, one connection".to_string(),
            &["case", "peer", "req/s median (min-max)", "p50 us", "p99 us", "p99.9 us", "server CPU us/req", "client CPU us/req"],
        ),
        2 => (
            "Scenario 2: payload sweep, unary echo at c=32 (MB/s = payload each way)".to_string(),
            &["case", "peer", "req/s median (min-max)", "MB/s", "p50 us", "p99 us", "server CPU us/req", "client CPU us/req"],
        ),
        3 => (
            "Scenario 3: server streaming, one stream".to_string(),
            &["case", "peer", "msg/s median (min-max)", "MB/s", "server CPU us/msg", "client CPU us/msg"],
        ),
        4 => (
            format!(
                "Scenario 4: open loop at a fixed offered rate (fractions of {:.0} req/s, the lower c=64 maximum)",
                report.max_rate.unwrap_or(f64::NAN)
            ),
            &["case", "peer", "offered req/s", "achieved req/s", "p50 us", "p99 us", "p99.9 us", "max us"],
        ),
        7 => (
            format!(
                "Scenario 7: packet loss {}, unary echo, 64 B, c=16",
                report
                    .options
                    .loss
                    .map_or_else(|| "none (quick mode)".to_string(), |p| format!("{p}%"))
            ),
            &["case", "peer", "req/s median (min-max)", "p50 us", "p99 us", "p99.9 us", "server CPU us/req", "client CPU us/req"],
        ),
        _ => (
            "Scenario 6: memory, connections each holding one open stream".to_string(),
            &["case", "peer", "server RSS before MiB", "server RSS after MiB", "KiB per connection median (min-max)"],
        ),
    };
    let mut rows = Vec::new();
    for case in &cases {
        let mut row = vec![case.name.clone(), case.kind.to_string()];
        match (&case.summary, &case.failure) {
            (Some(s), _) => match scenario {
                1 | 7 => row.extend([
                    spread(&s.requests_per_second, 0),
                    median(&s.p50_us, 0),
                    median(&s.p99_us, 0),
                    median(&s.p999_us, 0),
                    format!("{:.1}", s.server_cpu_us.median),
                    format!("{:.1}", s.client_cpu_us.median),
                ]),
                2 => row.extend([
                    spread(&s.requests_per_second, 0),
                    format!("{:.1}", s.megabytes_per_second.median),
                    median(&s.p50_us, 0),
                    median(&s.p99_us, 0),
                    format!("{:.1}", s.server_cpu_us.median),
                    format!("{:.1}", s.client_cpu_us.median),
                ]),
                3 => row.extend([
                    spread(&s.requests_per_second, 0),
                    format!("{:.1}", s.megabytes_per_second.median),
                    format!("{:.2}", s.server_cpu_us.median),
                    format!("{:.2}", s.client_cpu_us.median),
                ]),
                4 => row.extend([
                    format!("{:.0}", case.offered_rate.unwrap_or(f64::NAN)),
                    format!("{:.0}", s.requests_per_second.median),
                    median(&s.p50_us, 0),
                    median(&s.p99_us, 0),
                    median(&s.p999_us, 0),
                    median(&s.max_us, 0),
                ]),
                _ => row.extend([
                    median(&s.rss_before_mib, 1),
                    median(&s.rss_after_mib, 1),
                    s.rss_per_connection_kib
                        .map_or_else(|| "-".to_string(), |s| spread(&s, 1)),
                ]),
            },
            (None, failure) => row.push(format!(
                "FAILED: {}",
                failure.as_deref().unwrap_or("no result")
            )),
        }
        rows.push(row);
    }
    println!("\n### {title} ({rounds} rounds)\n");
    if scenario == 4 && !report.max_rate_note.is_empty() {
        println!(
            "The maximum is taken without: {}\n",
            report.max_rate_note.join("; ")
        );
    }
    print!("{}", markdown_table(headers, &rows));
    let mut lines = comparisons(&cases, scenario);
    for case in cases.iter().filter(|c| c.kind == Kind::RpcnetAuto) {
        lines.push(format!("{}: {}", case.name, transports_of(case)));
    }
    if !lines.is_empty() {
        println!();
        for line in lines {
            println!("- {line}");
        }
    }
}

/// "rpcnet vs tonic" lines per case, from the medians, for each rpcnet peer that ran.
fn comparisons(cases: &[&CaseReport], scenario: u8) -> Vec<String> {
    let mut lines = Vec::new();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.dedup();
    for name in names {
        let find = |kind: Kind| {
            cases
                .iter()
                .find(|c| c.name == name && c.kind == kind)
                .and_then(|c| c.summary.as_ref())
        };
        let ours_and_peers = [Kind::Rpcnet, Kind::RpcnetH2, Kind::RpcnetAuto]
            .into_iter()
            .filter_map(|kind| find(kind).map(|summary| (kind, summary)))
            .flat_map(|ours| [Kind::Tonic, Kind::Quinn].map(|peer| (ours, peer)));
        for ((us, ours), peer) in ours_and_peers {
            let Some(theirs) = find(peer) else { continue };
            let x = |a: f64, b: f64| format!("{:.2}x", a / b);
            let line = match scenario {
                4 => format!(
                    "{name}: {us}/{peer} p50 {}, p99 {}, p99.9 {}",
                    x(
                        ours.p50_us.map_or(f64::NAN, |s| s.median),
                        theirs.p50_us.map_or(f64::NAN, |s| s.median)
                    ),
                    x(
                        ours.p99_us.map_or(f64::NAN, |s| s.median),
                        theirs.p99_us.map_or(f64::NAN, |s| s.median)
                    ),
                    x(
                        ours.p999_us.map_or(f64::NAN, |s| s.median),
                        theirs.p999_us.map_or(f64::NAN, |s| s.median)
                    ),
                ),
                6 => format!(
                    "{name}: {us}/{peer} memory per connection {}",
                    x(
                        ours.rss_per_connection_kib.map_or(f64::NAN, |s| s.median),
                        theirs.rss_per_connection_kib.map_or(f64::NAN, |s| s.median)
                    )
                ),
                _ => {
                    let mut line = format!(
                        "{name}: {us}/{peer} throughput {}, server CPU per request {}",
                        x(
                            ours.requests_per_second.median,
                            theirs.requests_per_second.median
                        ),
                        x(ours.server_cpu_us.median, theirs.server_cpu_us.median)
                    );
                    if let (Some(a), Some(b)) = (ours.p50_us, theirs.p50_us) {
                        let _ = write!(line, ", p50 {}", x(a.median, b.median));
                    }
                    line
                }
            };
            lines.push(line);
        }
    }
    lines
}

/// Prints the goals table.
pub fn print_goals(report: &Report) {
    if report.goals.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = report
        .goals
        .iter()
        .map(|g| {
            vec![
                g.goal.clone(),
                g.target.clone(),
                match g.status {
                    GoalStatus::Met => "met".to_string(),
                    GoalStatus::Missed => "MISSED".to_string(),
                    GoalStatus::NotMeasured => "not measured".to_string(),
                },
                g.note.clone(),
            ]
        })
        .collect();
    println!("\n### Goals (from the medians above)\n");
    print!(
        "{}",
        markdown_table(&["goal", "target", "status", "measured"], &rows)
    );
}

/// The first three fields of /proc/loadavg (1, 5 and 15 minute load averages).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn git_commit() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(completed: u64, errors: u64) -> Result<RunResult, String> {
        Ok(RunResult {
            completed,
            calls_ok: completed,
            errors,
            first_error: (errors > 0).then(|| "boom".to_string()),
            seconds: 2.0,
            bytes: completed * 64,
            client_cpu_us: completed * 10,
            server_cpu_us: completed * 20,
            ..RunResult::default()
        })
    }

    fn case() -> CaseReport {
        CaseReport::new(1, "c=1", Kind::Rpcnet, Mode::Unary, 64, 1, 1)
    }

    #[test]
    fn a_case_summarises_medians_of_its_rounds() {
        let mut case = case();
        for completed in [100, 300, 200] {
            case.push(ok(completed, 0));
        }
        case.summarise();
        let s = case.summary.unwrap();
        assert_eq!(s.requests_per_second.median, 100.0);
        assert_eq!(s.requests_per_second.min, 50.0);
        assert_eq!(s.requests_per_second.max, 150.0);
        assert_eq!(s.server_cpu_us.median, 20.0);
        assert_eq!(s.client_cpu_us.median, 10.0);
    }

    #[test]
    fn one_round_with_an_error_fails_the_case_and_hides_its_numbers() {
        let mut case = case();
        case.push(ok(100, 0));
        case.push(ok(100, 1));
        case.summarise();
        assert!(case.failed);
        assert!(case.summary.is_none());
        assert!(case.failure.unwrap().contains("boom"));

        let mut crashed = CaseReport::new(1, "c=1", Kind::Tonic, Mode::Unary, 64, 1, 1);
        crashed.push(Err("the server exited".to_string()));
        crashed.summarise();
        assert!(crashed.failed);

        let mut idle = CaseReport::new(1, "c=1", Kind::Quinn, Mode::Unary, 64, 1, 1);
        idle.push(ok(0, 0));
        assert!(
            idle.failed,
            "a run in which no call completed measured nothing"
        );
    }

    #[test]
    fn an_auto_case_reports_where_its_rounds_started_and_ended() {
        let mut auto = CaseReport::new(7, "c=16", Kind::RpcnetAuto, Mode::Unary, 64, 16, 1);
        for (start, end, opened) in [("HTTP/3", "HTTP/3", 1), ("HTTP/2", "HTTP/3", 2)] {
            let mut run = ok(100, 0).unwrap();
            run.transport_start = Some(start.to_string());
            run.transport_end = Some(end.to_string());
            run.connections_opened = Some(opened);
            auto.push(Ok(run));
        }
        assert_eq!(
            transports_of(&auto),
            "rpcnet-auto: started on HTTP/3 in 1 and on HTTP/2 in 1 of 2 rounds; ended on \
             HTTP/3 in 2 of 2; more than one connection in 1"
        );
    }

    #[test]
    fn size_names() {
        assert_eq!(size_name(64), "64 B");
        assert_eq!(size_name(16 * 1024), "16 KiB");
        assert_eq!(size_name(1024 * 1024), "1 MiB");
        assert_eq!(size_name(1500), "1500 B");
    }
}
