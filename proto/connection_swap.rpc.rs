//! Service definition of the connection-swap example: the director's worker registry, the
//! client-facing streaming `Inference` service and the worker-facing `WorkerStream` service
//! through which the director hands a client's stream to a worker.
//!
//! Stubs are generated into `generated/` with `cargo run -p rpcnet-gen -- proto/connection_swap.rpc.rs`.
#![rpcnet(package = "connection_swap")]

// ---------------------------------------------------------------------------------------------
// DirectorRegistry: workers (and only workers, authenticated by their client certificate)
// register with the director, report their availability and prove they are alive.
// ---------------------------------------------------------------------------------------------

/// A worker announces itself: its label and the address its `WorkerStream` server listens on.
pub struct RegisterRequest {
    /// Human-readable name shown in every log line, e.g. `worker-a`.
    pub label: String,
    /// `host:port` of the worker's own rpcnet server.
    pub addr: String,
    /// Whether the worker can take a stream right now (false while it recovers).
    pub available: bool,
    /// The longest prompt, in bytes, the worker accepts in a `WorkerAssignment`: the director
    /// refuses a longer one itself (INVALID_ARGUMENT) instead of handing it over. 0 means not
    /// announced (a worker older than this field): the director assumes what the worker's
    /// default message limit allows.
    pub max_prompt_bytes: u64,
    /// How many streams the worker serves at once: the director assigns it no more. 0 means
    /// not announced: the director assumes one connection's stream limit.
    pub max_streams: u32,
}

/// The director's answer to a registration.
pub struct RegisterResponse {
    /// The id the worker quotes in later registry calls.
    pub worker_id: u64,
    /// How often the director expects a heartbeat; three missed ones remove the worker.
    pub heartbeat_interval_ms: u64,
}

/// A worker's availability changed (it failed, or it recovered).
pub struct SetAvailabilityRequest {
    pub worker_id: u64,
    /// The worker's address, so that an id from an earlier director process is not mistaken
    /// for another worker's.
    pub addr: String,
    pub available: bool,
    /// Why, in words (logged by the director).
    pub reason: String,
}

/// Whether the director knew the worker; `false` asks the worker to register again.
pub struct SetAvailabilityResponse {
    pub known: bool,
}

/// A periodic sign of life.
pub struct HeartbeatRequest {
    pub worker_id: u64,
    /// The worker's address (see `SetAvailabilityRequest::addr`).
    pub addr: String,
    /// Streams the worker is serving now.
    pub active_streams: u32,
    /// The worker's current availability, so the director's view converges even if a
    /// `SetAvailability` call was lost.
    pub available: bool,
}

/// Whether the director knew the worker; `false` (after a director restart) asks the worker to
/// register again.
pub struct HeartbeatResponse {
    pub known: bool,
}

/// The worker registry served by the director. Every method requires the worker client
/// certificate (mTLS, common name `worker`); other callers get UNAUTHENTICATED.
#[rpcnet::service]
pub trait DirectorRegistry {
    /// Adds (or replaces) a worker in the pool.
    async fn register(&self, request: RegisterRequest) -> Result<RegisterResponse, Status>;
    /// Marks a worker available or unavailable.
    async fn set_availability(
        &self,
        request: SetAvailabilityRequest,
    ) -> Result<SetAvailabilityResponse, Status>;
    /// Keeps a worker in the pool; workers that miss three heartbeats are removed.
    async fn heartbeat(&self, request: HeartbeatRequest) -> Result<HeartbeatResponse, Status>;
}

// ---------------------------------------------------------------------------------------------
// Inference: what clients call. One bidirectional call carries a whole generation, across any
// number of worker swaps, on one HTTP/3 stream of one QUIC connection.
// ---------------------------------------------------------------------------------------------

/// Sent by the client to start the generation and again after each `WorkerFailed` event.
pub struct GenerateRequest {
    /// The prompt; tokens are a deterministic function of (prompt, sequence number).
    pub prompt: String,
    /// The last sequence number the client received (0 at the start): the next worker resumes
    /// at `resume_after + 1`.
    pub resume_after: u64,
}

/// A worker now serves the client's stream (sent when the worker's `[connected]` frame arrives).
pub struct StreamAssigned {
    /// The director's id of the client's QUIC connection, `conn-<n>`.
    pub connection_id: String,
    /// The HTTP/3 stream id of the client's call, as the director sees it.
    pub stream_id: u64,
    pub worker_label: String,
    pub worker_addr: String,
}

/// One generated token.
pub struct Token {
    /// Position in the generation, counted from 1, contiguous across swaps.
    pub sequence: u64,
    pub text: String,
    /// The worker that produced it.
    pub worker_label: String,
}

/// The serving worker failed: the client should send another `GenerateRequest` with
/// `resume_after` set to the last sequence number it received.
pub struct WorkerFailed {
    pub worker_label: String,
    /// The worker's failure, e.g. `worker-a simulated failure`.
    pub reason: String,
    /// The last sequence number the director forwarded from that worker.
    pub last_sequence: u64,
}

/// What the director can tell the client.
pub enum GenerateEventKind {
    #[rpcnet(tag = 1)]
    Assigned(StreamAssigned),
    #[rpcnet(tag = 2)]
    Token(Token),
    #[rpcnet(tag = 3)]
    WorkerFailed(WorkerFailed),
}

/// One message of the director's response stream.
pub struct GenerateEvent {
    pub kind: Option<GenerateEventKind>,
}

/// The client-facing streaming service served by the director.
#[rpcnet::service]
pub trait Inference {
    /// Streams tokens for a prompt; see `GenerateRequest` and `GenerateEvent`.
    async fn generate(
        &self,
        request: Streaming<GenerateRequest>,
    ) -> Result<Streaming<GenerateEvent>, Status>;
}

// ---------------------------------------------------------------------------------------------
// WorkerStream: served by each worker, called only by the director.
// ---------------------------------------------------------------------------------------------

/// The hand-off of a client's stream to a worker: the first (and only) message the director
/// sends on a `WorkerStream.serve` call. The director keeps its side open while it forwards;
/// closing it tells the worker that the client is gone.
pub struct WorkerAssignment {
    /// The client's connection id as the director sees it (logged by the worker).
    pub connection_id: String,
    /// The client's HTTP/3 stream id as the director sees it (logged by the worker).
    pub stream_id: u64,
    pub prompt: String,
    /// The worker starts at `resume_after + 1`.
    pub resume_after: u64,
}

/// The worker accepted the hand-off (shown to the client as a `[connected]` frame).
pub struct Connected {
    pub worker_label: String,
}

/// One token produced by the worker.
pub struct WorkerToken {
    pub sequence: u64,
    pub text: String,
}

/// What a worker streams back to the director.
pub enum WorkerFrameKind {
    #[rpcnet(tag = 1)]
    Connected(Connected),
    #[rpcnet(tag = 2)]
    Token(WorkerToken),
}

/// One message of the worker's response stream. A failing worker ends the call with status
/// UNAVAILABLE and the message `<label> simulated failure`.
pub struct WorkerFrame {
    pub kind: Option<WorkerFrameKind>,
}

/// The worker-facing service: the director hands a stream over and receives its frames.
#[rpcnet::service]
pub trait WorkerStream {
    /// Serves one client stream, starting at the assignment's `resume_after + 1`.
    async fn serve(
        &self,
        request: Streaming<WorkerAssignment>,
    ) -> Result<Streaming<WorkerFrame>, Status>;
}
