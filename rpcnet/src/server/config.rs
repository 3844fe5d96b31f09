//! `ServerConfig`: the server's TLS material and limits, the same for HTTP/3 and HTTP/2.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::codec::DEFAULT_MAX_MESSAGE_SIZE;
use crate::tls::{self, ClientAuth};
use crate::Error;

/// The limits both transports apply, copied out of the configuration at bind time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_message_size: usize,
    pub max_header_list_size: u64,
    pub max_concurrent_streams: u32,
    pub idle_timeout: Duration,
    pub keep_alive: Option<Duration>,
    pub shutdown_grace: Duration,
    pub max_connections: usize,
    pub max_connections_per_peer: usize,
    pub header_timeout: Duration,
}

/// Server settings: TLS material and limits. Every limit has a safe default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<(PathBuf, ClientAuth)>,
    max_message_size: usize,
    max_concurrent_streams: u32,
    max_header_list_size: u64,
    idle_timeout: Duration,
    keep_alive: Option<Duration>,
    shutdown_grace: Duration,
    udp_buffer_size: usize,
    http3: bool,
    http2: bool,
    max_connections: usize,
    max_connections_per_peer: usize,
    header_timeout: Duration,
}

impl ServerConfig {
    /// A configuration serving `cert_pem` (chain) with `key_pem`. Both files are read now, so
    /// a missing or malformed file is reported here rather than at the first connection.
    pub fn new(cert_pem: impl AsRef<Path>, key_pem: impl AsRef<Path>) -> Result<Self, Error> {
        let cert = cert_pem.as_ref().to_path_buf();
        let key = key_pem.as_ref().to_path_buf();
        tls::load_certs(&cert)?;
        tls::load_private_key(&key)?;
        Ok(ServerConfig {
            cert,
            key,
            client_ca: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            // quinn's default is 100; a little more headroom for fan-in from one client,
            // each stream costing only its buffers when idle.
            max_concurrent_streams: 256,
            max_header_list_size: 8 * 1024,
            idle_timeout: Duration::from_secs(30),
            // Keeps long-lived streaming calls alive and notices dead clients.
            keep_alive: Some(Duration::from_secs(5)),
            shutdown_grace: Duration::from_secs(10),
            udp_buffer_size: crate::socket::DEFAULT_UDP_BUFFER,
            http3: true,
            http2: true,
            // Each idle connection costs some tens of KiB (quinn's and h3's state, or hyper's
            // and rustls' buffers), so 10,000 bounds that to a few hundred MiB.
            max_connections: 10_000,
            // Enough for a host running many clients (a test machine, a NAT), small enough
            // that one address cannot take the whole budget.
            max_connections_per_peer: 512,
            // A request head is one small block: ten seconds is far beyond any honest client,
            // and bounds how long a stream can be held open with half its headers.
            header_timeout: Duration::from_secs(10),
        })
    }

    /// Verifies client certificates against `ca_pem` (mTLS). With `required`, clients without
    /// a valid certificate are refused during the handshake; otherwise they may connect
    /// anonymously and handlers see `RequestContext::peer_identity() == None`.
    pub fn client_ca(mut self, ca_pem: impl AsRef<Path>, required: bool) -> Result<Self, Error> {
        let ca = ca_pem.as_ref().to_path_buf();
        tls::load_roots(&ca)?;
        let mode = if required {
            ClientAuth::Required
        } else {
            ClientAuth::Optional
        };
        self.client_ca = Some((ca, mode));
        Ok(self)
    }

    /// Largest request message accepted, in bytes (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Concurrent calls (bidirectional streams) per connection (default 256).
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// Largest request header block, in bytes (default 8 KiB).
    pub fn max_header_list_size(mut self, bytes: u64) -> Self {
        self.max_header_list_size = bytes;
        self
    }

    /// Closes a connection silent for this long (default 30 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sends QUIC PINGs at this interval (default 5 s), keeping streams alive and finding
    /// dead clients.
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = Some(interval);
        self
    }

    /// Most connections served at once, both transports together (default 10,000). A
    /// connection over the cap is refused: QUIC CONNECTION_REFUSED, or the TCP connection is
    /// closed before TLS.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Most connections from one IP address at once (default 512), refused as for
    /// [`ServerConfig::max_connections`].
    pub fn max_connections_per_peer(mut self, connections: usize) -> Self {
        self.max_connections_per_peer = connections;
        self
    }

    /// How long a request stream may take to deliver its header block (HTTP/3; default
    /// 10 s). A stream still incomplete then is dropped.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// How long in-flight calls may run after a shutdown starts (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Kernel receive and send buffer requested for the UDP socket (default 4 MiB, capped by
    /// the kernel's `net.core.rmem_max`/`wmem_max`).
    pub fn udp_buffer_size(mut self, bytes: usize) -> Self {
        self.udp_buffer_size = bytes;
        self
    }

    /// Serves HTTP/3 on the UDP port (default on).
    pub fn http3(mut self, enabled: bool) -> Self {
        self.http3 = enabled;
        self
    }

    /// Serves HTTP/2 on the TCP port of the same number (default on), for clients and
    /// networks without QUIC. Its responses advertise the HTTP/3 port with `alt-svc` when
    /// HTTP/3 is served too.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    pub(super) fn serves_http3(&self) -> bool {
        self.http3
    }

    pub(super) fn serves_http2(&self) -> bool {
        self.http2
    }

    pub(super) fn limits(&self) -> Limits {
        Limits {
            max_message_size: self.max_message_size,
            max_header_list_size: self.max_header_list_size,
            max_concurrent_streams: self.max_concurrent_streams,
            idle_timeout: self.idle_timeout,
            keep_alive: self.keep_alive,
            shutdown_grace: self.shutdown_grace,
            max_connections: self.max_connections,
            max_connections_per_peer: self.max_connections_per_peer,
            header_timeout: self.header_timeout,
        }
    }

    pub(super) fn udp_buffer(&self) -> usize {
        self.udp_buffer_size
    }

    /// The TLS configuration for one transport: the same certificate, key and client
    /// verification for both, with that transport's ALPN.
    pub(super) fn tls(&self, alpn: &[u8]) -> Result<rustls::ServerConfig, Error> {
        let client_auth = self
            .client_ca
            .as_ref()
            .map(|(path, mode)| (path.as_path(), *mode));
        let mut crypto = tls::server_config(&self.cert, &self.key, client_auth)?;
        crypto.alpn_protocols = vec![alpn.to_vec()];
        Ok(crypto)
    }

    pub(super) fn quinn_config(&self) -> Result<quinn::ServerConfig, Error> {
        let mut config = tls::quic_server_config(self.tls(tls::ALPN_H3)?)?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(self.max_concurrent_streams.into())
            .max_idle_timeout(Some(idle_timeout(self.idle_timeout)?))
            .keep_alive_interval(self.keep_alive);
        config.transport_config(Arc::new(transport));
        Ok(config)
    }
}

pub(crate) fn idle_timeout(timeout: Duration) -> Result<quinn::IdleTimeout, Error> {
    quinn::IdleTimeout::try_from(timeout)
        .map_err(|_| Error::TlsConfig(format!("idle timeout {timeout:?} is too large for QUIC")))
}
