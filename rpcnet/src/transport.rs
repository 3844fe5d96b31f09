//! The narrow boundary to h3 and our quinn adapter (`quic`): the stream types used by calls, error mapping from
//! HTTP/3 to gRPC status, and guards that make cancellation visible on the wire.
//!
//! Everything above this module speaks `Status`, `Bytes` and `http::HeaderMap`; only this
//! module and the connection set-up in `client.rs`/`server.rs` name h3 or quinn types.

use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use h3::error::{Code as H3Code, ConnectionError, StreamError};
use h3::quic::ConnectionErrorIncoming;

use crate::Status;

pub(crate) type ServerSendStream = h3::server::RequestStream<crate::quic::SendStream, Bytes>;
pub(crate) type ServerRecvStream = h3::server::RequestStream<crate::quic::RecvStream, Bytes>;
pub(crate) type ClientSendStream = h3::client::RequestStream<crate::quic::SendStream, Bytes>;
pub(crate) type ClientRecvStream = h3::client::RequestStream<crate::quic::RecvStream, Bytes>;

/// `H3_REQUEST_CANCELLED`: how both sides abandon a call.
pub(crate) const REQUEST_CANCELLED: H3Code = H3Code::H3_REQUEST_CANCELLED;

/// The receiving half of a call's stream, server or client side. An enum rather than a boxed
/// trait object: a `Streaming` is made for every call, and this spares it an allocation and
/// a dynamic call per read.
pub(crate) enum RecvBody {
    Server(ServerRecvStream),
    Client(ClientRecvStream),
}

impl RecvBody {
    /// The next chunk of DATA payload; `None` when the data is over (FIN or trailers).
    pub(crate) fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamError>> {
        match self {
            RecvBody::Server(stream) => stream.poll_recv_data(cx).map_ok(into_bytes),
            RecvBody::Client(stream) => stream.poll_recv_data(cx).map_ok(into_bytes),
        }
    }

    /// The trailers after the data, if any (waits for the peer's FIN).
    pub(crate) fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<http::HeaderMap>, StreamError>> {
        match self {
            RecvBody::Server(stream) => stream.poll_recv_trailers(cx),
            RecvBody::Client(stream) => stream.poll_recv_trailers(cx),
        }
    }

    /// Asks the peer to stop sending. Safe at any time with our own adapter (`crate::quic`),
    /// unlike h3-quinn 0.0.10, which panics while h3 has a read in flight (h3 issue 330).
    pub(crate) fn stop_sending(&mut self, code: H3Code) {
        match self {
            RecvBody::Server(stream) => stream.stop_sending(code),
            RecvBody::Client(stream) => stream.stop_sending(code),
        }
    }
}

/// A received chunk as `Bytes`.
fn into_bytes(chunk: Option<impl Buf>) -> Option<Bytes> {
    chunk.map(|mut buf| buf.copy_to_bytes(buf.remaining()))
}

/// Maps an HTTP/3 stream error to the status a gRPC caller should see.
///
/// `local_is_client` picks the side: a lost connection is UNAVAILABLE for a client (it may
/// retry elsewhere) and CANCELLED for a server (nobody is listening any more).
pub(crate) fn status_from_stream_error(err: &StreamError, local_is_client: bool) -> Status {
    match err {
        StreamError::RemoteTerminate { code, .. } => status_from_reset(*code),
        StreamError::ConnectionError { 0: conn, .. } => {
            status_from_connection_error(conn, local_is_client)
        }
        StreamError::HeaderTooBig {
            actual_size,
            max_size,
            ..
        } => Status::resource_exhausted(format!(
            "header block of {actual_size} bytes exceeds the peer's limit of {max_size} bytes"
        )),
        StreamError::RemoteClosing { .. } => {
            Status::unavailable("the peer is shutting down (GOAWAY received)")
        }
        other => Status::internal(format!("HTTP/3 stream error: {other}")),
    }
}

/// Maps a stream reset (or STOP_SENDING) code to a status, per the gRPC-over-HTTP/3 mapping.
pub(crate) fn status_from_reset(code: H3Code) -> Status {
    if code == H3Code::H3_REQUEST_CANCELLED {
        Status::cancelled("the peer cancelled the call (H3_REQUEST_CANCELLED)")
    } else if code == H3Code::H3_REQUEST_REJECTED {
        Status::unavailable(
            "the server rejected the request before processing (H3_REQUEST_REJECTED)",
        )
    } else if code == H3Code::H3_EXCESSIVE_LOAD {
        Status::resource_exhausted("the peer reported excessive load (H3_EXCESSIVE_LOAD)")
    } else {
        Status::internal(format!("the peer reset the stream with {code}"))
    }
}

/// Maps a lost connection to a status (see [`status_from_stream_error`] for the side rule).
pub(crate) fn status_from_connection_error(err: &ConnectionError, local_is_client: bool) -> Status {
    let detail = describe_connection_error(err);
    if local_is_client {
        Status::unavailable(format!("connection lost: {detail}"))
    } else {
        Status::cancelled(format!("client connection lost: {detail}"))
    }
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
