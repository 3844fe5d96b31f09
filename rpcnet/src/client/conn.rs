//! A client's connection to its server, over HTTP/3 or HTTP/2: dialling each (and racing them
//! in automatic mode), opening a call's stream on it, and telling whether it is still alive.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tracing::{debug, info_span, Instrument};

use crate::alert::Refusal;
use crate::call_core::outcome::TransportError;
use crate::transport::h2::{self as t2, OutBody};
use crate::transport::h3::{self as t3, ResetOnDrop};
use crate::transport::refusal::{AlertSlot, AlertWatch};
use crate::transport::{ClientSend, PendingResponse};
use crate::{tls, Error, TlsAlert, Transport};

/// How long QUIC leads before TCP is tried too in automatic mode: RFC 8305's connection
/// attempt delay. Where UDP is dropped, calls start on HTTP/2 after this.
pub(super) const QUIC_HEAD_START: Duration = Duration::from_millis(250);

/// How long the client waits for a PING answer on HTTP/2 before it takes the server for dead.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// One established connection.
#[derive(Clone)]
pub(super) enum Conn {
    H3 {
        quic: quinn::Connection,
        send_request: ::h3::client::SendRequest<crate::quic::OpenStreams, Bytes>,
    },
    H2 {
        send_request: hyper::client::conn::http2::SendRequest<OutBody>,
        /// The alert the server sent, if it refused the connection.
        alert: AlertSlot,
    },
}

impl Conn {
    pub(super) fn transport(&self) -> Transport {
        match self {
            Conn::H3 { .. } => Transport::Http3,
            Conn::H2 { .. } => Transport::Http2,
        }
    }

    /// Whether new calls may still be opened on it.
    pub(super) fn is_live(&self) -> bool {
        match self {
            Conn::H3 { quic, .. } => quic.close_reason().is_none(),
            Conn::H2 { send_request, .. } => !send_request.is_closed(),
        }
    }

    /// The TLS alert with which the server closed this connection, if it refused it.
    pub(super) fn refusal(&self) -> Option<TlsAlert> {
        match self {
            Conn::H3 { quic, .. } => quic.close_reason().as_ref().and_then(t3::quic_alert),
            Conn::H2 { alert, .. } => alert.get().copied(),
        }
    }

    /// A call's transport failure, as the refusal it was when the server closed the
    /// connection with a TLS alert (with TLS 1.3 the client finished its handshake before
    /// the server checked its certificate, so the refusal fails the first calls).
    pub(super) fn explain(&self, err: TransportError) -> TransportError {
        match (&err, self.refusal()) {
            (TransportError::ConnectionLost(_), Some(alert)) => TransportError::TlsRefused(alert),
            _ => err,
        }
    }

    /// Opens a call's stream and sends its request head.
    pub(super) async fn open(
        &mut self,
        request: http::Request<()>,
    ) -> Result<(ClientSend, PendingResponse), TransportError> {
        match self {
            Conn::H3 { send_request, .. } => {
                let stream = send_request
                    .send_request(request)
                    .await
                    .map_err(|e| t3::stream_error(&e))?;
                let (send, recv) = stream.split();
                Ok((
                    ClientSend::H3(ResetOnDrop::new(send)),
                    PendingResponse::H3(recv),
                ))
            }
            Conn::H2 { send_request, .. } => {
                // Waits while the server's concurrent-stream limit is reached.
                std::future::poll_fn(|cx| send_request.poll_ready(cx))
                    .await
                    .map_err(|e| t2::hyper_error(&e))?;
                let (sender, body) = OutBody::channel(None);
                let (parts, ()) = request.into_parts();
                let response = send_request.send_request(http::Request::from_parts(parts, body));
                Ok((
                    ClientSend::H2(sender),
                    PendingResponse::H2(Box::pin(response)),
                ))
            }
        }
    }
}

/// What dialling needs, taken from the configuration once.
pub(super) struct Dialer {
    pub addr: SocketAddr,
    pub server_name: String,
    pub endpoint: quinn::Endpoint,
    pub quinn_config: quinn::ClientConfig,
    pub h2_tls: Arc<rustls::ClientConfig>,
    pub connect_timeout: Duration,
    pub max_header_list_size: u64,
    pub keep_alive: Option<Duration>,
}

impl Dialer {
    /// An HTTP/3 connection: the QUIC handshake, then h3's set-up.
    pub(super) async fn dial_h3(&self, number: u64) -> Result<Conn, Error> {
        let addr = self.addr;
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Connection {
            addr,
            transport: Transport::Http3,
            source,
        };
        let connecting = self
            .endpoint
            .connect_with(self.quinn_config.clone(), addr, &self.server_name)
            .map_err(|e| failed(Box::new(e)))?;
        let quic = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| Error::ConnectTimeout {
                addr,
                transport: Transport::Http3,
                timeout: self.connect_timeout,
            })?
            .map_err(|e| failed(Box::new(e)))?;
        debug!(%addr, connection = number, "QUIC connection established");
        let (mut driver, send_request) = ::h3::client::builder()
            .max_field_section_size(self.max_header_list_size)
            .build::<_, _, Bytes>(crate::quic::Connection::new(quic.clone()))
            .await
            .map_err(|e| match quic.close_reason() {
                // The connection closed under h3's set-up (a server refusing the client's
                // certificate does so now): its reason is the error.
                Some(reason) => failed(Box::new(reason)),
                None => Error::Protocol {
                    addr,
                    transport: Transport::Http3,
                    detail: e.to_string(),
                },
            })?;
        let span =
            info_span!("client_connection", server = %addr, connection = number, transport = "h3");
        tokio::spawn(
            async move {
                let err = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
                if !t3::is_graceful(&err) {
                    debug!(reason = %t3::describe_connection_error(&err), "connection closed");
                }
            }
            .instrument(span),
        );
        Ok(Conn::H3 { quic, send_request })
    }

    /// An HTTP/2 connection: TCP, TLS 1.3 with ALPN `h2`, then hyper's handshake.
    pub(super) async fn dial_h2(&self, number: u64) -> Result<Conn, Error> {
        let addr = self.addr;
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Connection {
            addr,
            transport: Transport::Http2,
            source,
        };
        let handshake = async {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| failed(Box::new(e)))?;
            let _ = tcp.set_nodelay(true);
            let name =
                ServerName::try_from(self.server_name.clone()).map_err(|e| failed(Box::new(e)))?;
            let connector = tokio_rustls::TlsConnector::from(self.h2_tls.clone());
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| failed(Box::new(e)))?;
            if tls.get_ref().1.alpn_protocol() != Some(tls::ALPN_H2) {
                return Err(Error::Protocol {
                    addr,
                    transport: Transport::Http2,
                    detail: "the server did not negotiate ALPN h2".to_string(),
                });
            }
            Ok(tls)
        };
        let tls = tokio::time::timeout(self.connect_timeout, handshake)
            .await
            .map_err(|_| Error::ConnectTimeout {
                addr,
                transport: Transport::Http2,
                timeout: self.connect_timeout,
            })??;
        let alert = AlertSlot::default();
        let tls = AlertWatch::new(tls, alert.clone());
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(self.max_header_list_size).unwrap_or(u32::MAX))
            .keep_alive_interval(self.keep_alive)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let (send_request, connection) =
            builder
                .handshake(TokioIo::new(tls))
                .await
                .map_err(|e| match alert.get() {
                    Some(alert) => failed(Box::new(Refusal(*alert))),
                    None => Error::Protocol {
                        addr,
                        transport: Transport::Http2,
                        detail: e.to_string(),
                    },
                })?;
        debug!(%addr, connection = number, "HTTP/2 connection established");
        let span =
            info_span!("client_connection", server = %addr, connection = number, transport = "h2");
        tokio::spawn(
            async move {
                if let Err(err) = connection.await {
                    debug!(reason = %t2::hyper_error(&err), "connection closed");
                }
            }
            .instrument(span),
        );
        Ok(Conn::H2 {
            send_request,
            alert,
        })
    }

    /// Races HTTP/3 and HTTP/2 (happy eyeballs): QUIC starts first, TCP after
    /// [`QUIC_HEAD_START`] or as soon as QUIC fails; the first connection established wins
    /// and the other attempt is dropped. When both fail, the HTTP/3 error is reported unless
    /// it was a timeout.
    pub(super) async fn dial_auto(&self, number: u64) -> Result<Conn, Error> {
        let quic = self.dial_h3(number);
        let (quic_failed_tx, quic_failed_rx) = tokio::sync::oneshot::channel::<()>();
        let tcp = async {
            tokio::select! {
                () = tokio::time::sleep(QUIC_HEAD_START) => {}
                _ = quic_failed_rx => {}
            }
            self.dial_h2(number).await
        };
        let mut quic = std::pin::pin!(quic);
        let mut tcp = std::pin::pin!(tcp);
        let mut quic_failed_tx = Some(quic_failed_tx);
        tokio::select! {
            biased;
            result = &mut quic => match result {
                Ok(conn) => Ok(conn),
                Err(quic_error) => {
                    if let Some(tx) = quic_failed_tx.take() {
                        let _ = tx.send(());
                    }
                    debug!(error = %quic_error, "HTTP/3 failed; trying HTTP/2");
                    tcp.await.map_err(|tcp_error| prefer(quic_error, tcp_error))
                }
            },
            result = &mut tcp => match result {
                Ok(conn) => Ok(conn),
                Err(tcp_error) => quic.await.map_err(|quic_error| prefer(quic_error, tcp_error)),
            },
        }
    }
}

/// The error to report when both transports failed: HTTP/3's, unless it only timed out
/// (UDP dropped somewhere) and HTTP/2 says more.
fn prefer(quic: Error, tcp: Error) -> Error {
    match quic {
        Error::ConnectTimeout { .. } => tcp,
        other => other,
    }
}
