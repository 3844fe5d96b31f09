//! How a call ends when something other than its handler decides: a deadline that passed, or
//! a transport failure (a reset, a lost connection, a GOAWAY), each mapped to one gRPC status.
//!
//! The transports translate their own errors (h3's `StreamError`, h2's `Reason`) into
//! [`TransportError`]; the mapping to a status is written once, here, for both.

use std::fmt;
use std::time::Instant;

use super::Side;
use crate::{Status, TlsAlert};

/// Why the transport failed a call's stream, in terms both transports share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransportError {
    /// The peer reset the stream, or asked this side to stop sending.
    Reset(Reset),
    /// The connection is gone; the text says why (idle timeout, closed by the peer...).
    ConnectionLost(String),
    /// The peer closed the connection with a TLS alert: it refused the handshake (with TLS
    /// 1.3, a server checks the client's certificate after the client finished its side).
    TlsRefused(TlsAlert),
    /// The peer is shutting down and will not process this call (it sent GOAWAY).
    GoingAway,
    /// A header block exceeded the peer's limit.
    HeaderTooBig {
        /// Size of the block, in bytes (as HTTP counts it).
        actual: u64,
        /// The peer's limit.
        max: u64,
    },
    /// Any other protocol failure, described.
    Protocol(String),
}

/// A stream reset, by what it means; `wire` names the code as the transport spells it
/// (`H3_REQUEST_CANCELLED`, `RST_STREAM CANCEL`...), for messages and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reset {
    pub kind: ResetKind,
    pub wire: String,
}

/// What a reset code means to gRPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetKind {
    /// The peer abandoned the call (H3_REQUEST_CANCELLED, RST_STREAM CANCEL).
    Cancelled,
    /// The server refused the call before processing it: safe to retry (H3_REQUEST_REJECTED,
    /// REFUSED_STREAM).
    Refused,
    /// The peer is overloaded (H3_EXCESSIVE_LOAD, ENHANCE_YOUR_CALM).
    ExcessiveLoad,
    /// Any other code: a protocol or internal error.
    Other,
}

impl Reset {
    pub(crate) fn new(kind: ResetKind, wire: impl Into<String>) -> Reset {
        Reset {
            kind,
            wire: wire.into(),
        }
    }

    /// A cancel, named `wire` on this transport.
    #[cfg(test)]
    pub(crate) fn cancelled(wire: &str) -> Reset {
        Reset::new(ResetKind::Cancelled, wire)
    }
}

impl TransportError {
    /// The status the reader on `side` sees. A lost connection is UNAVAILABLE for a client (it
    /// may retry elsewhere) and CANCELLED for a server (nobody is listening any more).
    pub(crate) fn status(&self, side: Side) -> Status {
        match self {
            TransportError::Reset(reset) => {
                let wire = &reset.wire;
                match reset.kind {
                    ResetKind::Cancelled => {
                        Status::cancelled(format!("the peer cancelled the call ({wire})"))
                    }
                    ResetKind::Refused => Status::unavailable(format!(
                        "the server refused the call before processing it ({wire})"
                    )),
                    ResetKind::ExcessiveLoad => Status::resource_exhausted(format!(
                        "the peer reported excessive load ({wire})"
                    )),
                    ResetKind::Other => {
                        Status::internal(format!("the peer reset the stream with {wire}"))
                    }
                }
            }
            TransportError::ConnectionLost(why) => match side {
                Side::Client => Status::unavailable(format!("connection lost: {why}")),
                Side::Server => Status::cancelled(format!("client connection lost: {why}")),
            },
            TransportError::TlsRefused(alert) => {
                let number = alert.number();
                let text = match side {
                    Side::Client => format!(
                        "the server refused the TLS handshake with alert {alert} ({number})"
                    ),
                    Side::Server => format!(
                        "the client refused the TLS handshake with alert {alert} ({number})"
                    ),
                };
                Status::unavailable(text).with_tls_alert(Some(*alert))
            }
            TransportError::GoingAway => {
                Status::unavailable("the peer is shutting down (GOAWAY received)")
            }
            TransportError::HeaderTooBig { actual, max } => Status::resource_exhausted(format!(
                "header block of {actual} bytes exceeds the peer's limit of {max} bytes"
            )),
            TransportError::Protocol(detail) => Status::internal(detail.clone()),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Reset(reset) => write!(f, "stream reset with {}", reset.wire),
            TransportError::ConnectionLost(why) => write!(f, "connection lost: {why}"),
            TransportError::TlsRefused(alert) => {
                write!(f, "TLS handshake refused with alert {alert}")
            }
            TransportError::GoingAway => f.write_str("GOAWAY received"),
            TransportError::HeaderTooBig { actual, max } => {
                write!(f, "header block of {actual} bytes over the limit of {max}")
            }
            TransportError::Protocol(detail) => f.write_str(detail),
        }
    }
}

/// Whether a call's deadline has passed at `now`.
pub(crate) fn deadline_passed(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|at| now >= at)
}

/// The status a server sends for a call ending at `now`: once the deadline has passed it is
/// DEADLINE_EXCEEDED, whatever the handler returned (the client gave up at the same instant
/// and must not be told that a call it abandoned succeeded). Otherwise the handler's.
pub(crate) fn final_status(deadline: Option<Instant>, now: Instant, handler: Status) -> Status {
    if deadline_passed(deadline, now) {
        expired()
    } else {
        handler
    }
}

/// The status of a call whose deadline passed on the server.
pub(crate) fn expired() -> Status {
    Status::deadline_exceeded("deadline exceeded")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Code;

    fn check(error: TransportError, side: Side, code: Code, text: &str) {
        let status = error.status(side);
        assert!(
            status.code() == code && status.message().contains(text),
            "{error:?} on {side:?}: {status:?}, expected {code:?} with {text:?}"
        );
    }

    #[test]
    fn transport_failures_to_status() {
        use ResetKind::*;
        use Side::*;
        let reset = |kind, wire: &str| TransportError::Reset(Reset::new(kind, wire));
        for side in [Client, Server] {
            check(
                reset(Cancelled, "H3_REQUEST_CANCELLED"),
                side,
                Code::Cancelled,
                "H3_REQUEST_CANCELLED",
            );
            check(
                reset(Cancelled, "RST_STREAM CANCEL"),
                side,
                Code::Cancelled,
                "RST_STREAM CANCEL",
            );
            check(
                reset(Refused, "REFUSED_STREAM"),
                side,
                Code::Unavailable,
                "refused",
            );
            check(
                reset(ExcessiveLoad, "ENHANCE_YOUR_CALM"),
                side,
                Code::ResourceExhausted,
                "ENHANCE_YOUR_CALM",
            );
            check(
                reset(Other, "PROTOCOL_ERROR"),
                side,
                Code::Internal,
                "PROTOCOL_ERROR",
            );
            check(TransportError::GoingAway, side, Code::Unavailable, "GOAWAY");
            check(
                TransportError::HeaderTooBig {
                    actual: 9000,
                    max: 8192,
                },
                side,
                Code::ResourceExhausted,
                "9000 bytes exceeds the peer's limit of 8192",
            );
            check(
                TransportError::Protocol("bad frame".into()),
                side,
                Code::Internal,
                "bad frame",
            );
        }
        check(
            TransportError::ConnectionLost("idle".into()),
            Client,
            Code::Unavailable,
            "connection lost: idle",
        );
        check(
            TransportError::ConnectionLost("idle".into()),
            Server,
            Code::Cancelled,
            "client connection lost: idle",
        );
    }

    #[test]
    fn a_refused_handshake_keeps_its_alert() {
        // (alert, side, words the message holds)
        let table = [
            (TlsAlert::BAD_CERTIFICATE, Side::Client, "server refused"),
            (TlsAlert::UNKNOWN_CA, Side::Client, "alert unknown_ca (48)"),
            (
                TlsAlert::CERTIFICATE_EXPIRED,
                Side::Client,
                "certificate_expired",
            ),
            (
                TlsAlert::from_number(200),
                Side::Client,
                "alert alert_200 (200)",
            ),
            (TlsAlert::UNKNOWN_CA, Side::Server, "client refused"),
        ];
        for (alert, side, text) in table {
            let status = TransportError::TlsRefused(alert).status(side);
            assert_eq!(status.code(), Code::Unavailable, "{alert} {side:?}");
            assert_eq!(status.tls_alert(), Some(alert), "{alert} {side:?}");
            assert!(status.message().contains(text), "{status:?}");
        }
        // No other failure claims an alert.
        let others = [
            TransportError::ConnectionLost("closed".into()),
            TransportError::GoingAway,
            TransportError::Protocol("x".into()),
        ];
        for error in others {
            assert_eq!(error.status(Side::Client).tls_alert(), None, "{error:?}");
        }
    }

    #[test]
    fn a_passed_deadline_overrides_the_handler() {
        let start = Instant::now();
        let deadline = Some(start + Duration::from_millis(10));
        let before = start + Duration::from_millis(9);
        let at = start + Duration::from_millis(10);
        let after = start + Duration::from_secs(1);
        // (deadline, now, handler's status, expected code)
        let table = [
            (None, after, Status::ok(""), Code::Ok),
            (None, after, Status::not_found("x"), Code::NotFound),
            (deadline, before, Status::ok(""), Code::Ok),
            (deadline, before, Status::aborted("x"), Code::Aborted),
            (deadline, at, Status::ok(""), Code::DeadlineExceeded),
            (deadline, after, Status::ok(""), Code::DeadlineExceeded),
            (
                deadline,
                after,
                Status::cancelled("x"),
                Code::DeadlineExceeded,
            ),
        ];
        for (deadline, now, handler, code) in table {
            let got = final_status(deadline, now, handler.clone());
            assert_eq!(got.code(), code, "{deadline:?} {now:?} {handler:?}");
        }
        assert!(!deadline_passed(None, after));
        assert!(deadline_passed(deadline, at));
        assert!(!deadline_passed(deadline, before));
    }
}
