//! Errors of setting up servers, clients and TLS (call failures are `Status`, not `Error`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::{TlsAlert, Transport};

/// Why a server or client could not be set up, or a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate, key or CA file could not be read.
    #[error("cannot read {what} from {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A PEM file held nothing usable of the kind asked for.
    #[error("no {what} found in {}: {detail}", path.display())]
    Pem {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    /// rustls refused the configuration (bad key, unsupported algorithm...).
    #[error("invalid TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Any other TLS setup problem, described in words.
    #[error("invalid TLS configuration: {0}")]
    TlsConfig(String),
    /// The UDP socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The connection could not be made: refused, unreachable, or the handshake failed
    /// (TLS verification...). `source` says why.
    #[error("connection to {addr} over {transport} failed: {source}")]
    Connection {
        addr: SocketAddr,
        transport: Transport,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The handshake did not finish within the configured connect timeout.
    #[error("connecting to {addr} over {transport} timed out after {timeout:?}")]
    ConnectTimeout {
        addr: SocketAddr,
        transport: Transport,
        timeout: Duration,
    },
    /// The HTTP layer failed to start on an established connection.
    #[error("{transport} setup with {addr} failed: {detail}")]
    Protocol {
        addr: SocketAddr,
        transport: Transport,
        detail: String,
    },
}

impl Error {
    /// The TLS alert with which the server refused the connection, when that is why it could
    /// not be made: for example `unknown_ca` when it does not trust the client's certificate.
    /// Found in the error's sources whichever transport failed, so callers never parse the
    /// message to tell a configuration error from a server that is not up.
    pub fn tls_alert(&self) -> Option<TlsAlert> {
        crate::transport::refusal::peer_alert(self)
    }
}
