//! Server side of the interoperability tests: the `interop.Echo` stubs that `build.rs`
//! generates into `OUT_DIR`, and the implementation that the Python and Rust clients call.
//!
//! Behaviour (what the tests assert on):
//! - `Echo` returns the request's `sample` unchanged, or fails with the requested status
//!   (before any response, so on the wire it is a Trailers-Only response).
//! - `Count` streams `count` replies in order, then ends OK or with the requested status (in
//!   trailers after the DATA frames).
//! - Both copy the request metadata `x-interop-echo` (ASCII) and `x-interop-echo-bin` (binary)
//!   into the response headers; `Echo` also puts the ASCII value in `EchoReply::echoed`.
//! - Every `EchoRequest` is recorded as the server decoded it, so a test can compare what a
//!   foreign client encoded with the Rust values it meant.
//!
//! [`python`] prepares the Python peers' interpreter and runs them as bounded child processes.

pub mod interop;
pub mod python;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rpcnet::{
    Code, Metadata, Request, RequestContext, Response, ResponseStream, Server, ServerConfig,
    ShutdownHandle, Status,
};

/// The stubs `build.rs` generated from `echo.rpc.rs`: the messages (`echo::Sample`, ...) and
/// the service module `echo::echo`.
#[allow(clippy::module_inception)] // the service `Echo` is named like the file, so `echo::echo`
pub mod echo {
    rpcnet::include_stubs!("echo");
}

pub use echo::echo::{EchoClient, EchoServer};
pub use echo::{CountReply, CountRequest, EchoReply, EchoRequest, Failure, Mood, Point, Sample};

/// The `.proto` that `build.rs` exported: all a client in another language gets.
pub const PROTO_PATH: &str = concat!(env!("OUT_DIR"), "/echo.proto");

/// The workspace's development certificates (`ca.pem`, `server.pem`, `server.key`).
pub const CERTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs");

/// ASCII request metadata copied into the response headers (and `EchoReply::echoed`).
pub const ECHO_KEY: &str = "x-interop-echo";

/// Binary request metadata copied into the response headers.
pub const ECHO_BIN_KEY: &str = "x-interop-echo-bin";

/// The most replies one `Count` call may ask for.
pub const MAX_COUNT: u32 = 10_000;

/// The size pattern of `CountReply::padding`: `index % 251` repeated `index * 97` times.
pub fn padding(index: u32) -> Vec<u8> {
    // `index % 251` is below 256 and `index * 97` stays far below u32::MAX for MAX_COUNT.
    vec![(index % 251) as u8; index as usize * 97]
}

/// Values both clients send and expect, so the Python and the Rust test assert the same things.
pub mod fixtures {
    use super::{Failure, Mood, Point, Sample};
    use std::collections::HashMap;

    /// Replies the streaming tests ask for.
    pub const COUNT: u32 = 64;

    /// A status message with non-ASCII text, `%` itself and a control character, all of which
    /// travel percent-encoded in `grpc-message`.
    pub const FAIL_MESSAGE: &str = "précondition échouée: 100% ✗ 日本語 🚀\tfin";

    /// A `Failure` asking for `code` with [`FAIL_MESSAGE`].
    pub fn failure(code: rpcnet::Code) -> Failure {
        Failure {
            code: code as u32,
            message: FAIL_MESSAGE.to_owned(),
        }
    }

    /// A sample with a non-default value in every field: extremes of the integer types, all
    /// 256 byte values, non-ASCII text, an explicit enum discriminant, a present-but-zero
    /// optional, an empty nested message and an empty map value.
    pub fn sample() -> Sample {
        let mut sample = Sample {
            text: "héllo, wörld ✓ 日本語 🚀".to_owned(),
            blob: (0..=255).collect(),
            number: -9_007_199_254_740_993,
            unsigned: u64::MAX,
            flag: true,
            // Exact in binary, so every JSON parser reads back the same f64.
            ratio: -1234.5625,
            tags: vec!["alpha".to_owned(), String::new(), "γ".to_owned()],
            numbers: vec![0, -1, 300, i64::MAX, i64::MIN],
            mood: 0,
            moods: Vec::new(),
            maybe: Some(0),
            point: Some(Point {
                x: i32::MIN,
                y: i32::MAX,
            }),
            points: vec![Point { x: -1, y: 2 }, Point { x: 0, y: 0 }],
            labels: HashMap::from([
                ("k".to_owned(), "v".to_owned()),
                ("ключ".to_owned(), "значение".to_owned()),
                ("empty".to_owned(), String::new()),
            ]),
        };
        sample.set_mood(Mood::Sleepy);
        for mood in [Mood::Happy, Mood::Sleepy, Mood::Unspecified] {
            sample.push_moods(mood);
        }
        sample
    }
}

/// The implementation of `interop.Echo`.
#[derive(Debug, Default)]
pub struct EchoService {
    seen: Mutex<Vec<EchoRequest>>,
}

impl EchoService {
    /// The `Echo` requests received so far, as the server decoded them.
    pub fn seen(&self) -> Vec<EchoRequest> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The status a `Failure` asks for; codes outside 1..=16 are the client's mistake.
fn failure_status(failure: &Failure) -> Status {
    match i32::try_from(failure.code) {
        Ok(code @ 1..=16) => Status::new(Code::from_i32(code), failure.message.clone()),
        _ => Status::invalid_argument(format!(
            "fail.code must be a non-OK gRPC code (1..=16), got {}",
            failure.code
        )),
    }
}

/// Copies the echo keys from the request metadata into the response metadata.
fn echo_metadata(request: &Metadata, response: &mut Metadata) -> Result<(), Status> {
    let invalid = |e: rpcnet::MetadataError| Status::internal(format!("cannot echo metadata: {e}"));
    if let Some(value) = request.get(ECHO_KEY) {
        response.insert(ECHO_KEY, value).map_err(invalid)?;
    }
    if let Some(value) = request.get_bin(ECHO_BIN_KEY) {
        let value = value.map_err(|e| Status::invalid_argument(format!("{ECHO_BIN_KEY}: {e}")))?;
        response.insert_bin(ECHO_BIN_KEY, &value).map_err(invalid)?;
    }
    Ok(())
}

impl echo::echo::Echo for EchoService {
    async fn echo(
        &self,
        _ctx: RequestContext,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoReply>, Status> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.get_ref().clone());
        if let Some(failure) = &request.get_ref().fail {
            return Err(failure_status(failure));
        }
        let echoed = request
            .metadata()
            .get(ECHO_KEY)
            .unwrap_or_default()
            .to_owned();
        let mut headers = Metadata::new();
        echo_metadata(request.metadata(), &mut headers)?;
        let mut response = Response::new(EchoReply {
            sample: request.into_inner().sample,
            echoed,
        });
        *response.metadata_mut() = headers;
        Ok(response)
    }

    async fn count(
        &self,
        _ctx: RequestContext,
        request: Request<CountRequest>,
    ) -> Result<Response<ResponseStream<CountReply>>, Status> {
        let mut headers = Metadata::new();
        echo_metadata(request.metadata(), &mut headers)?;
        let CountRequest { count, text, fail } = request.into_inner();
        if count > MAX_COUNT {
            return Err(Status::invalid_argument(format!(
                "count {count} is above {MAX_COUNT}"
            )));
        }
        let replies = (0..count).map(move |index| {
            Ok(CountReply {
                index,
                text: format!("{text} {index}"),
                padding: padding(index),
            })
        });
        let end = fail.map(|failure| Err(failure_status(&failure)));
        let stream = futures_util::stream::iter(replies.chain(end));
        let mut response = Response::new(ResponseStream::new(stream));
        *response.metadata_mut() = headers;
        Ok(response)
    }
}

/// An rpcnet server running `EchoService` on a loopback port; shut down when dropped.
pub struct TestServer {
    addr: SocketAddr,
    service: Arc<EchoService>,
    shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<Result<(), rpcnet::Error>>,
}

impl TestServer {
    /// Binds `127.0.0.1:0` with the development server certificate and starts serving on the
    /// current tokio runtime.
    pub fn start() -> Result<TestServer, rpcnet::Error> {
        let config = ServerConfig::new(
            format!("{CERTS_DIR}/server.pem"),
            format!("{CERTS_DIR}/server.key"),
        )?;
        let service = Arc::new(EchoService::default());
        let server = Server::builder(config)
            .add_service(EchoServer::from_arc(service.clone()))
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = server.local_addr();
        let shutdown = server.shutdown_handle();
        let task = tokio::spawn(server.serve());
        Ok(TestServer {
            addr,
            service,
            shutdown,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The running implementation (for `seen()`).
    pub fn service(&self) -> &EchoService {
        &self.service
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        self.task.abort();
    }
}
