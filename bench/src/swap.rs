//! Scenario 5, the connection-swap path — not measured yet. The director and workers can
//! already be started by the benchmark (`peers::Kind::Director`, used by the memory scenario);
//! what is missing is the measurement below.
//!
//! TODO(scenario 5):
//! - Hop cost: start one worker alone and a director with one worker registered (each a child
//!   process, like the servers here). Open `Inference.Generate` once through the director and
//!   once directly against the worker's `WorkerStream`, with the same token count and pacing;
//!   record the per-token inter-arrival latency on the client in an HDR histogram; report the
//!   p50 and p99 of (through director) - (direct). Goal: <= 100 us added p50 per token.
//! - Swap gap: a director with two workers and one client stream; 20+ times, make the serving
//!   worker fail (the worker's failure switch, or SIGKILL of its process), and measure on the
//!   client the time from the last token of the failing worker to the first token of the next
//!   (tokens carry the worker label). Report p50 and p99. Goal: p99 <= 20 ms.

/// Why scenario 5 is skipped, shown in the table and stored in the JSON.
pub const SKIP_REASON: &str =
    "scenario 5 (connection swap) is not implemented yet (see bench/src/swap.rs)";
