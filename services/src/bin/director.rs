//! `director`: serves the worker registry and the client-facing `Inference` service, and moves
//! client streams between workers (see `connection_swap::director`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use connection_swap::certs::CertPaths;
use connection_swap::director::{self, DirectorConfig, QueueLimits, SessionLimits};

/// Connection-swap director.
#[derive(Debug, Parser)]
#[command(name = "director", version, about)]
struct Args {
    /// Address to listen on (UDP, QUIC).
    #[arg(long, env = "CONNECTION_SWAP_DIRECTOR_ADDR", default_value = DirectorConfig::DEFAULT_LISTEN)]
    addr: SocketAddr,
    /// Directory holding ca.pem, server.pem and server.key.
    #[arg(long, env = CertPaths::ENV, default_value = CertPaths::DEFAULT_DIR)]
    certs: PathBuf,
    /// Interval at which workers must send heartbeats; three missed ones remove a worker.
    #[arg(long, env = "CONNECTION_SWAP_HEARTBEAT_MS", default_value = "500", value_parser = connection_swap::config::parse_millis)]
    heartbeat: std::time::Duration,
    /// Generate sessions one client connection may hold at once; past it, RESOURCE_EXHAUSTED.
    #[arg(long, env = "CONNECTION_SWAP_MAX_SESSIONS_PER_CONNECTION", default_value_t = SessionLimits::DEFAULT_PER_CONNECTION, value_parser = connection_swap::config::parse_count)]
    sessions_per_connection: usize,
    /// Generate sessions one peer IP address may hold at once; past it, RESOURCE_EXHAUSTED.
    #[arg(long, env = "CONNECTION_SWAP_MAX_SESSIONS_PER_PEER", default_value_t = SessionLimits::DEFAULT_PER_PEER, value_parser = connection_swap::config::parse_count)]
    sessions_per_peer: usize,
    /// Sessions that may wait at once for a free worker; past it, UNAVAILABLE at once.
    #[arg(long, env = "CONNECTION_SWAP_MAX_QUEUED_SESSIONS", default_value_t = QueueLimits::DEFAULT_MAX_WAITING)]
    max_queued: usize,
    /// Milliseconds a session waits for a free worker before UNAVAILABLE.
    #[arg(long, env = "CONNECTION_SWAP_QUEUE_WAIT_MS", default_value = "10000", value_parser = connection_swap::config::parse_millis)]
    queue_wait: std::time::Duration,
    /// Most connections one IP address may hold at once.
    #[arg(long, env = "CONNECTION_SWAP_MAX_CONNECTIONS_PER_PEER", default_value_t = DirectorConfig::DEFAULT_MAX_CONNECTIONS_PER_PEER)]
    max_connections_per_peer: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    connection_swap::logging::init();
    let mut config = DirectorConfig::new(args.addr, CertPaths::new(args.certs));
    config.heartbeat_interval = args.heartbeat;
    config.sessions = SessionLimits {
        per_connection: args.sessions_per_connection,
        per_peer: args.sessions_per_peer,
    };
    config.queue = QueueLimits {
        max_waiting: args.max_queued,
        max_wait: args.queue_wait,
    };
    config.max_connections_per_peer = args.max_connections_per_peer;
    director::run(config).await
}
