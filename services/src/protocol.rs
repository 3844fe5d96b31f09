//! The connection hand-off vocabulary shared by director, workers and client: short names for
//! the generated messages, builders for the event and frame envelopes, and the statuses a
//! worker ends a stream with (and how the director tells them apart from a dead connection).
//!
//! Everything on the wire is a generated message; this module only builds and reads them, so
//! that the rest of the crate does not depend on how the generator lays out a oneof.

use std::future::Future;
use std::pin::Pin;

use rpcnet::codegen::Stream;
use rpcnet::{Code, Status};

pub use connection_swap_generated::connection_swap::{
    Connected, GenerateEvent, GenerateEventKind as EventKind, GenerateRequest, HeartbeatRequest,
    HeartbeatResponse, RegisterRequest, RegisterResponse, SetAvailabilityRequest,
    SetAvailabilityResponse, StreamAssigned, Token, WorkerAssignment, WorkerFailed, WorkerFrame,
    WorkerFrameKind as FrameKind, WorkerToken,
};

/// The generated client and server modules, one per service.
pub use connection_swap_generated::connection_swap::{directorregistry, inference, workerstream};

/// Wraps one event of the director's response stream.
pub fn event(kind: EventKind) -> GenerateEvent {
    GenerateEvent { kind: Some(kind) }
}

/// What an event carries (`None` for an event from a newer peer that this build does not know).
pub fn event_kind(event: GenerateEvent) -> Option<EventKind> {
    event.kind
}

/// Wraps one frame of a worker's response stream.
pub fn frame(kind: FrameKind) -> WorkerFrame {
    WorkerFrame { kind: Some(kind) }
}

/// What a frame carries (`None` for a frame this build does not know).
pub fn frame_kind(frame: WorkerFrame) -> Option<FrameKind> {
    frame.kind
}

/// The next item of a stream, or `None` at its end.
///
/// Cancel-safe (the stream keeps all state), so it can race other branches in `select!`.
pub fn next<S: Stream + Unpin>(stream: &mut S) -> impl Future<Output = Option<S::Item>> + '_ {
    std::future::poll_fn(move |cx| Pin::new(&mut *stream).poll_next(cx))
}

/// The highest sequence number a generation may reach (2^32 - 1, about 136 years of tokens at
/// one a second). Resume positions above it are refused, so that no sequence arithmetic on a
/// number a peer sent can overflow.
pub const MAX_SEQUENCE: u64 = u32::MAX as u64;

/// The first sequence number due after `resume_after`, or INVALID_ARGUMENT naming the limit
/// when the position is out of range (a peer's number is never added to unchecked).
pub fn first_sequence_after(resume_after: u64) -> Result<u64, Status> {
    match resume_after.checked_add(1) {
        Some(first) if first <= MAX_SEQUENCE => Ok(first),
        _ => Err(Status::invalid_argument(format!(
            "resume_after {resume_after} is out of range: the largest sequence number is \
             {MAX_SEQUENCE}"
        ))),
    }
}

/// The status a generation ends with once it reached [`MAX_SEQUENCE`]: OUT_OF_RANGE.
pub fn last_sequence_reached() -> Status {
    Status::out_of_range(format!(
        "the generation reached the last sequence number, {MAX_SEQUENCE}"
    ))
}

/// Bytes of a `WorkerAssignment` besides its prompt, at most: the connection id (`conn-` and
/// a `u64`, 25 bytes), two `u64` varints (10 bytes each) and the fields' tags and lengths
/// (under 20 bytes), rounded up to 1 KiB so that a field added later still fits.
pub const ASSIGNMENT_OVERHEAD: usize = 1024;

/// The longest prompt a worker accepts unless configured otherwise, and what the director
/// assumes of a worker that does not announce its own: rpcnet's default message limit (4 MiB)
/// less the rest of the assignment.
pub const DEFAULT_MAX_PROMPT_BYTES: usize =
    rpcnet::codec::DEFAULT_MAX_MESSAGE_SIZE - ASSIGNMENT_OVERHEAD;

/// Streams a worker serves at once unless configured otherwise: each costs the worker a task
/// and a few KiB of queued frames; the director opens enough connections to reach it.
pub const DEFAULT_MAX_STREAMS: u32 = 1024;

/// What the director assumes of a worker that does not announce its capacity (one older than
/// the field): rpcnet's default stream limit of its one connection.
pub const UNANNOUNCED_MAX_STREAMS: u32 = 256;

/// The status of a prompt longer than `limit` bytes (the largest any worker accepts):
/// INVALID_ARGUMENT, naming both sizes. The request is at fault, so no worker is blamed.
pub fn prompt_too_long(len: usize, limit: u64) -> Status {
    Status::invalid_argument(format!(
        "the prompt of {len} bytes is too long: the workers accept at most {limit} bytes"
    ))
}

/// Characters of a prompt shown in a log line: a longer prompt is shown by its start and its
/// length, so that a client cannot make the director and the workers write megabytes of log
/// per request.
pub const LOGGED_PROMPT_CHARS: usize = 64;

/// A prompt as log lines show it: whole up to [`LOGGED_PROMPT_CHARS`] characters, else its
/// start, `...` and its length in bytes.
pub struct LoggedPrompt<'a>(pub &'a str);

impl std::fmt::Display for LoggedPrompt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.char_indices().nth(LOGGED_PROMPT_CHARS) {
            None => f.write_str(self.0),
            Some((cut, _)) => write!(f, "{}...({} bytes)", &self.0[..cut], self.0.len()),
        }
    }
}

/// The suffix of the status message a worker ends a stream with when it simulates a failure.
const SIMULATED_FAILURE: &str = "simulated failure";

/// The suffix of the status message a recovering worker refuses an assignment with.
const RECOVERING: &str = "is recovering";

/// The status a worker ends its streams with when it simulates a failure:
/// UNAVAILABLE, `<label> simulated failure`.
pub fn simulated_failure(label: &str) -> Status {
    Status::unavailable(format!("{label} {SIMULATED_FAILURE}"))
}

/// The status a recovering worker refuses an assignment with.
pub fn recovering(label: &str) -> Status {
    Status::unavailable(format!("{label} {RECOVERING}"))
}

/// How the director should treat a worker after its stream ended with `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerVerdict {
    /// The worker itself reported a (simulated) failure or is recovering: it is alive, keep it
    /// in the pool but unavailable until it says otherwise.
    Unavailable,
    /// The request is at fault, not the worker: an argument out of range, a prompt or message
    /// over a limit (whether the worker or the director's own client said so). The client's
    /// call ends with the status; the worker stays in the pool as it was.
    RequestRefused,
    /// Anything else (connection lost, handshake failed, protocol error): the worker is gone
    /// as far as the director can tell; remove it. A live worker registers again.
    Gone,
}

/// Judges a status that ended (or refused) a worker stream.
pub fn judge_worker_status(status: &Status) -> WorkerVerdict {
    let message = status.message();
    match status.code() {
        Code::Unavailable
            if message.ends_with(SIMULATED_FAILURE) || message.ends_with(RECOVERING) =>
        {
            WorkerVerdict::Unavailable
        }
        Code::InvalidArgument | Code::OutOfRange | Code::ResourceExhausted => {
            WorkerVerdict::RequestRefused
        }
        _ => WorkerVerdict::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_failures_and_recovery_keep_the_worker() {
        let failure = simulated_failure("worker-a");
        assert_eq!(failure.message(), "worker-a simulated failure");
        assert_eq!(failure.code(), Code::Unavailable);
        assert_eq!(judge_worker_status(&failure), WorkerVerdict::Unavailable);
        assert_eq!(
            judge_worker_status(&recovering("worker-b")),
            WorkerVerdict::Unavailable
        );
    }

    #[test]
    fn other_errors_remove_the_worker() {
        let lost = Status::unavailable("connection lost: timed out");
        assert_eq!(judge_worker_status(&lost), WorkerVerdict::Gone);
        let cancelled = Status::cancelled("worker-a simulated failure");
        assert_eq!(judge_worker_status(&cancelled), WorkerVerdict::Gone);
    }

    #[test]
    fn refusals_of_the_request_keep_the_worker() {
        let too_large = Status::resource_exhausted(
            "message of 4194400 bytes exceeds the limit of 4194304 bytes",
        );
        assert_eq!(
            judge_worker_status(&too_large),
            WorkerVerdict::RequestRefused
        );
        let past_the_end = Status::out_of_range("the last sequence number");
        assert_eq!(
            judge_worker_status(&past_the_end),
            WorkerVerdict::RequestRefused
        );
    }

    #[test]
    fn a_prompt_too_long_blames_the_request_and_names_the_limit() {
        let status = prompt_too_long(4_194_000, 4_193_280);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("4194000 bytes"), "{status}");
        assert!(
            status.message().contains("at most 4193280 bytes"),
            "{status}"
        );
        assert_eq!(judge_worker_status(&status), WorkerVerdict::RequestRefused);
    }

    #[test]
    fn the_largest_prompt_fits_an_assignment_in_the_message_limit() {
        use rpcnet::codegen::prost::Message as _;
        // Every other field at its longest: the director's longest connection id, the largest
        // numbers.
        let assignment = WorkerAssignment {
            connection_id: format!("conn-{}", u64::MAX),
            stream_id: u64::MAX,
            prompt: "p".repeat(DEFAULT_MAX_PROMPT_BYTES),
            resume_after: u64::MAX,
        };
        let overhead = assignment.encoded_len() - DEFAULT_MAX_PROMPT_BYTES;
        assert!(
            overhead <= ASSIGNMENT_OVERHEAD,
            "{overhead} bytes besides the prompt"
        );
        assert!(assignment.encoded_len() <= rpcnet::codec::DEFAULT_MAX_MESSAGE_SIZE);
    }

    #[test]
    fn long_prompts_are_shortened_in_logs() {
        assert_eq!(LoggedPrompt("prompt-a").to_string(), "prompt-a");
        let exact = "x".repeat(LOGGED_PROMPT_CHARS);
        assert_eq!(LoggedPrompt(&exact).to_string(), exact);
        let long = "é".repeat(LOGGED_PROMPT_CHARS + 1);
        let shown = LoggedPrompt(&long).to_string();
        let start = "é".repeat(LOGGED_PROMPT_CHARS);
        assert_eq!(shown, format!("{start}...({} bytes)", long.len()));
    }

    #[test]
    fn resume_positions_are_checked() {
        assert_eq!(first_sequence_after(0).ok(), Some(1));
        assert_eq!(
            first_sequence_after(MAX_SEQUENCE - 1).ok(),
            Some(MAX_SEQUENCE)
        );
        for bad in [MAX_SEQUENCE, u64::MAX - 1, u64::MAX] {
            let status = first_sequence_after(bad).err();
            assert_eq!(
                status.as_ref().map(Status::code),
                Some(Code::InvalidArgument)
            );
            assert!(status.is_some_and(|s| s.message().contains(&MAX_SEQUENCE.to_string())));
        }
    }

    #[test]
    fn envelopes_round_trip() {
        let token = Token {
            sequence: 3,
            text: "fox".into(),
            worker_label: "worker-a".into(),
        };
        assert_eq!(
            event_kind(event(EventKind::Token(token.clone()))),
            Some(EventKind::Token(token))
        );
    }
}
