//! `demo`: the whole connection-swap example in one command - director, two workers and a
//! client as child processes, logs interleaved, the client's summary at the end.

use std::time::Duration;

use clap::Parser;
use connection_swap::config::{parse_millis, parse_secs};
use connection_swap::demo::{self, BuildPolicy, DemoConfig};

/// Runs director, worker A, worker B and a client with short intervals.
#[derive(Debug, Parser)]
#[command(name = "demo", version, about)]
struct Args {
    /// The client stops after this many tokens.
    #[arg(long, env = "CONNECTION_SWAP_DEMO_TOKENS", default_value = "60")]
    tokens: u64,
    /// Milliseconds between tokens.
    #[arg(long, env = "CONNECTION_SWAP_DEMO_TOKEN_INTERVAL_MS", default_value = "150", value_parser = parse_millis)]
    token_interval: Duration,
    /// Seconds a worker serves a stream before its simulated failure.
    #[arg(long, env = "CONNECTION_SWAP_DEMO_FAILURE_AFTER_SECS", default_value = "2", value_parser = parse_secs)]
    failure_after: Duration,
    /// Seconds until a failed worker is available again.
    #[arg(long, env = "CONNECTION_SWAP_DEMO_RECOVERY_SECS", default_value = "1", value_parser = parse_secs)]
    recovery: Duration,
    /// Build the other binaries first: auto (when missing or older than the demo), always, never.
    #[arg(long, env = "CONNECTION_SWAP_DEMO_BUILD", default_value = "auto")]
    build: BuildPolicy,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = DemoConfig {
        tokens: args.tokens,
        token_interval: args.token_interval,
        failure_after: args.failure_after,
        recovery: args.recovery,
        build: args.build,
    };
    demo::run(config).await.map(drop)
}
