//! Shared fixtures of the rpcnet integration tests: prost test messages, a test service written
//! by hand the way `rpcnet-gen` output looks, helpers starting a server on 127.0.0.1:0 and
//! building clients of either transport, the macro that runs one test body over HTTP/3 and
//! HTTP/2, and raw clients (h3 + quinn, and h2 + rustls, directly) for protocol-error tests.
//!
//! Everything runs over real loopback QUIC and TCP; nothing here mocks the transport.

// Each test binary uses a different subset of these fixtures.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use rpcnet::codegen::BoxFuture;
use rpcnet::{
    Client, ClientConfig, ClientTransport, Code, Request, RequestContext, Response, ResponseStream,
    Server, ServerCall, ServerConfig, ShutdownHandle, Status, Streaming, Transport,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/ca.pem");
pub const SERVER_CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/server.pem");
pub const SERVER_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/server.key");
pub const WORKER_CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/worker.pem");
pub const WORKER_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/worker.key");

/// The one message type of the test service; each method reads the fields it needs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Echo {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "2")]
    pub text: String,
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
    /// Messages to stream, bytes to answer with, or messages counted.
    #[prost(uint32, tag = "4")]
    pub count: u32,
    /// A pause the handler takes (per message for streams).
    #[prost(uint64, tag = "5")]
    pub delay_ms: u64,
    /// A status code for the handler to fail with (0: succeed).
    #[prost(int32, tag = "6")]
    pub code: i32,
    /// What the handler observed (peer identity...).
    #[prost(string, tag = "7")]
    pub note: String,
}

pub const SERVICE: &str = "rpctest.Tester";
pub const ECHO: &str = "/rpctest.Tester/Echo";
pub const INSPECT: &str = "/rpctest.Tester/Inspect";
pub const FAIL: &str = "/rpctest.Tester/Fail";
pub const SLEEP: &str = "/rpctest.Tester/Sleep";
pub const BIG: &str = "/rpctest.Tester/Big";
pub const COUNT: &str = "/rpctest.Tester/Count";
pub const STALL: &str = "/rpctest.Tester/Stall";
pub const SUM: &str = "/rpctest.Tester/Sum";
pub const CHAT: &str = "/rpctest.Tester/Chat";
pub const TRAIL: &str = "/rpctest.Tester/Trail";
pub const LATE: &str = "/rpctest.Tester/Late";

/// Turns test functions `async fn name(transport: ClientTransport)` into two tests each,
/// `http3::name` and `http2::name`, so a suite runs over both transports from one source and
/// a failure names the transport it happened on.
#[allow(unused_macros)] // Not every test binary runs over both transports.
macro_rules! over_both_transports {
    ($($name:ident),+ $(,)?) => {
        mod http3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(rpcnet::ClientTransport::Http3).await
                }
            )+
        }
        mod http2 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(rpcnet::ClientTransport::Http2).await
                }
            )+
        }
    };
}
#[allow(unused_imports)]
pub(crate) use over_both_transports;

/// The transport a client of `mode` ends up on when it names one (not `Auto`).
pub fn transport_of(mode: ClientTransport) -> Transport {
    match mode {
        ClientTransport::Http3 => Transport::Http3,
        ClientTransport::Http2 => Transport::Http2,
        ClientTransport::Auto => panic!("Auto does not name one transport"),
    }
}

/// Something a handler observed, reported to the test through the server's event channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The request's `text`, so tests can tell calls apart.
    pub tag: String,
    /// What happened: "cancelled", "completed", "finished", "closed-not-cancelled", ...
    pub what: &'static str,
    /// `ctx.is_cancelled()` at the time of the report.
    pub is_cancelled: bool,
}

/// The test service's implementation (what a user writes against the generated trait).
pub struct Tester {
    events: mpsc::UnboundedSender<Event>,
}

impl Tester {
    fn report(&self, ctx: &RequestContext, tag: &str, what: &'static str) {
        report(&self.events, ctx, tag, what);
    }

    async fn echo(
        &self,
        _ctx: RequestContext,
        request: Request<Echo>,
    ) -> Result<Response<Echo>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    /// Answers with what the handler saw: `x-ascii` metadata in `text`, `x-blob-bin` in
    /// `payload`, the peer identity in `note`, the connection number in `id`; sets response
    /// metadata `x-served-by` and `x-reply-bin`.
    async fn inspect(
        &self,
        ctx: RequestContext,
        request: Request<Echo>,
    ) -> Result<Response<Echo>, Status> {
        let metadata = request.metadata();
        let text = metadata.get("x-ascii").unwrap_or_default().to_string();
        let payload = match metadata.get_bin("x-blob-bin") {
            Some(Ok(bytes)) => bytes,
            Some(Err(err)) => return Err(Status::invalid_argument(err.to_string())),
            None => Vec::new(),
        };
        let note = match ctx.peer_identity() {
            Some(identity) => format!("cn={}", identity.common_name.as_deref().unwrap_or("<none>")),
            None => "anonymous".to_string(),
        };
        let mut response = Response::new(Echo {
            id: ctx.connection_id().0,
            text,
            payload,
            note,
            ..Echo::default()
        });
        let invalid = |e: rpcnet::MetadataError| Status::internal(e.to_string());
        response
            .metadata_mut()
            .insert("x-served-by", "tester")
            .map_err(invalid)?;
        response
            .metadata_mut()
            .insert_bin("x-reply-bin", &[0x00, 0xff, 0x10, 0x00])
            .map_err(invalid)?;
        response
            .metadata_mut()
            .insert("x-transport", &ctx.transport().to_string())
            .map_err(invalid)?;
        response
            .metadata_mut()
            .insert("x-connection", &ctx.connection_id().to_string())
            .map_err(invalid)?;
        Ok(response)
    }

    /// Echoes the request and sets trailing metadata: `x-trail` (the request's text) and
    /// `x-trail-bin` (its payload), sent in the trailers with the OK status.
    async fn trail(
        &self,
        _ctx: RequestContext,
        request: Request<Echo>,
    ) -> Result<Response<Echo>, Status> {
        let message = request.into_inner();
        let mut response = Response::new(message.clone());
        let invalid = |e: rpcnet::MetadataError| Status::internal(e.to_string());
        response
            .trailers_mut()
            .insert("x-trail", &message.text)
            .map_err(invalid)?;
        response
            .trailers_mut()
            .insert_bin("x-trail-bin", &message.payload)
            .map_err(invalid)?;
        Ok(response)
    }

    /// Ignores cancellation: sleeps until `delay_ms` after the call's deadline (or not at all
    /// without one), then succeeds. The runtime must turn that late OK into DEADLINE_EXCEEDED.
    async fn late(
        &self,
        ctx: RequestContext,
        request: Request<Echo>,
    ) -> Result<Response<Echo>, Status> {
        let message = request.into_inner();
        if let Some(deadline) = ctx.deadline() {
            tokio::time::sleep_until(deadline + Duration::from_millis(message.delay_ms)).await;
        }
        Ok(Response::new(message))
    }

    /// Fails with `code`, `text` as the message and `payload` as the details, plus a trailer.
    async fn fail(
        &self,
        _ctx: RequestContext,
        request: Request<Echo>,
    ) -> Result<Response<Echo>, Status> {
        let message = request.into_inner();
        let mut status = Status::with_details(
            Code::from_i32(message.code),
            message.text,
            Bytes::from(message.payload),
        );
        status
            .metadata_mut()
            .insert("x-error-tag", "fail-handler")
            .map_err(|e| Status::internal(e.to_string()))?;
        Err(status)
    }

    /// Sleeps `delay_ms` unless cancelled first; reports which happened.
    async fn sleep(
        &self,
        ctx: RequestContext,
        request: Request<Echo>,
    ) -> Result<Response<Echo>, Status> {
        let message = request.into_inner();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(message.delay_ms)) => {
                self.report(&ctx, &message.text, "completed");
                Ok(Response::new(message))
            }
            _ = ctx.cancelled() => {
                self.report(&ctx, &message.text, "cancelled");
                Err(Status::cancelled("the handler saw the cancellation"))
            }
        }
    }

    /// Answers with a payload of `count` bytes.
    async fn big(
        &self,
        _ctx: RequestContext,
        request: Request<Echo>,
    ) -> Result<Response<Echo>, Status> {
        let size = request.into_inner().count as usize;
        Ok(Response::new(Echo {
            payload: vec![7; size],
            ..Echo::default()
        }))
    }

    /// Streams `count` copies of the request (`id` = index), one every `delay_ms`, then ends
    /// with `code` (OK when 0). Writes from a task that also watches `ctx.cancelled()`: when a
    /// write fails it waits for the cancellation and reports "cancelled" or
    /// "closed-not-cancelled".
    async fn count(
        &self,
        ctx: RequestContext,
        request: Request<Echo>,
    ) -> Result<Response<ResponseStream<Echo>>, Status> {
        let message = request.into_inner();
        let message_count = message.count;
        let (tx, rx) = rpcnet::channel(4);
        let events = self.events.clone();
        tokio::spawn(async move {
            let tag = message.text.clone();
            for index in 0..message.count {
                if message.delay_ms > 0 {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(message.delay_ms)) => {}
                        _ = ctx.cancelled() => return report(&events, &ctx, &tag, "cancelled"),
                    }
                }
                let item = Echo {
                    id: u64::from(index),
                    ..message.clone()
                };
                if tx.send(Ok(item)).await.is_err() {
                    let what =
                        match tokio::time::timeout(Duration::from_secs(3), ctx.cancelled()).await {
                            Ok(()) => "cancelled",
                            Err(_) => "closed-not-cancelled",
                        };
                    return report(&events, &ctx, &tag, what);
                }
            }
            if message.code != 0 {
                let status = Status::new(Code::from_i32(message.code), message.text.clone());
                let _ = tx.send(Err(status)).await;
            }
            report(&events, &ctx, &tag, "finished");
        });
        let mut response = Response::new(rx.into());
        // Trailing metadata on a streamed response: how many messages it carried.
        response
            .trailers_mut()
            .insert("x-count", &message_count.to_string())
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(response)
    }

    /// Streams `count` messages at once, then goes idle until the call is cancelled (20 s at
    /// most); reports "cancelled" or "stall-timeout".
    async fn stall(
        &self,
        ctx: RequestContext,
        request: Request<Echo>,
    ) -> Result<Response<ResponseStream<Echo>>, Status> {
        let message = request.into_inner();
        let (tx, rx) = rpcnet::channel(message.count as usize + 1);
        let events = self.events.clone();
        tokio::spawn(async move {
            for index in 0..message.count {
                let item = Echo {
                    id: u64::from(index),
                    ..message.clone()
                };
                if tx.send(Ok(item)).await.is_err() {
                    return;
                }
            }
            let what = match tokio::time::timeout(Duration::from_secs(20), ctx.cancelled()).await {
                Ok(()) => "cancelled",
                Err(_) => "stall-timeout",
            };
            report(&events, &ctx, &message.text, what);
            drop(tx);
        });
        Ok(Response::new(rx.into()))
    }

    /// Client streaming: `id` = messages received, `count` = payload bytes, `text` = the texts
    /// joined with ','.
    async fn sum(
        &self,
        ctx: RequestContext,
        request: Request<Streaming<Echo>>,
    ) -> Result<Response<Echo>, Status> {
        let mut stream = request.into_inner();
        let mut messages = 0u64;
        let mut bytes = 0usize;
        let mut texts = Vec::new();
        loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    messages += 1;
                    bytes += message.payload.len();
                    texts.push(message.text);
                }
                Ok(None) => break,
                Err(status) => {
                    self.report(&ctx, "sum", "upload-failed");
                    return Err(status);
                }
            }
        }
        Ok(Response::new(Echo {
            id: messages,
            count: u32::try_from(bytes).unwrap_or(u32::MAX),
            text: texts.join(","),
            ..Echo::default()
        }))
    }

    /// Bidi: answers every message right away with `id * 10` and the text upper-cased.
    async fn chat(
        &self,
        _ctx: RequestContext,
        request: Request<Streaming<Echo>>,
    ) -> Result<Response<ResponseStream<Echo>>, Status> {
        let mut stream = request.into_inner();
        let (tx, rx) = rpcnet::channel(4);
        tokio::spawn(async move {
            loop {
                let reply = match stream.message().await {
                    Ok(Some(message)) => Ok(Echo {
                        id: message.id * 10,
                        text: message.text.to_uppercase(),
                        ..Echo::default()
                    }),
                    Ok(None) => break,
                    Err(status) => Err(status),
                };
                let failed = reply.is_err();
                if tx.send(reply).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(rx.into()))
    }
}

fn report(
    events: &mpsc::UnboundedSender<Event>,
    ctx: &RequestContext,
    tag: &str,
    what: &'static str,
) {
    let _ = events.send(Event {
        tag: tag.to_string(),
        what,
        is_cancelled: ctx.is_cancelled(),
    });
}

/// The service wrapper, written as `rpcnet-gen` would generate it.
pub struct TesterServer {
    inner: Arc<Tester>,
}

impl rpcnet::codegen::Service for TesterServer {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<'static, ()> {
        let inner = self.inner.clone();
        match method {
            "Echo" => rpcnet::codegen::unary(call, move |ctx, request| async move {
                inner.echo(ctx, request).await
            }),
            "Inspect" => rpcnet::codegen::unary(call, move |ctx, request| async move {
                inner.inspect(ctx, request).await
            }),
            "Fail" => rpcnet::codegen::unary(call, move |ctx, request| async move {
                inner.fail(ctx, request).await
            }),
            "Sleep" => rpcnet::codegen::unary(call, move |ctx, request| async move {
                inner.sleep(ctx, request).await
            }),
            "Big" => rpcnet::codegen::unary(call, move |ctx, request| async move {
                inner.big(ctx, request).await
            }),
            "Count" => rpcnet::codegen::server_streaming(call, move |ctx, request| async move {
                inner.count(ctx, request).await
            }),
            "Stall" => rpcnet::codegen::server_streaming(call, move |ctx, request| async move {
                inner.stall(ctx, request).await
            }),
            "Sum" => rpcnet::codegen::client_streaming(call, move |ctx, request| async move {
                inner.sum(ctx, request).await
            }),
            "Chat" => rpcnet::codegen::bidi_streaming(call, move |ctx, request| async move {
                inner.chat(ctx, request).await
            }),
            "Trail" => rpcnet::codegen::unary(call, move |ctx, request| async move {
                inner.trail(ctx, request).await
            }),
            "Late" => rpcnet::codegen::unary(call, move |ctx, request| async move {
                inner.late(ctx, request).await
            }),
            _ => rpcnet::codegen::unimplemented(call),
        }
    }
}

/// Logs to the test output when `RUST_LOG` is set (e.g. `RUST_LOG=rpcnet=debug`).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Runs a test body with an upper bound, so a hang fails the test instead of the suite.
pub async fn bounded<F: Future>(seconds: u64, body: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(seconds), body).await {
        Ok(out) => out,
        Err(_) => panic!("test body did not finish within {seconds} s"),
    }
}

/// The dev server configuration (certs/server.pem), with a short shutdown grace.
pub fn server_config() -> ServerConfig {
    ServerConfig::new(SERVER_CERT, SERVER_KEY)
        .expect("dev server certificate")
        .shutdown_grace(Duration::from_secs(3))
}

/// A client configuration trusting the dev CA, on `transport`.
pub fn client_config(transport: ClientTransport) -> ClientConfig {
    ClientConfig::new(CA).expect("dev CA").transport(transport)
}

/// A running server on 127.0.0.1:0 with the test service.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: ShutdownHandle,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub serve: JoinHandle<Result<(), rpcnet::Error>>,
    /// What `Server::transports()` said before `serve`.
    pub transports: Vec<Transport>,
}

impl TestServer {
    /// Binds and spawns `serve()`.
    pub fn start(config: ServerConfig) -> TestServer {
        init_logging();
        let (events_tx, events) = mpsc::unbounded_channel();
        let server = Server::builder(config)
            .add_service(TesterServer {
                inner: Arc::new(Tester { events: events_tx }),
            })
            .bind("127.0.0.1:0".parse().expect("address"))
            .expect("bind");
        let addr = server.local_addr();
        let shutdown = server.shutdown_handle();
        let transports = server.transports();
        let serve = tokio::spawn(server.serve());
        TestServer {
            addr,
            shutdown,
            events,
            serve,
            transports,
        }
    }

    /// A server with the default test configuration.
    pub fn default_config() -> TestServer {
        TestServer::start(server_config())
    }

    /// A connected client on `transport`, otherwise with the default configuration.
    pub async fn client(&self, transport: ClientTransport) -> Client {
        let client = Client::connect(self.addr, client_config(transport))
            .await
            .expect("client connects");
        if transport != ClientTransport::Auto {
            assert_eq!(client.transport(), Some(transport_of(transport)));
        }
        client
    }

    /// The next handler event, failing the test if none arrives within `within`.
    pub async fn next_event(&mut self, within: Duration) -> Event {
        match tokio::time::timeout(within, self.events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the event channel closed"),
            Err(_) => panic!("no handler event within {within:?}"),
        }
    }

    /// The next handler event with `tag`, skipping others.
    pub async fn event_for(&mut self, tag: &str, within: Duration) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_event(left).await;
            if event.tag == tag {
                return event;
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.shutdown();
    }
}

/// A request message with `text` and the other fields default.
pub fn echo(text: &str) -> Echo {
    Echo {
        text: text.to_string(),
        ..Echo::default()
    }
}

/// A well-formed unary call used to check that a server (and connection) is still healthy.
pub async fn assert_healthy(client: &Client, tag: &str) {
    let response = client
        .unary::<Echo, Echo>(ECHO, Request::new(echo(tag)))
        .await
        .unwrap_or_else(|status| panic!("health call {tag} failed: {status}"));
    assert_eq!(response.get_ref().text, tag);
}

/// A gRPC frame (5-byte prefix + message) of `message`.
pub fn frame(message: &Echo) -> Bytes {
    rpcnet::codec::encode_to_bytes(message)
}

/// A raw client: h3 + h3-quinn, or h2 + tokio-rustls, driven directly with rpcnet's TLS client
/// configuration, so tests can send hand-made headers and bytes. Independent of rpcnet's own
/// client on purpose.
pub struct RawClient {
    addr: SocketAddr,
    inner: RawInner,
    driver: JoinHandle<()>,
}

enum RawInner {
    H3 {
        endpoint: quinn::Endpoint,
        conn: quinn::Connection,
        send_request: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    },
    H2 {
        send_request: h2::client::SendRequest<Bytes>,
    },
}

/// What a raw call received.
#[derive(Debug)]
pub struct RawResponse {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub data: Vec<u8>,
    pub trailers: Option<http::HeaderMap>,
}

impl RawResponse {
    /// `grpc-status` and the (still percent-encoded) `grpc-message`, from the trailers or from
    /// a Trailers-Only header block.
    pub fn grpc_status(&self) -> Option<(i32, String)> {
        let block = match &self.trailers {
            Some(trailers) if trailers.contains_key("grpc-status") => trailers,
            _ => &self.headers,
        };
        let code = block.get("grpc-status")?.to_str().ok()?.parse().ok()?;
        let message = block
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Some((code, message))
    }

    /// The messages in the response body.
    pub fn messages(&self) -> Vec<Echo> {
        let mut decoder = rpcnet::codec::Decoder::default();
        let mut buf = BytesMut::from(&self.data[..]);
        let mut out = Vec::new();
        while let Some(body) = decoder.decode(&mut buf).expect("valid response framing") {
            out.push(rpcnet::codec::decode_message::<Echo>(body).expect("valid message"));
        }
        assert!(buf.is_empty(), "trailing partial message in the response");
        out
    }
}

impl RawClient {
    /// Connects over `transport` (the client mode's transport; `Auto` is not one).
    pub async fn connect(addr: SocketAddr, transport: ClientTransport) -> RawClient {
        match transport_of(transport) {
            Transport::Http3 => RawClient::connect_h3(addr).await,
            Transport::Http2 => RawClient::connect_h2(addr).await,
        }
    }

    async fn connect_h3(addr: SocketAddr) -> RawClient {
        let crypto = rpcnet::tls::client_config(Path::new(CA), None).expect("client TLS");
        let config = rpcnet::tls::quic_client_config(crypto).expect("QUIC client config");
        let endpoint =
            quinn::Endpoint::client("127.0.0.1:0".parse().expect("address")).expect("endpoint");
        let conn = endpoint
            .connect_with(config, addr, "localhost")
            .expect("connect")
            .await
            .expect("handshake");
        let (mut driver, send_request) = h3::client::new(h3_quinn::Connection::new(conn.clone()))
            .await
            .expect("h3 client");
        let driver = tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        RawClient {
            addr,
            inner: RawInner::H3 {
                endpoint,
                conn,
                send_request,
            },
            driver,
        }
    }

    async fn connect_h2(addr: SocketAddr) -> RawClient {
        let mut crypto = rpcnet::tls::client_config(Path::new(CA), None).expect("client TLS");
        crypto.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .expect("TCP connect");
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("server name");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(crypto))
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (send_request, connection) = h2::client::handshake(tls).await.expect("h2 handshake");
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        RawClient {
            addr,
            inner: RawInner::H2 { send_request },
            driver,
        }
    }

    /// One POST: `path`, the usual gRPC headers with `content_type`, `extra` headers, each
    /// chunk of `body` sent as its own DATA frame, then the end of stream. Send errors (the
    /// server may stop reading early) are ignored: the response tells.
    pub async fn call(
        &mut self,
        path: &str,
        content_type: &str,
        extra: &[(&str, &str)],
        body: Vec<Bytes>,
    ) -> RawResponse {
        self.call_with_method(http::Method::POST, path, content_type, extra, body)
            .await
    }

    /// [`RawClient::call`] with another HTTP method.
    pub async fn call_with_method(
        &mut self,
        method: http::Method,
        path: &str,
        content_type: &str,
        extra: &[(&str, &str)],
        body: Vec<Bytes>,
    ) -> RawResponse {
        let uri = format!("https://localhost:{}{path}", self.addr.port());
        let mut builder = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .header("te", "trailers");
        for (name, value) in extra {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(()).expect("request");
        match &mut self.inner {
            RawInner::H3 { send_request, .. } => call_h3(send_request, request, body).await,
            RawInner::H2 { send_request } => {
                let (response, _stream) = start_h2(send_request, request, body).await;
                read_h2(response).await
            }
        }
    }

    /// HTTP/2 only: sends a POST with one DATA frame (ending the request stream), then resets
    /// the stream with RST_STREAM CANCEL after `after`, as a client that gives up waiting.
    pub async fn call_then_cancel(&mut self, path: &str, message: Bytes, after: Duration) {
        let RawInner::H2 { send_request } = &mut self.inner else {
            panic!("call_then_cancel is an HTTP/2 test");
        };
        let uri = format!("https://localhost:{}{path}", self.addr.port());
        let request = http::Request::post(uri)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .expect("request");
        let mut sender = send_request.clone().ready().await.expect("h2 ready");
        let (_response, mut stream) = sender.send_request(request, false).expect("send request");
        stream.send_data(message, true).expect("send data");
        tokio::time::sleep(after).await;
        stream.send_reset(h2::Reason::CANCEL);
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        match &self.inner {
            RawInner::H3 { conn, .. } => conn.close_reason().is_none(),
            RawInner::H2 { .. } => !self.driver.is_finished(),
        }
    }
}

async fn call_h3(
    send_request: &mut h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    request: http::Request<()>,
    body: Vec<Bytes>,
) -> RawResponse {
    let mut stream = send_request
        .send_request(request)
        .await
        .expect("send request headers");
    for chunk in body {
        if stream.send_data(chunk).await.is_err() {
            break;
        }
    }
    let _ = stream.finish().await;
    let response = stream.recv_response().await.expect("response headers");
    let mut data = Vec::new();
    while let Some(mut chunk) = stream.recv_data().await.expect("response data") {
        let bytes = chunk.copy_to_bytes(chunk.remaining());
        data.extend_from_slice(&bytes);
    }
    let trailers = stream.recv_trailers().await.expect("response trailers");
    RawResponse {
        status: response.status(),
        headers: response.headers().clone(),
        data,
        trailers,
    }
}

/// Sends an HTTP/2 request: the head, then each chunk as its own DATA frame, END_STREAM on
/// the last (an empty DATA frame carries it when there is no body).
async fn start_h2(
    send_request: &mut h2::client::SendRequest<Bytes>,
    request: http::Request<()>,
    body: Vec<Bytes>,
) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let mut sender = send_request.clone().ready().await.expect("h2 ready");
    let (response, mut stream) = sender.send_request(request, false).expect("send request");
    let last = body.len().saturating_sub(1);
    if body.is_empty() {
        let _ = stream.send_data(Bytes::new(), true);
    }
    for (index, chunk) in body.into_iter().enumerate() {
        if stream.send_data(chunk, index == last).is_err() {
            break;
        }
    }
    (response, stream)
}

async fn read_h2(response: h2::client::ResponseFuture) -> RawResponse {
    let response = response.await.expect("response headers");
    let (parts, mut body) = response.into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("response data");
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.expect("response trailers");
    RawResponse {
        status: parts.status,
        headers: parts.headers,
        data,
        trailers,
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.driver.abort();
        if let RawInner::H3 { endpoint, .. } = &self.inner {
            endpoint.close(0u32.into(), b"test over");
        }
    }
}
