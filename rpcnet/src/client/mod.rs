//! The client: one connection (HTTP/3, HTTP/2, or raced; re-dialled only when it died)
//! multiplexing calls of all four kinds, with per-call deadlines, metadata and cancellation
//! on drop.
//!
//! Modules: `config` (settings and the transport choice), `conn` (dialling and opening
//! streams on either transport). The call rules are the call core's (`crate::call_core`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use futures_core::Stream;
use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;
use tracing::debug;

use crate::call_core::head::{self, ResponseHead};
use crate::call_core::Side;
use crate::codec;
use crate::streaming::{AbortOnDrop, COALESCE_BYTES};
use crate::transport::{ClientSend, PendingResponse};
use crate::{Error, Metadata, Request, Response, Status, Streaming, Transport};

mod config;
mod conn;

pub use config::{ClientConfig, ClientTransport};
use conn::{Conn, Dialer};

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
    dialer: Dialer,
    mode: ClientTransport,
    max_message_size: usize,
    /// The current connection. A std mutex, held only to look at or replace the value (never
    /// across an await): every call takes it, and a tokio mutex here cost an async
    /// acquisition per call and made concurrent callers queue behind each other.
    connection: std::sync::Mutex<Option<Conn>>,
    /// Held while dialling, so that callers who find the connection dead dial once and the
    /// others wait for that result instead of dialling too.
    dialing: tokio::sync::Mutex<()>,
    opened: AtomicU64,
    /// Set once an HTTP/3 upgrade was tried after an `alt-svc` advertisement (automatic mode
    /// tries once per HTTP/2 connection).
    upgrade_tried: AtomicBool,
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
        let dialer = Dialer {
            addr,
            server_name: config.server_name.clone(),
            endpoint,
            quinn_config: config.quinn_config()?,
            h2_tls: config.h2_tls(),
            connect_timeout: config.connect_timeout,
            max_header_list_size: config.max_header_list_size,
            keep_alive: config.keep_alive,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                addr,
                authority: format!("{}:{}", config.server_name, addr.port()),
                dialer,
                mode: config.transport,
                max_message_size: config.max_message_size,
                connection: std::sync::Mutex::new(None),
                dialing: tokio::sync::Mutex::new(()),
                opened: AtomicU64::new(0),
                upgrade_tried: AtomicBool::new(false),
            }),
        })
    }

    /// How many connections this client has made and used, over either transport (a
    /// connection that lost the race in automatic mode is not counted).
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

    /// The transport of the current connection, if there is a live one.
    pub fn transport(&self) -> Option<Transport> {
        self.inner.live().map(|conn| conn.transport())
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
            let trailers = stream.trailers().cloned().unwrap_or_default();
            Ok(Response::from_parts(metadata, message).with_trailers(trailers))
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
            let (conn, send, recv) = self.inner.start(path, &metadata, timeout).await?;
            let uploader = AbortOnDrop(tokio::spawn(upload(send, requests)));
            let (metadata, mut stream) = self
                .inner
                .response_head::<Resp>(&conn, recv, deadline)
                .await?;
            let message = single_response(&mut stream).await?;
            drop(uploader);
            let trailers = stream.trailers().cloned().unwrap_or_default();
            Ok(Response::from_parts(metadata, message).with_trailers(trailers))
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
            let (conn, send, recv) = self.inner.start(path, &metadata, timeout).await?;
            let uploader = AbortOnDrop(tokio::spawn(upload(send, requests)));
            let (metadata, stream) = self
                .inner
                .response_head::<Resp>(&conn, recv, deadline)
                .await?;
            Ok(Response::from_parts(metadata, stream.with_guard(uploader)))
        };
        with_deadline(deadline, call).await
    }
}

impl Inner {
    /// The live connection, dialling a new one if there is none or it died.
    async fn connection(self: &Arc<Self>) -> Result<Conn, Error> {
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        let _dialing = self.dialing.lock().await;
        // Whoever held the dial lock before us may have connected already.
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        // Drop the dead connection now rather than keep it until the dial ends.
        self.slot().take();
        let number = self.opened.load(Ordering::Relaxed) + 1;
        let conn = match self.mode {
            ClientTransport::Http3 => self.dialer.dial_h3(number).await?,
            ClientTransport::Http2 => self.dialer.dial_h2(number).await?,
            ClientTransport::Auto => self.dialer.dial_auto(number).await?,
        };
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.upgrade_tried.store(false, Ordering::Relaxed);
        *self.slot() = Some(conn.clone());
        Ok(conn)
    }

    /// A handle on the current connection if it is still open.
    fn live(&self) -> Option<Conn> {
        let slot = self.slot();
        let existing = slot.as_ref()?;
        existing.is_live().then(|| existing.clone())
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Conn>> {
        // The slot holds a plain value replaced in one assignment, so a panic elsewhere while
        // it was locked cannot have left it half-updated.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// In automatic mode, an HTTP/2 server that advertises HTTP/3 (`alt-svc: h3=...` for
    /// this port) gets a QUIC dial in the background; when it succeeds, new calls go there
    /// and the HTTP/2 connection ends with its last call.
    fn consider_upgrade(self: &Arc<Self>, headers: &http::HeaderMap) {
        if self.mode != ClientTransport::Auto || !advertises_h3(headers, self.addr.port()) {
            return;
        }
        if !matches!(self.live(), Some(Conn::H2 { .. }))
            || self.upgrade_tried.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move {
            let number = inner.opened.load(Ordering::Relaxed) + 1;
            match inner.dialer.dial_h3(number).await {
                Ok(conn) => {
                    let _dialing = inner.dialing.lock().await;
                    inner.opened.fetch_add(1, Ordering::Relaxed);
                    debug!(server = %inner.addr, "moved to HTTP/3 after the server advertised it");
                    *inner.slot() = Some(conn);
                }
                Err(err) => {
                    debug!(error = %err, "HTTP/3 advertised but not reachable; staying on HTTP/2")
                }
            }
        });
    }

    /// Opens the call's stream and sends its request head; returns the connection too, which
    /// explains the call's failure if the server refused it.
    async fn start(
        self: &Arc<Self>,
        path: &'static str,
        metadata: &Metadata,
        timeout: Option<Duration>,
    ) -> Result<(Conn, ClientSend, PendingResponse), Status> {
        let mut conn = self
            .connection()
            .await
            .map_err(|err| Status::unavailable(err.to_string()).with_tls_alert(err.tls_alert()))?;
        let uri = http::Uri::builder()
            .scheme("https")
            .authority(self.authority.as_str())
            .path_and_query(path)
            .build()
            .map_err(|e| Status::internal(format!("invalid method path {path:?}: {e}")))?;
        let mut request = http::Request::post(uri)
            .body(())
            .map_err(|e| Status::internal(format!("cannot build request: {e}")))?;
        *request.headers_mut() = head::request_headers(metadata, timeout);
        match conn.open(request).await {
            Ok((send, pending)) => Ok((conn, send, pending)),
            Err(err) => Err(conn.explain(err).status(Side::Client)),
        }
    }

    /// Sends a call's single request message (unary and server-streaming calls) and reads
    /// the response headers.
    async fn one_request<Req: prost::Message, Resp>(
        self: &Arc<Self>,
        path: &'static str,
        metadata: &Metadata,
        message: &Req,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Result<(Metadata, Streaming<Resp>), Status> {
        let (conn, mut send, recv) = self.start(path, metadata, timeout).await?;
        let data = codec::encode_to_bytes(message);
        let sent = match send.send_data(data).await {
            Ok(()) => send.finish().await,
            Err(err) => Err(err),
        };
        if let Err(sent) = sent {
            // A server may answer before it read the whole request and then stop the request
            // stream: refusing an oversized message or an unknown method, or (RFC 9114 4.1)
            // with H3_NO_ERROR after a complete response. Its answer explains the call, the
            // send error does not, and a complete response must not be discarded; if the
            // stream is truly gone, reading the answer fails with the same cause.
            debug!(error = %sent, "request stream stopped early; reading the answer");
        }
        self.response_head(&conn, recv, deadline).await
    }

    /// Reads the response head: a gRPC error (Trailers-Only or a non-200 answer) becomes
    /// `Err`, otherwise the metadata and the message stream.
    async fn response_head<T>(
        self: &Arc<Self>,
        conn: &Conn,
        pending: PendingResponse,
        deadline: Option<Instant>,
    ) -> Result<(Metadata, Streaming<T>), Status> {
        let (http_status, headers, recv) = pending
            .head()
            .await
            .map_err(|e| conn.explain(e).status(Side::Client))?;
        self.consider_upgrade(&headers);
        match head::check_response(http_status, &headers)? {
            ResponseHead::TrailersOnly(status) => {
                let trailers = status.metadata().clone();
                Ok((
                    Metadata::from_headers(&headers),
                    Streaming::ended(Some(trailers)),
                ))
            }
            ResponseHead::Messages(metadata) => {
                let stream = Streaming::new(recv, Side::Client, self.max_message_size, deadline);
                Ok((metadata, stream))
            }
        }
    }
}

/// Whether `alt-svc` offers HTTP/3 on `port` of the same host (`h3=":<port>"`).
fn advertises_h3(headers: &http::HeaderMap, port: u16) -> bool {
    let wanted = format!("h3=\":{port}\"");
    headers
        .get_all(http::header::ALT_SVC)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| {
            value
                .split(',')
                .any(|entry| entry.trim().starts_with(&wanted))
        })
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
/// drops the send half, which resets the stream (cancel).
async fn upload<M, S>(mut send: ClientSend, requests: S)
where
    M: prost::Message,
    S: Stream<Item = M> + Send,
{
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
        if let Err(err) = send.send_data(buf.split().freeze()).await {
            debug!(error = %err, "request stream stopped");
            return;
        }
        if !more {
            break;
        }
    }
    if let Err(err) = send.finish().await {
        debug!(error = %err, "request stream could not be finished");
    }
}
