//! HTTP/2 under the call core: hyper's request and response bodies, the body rpcnet sends
//! (bounded DATA, then trailers, a clean end or a reset), and hyper's errors as
//! [`TransportError`].
//!
//! hyper owns the HTTP/2 framing, flow control and HPACK; this module only adapts its body
//! types to the call core's receive and send halves.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};

use bytes::Bytes;
use h2::Reason;
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::{oneshot, Notify};

use crate::call_core::outcome::{Reset, ResetKind, TransportError};

/// The receiving half of an HTTP/2 call: hyper's body, with the trailers kept when they
/// arrive ahead of the request for them.
pub(crate) struct H2Recv {
    body: Option<Incoming>,
    trailers: Option<HeaderMap>,
    data_over: bool,
}

impl H2Recv {
    pub(crate) fn new(body: Incoming) -> Self {
        H2Recv {
            body: Some(body),
            trailers: None,
            data_over: false,
        }
    }

    pub(crate) fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, TransportError>> {
        loop {
            if self.data_over {
                return Poll::Ready(Ok(None));
            }
            let Some(body) = self.body.as_mut() else {
                return Poll::Ready(Ok(None));
            };
            match ready!(Pin::new(body).poll_frame(cx)) {
                None => {
                    self.data_over = true;
                    return Poll::Ready(Ok(None));
                }
                Some(Err(err)) => return Poll::Ready(Err(hyper_error(&err))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => return Poll::Ready(Ok(Some(data))),
                    Err(frame) => {
                        self.data_over = true;
                        self.trailers = frame.into_trailers().ok();
                        return Poll::Ready(Ok(None));
                    }
                },
            }
        }
    }

    pub(crate) fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<HeaderMap>, TransportError>> {
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Ok(Some(trailers)));
        }
        loop {
            let Some(body) = self.body.as_mut() else {
                return Poll::Ready(Ok(None));
            };
            match ready!(Pin::new(body).poll_frame(cx)) {
                None => return Poll::Ready(Ok(None)),
                Some(Err(err)) => return Poll::Ready(Err(hyper_error(&err))),
                // DATA after the data was declared over cannot happen: the data is only over
                // at the end of the stream or at the trailers.
                Some(Ok(frame)) => match frame.into_trailers() {
                    Ok(trailers) => return Poll::Ready(Ok(Some(trailers))),
                    Err(_) => continue,
                },
            }
        }
    }

    /// Stops reading. HTTP/2 has no STOP_SENDING: dropping hyper's body tells h2 to discard
    /// what the peer still sends on this stream (a client that drops its whole call also
    /// resets it with CANCEL, see `client`).
    pub(crate) fn stop(&mut self) {
        self.body = None;
    }
}

/// How a body rpcnet sends ends, after its DATA.
pub(crate) enum End {
    /// With trailers (a server's status).
    Trailers(HeaderMap),
    /// With END_STREAM on the last DATA (a client's request).
    Finish,
    /// With RST_STREAM and this reason.
    Reset(Reason),
}

/// The writing end of an [`OutBody`]: one DATA chunk at a time, then one [`End`].
/// Dropped without an end, the stream is reset with CANCEL, as an abandoned HTTP/3 stream is
/// (`transport::h3::ResetOnDrop`).
pub(crate) struct BodySender {
    /// `None` once the end was given.
    slot: Option<Arc<Slot>>,
}

impl BodySender {
    /// Hands one DATA chunk to the body, waiting while the last one was not taken yet (hyper
    /// takes the next chunk only when HTTP/2 flow control lets it send the last, so a slow
    /// reader makes a stream hold one chunk of at most `COALESCE_BYTES`). Fails when the
    /// stream is gone (reset by the peer, connection lost).
    pub(crate) async fn send_data(&mut self, data: Bytes) -> Result<(), TransportError> {
        let Some(slot) = self.slot.as_ref() else {
            return Err(gone());
        };
        let mut data = Some(data);
        std::future::poll_fn(|cx| {
            let mut state = slot.lock();
            if state.body_gone {
                return Poll::Ready(Err(gone()));
            }
            if state.chunk.is_some() {
                register(&mut state.sender_waker, cx);
                return Poll::Pending;
            }
            state.chunk = data.take();
            let waker = state.body_waker.take();
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Ends the body after the DATA handed over.
    pub(crate) fn end(&mut self, end: End) -> Result<(), TransportError> {
        let slot = self.slot.take().ok_or_else(gone)?;
        let mut state = slot.lock();
        if state.body_gone {
            return Err(gone());
        }
        state.end = Some(end);
        let waker = state.body_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        // Abandoned without an end: the stream is reset.
        if self.slot.is_some() {
            let _ = self.end(End::Reset(Reason::CANCEL));
        }
    }
}

fn gone() -> TransportError {
    TransportError::Reset(Reset::new(
        ResetKind::Cancelled,
        "RST_STREAM CANCEL (or a lost connection)",
    ))
}

/// What a [`BodySender`] and its [`OutBody`] share: one allocation per body. (A tokio mpsc
/// channel for the DATA and a oneshot for the end cost three, one of them a 32-slot block,
/// which profiled at 2-3 % of an HTTP/2 unary call's CPU on each side.)
#[derive(Default)]
struct Slot(Mutex<SlotState>);

#[derive(Default)]
struct SlotState {
    /// DATA handed over and not yet taken by hyper.
    chunk: Option<Bytes>,
    /// How the body ends, once the sender said so.
    end: Option<End>,
    /// hyper dropped the body.
    body_gone: bool,
    body_waker: Option<Waker>,
    sender_waker: Option<Waker>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // Every update is a plain assignment; a panic elsewhere cannot leave it half-done.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps `cx`'s waker in `slot` (cloned only when it changed).
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}

/// A body rpcnet sends over HTTP/2: DATA from a [`BodySender`], then its end.
pub(crate) struct OutBody {
    /// `None` for a body with nothing in it.
    slot: Option<Arc<Slot>>,
    done: bool,
    /// Told when hyper drops this body before its end: the peer reset the stream or the
    /// connection is gone. Used for response bodies, whose call must learn the client left.
    gone: Option<Arc<Gone>>,
}

impl OutBody {
    /// A body and its sender.
    pub(crate) fn channel(gone: Option<Arc<Gone>>) -> (BodySender, OutBody) {
        let slot = Arc::new(Slot::default());
        let sender = BodySender {
            slot: Some(slot.clone()),
        };
        let body = OutBody {
            slot: Some(slot),
            done: false,
            gone,
        };
        (sender, body)
    }

    /// A body with nothing in it: the head ends the stream (a Trailers-Only response).
    pub(crate) fn empty() -> OutBody {
        OutBody {
            slot: None,
            done: true,
            gone: None,
        }
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let Some(slot) = this.slot.as_ref() else {
            this.done = true;
            return Poll::Ready(None);
        };
        let mut state = slot.lock();
        // A reset takes effect at once, ahead of DATA not yet taken.
        if let Some(End::Reset(reason)) = state.end {
            this.done = true;
            return Poll::Ready(Some(Err(h2::Error::from(reason))));
        }
        if let Some(chunk) = state.chunk.take() {
            let waker = state.sender_waker.take();
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match state.end.take() {
            Some(End::Trailers(trailers)) => {
                this.done = true;
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Some(End::Finish) => {
                this.done = true;
                Poll::Ready(None)
            }
            Some(End::Reset(reason)) => {
                this.done = true;
                Poll::Ready(Some(Err(h2::Error::from(reason))))
            }
            // All DATA is out and the end is still to come (a sender dropped without one
            // leaves a reset, so it always comes).
            None => {
                register(&mut state.body_waker, cx);
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

impl Drop for OutBody {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.as_ref() {
            let mut state = slot.lock();
            state.body_gone = true;
            let waker = state.sender_waker.take();
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        if !self.done {
            if let Some(gone) = self.gone.as_ref() {
                gone.signal();
            }
        }
    }
}

/// "The client left": set when hyper drops a call's response (its head not sent yet) or its
/// body before the end, which it does when the client resets the stream or the connection
/// is lost. One call waits on it.
#[derive(Default)]
pub(crate) struct Gone {
    set: AtomicBool,
    notify: Notify,
}

impl Gone {
    pub(crate) fn signal(&self) {
        self.set.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Resolves once the signal is set.
    pub(crate) async fn wait(&self) {
        while !self.set.load(Ordering::Acquire) {
            self.notify.notified().await;
        }
    }
}

/// hyper's future of a client call's response head.
pub(crate) type ResponseHeadFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Incoming>, hyper::Error>> + Send>>;

/// The sending half of a server's HTTP/2 call. The response head goes to hyper through
/// [`ResponseFuture`] (what hyper's service returns); DATA and trailers through the body.
pub(crate) struct H2Responder {
    head: Option<oneshot::Sender<http::Response<OutBody>>>,
    body: Option<BodySender>,
    gone: Arc<Gone>,
    alt_svc: Option<HeaderValue>,
}

/// What the hyper service returns for a call: resolves with the response head once the call
/// sends it. Dropped by hyper before that (the client reset the stream, the connection is
/// gone), it signals [`Gone`]. An abandoned call (its responder dropped without a head)
/// makes it fail with CANCEL, which hyper sends as RST_STREAM.
pub(crate) struct ResponseFuture {
    head: oneshot::Receiver<http::Response<OutBody>>,
    gone: Arc<Gone>,
    answered: bool,
}

/// A responder, the future hyper waits on for its head, and the call's [`Gone`] signal.
/// Every response head carries `alt_svc` when given (the HTTP/3 advertisement).
pub(crate) fn responder(alt_svc: Option<HeaderValue>) -> (H2Responder, ResponseFuture, Arc<Gone>) {
    let (head_tx, head_rx) = oneshot::channel();
    let gone = Arc::new(Gone::default());
    let responder = H2Responder {
        head: Some(head_tx),
        body: None,
        gone: gone.clone(),
        alt_svc,
    };
    let future = ResponseFuture {
        head: head_rx,
        gone: gone.clone(),
        answered: false,
    };
    (responder, future, gone)
}

impl H2Responder {
    pub(crate) fn send_head(&mut self, headers: HeaderMap) -> Result<(), TransportError> {
        let head = self.head.take().ok_or_else(gone)?;
        let (sender, body) = OutBody::channel(Some(self.gone.clone()));
        let response = self.response(http::StatusCode::OK, headers, body);
        head.send(response).map_err(|_| gone())?;
        self.body = Some(sender);
        Ok(())
    }

    pub(crate) async fn send_data(&mut self, data: Bytes) -> Result<(), TransportError> {
        match self.body.as_mut() {
            Some(body) => body.send_data(data).await,
            None => Err(gone()),
        }
    }

    pub(crate) fn send_trailers(&mut self, trailers: HeaderMap) -> Result<(), TransportError> {
        match self.body.as_mut() {
            Some(body) => body.end(End::Trailers(trailers)),
            None => Err(gone()),
        }
    }

    pub(crate) fn send_only_head(
        mut self,
        status: http::StatusCode,
        headers: HeaderMap,
    ) -> Result<(), TransportError> {
        let head = self.head.take().ok_or_else(gone)?;
        let response = self.response(status, headers, OutBody::empty());
        head.send(response).map_err(|_| gone())
    }

    fn response(
        &self,
        status: http::StatusCode,
        headers: HeaderMap,
        body: OutBody,
    ) -> http::Response<OutBody> {
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        if let Some(alt_svc) = self.alt_svc.as_ref() {
            response
                .headers_mut()
                .insert(http::header::ALT_SVC, alt_svc.clone());
        }
        response
    }
}

impl Future for ResponseFuture {
    type Output = Result<http::Response<OutBody>, h2::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let received = ready!(Pin::new(&mut self.head).poll(cx));
        self.answered = true;
        Poll::Ready(received.map_err(|_| h2::Error::from(Reason::CANCEL)))
    }
}

impl Drop for ResponseFuture {
    fn drop(&mut self) {
        if !self.answered {
            self.gone.signal();
        }
    }
}

/// A hyper error in the call core's terms.
pub(crate) fn hyper_error(err: &hyper::Error) -> TransportError {
    if let Some(h2_err) = find_source::<h2::Error>(err) {
        return h2_error(h2_err);
    }
    if err.is_timeout() {
        return TransportError::ConnectionLost(
            "keep-alive timed out (the peer stopped answering)".into(),
        );
    }
    if err.is_closed() || err.is_canceled() || err.is_incomplete_message() {
        return TransportError::ConnectionLost(err.to_string());
    }
    // A failed read or write on the TCP or TLS stream (a TLS alert such as "certificate
    // required" arrives this way): the connection is gone, and the I/O error says why.
    if let Some(io) = find_source::<std::io::Error>(err) {
        return TransportError::ConnectionLost(format!("{err}: {io}"));
    }
    TransportError::Protocol(format!("HTTP/2 error: {err}"))
}

/// An h2 error in the call core's terms.
pub(crate) fn h2_error(err: &h2::Error) -> TransportError {
    if err.is_io() {
        return TransportError::ConnectionLost(err.to_string());
    }
    let Some(reason) = err.reason() else {
        return TransportError::Protocol(format!("HTTP/2 error: {err}"));
    };
    if err.is_go_away() {
        return if reason == Reason::NO_ERROR {
            TransportError::GoingAway
        } else {
            TransportError::ConnectionLost(format!("GOAWAY {reason:?} from the peer"))
        };
    }
    TransportError::Reset(reset(reason))
}

/// A RST_STREAM reason, per the gRPC-over-HTTP/2 mapping.
pub(crate) fn reset(reason: Reason) -> Reset {
    let kind = match reason {
        Reason::CANCEL => ResetKind::Cancelled,
        Reason::REFUSED_STREAM => ResetKind::Refused,
        Reason::ENHANCE_YOUR_CALM => ResetKind::ExcessiveLoad,
        _ => ResetKind::Other,
    };
    Reset::new(kind, format!("RST_STREAM {reason:?}"))
}

/// The first error of type `E` in `err`'s chain of sources.
fn find_source<E: std::error::Error + 'static>(err: &hyper::Error) -> Option<&E> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(found) = cause.downcast_ref::<E>() {
            return Some(found);
        }
        source = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call_core::Side;
    use crate::Code;

    #[test]
    fn reset_reasons_map_as_grpc_over_http2_says() {
        let table = [
            (Reason::CANCEL, Code::Cancelled),
            (Reason::REFUSED_STREAM, Code::Unavailable),
            (Reason::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
            (Reason::PROTOCOL_ERROR, Code::Internal),
            (Reason::INTERNAL_ERROR, Code::Internal),
            (Reason::FLOW_CONTROL_ERROR, Code::Internal),
        ];
        for (reason, code) in table {
            let error = h2_error(&h2::Error::from(reason));
            assert_eq!(error.status(Side::Client).code(), code, "{reason:?}");
        }
    }

    fn poll(body: &mut OutBody) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        Pin::new(body).poll_frame(&mut cx)
    }

    #[tokio::test]
    async fn out_body_delivers_data_then_its_end() {
        let (mut tx, mut body) = OutBody::channel(None);
        assert!(poll(&mut body).is_pending());
        tx.send_data(Bytes::from_static(b"one")).await.unwrap();
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        tx.end(End::Trailers(trailers.clone())).unwrap();
        // The trailers arrived with DATA still queued: the DATA goes first.
        let first = poll(&mut body);
        assert!(
            matches!(&first, Poll::Ready(Some(Ok(f))) if f.data_ref() == Some(&Bytes::from_static(b"one")))
        );
        let second = poll(&mut body);
        assert!(matches!(&second, Poll::Ready(Some(Ok(f))) if f.trailers_ref() == Some(&trailers)));
        assert!(body.is_end_stream());
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
    }

    #[tokio::test]
    async fn out_body_holds_one_chunk_and_wakes_both_sides() {
        use futures_util::FutureExt;
        let (mut tx, mut body) = OutBody::channel(None);
        // The body waits, registered; a chunk handed over wakes it.
        let (waker, woken) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        tx.send_data(Bytes::from_static(b"a")).await.unwrap();
        assert_eq!(woken.load(Ordering::SeqCst), 1, "the body is woken by DATA");
        // A second chunk waits until hyper took the first.
        let mut second = Box::pin(tx.send_data(Bytes::from_static(b"b")));
        assert!(
            second.as_mut().now_or_never().is_none(),
            "one chunk held at most"
        );
        assert!(
            matches!(poll(&mut body), Poll::Ready(Some(Ok(f))) if f.data_ref().map(|d| &d[..]) == Some(&b"a"[..]))
        );
        second.await.unwrap();
        assert!(
            matches!(poll(&mut body), Poll::Ready(Some(Ok(f))) if f.data_ref().map(|d| &d[..]) == Some(&b"b"[..]))
        );
        // A sender waiting on a body hyper dropped learns the stream is gone.
        tx.send_data(Bytes::from_static(b"c")).await.unwrap();
        let mut stuck = Box::pin(tx.send_data(Bytes::from_static(b"d")));
        assert!(stuck.as_mut().now_or_never().is_none());
        drop(body);
        assert!(stuck.await.is_err());
    }

    fn counting_waker() -> (std::task::Waker, Arc<std::sync::atomic::AtomicUsize>) {
        struct Count(Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (Arc::new(Count(count.clone())).into(), count)
    }

    #[tokio::test]
    async fn out_body_finish_and_reset() {
        let (mut tx, mut body) = OutBody::channel(None);
        tx.end(End::Finish).unwrap();
        assert!(matches!(poll(&mut body), Poll::Ready(None)));

        // A reset overtakes queued DATA.
        let (mut tx, mut body) = OutBody::channel(None);
        tx.send_data(Bytes::from_static(b"x")).await.unwrap();
        tx.end(End::Reset(Reason::CANCEL)).unwrap();
        assert!(
            matches!(poll(&mut body), Poll::Ready(Some(Err(e))) if e.reason() == Some(Reason::CANCEL))
        );

        // A sender dropped without an end resets with CANCEL.
        let (tx, mut body) = OutBody::channel(None);
        drop(tx);
        assert!(
            matches!(poll(&mut body), Poll::Ready(Some(Err(e))) if e.reason() == Some(Reason::CANCEL))
        );
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_signals_gone() {
        let gone = Arc::new(Gone::default());
        let (mut tx, body) = OutBody::channel(Some(gone.clone()));
        drop(body);
        tokio::time::timeout(std::time::Duration::from_secs(1), gone.wait())
            .await
            .expect("gone is signalled");
        assert!(tx.send_data(Bytes::from_static(b"late")).await.is_err());

        let gone = Arc::new(Gone::default());
        let (mut tx, mut body) = OutBody::channel(Some(gone.clone()));
        tx.end(End::Finish).unwrap();
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        drop(body);
        assert!(
            !gone.set.load(Ordering::Acquire),
            "a finished body is no departure"
        );
        assert!(OutBody::empty().is_end_stream());
    }
}
