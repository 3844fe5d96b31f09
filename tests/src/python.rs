//! The Python side of the interop tests: a virtual environment that the tests build themselves,
//! and bounded runs of the Python peers as child processes.
//!
//! [`interpreter`] returns the interpreter to run the peers with. Unless `RPCNET_INTEROP_PYTHON`
//! names one, it is `<target>/tmp/interop-venv/bin/python`, created on first use with
//! `python3 -m venv` and `pip install -r tests/interop/python/requirements.txt`, under an
//! exclusive lock on `<target>/tmp/interop-venv.lock` so that test binaries running at the same
//! time neither race nor install twice. The environment is reused while a stamp inside it
//! matches the requirements file byte for byte (and names the same directory, since a venv
//! cannot be moved). If it cannot be prepared the calling test panics with the reason and the
//! tail of `<target>/tmp/interop-venv.log`: a missing Python never lets a test pass.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::{Child, ChildStdin};

/// The directory of the Python peers.
pub const PYTHON_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/python");

/// Their pinned requirements.
pub const REQUIREMENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/interop/python/requirements.txt"
);

/// Names an interpreter to use instead of the tests' own virtual environment.
pub const OVERRIDE_VAR: &str = "RPCNET_INTEROP_PYTHON";

/// What the peers import; an interpreter that cannot is not usable.
const PROBE: &str = "import aioquic, grpc, grpc_tools, google.protobuf";

/// `python3 -m venv` copies or links an interpreter and pip: seconds, even on a slow disk.
const VENV_TIMEOUT: Duration = Duration::from_secs(120);

/// pip downloads about 20 MB of wheels; generous for a slow mirror, bounded for a dead one.
const PIP_TIMEOUT: Duration = Duration::from_secs(900);

/// Importing the packages once takes well under a second.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a server peer may take to compile the protos, bind and say `listening <addr>`.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines of the setup log quoted when the setup fails.
const LOG_TAIL_LINES: usize = 25;

/// The interpreter to run the Python peers with, preparing the virtual environment under
/// `target_tmp` (pass `env!("CARGO_TARGET_TMPDIR")`) on first use; panics if it cannot.
pub fn interpreter(target_tmp: &str) -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(|| prepare(Path::new(target_tmp))) {
        Ok(python) => python.clone(),
        Err(problem) => panic!(
            "the Python interop peers cannot run, so this test fails: {problem}\n\
             (set {OVERRIDE_VAR}=/path/to/python to use an interpreter that has \
             {REQUIREMENTS} installed)"
        ),
    }
}

/// Finds or builds the interpreter; the error says what failed and how to fix it.
fn prepare(target_tmp: &Path) -> Result<PathBuf, String> {
    if let Some(python) = std::env::var_os(OVERRIDE_VAR) {
        let python = PathBuf::from(python);
        probe(&python, None).map_err(|e| format!("{OVERRIDE_VAR}={}: {e}", python.display()))?;
        return Ok(python);
    }
    let venv = target_tmp.join("interop-venv");
    let log_path = target_tmp.join("interop-venv.log");
    fs::create_dir_all(target_tmp)
        .map_err(|e| format!("cannot create {}: {e}", target_tmp.display()))?;
    let lock_path = target_tmp.join("interop-venv.lock");
    let _lock =
        lock(&lock_path).map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;

    let python = venv.join("bin").join("python");
    let stamp_path = venv.join("rpcnet-requirements.txt");
    let requirements =
        fs::read_to_string(REQUIREMENTS).map_err(|e| format!("cannot read {REQUIREMENTS}: {e}"))?;
    let stamp = format!("# venv: {}\n{requirements}", venv.display());
    if fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str())
        && probe(&python, None).is_ok()
    {
        return Ok(python);
    }

    // Missing, stale or broken: build it again from nothing.
    match fs::remove_dir_all(&venv) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove the old {}: {e}", venv.display())),
    }
    let log = File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let fail = |what: String| {
        format!(
            "{what}\n--- last lines of {}\n{}",
            log_path.display(),
            tail(&log_path, LOG_TAIL_LINES)
        )
    };
    let mut venv_command = Command::new("python3");
    venv_command.args(["-m", "venv"]).arg(&venv);
    run_logged(venv_command, Some(&log), VENV_TIMEOUT).map_err(|e| {
        fail(format!(
            "`python3 -m venv {}` failed: {e} (python3 must be on PATH with its venv module; \
             on Debian: apt-get install python3-venv)",
            venv.display()
        ))
    })?;
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
    ])
    .args(["--quiet", "-r", REQUIREMENTS]);
    run_logged(pip, Some(&log), PIP_TIMEOUT).map_err(|e| {
        fail(format!(
            "`pip install -r {REQUIREMENTS}` into {} failed: {e} (it needs the package index)",
            venv.display()
        ))
    })?;
    probe(&python, Some(&log)).map_err(|e| fail(format!("the new environment is broken: {e}")))?;
    fs::write(&stamp_path, stamp)
        .map_err(|e| format!("cannot write {}: {e}", stamp_path.display()))?;
    Ok(python)
}

/// Holds an exclusive `flock` on `path` until the returned file is dropped (also released if
/// the process dies, so a killed test leaves no stale lock).
fn lock(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    // SAFETY: flock takes a file descriptor that `file` keeps open for this call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

/// Checks that `python` can import the peers' packages (its output goes to `log` if given).
fn probe(python: &Path, log: Option<&File>) -> Result<(), String> {
    let mut command = Command::new(python);
    command.args(["-c", PROBE]);
    run_logged(command, log, PROBE_TIMEOUT).map_err(|e| format!("`{PROBE}` failed: {e}"))
}

/// Runs `command` with stdout and stderr appended to `log` (or dropped), killed after `timeout`.
fn run_logged(mut command: Command, log: Option<&File>, timeout: Duration) -> Result<(), String> {
    let sink = || -> Result<Stdio, String> {
        match log {
            Some(log) => log.try_clone().map(Stdio::from).map_err(|e| e.to_string()),
            None => Ok(Stdio::null()),
        }
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(sink()?)
        .stderr(sink()?)
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))?;
    let started = Instant::now();
    let status: ExitStatus = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("killed after {timeout:?}"));
            }
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!("it exited with {status}"))
    }
}

/// The last `lines` lines of the file at `path` (empty if it cannot be read).
fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Starts `python <script> <args>` (the script in [`PYTHON_DIR`]) with stdout and stderr piped,
/// killed if its handle is dropped; panics if it cannot start.
fn spawn(python: &Path, script: &str, args: &[&str], stdin: Stdio) -> Child {
    let mut command = tokio::process::Command::new(python);
    command.arg(Path::new(PYTHON_DIR).join(script)).args(args);
    spawn_command(command, script, stdin)
}

/// Starts `command` with stdout and stderr piped, killed if its handle is dropped; panics
/// (naming it `name`) if it cannot start.
fn spawn_command(mut command: tokio::process::Command, name: &str, stdin: Stdio) -> Child {
    command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
}

/// A server peer in its own process (a Python script, or a binary such as `interop_server`):
/// started with piped stdin, bound once it printed `listening <addr>`, stopped by closing its
/// stdin and killed when dropped.
pub struct PeerServer {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    addr: String,
}

impl PeerServer {
    /// Starts `python <script> <args>` (the script in [`PYTHON_DIR`]) and waits for its address.
    pub async fn start(python: &Path, script: &str, args: &[&str]) -> PeerServer {
        let child = spawn(python, script, args, Stdio::piped());
        PeerServer::wait_for_address(child, script).await
    }

    /// Starts the binary `program` with `args` and waits for its address.
    pub async fn start_program(program: &Path, args: &[&str]) -> PeerServer {
        let name = program.display().to_string();
        let mut command = tokio::process::Command::new(program);
        command.args(args);
        let child = spawn_command(command, &name, Stdio::piped());
        PeerServer::wait_for_address(child, &name).await
    }

    async fn wait_for_address(mut child: Child, script: &str) -> PeerServer {
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = stderr_pipe.read(&mut buffer).await {
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let first = tokio::time::timeout(SERVER_START_TIMEOUT, lines.next_line()).await;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let mut server = PeerServer {
            child,
            stdin,
            stderr,
            addr: String::new(),
        };
        match first {
            Ok(Ok(Some(line))) if line.starts_with("listening ") => {
                server.addr = line["listening ".len()..].trim().to_owned();
                server
            }
            other => panic!(
                "{script} did not report `listening <addr>` within {SERVER_START_TIMEOUT:?} \
                 (got {other:?})\n--- stderr\n{}",
                server.stderr()
            ),
        }
    }

    /// The address it printed, `HOST:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The port it bound.
    pub fn port(&self) -> &str {
        self.addr.rsplit(':').next().unwrap_or_default()
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Closes its stdin (it exits by itself) and waits up to `timeout`, then kills it; returns
    /// whether it exited by itself with success.
    pub async fn stop(mut self, timeout: Duration) -> bool {
        drop(self.stdin.take());
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => {
                let _ = self.child.kill().await;
                false
            }
        }
    }
}

/// What one bounded run of a Python script printed.
pub struct ScriptRun {
    pub status: ExitStatus,
    pub stdout: String,
    /// stdout and stderr, for failure messages.
    pub transcript: String,
}

/// Runs `python <script> <args>` (the script in [`PYTHON_DIR`]) with stdin closed, killed if
/// it has not finished within `timeout` (then the calling test panics).
pub async fn run_script(
    python: &Path,
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> ScriptRun {
    let child = spawn(python, script, args, Stdio::null());
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {timeout:?}"))
        .unwrap_or_else(|e| panic!("waiting for {script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let transcript = format!(
        "--- {script} {args:?} ({})\n--- stdout\n{stdout}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    ScriptRun {
        status: output.status,
        stdout,
        transcript,
    }
}
