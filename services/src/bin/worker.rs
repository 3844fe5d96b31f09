//! `worker`: registers with the director and serves the streams it hands over, simulating a
//! failure now and then (see `connection_swap::worker`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use connection_swap::certs::CertPaths;
use connection_swap::config::{parse_millis, parse_secs};
use connection_swap::protocol::{DEFAULT_MAX_PROMPT_BYTES, DEFAULT_MAX_STREAMS};
use connection_swap::worker::{
    self, identity_setting, label_or_default, WorkerConfig, WorkerLimits,
};

/// Connection-swap worker.
#[derive(Debug, Parser)]
#[command(name = "worker", version, about)]
struct Args {
    /// The director's address.
    #[arg(
        long,
        env = "CONNECTION_SWAP_DIRECTOR_TARGET",
        default_value = "127.0.0.1:61000"
    )]
    director: SocketAddr,
    /// Address of this worker's own server (port 0 picks a free one).
    #[arg(
        long,
        env = "CONNECTION_SWAP_WORKER_ADDR",
        default_value = "127.0.0.1:62001"
    )]
    addr: SocketAddr,
    /// Name in logs and events [default: worker-<port>].
    #[arg(long, env = "CONNECTION_SWAP_WORKER_LABEL")]
    label: Option<String>,
    /// Directory holding ca.pem, server.pem/.key and worker.pem/.key.
    #[arg(long, env = CertPaths::ENV, default_value = CertPaths::DEFAULT_DIR)]
    certs: PathBuf,
    /// Client certificate for registering, or `none` [default: <certs>/worker.pem].
    #[arg(long, env = "CONNECTION_SWAP_WORKER_CERT")]
    cert: Option<String>,
    /// Key of the client certificate [default: <certs>/worker.key].
    #[arg(long, env = "CONNECTION_SWAP_WORKER_KEY")]
    key: Option<PathBuf>,
    /// Seconds of serving a stream before a simulated failure.
    #[arg(long, env = "CONNECTION_SWAP_FAILURE_AFTER_SECS", default_value = "15", value_parser = parse_secs)]
    failure_after: Duration,
    /// Seconds until a failed worker is available again.
    #[arg(long, env = "CONNECTION_SWAP_RECOVERY_SECS", default_value = "5", value_parser = parse_secs)]
    recovery: Duration,
    /// Milliseconds between tokens.
    #[arg(long, env = "CONNECTION_SWAP_TOKEN_INTERVAL_MS", default_value = "1000", value_parser = parse_millis)]
    token_interval: Duration,
    /// Longest prompt accepted, in bytes; announced to the director, which refuses longer ones.
    #[arg(long, env = "CONNECTION_SWAP_WORKER_MAX_PROMPT_BYTES", default_value_t = DEFAULT_MAX_PROMPT_BYTES, value_parser = clap::value_parser!(usize))]
    max_prompt_bytes: usize,
    /// Streams served at once; announced to the director, which assigns no more.
    #[arg(long, env = "CONNECTION_SWAP_WORKER_MAX_STREAMS", default_value_t = DEFAULT_MAX_STREAMS, value_parser = clap::value_parser!(u32).range(1..))]
    max_streams: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    connection_swap::logging::init();
    let certs = CertPaths::new(args.certs);
    let config = WorkerConfig {
        director: args.director,
        listen: args.addr,
        label: label_or_default(args.label, args.addr)?,
        identity: identity_setting(args.cert.as_deref(), args.key, &certs),
        certs,
        failure_after: args.failure_after,
        recovery: args.recovery,
        token_interval: args.token_interval,
        limits: WorkerLimits {
            max_prompt_bytes: args.max_prompt_bytes,
            max_streams: args.max_streams,
        },
    };
    worker::run(config).await
}
