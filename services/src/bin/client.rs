//! `client`: one long-running streaming request to the director over one QUIC connection,
//! printing a summary at the end (see `connection_swap::client_app`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use connection_swap::certs::CertPaths;
use connection_swap::client_app::{self, default_prompt, ClientAppConfig};

/// Connection-swap client.
#[derive(Debug, Parser)]
#[command(name = "client", version, about)]
struct Args {
    /// The director's address.
    #[arg(
        long,
        env = "CONNECTION_SWAP_DIRECTOR_TARGET",
        default_value = "127.0.0.1:61000"
    )]
    director: SocketAddr,
    /// Directory holding ca.pem.
    #[arg(long, env = CertPaths::ENV, default_value = CertPaths::DEFAULT_DIR)]
    certs: PathBuf,
    /// Stop after this many tokens [default: run until Ctrl-C].
    #[arg(long, env = "CONNECTION_SWAP_CLIENT_TOKENS")]
    tokens: Option<u64>,
    /// The prompt [default: prompt-<unix time>].
    #[arg(long, env = "CONNECTION_SWAP_PROMPT")]
    prompt: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    connection_swap::logging::init();
    let config = ClientAppConfig {
        director: args.director,
        certs: CertPaths::new(args.certs),
        prompt: args.prompt.unwrap_or_else(default_prompt),
        max_tokens: args.tokens,
    };
    let summary = client_app::run(config).await?;
    println!("{summary}");
    // A broken guarantee (gap, repeat, wrong text) fails the process, for scripts and CI.
    Ok(if summary.is_sound() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
