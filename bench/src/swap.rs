//! Scenario 5, the connection-swap path: the cost of the director's hop per token, and the
//! swap gap when the serving worker fails.
//!
//! Every run starts its own processes: a director (`rpcnet-bench server --kind director`), one
//! or two workers (`rpcnet-bench swap-worker`, the real `connection_swap::worker` with short
//! intervals) and a client (`rpcnet-bench swap-client`).
//!
//! - **Hop cost.** A director with one registered worker producing a token every
//!   [`TOKEN_INTERVAL`], failures off. Peer `director`: the client opens `Inference.Generate`
//!   through the director. Peer `direct`: the client calls the worker's `WorkerStream.Serve`
//!   itself, with a `WorkerAssignment`, as the director would. The per-token latency is the
//!   time from the worker producing token N (its `sending token` log event, captured in the
//!   worker process by a log writer that reads the clock) to the client receiving token N.
//!   Both timestamps are `CLOCK_MONOTONIC`, which is one clock for all processes of one
//!   machine. The hop cost is the director's p50 minus the direct p50.
//! - **Swap gap.** A director with two workers, each failing after [`GAP_FAILURE_AFTER`] of
//!   serving and recovering after [`GAP_RECOVERY`]; one client stream through the director.
//!   The client records the time from the last token before each `WorkerFailed` to the first
//!   token after it (from the next worker). Gaps of all rounds are pooled for p50 and p99.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use serde::{Deserialize, Serialize};

use connection_swap::supervisor::{announce_listening, ChildSpec, Stream, Supervised};
use connection_swap_generated::connection_swap::{
    self as swap_proto, GenerateEventKind, GenerateRequest, WorkerAssignment, WorkerFrameKind,
};

use crate::children::run_to_result;
use crate::options::Options;
use crate::peers::Certs;
use crate::stats::{latency_histogram, record, Latency, Spread};
use crate::table::markdown_table;

/// Pace of the workers' tokens in both cases (the shortest the worker's settings accept).
pub const TOKEN_INTERVAL: Duration = Duration::from_millis(1);
/// Serving time before a worker's simulated failure, swap-gap case.
pub const GAP_FAILURE_AFTER: Duration = Duration::from_millis(400);
/// Unavailable time after a simulated failure, swap-gap case.
pub const GAP_RECOVERY: Duration = Duration::from_millis(300);
/// "Never" for the hop case's failures.
const NO_FAILURE: Duration = Duration::from_secs(86_400);
/// How long a child may take to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the client may wait for its first token (the worker registers meanwhile).
const FIRST_TOKEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a director or worker may take to exit after its stdin closed, before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Time a client child may need beyond its warm-up and measured window.
const CLIENT_SLACK: Duration = Duration::from_secs(40);

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process of the machine.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

// ------------------------------------------------------------------------------------------
// Worker child
// ------------------------------------------------------------------------------------------

/// (sequence, monotonic ns) of every token the worker process produced.
static SENT: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

/// The prefix of the line a worker child prints, on exit, with the tokens it produced.
const SENT_PREFIX: &str = "sent ";

/// A log writer that only reads the clock: the worker logs `sending token` with `seq=N` just
/// before it hands token N to its stream, and this writer records when.
#[derive(Clone, Copy)]
struct TokenClock;

impl std::io::Write for TokenClock {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let now = monotonic_ns();
        if let Ok(line) = std::str::from_utf8(buf) {
            if line.contains("sending token") {
                let seq = line.split_once(" seq=").and_then(|(_, rest)| {
                    rest.split(|c: char| !c.is_ascii_digit())
                        .next()?
                        .parse::<u64>()
                        .ok()
                });
                if let Some(seq) = seq {
                    SENT.lock().expect("not poisoned").push((seq, now));
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Settings of one worker child.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub director: SocketAddr,
    pub label: String,
    pub token_interval: Duration,
    pub failure_after: Duration,
    pub recovery: Duration,
}

/// Runs as a worker child: prints `listening <addr>`, serves, and when stdin closes prints the
/// tokens it produced (`sent [[seq, ns], ...]`) and exits.
pub fn worker_child(settings: WorkerSettings, certs_dir: &Path) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("worker=info"))
        .with_ansi(false)
        .without_time()
        .with_writer(|| TokenClock)
        .try_init();
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        let sent = std::mem::take(&mut *SENT.lock().expect("not poisoned"));
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "{SENT_PREFIX}{}",
            serde_json::to_string(&sent).unwrap_or_default()
        );
        let _ = stdout.flush();
        std::process::exit(0);
    });
    let listen = connection_swap::ports::free_udp_addr()?;
    announce_listening(listen)?;
    let paths = connection_swap::certs::CertPaths::new(certs_dir);
    let config = connection_swap::worker::WorkerConfig {
        director: settings.director,
        listen,
        label: settings.label,
        identity: Some((paths.worker_cert(), paths.worker_key())),
        certs: paths,
        failure_after: settings.failure_after,
        recovery: settings.recovery,
        token_interval: settings.token_interval,
        limits: connection_swap::worker::WorkerLimits::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(connection_swap::worker::run(config))
}

// ------------------------------------------------------------------------------------------
// Client child
// ------------------------------------------------------------------------------------------

/// What a scenario 5 client does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ClientMode {
    /// Tokens through the director (`Inference.Generate`).
    HopDirector,
    /// Tokens straight from the worker (`WorkerStream.Serve`).
    HopDirect,
    /// Tokens through the director while workers fail: the gaps.
    Gap,
}

/// What a scenario 5 client reports (one JSON line).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClientReport {
    /// Tokens received over the whole run.
    pub tokens: u64,
    /// Errors: a failed call, a sequence gap or repeat, a wrong token text.
    pub errors: u64,
    pub first_error: Option<String>,
    /// (sequence, monotonic ns at receipt) of the measured window's tokens (hop modes).
    pub received: Vec<(u64, u64)>,
    /// Swap gaps completed in the measured window, ns (gap mode).
    pub gaps_ns: Vec<u64>,
    /// Swaps over the whole run (gap mode).
    pub swaps: u64,
    /// Length of the measured window, seconds.
    pub seconds: f64,
}

impl ClientReport {
    fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }
}

const PROMPT: &str = "rpcnet-bench-swap";

/// Runs as a scenario 5 client child and prints its report as one JSON line.
pub fn client_child(
    mode: ClientMode,
    addr: SocketAddr,
    warmup: Duration,
    duration: Duration,
    certs_dir: &Path,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let certs = Certs::in_dir(certs_dir);
    let report = runtime.block_on(async move {
        let mut report = ClientReport::default();
        if let Err(error) = follow(mode, addr, warmup, duration, &certs, &mut report).await {
            report.fail(error);
        }
        report
    });
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// One token or event as the client sees it, whichever path it came by.
enum Seen {
    Token(u64, String),
    Failed,
    Other,
}

async fn follow(
    mode: ClientMode,
    addr: SocketAddr,
    warmup: Duration,
    duration: Duration,
    certs: &Certs,
    report: &mut ClientReport,
) -> Result<(), String> {
    let config = rpcnet::ClientConfig::new(&certs.ca)
        .map_err(|e| e.to_string())?
        .server_name("localhost");
    let client = rpcnet::Client::connect(addr, config)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let (requests, outgoing) = rpcnet::channel(4);
    let mut direct = None;
    let mut director = None;
    if mode == ClientMode::HopDirect {
        let assignment = WorkerAssignment {
            connection_id: "rpcnet-bench".to_string(),
            stream_id: 0,
            prompt: PROMPT.to_string(),
            resume_after: 0,
        };
        let assignments = stream::once(async move { assignment }).chain(stream::pending());
        let worker = swap_proto::workerstream::WorkerStreamClient::new(client.clone());
        direct = Some(
            worker
                .serve(assignments)
                .await
                .map_err(|s| format!("WorkerStream.Serve: {s}"))?
                .into_inner(),
        );
    } else {
        let first = GenerateRequest {
            prompt: PROMPT.to_string(),
            resume_after: 0,
        };
        let _ = requests.send(first).await;
        let inference = swap_proto::inference::InferenceClient::new(client.clone());
        director = Some(
            inference
                .generate(outgoing)
                .await
                .map_err(|s| format!("Inference.Generate: {s}"))?
                .into_inner(),
        );
    }
    // The request side stays open: the director reads a retry from it after a failure.
    let mut last_sequence = 0u64;
    let mut last_token_at: Option<u64> = None;
    let mut swap_from: Option<u64> = None;
    let mut window: Option<(Instant, Instant)> = None;
    let first_deadline = Instant::now() + FIRST_TOKEN_TIMEOUT;
    loop {
        let deadline = window.map_or(first_deadline, |(_, end)| end);
        let next = tokio::time::timeout_at(deadline.into(), async {
            if let Some(stream) = direct.as_mut() {
                stream.message().await.map(|frame| {
                    frame.map(|f| match f.kind {
                        Some(WorkerFrameKind::Token(t)) => Seen::Token(t.sequence, t.text),
                        _ => Seen::Other,
                    })
                })
            } else {
                let stream = director.as_mut().expect("one of the two");
                stream.message().await.map(|event| {
                    event.map(|e| match e.kind {
                        Some(GenerateEventKind::Token(t)) => Seen::Token(t.sequence, t.text),
                        Some(GenerateEventKind::WorkerFailed(_)) => Seen::Failed,
                        _ => Seen::Other,
                    })
                })
            }
        })
        .await;
        let now_ns = monotonic_ns();
        let seen = match next {
            Err(_) if window.is_some() => break,
            Err(_) => return Err("no token within 15 s".to_string()),
            Ok(Err(status)) => return Err(format!("the stream failed: {status}")),
            Ok(Ok(None)) => return Err("the server ended the stream".to_string()),
            Ok(Ok(Some(seen))) => seen,
        };
        let measuring = window.is_some_and(|(start, _)| Instant::now() >= start);
        match seen {
            Seen::Token(sequence, text) => {
                if window.is_none() {
                    let start = Instant::now() + warmup;
                    window = Some((start, start + duration));
                }
                report.tokens += 1;
                if sequence != last_sequence + 1 {
                    report.fail(format!(
                        "token {sequence} after {last_sequence}: a gap or a repeat"
                    ));
                }
                if text != connection_swap::tokens::token_text(PROMPT, sequence) {
                    report.fail(format!("token {sequence} has the wrong text {text:?}"));
                }
                last_sequence = sequence;
                if let Some(from) = swap_from.take() {
                    if measuring {
                        report.gaps_ns.push(now_ns.saturating_sub(from));
                    }
                }
                if measuring && mode != ClientMode::Gap {
                    report.received.push((sequence, now_ns));
                }
                last_token_at = Some(now_ns);
            }
            Seen::Failed => {
                if mode != ClientMode::Gap {
                    return Err("a worker failed during the hop measurement".to_string());
                }
                report.swaps += 1;
                swap_from = last_token_at;
                let retry = GenerateRequest {
                    prompt: PROMPT.to_string(),
                    resume_after: last_sequence,
                };
                if requests.send(retry).await.is_err() {
                    return Err("the director closed the request side".to_string());
                }
            }
            Seen::Other => {}
        }
    }
    report.seconds = duration.as_secs_f64();
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Driver side
// ------------------------------------------------------------------------------------------

/// A director or worker child and the address it reported.
struct Proc {
    child: Supervised,
    addr: SocketAddr,
}

impl Proc {
    /// Starts `exe args...` and waits for its `listening <addr>` line.
    fn start(exe: &Path, args: &[String], what: &str) -> anyhow::Result<Proc> {
        let mut command = Command::new(exe);
        command.args(args);
        let mut child = ChildSpec::new(format!("the {what}"), command)
            .grace(STOP_GRACE)
            .spawn()?;
        let addr = child.listening_addr(START_TIMEOUT)?;
        Ok(Proc { child, addr })
    }

    /// `Err` if the child already exited.
    fn check_alive(&mut self) -> Result<(), String> {
        self.child.check_alive().map_err(|e| e.to_string())
    }

    /// Closes stdin, waits for the exit (kills after [`STOP_GRACE`]).
    fn stop(&mut self) {
        self.child.stop();
    }

    /// Stops a worker child and returns the tokens it produced (it prints them on stdout
    /// before it exits).
    fn stop_worker(&mut self) -> Result<HashMap<u64, u64>, String> {
        self.child.stop();
        let line = self
            .child
            .texts(Stream::Stdout)
            .into_iter()
            .find(|line| line.starts_with(SENT_PREFIX))
            .ok_or_else(|| {
                format!(
                    "the worker did not report its tokens; its last stderr lines: {}",
                    self.child.stderr_tail()
                )
            })?;
        let sent: Vec<(u64, u64)> = serde_json::from_str(&line[SENT_PREFIX.len()..])
            .map_err(|e| format!("parsing the worker's tokens: {e}"))?;
        Ok(sent.into_iter().collect())
    }
}

fn certs_args(options: &Options) -> Vec<String> {
    vec!["--certs".to_string(), options.certs.display().to_string()]
}

fn start_director(exe: &Path, options: &Options) -> anyhow::Result<Proc> {
    let mut args: Vec<String> = ["server", "--kind", "director", "--addr", "127.0.0.1:0"]
        .map(String::from)
        .to_vec();
    args.extend(certs_args(options));
    Proc::start(exe, &args, "director")
}

fn start_worker(
    exe: &Path,
    options: &Options,
    director: SocketAddr,
    label: &str,
    failure_after: Duration,
    recovery: Duration,
) -> anyhow::Result<Proc> {
    let mut args = vec![
        "swap-worker".to_string(),
        "--director".to_string(),
        director.to_string(),
        "--label".to_string(),
        label.to_string(),
        "--token-interval-us".to_string(),
        TOKEN_INTERVAL.as_micros().to_string(),
        "--failure-after-ms".to_string(),
        failure_after.as_millis().to_string(),
        "--recovery-ms".to_string(),
        recovery.as_millis().to_string(),
    ];
    args.extend(certs_args(options));
    Proc::start(exe, &args, &format!("worker {label}"))
}

fn run_client(
    exe: &Path,
    options: &Options,
    mode: ClientMode,
    addr: SocketAddr,
) -> Result<ClientReport, String> {
    use clap::ValueEnum;
    let mode_name = mode
        .to_possible_value()
        .expect("no skipped variants")
        .get_name()
        .to_string();
    let mut command = Command::new(exe);
    command
        .args([
            "swap-client",
            "--mode",
            &mode_name,
            "--addr",
            &addr.to_string(),
        ])
        .args(["--warmup-ms", &options.warmup.as_millis().to_string()])
        .args(["--duration-ms", &options.duration.as_millis().to_string()])
        .args(certs_args(options));
    let limit = options.warmup + options.duration + CLIENT_SLACK;
    run_to_result(command, limit).map_err(|e| format!("{e:#}"))
}

/// One hop-cost round of one peer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HopRun {
    /// Tokens whose latency was measured.
    pub tokens: u64,
    pub tokens_per_second: f64,
    /// Worker produced token N -> client received token N.
    pub latency: Latency,
}

/// One swap-gap round.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GapRun {
    pub swaps: u64,
    pub tokens: u64,
    /// Gaps of the measured window, microseconds.
    pub gaps_us: Vec<f64>,
}

/// A scenario 5 case for one peer over its rounds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SwapCase {
    /// `hop` or `gap`.
    pub case: String,
    /// `direct` or `director`.
    pub peer: String,
    pub hop_runs: Vec<HopRun>,
    pub gap_runs: Vec<GapRun>,
    pub errors: Vec<String>,
    pub failed: bool,
}

/// Scenario 5's results.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SwapResults {
    pub token_interval_ms: f64,
    pub gap_failure_after_ms: f64,
    pub gap_recovery_ms: f64,
    pub cases: Vec<SwapCase>,
}

fn hop_once(exe: &Path, options: &Options, peer: &str) -> Result<HopRun, String> {
    let mut director = start_director(exe, options).map_err(|e| format!("{e:#}"))?;
    let mut worker = start_worker(
        exe,
        options,
        director.addr,
        "bench-worker-0",
        NO_FAILURE,
        Duration::from_secs(1),
    )
    .map_err(|e| format!("{e:#}"))?;
    let (mode, addr) = if peer == "direct" {
        (ClientMode::HopDirect, worker.addr)
    } else {
        (ClientMode::HopDirector, director.addr)
    };
    let client = run_client(exe, options, mode, addr);
    let alive = director.check_alive().and(worker.check_alive());
    let sent = worker.stop_worker();
    director.stop();
    let client = client?;
    alive?;
    let sent = sent?;
    if client.errors > 0 {
        return Err(format!(
            "{} errors; first: {}",
            client.errors,
            client.first_error.unwrap_or_default()
        ));
    }
    let mut histogram = latency_histogram();
    for (sequence, received) in &client.received {
        let produced = sent
            .get(sequence)
            .ok_or_else(|| format!("the worker has no record of token {sequence}"))?;
        record(&mut histogram, received.saturating_sub(*produced));
    }
    let latency = Latency::of(&histogram).ok_or("no token in the measured window")?;
    Ok(HopRun {
        tokens: latency.count,
        tokens_per_second: latency.count as f64 / client.seconds.max(1e-9),
        latency,
    })
}

fn gap_once(exe: &Path, options: &Options) -> Result<GapRun, String> {
    let mut director = start_director(exe, options).map_err(|e| format!("{e:#}"))?;
    let mut workers = Vec::new();
    for label in ["bench-worker-a", "bench-worker-b"] {
        workers.push(
            start_worker(
                exe,
                options,
                director.addr,
                label,
                GAP_FAILURE_AFTER,
                GAP_RECOVERY,
            )
            .map_err(|e| format!("{e:#}"))?,
        );
    }
    let client = run_client(exe, options, ClientMode::Gap, director.addr);
    let mut alive = director.check_alive();
    for worker in &mut workers {
        alive = alive.and(worker.check_alive());
        worker.stop();
    }
    director.stop();
    let client = client?;
    alive?;
    if client.errors > 0 {
        return Err(format!(
            "{} errors; first: {}",
            client.errors,
            client.first_error.unwrap_or_default()
        ));
    }
    if client.tokens == 0 {
        return Err("no token received".to_string());
    }
    Ok(GapRun {
        swaps: client.swaps,
        tokens: client.tokens,
        gaps_us: client
            .gaps_ns
            .iter()
            .map(|&ns| ns as f64 / 1000.0)
            .collect(),
    })
}

/// Runs scenario 5: the hop case (peers alternating every round), then the gap case.
pub fn run(exe: &Path, options: &Options) -> SwapResults {
    let mut results = SwapResults {
        token_interval_ms: TOKEN_INTERVAL.as_secs_f64() * 1000.0,
        gap_failure_after_ms: GAP_FAILURE_AFTER.as_secs_f64() * 1000.0,
        gap_recovery_ms: GAP_RECOVERY.as_secs_f64() * 1000.0,
        cases: vec![
            SwapCase {
                case: "hop".into(),
                peer: "direct".into(),
                ..SwapCase::default()
            },
            SwapCase {
                case: "hop".into(),
                peer: "director".into(),
                ..SwapCase::default()
            },
            SwapCase {
                case: "gap".into(),
                peer: "director".into(),
                ..SwapCase::default()
            },
        ],
    };
    let rounds = options.rounds;
    for round in 0..rounds {
        for i in 0..2 {
            let index = (i + round) % 2;
            let peer = results.cases[index].peer.clone();
            let outcome = hop_once(exe, options, &peer);
            let case = &mut results.cases[index];
            match outcome {
                Ok(run) => {
                    eprintln!(
                        "[scenario 5 hop {peer} round {}/{rounds}] {} tokens, p50 {:.0} us, p99 {:.0} us",
                        round + 1,
                        run.tokens,
                        run.latency.p50_us,
                        run.latency.p99_us
                    );
                    case.hop_runs.push(run);
                }
                Err(error) => {
                    eprintln!(
                        "[scenario 5 hop {peer} round {}/{rounds}] FAILED: {error}",
                        round + 1
                    );
                    case.errors.push(error);
                    case.failed = true;
                }
            }
        }
        let outcome = gap_once(exe, options);
        let case = &mut results.cases[2];
        match outcome {
            Ok(run) => {
                eprintln!(
                    "[scenario 5 gap round {}/{rounds}] {} swaps, {} gaps measured",
                    round + 1,
                    run.swaps,
                    run.gaps_us.len()
                );
                case.gap_runs.push(run);
            }
            Err(error) => {
                eprintln!(
                    "[scenario 5 gap round {}/{rounds}] FAILED: {error}",
                    round + 1
                );
                case.errors.push(error);
                case.failed = true;
            }
        }
    }
    results
}

impl SwapResults {
    fn case(&self, case: &str, peer: &str) -> Option<&SwapCase> {
        self.cases.iter().find(|c| c.case == case && c.peer == peer)
    }

    /// Median over rounds of a hop peer's p50 or p99, microseconds.
    fn hop(&self, peer: &str, p99: bool) -> Result<Spread, String> {
        let case = self
            .case("hop", peer)
            .ok_or_else(|| format!("the {peer} hop case did not run"))?;
        if case.failed {
            return Err(format!("the {peer} hop case failed"));
        }
        let values: Vec<f64> = case
            .hop_runs
            .iter()
            .map(|r| {
                if p99 {
                    r.latency.p99_us
                } else {
                    r.latency.p50_us
                }
            })
            .collect();
        Spread::of(&values).ok_or_else(|| format!("the {peer} hop case measured nothing"))
    }

    /// Director p50 minus direct p50 (medians over rounds), microseconds.
    pub fn hop_added_p50_us(&self) -> Result<f64, String> {
        Ok(self.hop("director", false)?.median - self.hop("direct", false)?.median)
    }

    /// All measured gaps of all rounds, microseconds, sorted.
    fn gaps(&self) -> Result<Vec<f64>, String> {
        let case = self
            .case("gap", "director")
            .ok_or("the gap case did not run")?;
        if case.failed {
            return Err("the gap case failed".to_string());
        }
        let mut gaps: Vec<f64> = case
            .gap_runs
            .iter()
            .flat_map(|r| r.gaps_us.clone())
            .collect();
        gaps.sort_by(f64::total_cmp);
        Ok(gaps)
    }

    /// (count, p50, p99, max) of the pooled gaps, milliseconds.
    pub fn gap_percentiles_ms(&self) -> Result<(usize, f64, f64, f64), String> {
        let gaps = self.gaps()?;
        if gaps.is_empty() {
            return Err("no swap gap was measured".to_string());
        }
        let at = |q: f64| {
            let rank = ((q * gaps.len() as f64).ceil() as usize).clamp(1, gaps.len());
            gaps[rank - 1] / 1000.0
        };
        Ok((gaps.len(), at(0.5), at(0.99), gaps[gaps.len() - 1] / 1000.0))
    }

    /// (passed, failed) cases.
    pub fn tally(&self) -> (usize, usize) {
        let failed = self.cases.iter().filter(|c| c.failed).count();
        (self.cases.len() - failed, failed)
    }

    /// Prints the scenario's tables.
    pub fn print(&self) {
        let rounds = self
            .cases
            .iter()
            .map(|c| c.hop_runs.len().max(c.gap_runs.len()) + c.errors.len())
            .max()
            .unwrap_or(0);
        println!(
            "\n### Scenario 5: connection swap, tokens every {} ms ({rounds} rounds)\n",
            self.token_interval_ms
        );
        let mut rows = Vec::new();
        for peer in ["direct", "director"] {
            let Some(case) = self.case("hop", peer) else {
                continue;
            };
            let mut row = vec![
                "hop".to_string(),
                if peer == "direct" {
                    "direct (client -> worker)".to_string()
                } else {
                    "director (client -> director -> worker)".to_string()
                },
            ];
            match (self.hop(peer, false), self.hop(peer, true)) {
                (Ok(p50), Ok(p99)) => {
                    let tokens: Vec<f64> = case.hop_runs.iter().map(|r| r.tokens as f64).collect();
                    let tokens = Spread::of(&tokens).map_or(f64::NAN, |s| s.median);
                    row.extend([
                        format!("{:.0} ({:.0}-{:.0})", p50.median, p50.min, p50.max),
                        format!("{:.0} ({:.0}-{:.0})", p99.median, p99.min, p99.max),
                        format!("{tokens:.0}"),
                    ]);
                }
                _ => row.push(format!(
                    "FAILED: {}",
                    case.errors.first().map_or("no result", String::as_str)
                )),
            }
            rows.push(row);
        }
        print!(
            "{}",
            markdown_table(
                &[
                    "case",
                    "path",
                    "per-token latency p50 us median (min-max)",
                    "p99 us median (min-max)",
                    "tokens per round",
                ],
                &rows
            )
        );
        match self.hop_added_p50_us() {
            Ok(added) => println!("\n- director hop adds {added:.0} us to the p50 per token"),
            Err(why) => println!("\n- director hop: {why}"),
        }
        println!(
            "\nSwap gap (last token of the failing worker to the first of the next; workers \
             fail after {} ms of serving, recover after {} ms):\n",
            self.gap_failure_after_ms, self.gap_recovery_ms
        );
        let row = match (self.gap_percentiles_ms(), self.case("gap", "director")) {
            (Ok((count, p50, p99, max)), Some(case)) => {
                let per_round: Vec<f64> = case
                    .gap_runs
                    .iter()
                    .filter_map(|r| {
                        let mut g = r.gaps_us.clone();
                        g.sort_by(f64::total_cmp);
                        g.get(g.len().saturating_sub(1) / 2).map(|v| v / 1000.0)
                    })
                    .collect();
                let range = Spread::of(&per_round)
                    .map_or("-".to_string(), |s| format!("{:.1}-{:.1}", s.min, s.max));
                vec![
                    count.to_string(),
                    format!("{p50:.1}"),
                    format!("{p99:.1}"),
                    format!("{max:.1}"),
                    range,
                ]
            }
            (Err(why), case) => vec![format!(
                "{}: {why}",
                if case.is_some_and(|c| c.failed) {
                    "FAILED"
                } else {
                    "not measured"
                }
            )],
            (Ok(_), None) => vec!["did not run".to_string()],
        };
        let row = if let Some(case) = self.case("gap", "director").filter(|c| c.failed) {
            vec![format!(
                "FAILED: {}",
                case.errors.first().map_or("no result", String::as_str)
            )]
        } else {
            row
        };
        print!(
            "{}",
            markdown_table(
                &[
                    "swaps measured (all rounds)",
                    "gap p50 ms",
                    "gap p99 ms",
                    "gap max ms",
                    "per-round p50 range ms",
                ],
                &[row]
            )
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(peer: &str, p50_us: f64) -> SwapCase {
        SwapCase {
            case: "hop".into(),
            peer: peer.into(),
            hop_runs: vec![HopRun {
                tokens: 10,
                tokens_per_second: 10.0,
                latency: Latency {
                    count: 10,
                    p50_us,
                    ..Latency::default()
                },
            }],
            ..SwapCase::default()
        }
    }

    #[test]
    fn hop_cost_and_pooled_gap_percentiles() {
        let gap = SwapCase {
            case: "gap".into(),
            peer: "director".into(),
            gap_runs: vec![
                GapRun {
                    swaps: 50,
                    tokens: 1,
                    gaps_us: (1..=50).map(|ms| ms as f64 * 1000.0).collect(),
                },
                GapRun {
                    swaps: 50,
                    tokens: 1,
                    gaps_us: (51..=100).rev().map(|ms| ms as f64 * 1000.0).collect(),
                },
            ],
            ..SwapCase::default()
        };
        let mut results = SwapResults {
            cases: vec![hop("direct", 150.0), hop("director", 310.0), gap],
            ..SwapResults::default()
        };
        assert_eq!(results.hop_added_p50_us(), Ok(160.0));
        assert_eq!(results.gap_percentiles_ms(), Ok((100, 50.0, 99.0, 100.0)));
        assert_eq!(results.tally(), (3, 0));
        results.cases[2].failed = true;
        assert!(results.gap_percentiles_ms().is_err());
        assert_eq!(results.tally(), (2, 1));
    }

    #[test]
    fn the_token_clock_reads_the_sequence_from_the_log_line() {
        let mut clock = TokenClock;
        let line = b" INFO worker: worker=w stream.id=0 connection.id=c seq=4242 sending token\n";
        clock.write_all(line).unwrap();
        clock
            .write_all(b" INFO worker: worker=w seq=1 accepted handoff\n")
            .unwrap();
        let sent = SENT.lock().unwrap();
        assert!(sent.iter().any(|&(seq, _)| seq == 4242));
        assert!(!sent.iter().any(|&(seq, _)| seq == 1));
    }
}
