//! The server: a quinn endpoint speaking HTTP/3, routing `/<package>.<Service>/<Method>` to
//! registered services, and running each call under its deadline and cancellation.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info_span, warn, Instrument};

use crate::codec::{self, DEFAULT_MAX_MESSAGE_SIZE};
use crate::context::{CancelHandle, ContextParts};
use crate::quic::{self, StopNotice, StoppedFuture};
use crate::streaming::{Side, COALESCE_BYTES};
use crate::tls::{self, ClientAuth};
use crate::transport::{self, ResetOnDrop, ServerRecvStream, ServerSendStream};
use crate::{
    ConnectionId, Error, Metadata, PeerIdentity, Request, RequestContext, Response, ResponseStream,
    Status, Streaming,
};

/// A future boxed for dynamic dispatch, as services return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long a handler may keep running after its call was cancelled or timed out, before the
/// runtime drops it. Long enough to notice `RequestContext::cancelled` and clean up.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// One registered service. Generated `<Service>Server<T>` wrappers implement it.
pub trait Service: Send + Sync + 'static {
    /// Fully qualified name, `<package>.<Service>`.
    fn name(&self) -> &'static str;
    /// Handles one call of `method` (the last path segment). Unknown methods answer through
    /// `rpcnet::codegen::unimplemented(call)`.
    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<'static, ()>;
}

/// Server settings: TLS material and limits. Every limit has a safe default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<(PathBuf, ClientAuth)>,
    max_message_size: usize,
    max_concurrent_streams: u32,
    max_header_list_size: u64,
    idle_timeout: Duration,
    keep_alive: Option<Duration>,
    shutdown_grace: Duration,
    udp_buffer_size: usize,
}

impl ServerConfig {
    /// A configuration serving `cert_pem` (chain) with `key_pem`. Both files are read now, so
    /// a missing or malformed file is reported here rather than at the first connection.
    pub fn new(cert_pem: impl AsRef<Path>, key_pem: impl AsRef<Path>) -> Result<Self, Error> {
        let cert = cert_pem.as_ref().to_path_buf();
        let key = key_pem.as_ref().to_path_buf();
        tls::load_certs(&cert)?;
        tls::load_private_key(&key)?;
        Ok(ServerConfig {
            cert,
            key,
            client_ca: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            // quinn's default is 100; a little more headroom for fan-in from one client,
            // each stream costing only its buffers when idle.
            max_concurrent_streams: 256,
            max_header_list_size: 8 * 1024,
            idle_timeout: Duration::from_secs(30),
            // Keeps long-lived streaming calls alive and notices dead clients.
            keep_alive: Some(Duration::from_secs(5)),
            shutdown_grace: Duration::from_secs(10),
            udp_buffer_size: crate::socket::DEFAULT_UDP_BUFFER,
        })
    }

    /// Verifies client certificates against `ca_pem` (mTLS). With `required`, clients without
    /// a valid certificate are refused during the handshake; otherwise they may connect
    /// anonymously and handlers see `RequestContext::peer_identity() == None`.
    pub fn client_ca(mut self, ca_pem: impl AsRef<Path>, required: bool) -> Result<Self, Error> {
        let ca = ca_pem.as_ref().to_path_buf();
        tls::load_roots(&ca)?;
        let mode = if required {
            ClientAuth::Required
        } else {
            ClientAuth::Optional
        };
        self.client_ca = Some((ca, mode));
        Ok(self)
    }

    /// Largest request message accepted, in bytes (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Concurrent calls (bidirectional streams) per connection (default 256).
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// Largest request header block, in bytes (default 8 KiB).
    pub fn max_header_list_size(mut self, bytes: u64) -> Self {
        self.max_header_list_size = bytes;
        self
    }

    /// Closes a connection silent for this long (default 30 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sends QUIC PINGs at this interval (default 5 s), keeping streams alive and finding
    /// dead clients.
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = Some(interval);
        self
    }

    /// How long in-flight calls may run after a shutdown starts (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Kernel receive and send buffer requested for the UDP socket (default 4 MiB, capped by
    /// the kernel's `net.core.rmem_max`/`wmem_max`).
    pub fn udp_buffer_size(mut self, bytes: usize) -> Self {
        self.udp_buffer_size = bytes;
        self
    }

    fn quinn_config(&self) -> Result<quinn::ServerConfig, Error> {
        let client_auth = self
            .client_ca
            .as_ref()
            .map(|(path, mode)| (path.as_path(), *mode));
        let crypto = tls::server_config(&self.cert, &self.key, client_auth)?;
        let mut config = tls::quic_server_config(crypto)?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(self.max_concurrent_streams.into())
            .max_idle_timeout(Some(idle_timeout(self.idle_timeout)?))
            .keep_alive_interval(self.keep_alive);
        config.transport_config(Arc::new(transport));
        Ok(config)
    }
}

pub(crate) fn idle_timeout(timeout: Duration) -> Result<quinn::IdleTimeout, Error> {
    quinn::IdleTimeout::try_from(timeout)
        .map_err(|_| Error::TlsConfig(format!("idle timeout {timeout:?} is too large for QUIC")))
}

/// Collects services before binding.
pub struct ServerBuilder {
    config: ServerConfig,
    services: HashMap<&'static str, Arc<dyn Service>>,
}

impl ServerBuilder {
    /// Registers a service; a second service with the same name replaces the first.
    pub fn add_service(mut self, service: impl Service) -> Self {
        self.services.insert(service.name(), Arc::new(service));
        self
    }

    /// Binds the UDP socket now (so the address is known and errors are immediate).
    pub fn bind(self, addr: SocketAddr) -> Result<Server, Error> {
        let quinn_config = self.config.quinn_config()?;
        let endpoint =
            crate::socket::endpoint(addr, Some(quinn_config), self.config.udp_buffer_size)
                .map_err(|source| Error::Bind { addr, source })?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let (shutdown, _) = watch::channel(false);
        Ok(Server {
            endpoint,
            local_addr,
            shared: Arc::new(Shared {
                services: self.services,
                max_message_size: self.config.max_message_size,
                max_header_list_size: self.config.max_header_list_size,
                max_concurrent_streams: self.config.max_concurrent_streams as usize,
                shutdown_grace: self.config.shutdown_grace,
                next_connection: AtomicU64::new(1),
            }),
            shutdown: Arc::new(shutdown),
        })
    }
}

/// A bound server. `serve` runs it until `ShutdownHandle::shutdown`.
pub struct Server {
    endpoint: quinn::Endpoint,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Arc<watch::Sender<bool>>,
}

struct Shared {
    services: HashMap<&'static str, Arc<dyn Service>>,
    max_message_size: usize,
    max_header_list_size: u64,
    max_concurrent_streams: usize,
    shutdown_grace: Duration,
    next_connection: AtomicU64,
}

/// Starts a graceful shutdown: GOAWAY to every client, in-flight calls finish within the
/// grace period, then connections close.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    shutdown: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    /// Begins the shutdown; `Server::serve` returns once it is complete.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

impl Server {
    /// Starts configuring a server.
    pub fn builder(config: ServerConfig) -> ServerBuilder {
        ServerBuilder {
            config,
            services: HashMap::new(),
        }
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops this server gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shutdown: self.shutdown.clone(),
        }
    }

    /// Accepts connections and serves calls until shut down.
    pub async fn serve(self) -> Result<(), Error> {
        let mut shutdown = self.shutdown.subscribe();
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let id = ConnectionId(self.shared.next_connection.fetch_add(1, Ordering::Relaxed));
                    let span = info_span!("connection", connection.id = %id, peer = %incoming.remote_address());
                    let shared = self.shared.clone();
                    let shutdown = self.shutdown.subscribe();
                    connections.spawn(serve_connection(incoming, id, shared, shutdown).instrument(span));
                }
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            while connections.try_join_next().is_some() {}
        }
        // Every connection task saw the same signal and is draining its calls.
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(self.shared.shutdown_grace + Duration::from_secs(1), drain)
            .await
            .is_err()
        {
            connections.abort_all();
        }
        self.endpoint.close(
            h3::error::Code::H3_NO_ERROR
                .value()
                .try_into()
                .unwrap_or(0u32.into()),
            b"server shutdown",
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
        Ok(())
    }
}

async fn serve_connection(
    incoming: quinn::Incoming,
    id: ConnectionId,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = incoming.remote_address();
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(err) => {
            warn!(%peer, error = %err, "QUIC handshake failed");
            return;
        }
    };
    let identity = tls::peer_identity(&conn).map(Arc::new);
    debug!(identity = ?identity.as_ref().and_then(|i| i.common_name.clone()), "connection established");
    // Twice the stream limit: streams whose stop notice was not taken yet (headers still
    // arriving) plus those being served.
    let quic_conn =
        quic::Connection::with_stopped_capacity(conn.clone(), 2 * shared.max_concurrent_streams);
    let stopped = quic_conn.stopped_registry();
    let mut h3_conn = match h3::server::builder()
        .max_field_section_size(shared.max_header_list_size)
        .build::<_, Bytes>(quic_conn)
        .await
    {
        Ok(h3_conn) => h3_conn,
        Err(err) => {
            warn!(error = %err, "HTTP/3 set-up failed");
            return;
        }
    };
    let mut calls = JoinSet::new();
    let mut going_away = false;
    loop {
        tokio::select! {
            accepted = h3_conn.accept() => match accepted {
                Ok(Some(resolver)) => {
                    let shared = shared.clone();
                    let identity = identity.clone();
                    let conn = conn.clone();
                    let stopped = stopped.clone();
                    calls.spawn(async move {
                        match resolver.resolve_request().await {
                            Ok((request, stream)) => {
                                let stopped = stopped.take(stream.id().into_inner());
                                let env = CallEnv {
                                    shared, connection_id: id, peer, identity, conn, stopped,
                                };
                                handle_request(request, stream, env).await;
                            }
                            Err(err) => debug!(error = %err, "could not read request headers"),
                        }
                    });
                }
                Ok(None) => break,
                Err(err) => {
                    if !transport::is_graceful(&err) {
                        debug!(reason = %transport::describe_connection_error(&err), "connection closed");
                    }
                    break;
                }
            },
            _ = shutdown.wait_for(|stop| *stop) => {
                going_away = true;
                break;
            }
        }
        while calls.try_join_next().is_some() {}
    }
    if going_away {
        // GOAWAY naming the stream after the last one accepted (RFC 9114 5.2: the id is the
        // first request NOT processed): the client may not start new calls here, and every
        // call already accepted runs to its end.
        let _ = h3_conn.shutdown(1).await;
    }
    let drain = async { while calls.join_next().await.is_some() {} };
    if tokio::time::timeout(shared.shutdown_grace, drain)
        .await
        .is_err()
    {
        calls.abort_all();
    } else if going_away {
        // A finished call has only queued its last frames (trailers, FIN); closing right away
        // discards what quinn has not sent yet, and the client sees "connection lost" instead
        // of its status (seen in the graceful-shutdown test). Linger a few round trips (or until
        // the client closes) so the last frames and their acknowledgements get through.
        let linger = conn.rtt() * 3 + Duration::from_millis(50);
        let _ = tokio::time::timeout(linger, conn.closed()).await;
    }
    conn.close(
        quinn::VarInt::from_u32(h3::error::Code::H3_NO_ERROR.value() as u32),
        b"",
    );
}

struct CallEnv {
    shared: Arc<Shared>,
    connection_id: ConnectionId,
    peer: SocketAddr,
    identity: Option<Arc<PeerIdentity>>,
    /// The call's connection: its loss cancels the call.
    conn: quinn::Connection,
    /// Resolves when the client stops reading the response (STOP_SENDING).
    stopped: Option<StoppedFuture>,
}

type BidiRequestStream = h3::server::RequestStream<quic::BidiStream, Bytes>;

async fn handle_request(request: http::Request<()>, mut stream: BidiRequestStream, env: CallEnv) {
    let stream_id = stream.id().into_inner();
    // Shares the request's buffer: cloning it into the context copies no bytes, and the
    // router borrows the method name from it. h3 refuses requests without :path, so the
    // fallback only keeps this total.
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let span = info_span!("call", stream.id = stream_id, path = %path.path());
    async move {
        if request.method() != http::Method::POST {
            let _ = send_http_error(&mut stream, StatusCode::METHOD_NOT_ALLOWED).await;
            return;
        }
        if !is_grpc_content_type(request.headers()) {
            let _ = send_http_error(&mut stream, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
            return;
        }
        let (send, recv) = stream.split();
        let mut responder = Responder::new(send);
        let (service, method) = match route(&env.shared.services, path.path()) {
            Ok(found) => found,
            Err(status) => {
                responder.finish(status).await;
                return;
            }
        };
        if let Some(encoding) = request.headers().get("grpc-encoding") {
            if encoding.as_bytes() != b"identity" {
                let status = Status::unimplemented(format!(
                    "message encoding {:?} is not supported (only identity)",
                    String::from_utf8_lossy(encoding.as_bytes())
                ));
                responder.finish(status).await;
                return;
            }
        }
        let deadline = match request.headers().get("grpc-timeout") {
            None => None,
            Some(value) => match value
                .to_str()
                .map_err(|_| ())
                .and_then(|v| crate::timeout::parse(v).map_err(|_| ()))
            {
                Ok(timeout) => Some(Instant::now() + timeout),
                Err(()) => {
                    let status = Status::invalid_argument(format!(
                        "invalid grpc-timeout {:?}",
                        String::from_utf8_lossy(value.as_bytes())
                    ));
                    responder.finish(status).await;
                    return;
                }
            },
        };
        let (ctx, cancel) = RequestContext::new(ContextParts {
            connection_id: env.connection_id,
            stream_id,
            peer_addr: env.peer,
            deadline,
            peer_identity: env.identity,
            path: path.clone(),
        });
        let lost = cancel.clone();
        let call = ServerCall {
            ctx,
            cancel,
            metadata: Metadata::from_headers(request.headers()),
            recv,
            responder,
            max_message_size: env.shared.max_message_size,
        };
        let mut served = std::pin::pin!(service.call(method, call));
        tokio::select! {
            () = &mut served => {}
            () = client_gone(env.stopped, &env.conn) => {
                // Nobody will read an answer. Without this an idle handler would only learn
                // of it at its next write (or never); like a deadline, it gets CANCEL_GRACE
                // to notice `ctx.cancelled()` and wind down, then it is dropped and the
                // stream reset.
                lost.cancel();
                let _ = tokio::time::timeout(CANCEL_GRACE, served).await;
            }
        }
    }
    .instrument(span)
    .await
}

/// Resolves when the client can no longer want the response: it sent STOP_SENDING on the
/// call's stream, or the connection is gone. A response that was finished and acknowledged
/// (`StopNotice::Done`) is no cancellation, so that case never resolves.
async fn client_gone(stopped: Option<StoppedFuture>, conn: &quinn::Connection) {
    let stop = async {
        match stopped {
            Some(stopped) => match stopped.await {
                StopNotice::Stopped(code) => debug!(%code, "client stopped reading"),
                StopNotice::ConnectionLost(err) => debug!(?err, "connection lost"),
                StopNotice::Done => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = stop => {}
        _ = conn.closed() => {}
    }
}

fn is_grpc_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    let Some(rest) = value.strip_prefix(codec::CONTENT_TYPE.as_bytes()) else {
        return false;
    };
    rest.is_empty() || rest == b"+proto" || rest.starts_with(b";") || rest.starts_with(b"+proto;")
}

fn route<'a>(
    services: &'a HashMap<&'static str, Arc<dyn Service>>,
    path: &'a str,
) -> Result<(&'a dyn Service, &'a str), Status> {
    let malformed = || Status::unimplemented(format!("malformed method path {path:?}"));
    let rest = path.strip_prefix('/').ok_or_else(malformed)?;
    let (service, method) = rest.split_once('/').ok_or_else(malformed)?;
    if method.is_empty() || method.contains('/') {
        return Err(malformed());
    }
    match services.get(service) {
        Some(found) => Ok((found.as_ref(), method)),
        None => Err(Status::unimplemented(format!("unknown service {service}"))),
    }
}

async fn send_http_error(
    stream: &mut BidiRequestStream,
    status: StatusCode,
) -> Result<(), h3::error::StreamError> {
    let response = http::Response::builder()
        .status(status)
        .body(())
        .unwrap_or_default();
    stream.send_response(response).await?;
    stream.finish().await
}

/// One call handed to a service: its context, request metadata and the two halves of its
/// stream. Consumed by one of the `rpcnet::codegen` adapters.
pub struct ServerCall {
    ctx: RequestContext,
    cancel: CancelHandle,
    metadata: Metadata,
    recv: ServerRecvStream,
    responder: Responder,
    max_message_size: usize,
}

impl std::fmt::Debug for ServerCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCall")
            .field("path", &self.ctx.path())
            .field("stream_id", &self.ctx.stream_id())
            .finish_non_exhaustive()
    }
}

/// A call taken apart by an adapter: the request stream decoded as `T`, the rest kept for
/// answering.
struct Parts<T> {
    ctx: RequestContext,
    cancel: CancelHandle,
    metadata: Metadata,
    requests: Streaming<T>,
    responder: Responder,
}

impl ServerCall {
    fn into_parts<T>(self) -> Parts<T> {
        let requests = Streaming::new(
            transport::RecvBody::Server(self.recv),
            Side::Server,
            self.max_message_size,
            self.ctx.deadline(),
        );
        Parts {
            ctx: self.ctx,
            cancel: self.cancel,
            metadata: self.metadata,
            requests,
            responder: self.responder,
        }
    }
}

/// Sends response headers, messages and the final status for one call.
struct Responder {
    send: Option<ResetOnDrop<ServerSendStream>>,
    headers_sent: bool,
    buf: BytesMut,
}

impl Responder {
    fn new(send: ServerSendStream) -> Self {
        Responder {
            send: Some(ResetOnDrop::new(send)),
            headers_sent: false,
            buf: BytesMut::new(),
        }
    }

    fn stream(&mut self) -> Result<&mut ServerSendStream, Status> {
        match self.send.as_mut() {
            Some(send) => Ok(send.get()),
            None => Err(Status::cancelled("the call already ended")),
        }
    }

    /// Sends the response headers (`:status 200`, content-type and custom metadata).
    async fn send_headers(&mut self, metadata: &Metadata) -> Result<(), Status> {
        let mut response = http::Response::new(());
        metadata.append_to(response.headers_mut());
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, grpc_content_type());
        self.stream()?
            .send_response(response)
            .await
            .map_err(|e| transport::status_from_stream_error(&e, false))?;
        self.headers_sent = true;
        Ok(())
    }

    /// Sends what `buf` holds as one DATA frame.
    async fn flush(&mut self) -> Result<(), Status> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = self.buf.split().freeze();
        self.stream()?
            .send_data(data)
            .await
            .map_err(|e| transport::status_from_stream_error(&e, false))
    }

    /// Ends the call with `status`: in trailers after a response, or as a Trailers-Only
    /// response when nothing was sent yet.
    async fn finish(&mut self, status: Status) {
        let Some(mut send) = self.send.take() else {
            return;
        };
        if status.code() != crate::Code::Ok {
            debug!(code = %status.code(), message = status.message(), "call failed");
        }
        let mut headers = HeaderMap::new();
        status.add_to_headers(&mut headers);
        let result = if self.headers_sent {
            send.get().send_trailers(headers).await
        } else {
            let mut response = http::Response::new(());
            *response.headers_mut() = headers;
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, grpc_content_type());
            send.get().send_response(response).await
        };
        if result.is_ok() && send.get().finish().await.is_ok() {
            send.disarm();
        }
        // On error the guard resets the stream as it drops.
    }

    /// Abandons the call: the send half is reset with H3_REQUEST_CANCELLED.
    fn reset(&mut self) {
        self.send = None;
    }
}

fn grpc_content_type() -> HeaderValue {
    HeaderValue::from_static(codec::CONTENT_TYPE)
}

/// Waits for `fut`; `None` if the deadline passes first. (A client that goes away is noticed
/// by `handle_request`, which cancels the call around the adapter.)
async fn before_deadline<T>(
    fut: Pin<&mut impl Future<Output = T>>,
    deadline: Option<Instant>,
) -> Option<T> {
    tokio::select! {
        out = fut => Some(out),
        _ = sleep_until(deadline) => None,
    }
}

/// Ends a call whose deadline passed: DEADLINE_EXCEEDED to the client (which enforces the
/// same deadline itself, so it reports that even if the trailers are lost), cancellation to
/// the handler. The handler's request stream, once dropped, stops the client's upload with
/// H3_REQUEST_CANCELLED.
async fn expire(responder: &mut Responder, cancel: &CancelHandle) {
    cancel.cancel();
    responder
        .finish(Status::deadline_exceeded("deadline exceeded"))
        .await;
}

/// Runs a handler under the call's deadline and cancellation. An interrupted handler is
/// given `CANCEL_GRACE` to notice `RequestContext::cancelled` and wind down, then dropped.
async fn supervise<T>(fut: impl Future<Output = T>, parts: &mut Parts<impl Sized>) -> Option<T> {
    let mut fut = std::pin::pin!(fut);
    let out = before_deadline(fut.as_mut(), parts.ctx.deadline()).await;
    if out.is_none() {
        expire(&mut parts.responder, &parts.cancel).await;
        let _ = tokio::time::timeout(CANCEL_GRACE, fut).await;
    }
    out
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Reads the one request message of a unary or server-streaming call and the end of the
/// request stream after it, as grpc-java does before it runs the handler: a second message, or
/// malformed bytes after the first, fail the call instead of being ignored.
async fn single_request<T: prost::Message + Default + 'static>(
    parts: &mut Parts<T>,
) -> Result<T, Status> {
    let Some(message) = parts.requests.message().await? else {
        return Err(Status::internal(
            "the request stream ended without a message",
        ));
    };
    match parts.requests.message().await? {
        None => Ok(message),
        Some(_) => Err(Status::internal(
            "more than one request message for a method that takes one",
        )),
    }
}

pub(crate) async fn run_unary<Req, Resp, F, Fut>(call: ServerCall, handler: F)
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + 'static,
    F: FnOnce(RequestContext, Request<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
{
    let mut parts = call.into_parts::<Req>();
    let message = match single_request(&mut parts).await {
        Ok(found) => found,
        Err(status) => return parts.responder.finish(status).await,
    };
    let request = Request::from_parts(std::mem::take(&mut parts.metadata), message);
    let fut = handler(parts.ctx.clone(), request);
    if let Some(result) = supervise(fut, &mut parts).await {
        respond_unary(&mut parts, result).await;
    }
}

pub(crate) async fn run_client_streaming<Req, Resp, F, Fut>(call: ServerCall, handler: F)
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + 'static,
    F: FnOnce(RequestContext, Request<Streaming<Req>>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
{
    let mut parts = call.into_parts::<Req>();
    let requests = std::mem::replace(&mut parts.requests, Streaming::ended());
    let request = Request::from_parts(std::mem::take(&mut parts.metadata), requests);
    let fut = handler(parts.ctx.clone(), request);
    if let Some(result) = supervise(fut, &mut parts).await {
        respond_unary(&mut parts, result).await;
    }
}

pub(crate) async fn run_server_streaming<Req, Resp, F, Fut>(call: ServerCall, handler: F)
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + 'static,
    F: FnOnce(RequestContext, Request<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Resp>>, Status>> + Send + 'static,
{
    let mut parts = call.into_parts::<Req>();
    let message = match single_request(&mut parts).await {
        Ok(found) => found,
        Err(status) => return parts.responder.finish(status).await,
    };
    let request = Request::from_parts(std::mem::take(&mut parts.metadata), message);
    let fut = handler(parts.ctx.clone(), request);
    if let Some(result) = supervise(fut, &mut parts).await {
        respond_streaming(&mut parts, result).await;
    }
}

pub(crate) async fn run_bidi_streaming<Req, Resp, F, Fut>(call: ServerCall, handler: F)
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + 'static,
    F: FnOnce(RequestContext, Request<Streaming<Req>>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Resp>>, Status>> + Send + 'static,
{
    let mut parts = call.into_parts::<Req>();
    let requests = std::mem::replace(&mut parts.requests, Streaming::ended());
    let request = Request::from_parts(std::mem::take(&mut parts.metadata), requests);
    let fut = handler(parts.ctx.clone(), request);
    if let Some(result) = supervise(fut, &mut parts).await {
        respond_streaming(&mut parts, result).await;
    }
}

pub(crate) async fn run_unimplemented(call: ServerCall) {
    let status = Status::unimplemented(format!("unknown method {}", call.ctx.path()));
    let mut parts = call.into_parts::<()>();
    parts.responder.finish(status).await;
}

async fn respond_unary<T, Resp: prost::Message>(
    parts: &mut Parts<T>,
    result: Result<Response<Resp>, Status>,
) {
    let response = match result {
        Ok(response) => response,
        Err(status) => return parts.responder.finish(status).await,
    };
    let (metadata, message) = response.into_parts();
    let responder = &mut parts.responder;
    let sent = async {
        responder.send_headers(&metadata).await?;
        codec::encode(&message, &mut responder.buf);
        responder.flush().await
    }
    .await;
    match sent {
        Ok(()) => parts.responder.finish(Status::ok("")).await,
        Err(status) => {
            debug!(%status, "client went away before the response was sent");
            parts.cancel.cancel();
            parts.responder.reset();
        }
    }
}

async fn respond_streaming<T, Resp: prost::Message>(
    parts: &mut Parts<T>,
    result: Result<Response<ResponseStream<Resp>>, Status>,
) {
    let response = match result {
        Ok(response) => response,
        Err(status) => return parts.responder.finish(status).await,
    };
    let (metadata, mut stream) = response.into_parts();
    if let Err(status) = parts.responder.send_headers(&metadata).await {
        debug!(%status, "client went away before the response headers were sent");
        parts.cancel.cancel();
        return parts.responder.reset();
    }
    let deadline = parts.ctx.deadline();
    loop {
        let Some(next) = before_deadline(std::pin::pin!(stream.next()), deadline).await else {
            return expire(&mut parts.responder, &parts.cancel).await;
        };
        let mut end = match next {
            None => Some(Status::ok("")),
            Some(Err(status)) => Some(status),
            Some(Ok(message)) => {
                codec::encode(&message, &mut parts.responder.buf);
                None
            }
        };
        // Coalesce whatever else is ready right now into the same DATA frame.
        while end.is_none() && parts.responder.buf.len() < COALESCE_BYTES {
            match stream.next().now_or_never() {
                Some(Some(Ok(message))) => codec::encode(&message, &mut parts.responder.buf),
                Some(Some(Err(status))) => end = Some(status),
                Some(None) => end = Some(Status::ok("")),
                None => break,
            }
        }
        if let Err(status) = parts.responder.flush().await {
            debug!(%status, "client stopped receiving");
            parts.cancel.cancel();
            return parts.responder.reset();
        }
        if let Some(status) = end {
            return parts.responder.finish(status).await;
        }
    }
}
