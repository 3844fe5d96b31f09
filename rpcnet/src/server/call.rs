//! One call on the server, whatever its transport: the `ServerCall` a service receives, the
//! adapters for the four call kinds, the responder that sends heads, messages and the status,
//! and the supervision that enforces deadlines and cancellation.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;
use tracing::debug;

use crate::call_core::{head, outcome, Side};
use crate::codec;
use crate::context::CancelHandle;
use crate::streaming::COALESCE_BYTES;
use crate::transport::{RecvHalf, ServerSend};
use crate::{Metadata, Request, RequestContext, Response, ResponseStream, Status, Streaming};

/// How long a handler may keep running after its call was cancelled or timed out, before the
/// runtime drops it. Long enough to notice `RequestContext::cancelled` and clean up.
pub(super) const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// One call handed to a service: its context, request metadata and the two halves of its
/// stream. Consumed by one of the `rpcnet::codegen` adapters.
pub struct ServerCall {
    pub(super) ctx: RequestContext,
    pub(super) cancel: CancelHandle,
    pub(super) metadata: Metadata,
    pub(super) recv: RecvHalf,
    pub(super) responder: Responder,
    pub(super) max_message_size: usize,
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
            self.recv,
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
pub(super) struct Responder {
    send: Option<ServerSend>,
    headers_sent: bool,
    buf: BytesMut,
    /// The call's deadline: once it passed, the status sent is DEADLINE_EXCEEDED whatever
    /// the handler returned (`call_core::outcome::final_status`).
    deadline: Option<Instant>,
}

impl Responder {
    pub(super) fn new(send: ServerSend, deadline: Option<Instant>) -> Self {
        Responder {
            send: Some(send),
            headers_sent: false,
            buf: BytesMut::new(),
            deadline,
        }
    }

    fn stream(&mut self) -> Result<&mut ServerSend, Status> {
        match self.send.as_mut() {
            Some(send) => Ok(send),
            None => Err(Status::cancelled("the call already ended")),
        }
    }

    /// Sends the response head (`:status 200`, content-type and custom metadata).
    async fn send_headers(&mut self, metadata: &Metadata) -> Result<(), Status> {
        let headers = head::response_headers(metadata);
        self.stream()?
            .send_head(headers)
            .await
            .map_err(|e| e.status(Side::Server))?;
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
            .map_err(|e| e.status(Side::Server))
    }

    /// Whether the call's deadline has passed.
    fn expired(&self) -> bool {
        outcome::deadline_passed(
            self.deadline.map(Instant::into_std),
            std::time::Instant::now(),
        )
    }

    /// Ends the call with `status` (DEADLINE_EXCEEDED instead once the deadline passed): in
    /// trailers after a response head, or as a Trailers-Only response when nothing was sent.
    pub(super) async fn finish(&mut self, status: Status) {
        let Some(send) = self.send.take() else {
            return;
        };
        let status = outcome::final_status(
            self.deadline.map(Instant::into_std),
            std::time::Instant::now(),
            status,
        );
        if status.code() != crate::Code::Ok {
            debug!(code = %status.code(), message = status.message(), "call failed");
        }
        let sent = if self.headers_sent {
            send.send_trailers(head::trailers(&status)).await
        } else {
            send.send_only_head(200, head::trailers_only(&status)).await
        };
        if let Err(err) = sent {
            debug!(error = %err, "could not send the call's status");
        }
    }

    /// Abandons the call: the send half is reset (cancel).
    fn reset(&mut self) {
        self.send = None;
    }
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
    let requests = std::mem::replace(&mut parts.requests, Streaming::ended(None));
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
    let requests = std::mem::replace(&mut parts.requests, Streaming::ended(None));
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
    if parts.responder.expired() {
        return expire(&mut parts.responder, &parts.cancel).await;
    }
    let (metadata, message, trailing) = response.into_parts_with_trailers();
    let responder = &mut parts.responder;
    let sent = async {
        responder.send_headers(&metadata).await?;
        codec::encode(&message, &mut responder.buf);
        responder.flush().await
    }
    .await;
    match sent {
        Ok(()) => parts.responder.finish(ok_with(trailing)).await,
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
    if parts.responder.expired() {
        return expire(&mut parts.responder, &parts.cancel).await;
    }
    let (metadata, mut stream, trailing) = response.into_parts_with_trailers();
    let mut trailing = Some(trailing);
    let mut ok = move || ok_with(trailing.take().unwrap_or_default());
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
            None => Some(ok()),
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
                Some(None) => end = Some(ok()),
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

/// Status OK carrying the handler's trailing metadata.
fn ok_with(trailing: Metadata) -> Status {
    let mut status = Status::ok("");
    *status.metadata_mut() = trailing;
    status
}
