//! Our own `h3::quic` adapter over quinn, plus the registry of STOP_SENDING notices for servers.
//!
//! It replaces h3-quinn 0.0.10 for two reasons:
//!
//! - h3-quinn moves the quinn `RecvStream` into a boxed read future and `unwrap`s it back for
//!   `stop_sending` and `recv_id`, so cancelling a call while a read was in flight panicked
//!   (h3 issue 330). Here [`RecvStream`] keeps the quinn stream in place and reads through a
//!   read future made and dropped within each poll, so every method is safe at any time.
//! - h3 only learns of a peer's STOP_SENDING on its next write, which an idle streaming handler
//!   may never make. quinn's `SendStream::stopped()` resolves on it; for every accepted
//!   bidirectional stream that future is parked in a [`StoppedRegistry`], from which the
//!   runtime takes it by stream id and awaits it beside the handler.
//!
//! No error from the network panics here: every quinn error variant is mapped to h3's
//! `StreamErrorIncoming`/`ConnectionErrorIncoming`, and codes QUIC cannot carry are replaced.

// The runtime still runs on h3-quinn until it switches to this adapter; until then only the
// tests use these items.

use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use h3::error::Code;
use h3::quic::{ConnectionErrorIncoming, StreamErrorIncoming, StreamId, WriteBuf};

/// How many stopped futures a connection parks when the caller does not say.
///
/// Entries live exactly as long as an accepted stream's send half (see [`StoppedRegistry`]), so
/// the number of entries follows the number of live streams, which quinn caps at the
/// connection's concurrent-stream limit (100 by default, 256 in rpcnet's server config). The cap
/// is a backstop with room to spare: a stream's QUIC state can be freed, and the peer allowed a
/// new one, a moment before our handle of the old one is dropped.
pub(crate) const DEFAULT_STOPPED_CAPACITY: usize = 1024;

/// `H3_INTERNAL_ERROR`, sent in place of a code that does not fit a QUIC varint (2^62 and up).
/// h3's own codes all fit, so this only guards against a caller's arbitrary `u64`.
const FALLBACK_CODE: quinn::VarInt = quinn::VarInt::from_u32(0x0102);

/// `H3_NO_ERROR`: the STOP_SENDING code for a receive half dropped before the peer finished,
/// as RFC 9114 section 4.1.2 asks of a server that does not need the rest of a request. (quinn
/// itself would send 0, which is not an HTTP/3 code.)
const NO_ERROR: quinn::VarInt = quinn::VarInt::from_u32(0x0100);

/// A stored accept or open future. Boxed because quinn's futures borrow the connection; each
/// box owns a clone of it instead, so it can live in the struct between polls.
type Pending<T> = Pin<Box<dyn Future<Output = Result<T, quinn::ConnectionError>> + Send + Sync>>;

/// The future the runtime takes from the [`StoppedRegistry`] and awaits beside a handler.
pub(crate) type StoppedFuture = Pin<Box<dyn Future<Output = StopNotice> + Send + Sync>>;

/// How a [`StoppedFuture`] ended.
#[derive(Debug, Clone)]
pub(crate) enum StopNotice {
    /// The peer sent STOP_SENDING with this code: it wants no more of the response, so the
    /// call is cancelled (`H3_REQUEST_CANCELLED` from an rpcnet client).
    Stopped(Code),
    /// The stream's send half is over without a stop: it was finished and the peer
    /// acknowledged all its data. Not a cancellation; keep running the handler. (After a local
    /// reset that the peer did not provoke with a stop, quinn never resolves the future before
    /// the connection ends, so stop awaiting it when the handler ends.)
    Done,
    /// The connection ended first, so nobody is left to read the response.
    ConnectionLost(ConnectionErrorIncoming),
}

/// Stopped futures of the accepted bidirectional streams of one connection, by stream id.
///
/// Bounded two ways: an entry is removed when the runtime takes it, or, if it never does (the
/// request headers never resolved, say), when the stream's [`SendStream`] is dropped; and no
/// more than `capacity` entries are held at once (a stream accepted at the cap gets no entry,
/// so its call simply gets no early stop notice). An entry holds quinn's `stopped()` future
/// unpolled, which costs quinn nothing until the runtime awaits it.
pub(crate) struct StoppedRegistry {
    capacity: usize,
    entries: Mutex<HashMap<u64, StoppedFuture>>,
}

impl StoppedRegistry {
    fn new(capacity: usize) -> Self {
        StoppedRegistry {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Takes the stopped future of the stream with this id (`RequestStream::id().into_inner()`),
    /// if it was registered and not taken before.
    pub(crate) fn take(&self, stream_id: u64) -> Option<StoppedFuture> {
        self.lock().remove(&stream_id)
    }

    /// How many futures are parked now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Parks `stopped` under `stream_id`; false if the registry is full.
    fn register<F>(&self, stream_id: u64, stopped: F) -> bool
    where
        F: Future<Output = Result<Option<quinn::VarInt>, quinn::StoppedError>>
            + Send
            + Sync
            + 'static,
    {
        let future: StoppedFuture = Box::pin(async move { stop_notice(stopped.await) });
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            tracing::debug!(
                stream.id = stream_id,
                capacity = self.capacity,
                "stopped registry full; this call gets no early stop notice"
            );
            return false;
        }
        entries.insert(stream_id, future);
        true
    }

    fn remove(&self, stream_id: u64) {
        // Bind the entry so the future is dropped after the lock is released, not under it.
        let removed = self.lock().remove(&stream_id);
        drop(removed);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, StoppedFuture>> {
        // Nothing panics while the lock is held, but a poisoned map is still a consistent map,
        // so recover it rather than propagate a panic into the network path.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A QUIC connection for h3: implements `h3::quic::Connection<Bytes>` over a `quinn::Connection`.
pub(crate) struct Connection {
    conn: quinn::Connection,
    accept_bi: Pending<(quinn::SendStream, quinn::RecvStream)>,
    accept_uni: Pending<quinn::RecvStream>,
    opener: OpenStreams,
    stopped: Arc<StoppedRegistry>,
}

impl Connection {
    /// Wraps `conn`, parking up to [`DEFAULT_STOPPED_CAPACITY`] stopped futures.
    pub(crate) fn new(conn: quinn::Connection) -> Self {
        Self::with_stopped_capacity(conn, DEFAULT_STOPPED_CAPACITY)
    }

    /// Wraps `conn`, parking up to `capacity` stopped futures. Pass at least the connection's
    /// concurrent bidirectional stream limit (twice it leaves room for the handover described
    /// at [`DEFAULT_STOPPED_CAPACITY`]).
    pub(crate) fn with_stopped_capacity(conn: quinn::Connection, capacity: usize) -> Self {
        Connection {
            accept_bi: accept_bi(&conn),
            accept_uni: accept_uni(&conn),
            opener: OpenStreams::new(conn.clone()),
            stopped: Arc::new(StoppedRegistry::new(capacity)),
            conn,
        }
    }

    /// The registry in which every accepted bidirectional stream's stopped future is parked.
    pub(crate) fn stopped_registry(&self) -> Arc<StoppedRegistry> {
        self.stopped.clone()
    }
}

impl h3::quic::Connection<Bytes> for Connection {
    type RecvStream = RecvStream;
    type OpenStreams = OpenStreams;

    fn poll_accept_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<RecvStream, ConnectionErrorIncoming>> {
        let accepted = ready!(self.accept_uni.as_mut().poll(cx));
        // A completed future must not be polled again; the next call waits for the next stream
        // (or sees the same connection error again).
        self.accept_uni = accept_uni(&self.conn);
        let recv = accepted.map_err(connection_error)?;
        let id = stream_id(recv.id())?;
        Poll::Ready(Ok(RecvStream::new(recv, id)))
    }

    fn poll_accept_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<BidiStream, ConnectionErrorIncoming>> {
        let accepted = ready!(self.accept_bi.as_mut().poll(cx));
        self.accept_bi = accept_bi(&self.conn);
        let (send, recv) = accepted.map_err(connection_error)?;
        let id = stream_id(send.id())?;
        // Registered now, before h3 reads the request headers, so that a stop arriving at any
        // point is seen: quinn's stopped() checks the stream state first when it is polled.
        let registry = self
            .stopped
            .register(id.into_inner(), send.stopped())
            .then(|| self.stopped.clone());
        Poll::Ready(Ok(BidiStream {
            send: SendStream::new(send, id, registry),
            recv: RecvStream::new(recv, id),
        }))
    }

    fn opener(&self) -> OpenStreams {
        OpenStreams::new(self.conn.clone())
    }
}

impl h3::quic::OpenStreams<Bytes> for Connection {
    type BidiStream = BidiStream;
    type SendStream = SendStream;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<BidiStream, StreamErrorIncoming>> {
        self.opener.poll_open_bidi(cx)
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<SendStream, StreamErrorIncoming>> {
        self.opener.poll_open_send(cx)
    }

    fn close(&mut self, code: Code, reason: &[u8]) {
        h3::quic::OpenStreams::<Bytes>::close(&mut self.opener, code, reason)
    }
}

/// Opens outgoing streams on a connection (what h3's `SendRequest` holds).
pub(crate) struct OpenStreams {
    conn: quinn::Connection,
    opening_bi: Option<Pending<(quinn::SendStream, quinn::RecvStream)>>,
    opening_uni: Option<Pending<quinn::SendStream>>,
}

impl OpenStreams {
    fn new(conn: quinn::Connection) -> Self {
        OpenStreams {
            conn,
            opening_bi: None,
            opening_uni: None,
        }
    }
}

impl Clone for OpenStreams {
    /// A clone opens its own streams: an open in progress stays with the original.
    fn clone(&self) -> Self {
        OpenStreams::new(self.conn.clone())
    }
}

impl h3::quic::OpenStreams<Bytes> for OpenStreams {
    type BidiStream = BidiStream;
    type SendStream = SendStream;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<BidiStream, StreamErrorIncoming>> {
        let opening = self.opening_bi.get_or_insert_with(|| {
            let conn = self.conn.clone();
            Box::pin(async move { conn.open_bi().await })
        });
        let opened = ready!(opening.as_mut().poll(cx));
        self.opening_bi = None;
        let (send, recv) = opened.map_err(stream_connection_error)?;
        let id = stream_id(send.id()).map_err(|connection_error| {
            StreamErrorIncoming::ConnectionErrorIncoming { connection_error }
        })?;
        // Streams we open are requests we send; the stop notice is for the side that answers,
        // so they are not registered.
        Poll::Ready(Ok(BidiStream {
            send: SendStream::new(send, id, None),
            recv: RecvStream::new(recv, id),
        }))
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<SendStream, StreamErrorIncoming>> {
        let opening = self.opening_uni.get_or_insert_with(|| {
            let conn = self.conn.clone();
            Box::pin(async move { conn.open_uni().await })
        });
        let opened = ready!(opening.as_mut().poll(cx));
        self.opening_uni = None;
        let send = opened.map_err(stream_connection_error)?;
        let id = stream_id(send.id()).map_err(|connection_error| {
            StreamErrorIncoming::ConnectionErrorIncoming { connection_error }
        })?;
        Poll::Ready(Ok(SendStream::new(send, id, None)))
    }

    fn close(&mut self, code: Code, reason: &[u8]) {
        self.conn.close(varint_code(code.value()), reason);
    }
}

/// A bidirectional stream; h3 splits it into its [`SendStream`] and [`RecvStream`].
pub(crate) struct BidiStream {
    send: SendStream,
    recv: RecvStream,
}

impl h3::quic::BidiStream<Bytes> for BidiStream {
    type SendStream = SendStream;
    type RecvStream = RecvStream;

    fn split(self) -> (SendStream, RecvStream) {
        (self.send, self.recv)
    }
}

impl h3::quic::RecvStream for BidiStream {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        self.recv.poll_data(cx)
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.recv.stop_sending(error_code)
    }

    fn recv_id(&self) -> StreamId {
        self.recv.recv_id()
    }
}

impl h3::quic::SendStream<Bytes> for BidiStream {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_ready(cx)
    }

    fn send_data<T: Into<WriteBuf<Bytes>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        self.send.send_data(data)
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_finish(cx)
    }

    fn reset(&mut self, reset_code: u64) {
        self.send.reset(reset_code)
    }

    fn send_id(&self) -> StreamId {
        self.send.send_id()
    }
}

impl h3::quic::SendStreamUnframed<Bytes> for BidiStream {
    fn poll_send<D: Buf>(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut D,
    ) -> Poll<Result<usize, StreamErrorIncoming>> {
        self.send.poll_send(cx, buf)
    }
}

/// The receiving half of a stream.
pub(crate) struct RecvStream {
    stream: quinn::RecvStream,
    id: StreamId,
    state: RecvState,
}

/// Where a receive half is; every state but `Reading` is final and answered the same way on
/// each later poll. (quinn itself answers a clean end after a reset or a stop, which would
/// look as if the peer had finished.)
enum RecvState {
    Reading,
    /// The peer finished the stream and all of it was read.
    Finished,
    /// The peer reset the stream with this code.
    Reset(u64),
    /// The connection failed.
    Lost(ConnectionErrorIncoming),
    /// We sent STOP_SENDING, or quinn reported the stream closed in some other way.
    Closed,
}

impl RecvStream {
    fn new(stream: quinn::RecvStream, id: StreamId) -> Self {
        RecvStream {
            stream,
            id,
            state: RecvState::Reading,
        }
    }
}

impl h3::quic::RecvStream for RecvStream {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        match &self.state {
            RecvState::Reading => {}
            RecvState::Finished => return Poll::Ready(Ok(None)),
            RecvState::Reset(code) => {
                return Poll::Ready(Err(StreamErrorIncoming::StreamTerminated {
                    error_code: *code,
                }))
            }
            RecvState::Lost(err) => {
                return Poll::Ready(Err(StreamErrorIncoming::ConnectionErrorIncoming {
                    connection_error: err.clone(),
                }))
            }
            RecvState::Closed => {
                return Poll::Ready(Err(StreamErrorIncoming::Unknown(Box::new(
                    quinn::ReadError::ClosedStream,
                ))))
            }
        }
        // A fresh read future per poll, dropped before returning: quinn's `ReadChunk` keeps no
        // state of its own between polls (each poll just reads what the stream has, and the
        // operation is documented cancel-safe), so this is the zero-copy read without the
        // quinn stream ever leaving `self`. quinn's own `poll_write` works the same way.
        let read = self.stream.read_chunk(usize::MAX, true);
        let result = ready!(pin!(read).poll(cx));
        Poll::Ready(match result {
            Ok(Some(chunk)) => Ok(Some(chunk.bytes)),
            Ok(None) => {
                self.state = RecvState::Finished;
                Ok(None)
            }
            Err(err) => {
                self.state = match &err {
                    quinn::ReadError::Reset(code) => RecvState::Reset(code.into_inner()),
                    quinn::ReadError::ConnectionLost(lost) => {
                        RecvState::Lost(connection_error(lost.clone()))
                    }
                    _ => RecvState::Closed,
                };
                Err(read_error(err))
            }
        })
    }

    fn stop_sending(&mut self, error_code: u64) {
        if let RecvState::Reading = self.state {
            self.state = RecvState::Closed;
            // Fails only if the stream is already closed, in which case there is nothing to
            // stop.
            let _ = self.stream.stop(varint_code(error_code));
        }
    }

    fn recv_id(&self) -> StreamId {
        self.id
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        if let RecvState::Reading = self.state {
            // Stopping here keeps quinn's drop from stopping with code 0 (see `NO_ERROR`).
            let _ = self.stream.stop(NO_ERROR);
        }
    }
}

/// The sending half of a stream.
pub(crate) struct SendStream {
    stream: quinn::SendStream,
    id: StreamId,
    /// Data accepted by `send_data` and not yet fully handed to quinn (empty when none),
    /// gathered into one chunk: h3 hands over a frame as its header and its payload, and
    /// writing them as one `Bytes` takes quinn's connection lock once per frame instead of
    /// once per piece, and quinn keeps the chunk instead of copying it again.
    writing: Bytes,
    /// Set when this stream's stopped future is parked, so that dropping the stream removes
    /// it if the runtime never took it.
    registry: Option<Arc<StoppedRegistry>>,
}

impl SendStream {
    fn new(
        stream: quinn::SendStream,
        id: StreamId,
        registry: Option<Arc<StoppedRegistry>>,
    ) -> Self {
        SendStream {
            stream,
            id,
            writing: Bytes::new(),
            registry,
        }
    }
}

impl h3::quic::SendStream<Bytes> for SendStream {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        while !self.writing.is_empty() {
            // A fresh write future per poll, as in `RecvStream::poll_data`: quinn's
            // `write_chunks` keeps its progress in the slice (written chunks are taken out, a
            // partly written one is split), not in the future.
            let write = self
                .stream
                .write_chunks(std::slice::from_mut(&mut self.writing));
            let written = ready!(pin!(write).poll(cx)).map_err(write_error)?;
            if written.bytes == 0 {
                // quinn either takes some of a non-empty buffer or waits; guard against a busy
                // loop all the same.
                return Poll::Ready(Err(StreamErrorIncoming::Unknown(Box::new(
                    std::io::Error::from(std::io::ErrorKind::WriteZero),
                ))));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn send_data<T: Into<WriteBuf<Bytes>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        if !self.writing.is_empty() {
            // Only h3 misusing the trait (not the peer) can get here; h3 then closes the
            // connection with H3_INTERNAL_ERROR.
            return Err(StreamErrorIncoming::ConnectionErrorIncoming {
                connection_error: ConnectionErrorIncoming::InternalError(
                    "send_data called before the previous data was written".to_string(),
                ),
            });
        }
        let mut data: WriteBuf<Bytes> = data.into();
        // One copy, as quinn would make of a borrowed slice anyway; h3's frame buffer does not
        // give its payload back as `Bytes`.
        let mut gathered = BytesMut::with_capacity(data.remaining());
        gathered.put(&mut data);
        self.writing = gathered.freeze();
        Ok(())
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        // Write out anything still pending first, so that finishing never drops data.
        ready!(self.poll_ready(cx))?;
        Poll::Ready(
            self.stream
                .finish()
                .map_err(|err| StreamErrorIncoming::Unknown(Box::new(err))),
        )
    }

    fn reset(&mut self, reset_code: u64) {
        self.writing = Bytes::new();
        // Fails only if the stream was already finished or reset, which is harmless.
        let _ = self.stream.reset(varint_code(reset_code));
    }

    fn send_id(&self) -> StreamId {
        self.id
    }
}

impl h3::quic::SendStreamUnframed<Bytes> for SendStream {
    fn poll_send<D: Buf>(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut D,
    ) -> Poll<Result<usize, StreamErrorIncoming>> {
        // Framed data goes out first so that the two kinds of write never interleave.
        ready!(h3::quic::SendStream::<Bytes>::poll_ready(self, cx))?;
        if !buf.has_remaining() {
            return Poll::Ready(Ok(0));
        }
        let written =
            ready!(Pin::new(&mut self.stream).poll_write(cx, buf.chunk())).map_err(write_error)?;
        buf.advance(written);
        Poll::Ready(Ok(written))
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.take() {
            registry.remove(self.id.into_inner());
        }
    }
}

fn accept_bi(conn: &quinn::Connection) -> Pending<(quinn::SendStream, quinn::RecvStream)> {
    let conn = conn.clone();
    Box::pin(async move { conn.accept_bi().await })
}

fn accept_uni(conn: &quinn::Connection) -> Pending<quinn::RecvStream> {
    let conn = conn.clone();
    Box::pin(async move { conn.accept_uni().await })
}

/// h3's id for a quinn stream. quinn's ids always fit (they are decoded from varints), but
/// the conversion is fallible, so a failure becomes an internal error rather than a panic.
fn stream_id(id: quinn::StreamId) -> Result<StreamId, ConnectionErrorIncoming> {
    let raw = u64::from(id);
    StreamId::try_from(raw).map_err(|_| {
        ConnectionErrorIncoming::InternalError(format!("quinn stream id {raw} is not a varint"))
    })
}

/// A code as QUIC can carry it; see [`FALLBACK_CODE`].
fn varint_code(code: u64) -> quinn::VarInt {
    quinn::VarInt::from_u64(code).unwrap_or(FALLBACK_CODE)
}

fn connection_error(err: quinn::ConnectionError) -> ConnectionErrorIncoming {
    match err {
        quinn::ConnectionError::ApplicationClosed(close) => {
            ConnectionErrorIncoming::ApplicationClose {
                error_code: close.error_code.into_inner(),
            }
        }
        quinn::ConnectionError::TimedOut => ConnectionErrorIncoming::Timeout,
        other => ConnectionErrorIncoming::Undefined(Arc::new(other)),
    }
}

fn stream_connection_error(err: quinn::ConnectionError) -> StreamErrorIncoming {
    StreamErrorIncoming::ConnectionErrorIncoming {
        connection_error: connection_error(err),
    }
}

fn read_error(err: quinn::ReadError) -> StreamErrorIncoming {
    match err {
        quinn::ReadError::Reset(code) => StreamErrorIncoming::StreamTerminated {
            error_code: code.into_inner(),
        },
        quinn::ReadError::ConnectionLost(err) => stream_connection_error(err),
        // ClosedStream, ZeroRttRejected and IllegalOrderedRead (which h3-quinn panics on; we
        // never read unordered, but a mapped error costs nothing).
        other => StreamErrorIncoming::Unknown(Box::new(other)),
    }
}

fn write_error(err: quinn::WriteError) -> StreamErrorIncoming {
    match err {
        quinn::WriteError::Stopped(code) => StreamErrorIncoming::StreamTerminated {
            error_code: code.into_inner(),
        },
        quinn::WriteError::ConnectionLost(err) => stream_connection_error(err),
        other => StreamErrorIncoming::Unknown(Box::new(other)),
    }
}

fn stop_notice(result: Result<Option<quinn::VarInt>, quinn::StoppedError>) -> StopNotice {
    match result {
        Ok(Some(code)) => StopNotice::Stopped(Code::from(code.into_inner())),
        Ok(None) => StopNotice::Done,
        Err(quinn::StoppedError::ConnectionLost(err)) => {
            StopNotice::ConnectionLost(connection_error(err))
        }
        // ZeroRttRejected: rpcnet disables 0-RTT, and the stream is unusable either way.
        Err(other) => {
            StopNotice::ConnectionLost(ConnectionErrorIncoming::Undefined(Arc::new(other)))
        }
    }
}

#[cfg(test)]
mod tests {
    //! Real loopback QUIC: h3 server and client both running over this adapter, plus a few
    //! checks against a bare quinn peer where h3 would hide what is on the wire.

    use std::future::poll_fn;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use h3::error::{ConnectionError, StreamError};
    use h3::quic::{BidiStream as _, RecvStream as _, SendStream as _};
    use tokio::sync::oneshot;

    use super::*;

    /// Generous: every exchange here is on loopback and takes milliseconds; this only turns a
    /// hang into a failure.
    const TEST_TIMEOUT: Duration = Duration::from_secs(20);

    type H3Server = h3::server::Connection<Connection, Bytes>;
    type H3Client = h3::client::SendRequest<OpenStreams, Bytes>;

    async fn within<F: Future>(fut: F) -> F::Output {
        tokio::time::timeout(TEST_TIMEOUT, fut)
            .await
            .expect("test timed out")
    }

    fn certs() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs")
    }

    /// Two ends of one QUIC connection; the endpoints are kept so their sockets stay open.
    struct QuicPair {
        server: quinn::Connection,
        client: quinn::Connection,
        _endpoints: (quinn::Endpoint, quinn::Endpoint),
    }

    async fn quic_pair() -> QuicPair {
        let dir = certs();
        let server_tls =
            crate::tls::server_config(&dir.join("server.pem"), &dir.join("server.key"), None)
                .expect("server TLS config");
        let server_config = crate::tls::quic_server_config(server_tls).expect("QUIC server config");
        let server_ep = quinn::Endpoint::server(server_config, "127.0.0.1:0".parse().unwrap())
            .expect("server endpoint");
        let addr = server_ep.local_addr().unwrap();
        let client_tls =
            crate::tls::client_config(&dir.join("ca.pem"), None).expect("client TLS config");
        let mut client_ep =
            quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("client endpoint");
        client_ep.set_default_client_config(
            crate::tls::quic_client_config(client_tls).expect("QUIC client config"),
        );
        let connecting = client_ep.connect(addr, "localhost").expect("connect");
        // The server must accept while the client connects: neither handshake ends alone.
        let accepting = async {
            let incoming = server_ep.accept().await.expect("incoming");
            incoming.await.expect("server handshake")
        };
        let (client, server) = tokio::join!(connecting, accepting);
        QuicPair {
            server,
            client: client.expect("client handshake"),
            _endpoints: (server_ep, client_ep),
        }
    }

    /// An h3 server and client over this adapter, with the server's stopped registry.
    struct H3Pair {
        server: H3Server,
        client: H3Client,
        registry: Arc<StoppedRegistry>,
        quic: QuicPair,
        /// Ends with the client connection's close reason.
        client_driver: tokio::task::JoinHandle<ConnectionError>,
    }

    async fn h3_pair_with(server_conn: impl FnOnce(quinn::Connection) -> Connection) -> H3Pair {
        let quic = quic_pair().await;
        let server_conn = server_conn(quic.server.clone());
        let registry = server_conn.stopped_registry();
        let server_builder = h3::server::builder();
        let mut client_builder = h3::client::builder();
        let (server, client) = tokio::join!(
            server_builder.build::<_, Bytes>(server_conn),
            client_builder.build::<_, _, Bytes>(Connection::new(quic.client.clone())),
        );
        let (mut driver, client) = client.expect("h3 client");
        let client_driver = tokio::spawn(async move { poll_fn(|cx| driver.poll_close(cx)).await });
        H3Pair {
            server: server.expect("h3 server"),
            client,
            registry,
            quic,
            client_driver,
        }
    }

    async fn h3_pair() -> H3Pair {
        h3_pair_with(Connection::new).await
    }

    fn request(path: &str) -> http::Request<()> {
        http::Request::post(format!("https://localhost{path}"))
            .header("content-type", "application/grpc")
            .body(())
            .unwrap()
    }

    fn ok_response() -> http::Response<()> {
        http::Response::builder()
            .status(200)
            .header("content-type", "application/grpc")
            .body(())
            .unwrap()
    }

    fn trailers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::header::HeaderName::from_static(name),
                    http::HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    /// Bytes where every position is distinguishable modulo a prime, so a lost, repeated or
    /// reordered chunk shows.
    fn pattern(len: usize) -> Bytes {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// Reads all DATA of an h3 request stream (either side) until the data ends.
    macro_rules! read_body {
        ($stream:expr) => {{
            let mut body = Vec::new();
            while let Some(mut chunk) = $stream.recv_data().await.expect("recv_data") {
                body.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
            }
            body
        }};
    }

    /// The server accepts one request and resolves its headers.
    async fn accept_one(
        server: &mut H3Server,
    ) -> (
        http::Request<()>,
        h3::server::RequestStream<BidiStream, Bytes>,
    ) {
        let resolver = server.accept().await.expect("accept").expect("a request");
        resolver.resolve_request().await.expect("request headers")
    }

    #[test]
    fn everything_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Connection>();
        check::<OpenStreams>();
        check::<BidiStream>();
        check::<SendStream>();
        check::<RecvStream>();
        check::<StoppedRegistry>();
        check::<StoppedFuture>();
    }

    #[test]
    fn codes_quic_cannot_carry_become_internal_error() {
        assert_eq!(FALLBACK_CODE.into_inner(), Code::H3_INTERNAL_ERROR.value());
        assert_eq!(NO_ERROR.into_inner(), Code::H3_NO_ERROR.value());
        assert_eq!(varint_code(u64::MAX), FALLBACK_CODE);
        assert_eq!(varint_code(1 << 62), FALLBACK_CODE);
        assert_eq!(varint_code((1 << 62) - 1).into_inner(), (1 << 62) - 1);
        assert_eq!(
            varint_code(Code::H3_REQUEST_CANCELLED.value()).into_inner(),
            0x10c
        );
    }

    #[test]
    fn every_read_error_is_mapped_without_panicking() {
        let cases = [
            quinn::ReadError::Reset(quinn::VarInt::from_u32(0x10c)),
            quinn::ReadError::ConnectionLost(quinn::ConnectionError::TimedOut),
            quinn::ReadError::ClosedStream,
            quinn::ReadError::IllegalOrderedRead,
            quinn::ReadError::ZeroRttRejected,
        ];
        let mapped: Vec<String> = cases
            .into_iter()
            .map(|e| read_error(e).to_string())
            .collect();
        assert!(mapped[0].contains("H3_REQUEST_CANCELLED"), "{mapped:?}");
        assert!(mapped[1].contains("Timeout"), "{mapped:?}");
        assert!(mapped[3].contains("ordered read"), "{mapped:?}");
    }

    #[tokio::test]
    async fn request_and_response_with_body_and_trailers_round_trip() {
        within(async {
            let H3Pair {
                mut server,
                mut client,
                client_driver: _driver,
                quic: _quic,
                ..
            } = h3_pair().await;
            let server_task = tokio::spawn(async move {
                let (req, mut stream) = accept_one(&mut server).await;
                assert_eq!(req.uri().path(), "/pkg.Svc/Echo");
                let body = read_body!(stream);
                let request_trailers = stream.recv_trailers().await.expect("trailers");
                stream.send_response(ok_response()).await.unwrap();
                stream
                    .send_data(Bytes::from_static(b"reply body"))
                    .await
                    .unwrap();
                stream
                    .send_trailers(trailers(&[("grpc-status", "0"), ("grpc-message", "fine")]))
                    .await
                    .unwrap();
                stream.finish().await.unwrap();
                (body, request_trailers, server)
            });

            let mut stream = client.send_request(request("/pkg.Svc/Echo")).await.unwrap();
            stream
                .send_data(Bytes::from_static(b"request body"))
                .await
                .unwrap();
            stream
                .send_trailers(trailers(&[("x-request-trailer", "yes")]))
                .await
                .unwrap();
            stream.finish().await.unwrap();
            let response = stream.recv_response().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(read_body!(stream), b"reply body");
            let response_trailers = stream.recv_trailers().await.unwrap().expect("trailers");
            assert_eq!(response_trailers["grpc-status"], "0");
            assert_eq!(response_trailers["grpc-message"], "fine");

            let (body, request_trailers, _server) = server_task.await.unwrap();
            assert_eq!(body, b"request body");
            assert_eq!(
                request_trailers.expect("request trailers")["x-request-trailer"],
                "yes"
            );
        })
        .await
    }

    #[tokio::test]
    async fn a_one_mebibyte_body_arrives_intact_both_ways() {
        within(async {
            let H3Pair {
                mut server,
                mut client,
                client_driver: _driver,
                quic: _quic,
                ..
            } = h3_pair().await;
            let server_task = tokio::spawn(async move {
                let (_, mut stream) = accept_one(&mut server).await;
                let body = read_body!(stream);
                stream.send_response(ok_response()).await.unwrap();
                stream.send_data(Bytes::from(body)).await.unwrap();
                stream.finish().await.unwrap();
                server
            });

            let sent = pattern(1024 * 1024);
            let mut stream = client.send_request(request("/pkg.Svc/Big")).await.unwrap();
            stream.send_data(sent.clone()).await.unwrap();
            stream.finish().await.unwrap();
            stream.recv_response().await.unwrap();
            let echoed = read_body!(stream);
            assert_eq!(echoed.len(), sent.len());
            assert!(echoed == sent, "the echoed body differs from what was sent");
            let _server = server_task.await.unwrap();
        })
        .await
    }

    #[tokio::test]
    async fn stop_sending_during_a_pending_read_is_safe_and_reaches_the_registry() {
        within(async {
            let H3Pair {
                mut server,
                mut client,
                registry,
                client_driver: _driver,
                quic: _quic,
            } = h3_pair().await;
            let server_task = tokio::spawn(async move {
                let (_, mut stream) = accept_one(&mut server).await;
                let stopped = registry
                    .take(stream.id().into_inner())
                    .expect("the accepted stream's stopped future");
                assert!(registry.take(stream.id().into_inner()).is_none());
                // An idle streaming handler: headers out, then nothing until the client stops.
                stream.send_response(ok_response()).await.unwrap();
                let notice = tokio::time::timeout(Duration::from_secs(5), stopped)
                    .await
                    .expect("the stop notice");
                (notice, Instant::now(), stream, server)
            });

            let mut stream = client.send_request(request("/pkg.Svc/Watch")).await.unwrap();
            stream.finish().await.unwrap();
            stream.recv_response().await.unwrap();
            // The read is pending (no data comes) when the timer wins and drops it: exactly
            // where h3-quinn 0.0.10 would panic in stop_sending and recv_id.
            tokio::select! {
                data = stream.recv_data() => panic!("no data was sent, got {:?}", data.map(|d| d.map(|b| b.remaining()))),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            let _ = stream.id();
            stream.stop_sending(Code::H3_REQUEST_CANCELLED);
            let stopped_at = Instant::now();
            // Reading on after our own stop is an error, not a panic and not a clean end.
            assert!(stream.recv_data().await.is_err());

            let (notice, noticed_at, _stream, _server) = server_task.await.unwrap();
            match notice {
                StopNotice::Stopped(code) => assert_eq!(code, Code::H3_REQUEST_CANCELLED),
                other => panic!("expected a stop, got {other:?}"),
            }
            let delay = noticed_at.saturating_duration_since(stopped_at);
            assert!(delay < Duration::from_secs(1), "noticed after {delay:?}");
        })
        .await
    }

    #[tokio::test]
    async fn a_reset_of_the_request_reaches_the_server_as_request_cancelled() {
        within(async {
            let H3Pair {
                mut server,
                mut client,
                client_driver: _driver,
                quic: _quic,
                ..
            } = h3_pair().await;
            let (got_first, first_seen) = oneshot::channel();
            let server_task = tokio::spawn(async move {
                let (_, mut stream) = accept_one(&mut server).await;
                let mut first = stream.recv_data().await.unwrap().expect("first chunk");
                assert_eq!(first.copy_to_bytes(first.remaining()), "partial");
                got_first.send(()).unwrap();
                let err = loop {
                    match stream.recv_data().await {
                        Ok(Some(_)) => continue,
                        Ok(None) => panic!("the reset looked like a clean end of stream"),
                        Err(err) => break err,
                    }
                };
                (err, server)
            });

            let mut stream = client.send_request(request("/pkg.Svc/Upload")).await.unwrap();
            stream
                .send_data(Bytes::from_static(b"partial"))
                .await
                .unwrap();
            // Reset only once the server has the headers: a reset discards unsent data.
            first_seen.await.unwrap();
            stream.stop_stream(Code::H3_REQUEST_CANCELLED);

            let (err, _server) = server_task.await.unwrap();
            assert!(
                matches!(err, StreamError::RemoteTerminate { code, .. } if code == Code::H3_REQUEST_CANCELLED),
                "got {err:?}"
            );
        })
        .await
    }

    #[tokio::test]
    async fn connection_loss_is_an_error_on_both_sides_and_in_the_registry() {
        within(async {
            let H3Pair {
                mut server,
                mut client,
                registry,
                quic,
                client_driver,
            } = h3_pair().await;
            let (resolved, request_seen) = oneshot::channel();
            let server_task = tokio::spawn(async move {
                let (_, mut stream) = accept_one(&mut server).await;
                let stopped = registry.take(stream.id().into_inner()).unwrap();
                resolved.send(()).unwrap();
                // The request body never ends: this read is pending when the connection dies.
                let read = stream.recv_data().await.map(|d| d.is_some());
                let notice = stopped.await;
                let accept = server.accept().await.map(|r| r.is_some());
                (read, notice, accept)
            });

            let mut stream = client.send_request(request("/pkg.Svc/Hang")).await.unwrap();
            request_seen.await.unwrap();
            quic.client.close(quinn::VarInt::from_u32(0x0102), b"going");
            assert!(matches!(
                stream.recv_response().await,
                Err(StreamError::ConnectionError { .. })
            ));

            let (read, notice, accept) = server_task.await.unwrap();
            match read {
                Err(StreamError::ConnectionError {
                    0:
                        ConnectionError::Remote {
                            0: ConnectionErrorIncoming::ApplicationClose { error_code },
                            ..
                        },
                    ..
                }) => assert_eq!(error_code, 0x0102),
                other => panic!("expected the client's close, got {other:?}"),
            }
            match notice {
                StopNotice::ConnectionLost(ConnectionErrorIncoming::ApplicationClose {
                    error_code,
                }) => assert_eq!(error_code, 0x0102),
                other => panic!("expected connection loss, got {other:?}"),
            }
            assert!(accept.is_err(), "got {accept:?}");
            // The client's own driver ends with the local close, not a panic.
            let _ = client_driver.await.expect("client driver did not panic");
        })
        .await
    }

    #[tokio::test]
    async fn the_registry_does_not_grow_over_sequential_requests() {
        const REQUESTS: usize = 200;
        within(async {
            let H3Pair {
                mut server,
                mut client,
                registry,
                client_driver: _driver,
                quic: _quic,
            } = h3_pair().await;
            let server_registry = registry.clone();
            let server_task = tokio::spawn(async move {
                let mut most = 0;
                for i in 0..REQUESTS {
                    let (_, mut stream) = accept_one(&mut server).await;
                    most = most.max(server_registry.len());
                    // Half the calls take their future, half never do (as when the runtime
                    // fails a call before it gets there); neither may leave an entry behind.
                    if i % 2 == 0 {
                        assert!(server_registry.take(stream.id().into_inner()).is_some());
                    }
                    let _ = read_body!(stream);
                    stream.send_response(ok_response()).await.unwrap();
                    stream.send_data(Bytes::from_static(b"pong")).await.unwrap();
                    stream.finish().await.unwrap();
                }
                (most, server)
            });

            for _ in 0..REQUESTS {
                let mut stream = client.send_request(request("/pkg.Svc/Ping")).await.unwrap();
                stream.send_data(Bytes::from_static(b"ping")).await.unwrap();
                stream.finish().await.unwrap();
                stream.recv_response().await.unwrap();
                assert_eq!(read_body!(stream), b"pong");
            }
            let (most, _server) = server_task.await.unwrap();
            // One live request at a time, plus at most the next one quinn already accepted.
            assert!(most <= 2, "up to {most} entries");
            assert_eq!(registry.len(), 0);
        })
        .await
    }

    /// Accepts one bidirectional stream through the adapter directly (no h3).
    async fn accept_raw(conn: &mut Connection) -> Result<BidiStream, ConnectionErrorIncoming> {
        poll_fn(|cx| h3::quic::Connection::<Bytes>::poll_accept_bidi(conn, cx)).await
    }

    #[tokio::test]
    async fn the_registry_cap_holds_and_dropped_streams_leave_it() {
        within(async {
            let quic = quic_pair().await;
            let mut conn = Connection::with_stopped_capacity(quic.server.clone(), 2);
            let registry = conn.stopped_registry();
            let mut peers = Vec::new();
            for _ in 0..3 {
                let (mut send, recv) = quic.client.open_bi().await.unwrap();
                // quinn tells the peer about a stream only once something is sent on it.
                send.write_all(b"x").await.unwrap();
                peers.push((send, recv));
            }
            let mut accepted = Vec::new();
            for _ in 0..3 {
                accepted.push(accept_raw(&mut conn).await.unwrap());
            }
            assert_eq!(registry.len(), 2);
            let ids: Vec<u64> = accepted.iter().map(|s| s.send_id().into_inner()).collect();
            assert!(registry.take(ids[2]).is_none(), "registered past the cap");
            drop(accepted);
            assert_eq!(registry.len(), 0);
        })
        .await
    }

    #[tokio::test]
    async fn out_of_range_codes_never_panic_and_go_out_as_internal_error() {
        within(async {
            let quic = quic_pair().await;
            let mut conn = Connection::new(quic.server.clone());
            let (mut peer_send, mut peer_recv) = quic.client.open_bi().await.unwrap();
            peer_send.write_all(b"x").await.unwrap();
            let (mut send, mut recv) = accept_raw(&mut conn).await.unwrap().split();
            let first = poll_fn(|cx| recv.poll_data(cx)).await.unwrap().unwrap();
            assert_eq!(first, "x");
            send.reset(u64::MAX);
            send.reset(u64::MAX);
            recv.stop_sending(u64::MAX);
            recv.stop_sending(u64::MAX);
            assert_eq!(
                peer_recv.read_to_end(16).await.unwrap_err().to_string(),
                quinn::ReadToEndError::Read(quinn::ReadError::Reset(FALLBACK_CODE)).to_string()
            );
            assert_eq!(peer_send.stopped().await.unwrap(), Some(FALLBACK_CODE));
            h3::quic::OpenStreams::<Bytes>::close(&mut conn, Code::H3_NO_ERROR, b"done");
            assert!(accept_raw(&mut conn).await.is_err());
        })
        .await
    }

    #[tokio::test]
    async fn a_reset_stays_an_error_and_a_dropped_recv_half_stops_with_no_error() {
        within(async {
            let quic = quic_pair().await;
            let mut conn = Connection::new(quic.server.clone());

            let (mut peer_send, _peer_recv) = quic.client.open_bi().await.unwrap();
            peer_send.write_all(b"x").await.unwrap();
            let (_send, mut recv) = accept_raw(&mut conn).await.unwrap().split();
            assert_eq!(
                poll_fn(|cx| recv.poll_data(cx)).await.unwrap().unwrap(),
                "x"
            );
            peer_send.reset(quinn::VarInt::from_u32(0x10c)).unwrap();
            // quinn alone would answer the second poll with a clean end of stream.
            for _ in 0..2 {
                match poll_fn(|cx| recv.poll_data(cx)).await {
                    Err(StreamErrorIncoming::StreamTerminated { error_code }) => {
                        assert_eq!(error_code, 0x10c)
                    }
                    other => panic!("expected the reset, got {other:?}"),
                }
            }

            let (mut peer_send, _peer_recv) = quic.client.open_bi().await.unwrap();
            peer_send.write_all(b"x").await.unwrap();
            let (_send, recv) = accept_raw(&mut conn).await.unwrap().split();
            drop(recv);
            assert_eq!(peer_send.stopped().await.unwrap(), Some(NO_ERROR));
        })
        .await
    }

    #[tokio::test]
    async fn stop_sending_and_recv_id_with_a_read_pending_on_the_raw_stream() {
        within(async {
            let quic = quic_pair().await;
            let mut conn = Connection::new(quic.server.clone());
            let registry = conn.stopped_registry();
            let (mut peer_send, mut peer_recv) = quic.client.open_bi().await.unwrap();
            peer_send.write_all(b"x").await.unwrap();
            let mut stream = accept_raw(&mut conn).await.unwrap();
            assert_eq!(
                poll_fn(|cx| stream.poll_data(cx)).await.unwrap().unwrap(),
                "x"
            );
            // Nothing more is coming, so this read is left pending.
            assert!(stream
                .poll_data(&mut Context::from_waker(std::task::Waker::noop()))
                .is_pending());
            let id = stream.recv_id();
            assert_eq!(id, stream.send_id());
            stream.stop_sending(Code::H3_REQUEST_CANCELLED.value());
            assert_eq!(
                peer_send.stopped().await.unwrap(),
                Some(quinn::VarInt::from_u32(0x10c))
            );
            // The other direction: the peer stops reading our idle send half, and the parked
            // future reports it.
            let stopped = registry.take(id.into_inner()).unwrap();
            peer_recv.stop(quinn::VarInt::from_u32(0x10c)).unwrap();
            match stopped.await {
                StopNotice::Stopped(code) => assert_eq!(code, Code::H3_REQUEST_CANCELLED),
                other => panic!("expected a stop, got {other:?}"),
            }
        })
        .await
    }
}
