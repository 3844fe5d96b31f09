//! Command line of `rpcnet-bench`: the driver (`--all`, `--quick`, `--scenario N`) and the two
//! child roles it starts, `server` and `client`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use rpcnet_bench::driver::{self, ALL_SCENARIOS, QUICK_SCENARIOS};
use rpcnet_bench::load::{Mode, Workload};
use rpcnet_bench::options::Options;
use rpcnet_bench::peers::{Certs, Kind};
use rpcnet_bench::report;

/// Benchmarks rpcnet against tonic and a raw quinn echo. See BENCHMARKS.md.
#[derive(Parser, Debug)]
#[command(name = "rpcnet-bench", version)]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    #[command(flatten)]
    drive: Drive,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// A server child: serves one peer until stdin closes.
    Server {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        #[arg(long, default_value = default_certs())]
        certs: PathBuf,
    },
    /// A client child: runs one workload and prints its result as a JSON line.
    Client(ClientArgs),
    /// A scenario 5 worker: a connection-swap worker that records when it produced each
    /// token; prints `listening <addr>`, and the tokens when stdin closes.
    SwapWorker {
        #[arg(long)]
        director: SocketAddr,
        #[arg(long)]
        label: String,
        #[arg(long, default_value_t = 1000)]
        token_interval_us: u64,
        #[arg(long, default_value_t = 86_400_000)]
        failure_after_ms: u64,
        #[arg(long, default_value_t = 1000)]
        recovery_ms: u64,
        #[arg(long, default_value = default_certs())]
        certs: PathBuf,
    },
    /// A scenario 5 client: follows one token stream and prints what it saw as a JSON line.
    SwapClient {
        #[arg(long, value_enum)]
        mode: rpcnet_bench::swap::ClientMode,
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 1000)]
        warmup_ms: u64,
        #[arg(long, default_value_t = 5000)]
        duration_ms: u64,
        #[arg(long, default_value = default_certs())]
        certs: PathBuf,
    },
    /// A connection-swap worker child of a director server: serves until stdin closes.
    Worker {
        #[arg(long)]
        director: SocketAddr,
        #[arg(long)]
        label: String,
        #[arg(long, default_value = default_certs())]
        certs: PathBuf,
    },
}

#[derive(Args, Debug)]
struct ClientArgs {
    #[arg(long, value_enum)]
    kind: Kind,
    #[arg(long, value_enum)]
    mode: Mode,
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value_t = 64)]
    size: usize,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    #[arg(long, default_value_t = 1)]
    connections: usize,
    #[arg(long, default_value_t = 1000)]
    warmup_ms: u64,
    #[arg(long, default_value_t = 5000)]
    duration_ms: u64,
    #[arg(long, default_value = default_certs())]
    certs: PathBuf,
}

#[derive(Args, Debug)]
struct Drive {
    /// Runs scenarios 1-6.
    #[arg(long)]
    all: bool,
    /// About a minute: every scenario briefly (7 without loss), checking only that every
    /// call succeeded.
    #[arg(long)]
    quick: bool,
    /// Runs these scenarios (repeat or comma-separate: --scenario 1,3).
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<u8>,
    /// Rounds per case and peer (median and range are over rounds).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Measured seconds per round.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Warm-up seconds per round, discarded.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Only these peers (comma-separated: rpcnet,rpcnet-h2,rpcnet-auto,tonic,quinn).
    #[arg(long, value_enum, value_delimiter = ',')]
    kinds: Vec<Kind>,
    /// Scenario 1 concurrency levels instead of 1,16,64,128.
    #[arg(long, value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Connections holding a stream in scenario 6.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Free text stored with the results (bench/loss.sh names the loss rate here).
    #[arg(long)]
    label: Option<String>,
    /// Checks the packet-loss goals on scenario 7 (bench/loss.sh sets it at 3 % loss).
    #[arg(long)]
    loss_goals: bool,
    /// The packet loss (percent) applied around this run; scenario 7 needs it (bench/loss.sh
    /// sets it, with the loss rule, inside its network namespace).
    #[arg(long)]
    loss: Option<f64>,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/rpcnet-bench/results.json")]
    json: PathBuf,
    /// Directory with ca.pem, server.pem and server.key.
    #[arg(long, default_value = default_certs())]
    certs: PathBuf,
}

/// The repository's development certificates.
const fn default_certs() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../certs")
}

/// Quick mode: one short round of everything, fewer held connections.
const QUICK_WARMUP: Duration = Duration::from_millis(200);
const QUICK_DURATION: Duration = Duration::from_millis(500);
const QUICK_CONNECTIONS: usize = 100;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("rpcnet-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.role {
        Some(Role::Server { kind, addr, certs }) => {
            rpcnet_bench::children::serve_child(kind, addr, &certs)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Role::Worker {
            director,
            label,
            certs,
        }) => {
            rpcnet_bench::children::worker_child(director, label, &certs)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Role::SwapWorker {
            director,
            label,
            token_interval_us,
            failure_after_ms,
            recovery_ms,
            certs,
        }) => {
            let settings = rpcnet_bench::swap::WorkerSettings {
                director,
                label,
                token_interval: Duration::from_micros(token_interval_us),
                failure_after: Duration::from_millis(failure_after_ms),
                recovery: Duration::from_millis(recovery_ms),
            };
            rpcnet_bench::swap::worker_child(settings, &certs)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Role::SwapClient {
            mode,
            addr,
            warmup_ms,
            duration_ms,
            certs,
        }) => {
            rpcnet_bench::swap::client_child(
                mode,
                addr,
                Duration::from_millis(warmup_ms),
                Duration::from_millis(duration_ms),
                &certs,
            )?;
            std::process::exit(0);
        }
        Some(Role::Client(args)) => {
            let workload = Workload {
                mode: args.mode,
                kind: args.kind,
                addr: args.addr,
                server_pid: args.server_pid,
                certs: Certs::in_dir(&args.certs),
                size: args.size,
                concurrency: args.concurrency.max(1),
                rate: args.rate,
                connections: args.connections,
                warmup: Duration::from_millis(args.warmup_ms),
                duration: Duration::from_millis(args.duration_ms),
            };
            rpcnet_bench::children::client_child(workload)?;
            // Skip tearing down (possibly a thousand) connections one by one: the result is
            // printed and the server is stopped by the driver anyway.
            std::process::exit(0);
        }
        None => drive(cli.drive),
    }
}

fn drive(args: Drive) -> anyhow::Result<ExitCode> {
    let scenarios = if args.quick {
        QUICK_SCENARIOS.to_vec()
    } else if args.all {
        ALL_SCENARIOS.to_vec()
    } else if !args.scenario.is_empty() {
        args.scenario.clone()
    } else {
        anyhow::bail!("say what to run: --all, --quick or --scenario N (see --help)");
    };
    let mut options = Options {
        scenarios,
        rounds: args.rounds.max(1),
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        quick: args.quick,
        kinds: (!args.kinds.is_empty()).then(|| args.kinds.clone()),
        concurrency: (!args.concurrency.is_empty()).then(|| args.concurrency.clone()),
        connections: args.connections,
        label: args.label.clone(),
        loss_goals: args.loss_goals,
        loss: args.loss,
        json: args.json.clone(),
        certs: args.certs.clone(),
    };
    if args.quick {
        options.rounds = 1;
        options.warmup = QUICK_WARMUP;
        options.duration = QUICK_DURATION;
        options.connections = options.connections.min(QUICK_CONNECTIONS);
    }
    let started = std::time::Instant::now();
    let mut report = driver::run(&options)?;
    report.load_average_end = report::load_average();
    report::print_goals(&report);
    report.write_json(&options.json)?;
    let (passed, failed) = report.tally();
    println!(
        "\nResults written to {} ({:.0} s). Load average at start {}, at end {} ({} CPUs).",
        options.json.display(),
        started.elapsed().as_secs_f64(),
        report.load_average_start,
        report.load_average_end,
        report.machine.cpus
    );
    if options.quick {
        println!("Quick mode: numbers above are too short to mean anything; only errors count.");
    }
    // The closing line: cases x peers that ran without a single failed call.
    println!("bench: {passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
