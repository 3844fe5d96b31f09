//! HTTP/3 under the call core: h3 request streams over our quinn adapter (`crate::quic`), their
//! errors as [`TransportError`], and the guard that makes an abandoned send half a reset.

use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use h3::error::{Code as H3Code, ConnectionError, StreamError};
use h3::quic::ConnectionErrorIncoming;
use http::HeaderMap;

use crate::call_core::outcome::{Reset, ResetKind, TransportError};
use crate::TlsAlert;

pub(crate) type ServerSendStream = h3::server::RequestStream<crate::quic::SendStream, Bytes>;
pub(crate) type ServerRecvStream = h3::server::RequestStream<crate::quic::RecvStream, Bytes>;
pub(crate) type ClientSendStream = h3::client::RequestStream<crate::quic::SendStream, Bytes>;
pub(crate) type ClientRecvStream = h3::client::RequestStream<crate::quic::RecvStream, Bytes>;
pub(crate) type BidiRequestStream = h3::server::RequestStream<crate::quic::BidiStream, Bytes>;

/// `H3_REQUEST_CANCELLED`: how both sides abandon a call.
pub(crate) const REQUEST_CANCELLED: H3Code = H3Code::H3_REQUEST_CANCELLED;

/// The receiving half of an HTTP/3 call, server or client side.
pub(crate) enum H3Recv {
    Server(ServerRecvStream),
    Client(ClientRecvStream),
}

impl H3Recv {
    pub(crate) fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, TransportError>> {
        let polled = match self {
            H3Recv::Server(stream) => stream.poll_recv_data(cx).map_ok(into_bytes),
            H3Recv::Client(stream) => stream.poll_recv_data(cx).map_ok(into_bytes),
        };
        polled.map_err(|e| stream_error(&e))
    }

    pub(crate) fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<HeaderMap>, TransportError>> {
        let polled = match self {
            H3Recv::Server(stream) => stream.poll_recv_trailers(cx),
            H3Recv::Client(stream) => stream.poll_recv_trailers(cx),
        };
        polled.map_err(|e| stream_error(&e))
    }

    /// Asks the peer to stop sending (STOP_SENDING with H3_REQUEST_CANCELLED). Safe at any
    /// time with our own adapter, unlike h3-quinn 0.0.10, which panics while h3 has a read in
    /// flight (h3 issue 330).
    pub(crate) fn stop(&mut self) {
        match self {
            H3Recv::Server(stream) => stream.stop_sending(REQUEST_CANCELLED),
            H3Recv::Client(stream) => stream.stop_sending(REQUEST_CANCELLED),
        }
    }
}

/// A received chunk as `Bytes`.
fn into_bytes(chunk: Option<impl Buf>) -> Option<Bytes> {
    chunk.map(|mut buf| buf.copy_to_bytes(buf.remaining()))
}

/// An h3 stream error in the call core's terms.
pub(crate) fn stream_error(err: &StreamError) -> TransportError {
    match err {
        StreamError::RemoteTerminate { code, .. } => TransportError::Reset(reset(*code)),
        StreamError::ConnectionError { 0: conn, .. } => match connection_alert(conn) {
            Some(alert) => TransportError::TlsRefused(alert),
            None => TransportError::ConnectionLost(describe_connection_error(conn)),
        },
        StreamError::HeaderTooBig {
            actual_size,
            max_size,
            ..
        } => TransportError::HeaderTooBig {
            actual: *actual_size,
            max: *max_size,
        },
        StreamError::RemoteClosing { .. } => TransportError::GoingAway,
        other => TransportError::Protocol(format!("HTTP/3 stream error: {other}")),
    }
}

/// A stream reset (or STOP_SENDING) code, per the gRPC-over-HTTP/3 mapping.
pub(crate) fn reset(code: H3Code) -> Reset {
    let kind = if code == H3Code::H3_REQUEST_CANCELLED {
        ResetKind::Cancelled
    } else if code == H3Code::H3_REQUEST_REJECTED {
        ResetKind::Refused
    } else if code == H3Code::H3_EXCESSIVE_LOAD {
        ResetKind::ExcessiveLoad
    } else {
        ResetKind::Other
    };
    Reset::new(kind, code.to_string())
}

/// A readable account of why a connection ended.
pub(crate) fn describe_connection_error(err: &ConnectionError) -> String {
    match err {
        ConnectionError::Remote {
            0: ConnectionErrorIncoming::Timeout,
            ..
        }
        | ConnectionError::Timeout { .. } => {
            "idle timeout (the peer stopped answering)".to_string()
        }
        ConnectionError::Remote {
            0: ConnectionErrorIncoming::ApplicationClose { error_code },
            ..
        } => {
            format!("closed by the peer with {}", H3Code::from(*error_code))
        }
        ConnectionError::Remote {
            0: ConnectionErrorIncoming::Undefined(inner),
            ..
        } => inner.to_string(),
        other => other.to_string(),
    }
}

/// The TLS alert with which the peer closed the connection, if that is how it ended. Our
/// adapter keeps quinn's own error inside `Undefined` (`crate::quic`), where the
/// CONNECTION_CLOSE's code is.
pub(crate) fn connection_alert(err: &ConnectionError) -> Option<TlsAlert> {
    match err {
        ConnectionError::Remote {
            0: ConnectionErrorIncoming::Undefined(inner),
            ..
        } => inner
            .downcast_ref::<quinn::ConnectionError>()
            .and_then(quic_alert),
        _ => None,
    }
}

/// The TLS alert a QUIC peer closed the connection with: a CONNECTION_CLOSE whose transport
/// error is CRYPTO_ERROR. An alert this side raised itself (a local `TransportError`) is not
/// the peer's refusal, so it is not reported.
pub(crate) fn quic_alert(err: &quinn::ConnectionError) -> Option<TlsAlert> {
    match err {
        quinn::ConnectionError::ConnectionClosed(close) => {
            TlsAlert::from_quic_code(u64::from(close.error_code))
        }
        _ => None,
    }
}

/// Whether a connection ended cleanly (H3_NO_ERROR, or an application close with code 0 as
/// some peers send).
pub(crate) fn is_graceful(err: &ConnectionError) -> bool {
    err.is_h3_no_error()
        || matches!(
            err,
            ConnectionError::Remote {
                0: ConnectionErrorIncoming::ApplicationClose { error_code: 0 },
                ..
            }
        )
}

/// A send half that is reset with H3_REQUEST_CANCELLED when dropped before it finished.
///
/// quinn's `SendStream` calls `finish()` on drop, so without this guard an abandoned upload
/// would look like a clean end of stream to the peer.
pub(crate) struct ResetOnDrop<S: SendHalf> {
    stream: Option<S>,
}

/// The operations the guard needs from a send half.
pub(crate) trait SendHalf {
    fn reset(&mut self, code: H3Code);
}

impl SendHalf for ServerSendStream {
    fn reset(&mut self, code: H3Code) {
        self.stop_stream(code)
    }
}

impl SendHalf for ClientSendStream {
    fn reset(&mut self, code: H3Code) {
        self.stop_stream(code)
    }
}

impl<S: SendHalf> ResetOnDrop<S> {
    pub(crate) fn new(stream: S) -> Self {
        ResetOnDrop {
            stream: Some(stream),
        }
    }

    /// The guarded stream. It is only absent after `disarm`, which consumes the guard.
    pub(crate) fn get(&mut self) -> &mut S {
        match self.stream.as_mut() {
            Some(stream) => stream,
            None => unreachable_stream(),
        }
    }

    /// Lets the stream go without a reset (after a clean `finish`).
    pub(crate) fn disarm(mut self) -> S {
        match self.stream.take() {
            Some(stream) => stream,
            None => unreachable_stream(),
        }
    }
}

#[cold]
fn unreachable_stream() -> ! {
    // `stream` is Some from construction until `disarm` consumes the guard, so no caller can
    // observe None; this is a logic error in this module, not something input can cause.
    unreachable!("ResetOnDrop used after disarm")
}

impl<S: SendHalf> Drop for ResetOnDrop<S> {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.as_mut() {
            stream.reset(REQUEST_CANCELLED);
        }
    }
}

/// Ends a server send half cleanly (FIN); on failure the guard resets it as it drops.
pub(crate) async fn finish_server(
    mut send: ResetOnDrop<ServerSendStream>,
) -> Result<(), TransportError> {
    send.get().finish().await.map_err(|e| stream_error(&e))?;
    send.disarm();
    Ok(())
}

/// Ends a client send half cleanly (FIN); on failure the guard resets it as it drops.
pub(crate) async fn finish_client(
    mut send: ResetOnDrop<ClientSendStream>,
) -> Result<(), TransportError> {
    send.get().finish().await.map_err(|e| stream_error(&e))?;
    send.disarm();
    Ok(())
}
