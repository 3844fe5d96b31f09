//! `ClientConfig`: trust, identity, limits and the choice of transport of a client.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::DEFAULT_MAX_MESSAGE_SIZE;
use crate::{tls, Error};

/// Which transport a client uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientTransport {
    /// HTTP/3 over QUIC only.
    Http3,
    /// HTTP/2 over TLS over TCP only.
    Http2,
    /// Both raced (QUIC first, TCP after a short head start), the first handshake to complete
    /// wins; an HTTP/2 connection moves to HTTP/3 once the server advertises it (`alt-svc`).
    #[default]
    Auto,
}

/// Client settings. The server is always verified against the CA given to `new`.
#[derive(Clone)]
pub struct ClientConfig {
    pub(super) crypto: Arc<rustls::ClientConfig>,
    ca: std::path::PathBuf,
    pub(super) server_name: String,
    pub(super) max_message_size: usize,
    pub(super) max_header_list_size: u64,
    pub(super) keep_alive: Option<Duration>,
    pub(super) idle_timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) udp_buffer_size: usize,
    pub(super) transport: ClientTransport,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("ca", &self.ca)
            .field("server_name", &self.server_name)
            .field("max_message_size", &self.max_message_size)
            .field("keep_alive", &self.keep_alive)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// Trusts servers whose certificate chains to a CA in `ca_pem`. There is no way to turn
    /// verification off.
    pub fn new(ca_pem: impl AsRef<Path>) -> Result<Self, Error> {
        let ca = ca_pem.as_ref().to_path_buf();
        let crypto = tls::client_config(&ca, None)?;
        Ok(ClientConfig {
            crypto: Arc::new(crypto),
            ca,
            server_name: "localhost".to_string(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_header_list_size: 16 * 1024,
            // Below the idle timeout, so quiet long-lived streams stay up.
            keep_alive: Some(Duration::from_secs(5)),
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            udp_buffer_size: crate::socket::DEFAULT_UDP_BUFFER,
            transport: ClientTransport::Auto,
        })
    }

    /// The name the server certificate must carry (default `localhost`).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = name.into();
        self
    }

    /// Presents this client certificate (mTLS).
    pub fn identity(
        mut self,
        cert_pem: impl AsRef<Path>,
        key_pem: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let crypto = tls::client_config(&self.ca, Some((cert_pem.as_ref(), key_pem.as_ref())))?;
        self.crypto = Arc::new(crypto);
        Ok(self)
    }

    /// Largest response message accepted, in bytes (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// QUIC PING interval (default 5 s). With a short idle timeout it detects a dead server
    /// quickly.
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = Some(interval);
        self
    }

    /// Closes the connection after this long without hearing from the server (default 30 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Gives up a handshake after this long (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Kernel receive and send buffer requested for the client's UDP socket (default 4 MiB,
    /// capped by the kernel).
    pub fn udp_buffer_size(mut self, bytes: usize) -> Self {
        self.udp_buffer_size = bytes;
        self
    }

    /// Which transport to use (default [`ClientTransport::Auto`]).
    pub fn transport(mut self, transport: ClientTransport) -> Self {
        self.transport = transport;
        self
    }

    pub(super) fn quinn_config(&self) -> Result<quinn::ClientConfig, Error> {
        let mut crypto = (*self.crypto).clone();
        crypto.alpn_protocols = vec![tls::ALPN_H3.to_vec()];
        let mut config = tls::quic_client_config(crypto)?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(crate::server::idle_timeout(self.idle_timeout)?))
            .keep_alive_interval(self.keep_alive);
        config.transport_config(Arc::new(transport));
        Ok(config)
    }

    /// The TLS configuration for HTTP/2: the same trust and identity, ALPN `h2`.
    pub(super) fn h2_tls(&self) -> Arc<rustls::ClientConfig> {
        let mut crypto = (*self.crypto).clone();
        crypto.alpn_protocols = vec![tls::ALPN_H2.to_vec()];
        Arc::new(crypto)
    }
}
