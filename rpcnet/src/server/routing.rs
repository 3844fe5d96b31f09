//! A request head to a running service call, whatever transport carried it: the call core's
//! head rules, the route to a registered service, the call's context, and its supervision
//! until the client leaves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::uri::PathAndQuery;
use http::HeaderMap;
use tokio::time::Instant;
use tracing::{debug, info_span, Instrument};

use super::call::{Responder, ServerCall, CANCEL_GRACE};
use super::Shared;
use crate::call_core::head::{self, Rejection};
use crate::context::ContextParts;
use crate::transport::{RecvHalf, ServerSend};
use crate::{ConnectionId, Metadata, PeerIdentity, RequestContext, Status, Transport};

/// What a transport knows of one call's connection and stream.
pub(crate) struct CallEnv {
    pub shared: Arc<Shared>,
    pub connection_id: ConnectionId,
    pub stream_id: u64,
    pub peer: SocketAddr,
    pub identity: Option<Arc<PeerIdentity>>,
    pub transport: Transport,
}

/// The request head as a transport received it.
pub(crate) struct RequestHeadIn {
    pub method: http::Method,
    pub path: PathAndQuery,
    pub headers: HeaderMap,
}

/// Serves one call: checks its head, routes it, runs the service until it is done or
/// `client_gone` resolves (the client reset the stream, stopped reading, or the connection
/// is gone), then gives the handler `CANCEL_GRACE` to notice and wind down.
pub(crate) async fn serve_call(
    request: RequestHeadIn,
    send: ServerSend,
    recv: RecvHalf,
    env: CallEnv,
    client_gone: impl Future<Output = ()>,
) {
    let span = info_span!("call", stream.id = env.stream_id, path = %request.path.path());
    async move {
        let path = request.path;
        let head = match head::check_request(&request.method, path.path(), &request.headers) {
            Ok(head) => head,
            Err(Rejection::Http(code)) => {
                debug!(code, "not a gRPC request");
                let _ = send.send_only_head(code, HeaderMap::new()).await;
                return;
            }
            Err(Rejection::Status(status)) => {
                Responder::new(send, None).finish(status).await;
                return;
            }
        };
        let Some(service) = env.shared.services.get(head.service) else {
            let status = Status::unimplemented(format!("unknown service {}", head.service));
            Responder::new(send, None).finish(status).await;
            return;
        };
        // A timeout too large to add to the clock is no deadline at all.
        let deadline = head.timeout.and_then(|t| Instant::now().checked_add(t));
        let method = head.method;
        let (ctx, cancel) = RequestContext::new(ContextParts {
            connection_id: env.connection_id,
            stream_id: env.stream_id,
            peer_addr: env.peer,
            deadline,
            peer_identity: env.identity,
            path: path.clone(),
            transport: env.transport,
        });
        let lost = cancel.clone();
        let call = ServerCall {
            ctx,
            cancel,
            metadata: Metadata::from_headers(&request.headers),
            recv,
            responder: Responder::new(send, deadline),
            max_message_size: env.shared.limits.max_message_size,
        };
        let mut served = std::pin::pin!(service.call(method, call));
        tokio::select! {
            () = &mut served => {}
            () = client_gone => {
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
