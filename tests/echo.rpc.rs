//! Echo service of the cross-language interoperability tests: a unary call that returns what it
//! was sent (or the error it was asked for) and a server-streaming call that counts.
//!
//! `tests/build.rs` generates the Rust stubs and `echo.proto` from this file into `OUT_DIR`;
//! the Python client knows the service only through that `.proto`.
#![rpcnet(package = "interop")]
use rpcnet::{Status, Streaming};
use std::collections::HashMap;

/// A C-like enum: a protobuf enum whose first value is 0.
pub enum Mood {
    Unspecified,
    Happy,
    Grumpy,
    /// An explicit discriminant, so values are not simply 0, 1, 2.
    Sleepy = 7,
}

/// A nested message.
pub struct Point {
    pub x: i32,
    pub y: i32,
}

/// One value of (almost) every field kind the generator maps.
pub struct Sample {
    pub text: String,
    pub blob: Vec<u8>,
    pub number: i64,
    pub unsigned: u64,
    pub flag: bool,
    pub ratio: f64,
    pub tags: Vec<String>,
    /// Packed on the wire.
    pub numbers: Vec<i64>,
    pub mood: Mood,
    pub moods: Vec<Mood>,
    /// proto3 `optional`: presence is visible even for the default value.
    pub maybe: Option<u32>,
    pub point: Option<Point>,
    pub points: Vec<Point>,
    pub labels: HashMap<String, String>,
}

/// Asks the server to fail the call with this status instead of answering.
pub struct Failure {
    /// A gRPC status code (1..=16).
    pub code: u32,
    /// Sent percent-encoded in `grpc-message`.
    pub message: String,
}

pub struct EchoRequest {
    pub sample: Sample,
    /// Set: the call fails with this status (a Trailers-Only response).
    pub fail: Option<Failure>,
}

pub struct EchoReply {
    /// The request's sample, unchanged.
    pub sample: Sample,
    /// The value of the request's `x-interop-echo` metadata, also sent back as a response header.
    pub echoed: String,
}

pub struct CountRequest {
    /// How many replies to stream.
    pub count: u32,
    /// Prefix of every reply's text.
    pub text: String,
    /// Set: after the replies, the call ends with this status (in trailers after DATA).
    pub fail: Option<Failure>,
}

pub struct CountReply {
    /// 0, 1, 2, ... in order.
    pub index: u32,
    /// `"<text> <index>"`.
    pub text: String,
    /// `index % 251` repeated `index * 97` times, so replies differ in size.
    pub padding: Vec<u8>,
}

/// The service the interoperability tests call from Python and from Rust.
#[rpcnet::service]
pub trait Echo {
    /// Returns the request's sample (and echoes metadata), or fails as asked.
    async fn echo(&self, request: EchoRequest) -> Result<EchoReply, Status>;
    /// Streams `count` replies in order, then ends OK or with the requested failure.
    async fn count(&self, request: CountRequest) -> Result<Streaming<CountReply>, Status>;
}
