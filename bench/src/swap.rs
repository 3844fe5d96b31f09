//! Scenario 5, the connection-swap path — not measured yet: it needs the director and worker
//! services (crate `connection-swap`), which are still being written.
//!
//! TODO(scenario 5), once `connection_swap::director::run` and `connection_swap::worker::run`
//! take a config and report their bound address:
//! - Hop cost: start one worker alone and a director with one worker registered (each a child
//!   process, like the servers here). Open `Inference.Generate` once through the director and
//!   once directly against the worker's `WorkerStream`, with the same token count and pacing;
//!   record the per-token inter-arrival latency on the client in an HDR histogram; report the
//!   p50 and p99 of (through director) - (direct). Goal: <= 100 us added p50 per token.
//! - Swap gap: a director with two workers and one client stream; 20+ times, make the serving
//!   worker fail (the worker's failure switch, or SIGKILL of its process), and measure on the
//!   client the time from the last token of the failing worker to the first token of the next
//!   (tokens carry the worker label). Report p50 and p99. Goal: p99 <= 20 ms.
//! - Memory (scenario 6 on the real director): 1,000 clients each holding a `Generate` stream
//!   through the director; RSS of the director process before and after, per connection.
//!   Until then scenario 6 measures the rpcnet bench server holding one stream per connection.

/// Why scenario 5 is skipped, shown in the table and stored in the JSON.
pub const SKIP_REASON: &str = "scenario 5 (connection swap) is not implemented yet: it waits for the director and worker services (see bench/src/swap.rs)";
