//! The client: one QUIC connection (re-dialled only when it died) multiplexing calls of all
//! four kinds, with per-call deadlines, metadata and cancellation on drop.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::{FutureExt, StreamExt};
use http::{HeaderValue, StatusCode};
use tokio::time::Instant;
use tracing::{debug, info_span, Instrument};

use crate::codec::{self, DEFAULT_MAX_MESSAGE_SIZE};
use crate::streaming::{AbortOnDrop, Side, COALESCE_BYTES};
use crate::transport::{self, ClientRecvStream, ClientSendStream, ResetOnDrop};
use crate::{tls, Error, Metadata, Request, Response, Status, Streaming};

/// Client settings. The server is always verified against the CA given to `new`.
#[derive(Clone)]
pub struct ClientConfig {
    crypto: Arc<rustls::ClientConfig>,
    ca: std::path::PathBuf,
    server_name: String,
    max_message_size: usize,
    max_header_list_size: u64,
    keep_alive: Option<Duration>,
    idle_timeout: Duration,
    connect_timeout: Duration,
    udp_buffer_size: usize,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("ca", &self.ca)
            .field("server_name", &self.server_name)
            .field("max_message_size", &self.max_message_size)
            .field("keep_alive", &self.keep_alive)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// Trusts servers whose certificate chains to a CA in `ca_pem`. There is no way to turn
    /// verification off.
    pub fn new(ca_pem: impl AsRef<Path>) -> Result<Self, Error> {
        let ca = ca_pem.as_ref().to_path_buf();
        let crypto = tls::client_config(&ca, None)?;
        Ok(ClientConfig {
            crypto: Arc::new(crypto),
            ca,
            server_name: "localhost".to_string(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_header_list_size: 16 * 1024,
            // Below the idle timeout, so quiet long-lived streams stay up.
            keep_alive: Some(Duration::from_secs(5)),
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            udp_buffer_size: crate::socket::DEFAULT_UDP_BUFFER,
        })
    }

    /// The name the server certificate must carry (default `localhost`).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = name.into();
        self
    }

    /// Presents this client certificate (mTLS).
    pub fn identity(
        mut self,
        cert_pem: impl AsRef<Path>,
        key_pem: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let crypto = tls::client_config(&self.ca, Some((cert_pem.as_ref(), key_pem.as_ref())))?;
        self.crypto = Arc::new(crypto);
        Ok(self)
    }

    /// Largest response message accepted, in bytes (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// QUIC PING interval (default 5 s). With a short idle timeout it detects a dead server
    /// quickly.
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = Some(interval);
        self
    }

    /// Closes the connection after this long without hearing from the server (default 30 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Gives up a handshake after this long (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Kernel receive and send buffer requested for the client's UDP socket (default 4 MiB,
    /// capped by the kernel).
    pub fn udp_buffer_size(mut self, bytes: usize) -> Self {
        self.udp_buffer_size = bytes;
        self
    }

    fn quinn_config(&self) -> Result<quinn::ClientConfig, Error> {
        let mut config = tls::quic_client_config((*self.crypto).clone())?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(crate::server::idle_timeout(self.idle_timeout)?))
            .keep_alive_interval(self.keep_alive);
        config.transport_config(Arc::new(transport));
        Ok(config)
    }
}

/// A connection to one server. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("remote_addr", &self.inner.addr)
            .field("connections_opened", &self.connections_opened())
            .finish_non_exhaustive()
    }
}

struct Inner {
    addr: SocketAddr,
    authority: String,
    server_name: String,
    endpoint: quinn::Endpoint,
    quinn_config: quinn::ClientConfig,
    connect_timeout: Duration,
    max_message_size: usize,
    max_header_list_size: u64,
    /// The current connection. A std mutex, held only to look at or replace the value (never
    /// across an await): every call takes it, and a tokio mutex here cost an async
    /// acquisition per call and made concurrent callers queue behind each other.
    connection: std::sync::Mutex<Option<Established>>,
    /// Held while dialling, so that callers who find the connection dead dial once and the
    /// others wait for that result instead of dialling too.
    dialing: tokio::sync::Mutex<()>,
    opened: AtomicU64,
}

struct Established {
    quic: quinn::Connection,
    send_request: h3::client::SendRequest<crate::quic::OpenStreams, Bytes>,
}

impl Client {
    /// Connects now, so that an unreachable server or a TLS failure is reported here.
    pub async fn connect(addr: SocketAddr, config: ClientConfig) -> Result<Client, Error> {
        let client = Client::lazy(addr, config)?;
        client.inner.connection().await?;
        Ok(client)
    }

    /// Prepares a client that connects on its first call (and again after a lost connection).
    pub fn lazy(addr: SocketAddr, config: ClientConfig) -> Result<Client, Error> {
        let bind: SocketAddr = if addr.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let endpoint = crate::socket::endpoint(bind, None, config.udp_buffer_size)
            .map_err(|source| Error::Bind { addr: bind, source })?;
        let quinn_config = config.quinn_config()?;
        Ok(Client {
            inner: Arc::new(Inner {
                addr,
                authority: format!("{}:{}", config.server_name, addr.port()),
                server_name: config.server_name,
                endpoint,
                quinn_config,
                connect_timeout: config.connect_timeout,
                max_message_size: config.max_message_size,
                max_header_list_size: config.max_header_list_size,
                connection: std::sync::Mutex::new(None),
                dialing: tokio::sync::Mutex::new(()),
                opened: AtomicU64::new(0),
            }),
        })
    }

    /// How many QUIC connections (handshakes) this client has made.
    pub fn connections_opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// The server address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Whether a live connection exists right now (no dial is attempted).
    pub async fn is_connected(&self) -> bool {
        self.inner.live().is_some()
    }

    /// A unary call.
    pub async fn unary<Req, Resp>(
        &self,
        path: &'static str,
        request: Request<Req>,
    ) -> Result<Response<Resp>, Status>
    where
        Req: prost::Message + Send + 'static,
        Resp: prost::Message + Default + Send + 'static,
    {
        let (metadata, message, timeout) = request.into_parts();
        let deadline = timeout.map(|t| Instant::now() + t);
        let call = async {
            let (metadata, mut stream) = self
                .inner
                .one_request::<Req, Resp>(path, &metadata, &message, timeout, deadline)
                .await?;
            let message = single_response(&mut stream).await?;
            Ok(Response::from_parts(metadata, message))
        };
        with_deadline(deadline, call).await
    }

    /// A server-streaming call: one request, a stream of responses.
    pub async fn server_streaming<Req, Resp>(
        &self,
        path: &'static str,
        request: Request<Req>,
    ) -> Result<Response<Streaming<Resp>>, Status>
    where
        Req: prost::Message + Send + 'static,
        Resp: prost::Message + Default + Send + 'static,
    {
        let (metadata, message, timeout) = request.into_parts();
        let deadline = timeout.map(|t| Instant::now() + t);
        let call = async {
            let (metadata, stream) = self
                .inner
                .one_request::<Req, Resp>(path, &metadata, &message, timeout, deadline)
                .await?;
            Ok(Response::from_parts(metadata, stream))
        };
        with_deadline(deadline, call).await
    }

    /// A client-streaming call: a stream of requests, one response.
    pub async fn client_streaming<Req, Resp, S>(
        &self,
        path: &'static str,
        request: Request<S>,
    ) -> Result<Response<Resp>, Status>
    where
        Req: prost::Message + Send + 'static,
        Resp: prost::Message + Default + Send + 'static,
        S: Stream<Item = Req> + Send + 'static,
    {
        let (metadata, requests, timeout) = request.into_parts();
        let deadline = timeout.map(|t| Instant::now() + t);
        let call = async {
            let (send, recv) = self.inner.start(path, &metadata, timeout).await?;
            let uploader = AbortOnDrop(tokio::spawn(upload(send, requests)));
            let (metadata, mut stream) = self.inner.response_head::<Resp>(recv, deadline).await?;
            let message = single_response(&mut stream).await?;
            drop(uploader);
            Ok(Response::from_parts(metadata, message))
        };
        with_deadline(deadline, call).await
    }

    /// A bidirectional-streaming call. Requests are sent as the stream yields them while
    /// responses are read; dropping the returned `Streaming` cancels both directions.
    pub async fn bidi_streaming<Req, Resp, S>(
        &self,
        path: &'static str,
        request: Request<S>,
    ) -> Result<Response<Streaming<Resp>>, Status>
    where
        Req: prost::Message + Send + 'static,
        Resp: prost::Message + Default + Send + 'static,
        S: Stream<Item = Req> + Send + 'static,
    {
        let (metadata, requests, timeout) = request.into_parts();
        let deadline = timeout.map(|t| Instant::now() + t);
        let call = async {
            let (send, recv) = self.inner.start(path, &metadata, timeout).await?;
            let uploader = AbortOnDrop(tokio::spawn(upload(send, requests)));
            let (metadata, stream) = self.inner.response_head::<Resp>(recv, deadline).await?;
            Ok(Response::from_parts(metadata, stream.with_guard(uploader)))
        };
        with_deadline(deadline, call).await
    }
}

impl Inner {
    /// The live connection, dialling a new one if there is none or it died.
    async fn connection(
        &self,
    ) -> Result<h3::client::SendRequest<crate::quic::OpenStreams, Bytes>, Error> {
        if let Some(send_request) = self.live() {
            return Ok(send_request);
        }
        let _dialing = self.dialing.lock().await;
        // Whoever held the dial lock before us may have connected already.
        if let Some(send_request) = self.live() {
            return Ok(send_request);
        }
        // Drop the dead connection now rather than keep it until the dial ends.
        self.slot().take();
        let established = self.dial().await?;
        let send_request = established.send_request.clone();
        *self.slot() = Some(established);
        Ok(send_request)
    }

    /// A handle on the current connection if it is still open.
    fn live(&self) -> Option<h3::client::SendRequest<crate::quic::OpenStreams, Bytes>> {
        let slot = self.slot();
        let existing = slot.as_ref()?;
        existing
            .quic
            .close_reason()
            .is_none()
            .then(|| existing.send_request.clone())
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Established>> {
        // The slot holds a plain value replaced in one assignment, so a panic elsewhere while
        // it was locked cannot have left it half-updated.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn dial(&self) -> Result<Established, Error> {
        let addr = self.addr;
        let connecting = self
            .endpoint
            .connect_with(self.quinn_config.clone(), addr, &self.server_name)
            .map_err(|source| Error::Connect { addr, source })?;
        let quic = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| Error::ConnectTimeout {
                addr,
                timeout: self.connect_timeout,
            })?
            .map_err(|source| Error::Connection { addr, source })?;
        let number = self.opened.fetch_add(1, Ordering::Relaxed) + 1;
        debug!(%addr, connection = number, "QUIC connection established");
        let (mut driver, send_request) = h3::client::builder()
            .max_field_section_size(self.max_header_list_size)
            .build::<_, _, Bytes>(crate::quic::Connection::new(quic.clone()))
            .await
            .map_err(|e| Error::H3 {
                addr,
                detail: e.to_string(),
            })?;
        let span = info_span!("client_connection", server = %addr, connection = number);
        tokio::spawn(
            async move {
                let err = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
                if !transport::is_graceful(&err) {
                    debug!(reason = %transport::describe_connection_error(&err), "connection closed");
                }
            }
            .instrument(span),
        );
        Ok(Established { quic, send_request })
    }

    /// Opens the call's stream and sends its request headers.
    async fn start(
        &self,
        path: &'static str,
        metadata: &Metadata,
        timeout: Option<Duration>,
    ) -> Result<(ClientSendStream, ClientRecvStream), Status> {
        let mut send_request = self
            .connection()
            .await
            .map_err(|err| Status::unavailable(err.to_string()))?;
        let uri = http::Uri::builder()
            .scheme("https")
            .authority(self.authority.as_str())
            .path_and_query(path)
            .build()
            .map_err(|e| Status::internal(format!("invalid method path {path:?}: {e}")))?;
        let mut request = http::Request::post(uri)
            .body(())
            .map_err(|e| Status::internal(format!("cannot build request: {e}")))?;
        let headers = request.headers_mut();
        metadata.append_to(headers);
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(codec::CONTENT_TYPE),
        );
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("rpcnet/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(timeout) = timeout {
            if let Ok(value) = HeaderValue::from_str(&crate::timeout::encode(timeout)) {
                headers.insert("grpc-timeout", value);
            }
        }
        let stream = send_request
            .send_request(request)
            .await
            .map_err(|e| transport::status_from_stream_error(&e, true))?;
        Ok(stream.split())
    }

    /// Sends a call's single request message (unary and server-streaming calls) and reads
    /// the response headers.
    async fn one_request<Req: prost::Message, Resp>(
        &self,
        path: &'static str,
        metadata: &Metadata,
        message: &Req,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Result<(Metadata, Streaming<Resp>), Status> {
        let (send, recv) = self.start(path, metadata, timeout).await?;
        let mut send = ResetOnDrop::new(send);
        match send_one(send.get(), message).await {
            Ok(()) => drop(send.disarm()),
            // A server may answer before it read the whole request and then stop the request
            // stream: refusing an oversized message or an unknown method, or (RFC 9114 4.1)
            // with H3_NO_ERROR after a complete response. Its answer explains the call, the
            // send error does not, and a complete response must not be discarded; if the
            // stream is truly gone, reading the answer fails with the same cause.
            Err(sent) => debug!(status = %sent, "request stream stopped early; reading the answer"),
        }
        self.response_head(recv, deadline).await
    }

    /// Reads the response headers: a gRPC error (Trailers-Only or a non-200 answer) becomes
    /// `Err`, otherwise the metadata and the message stream.
    async fn response_head<T>(
        &self,
        mut recv: ClientRecvStream,
        deadline: Option<Instant>,
    ) -> Result<(Metadata, Streaming<T>), Status> {
        let response = recv
            .recv_response()
            .await
            .map_err(|e| transport::status_from_stream_error(&e, true))?;
        let headers = response.headers();
        if let Some(status) = Status::from_headers(headers) {
            // Trailers-Only: the whole answer is in this one header block.
            if status.code() != crate::Code::Ok {
                return Err(status);
            }
            return Ok((Metadata::from_headers(headers), Streaming::ended()));
        }
        if response.status() != StatusCode::OK {
            return Err(Status::from_http_status(response.status().as_u16()));
        }
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !content_type.starts_with(codec::CONTENT_TYPE.as_bytes()) {
            return Err(Status::unknown(format!(
                "the server answered with content-type {:?}, not gRPC",
                String::from_utf8_lossy(content_type)
            )));
        }
        let metadata = Metadata::from_headers(headers);
        let stream = Streaming::new(
            transport::RecvBody::Client(recv),
            Side::Client,
            self.max_message_size,
            deadline,
        );
        Ok((metadata, stream))
    }
}

/// Runs a call's set-up under its deadline.
async fn with_deadline<T>(
    deadline: Option<Instant>,
    call: impl std::future::Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, call)
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("deadline exceeded"))),
        None => call.await,
    }
}

/// Sends a single request message and ends the request stream.
async fn send_one<M: prost::Message>(
    send: &mut ClientSendStream,
    message: &M,
) -> Result<(), Status> {
    let data = codec::encode_to_bytes(message);
    send.send_data(data)
        .await
        .map_err(|e| transport::status_from_stream_error(&e, true))?;
    send.finish()
        .await
        .map_err(|e| transport::status_from_stream_error(&e, true))
}

/// Reads exactly one response message and the OK status after it.
async fn single_response<T: prost::Message + Default>(
    stream: &mut Streaming<T>,
) -> Result<T, Status> {
    let message = stream
        .message()
        .await?
        .ok_or_else(|| Status::internal("the server sent no response message"))?;
    match stream.message().await? {
        None => Ok(message),
        Some(_) => Err(Status::internal(
            "the server sent more than one message for a unary response",
        )),
    }
}

/// Streams request messages to the server, then ends the request stream. Aborting the task
/// drops the guard, which resets the stream with H3_REQUEST_CANCELLED.
async fn upload<M, S>(send: ClientSendStream, requests: S)
where
    M: prost::Message,
    S: Stream<Item = M> + Send,
{
    let mut send = ResetOnDrop::new(send);
    let mut requests = std::pin::pin!(requests);
    let mut buf = BytesMut::new();
    while let Some(message) = requests.next().await {
        codec::encode(&message, &mut buf);
        let mut more = true;
        while more && buf.len() < COALESCE_BYTES {
            match requests.next().now_or_never() {
                Some(Some(message)) => codec::encode(&message, &mut buf),
                Some(None) => more = false,
                None => break,
            }
        }
        if let Err(err) = send.get().send_data(buf.split().freeze()).await {
            debug!(status = %transport::status_from_stream_error(&err, true), "request stream stopped");
            return;
        }
        if !more {
            break;
        }
    }
    if send.get().finish().await.is_ok() {
        send.disarm();
    }
}
