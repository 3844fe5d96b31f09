//! `cargo run -p xtask -- <task>`: the command line of the repository's chores.

mod certs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Repository chores that are code rather than shell scripts, so they run the same everywhere.
#[derive(Debug, Parser)]
#[command(name = "xtask", about = "Repository chores for rpcnet")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

/// One chore.
#[derive(Debug, Subcommand)]
enum Task {
    /// Regenerate the DEVELOPMENT-ONLY CA, server and worker certificates and keys.
    GenCerts {
        /// Directory to write into (created if missing). Defaults to the workspace's `certs/`,
        /// wherever cargo was started from.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the chosen task; `main` only parses flags and reports the outcome.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.task {
        Task::GenCerts { out } => {
            let out = out.unwrap_or_else(certs::default_out_dir);
            let written = certs::generate_into(&out)?;
            for path in &written {
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
