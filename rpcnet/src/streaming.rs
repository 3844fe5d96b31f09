//! Message streams: `Streaming` decodes incoming messages from a call's receive half;
//! `ResponseStream` and `channel` carry outgoing messages with bounded buffering.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use crate::codec::{self, Decoder};
use crate::transport::{self, RecvBody, REQUEST_CANCELLED};
use crate::{Metadata, Status};

/// The most buffer space reserved ahead for the unreceived rest of a message. The prefix
/// announces the length before the peer sent (or flow control let it send) the bytes, so
/// reserving all of it at once would let 5 bytes cost up to `max_message_size` of memory.
const RESERVE_AHEAD: usize = 64 * 1024;

/// Encoded messages gathered into one DATA frame when several outgoing messages (server
/// responses or client uploads) are ready at once: fewer frames and syscalls for small
/// streamed messages, bounded so that one frame never holds a large amount of memory.
pub(crate) const COALESCE_BYTES: usize = 64 * 1024;

/// Which end of the call a `Streaming` reads; decides how the end of the stream is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// Reading requests: a FIN after whole messages is a clean end.
    Server,
    /// Reading responses: the end must carry `grpc-status` in trailers.
    Client,
}

enum State {
    Data,
    Trailers,
    Done,
}

/// Incoming messages of a call: the request stream on the server, the response stream on the
/// client. Reading applies backpressure: nothing is buffered beyond one partial message and
/// QUIC's flow-control window.
///
/// Dropping it before the end cancels the call on the wire.
pub struct Streaming<T> {
    /// None for a stream that ended before it started (Trailers-Only, or taken over).
    body: Option<RecvBody>,
    side: Side,
    /// The last chunk received, decoded in place while it holds whole messages (no copy).
    /// Never non-empty together with `buf`: a partial message moves to `buf`.
    chunk: Bytes,
    /// A message that arrived in pieces, gathered until it is whole.
    buf: BytesMut,
    decoder: Decoder,
    state: State,
    trailers: Option<Metadata>,
    deadline: Option<Pin<Box<Sleep>>>,
    /// Work tied to this stream's life, such as a client call's request uploader: aborted
    /// when the stream is dropped.
    guard: Option<AbortOnDrop>,
    _message: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("side", &self.side)
            .field("buffered", &(self.chunk.len() + self.buf.len()))
            .finish_non_exhaustive()
    }
}

impl<T> Streaming<T> {
    pub(crate) fn new(
        body: RecvBody,
        side: Side,
        max_message_size: usize,
        deadline: Option<Instant>,
    ) -> Self {
        Streaming {
            body: Some(body),
            side,
            chunk: Bytes::new(),
            buf: BytesMut::new(),
            decoder: Decoder::new(max_message_size),
            state: State::Data,
            trailers: None,
            deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
            guard: None,
            _message: PhantomData,
        }
    }

    /// A stream that is already over: it yields no message.
    pub(crate) fn ended() -> Self {
        Streaming {
            body: None,
            side: Side::Server,
            chunk: Bytes::new(),
            buf: BytesMut::new(),
            decoder: Decoder::new(0),
            state: State::Done,
            trailers: None,
            deadline: None,
            guard: None,
            _message: PhantomData,
        }
    }

    /// Ties `guard` to this stream: it is dropped (aborting its task) with the stream.
    pub(crate) fn with_guard(mut self, guard: AbortOnDrop) -> Self {
        self.guard = Some(guard);
        self
    }

    /// The trailers' custom metadata, once the stream ended (client side).
    pub fn trailers(&self) -> Option<&Metadata> {
        self.trailers.as_ref()
    }

    /// Ends the stream on an error: stops the peer and remembers that the stream is over, so
    /// that later polls return `None`.
    fn fail(&mut self, status: Status) -> Poll<Option<Result<bytes::Bytes, Status>>> {
        self.abandon();
        Poll::Ready(Some(Err(status)))
    }

    fn abandon(&mut self) {
        if !matches!(self.state, State::Done) {
            self.state = State::Done;
            // Tell the peer why we stop reading. This is safe even with a read in flight
            // because our adapter keeps the quinn stream in place (h3-quinn 0.0.10 panicked
            // here when h3 had read ahead for the next frame header).
            if let Some(mut body) = self.body.take() {
                body.stop_sending(REQUEST_CANCELLED);
            }
        }
    }

    /// Appends received bytes to the partial message in `buf`, reserving room for the rest
    /// of it once its prefix is known (up to `RESERVE_AHEAD`), so that a large message is not
    /// copied again each time the buffer grows.
    fn gather(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if let Some(total) = self.decoder.framed_len(&self.buf) {
            let missing = total.saturating_sub(self.buf.len());
            self.buf.reserve(missing.min(RESERVE_AHEAD));
        }
    }

    /// Polls for the next whole message body (undecoded).
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<bytes::Bytes, Status>>> {
        if let Some(sleep) = self.deadline.as_mut() {
            if sleep.as_mut().poll(cx).is_ready() && !matches!(self.state, State::Done) {
                self.abandon();
                return Poll::Ready(Some(Err(Status::deadline_exceeded(
                    "deadline exceeded while waiting for a message",
                ))));
            }
        }
        loop {
            match self.state {
                State::Done => return Poll::Ready(None),
                State::Data => {
                    if !self.chunk.is_empty() {
                        match self.decoder.decode_bytes(&mut self.chunk) {
                            Ok(Some(body)) => return Poll::Ready(Some(Ok(body))),
                            Ok(None) => {
                                let partial = std::mem::take(&mut self.chunk);
                                self.gather(&partial);
                            }
                            Err(err) => return self.fail(err.into()),
                        }
                    }
                    match self.decoder.decode(&mut self.buf) {
                        Ok(Some(body)) => return Poll::Ready(Some(Ok(body))),
                        Ok(None) => {}
                        Err(err) => return self.fail(err.into()),
                    }
                    let Some(body) = self.body.as_mut() else {
                        self.state = State::Done;
                        return Poll::Ready(None);
                    };
                    let chunk = ready!(body.poll_data(cx));
                    match chunk {
                        Ok(Some(bytes)) if self.buf.is_empty() => self.chunk = bytes,
                        Ok(Some(bytes)) => self.gather(&bytes),
                        Ok(None) => {
                            if let Err(err) = self.decoder.finish(&self.buf) {
                                return self.fail(err.into());
                            }
                            match self.side {
                                Side::Server => {
                                    self.state = State::Done;
                                    return Poll::Ready(None);
                                }
                                Side::Client => self.state = State::Trailers,
                            }
                        }
                        Err(err) => {
                            let status = transport::status_from_stream_error(
                                &err,
                                self.side == Side::Client,
                            );
                            self.state = State::Done;
                            return Poll::Ready(Some(Err(status)));
                        }
                    }
                }
                State::Trailers => {
                    let Some(body) = self.body.as_mut() else {
                        self.state = State::Done;
                        return Poll::Ready(None);
                    };
                    let trailers = ready!(body.poll_trailers(cx));
                    self.state = State::Done;
                    let status = match trailers {
                        Ok(Some(headers)) => Status::from_headers(&headers).unwrap_or_else(|| {
                            Status::internal("the server ended the call without grpc-status")
                        }),
                        Ok(None) => Status::internal("the server ended the call without trailers"),
                        Err(err) => transport::status_from_stream_error(&err, true),
                    };
                    if status.code() == crate::Code::Ok {
                        self.trailers = Some(status.metadata().clone());
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(status)));
                }
            }
        }
    }
}

impl<T: prost::Message + Default> Streaming<T> {
    /// The next message; `Ok(None)` at a clean end of the stream.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| self.poll_message(cx))
            .await
            .transpose()
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        match ready!(self.poll_body(cx)) {
            None => Poll::Ready(None),
            Some(Err(status)) => Poll::Ready(Some(Err(status))),
            Some(Ok(body)) => match codec::decode_message::<T>(body) {
                Ok(message) => Poll::Ready(Some(Ok(message))),
                Err(status) => {
                    self.abandon();
                    Poll::Ready(Some(Err(status)))
                }
            },
        }
    }
}

impl<T: prost::Message + Default> Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}

impl<T> Drop for Streaming<T> {
    fn drop(&mut self) {
        // Dropping before the end means the reader lost interest: tell the peer now rather
        // than letting it find out when its writes fail.
        self.abandon();
    }
}

/// Aborts a spawned task when dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The messages a streaming handler sends back. Any `Stream` of results can be boxed into
/// one; [`channel`] gives a bounded sender for handlers that push.
pub struct ResponseStream<T> {
    inner: Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>,
}

impl<T> ResponseStream<T> {
    /// Wraps any stream of results. An `Err` item ends the call with that status.
    pub fn new(stream: impl Stream<Item = Result<T, Status>> + Send + 'static) -> Self {
        ResponseStream {
            inner: Box::pin(stream),
        }
    }
}

impl<T> fmt::Debug for ResponseStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseStream")
    }
}

impl<T> Stream for ResponseStream<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T: Send + 'static> From<StreamReceiver<Result<T, Status>>> for ResponseStream<T> {
    fn from(receiver: StreamReceiver<Result<T, Status>>) -> Self {
        ResponseStream::new(receiver)
    }
}

/// A bounded channel for streaming: the sender waits when `capacity` items are queued, so a
/// slow reader slows the writer down instead of growing a buffer.
pub fn channel<T>(capacity: usize) -> (StreamSender<T>, StreamReceiver<T>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (StreamSender { inner: tx }, StreamReceiver { inner: rx })
}

/// The sending end of [`channel`]. Cheap to clone.
#[derive(Debug)]
pub struct StreamSender<T> {
    inner: mpsc::Sender<T>,
}

impl<T> Clone for StreamSender<T> {
    fn clone(&self) -> Self {
        StreamSender {
            inner: self.inner.clone(),
        }
    }
}

/// The receiving end went away (the call ended or was cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stream's receiver is gone (the call ended)")]
pub struct Closed;

impl<T> StreamSender<T> {
    /// Queues an item, waiting while the channel is full.
    pub async fn send(&self, item: T) -> Result<(), Closed> {
        self.inner.send(item).await.map_err(|_| Closed)
    }

    /// Resolves when the receiving end is gone: the call is over.
    pub async fn closed(&self) {
        self.inner.closed().await
    }

    /// Whether the receiving end is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

/// The receiving end of [`channel`]; a `Stream` of the items sent.
#[derive(Debug)]
pub struct StreamReceiver<T> {
    inner: mpsc::Receiver<T>,
}

impl<T> Stream for StreamReceiver<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.poll_recv(cx)
    }
}
