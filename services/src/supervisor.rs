//! Child-process supervision: start a program with piped stdin, stdout and stderr, keep the last
//! lines it printed, read its `listening <addr>` line, and stop it by closing its stdin and
//! killing it after a grace period - and always kill it when its handle is dropped.
//!
//! The demo, the end-to-end tests and the benchmark start every child through this module. It
//! is synchronous (reader threads, polled waits) so that tests and the benchmark driver need no
//! runtime; async callers run the blocking waits in `block_in_place` and poll
//! [`Supervised::try_wait`]. It knows nothing about connection-swap: it imports only std and
//! thiserror.
//!
//! Closing stdin is the stop request. A child that watches its stdin (the connection-swap roles
//! with `EXIT_WITH_PARENT_ENV`, the benchmark's servers) therefore also stops when the parent
//! dies without a chance to clean up: the kernel closes the pipe.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead as _, BufReader, Read, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What a server child prints as its first stdout line once it is bound: `listening <addr>`.
pub const LISTENING_PREFIX: &str = "listening ";

/// Grace between closing a child's stdin and killing it, unless [`ChildSpec::grace`] says
/// otherwise: a server that drains its connections is done well within it.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Lines kept per stream unless [`ChildSpec::keep_lines`] says otherwise: far more than an
/// error report or a summary needs, and a bound on what a chatty child can make us hold.
pub const DEFAULT_KEPT_LINES: usize = 1024;

/// Lines of a child's stderr quoted in an error: enough for a panic message or a failed
/// bind with its context, short enough for a one-line report.
pub const TAIL_LINES: usize = 12;

/// How often a wait looks at the child's exit status (`try_wait` is a non-blocking waitpid).
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How long, once a child has exited, a wait gives the readers to reach the end of its
/// output: a grandchild that inherited the pipes could hold them open indefinitely.
const OUTPUT_SETTLE: Duration = Duration::from_secs(1);

/// Prints `listening <addr>` on stdout and flushes it: the child's side of
/// [`Supervised::listening_addr`].
pub fn announce_listening(addr: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{LISTENING_PREFIX}{addr}")?;
    stdout.flush()
}

/// Which of a child's outputs a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line a child printed, without its line end, and when the supervisor read it.
#[derive(Clone, Debug)]
pub struct Line {
    pub stream: Stream,
    pub at: Instant,
    /// The line as printed; bytes that are not UTF-8 become U+FFFD.
    pub text: String,
    /// Order of arrival over both streams.
    seq: u64,
}

/// Called on a reader thread with every line as it is read, before it is kept.
pub type LineHook = Arc<dyn Fn(&Line) + Send + Sync>;

/// How to start and stop one child; [`ChildSpec::spawn`] starts it.
pub struct ChildSpec {
    name: String,
    command: Command,
    grace: Duration,
    kept_lines: usize,
    on_line: Option<LineHook>,
}

impl ChildSpec {
    /// `name` is how errors refer to the child ("the director", "worker-a"); `command` carries
    /// the program, arguments and environment (its stdio settings are replaced by pipes).
    pub fn new(name: impl Into<String>, command: Command) -> ChildSpec {
        ChildSpec {
            name: name.into(),
            command,
            grace: DEFAULT_GRACE,
            kept_lines: DEFAULT_KEPT_LINES,
            on_line: None,
        }
    }

    /// How long [`Supervised::stop`] waits after closing stdin before it kills the child.
    pub fn grace(mut self, grace: Duration) -> ChildSpec {
        self.grace = grace;
        self
    }

    /// How many of the latest lines to keep per stream (at least one); older ones are dropped.
    pub fn keep_lines(mut self, lines: usize) -> ChildSpec {
        self.kept_lines = lines.max(1);
        self
    }

    /// Sees every line as it is read (to relay it with a prefix, say).
    pub fn on_line(mut self, hook: impl Fn(&Line) + Send + Sync + 'static) -> ChildSpec {
        self.on_line = Some(Arc::new(hook));
        self
    }

    /// Starts the child with all three stdio streams piped and a reader thread for each
    /// output, so that it never blocks on a full pipe.
    pub fn spawn(mut self) -> Result<Supervised, SupervisorError> {
        let mut child = self
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| SupervisorError::Spawn {
                name: self.name.clone(),
                program: self.command.get_program().to_string_lossy().into_owned(),
                error,
            })?;
        let output = Arc::new(Output::new(self.kept_lines));
        if let Some(pipe) = child.stdout.take() {
            output.read_on_thread(pipe, Stream::Stdout, self.on_line.clone());
        }
        if let Some(pipe) = child.stderr.take() {
            output.read_on_thread(pipe, Stream::Stderr, self.on_line.clone());
        }
        Ok(Supervised {
            name: self.name,
            stdin: child.stdin.take(),
            child,
            output,
            grace: self.grace,
        })
    }
}

/// A running child; killed and reaped when dropped.
pub struct Supervised {
    name: String,
    child: Child,
    /// Held open until [`Supervised::close_stdin`]: its end is the child's stop request.
    stdin: Option<ChildStdin>,
    output: Arc<Output>,
    grace: Duration,
}

/// What [`Supervised::stop`] did.
#[derive(Clone, Copy, Debug)]
pub struct Stopped {
    /// The exit status, when it could be had.
    pub status: Option<ExitStatus>,
    /// Whether the child outlived the grace and was killed.
    pub killed: bool,
}

impl Supervised {
    /// The name errors use.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the child's first stdout line and parses the address out of
    /// `listening <addr>`. On any failure the child is stopped first, so that the error can
    /// quote its last words.
    pub fn listening_addr(&mut self, timeout: Duration) -> Result<SocketAddr, SupervisorError> {
        let first = {
            let captured = self.output.wait_until(timeout, |captured| {
                captured.first_stdout.is_some() || !captured.open(Stream::Stdout)
            });
            captured
                .first_stdout
                .clone()
                .ok_or(captured.open(Stream::Stdout))
        };
        let name = self.name.clone();
        match first {
            Ok(line) => match parse_listening(&line) {
                Some(addr) => Ok(addr),
                None => {
                    self.stop();
                    Err(SupervisorError::NotListening {
                        name,
                        line,
                        stderr: self.stderr_tail(),
                    })
                }
            },
            // Stdout still open: the child is alive and silent.
            Err(true) => {
                self.stop();
                Err(SupervisorError::NoListeningLine {
                    name,
                    waited: timeout,
                    stderr: self.stderr_tail(),
                })
            }
            Err(false) => {
                let stopped = self.stop();
                Err(SupervisorError::EndedBeforeListening {
                    name,
                    status: ExitText(stopped.status),
                    stderr: self.stderr_tail(),
                })
            }
        }
    }

    /// The exit status if the child has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// `Err` with the exit status and the last stderr lines if the child has exited.
    pub fn check_alive(&mut self) -> Result<(), SupervisorError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.wait_output_closed(OUTPUT_SETTLE);
                Err(SupervisorError::Exited {
                    name: self.name.clone(),
                    status,
                    stderr: self.stderr_tail(),
                })
            }
            Err(error) => Err(self.wait_error(error)),
        }
    }

    /// Waits up to `timeout` for the child to exit by itself (it is left running on `Err`),
    /// then briefly for the rest of its output.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<ExitStatus, SupervisorError> {
        match self.exit_before(Instant::now() + timeout) {
            Ok(Some(status)) => {
                self.wait_output_closed(OUTPUT_SETTLE);
                Ok(status)
            }
            Ok(None) => Err(SupervisorError::StillRunning {
                name: self.name.clone(),
                waited: timeout,
                stderr: self.stderr_tail(),
            }),
            Err(error) => Err(self.wait_error(error)),
        }
    }

    /// Closes the child's stdin: asks it to stop, without waiting.
    pub fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// Closes stdin, waits up to the grace for the child to exit, kills it if it has not, and
    /// waits briefly for the rest of its output.
    pub fn stop(&mut self) -> Stopped {
        self.close_stdin();
        let stopped = match self.exit_before(Instant::now() + self.grace) {
            Ok(Some(status)) => Stopped {
                status: Some(status),
                killed: false,
            },
            Ok(None) | Err(_) => Stopped {
                status: self.kill(),
                killed: true,
            },
        };
        self.wait_output_closed(OUTPUT_SETTLE);
        stopped
    }

    /// SIGKILL, as a crash would, and reaps the child.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().ok()
    }

    /// Every kept line of both streams, in the order they were read.
    pub fn lines(&self) -> Vec<Line> {
        self.output.lock().merged().into_iter().cloned().collect()
    }

    /// The kept lines of one stream, text only.
    pub fn texts(&self, stream: Stream) -> Vec<String> {
        let captured = self.output.lock();
        captured.kept[stream.index()]
            .iter()
            .map(|line| line.text.clone())
            .collect()
    }

    /// The last [`TAIL_LINES`] lines of stderr, for an error message.
    pub fn stderr_tail(&self) -> Tail {
        let captured = self.output.lock();
        let stderr = &captured.kept[Stream::Stderr.index()];
        let skip = stderr.len().saturating_sub(TAIL_LINES);
        Tail(stderr.iter().skip(skip).map(|l| l.text.clone()).collect())
    }

    /// Waits up to `timeout` until `count` kept lines satisfy `matches` and returns the
    /// `count`-th; `None` on timeout, or as soon as both outputs have ended without it.
    pub fn wait_for_line(
        &self,
        count: usize,
        timeout: Duration,
        matches: impl Fn(&Line) -> bool,
    ) -> Option<Line> {
        let nth = |captured: &Captured| {
            captured
                .merged()
                .into_iter()
                .filter(|line| matches(line))
                .nth(count.saturating_sub(1))
                .cloned()
        };
        let captured = self.output.wait_until(timeout, |captured| {
            captured.all_closed() || nth(captured).is_some()
        });
        nth(&captured)
    }

    /// Waits up to `timeout` until both outputs have ended; `false` if one is still open.
    pub fn wait_output_closed(&self, timeout: Duration) -> bool {
        self.output
            .wait_until(timeout, Captured::all_closed)
            .all_closed()
    }

    /// The exit status once the child exits, or `None` at `deadline`.
    fn exit_before(&mut self, deadline: Instant) -> io::Result<Option<ExitStatus>> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL_INTERVAL.min(deadline - now));
        }
    }

    fn wait_error(&self, error: io::Error) -> SupervisorError {
        SupervisorError::Wait {
            name: self.name.clone(),
            error,
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.close_stdin();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why a child could not be started, did not come up, or is gone.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("starting {name} ({program}): {error}")]
    Spawn {
        name: String,
        program: String,
        error: io::Error,
    },
    #[error(
        "{name} ended ({status}) without printing `{LISTENING_PREFIX}<addr>`; \
         its last stderr lines: {stderr}"
    )]
    EndedBeforeListening {
        name: String,
        status: ExitText,
        stderr: Tail,
    },
    #[error(
        "{name} printed no `{LISTENING_PREFIX}<addr>` line within {waited:?} and was stopped; \
         its last stderr lines: {stderr}"
    )]
    NoListeningLine {
        name: String,
        waited: Duration,
        stderr: Tail,
    },
    #[error(
        "{name} printed {line:?} first, not `{LISTENING_PREFIX}<addr>`, and was stopped; \
         its last stderr lines: {stderr}"
    )]
    NotListening {
        name: String,
        line: String,
        stderr: Tail,
    },
    #[error("{name} exited ({status}); its last stderr lines: {stderr}")]
    Exited {
        name: String,
        status: ExitStatus,
        stderr: Tail,
    },
    #[error("{name} did not exit within {waited:?}; its last stderr lines: {stderr}")]
    StillRunning {
        name: String,
        waited: Duration,
        stderr: Tail,
    },
    #[error("waiting for {name}: {error}")]
    Wait { name: String, error: io::Error },
}

/// The last lines of a child's stderr; displayed on one line, `(empty)` when there are none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tail(pub Vec<String>);

impl fmt::Display for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(empty)")
        } else {
            f.write_str(&self.0.join(" | "))
        }
    }
}

/// An exit status that may not be known (a child that could not be reaped).
#[derive(Clone, Copy, Debug)]
pub struct ExitText(pub Option<ExitStatus>);

impl fmt::Display for ExitText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(status) => write!(f, "{status}"),
            None => f.write_str("exit status unknown"),
        }
    }
}

fn parse_listening(line: &str) -> Option<SocketAddr> {
    line.strip_prefix(LISTENING_PREFIX)?.trim().parse().ok()
}

/// A child's output as the reader threads keep it, with a condition variable that is
/// notified on every line and at the end of each stream.
struct Output {
    captured: Mutex<Captured>,
    changed: Condvar,
}

/// The kept lines: a ring of the latest per stream, so memory stays bounded however much the
/// child prints.
struct Captured {
    /// Indexed by [`Stream::index`].
    kept: [VecDeque<Line>; 2],
    ended: [bool; 2],
    capacity: usize,
    next_seq: u64,
    /// Kept apart from the ring, which may already have dropped it.
    first_stdout: Option<String>,
}

impl Stream {
    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

impl Output {
    fn new(capacity: usize) -> Output {
        Output {
            captured: Mutex::new(Captured {
                kept: [VecDeque::new(), VecDeque::new()],
                ended: [false; 2],
                capacity,
                next_seq: 0,
                first_stdout: None,
            }),
            changed: Condvar::new(),
        }
    }

    /// A panic in a line hook happens outside the lock, so a poisoned lock still holds
    /// consistent lines.
    fn lock(&self) -> MutexGuard<'_, Captured> {
        self.captured.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout` until `done` holds (checked on every change), then returns the
    /// lines as they are.
    fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&Captured) -> bool,
    ) -> MutexGuard<'_, Captured> {
        let deadline = Instant::now() + timeout;
        let mut captured = self.lock();
        loop {
            let now = Instant::now();
            if done(&captured) || now >= deadline {
                return captured;
            }
            captured = self
                .changed
                .wait_timeout(captured, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Reads `pipe` line by line on a thread of its own until it ends. Lines are split on
    /// bytes, not text, so output that is not UTF-8 is kept (lossily) and never stops the
    /// draining.
    fn read_on_thread(
        self: &Arc<Self>,
        pipe: impl Read + Send + 'static,
        stream: Stream,
        hook: Option<LineHook>,
    ) {
        let output = Arc::clone(self);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut bytes = Vec::new();
            loop {
                bytes.clear();
                match reader.read_until(b'\n', &mut bytes) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let end = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
                let end = end.strip_suffix(b"\r").unwrap_or(end);
                let text = String::from_utf8_lossy(end).into_owned();
                output.push(stream, text, hook.as_deref());
            }
            output.lock().ended[stream.index()] = true;
            output.changed.notify_all();
        });
    }

    fn push(&self, stream: Stream, text: String, hook: Option<&(dyn Fn(&Line) + Send + Sync)>) {
        let seq = {
            let mut captured = self.lock();
            captured.next_seq += 1;
            captured.next_seq
        };
        let line = Line {
            stream,
            at: Instant::now(),
            text,
            seq,
        };
        if let Some(hook) = hook {
            hook(&line);
        }
        let mut captured = self.lock();
        if stream == Stream::Stdout && captured.first_stdout.is_none() {
            captured.first_stdout = Some(line.text.clone());
        }
        let capacity = captured.capacity;
        let kept = &mut captured.kept[stream.index()];
        if kept.len() == capacity {
            kept.pop_front();
        }
        kept.push_back(line);
        drop(captured);
        self.changed.notify_all();
    }
}

impl Captured {
    fn open(&self, stream: Stream) -> bool {
        !self.ended[stream.index()]
    }

    fn all_closed(&self) -> bool {
        self.ended.iter().all(|&ended| ended)
    }

    /// Both rings, in the order the lines were read.
    fn merged(&self) -> Vec<&Line> {
        let mut all: Vec<&Line> = self.kept.iter().flatten().collect();
        all.sort_unstable_by_key(|line| line.seq);
        all
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// `sh -c script` under supervision, with a short grace so the kill paths run quickly.
    fn sh(script: &str) -> ChildSpec {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        ChildSpec::new("the test child", command).grace(Duration::from_millis(300))
    }

    const SOON: Duration = Duration::from_secs(10);

    #[test]
    fn reads_the_listening_line_and_stops_when_stdin_closes() {
        let mut child = sh("echo 'listening 127.0.0.1:4242'; cat >/dev/null; echo bye; exit 3")
            .spawn()
            .unwrap();
        assert_eq!(
            child.listening_addr(SOON).unwrap(),
            "127.0.0.1:4242".parse().unwrap()
        );
        let stopped = child.stop();
        assert!(!stopped.killed, "cat ends when stdin closes");
        assert_eq!(stopped.status.and_then(|s| s.code()), Some(3));
        assert_eq!(
            child.texts(Stream::Stdout),
            ["listening 127.0.0.1:4242", "bye"],
            "output printed while stopping is kept"
        );
    }

    #[test]
    fn a_child_that_exits_first_is_reported_with_its_last_stderr_lines() {
        let mut child = sh("echo 'reading config' >&2; echo 'bad port: 99999' >&2; exit 2")
            .spawn()
            .unwrap();
        let error = child.listening_addr(SOON).unwrap_err();
        assert!(
            matches!(error, SupervisorError::EndedBeforeListening { .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the test child ended (exit status: 2) without printing `listening <addr>`; \
             its last stderr lines: reading config | bad port: 99999"
        );
    }

    #[test]
    fn a_silent_child_times_out_and_is_killed() {
        let started = Instant::now();
        let mut child = sh("echo 'still starting' >&2; exec sleep 30")
            .spawn()
            .unwrap();
        let error = child
            .listening_addr(Duration::from_millis(200))
            .unwrap_err();
        assert!(
            matches!(error, SupervisorError::NoListeningLine { .. }),
            "{error:?}"
        );
        assert!(error.to_string().ends_with("still starting"), "{error}");
        assert!(
            child.try_wait().unwrap().is_some(),
            "killed after the grace"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_first_line_that_is_not_the_listening_line_is_an_error() {
        let mut child = sh("echo hello; cat >/dev/null").spawn().unwrap();
        let error = child.listening_addr(SOON).unwrap_err();
        assert!(
            error.to_string().contains("printed \"hello\" first"),
            "{error}"
        );
    }

    #[test]
    fn a_child_that_ignores_stdin_is_killed_after_the_grace() {
        let mut child = sh("exec sleep 30").spawn().unwrap();
        let started = Instant::now();
        let stopped = child.stop();
        assert!(stopped.killed);
        assert_eq!(stopped.status.and_then(|s| s.code()), None, "a signal");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn dropping_the_handle_kills_the_child() {
        let child = sh("exec sleep 30").spawn().unwrap();
        let pid = child.pid().to_string();
        drop(child);
        let alive = Command::new("kill")
            .args(["-0", &pid])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!alive.success(), "pid {pid} outlived its handle");
    }

    #[test]
    fn only_the_latest_lines_are_kept() {
        let mut child = sh("i=0; while [ $i -lt 500 ]; do echo out$i; echo err$i >&2; \
                            i=$((i + 1)); done")
        .keep_lines(10)
        .spawn()
        .unwrap();
        assert!(child.wait_timeout(SOON).unwrap().success());
        let stdout = child.texts(Stream::Stdout);
        let expected: Vec<String> = (490..500).map(|i| format!("out{i}")).collect();
        assert_eq!(stdout, expected);
        assert_eq!(child.lines().len(), 20);
        assert_eq!(child.stderr_tail().0.len(), 10);
        assert_eq!(
            child.stderr_tail().0.last().map(String::as_str),
            Some("err499")
        );
    }

    #[test]
    fn waits_for_the_nth_matching_line_and_sees_every_line_in_the_hook() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook_seen = Arc::clone(&seen);
        let child = sh("echo 'tick 1'; echo 'tock' >&2; echo 'tick 2'; cat >/dev/null")
            .on_line(move |line| hook_seen.lock().unwrap().push(line.text.clone()))
            .spawn()
            .unwrap();
        let second = child
            .wait_for_line(2, SOON, |line| line.text.starts_with("tick"))
            .unwrap();
        assert_eq!(
            (second.text.as_str(), second.stream),
            ("tick 2", Stream::Stdout)
        );
        assert!(child.wait_for_line(1, SOON, |l| l.text == "tock").is_some());
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, ["tick 1", "tick 2", "tock"]);
        assert!(child
            .wait_for_line(3, Duration::from_millis(50), |l| l.text.starts_with("tick"))
            .is_none());
    }

    #[test]
    fn exited_children_fail_the_alive_check_and_bad_bytes_do_not_stop_the_reader() {
        let mut child = sh("printf 'bad \\377 byte\\n' >&2; echo 'last words' >&2; exit 1")
            .spawn()
            .unwrap();
        assert!(!child.wait_timeout(SOON).unwrap().success());
        let error = child.check_alive().unwrap_err();
        assert_eq!(
            error.to_string(),
            "the test child exited (exit status: 1); \
             its last stderr lines: bad \u{FFFD} byte | last words"
        );
    }

    #[test]
    fn a_program_that_cannot_start_is_named() {
        let error = ChildSpec::new("the ghost", Command::new("/nonexistent/ghost"))
            .spawn()
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .starts_with("starting the ghost (/nonexistent/ghost): "),
            "{error}"
        );
    }
}
