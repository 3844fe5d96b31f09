//! Server and client child processes: how the driver starts them, reads what they report and
//! makes sure none outlives its run (all through `connection_swap::supervisor`). A server child
//! exits by itself when its stdin closes, so even a driver that dies leaves no server behind.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use connection_swap::supervisor::{announce_listening, ChildSpec, Stream, Supervised};
use serde::de::DeserializeOwned;

use crate::load::{RunResult, Workload};
use crate::peers::Kind;

/// How long a server may take to bind and report its address.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a server may take to exit after its stdin closed, before it is killed.
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a client may need beyond its warm-up and measured window: connecting, stragglers
/// (failed after 10 s) and, for the memory scenario, the handshakes themselves.
const CLIENT_SLACK: Duration = Duration::from_secs(60);

/// A running server child (and, for a director, its workers); all are killed when dropped.
pub struct ServerChild {
    server: Supervised,
    /// Worker processes of a director (empty for the other kinds).
    workers: Vec<Supervised>,
    pub addr: SocketAddr,
}

impl ServerChild {
    /// Starts `rpcnet-bench server --kind <kind>` on a free loopback port and waits until it
    /// reports its address.
    pub fn start(exe: &Path, kind: Kind, certs_dir: &Path) -> anyhow::Result<ServerChild> {
        let mut command = Command::new(exe);
        command
            .args(["server", "--kind", kind.name(), "--addr", "127.0.0.1:0"])
            .arg("--certs")
            .arg(certs_dir);
        let mut server = ChildSpec::new(format!("the {} server", kind.name()), command)
            .grace(SERVER_STOP_TIMEOUT)
            .spawn()?;
        let addr = server.listening_addr(SERVER_START_TIMEOUT)?;
        let mut workers = Vec::new();
        if kind == Kind::Director {
            for i in 0..crate::peers::DIRECTOR_WORKERS {
                let label = format!("bench-worker-{i}");
                let mut command = Command::new(exe);
                command
                    .args(["worker", "--director", &addr.to_string()])
                    .args(["--label", &label])
                    .arg("--certs")
                    .arg(certs_dir);
                let worker = ChildSpec::new(format!("the connection-swap worker {label}"), command)
                    .grace(SERVER_STOP_TIMEOUT)
                    .spawn()?;
                workers.push(worker);
            }
        }
        Ok(ServerChild {
            server,
            workers,
            addr,
        })
    }

    /// The server's process id (its CPU time and memory are read through /proc).
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// `Err` with the exit status and stderr tail if the server is no longer running.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        Ok(self.server.check_alive()?)
    }

    /// Closes every stdin (they exit), then kills whoever lingers.
    pub fn stop(mut self) {
        for worker in &mut self.workers {
            worker.close_stdin();
        }
        self.server.stop();
        for worker in &mut self.workers {
            worker.stop();
        }
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
        .arg(certs_dir);
    let limit = workload.warmup + workload.duration + CLIENT_SLACK;
    run_to_result(command, limit)
}

/// Runs a client child that prints its result as its last JSON line on stdout, within
/// `limit` (killed after it), and parses that line.
pub(crate) fn run_to_result<T: DeserializeOwned>(
    command: Command,
    limit: Duration,
) -> anyhow::Result<T> {
    let mut client = ChildSpec::new("the client", command).spawn()?;
    let status = client.wait_timeout(limit)?;
    if !status.success() {
        bail!(
            "the client failed ({status}); its last stderr lines: {}",
            client.stderr_tail()
        );
    }
    let stdout = client.texts(Stream::Stdout);
    let line = stdout
        .iter()
        .rev()
        .find(|line| line.starts_with('{'))
        .ok_or_else(|| {
            anyhow!(
                "the client printed no result; its last stderr lines: {}",
                client.stderr_tail()
            )
        })?;
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

/// Runs as a server child: serves `kind` on `addr` and exits when stdin closes.
pub fn serve_child(kind: Kind, addr: SocketAddr, certs_dir: &Path) -> anyhow::Result<()> {
    init_logging();
    exit_when_stdin_closes();
    let certs = crate::peers::Certs::in_dir(certs_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::peers::serve(kind, addr, &certs, |bound| {
        let _ = announce_listening(bound);
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
