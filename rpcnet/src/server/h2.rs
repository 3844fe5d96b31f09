//! The server's HTTP/2 door: accepts TCP connections, runs TLS 1.3 (ALPN `h2`, the same
//! certificate and client verification as HTTP/3) and hyper's HTTP/2 on each, and hands every
//! request to `routing::serve_call`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info_span, warn, Instrument};

use super::routing::{self, CallEnv, RequestHeadIn};
use super::Shared;
use crate::transport::h2::{self as t2, H2Recv};
use crate::transport::{RecvHalf, ServerSend};
use crate::{tls, ConnectionId, PeerIdentity, Transport};

/// How long a TLS handshake may take before the connection is dropped, so that a client
/// that opens TCP connections and says nothing cannot hold them.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server waits for a PING answer before it takes the client for dead.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Accepts connections until shutdown, then waits for them to drain (within the grace).
pub(super) async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut connections = JoinSet::new();
    let for_connections = shutdown.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: pause rather than spin.
                warn!(error = %err, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = match shared.admission.admit(peer.ip()) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                debug!(%peer, %refusal, "connection refused");
                drop(tcp);
                continue;
            }
        };
        let id = ConnectionId(shared.next_connection.fetch_add(1, Ordering::Relaxed));
        let span = info_span!("connection", connection.id = %id, %peer, transport = "h2");
        let conn = Conn {
            shared: shared.clone(),
            id,
            peer,
        };
        let serve = serve_connection(tcp, acceptor.clone(), conn, for_connections.clone());
        connections.spawn(
            async move {
                let _admitted = admitted;
                serve.await
            }
            .instrument(span),
        );
        while connections.try_join_next().is_some() {}
    }
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(shared.limits.shutdown_grace + Duration::from_secs(1), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
}

/// One accepted TCP connection.
struct Conn {
    shared: Arc<Shared>,
    id: ConnectionId,
    peer: SocketAddr,
}

async fn serve_connection(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    conn: Conn,
    mut shutdown: watch::Receiver<bool>,
) {
    // gRPC messages are small and latency matters more than packing.
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => {
            warn!(peer = %conn.peer, error = %err, "TLS handshake failed");
            return;
        }
        Err(_) => {
            warn!(peer = %conn.peer, "TLS handshake timed out");
            return;
        }
    };
    let session = tls.get_ref().1;
    if session.alpn_protocol() != Some(tls::ALPN_H2) {
        // rustls refuses a client that offers ALPN without h2; one that offers none gets
        // here, and only HTTP/2 is spoken.
        warn!(peer = %conn.peer, "client did not negotiate ALPN h2");
        return;
    }
    let identity = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| tls::identity_from_der(leaf))
        .map(Arc::new);
    debug!(identity = ?identity.as_ref().and_then(|i| i.common_name.clone()), "connection established");

    let limits = conn.shared.limits;
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_list_size).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.keep_alive)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT);
    let active = Arc::new(AtomicUsize::new(0));
    let service = CallService {
        shared: conn.shared.clone(),
        id: conn.id,
        peer: conn.peer,
        identity,
        next_stream: Arc::new(AtomicU64::new(0)),
        active: active.clone(),
    };
    let connection = builder.serve_connection(
        TokioIo::new(tls),
        hyper::service::service_fn(move |request| service.call(request)),
    );
    let mut connection = std::pin::pin!(connection);
    // The idle timeout: no call for this long closes the connection (GOAWAY), as QUIC's
    // idle timeout does on HTTP/3.
    let mut idle_check =
        tokio::time::interval((limits.idle_timeout / 4).max(Duration::from_millis(10)));
    let mut idle_since = tokio::time::Instant::now();
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break Some(result),
            _ = shutdown.wait_for(|stop| *stop) => break None,
            _ = idle_check.tick() => {
                if active.load(Ordering::Acquire) > 0 {
                    idle_since = tokio::time::Instant::now();
                } else if idle_since.elapsed() >= limits.idle_timeout {
                    debug!("idle timeout");
                    break None;
                }
            }
        }
    };
    match result {
        Some(Ok(())) => {}
        Some(Err(err)) => debug!(reason = %t2::hyper_error(&err), "connection closed"),
        None => {
            // GOAWAY: no new calls here; calls already accepted run to their end.
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(limits.shutdown_grace, connection.as_mut()).await {
                Ok(Err(err)) => debug!(error = %err, "connection closed during shutdown"),
                Ok(Ok(())) => {}
                Err(_) => debug!("calls still running after the shutdown grace; closing"),
            }
        }
    }
}

/// hyper's service for one connection: each request becomes a call task.
#[derive(Clone)]
struct CallService {
    shared: Arc<Shared>,
    id: ConnectionId,
    peer: SocketAddr,
    identity: Option<Arc<PeerIdentity>>,
    next_stream: Arc<AtomicU64>,
    active: Arc<AtomicUsize>,
}

impl CallService {
    fn call(&self, request: http::Request<Incoming>) -> t2::ResponseFuture {
        let (responder, response, gone) = t2::responder(self.shared.alt_svc.clone());
        let (parts, body) = request.into_parts();
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
        // Client streams are odd: 1, 3, 5...
        let stream_id = 2 * self.next_stream.fetch_add(1, Ordering::Relaxed) + 1;
        let env = CallEnv {
            shared: self.shared.clone(),
            connection_id: self.id,
            stream_id,
            peer: self.peer,
            identity: self.identity.clone(),
            transport: Transport::Http2,
        };
        let active = ActiveCall::new(self.active.clone());
        tokio::spawn(async move {
            let _active = active;
            routing::serve_call(
                head,
                ServerSend::H2(responder),
                RecvHalf::H2(H2Recv::new(body)),
                env,
                async move { gone.wait().await },
            )
            .await;
        });
        response
    }
}

/// Counts a running call for the idle timeout.
struct ActiveCall(Arc<AtomicUsize>);

impl ActiveCall {
    fn new(counter: Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        ActiveCall(counter)
    }
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
