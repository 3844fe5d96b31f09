//! The implementations under test, each as a server and as a client connection: rpcnet over
//! HTTP/3, rpcnet over HTTP/2 and rpcnet choosing for itself (`Auto`) - one and the same rpcnet
//! server with its defaults (UDP and TCP on one port), the client naming its transport - tonic
//! (gRPC over HTTP/2 with rustls/ring) and a raw quinn echo (one bidirectional QUIC stream per
//! request, no HTTP/3 and no gRPC: the transport's ceiling). One more kind, the
//! connection-swap director with its workers, serves the memory scenario.
//!
//! Every peer runs with its library defaults apart from what the benchmark needs (TLS material,
//! a bound port, rpcnet's client transport); the same certificates, ring crypto provider and
//! TLS 1.3 serve all of them.

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

/// Connections one address may hold on the rpcnet servers and the director: every client of
/// the benchmark comes from 127.0.0.1, and scenario 6 holds 1,000 connections (rpcnet's default
/// cap per address is 512). The one limit changed from the defaults.
const MAX_CONNECTIONS_PER_PEER: usize = 100_000;

/// Which implementation a server or client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// rpcnet: gRPC over HTTP/3 (QUIC, TLS 1.3); the client asks for `ClientTransport::Http3`.
    Rpcnet,
    /// rpcnet over HTTP/2 (TLS over TCP): the same server, the client asks for
    /// `ClientTransport::Http2`.
    #[serde(rename = "rpcnet-h2")]
    RpcnetH2,
    /// rpcnet with `ClientTransport::Auto` (QUIC and TCP raced, HTTP/2 moving to HTTP/3 on
    /// `alt-svc`): the same server; the run fails unless the client ends on HTTP/3.
    #[serde(rename = "rpcnet-auto")]
    RpcnetAuto,
    /// tonic: gRPC over HTTP/2 over TCP with rustls (ring).
    Tonic,
    /// quinn: one raw QUIC stream per request, no framing (unary echo only).
    Quinn,
    /// The connection-swap director (with `DIRECTOR_WORKERS` worker processes); clients hold
    /// `Inference.Generate` streams (memory scenario; scenario 5 starts the director with
    /// workers of its own).
    Director,
}

impl Kind {
    /// The lowercase name used on the command line, in tables and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rpcnet => "rpcnet",
            Kind::RpcnetH2 => "rpcnet-h2",
            Kind::RpcnetAuto => "rpcnet-auto",
            Kind::Tonic => "tonic",
            Kind::Quinn => "quinn",
            Kind::Director => "director",
        }
    }

    /// The transport an rpcnet client of this kind asks for (`None` for the other peers).
    pub fn rpcnet_transport(self) -> Option<rpcnet::ClientTransport> {
        match self {
            Kind::Rpcnet | Kind::Director => Some(rpcnet::ClientTransport::Http3),
            Kind::RpcnetH2 => Some(rpcnet::ClientTransport::Http2),
            Kind::RpcnetAuto => Some(rpcnet::ClientTransport::Auto),
            Kind::Tonic | Kind::Quinn => None,
        }
    }

    /// The transport a connection of this kind must be on when its run ends: what rpcnet's
    /// explicit kinds asked for, and HTTP/3 for `Auto` (on loopback, and under loss, QUIC is
    /// reachable, so automatic mode must end there).
    pub fn expected_transport(self) -> Option<rpcnet::Transport> {
        match self {
            Kind::Rpcnet | Kind::RpcnetAuto | Kind::Director => Some(rpcnet::Transport::Http3),
            Kind::RpcnetH2 => Some(rpcnet::Transport::Http2),
            Kind::Tonic | Kind::Quinn => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Worker processes started with a director: enough that 1,000 streams stay below each
/// worker connection's limit of 256 concurrent streams (rpcnet's server default).
pub const DIRECTOR_WORKERS: usize = 5;

/// The TLS material every peer uses.
#[derive(Clone, Debug)]
pub struct Certs {
    /// The directory holding the files (the connection-swap services take a directory).
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    /// `ca.pem`, `server.pem` and `server.key` in `dir`.
    pub fn in_dir(dir: &Path) -> Certs {
        Certs {
            dir: dir.to_path_buf(),
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
        Kind::Director => {
            // The director binds inside `run`, so it gets a port that was free a moment ago.
            let addr = if addr.port() == 0 {
                connection_swap::ports::free_udp_addr()?
            } else {
                addr
            };
            bound(addr);
            let mut config = connection_swap::director::DirectorConfig::new(
                addr,
                connection_swap::certs::CertPaths::new(&certs.dir),
            );
            config.max_connections_per_peer = MAX_CONNECTIONS_PER_PEER;
            connection_swap::director::run(config).await?;
        }
        // One server for the three rpcnet kinds: its defaults serve HTTP/3 (UDP) and HTTP/2
        // (TCP) on the same port; only the clients differ.
        Kind::Rpcnet | Kind::RpcnetH2 | Kind::RpcnetAuto => {
            let config = rpcnet::ServerConfig::new(&certs.cert, &certs.key)?
                .max_connections_per_peer(MAX_CONNECTIONS_PER_PEER);
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

/// Runs one connection-swap worker registered with the director at `director`, serving until
/// the process ends. Simulated failures are pushed out of reach (a day): the memory scenario
/// wants steady streams, not swaps.
pub async fn serve_worker(
    director: SocketAddr,
    label: String,
    certs: &Certs,
) -> anyhow::Result<()> {
    let paths = connection_swap::certs::CertPaths::new(&certs.dir);
    let config = connection_swap::worker::WorkerConfig {
        director,
        listen: (std::net::Ipv4Addr::LOCALHOST, 0).into(),
        label,
        identity: Some((paths.worker_cert(), paths.worker_key())),
        certs: paths,
        failure_after: std::time::Duration::from_secs(86_400),
        recovery: std::time::Duration::from_secs(1),
        token_interval: std::time::Duration::from_secs(1),
        limits: connection_swap::worker::WorkerLimits::default(),
    };
    connection_swap::worker::run(config).await
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
    /// An rpcnet client of the connection-swap director.
    Director(rpcnet::Client),
    Tonic(BenchClient<tonic::transport::Channel>),
    /// The endpoint is kept alive with its connection.
    Quinn(quinn::Connection, quinn::Endpoint),
}

/// A server stream being read.
pub enum MessageStream {
    Rpcnet(rpcnet::Streaming<Payload>),
    Tonic(tonic::Streaming<Payload>),
    Director(rpcnet::Streaming<swap_proto::GenerateEvent>),
}

use connection_swap_generated::connection_swap as swap_proto;

impl Connection {
    /// Opens one connection (handshake included) to a server of `kind` at `addr`.
    pub async fn open(kind: Kind, addr: SocketAddr, certs: &Certs) -> anyhow::Result<Connection> {
        match kind {
            Kind::Rpcnet | Kind::RpcnetH2 | Kind::RpcnetAuto | Kind::Director => {
                let transport = kind
                    .rpcnet_transport()
                    .expect("every rpcnet kind names its transport");
                let config = rpcnet::ClientConfig::new(&certs.ca)?
                    .server_name("localhost")
                    .transport(transport);
                let client = rpcnet::Client::connect(addr, config).await?;
                Ok(if kind == Kind::Director {
                    Connection::Director(client)
                } else {
                    Connection::Rpcnet(client)
                })
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

    /// The transport the connection is on now and how many connections the client has made
    /// (rpcnet clients only: `Auto` may start on HTTP/2 and move to HTTP/3).
    pub fn rpcnet_transport(&self) -> Option<(Option<rpcnet::Transport>, u64)> {
        match self {
            Connection::Rpcnet(client) | Connection::Director(client) => {
                Some((client.transport(), client.connections_opened()))
            }
            Connection::Tonic(_) | Connection::Quinn(..) => None,
        }
    }

    /// One unary echo; answers the echoed bytes. Errors are described in one line.
    pub async fn echo(&mut self, data: Bytes) -> Result<Bytes, String> {
        match self {
            Connection::Director(_) => Err("the director has no echo method".to_string()),
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
            Connection::Director(client) => {
                // One request, then the request stream stays open (as a real client's does).
                let first = swap_proto::GenerateRequest {
                    prompt: "rpcnet-bench".to_string(),
                    resume_after: 0,
                };
                let requests = stream::once(async move { first }).chain(stream::pending());
                client
                    .bidi_streaming::<swap_proto::GenerateRequest, swap_proto::GenerateEvent, _>(
                        swap_proto::inference::GENERATE_PATH,
                        rpcnet::Request::new(requests),
                    )
                    .await
                    .map(|response| MessageStream::Director(response.into_inner()))
                    .map_err(|status| status.to_string())
            }
        }
    }
}

impl MessageStream {
    /// The next message; `Ok(None)` when the server ended the stream. A director event (an
    /// assignment or a token) comes back as an empty payload.
    pub async fn next(&mut self) -> Result<Option<Payload>, String> {
        match self {
            MessageStream::Director(stream) => stream
                .message()
                .await
                .map(|event| event.map(|_| Payload::default()))
                .map_err(|s| s.to_string()),
            MessageStream::Rpcnet(stream) => stream.message().await.map_err(|s| s.to_string()),
            MessageStream::Tonic(stream) => {
                stream.message().await.map_err(|s| format!("tonic: {s}"))
            }
        }
    }
}
