//! `RequestContext`: what a server handler knows about its call (connection, stream, peer,
//! deadline, verified identity) and how it learns that the client went away.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::Transport;

/// A server-side connection number, unique per server and counted from 1; shown as `conn-<n>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// The identity in a client certificate that the server verified against its client CA (mTLS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The subject's common name, when it has one.
    pub common_name: Option<String>,
    /// DNS names from the subject alternative name extension.
    pub dns_names: Vec<String>,
    /// The whole leaf certificate, DER-encoded.
    pub der: Bytes,
}

/// Per-call facts handed to a server handler. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RequestContext {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    connection_id: ConnectionId,
    stream_id: u64,
    peer_addr: SocketAddr,
    deadline: Option<Instant>,
    peer_identity: Option<Arc<PeerIdentity>>,
    /// Shares the request's buffer rather than copying the path into a new String per call.
    path: http::uri::PathAndQuery,
    transport: Transport,
    cancelled: watch::Receiver<bool>,
}

/// The runtime's side of a call's cancellation signal. Cloned when more than one party may
/// cancel the call (the call's adapter, and the server when the connection is lost).
#[derive(Clone, Debug)]
pub(crate) struct CancelHandle(watch::Sender<bool>);

impl CancelHandle {
    /// Marks the call as cancelled; every `RequestContext::cancelled` future resolves.
    pub(crate) fn cancel(&self) {
        self.0.send_replace(true);
    }
}

/// The fields a server fills in for each call.
pub(crate) struct ContextParts {
    pub connection_id: ConnectionId,
    pub stream_id: u64,
    pub peer_addr: SocketAddr,
    pub deadline: Option<Instant>,
    pub peer_identity: Option<Arc<PeerIdentity>>,
    pub path: http::uri::PathAndQuery,
    pub transport: Transport,
}

impl RequestContext {
    pub(crate) fn new(parts: ContextParts) -> (RequestContext, CancelHandle) {
        let (tx, rx) = watch::channel(false);
        let ctx = RequestContext {
            inner: Arc::new(Inner {
                connection_id: parts.connection_id,
                stream_id: parts.stream_id,
                peer_addr: parts.peer_addr,
                deadline: parts.deadline,
                peer_identity: parts.peer_identity,
                path: parts.path,
                transport: parts.transport,
                cancelled: rx,
            }),
        };
        (ctx, CancelHandle(tx))
    }

    /// The protocol carrying this call.
    pub fn transport(&self) -> Transport {
        self.inner.transport
    }

    /// The server's number for the connection carrying this call, counted across both
    /// transports.
    pub fn connection_id(&self) -> ConnectionId {
        self.inner.connection_id
    }

    /// The transport's stream id of this call: the QUIC stream id on HTTP/3; on HTTP/2 the
    /// stream id in the order the server accepted streams (client streams are odd, 1, 3, 5...;
    /// hyper does not expose the wire id, which differs only if the client abandoned a
    /// stream before its headers were read).
    pub fn stream_id(&self) -> u64 {
        self.inner.stream_id
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer_addr
    }

    /// When the call's `grpc-timeout` runs out, if the client set one.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// The verified client certificate identity, when the client presented one (mTLS).
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.inner.peer_identity.as_deref()
    }

    /// The request path, `/<package>.<Service>/<Method>`.
    pub fn path(&self) -> &str {
        self.inner.path.path()
    }

    /// Whether the client cancelled the call (reset its stream, stopped reading, or lost its
    /// connection), or its deadline passed.
    pub fn is_cancelled(&self) -> bool {
        // A dropped sender means the runtime gave up the call; `cancelled()` resolves then
        // too, so both answers agree.
        *self.inner.cancelled.borrow() || self.inner.cancelled.has_changed().is_err()
    }

    /// Resolves once the call is cancelled (see [`RequestContext::is_cancelled`]). Handlers
    /// doing long work select on it to stop early.
    pub async fn cancelled(&self) {
        let mut rx = self.inner.cancelled.clone();
        // An error means the runtime dropped the call's handle, which only happens when the
        // call is over: treat that as cancelled too.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}
