//! The three implementations under test, each as a server and as a client connection:
//! rpcnet (gRPC over HTTP/3), tonic (gRPC over HTTP/2 with rustls/ring) and a raw quinn echo
//! (one bidirectional QUIC stream per request, no HTTP/3 and no gRPC: the transport's ceiling).
//!
//! Every peer runs with its library defaults apart from what the benchmark needs (TLS material,
//! a bound port); the same certificates, ring crypto provider and TLS 1.3 serve all three.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::proto::tonic_stubs::{bench_client::BenchClient, bench_server};
use crate::proto::{self, Payload, StreamRequest};

/// Largest message any peer accepts: the 1 MiB payload sweep plus headroom, and the default of
/// both rpcnet and tonic (4 MiB), so no peer is configured differently from its default.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// Concurrent streams the raw quinn server allows per connection: rpcnet's server default, so
/// the transport ceiling is measured under the same limit.
const QUINN_MAX_STREAMS: u32 = 256;

/// Which implementation a server or client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// rpcnet: gRPC over HTTP/3 (QUIC, TLS 1.3).
    Rpcnet,
    /// tonic: gRPC over HTTP/2 over TCP with rustls (ring).
    Tonic,
    /// quinn: one raw QUIC stream per request, no framing (unary echo only).
    Quinn,
}

impl Kind {
    /// The lowercase name used on the command line, in tables and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rpcnet => "rpcnet",
            Kind::Tonic => "tonic",
            Kind::Quinn => "quinn",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The TLS material every peer uses.
#[derive(Clone, Debug)]
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    /// `ca.pem`, `server.pem` and `server.key` in `dir`.
    pub fn in_dir(dir: &Path) -> Certs {
        Certs {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// A payload of `size` bytes (a fixed pattern: the content does not matter, only its length).
pub fn payload(size: usize) -> Payload {
    Payload {
        data: Bytes::from(vec![0x5a; size]),
    }
}

/// The messages a `Stream` call answers: `count` copies of one payload, endless when 0.
fn payload_stream<E: Send + 'static>(
    request: &StreamRequest,
) -> Pin<Box<dyn Stream<Item = Result<Payload, E>> + Send>> {
    let message = payload(request.size as usize);
    let endless = stream::repeat_with(move || Ok(message.clone()));
    match request.count {
        0 => Box::pin(endless),
        count => Box::pin(endless.take(usize::try_from(count).unwrap_or(usize::MAX))),
    }
}

/// The messages a `Hold` call answers: one payload, then nothing until the client leaves.
fn hold_stream<E: Send + 'static>(
    request: &StreamRequest,
) -> Pin<Box<dyn Stream<Item = Result<Payload, E>> + Send>> {
    let message = payload(request.size as usize);
    Box::pin(stream::once(async move { Ok(message) }).chain(stream::pending()))
}

// ------------------------------------------------------------------------------------------
// Servers
// ------------------------------------------------------------------------------------------

/// Binds a server of `kind` on `addr`, reports the bound address through `bound`, then serves
/// until the process ends.
pub async fn serve(
    kind: Kind,
    addr: SocketAddr,
    certs: &Certs,
    bound: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    match kind {
        Kind::Rpcnet => {
            let config = rpcnet::ServerConfig::new(&certs.cert, &certs.key)?;
            let server = rpcnet::Server::builder(config)
                .add_service(RpcnetBench)
                .bind(addr)?;
            bound(server.local_addr());
            server.serve().await?;
        }
        Kind::Tonic => {
            let identity = tonic::transport::Identity::from_pem(
                std::fs::read(&certs.cert).context("reading the server certificate")?,
                std::fs::read(&certs.key).context("reading the server key")?,
            );
            let listener = tokio::net::TcpListener::bind(addr).await?;
            bound(listener.local_addr()?);
            // `Server::serve` sets TCP_NODELAY itself (tonic's default); an incoming stream
            // built from a listener has to ask for it.
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            tonic::transport::Server::builder()
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?
                .add_service(bench_server::BenchServer::new(TonicBench))
                .serve_with_incoming(incoming)
                .await?;
        }
        Kind::Quinn => {
            let crypto = rpcnet::tls::server_config(&certs.cert, &certs.key, None)?;
            let mut config = rpcnet::tls::quic_server_config(crypto)?;
            let mut transport = quinn::TransportConfig::default();
            transport.max_concurrent_bidi_streams(QUINN_MAX_STREAMS.into());
            config.transport_config(Arc::new(transport));
            let endpoint = quinn::Endpoint::server(config, addr)?;
            bound(endpoint.local_addr()?);
            while let Some(incoming) = endpoint.accept().await {
                tokio::spawn(async move {
                    if let Ok(connection) = incoming.await {
                        quinn_echo_connection(connection).await;
                    }
                });
            }
        }
    }
    Ok(())
}

/// The rpcnet service, implemented by hand over `rpcnet::codegen` (what generated code does).
struct RpcnetBench;

impl rpcnet::Service for RpcnetBench {
    fn name(&self) -> &'static str {
        proto::SERVICE_NAME
    }

    fn call(
        &self,
        method: &str,
        call: rpcnet::ServerCall,
    ) -> rpcnet::codegen::BoxFuture<'static, ()> {
        use rpcnet::codegen::{server_streaming, unary, unimplemented};
        use rpcnet::{Request, Response, ResponseStream};
        match method {
            "Echo" => unary(call, |_ctx, request: Request<Payload>| async move {
                Ok(Response::new(request.into_inner()))
            }),
            "Stream" => {
                server_streaming(call, |_ctx, request: Request<StreamRequest>| async move {
                    Ok(Response::new(ResponseStream::new(payload_stream(
                        request.get_ref(),
                    ))))
                })
            }
            "Hold" => server_streaming(call, |_ctx, request: Request<StreamRequest>| async move {
                Ok(Response::new(ResponseStream::new(hold_stream(
                    request.get_ref(),
                ))))
            }),
            _ => unimplemented(call),
        }
    }
}

/// The tonic service, through the stubs tonic-build generated.
struct TonicBench;

type TonicStream = Pin<Box<dyn Stream<Item = Result<Payload, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl bench_server::Bench for TonicBench {
    async fn echo(
        &self,
        request: tonic::Request<Payload>,
    ) -> Result<tonic::Response<Payload>, tonic::Status> {
        Ok(tonic::Response::new(request.into_inner()))
    }

    type StreamStream = TonicStream;

    async fn stream(
        &self,
        request: tonic::Request<StreamRequest>,
    ) -> Result<tonic::Response<TonicStream>, tonic::Status> {
        Ok(tonic::Response::new(payload_stream(request.get_ref())))
    }

    type HoldStream = TonicStream;

    async fn hold(
        &self,
        request: tonic::Request<StreamRequest>,
    ) -> Result<tonic::Response<TonicStream>, tonic::Status> {
        Ok(tonic::Response::new(hold_stream(request.get_ref())))
    }
}

/// Echoes every bidirectional stream of a raw QUIC connection: read to the end, write it back.
async fn quinn_echo_connection(connection: quinn::Connection) {
    while let Ok((mut send, mut recv)) = connection.accept_bi().await {
        tokio::spawn(async move {
            let Ok(data) = recv.read_to_end(MAX_MESSAGE).await else {
                return;
            };
            if send.write_all(&data).await.is_ok() {
                let _ = send.finish();
            }
        });
    }
}

// ------------------------------------------------------------------------------------------
// Clients
// ------------------------------------------------------------------------------------------

/// One client connection to a server of any kind. Cloning shares the connection.
#[derive(Clone)]
pub enum Connection {
    Rpcnet(rpcnet::Client),
    Tonic(BenchClient<tonic::transport::Channel>),
    /// The endpoint is kept alive with its connection.
    Quinn(quinn::Connection, quinn::Endpoint),
}

/// A server stream being read.
pub enum MessageStream {
    Rpcnet(rpcnet::Streaming<Payload>),
    Tonic(tonic::Streaming<Payload>),
}

impl Connection {
    /// Opens one connection (handshake included) to a server of `kind` at `addr`.
    pub async fn open(kind: Kind, addr: SocketAddr, certs: &Certs) -> anyhow::Result<Connection> {
        match kind {
            Kind::Rpcnet => {
                let config = rpcnet::ClientConfig::new(&certs.ca)?.server_name("localhost");
                Ok(Connection::Rpcnet(
                    rpcnet::Client::connect(addr, config).await?,
                ))
            }
            Kind::Tonic => {
                let ca = std::fs::read(&certs.ca).context("reading the CA certificate")?;
                let tls = tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(ca))
                    .domain_name("localhost");
                let channel = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))?
                    .tls_config(tls)?
                    .connect()
                    .await?;
                Ok(Connection::Tonic(BenchClient::new(channel)))
            }
            Kind::Quinn => {
                let crypto = rpcnet::tls::client_config(&certs.ca, None)?;
                let config = rpcnet::tls::quic_client_config(crypto)?;
                let bind: SocketAddr = (std::net::Ipv4Addr::UNSPECIFIED, 0).into();
                let mut endpoint = quinn::Endpoint::client(bind)?;
                endpoint.set_default_client_config(config);
                let connection = endpoint.connect(addr, "localhost")?.await?;
                Ok(Connection::Quinn(connection, endpoint))
            }
        }
    }

    /// One unary echo; answers the echoed bytes. Errors are described in one line.
    pub async fn echo(&mut self, data: Bytes) -> Result<Bytes, String> {
        match self {
            Connection::Rpcnet(client) => client
                .unary::<Payload, Payload>(proto::ECHO_PATH, rpcnet::Request::new(Payload { data }))
                .await
                .map(|response| response.into_inner().data)
                .map_err(|status| status.to_string()),
            Connection::Tonic(client) => client
                .echo(Payload { data })
                .await
                .map(|response| response.into_inner().data)
                .map_err(|status| format!("tonic: {status}")),
            Connection::Quinn(connection, _) => {
                let (mut send, mut recv) = connection
                    .open_bi()
                    .await
                    .map_err(|e| format!("quinn open_bi: {e}"))?;
                send.write_all(&data)
                    .await
                    .map_err(|e| format!("quinn write: {e}"))?;
                send.finish().map_err(|e| format!("quinn finish: {e}"))?;
                recv.read_to_end(MAX_MESSAGE)
                    .await
                    .map(Bytes::from)
                    .map_err(|e| format!("quinn read: {e}"))
            }
        }
    }

    /// Starts a server-streaming call to `path` (`STREAM_PATH` or `HOLD_PATH`).
    pub async fn server_stream(
        &mut self,
        path: &'static str,
        request: StreamRequest,
    ) -> Result<MessageStream, String> {
        match self {
            Connection::Rpcnet(client) => client
                .server_streaming::<StreamRequest, Payload>(path, rpcnet::Request::new(request))
                .await
                .map(|response| MessageStream::Rpcnet(response.into_inner()))
                .map_err(|status| status.to_string()),
            Connection::Tonic(client) => {
                let response = if path == proto::HOLD_PATH {
                    client.hold(request).await
                } else {
                    client.stream(request).await
                };
                response
                    .map(|response| MessageStream::Tonic(response.into_inner()))
                    .map_err(|status| format!("tonic: {status}"))
            }
            Connection::Quinn(..) => Err("the raw quinn peer has no streaming calls".to_string()),
        }
    }
}

impl MessageStream {
    /// The next message; `Ok(None)` when the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<Payload>, String> {
        match self {
            MessageStream::Rpcnet(stream) => stream.message().await.map_err(|s| s.to_string()),
            MessageStream::Tonic(stream) => {
                stream.message().await.map_err(|s| format!("tonic: {s}"))
            }
        }
    }
}
