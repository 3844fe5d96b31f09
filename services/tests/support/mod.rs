//! Harness of the end-to-end tests: starts the real binaries as child processes on free ports,
//! captures and timestamps every line they print, and always stops them (also on panic).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use connection_swap::ports::free_udp_addr;
use connection_swap::shutdown::EXIT_WITH_PARENT_ENV;
use connection_swap::summary::parse_machine_line;
pub use connection_swap::supervisor::Line;
use connection_swap::supervisor::{ChildSpec, Supervised};

pub const DIRECTOR: &str = env!("CARGO_BIN_EXE_director");
pub const WORKER: &str = env!("CARGO_BIN_EXE_worker");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_client");
pub const DEMO: &str = env!("CARGO_BIN_EXE_demo");

/// Lines kept per process and stream: every line a test's children print (a swapping
/// director logs a few hundred), with a bound so that a runaway child cannot fill the memory.
const KEPT_LINES: usize = 100_000;

/// A running child process; killed and reaped when dropped.
pub struct Proc {
    pub name: String,
    /// Holds the child's stdin open: the child stops by itself when it closes (see
    /// `EXIT_WITH_PARENT_ENV`), so even a harness killed without unwinding leaves no process
    /// behind.
    child: Supervised,
}

impl Proc {
    /// Starts `program` with `env` added to the environment; every line it prints is echoed to
    /// stderr with a `[name]` prefix (shown by the test harness when a test fails).
    pub fn start(name: &str, program: &str, env: &[(&str, String)]) -> Proc {
        let mut command = Command::new(program);
        command
            .env("RUST_LOG", "info")
            .env(EXIT_WITH_PARENT_ENV, "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let prefix = format!("[{name}]");
        let child = ChildSpec::new(name, command)
            .keep_lines(KEPT_LINES)
            .on_line(move |line| eprintln!("{prefix} {}", line.text))
            .spawn()
            .unwrap_or_else(|err| panic!("{err}"));
        Proc {
            name: name.to_owned(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Everything printed so far.
    pub fn lines(&self) -> Vec<Line> {
        self.child.lines()
    }

    /// Everything printed so far, text only.
    pub fn text(&self) -> Vec<String> {
        self.lines().into_iter().map(|l| l.text).collect()
    }

    /// Lines containing all of `needles`.
    pub fn matching(&self, needles: &[&str]) -> Vec<Line> {
        self.lines()
            .into_iter()
            .filter(|l| contains_all(&l.text, needles))
            .collect()
    }

    /// Waits for a line containing all of `needles`; panics with the output after `timeout`.
    pub fn wait_for(&self, needles: &[&str], timeout: Duration) -> Line {
        self.wait_for_count(needles, 1, timeout)
    }

    /// Waits until `count` lines contain all of `needles`; returns the `count`-th.
    pub fn wait_for_count(&self, needles: &[&str], count: usize, timeout: Duration) -> Line {
        self.child
            .wait_for_line(count, timeout, |l| contains_all(&l.text, needles))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no {count} line(s) with {needles:?} within {timeout:?}; output:\n{}",
                    self.name,
                    self.text().join("\n")
                )
            })
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// Waits for the process to exit by itself; panics with its output after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match self.child.wait_timeout(timeout) {
            Ok(status) => status,
            Err(err) => panic!("{err}; output:\n{}", self.text().join("\n")),
        }
    }

    /// The client's `summary:` line, parsed.
    pub fn summary(&self) -> BTreeMap<String, String> {
        self.text()
            .iter()
            .find_map(|line| {
                line.starts_with("summary: ")
                    .then(|| parse_machine_line(line))
            })
            .flatten()
            .unwrap_or_else(|| {
                panic!(
                    "{} printed no summary line; output:\n{}",
                    self.name,
                    self.text().join("\n")
                )
            })
    }
}

fn contains_all(text: &str, needles: &[&str]) -> bool {
    needles.iter().all(|n| text.contains(n))
}

/// Timings for a cluster: short, so a test sees several swaps in seconds.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub token_interval_ms: u64,
    pub failure_after_secs: f64,
    pub recovery_secs: f64,
}

impl Timing {
    /// Swaps every second.
    pub const SWAPPING: Timing = Timing {
        token_interval_ms: 100,
        failure_after_secs: 1.0,
        recovery_secs: 0.5,
    };

    /// No simulated failure within a test's lifetime.
    pub const STEADY: Timing = Timing {
        token_interval_ms: 100,
        failure_after_secs: 600.0,
        recovery_secs: 0.5,
    };
}

pub fn free_addr() -> SocketAddr {
    free_udp_addr().unwrap_or_else(|err| panic!("no free port: {err}"))
}

pub fn start_director(addr: SocketAddr) -> Proc {
    Proc::start(
        "director",
        DIRECTOR,
        &[("CONNECTION_SWAP_DIRECTOR_ADDR", addr.to_string())],
    )
}

pub fn start_worker(
    label: &str,
    director: SocketAddr,
    timing: Timing,
    extra: &[(&str, String)],
) -> Proc {
    let mut env = vec![
        ("CONNECTION_SWAP_DIRECTOR_TARGET", director.to_string()),
        // Port 0: the worker binds any free port and registers the one it got.
        ("CONNECTION_SWAP_WORKER_ADDR", "127.0.0.1:0".to_owned()),
        ("CONNECTION_SWAP_WORKER_LABEL", label.to_owned()),
        (
            "CONNECTION_SWAP_TOKEN_INTERVAL_MS",
            timing.token_interval_ms.to_string(),
        ),
        (
            "CONNECTION_SWAP_FAILURE_AFTER_SECS",
            timing.failure_after_secs.to_string(),
        ),
        (
            "CONNECTION_SWAP_RECOVERY_SECS",
            timing.recovery_secs.to_string(),
        ),
    ];
    env.extend(extra.iter().cloned());
    Proc::start(label, WORKER, &env)
}

pub fn start_client(director: SocketAddr, tokens: u64, prompt: &str) -> Proc {
    Proc::start(
        "client",
        CLIENT,
        &[
            ("CONNECTION_SWAP_DIRECTOR_TARGET", director.to_string()),
            ("CONNECTION_SWAP_CLIENT_TOKENS", tokens.to_string()),
            ("CONNECTION_SWAP_PROMPT", prompt.to_owned()),
        ],
    )
}

/// The value of `name=` in a log line (up to the next space).
pub fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=");
    let start = line.find(&key)? + key.len();
    let rest = &line[start..];
    Some(rest.split(' ').next().unwrap_or(rest))
}

/// `field`, parsed as a number.
pub fn number(line: &str, name: &str) -> Option<u64> {
    field(line, name)?.parse().ok()
}
