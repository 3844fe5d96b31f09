//! The transport boundary: the receive and send halves of one call, over HTTP/3 ([`h3`]) or
//! HTTP/2 ([`h2`]), in the call core's terms (`Bytes`, `http::HeaderMap`, [`TransportError`]).
//!
//! Everything above this module (the drivers in `server`, `client` and `streaming`) handles
//! calls through these halves and never names an h3, quinn, hyper or h2 type; everything
//! below it knows nothing of gRPC beyond moving header blocks and bytes. Each half is an enum
//! over the two transports rather than a boxed trait object: one exists per call, and the
//! enum spares an allocation and a dynamic call per read or write.

use std::fmt;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;

use crate::call_core::outcome::TransportError;

pub(crate) mod h2;
pub(crate) mod h3;
pub(crate) mod refusal;

/// Which protocol carries a call or a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP/3 over QUIC (UDP).
    Http3,
    /// HTTP/2 over TLS over TCP.
    Http2,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Http3 => "HTTP/3",
            Transport::Http2 => "HTTP/2",
        })
    }
}

/// The receiving half of a call: request DATA and trailers on a server, response DATA and
/// trailers on a client.
pub(crate) enum RecvHalf {
    H3(h3::H3Recv),
    H2(h2::H2Recv),
}

impl RecvHalf {
    /// The next chunk of DATA payload; `None` when the data is over (end of stream or
    /// trailers).
    pub(crate) fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, TransportError>> {
        match self {
            RecvHalf::H3(recv) => recv.poll_data(cx),
            RecvHalf::H2(recv) => recv.poll_data(cx),
        }
    }

    /// The trailers after the data; `None` when the stream ended without any.
    pub(crate) fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<HeaderMap>, TransportError>> {
        match self {
            RecvHalf::H3(recv) => recv.poll_trailers(cx),
            RecvHalf::H2(recv) => recv.poll_trailers(cx),
        }
    }

    /// Tells the peer this side stops reading (HTTP/3 STOP_SENDING; on HTTP/2 what the peer
    /// still sends is discarded).
    pub(crate) fn stop(&mut self) {
        match self {
            RecvHalf::H3(recv) => recv.stop(),
            RecvHalf::H2(recv) => recv.stop(),
        }
    }
}

/// The sending half of a server's call: the response head, DATA, and the end (trailers,
/// Trailers-Only, or a reset). Dropped before its end, the stream is reset (cancel).
pub(crate) enum ServerSend {
    H3(h3::ResetOnDrop<h3::ServerSendStream>),
    H2(h2::H2Responder),
}

impl ServerSend {
    /// Sends the response head: `:status 200` and `headers`.
    pub(crate) async fn send_head(&mut self, headers: HeaderMap) -> Result<(), TransportError> {
        match self {
            ServerSend::H3(send) => {
                let mut response = http::Response::new(());
                *response.headers_mut() = headers;
                send.get()
                    .send_response(response)
                    .await
                    .map_err(|e| h3::stream_error(&e))
            }
            ServerSend::H2(send) => send.send_head(headers),
        }
    }

    /// Sends one DATA frame (HTTP/3) or chunk (HTTP/2), waiting for flow control.
    pub(crate) async fn send_data(&mut self, data: Bytes) -> Result<(), TransportError> {
        match self {
            ServerSend::H3(send) => send
                .get()
                .send_data(data)
                .await
                .map_err(|e| h3::stream_error(&e)),
            ServerSend::H2(send) => send.send_data(data).await,
        }
    }

    /// Ends the call with `trailers` after its response head.
    pub(crate) async fn send_trailers(self, trailers: HeaderMap) -> Result<(), TransportError> {
        match self {
            ServerSend::H3(mut send) => {
                send.get()
                    .send_trailers(trailers)
                    .await
                    .map_err(|e| h3::stream_error(&e))?;
                h3::finish_server(send).await
            }
            ServerSend::H2(mut send) => send.send_trailers(trailers),
        }
    }

    /// Ends the call with one header block and no DATA: a Trailers-Only response, or an HTTP
    /// error answer (405, 415) when `http_status` is not 200.
    pub(crate) async fn send_only_head(
        self,
        http_status: u16,
        headers: HeaderMap,
    ) -> Result<(), TransportError> {
        let status = http::StatusCode::from_u16(http_status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        match self {
            ServerSend::H3(mut send) => {
                let mut response = http::Response::new(());
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                send.get()
                    .send_response(response)
                    .await
                    .map_err(|e| h3::stream_error(&e))?;
                h3::finish_server(send).await
            }
            ServerSend::H2(send) => send.send_only_head(status, headers),
        }
    }
}

/// The sending half of a client's call: request DATA, then the end of the request stream.
/// Dropped before `finish`, the stream is reset (cancel).
pub(crate) enum ClientSend {
    H3(h3::ResetOnDrop<h3::ClientSendStream>),
    H2(h2::BodySender),
}

impl ClientSend {
    /// Sends one DATA frame (HTTP/3) or chunk (HTTP/2), waiting for flow control.
    pub(crate) async fn send_data(&mut self, data: Bytes) -> Result<(), TransportError> {
        match self {
            ClientSend::H3(send) => send
                .get()
                .send_data(data)
                .await
                .map_err(|e| h3::stream_error(&e)),
            ClientSend::H2(send) => send.send_data(data).await,
        }
    }

    /// Ends the request stream cleanly.
    pub(crate) async fn finish(self) -> Result<(), TransportError> {
        match self {
            ClientSend::H3(send) => h3::finish_client(send).await,
            ClientSend::H2(mut send) => send.end(h2::End::Finish),
        }
    }
}

/// A client's call waiting for its response head.
pub(crate) enum PendingResponse {
    H3(h3::ClientRecvStream),
    H2(h2::ResponseHeadFuture),
}

impl PendingResponse {
    /// The response head (HTTP status and headers) and the receiving half after it.
    pub(crate) async fn head(self) -> Result<(u16, HeaderMap, RecvHalf), TransportError> {
        match self {
            PendingResponse::H3(mut recv) => {
                let response = recv
                    .recv_response()
                    .await
                    .map_err(|e| h3::stream_error(&e))?;
                let (parts, ()) = response.into_parts();
                let recv = RecvHalf::H3(h3::H3Recv::Client(recv));
                Ok((parts.status.as_u16(), parts.headers, recv))
            }
            PendingResponse::H2(response) => {
                let response = response.await.map_err(|e| h2::hyper_error(&e))?;
                let (parts, body) = response.into_parts();
                let recv = RecvHalf::H2(h2::H2Recv::new(body));
                Ok((parts.status.as_u16(), parts.headers, recv))
            }
        }
    }
}
