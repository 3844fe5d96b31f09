//! The server: one `bind` serves gRPC over HTTP/3 (UDP) and HTTP/2 (TCP) on the same port,
//! routing `/<package>.<Service>/<Method>` to registered services.
//!
//! Modules, one job each: `config` (settings and limits), `h3` and `h2` (accept connections
//! and their calls on one transport), `routing` (a request head to a service call), `call`
//! (the call's responder, adapters and supervision).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use http::HeaderValue;
use tokio::sync::watch;

use crate::{Error, Transport};

mod admission;
mod call;
mod config;
mod h2;
mod h3;
mod routing;

pub use call::ServerCall;
pub(crate) use call::{
    run_bidi_streaming, run_client_streaming, run_server_streaming, run_unary, run_unimplemented,
};
pub use config::ServerConfig;
pub(crate) use config::{idle_timeout, Limits};

/// A future boxed for dynamic dispatch, as services return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One registered service. Generated `<Service>Server<T>` wrappers implement it.
pub trait Service: Send + Sync + 'static {
    /// Fully qualified name, `<package>.<Service>`.
    fn name(&self) -> &'static str;
    /// Handles one call of `method` (the last path segment). Unknown methods answer through
    /// `rpcnet::codegen::unimplemented(call)`.
    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<'static, ()>;
}

/// Collects services before binding.
pub struct ServerBuilder {
    config: ServerConfig,
    services: HashMap<&'static str, Arc<dyn Service>>,
}

impl ServerBuilder {
    /// Registers a service; a second service with the same name replaces the first.
    pub fn add_service(mut self, service: impl Service) -> Self {
        self.services.insert(service.name(), Arc::new(service));
        self
    }

    /// Binds the sockets now (so the address is known and errors are immediate): UDP for
    /// HTTP/3 and TCP for HTTP/2, on the same port number. With port 0, the port is one that
    /// is free for both.
    pub fn bind(self, addr: SocketAddr) -> Result<Server, Error> {
        let config = &self.config;
        if !config.serves_http3() && !config.serves_http2() {
            return Err(Error::TlsConfig(
                "the server serves neither HTTP/3 nor HTTP/2".to_string(),
            ));
        }
        // With port 0, the kernel picks a UDP port whose TCP twin may be taken: try again.
        let attempts = if addr.port() == 0 { 16 } else { 1 };
        let h2_tls = match config.serves_http2() {
            true => Some(Arc::new(config.tls(crate::tls::ALPN_H2)?)),
            false => None,
        };
        let mut last_error = None;
        for _ in 0..attempts {
            match self.bind_once(addr) {
                Ok(sockets) => return Ok(self.finish(sockets, h2_tls)),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or(Error::Bind {
            addr,
            source: std::io::Error::other("no attempt made"),
        }))
    }

    fn bind_once(&self, addr: SocketAddr) -> Result<Sockets, Error> {
        let bind_error = |source| Error::Bind { addr, source };
        let (quic, port) = if self.config.serves_http3() {
            let endpoint = crate::socket::endpoint(
                addr,
                Some(self.config.quinn_config()?),
                self.config.udp_buffer(),
            )
            .map_err(bind_error)?;
            let port = endpoint.local_addr().map_err(bind_error)?.port();
            (Some(endpoint), port)
        } else {
            (None, addr.port())
        };
        let tcp = if self.config.serves_http2() {
            let tcp_addr = SocketAddr::new(addr.ip(), port);
            let listener = std::net::TcpListener::bind(tcp_addr).map_err(|source| Error::Bind {
                addr: tcp_addr,
                source,
            })?;
            listener.set_nonblocking(true).map_err(bind_error)?;
            Some(listener)
        } else {
            None
        };
        let local_addr = match (&quic, &tcp) {
            (Some(endpoint), _) => endpoint.local_addr().map_err(bind_error)?,
            (None, Some(listener)) => listener.local_addr().map_err(bind_error)?,
            (None, None) => addr,
        };
        Ok(Sockets {
            quic,
            tcp,
            local_addr,
        })
    }

    fn finish(self, sockets: Sockets, h2_tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let (shutdown, _) = watch::channel(false);
        // HTTP/2 responses tell clients that the same port speaks HTTP/3 (RFC 7838).
        let alt_svc = sockets.quic.as_ref().and_then(|_| {
            HeaderValue::from_str(&format!("h3=\":{}\"; ma=86400", sockets.local_addr.port())).ok()
        });
        let limits = self.config.limits();
        Server {
            sockets,
            h2_tls,
            shared: Arc::new(Shared {
                services: self.services,
                admission: admission::Admission::new(
                    limits.max_connections,
                    limits.max_connections_per_peer,
                ),
                limits,
                next_connection: AtomicU64::new(1),
                alt_svc,
            }),
            shutdown: Arc::new(shutdown),
        }
    }
}

struct Sockets {
    quic: Option<quinn::Endpoint>,
    tcp: Option<std::net::TcpListener>,
    local_addr: SocketAddr,
}

/// A bound server. `serve` runs it until `ShutdownHandle::shutdown`.
pub struct Server {
    sockets: Sockets,
    h2_tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
    shutdown: Arc<watch::Sender<bool>>,
}

/// What every connection of a server shares.
pub(crate) struct Shared {
    pub(crate) services: HashMap<&'static str, Arc<dyn Service>>,
    pub(crate) limits: Limits,
    /// Connection numbers, one counter across both transports.
    pub(crate) next_connection: AtomicU64,
    /// `alt-svc` for HTTP/2 responses when HTTP/3 is served too.
    pub(crate) alt_svc: Option<HeaderValue>,
    /// The connection caps, in all and per address, across both transports.
    pub(crate) admission: Arc<admission::Admission>,
}

/// Starts a graceful shutdown: GOAWAY to every client, in-flight calls finish within the
/// grace period, then connections close.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    shutdown: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    /// Begins the shutdown; `Server::serve` returns once it is complete.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

impl Server {
    /// Starts configuring a server.
    pub fn builder(config: ServerConfig) -> ServerBuilder {
        ServerBuilder {
            config,
            services: HashMap::new(),
        }
    }

    /// The bound address (useful after binding port 0). HTTP/3 and HTTP/2 share its port.
    pub fn local_addr(&self) -> SocketAddr {
        self.sockets.local_addr
    }

    /// The transports this server serves.
    pub fn transports(&self) -> Vec<Transport> {
        let mut transports = Vec::new();
        if self.sockets.quic.is_some() {
            transports.push(Transport::Http3);
        }
        if self.sockets.tcp.is_some() {
            transports.push(Transport::Http2);
        }
        transports
    }

    /// A handle that stops this server gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shutdown: self.shutdown.clone(),
        }
    }

    /// Accepts connections and serves calls on both transports until shut down.
    pub async fn serve(self) -> Result<(), Error> {
        let Server {
            sockets,
            h2_tls,
            shared,
            shutdown,
        } = self;
        let quic = sockets
            .quic
            .map(|endpoint| h3::serve(endpoint, shared.clone(), shutdown.subscribe()));
        let tcp = match (sockets.tcp, h2_tls) {
            (Some(listener), Some(tls)) => {
                let listener =
                    tokio::net::TcpListener::from_std(listener).map_err(|source| Error::Bind {
                        addr: sockets.local_addr,
                        source,
                    })?;
                Some(h2::serve(
                    listener,
                    tls,
                    shared.clone(),
                    shutdown.subscribe(),
                ))
            }
            _ => None,
        };
        let quic = async {
            if let Some(quic) = quic {
                quic.await
            }
        };
        let tcp = async {
            if let Some(tcp) = tcp {
                tcp.await
            }
        };
        tokio::join!(quic, tcp);
        Ok(())
    }
}
