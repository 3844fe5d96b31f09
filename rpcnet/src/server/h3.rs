//! The server's HTTP/3 door: accepts QUIC connections on the endpoint, runs h3 over our quinn
//! adapter on each, and hands every request stream to `routing::serve_call`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info_span, warn, Instrument};

use super::routing::{self, CallEnv, RequestHeadIn};
use super::Shared;
use crate::quic::{self, StopNotice, StoppedFuture};
use crate::transport::h3::{self as t3, ResetOnDrop};
use crate::transport::{RecvHalf, ServerSend};
use crate::{tls, ConnectionId, Transport};

/// Accepts connections until shutdown, then waits for them to drain (within the grace).
pub(super) async fn serve(
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let for_connections = shutdown.clone();
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let admitted = match shared.admission.admit(incoming.remote_address().ip()) {
                    Ok(admitted) => admitted,
                    Err(refusal) => {
                        debug!(peer = %incoming.remote_address(), %refusal, "connection refused");
                        incoming.refuse();
                        continue;
                    }
                };
                let id = ConnectionId(shared.next_connection.fetch_add(1, Ordering::Relaxed));
                let span = info_span!("connection", connection.id = %id, peer = %incoming.remote_address(), transport = "h3");
                let shared = shared.clone();
                let shutdown = for_connections.clone();
                connections.spawn(
                    async move {
                        let _admitted = admitted;
                        serve_connection(incoming, id, shared, shutdown).await
                    }
                    .instrument(span),
                );
            }
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        while connections.try_join_next().is_some() {}
    }
    // Every connection task saw the same signal and is draining its calls.
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(shared.limits.shutdown_grace + Duration::from_secs(1), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
    endpoint.close(no_error(), b"server shutdown");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
}

fn no_error() -> quinn::VarInt {
    quinn::VarInt::from_u32(h3::error::Code::H3_NO_ERROR.value() as u32)
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
    let stream_limit = shared.limits.max_concurrent_streams as usize;
    let quic_conn = quic::Connection::with_stopped_capacity(conn.clone(), 2 * stream_limit);
    let stopped = quic_conn.stopped_registry();
    let mut h3_conn = match ::h3::server::builder()
        .max_field_section_size(shared.limits.max_header_list_size)
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
                    let env = Env { shared: shared.clone(), id, peer, identity: identity.clone() };
                    let conn = conn.clone();
                    let stopped = stopped.clone();
                    calls.spawn(async move {
                        let header_timeout = env.shared.limits.header_timeout;
                        match tokio::time::timeout(header_timeout, resolver.resolve_request()).await {
                            Ok(Ok((request, stream))) => {
                                let stopped = stopped.take(stream.id().into_inner());
                                handle_request(request, stream, env, conn, stopped).await;
                            }
                            Ok(Err(err)) => debug!(error = %err, "could not read request headers"),
                            Err(_) => debug!(?header_timeout, "request headers incomplete; stream dropped"),
                        }
                    });
                }
                Ok(None) => break,
                Err(err) => {
                    if !t3::is_graceful(&err) {
                        debug!(reason = %t3::describe_connection_error(&err), "connection closed");
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
    if tokio::time::timeout(shared.limits.shutdown_grace, drain)
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
    conn.close(no_error(), b"");
}

/// What each call of a connection shares.
struct Env {
    shared: Arc<Shared>,
    id: ConnectionId,
    peer: SocketAddr,
    identity: Option<Arc<crate::PeerIdentity>>,
}

async fn handle_request(
    request: http::Request<()>,
    stream: t3::BidiRequestStream,
    env: Env,
    conn: quinn::Connection,
    stopped: Option<StoppedFuture>,
) {
    let stream_id = stream.id().into_inner();
    let (parts, ()) = request.into_parts();
    // h3 refuses requests without :path, so the fallback only keeps this total.
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    let head = RequestHeadIn {
        method: parts.method,
        path,
        headers: parts.headers,
    };
    let (send, recv) = stream.split();
    let env = CallEnv {
        shared: env.shared,
        connection_id: env.id,
        stream_id,
        peer: env.peer,
        identity: env.identity,
        transport: Transport::Http3,
    };
    routing::serve_call(
        head,
        ServerSend::H3(ResetOnDrop::new(send)),
        RecvHalf::H3(t3::H3Recv::Server(recv)),
        env,
        client_gone(stopped, conn),
    )
    .await;
}

/// Resolves when the client can no longer want the response: it sent STOP_SENDING on the
/// call's stream, or the connection is gone. A response that was finished and acknowledged
/// (`StopNotice::Done`) is no cancellation, so that case never resolves.
async fn client_gone(stopped: Option<StoppedFuture>, conn: quinn::Connection) {
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
