//! Server and client child processes: how the driver starts them, reads what they report and
//! makes sure none outlives its run. A server child exits by itself when its stdin closes, so
//! even a driver that dies leaves no server behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use crate::load::{RunResult, Workload};
use crate::peers::Kind;

/// How long a server may take to bind and report its address.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a server may take to exit after its stdin closed, before it is killed.
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a client may need beyond its warm-up and measured window: connecting, stragglers
/// (failed after 10 s) and, for the memory scenario, the handshakes themselves.
const CLIENT_SLACK: Duration = Duration::from_secs(60);

/// Lines of a child's stderr kept for an error report.
const STDERR_TAIL_LINES: usize = 12;

/// The first line a server child prints once it is bound.
pub const LISTENING_PREFIX: &str = "listening ";

/// A running server child.
pub struct ServerChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: mpsc::Receiver<String>,
    /// Worker processes of a director (empty for the other kinds).
    workers: Vec<Child>,
    pub addr: SocketAddr,
}

impl ServerChild {
    /// Starts `rpcnet-bench server --kind <kind>` on a free loopback port and waits until it
    /// reports its address.
    pub fn start(exe: &Path, kind: Kind, certs_dir: &Path) -> anyhow::Result<ServerChild> {
        let mut child = Command::new(exe)
            .args(["server", "--kind", kind.name(), "--addr", "127.0.0.1:0"])
            .arg("--certs")
            .arg(certs_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} server", kind.name()))?;
        let stdin = child.stdin.take();
        let stderr = collect_lines(child.stderr.take().expect("stderr is piped"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = line_tx.send(lines.next());
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let mut server = ServerChild {
            child,
            stdin,
            stderr,
            workers: Vec::new(),
            addr: ([127, 0, 0, 1], 0).into(),
        };
        let line = match line_rx.recv_timeout(SERVER_START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            _ => bail!(
                "the {} server did not report its address: {}",
                kind.name(),
                server.stop_and_describe()
            ),
        };
        server.addr = line
            .strip_prefix(LISTENING_PREFIX)
            .and_then(|addr| addr.trim().parse().ok())
            .ok_or_else(|| anyhow!("unexpected first line from the server: {line:?}"))?;
        if kind == Kind::Director {
            for i in 0..crate::peers::DIRECTOR_WORKERS {
                let worker = Command::new(exe)
                    .args(["worker", "--director", &server.addr.to_string()])
                    .args(["--label", &format!("bench-worker-{i}")])
                    .arg("--certs")
                    .arg(certs_dir)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("starting a connection-swap worker")?;
                server.workers.push(worker);
            }
        }
        Ok(server)
    }

    /// The server's process id (its CPU time and memory are read through /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Err` with the exit status and stderr tail if the server is no longer running.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(anyhow!(
                "the server exited during the run ({status}); stderr: {}",
                drain(&self.stderr)
            )),
        }
    }

    /// Closes the server's stdin (it exits), then kills it if it lingers.
    pub fn stop(mut self) {
        self.shutdown();
        self.stop_workers();
    }

    fn shutdown(&mut self) {
        for worker in &mut self.workers {
            // Closing stdin stops a worker; a kill is the fallback below.
            drop(worker.stdin.take());
        }
        drop(self.stdin.take());
        let deadline = Instant::now() + SERVER_STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn stop_workers(&mut self) {
        for mut worker in self.workers.drain(..) {
            let deadline = Instant::now() + SERVER_STOP_TIMEOUT;
            while Instant::now() < deadline {
                if matches!(worker.try_wait(), Ok(Some(_)) | Err(_)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = worker.kill();
            let _ = worker.wait();
        }
    }

    fn stop_and_describe(&mut self) -> String {
        self.shutdown();
        drain(&self.stderr)
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            self.shutdown();
        }
        self.stop_workers();
    }
}

/// Runs one client child for `workload` against the server and returns what it measured.
pub fn run_client(exe: &Path, certs_dir: &Path, workload: &Workload) -> anyhow::Result<RunResult> {
    let mut command = Command::new(exe);
    command
        .arg("client")
        .args(["--kind", workload.kind.name()])
        .args(["--mode", mode_name(workload)])
        .args(["--addr", &workload.addr.to_string()])
        .args(["--server-pid", &workload.server_pid.to_string()])
        .args(["--size", &workload.size.to_string()])
        .args(["--concurrency", &workload.concurrency.to_string()])
        .args(["--rate", &workload.rate.to_string()])
        .args(["--connections", &workload.connections.to_string()])
        .args(["--warmup-ms", &workload.warmup.as_millis().to_string()])
        .args(["--duration-ms", &workload.duration.as_millis().to_string()])
        .arg("--certs")
        .arg(certs_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().context("starting the client")?;
    let stderr = collect_lines(child.stderr.take().expect("stderr is piped"));
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (out_tx, out_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let _ = out_tx.send(text);
    });
    let limit = workload.warmup + workload.duration + CLIENT_SLACK;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the client did not finish within {} s; stderr: {}",
                limit.as_secs(),
                drain(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = out_rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    if !status.success() {
        bail!("the client failed ({status}); stderr: {}", drain(&stderr));
    }
    let line = text
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .ok_or_else(|| anyhow!("the client printed no result; stderr: {}", drain(&stderr)))?;
    serde_json::from_str(line).with_context(|| format!("parsing the client's result {line:?}"))
}

fn mode_name(workload: &Workload) -> &'static str {
    use crate::load::Mode;
    match workload.mode {
        Mode::Unary => "unary",
        Mode::Rate => "rate",
        Mode::Stream => "stream",
        Mode::Hold => "hold",
    }
}

/// Reads a child's output line by line on a thread of its own (so the child never blocks on a
/// full pipe), handing the lines over through a channel.
pub(crate) fn collect_lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The last lines received so far, joined for an error message.
pub(crate) fn drain(lines: &mpsc::Receiver<String>) -> String {
    // Give the reader thread a moment to pick up what a dying child wrote last.
    std::thread::sleep(Duration::from_millis(50));
    let all: Vec<String> = lines.try_iter().collect();
    let tail = &all[all.len().saturating_sub(STDERR_TAIL_LINES)..];
    if tail.is_empty() {
        "(empty)".to_string()
    } else {
        tail.join(" | ")
    }
}

/// Runs as a server child: serves `kind` on `addr` and exits when stdin closes.
pub fn serve_child(kind: Kind, addr: SocketAddr, certs_dir: &Path) -> anyhow::Result<()> {
    init_logging();
    exit_when_stdin_closes();
    let certs = crate::peers::Certs::in_dir(certs_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::peers::serve(kind, addr, &certs, |bound| {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{LISTENING_PREFIX}{bound}");
        let _ = stdout.flush();
    }))
}

/// Runs as a worker child of a director: serves until stdin closes.
pub fn worker_child(director: SocketAddr, label: String, certs_dir: &Path) -> anyhow::Result<()> {
    init_logging();
    exit_when_stdin_closes();
    let certs = crate::peers::Certs::in_dir(certs_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::peers::serve_worker(director, label, &certs))
}

/// Ends the process when its stdin reaches end of file, i.e. when the driver closed it or died.
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
}

/// Runs as a client child: runs `workload` and prints its result as one JSON line.
pub fn client_child(workload: Workload) -> anyhow::Result<()> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(crate::load::run(workload))?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// Logs to stderr when `RUST_LOG` is set (for chasing a failure by hand; off in measurements).
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}
