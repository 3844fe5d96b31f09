//! Message streams: `Streaming` decodes incoming messages from a call's receive half;
//! `ResponseStream` and `channel` carry outgoing messages with bounded buffering.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use crate::call_core::reader::{MessageReader, Read};
pub(crate) use crate::call_core::Side;
use crate::codec;
use crate::transport::RecvHalf;
use crate::{Metadata, Status};

/// Encoded messages gathered into one DATA frame when several outgoing messages (server
/// responses or client uploads) are ready at once: fewer frames and syscalls for small
/// streamed messages, bounded so that one frame never holds a large amount of memory.
pub(crate) const COALESCE_BYTES: usize = 64 * 1024;

/// Incoming messages of a call: the request stream on the server, the response stream on the
/// client. Reading applies backpressure: nothing is buffered beyond one partial message and
/// the transport's flow-control window.
///
/// Dropping it before the end cancels the call on the wire.
pub struct Streaming<T> {
    /// None for a stream that ended before it started (Trailers-Only, or taken over).
    body: Option<RecvHalf>,
    /// The call core's rules: framing, limits, end of stream.
    reader: MessageReader,
    deadline: Option<Pin<Box<Sleep>>>,
    /// Work tied to this stream's life, such as a client call's request uploader: aborted
    /// when the stream is dropped.
    guard: Option<AbortOnDrop>,
    _message: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("buffered", &self.reader.buffered())
            .finish_non_exhaustive()
    }
}

impl<T> Streaming<T> {
    pub(crate) fn new(
        body: RecvHalf,
        side: Side,
        max_message_size: usize,
        deadline: Option<Instant>,
    ) -> Self {
        Streaming {
            body: Some(body),
            reader: MessageReader::new(side, max_message_size),
            deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
            guard: None,
            _message: PhantomData,
        }
    }

    /// A stream that is already over: it yields no message. `trailers` is the trailing
    /// metadata of an OK Trailers-Only response.
    pub(crate) fn ended(trailers: Option<Metadata>) -> Self {
        Streaming {
            body: None,
            reader: MessageReader::ended(trailers),
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

    /// The trailers' custom metadata, once the stream ended with OK (client side).
    pub fn trailers(&self) -> Option<&Metadata> {
        self.reader.trailers()
    }

    /// Gives the stream up: the peer is asked to stop sending if it still may.
    fn abandon(&mut self) {
        if self.reader.abandon() {
            self.stop_peer();
        }
    }

    fn stop_peer(&mut self) {
        if let Some(mut body) = self.body.take() {
            body.stop();
        }
    }

    /// Polls for the next whole message body (undecoded), pumping the transport into the
    /// call core's reader.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Status>>> {
        if let Some(sleep) = self.deadline.as_mut() {
            if sleep.as_mut().poll(cx).is_ready() {
                self.deadline = None;
                self.reader.handle_deadline();
            }
        }
        loop {
            match self.reader.poll_read() {
                Read::Message(body) => return Poll::Ready(Some(Ok(body))),
                Read::Ended => return Poll::Ready(None),
                Read::Failed(failure) => {
                    if failure.stop_peer {
                        self.stop_peer();
                    }
                    return Poll::Ready(Some(Err(failure.status)));
                }
                Read::NeedData => {
                    let Some(body) = self.body.as_mut() else {
                        self.reader.handle_data_end();
                        continue;
                    };
                    match ready!(body.poll_data(cx)) {
                        Ok(Some(bytes)) => self.reader.handle_data(bytes),
                        Ok(None) => self.reader.handle_data_end(),
                        Err(err) => self.reader.handle_error(&err),
                    }
                }
                Read::NeedTrailers => {
                    let Some(body) = self.body.as_mut() else {
                        self.reader.handle_trailers(None);
                        continue;
                    };
                    match ready!(body.poll_trailers(cx)) {
                        Ok(trailers) => self.reader.handle_trailers(trailers.as_ref()),
                        Err(err) => self.reader.handle_error(&err),
                    }
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
