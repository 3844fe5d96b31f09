//! The load generator, run as its own process (`rpcnet-bench client ...`) so that client and
//! server never share a process: it connects, runs one workload for a warm-up (discarded) and a
//! measured window, samples its own and the server's CPU time around that window, and prints
//! one `RunResult` as a JSON line.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::time::{sleep_until, timeout_at, Instant};

use crate::peers::{payload, Certs, Connection, Kind};
use crate::procstat;
use crate::proto::{self, StreamRequest};
use crate::stats::{latency_histogram, record, Latency};

/// How long after the end of the measured window a call may still take before it is counted
/// as failed: far above any healthy latency here, short enough that a hung run ends.
const STRAGGLER_GRACE: Duration = Duration::from_secs(10);

/// Pause after a failed call before a closed-loop worker tries again, so a dead connection
/// produces a countable number of errors instead of a busy loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Open-loop requests allowed in flight at once; beyond this the offered rate is not being
/// served and further requests are counted as errors instead of piling up without bound.
const OPEN_LOOP_MAX_IN_FLIGHT: usize = 20_000;

/// Handshakes run at once while the memory scenario opens its connections.
const CONNECT_PARALLELISM: usize = 32;

/// What the client process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Closed loop: `concurrency` workers each send the next echo when the last one answered.
    Unary,
    /// Open loop: echoes sent at a fixed rate, latency measured from the intended send time.
    Rate,
    /// One server stream read as fast as it arrives.
    Stream,
    /// `connections` connections each holding one open stream, for the server's memory.
    Hold,
}

/// One workload, as passed on the client's command line.
#[derive(Clone, Debug)]
pub struct Workload {
    pub mode: Mode,
    pub kind: Kind,
    pub addr: SocketAddr,
    pub server_pid: u32,
    pub certs: Certs,
    /// Payload bytes per message (both directions for echoes).
    pub size: usize,
    /// Closed-loop workers (`Unary`).
    pub concurrency: usize,
    /// Requests per second (`Rate`).
    pub rate: f64,
    /// Connections to open (`Hold`).
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one run measured. Counts cover the measured window only, except `errors` and
/// `calls_ok`, which cover the whole run (warm-up included): any error fails the run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunResult {
    /// Requests (or streamed messages) completed in the measured window.
    pub completed: u64,
    /// Successful calls over the whole run, warm-up included.
    pub calls_ok: u64,
    /// Failed calls over the whole run.
    pub errors: u64,
    /// The first failure, in words.
    pub first_error: Option<String>,
    /// Length of the measured window, in seconds.
    pub seconds: f64,
    /// Payload bytes received in the measured window.
    pub bytes: u64,
    /// Latencies of the window's requests (none for streams and the memory scenario).
    pub latency: Option<Latency>,
    /// CPU time of the client process over the window, in microseconds.
    pub client_cpu_us: u64,
    /// CPU time of the server process over the window, in microseconds.
    pub server_cpu_us: u64,
    /// Offered rate of an open-loop run, requests per second.
    pub offered_rate: Option<f64>,
    /// Server RSS with one connection holding a stream (memory scenario), bytes.
    pub server_rss_before: Option<u64>,
    /// Server RSS with every connection holding a stream (memory scenario), bytes.
    pub server_rss_after: Option<u64>,
    /// Connections that were holding a stream when `server_rss_after` was read.
    pub connections_held: Option<u64>,
    /// The transport an rpcnet client's connection was on once connected (`HTTP/3`,
    /// `HTTP/2`), and at the end of the run; `Auto` may start on HTTP/2 and move.
    #[serde(default)]
    pub transport_start: Option<String>,
    #[serde(default)]
    pub transport_end: Option<String>,
    /// Connections the rpcnet client made over the run (2 when `Auto` moved to HTTP/3).
    #[serde(default)]
    pub connections_opened: Option<u64>,
}

impl RunResult {
    fn fail(&mut self, error: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }

    fn merge_errors(&mut self, errors: u64, first: Option<String>) {
        self.errors += errors;
        if self.first_error.is_none() {
            self.first_error = first;
        }
    }

    /// Records which transport an rpcnet connection was on at the start (`start`) and at the
    /// end of the run (`connection` now), and fails the run when it ended anywhere but the
    /// transport its kind must end on (`Kind::expected_transport`): an explicit choice that
    /// was not honoured, or `Auto` left on HTTP/2.
    fn check_transport(&mut self, kind: Kind, start: Option<String>, connection: &Connection) {
        let Some((now, opened)) = connection.rpcnet_transport() else {
            return;
        };
        let end = now.map(|t| t.to_string());
        self.transport_start = start;
        self.transport_end = end.clone();
        self.connections_opened = Some(opened);
        if let Some(expected) = kind.expected_transport() {
            let expected = expected.to_string();
            if end.as_deref() != Some(expected.as_str()) {
                self.fail(format!(
                    "{kind} ended the run on {} (started on {}, {opened} connections), not {expected}",
                    end.as_deref().unwrap_or("no live connection"),
                    self.transport_start.as_deref().unwrap_or("?"),
                ));
            }
        }
    }
}

/// The transport an rpcnet connection is on now, in words (`None` for the other peers).
fn transport_now(connection: &Connection) -> Option<String> {
    connection
        .rpcnet_transport()
        .and_then(|(now, _)| now.map(|t| t.to_string()))
}

/// Runs one workload and returns its measurements. Errors here are set-up failures (no
/// connection at all); failed calls are counted in the result instead.
pub async fn run(workload: Workload) -> anyhow::Result<RunResult> {
    match workload.mode {
        Mode::Unary => closed_loop(&workload).await,
        Mode::Rate => open_loop(&workload).await,
        Mode::Stream => stream(&workload).await,
        Mode::Hold => hold(&workload).await,
    }
}

/// The start and end of the measured window, after a warm-up that starts now.
#[derive(Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

impl Window {
    fn after_warmup(workload: &Workload) -> Window {
        let from = Instant::now() + workload.warmup;
        Window {
            from,
            until: from + workload.duration,
        }
    }

    fn contains(&self, at: Instant) -> bool {
        at >= self.from && at < self.until
    }

    /// The moment by which every call must have finished.
    fn hard_deadline(&self) -> Instant {
        self.until + STRAGGLER_GRACE
    }
}

/// CPU time of the client and the server, read at the window's start and end by a task of
/// its own so that no worker is delayed by it.
fn sample_cpu(window: Window, server_pid: u32) -> tokio::task::JoinHandle<(u64, u64)> {
    let read = move || {
        (
            procstat::cpu_micros(std::process::id()).unwrap_or(0),
            procstat::cpu_micros(server_pid).unwrap_or(0),
        )
    };
    tokio::spawn(async move {
        sleep_until(window.from).await;
        let (client_start, server_start) = read();
        sleep_until(window.until).await;
        let (client_end, server_end) = read();
        (
            client_end.saturating_sub(client_start),
            server_end.saturating_sub(server_start),
        )
    })
}

/// Per-worker tallies, merged at the end.
struct Tally {
    histogram: Histogram<u64>,
    completed: u64,
    calls_ok: u64,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            histogram: latency_histogram(),
            completed: 0,
            calls_ok: 0,
            bytes: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn error(&mut self, error: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }

    /// Books one echo answer that took `latency`; `measured` says whether it belongs to the
    /// window (its completion time for a closed loop, its scheduled time for an open loop).
    /// Answers whether the call succeeded.
    fn answer(
        &mut self,
        measured: bool,
        latency: Duration,
        answer: Result<Result<Bytes, String>, tokio::time::error::Elapsed>,
        size: usize,
    ) -> bool {
        match answer {
            Ok(Ok(data)) if data.len() == size => {
                self.calls_ok += 1;
                if measured {
                    self.completed += 1;
                    self.bytes += data.len() as u64;
                    record(&mut self.histogram, latency.as_nanos() as u64);
                }
                true
            }
            Ok(Ok(data)) => {
                self.error(format!("the echo answered {} bytes for {size}", data.len()));
                false
            }
            Ok(Err(error)) => {
                self.error(error);
                false
            }
            Err(_) => {
                self.error(format!(
                    "no answer {} s after the end of the run",
                    STRAGGLER_GRACE.as_secs()
                ));
                false
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms share bounds");
        self.completed += other.completed;
        self.calls_ok += other.calls_ok;
        self.bytes += other.bytes;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn result_of(tally: Tally, window: &Window, cpu: (u64, u64)) -> RunResult {
    RunResult {
        completed: tally.completed,
        calls_ok: tally.calls_ok,
        errors: tally.errors,
        first_error: tally.first_error,
        seconds: (window.until - window.from).as_secs_f64(),
        bytes: tally.bytes,
        latency: Latency::of(&tally.histogram),
        client_cpu_us: cpu.0,
        server_cpu_us: cpu.1,
        ..RunResult::default()
    }
}

/// `concurrency` workers on one connection, each sending its next echo when the last answered.
async fn closed_loop(workload: &Workload) -> anyhow::Result<RunResult> {
    let connection = Connection::open(workload.kind, workload.addr, &workload.certs).await?;
    let start = transport_now(&connection);
    let data = payload(workload.size).data;
    let size = workload.size;
    let window = Window::after_warmup(workload);
    let cpu = sample_cpu(window, workload.server_pid);
    let mut workers = Vec::with_capacity(workload.concurrency);
    for _ in 0..workload.concurrency {
        let mut connection = connection.clone();
        let data = data.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            loop {
                let sent = Instant::now();
                if sent >= window.until {
                    break;
                }
                let answer =
                    timeout_at(window.hard_deadline(), connection.echo(data.clone())).await;
                let done = Instant::now();
                if !tally.answer(window.contains(done), done - sent, answer, size) {
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for worker in workers {
        total.merge(worker.await?);
    }
    let mut result = result_of(total, &window, cpu.await?);
    result.check_transport(workload.kind, start, &connection);
    Ok(result)
}

/// Echoes sent at a fixed rate whatever the answers do, so a slow answer cannot delay the next
/// request (no coordinated omission): each latency runs from the request's scheduled time.
/// Requests scheduled inside the window are the ones measured; the run waits for all of them.
async fn open_loop(workload: &Workload) -> anyhow::Result<RunResult> {
    let connection = Connection::open(workload.kind, workload.addr, &workload.certs).await?;
    let start = transport_now(&connection);
    let data = payload(workload.size).data;
    let size = workload.size;
    let interval = Duration::from_secs_f64(1.0 / workload.rate.max(1.0));
    let window = Window::after_warmup(workload);
    let cpu = sample_cpu(window, workload.server_pid);
    let tally = Arc::new(Mutex::new(Tally::new()));
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut requests = tokio::task::JoinSet::new();
    let mut next = Instant::now();
    'pace: loop {
        let now = Instant::now();
        while next <= now {
            if next >= window.until {
                break 'pace;
            }
            let scheduled = next;
            next += interval;
            if in_flight.load(std::sync::atomic::Ordering::Relaxed) >= OPEN_LOOP_MAX_IN_FLIGHT {
                tally.lock().expect("tally lock").error(format!(
                    "{OPEN_LOOP_MAX_IN_FLIGHT} requests in flight: the offered rate is not served"
                ));
                continue;
            }
            in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut connection = connection.clone();
            let data = data.clone();
            let tally = tally.clone();
            let in_flight = in_flight.clone();
            requests.spawn(async move {
                let answer = timeout_at(window.hard_deadline(), connection.echo(data)).await;
                let done = Instant::now();
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                tally.lock().expect("tally lock").answer(
                    window.contains(scheduled),
                    done - scheduled,
                    answer,
                    size,
                );
            });
        }
        sleep_until(next).await;
        while requests.try_join_next().is_some() {}
    }
    while requests.join_next().await.is_some() {}
    let tally = Arc::try_unwrap(tally)
        .map_err(|_| anyhow::anyhow!("request tasks still hold the tally"))?
        .into_inner()
        .expect("tally lock");
    let mut result = result_of(tally, &window, cpu.await?);
    result.offered_rate = Some(workload.rate);
    result.check_transport(workload.kind, start, &connection);
    Ok(result)
}

/// One server stream read as fast as messages arrive; messages that arrive inside the window
/// are counted. The stream is cancelled (dropped) at the end.
async fn stream(workload: &Workload) -> anyhow::Result<RunResult> {
    let mut connection = Connection::open(workload.kind, workload.addr, &workload.certs).await?;
    let start = transport_now(&connection);
    let window = Window::after_warmup(workload);
    let cpu = sample_cpu(window, workload.server_pid);
    let mut tally = Tally::new();
    let request = StreamRequest {
        size: u32::try_from(workload.size)?,
        count: 0,
    };
    match connection.server_stream(proto::STREAM_PATH, request).await {
        // One timeout around the whole read loop rather than one per message: a timer per
        // message cost both peers' clients about a tenth of their CPU in this scenario, where
        // the client is the bottleneck.
        Ok(mut messages) => {
            let read = async {
                loop {
                    match messages.next().await {
                        Ok(Some(message)) if message.data.len() == workload.size => {
                            let now = Instant::now();
                            if now >= window.until {
                                break;
                            }
                            tally.calls_ok += 1;
                            if now >= window.from {
                                tally.completed += 1;
                                tally.bytes += message.data.len() as u64;
                            }
                        }
                        Ok(Some(message)) => {
                            tally.error(format!(
                                "a streamed message had {} bytes, not {}",
                                message.data.len(),
                                workload.size
                            ));
                            break;
                        }
                        Ok(None) => {
                            tally.error("the server ended an endless stream".to_string());
                            break;
                        }
                        Err(error) => {
                            tally.error(error);
                            break;
                        }
                    }
                }
            };
            if timeout_at(window.hard_deadline(), read).await.is_err() {
                tally.error("the stream stalled past the end of the run".to_string());
            }
        }
        Err(error) => tally.error(error),
    }
    let cpu = cpu.await?;
    let mut result = result_of(tally, &window, cpu);
    result.latency = None;
    result.check_transport(workload.kind, start, &connection);
    Ok(result)
}

/// Opens `connections` connections that each hold one `Hold` stream (first message received,
/// so the server has set the call up), and reads the server's RSS before and after.
async fn hold(workload: &Workload) -> anyhow::Result<RunResult> {
    let mut result = RunResult::default();
    let request = StreamRequest {
        size: u32::try_from(workload.size)?,
        count: 1,
    };
    // One held connection first, so the baseline includes the runtime's one-off costs (worker
    // threads, allocator arenas, the first connection's buffers).
    let first = open_and_hold(workload, request.clone()).await;
    let first = match first {
        Ok(held) => held,
        Err(error) => {
            result.fail(error);
            return Ok(result);
        }
    };
    tokio::time::sleep(workload.warmup).await;
    result.server_rss_before = Some(procstat::rss_bytes(workload.server_pid)?);
    let started = Instant::now();
    let outcomes: Vec<Result<Held, String>> = futures_util::stream::iter(0..workload.connections)
        .map(|_| open_and_hold(workload, request.clone()))
        .buffer_unordered(CONNECT_PARALLELISM)
        .collect()
        .await;
    let mut held = Vec::with_capacity(outcomes.len());
    let mut errors = 0;
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Ok(h) => held.push(h),
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    result.merge_errors(errors, first_error);
    // Let the server settle (deferred frees, timers) before reading its memory.
    tokio::time::sleep(workload.duration).await;
    result.server_rss_after = Some(procstat::rss_bytes(workload.server_pid)?);
    result.connections_held = Some(held.len() as u64);
    result.calls_ok = held.len() as u64 + 1;
    result.completed = held.len() as u64;
    result.seconds = started.elapsed().as_secs_f64();
    drop(held);
    drop(first);
    Ok(result)
}

/// A connection with its held stream.
struct Held {
    _connection: Connection,
    _stream: crate::peers::MessageStream,
}

async fn open_and_hold(workload: &Workload, request: StreamRequest) -> Result<Held, String> {
    let mut connection = Connection::open(workload.kind, workload.addr, &workload.certs)
        .await
        .map_err(|e| format!("connect: {e:#}"))?;
    let mut stream = connection.server_stream(proto::HOLD_PATH, request).await?;
    match tokio::time::timeout(STRAGGLER_GRACE, stream.next()).await {
        Ok(Ok(Some(_))) => Ok(Held {
            _connection: connection,
            _stream: stream,
        }),
        Ok(Ok(None)) => Err("the held stream ended at once".to_string()),
        Ok(Err(error)) => Err(error),
        Err(_) => Err("the held stream sent nothing".to_string()),
    }
}
