//! The one-command demo: builds (if needed) and starts the real director, worker A, worker B
//! and a client as child processes on free ports with short intervals, interleaves their logs
//! with a prefix per process, prints the client's summary at the end, and stops every child on
//! exit or Ctrl-C.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use tokio::process::Command;

use crate::config::display_secs;
use crate::ports::free_udp_addr;
use crate::shutdown::{self, EXIT_WITH_PARENT_ENV};
use crate::summary::Summary;
use crate::supervisor::{ChildSpec, Stream, Supervised};

/// Demo settings; [`DemoConfig::default`] gives a first-time user several swaps in seconds.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// The client stops after this many tokens.
    pub tokens: u64,
    /// Time between two tokens.
    pub token_interval: Duration,
    /// A worker fails after serving a stream this long.
    pub failure_after: Duration,
    /// A failed worker recovers after this long.
    pub recovery: Duration,
    /// Whether to run `cargo build` for the other binaries first.
    pub build: BuildPolicy,
}

impl Default for DemoConfig {
    /// 60 tokens at 150 ms, failures after 2 s, recovery after 1 s: about 13 tokens per worker
    /// turn, so four swaps in roughly ten seconds.
    fn default() -> Self {
        DemoConfig {
            tokens: 60,
            token_interval: Duration::from_millis(150),
            failure_after: Duration::from_secs(2),
            recovery: Duration::from_secs(1),
            build: BuildPolicy::Auto,
        }
    }
}

/// When the demo builds the director, worker and client binaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildPolicy {
    /// When one is missing or older than the demo binary (`cargo run --bin demo` builds only
    /// the demo itself).
    Auto,
    /// Always (a no-op when everything is up to date).
    Always,
    /// Never: use what is next to the demo binary.
    Never,
}

impl std::str::FromStr for BuildPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "auto" => Ok(BuildPolicy::Auto),
            "always" => Ok(BuildPolicy::Always),
            "never" => Ok(BuildPolicy::Never),
            other => Err(format!("expected auto, always or never, found {other:?}")),
        }
    }
}

/// How long children get to stop on their own before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// How long the demo waits for the rest of a child's output once it has exited.
const OUTPUT_WAIT: Duration = Duration::from_secs(1);

/// How often the demo looks whether the client has exited: short against its seconds-long
/// run, long enough to cost nothing.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// Width of the `[name]` prefix column, so that the interleaved logs line up.
const PREFIX_WIDTH: usize = 10;

/// Runs the demo; returns the client's summary lines (already printed).
pub async fn run(config: DemoConfig) -> anyhow::Result<Vec<String>> {
    let bins = locate_binaries(config.build).await?;
    let director_addr = free_udp_addr().context("finding a free port for the director")?;
    let worker_a_addr = free_udp_addr().context("finding a free port for worker A")?;
    let worker_b_addr = free_udp_addr().context("finding a free port for worker B")?;
    say(&format!(
        "director on {director_addr}, worker-a on {worker_a_addr}, worker-b on {worker_b_addr}; \
         a token every {} ms, a worker fails after {} of serving and recovers after {}; \
         the client stops after {} tokens (Ctrl-C stops everything)",
        config.token_interval.as_millis(),
        display_secs(config.failure_after),
        display_secs(config.recovery),
        config.tokens
    ));

    let mut children = Vec::new();
    let director = vec![("CONNECTION_SWAP_DIRECTOR_ADDR", director_addr.to_string())];
    children.push(spawn("director", &bins.director, &director, None)?);
    // The workers would find the director whenever it comes up; a short head start only
    // keeps their first log lines free of retries.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (label, addr) in [("worker-a", worker_a_addr), ("worker-b", worker_b_addr)] {
        let env = worker_env(&config, director_addr, label, addr);
        children.push(spawn(label, &bins.worker, &env, None)?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summary_lines = Arc::new(Mutex::new(Vec::new()));
    let client_env = vec![
        ("CONNECTION_SWAP_DIRECTOR_TARGET", director_addr.to_string()),
        ("CONNECTION_SWAP_CLIENT_TOKENS", config.tokens.to_string()),
    ];
    let mut client = spawn(
        "client",
        &bins.client,
        &client_env,
        Some(Arc::clone(&summary_lines)),
    )?;

    let client_status = tokio::select! {
        status = exited(&mut client) => status,
        reason = shutdown::requested() => {
            say(&format!("{reason}; stopping the client first so it prints its summary"));
            stop(&mut client)
        }
    };
    tokio::task::block_in_place(|| client.wait_output_closed(OUTPUT_WAIT));
    for child in children.iter_mut().rev() {
        stop(child);
    }
    say("all processes stopped");

    let lines = summary_lines
        .lock()
        .map(|lines| lines.clone())
        .unwrap_or_default();
    if lines.is_empty() {
        bail!("the client printed no summary (exit status: {client_status:?})");
    }
    println!();
    for line in &lines {
        println!("{line}");
    }
    match client_status {
        Some(status) if !status.success() => Err(anyhow!("the client exited with {status}")),
        _ => Ok(lines),
    }
}

fn worker_env(
    config: &DemoConfig,
    director: SocketAddr,
    label: &str,
    addr: SocketAddr,
) -> Vec<(&'static str, String)> {
    vec![
        ("CONNECTION_SWAP_DIRECTOR_TARGET", director.to_string()),
        ("CONNECTION_SWAP_WORKER_ADDR", addr.to_string()),
        ("CONNECTION_SWAP_WORKER_LABEL", label.to_owned()),
        (
            "CONNECTION_SWAP_TOKEN_INTERVAL_MS",
            config.token_interval.as_millis().to_string(),
        ),
        (
            "CONNECTION_SWAP_FAILURE_AFTER_SECS",
            config.failure_after.as_secs_f64().to_string(),
        ),
        (
            "CONNECTION_SWAP_RECOVERY_SECS",
            config.recovery.as_secs_f64().to_string(),
        ),
    ]
}

/// A line of the demo's own.
fn say(message: &str) {
    println!("{:<PREFIX_WIDTH$} {message}", "[demo]");
}

/// Starts `program` with `env`, relaying its stdout and stderr line by line with a `[name]`
/// prefix; with `summary`, also collects the summary block it prints on stdout.
fn spawn(
    name: &'static str,
    program: &Path,
    env: &[(&str, String)],
    summary: Option<Arc<Mutex<Vec<String>>>>,
) -> anyhow::Result<Supervised> {
    let mut command = std::process::Command::new(program);
    command
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        // Closing stdin asks the child to stop (see [`EXIT_WITH_PARENT_ENV`]).
        .env(EXIT_WITH_PARENT_ENV, "1");
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    let prefix = format!("[{name}]");
    let child = ChildSpec::new(name, command)
        .grace(STOP_GRACE)
        .on_line(move |line| {
            println!("{prefix:<PREFIX_WIDTH$} {}", line.text);
            if let (Some(summary), Stream::Stdout) = (&summary, line.stream) {
                if let Ok(mut collected) = summary.lock() {
                    // Everything from the heading on is the summary block.
                    if !collected.is_empty() || line.text.starts_with(Summary::HEADING) {
                        collected.push(line.text.clone());
                    }
                }
            }
        })
        .spawn()?;
    say(&format!("started {name} (pid {})", child.pid()));
    Ok(child)
}

/// Waits for the child to exit without holding up the runtime.
async fn exited(child: &mut Supervised) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => tokio::time::sleep(EXIT_POLL).await,
            Err(_) => return None,
        }
    }
}

/// Asks the child to stop (closes its stdin), kills it if it has not exited after
/// [`STOP_GRACE`], and returns its exit status if it could be had.
fn stop(child: &mut Supervised) -> Option<ExitStatus> {
    let stopped = tokio::task::block_in_place(|| child.stop());
    if stopped.killed {
        say(&format!(
            "{} did not stop in time; killing it",
            child.name()
        ));
    }
    stopped.status
}

/// The director, worker and client binaries the demo starts.
struct Binaries {
    director: PathBuf,
    worker: PathBuf,
    client: PathBuf,
}

/// Finds the role binaries next to the demo's own executable, building them first if the
/// policy says so.
async fn locate_binaries(policy: BuildPolicy) -> anyhow::Result<Binaries> {
    let exe = std::env::current_exe().context("locating the demo executable")?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("the demo executable {} has no directory", exe.display()))?;
    let bins = Binaries {
        director: sibling(dir, "director"),
        worker: sibling(dir, "worker"),
        client: sibling(dir, "client"),
    };
    let all = [&bins.director, &bins.worker, &bins.client];
    let build = match policy {
        BuildPolicy::Always => true,
        BuildPolicy::Never => false,
        BuildPolicy::Auto => all.iter().any(|path| is_stale(path, &exe)),
    };
    if build {
        cargo_build(dir).await?;
    }
    for path in all {
        if !path.is_file() {
            bail!(
                "{} not found; build it with `cargo build -p connection-swap --bins`",
                path.display()
            );
        }
    }
    Ok(bins)
}

fn sibling(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Missing, or last built before the demo binary itself.
fn is_stale(path: &Path, exe: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(path), modified(exe)) {
        (Some(bin), Some(demo)) => bin < demo,
        _ => true,
    }
}

/// `cargo build -p connection-swap --bins` in the profile the demo was built with (read off
/// the directory it runs from: `debug`, `release` or a custom profile's name).
async fn cargo_build(bin_dir: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command.args([
        "build",
        "--manifest-path",
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        "-p",
        "connection-swap",
        "--bins",
    ]);
    match bin_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    say("building director, worker and client (cargo build -p connection-swap --bins)");
    let status = command
        .status()
        .await
        .with_context(|| format!("running {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("cargo build -p connection-swap --bins failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_policies_parse() {
        assert_eq!("never".parse(), Ok(BuildPolicy::Never));
        assert_eq!(" auto".parse(), Ok(BuildPolicy::Auto));
        assert!("sometimes".parse::<BuildPolicy>().is_err());
    }

    #[test]
    fn default_demo_shows_several_swaps_quickly() {
        let config = DemoConfig::default();
        let total = config.token_interval * u32::try_from(config.tokens).unwrap_or(u32::MAX);
        let turns = total.as_secs_f64() / config.failure_after.as_secs_f64();
        assert!(turns >= 3.0, "{turns} worker turns");
        assert!(total < Duration::from_secs(20));
    }
}
