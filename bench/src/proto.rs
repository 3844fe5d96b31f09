//! The benchmark service's messages (hand-written prost types, shared by all three peers) and
//! the tonic stubs generated from them by `build.rs`.
//!
//! The service is `bench.Bench`: `Echo` (unary, answers the request's payload), `Stream`
//! (server streaming: `count` messages of `size` bytes, forever when `count` is 0) and `Hold`
//! (server streaming: one message, then the stream stays open until the client leaves).

/// Fully qualified service name, the same for rpcnet and tonic.
pub const SERVICE_NAME: &str = "bench.Bench";
/// Path of the unary echo method.
pub const ECHO_PATH: &str = "/bench.Bench/Echo";
/// Path of the server-streaming method.
pub const STREAM_PATH: &str = "/bench.Bench/Stream";
/// Path of the method that holds a stream open.
pub const HOLD_PATH: &str = "/bench.Bench/Hold";

/// An opaque payload: the echo request and response, and every streamed message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// The bytes; `bytes::Bytes` so decoding slices the receive buffer instead of copying.
    #[prost(bytes = "bytes", tag = "1")]
    pub data: bytes::Bytes,
}

/// Asks for a stream of payloads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamRequest {
    /// Payload size of every message, in bytes.
    #[prost(uint32, tag = "1")]
    pub size: u32,
    /// How many messages to send; 0 streams until the client cancels.
    #[prost(uint64, tag = "2")]
    pub count: u64,
}

/// The tonic client and server stubs (`bench_client::BenchClient`, `bench_server::Bench`).
#[allow(clippy::all, missing_docs)]
pub mod tonic_stubs {
    include!(concat!(env!("OUT_DIR"), "/bench.Bench.rs"));
}
