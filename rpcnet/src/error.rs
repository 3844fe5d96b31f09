//! Errors of setting up servers, clients and TLS (call failures are `Status`, not `Error`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// The QUIC handshake could not start (bad server name, endpoint closed...).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: quinn::ConnectError,
    },
    /// The QUIC handshake failed (TLS verification, refused, timed out by QUIC).
    #[error("connection to {addr} failed: {source}")]
    Connection {
        addr: SocketAddr,
        source: quinn::ConnectionError,
    },
    /// The handshake did not finish within the configured connect timeout.
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout { addr: SocketAddr, timeout: Duration },
    /// The HTTP/3 layer failed to start on an established QUIC connection.
    #[error("HTTP/3 setup with {addr} failed: {detail}")]
    H3 { addr: SocketAddr, detail: String },
}
