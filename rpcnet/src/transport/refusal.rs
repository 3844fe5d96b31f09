//! Finding the TLS alert with which a peer refused a connection, in the errors of either
//! transport: quinn's CONNECTION_CLOSE codes, rustls's `AlertReceived` inside an I/O error,
//! and, for HTTP/2 (whose h2 layer keeps only the text of an I/O error), a watch on the TLS
//! stream that records the alert as it is read.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::alert::Refusal;
use crate::TlsAlert;

/// The TLS alert an HTTP/2 connection's peer sent, once one was read: shared between the
/// stream's [`AlertWatch`] and the connection's handle.
pub(crate) type AlertSlot = Arc<OnceLock<TlsAlert>>;

/// The alert somewhere in `err`'s chain of sources: a [`Refusal`], a QUIC close with
/// CRYPTO_ERROR, or a TLS alert received on TCP.
pub(crate) fn peer_alert(err: &(dyn std::error::Error + 'static)) -> Option<TlsAlert> {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if let Some(refusal) = err.downcast_ref::<Refusal>() {
            return Some(refusal.0);
        }
        if let Some(quic) = err.downcast_ref::<quinn::ConnectionError>() {
            return super::h3::quic_alert(quic);
        }
        // `io::Error::source` skips the error it wraps, so that one is looked at here.
        if let Some(alert) = err.downcast_ref::<io::Error>().and_then(io_alert) {
            return Some(alert);
        }
        if let Some(alert) = err.downcast_ref::<rustls::Error>().and_then(rustls_alert) {
            return Some(alert);
        }
        cause = err.source();
    }
    None
}

/// The alert a failed read on a TLS stream received (tokio-rustls wraps rustls's error in
/// the I/O error).
pub(crate) fn io_alert(err: &io::Error) -> Option<TlsAlert> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(rustls_alert)
}

/// The alert in a rustls error, if the peer sent one (errors rustls raised itself are not the
/// peer's refusal).
fn rustls_alert(err: &rustls::Error) -> Option<TlsAlert> {
    match err {
        rustls::Error::AlertReceived(alert) => Some(TlsAlert::from_number(u8::from(*alert))),
        _ => None,
    }
}

/// How long a failed write waits for the alert that may explain it: the alert was sent before
/// the server closed, so on a refused connection it is there within a round trip.
const ALERT_WAIT: Duration = Duration::from_millis(200);

/// A TLS stream that records the first alert its reads fail with in an [`AlertSlot`], before
/// the error goes on to hyper (which turns it into text for each stream).
///
/// A server that refuses the client's certificate sends the alert and closes, often before
/// the client reads again; the client's next write then fails (a broken pipe) with the alert
/// still unread. So a failed write is held back until the stream has been read once more (or
/// [`ALERT_WAIT`] passed), to find the alert that explains it.
pub(crate) struct AlertWatch<T> {
    inner: T,
    slot: AlertSlot,
    /// A write error held back while the stream is read for an alert, and until when.
    failed_write: Option<(io::Error, Pin<Box<Sleep>>)>,
}

impl<T> AlertWatch<T> {
    pub(crate) fn new(inner: T, slot: AlertSlot) -> Self {
        AlertWatch {
            inner,
            slot,
            failed_write: None,
        }
    }

    /// Records the alert of a failed read.
    fn record(&self, err: &io::Error) {
        if let Some(alert) = io_alert(err) {
            let _ = self.slot.set(alert);
        }
    }
}

impl<T: AsyncRead + Unpin> AlertWatch<T> {
    /// Passes a write's outcome on; a failure first waits for the stream to say why.
    fn written<R>(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match written {
            Poll::Ready(Err(err)) if self.slot.get().is_none() => {
                self.failed_write = Some((err, Box::pin(tokio::time::sleep(ALERT_WAIT))));
                self.held_write_error(cx).map(Err)
            }
            other => other,
        }
    }

    /// The held write error once the stream was read to its error or end (recording an
    /// alert found there) or the wait is over. What is read is discarded: the connection is
    /// lost anyway.
    fn held_write_error(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let mut scratch = [0u8; 512];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Err(err)) => {
                    self.record(&err);
                    break;
                }
                // Data before the alert: read on.
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => continue,
                // The end of the stream: no alert will come.
                Poll::Ready(Ok(())) => break,
                Poll::Pending => {
                    let waited = match self.failed_write.as_mut() {
                        Some((_, until)) => until.as_mut().poll(cx).is_ready(),
                        None => true,
                    };
                    if !waited {
                        return Poll::Pending;
                    }
                    break;
                }
            }
        }
        match self.failed_write.take() {
            Some((err, _)) => Poll::Ready(err),
            None => Poll::Ready(io::Error::from(io::ErrorKind::BrokenPipe)),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for AlertWatch<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Err(err)) = &polled {
            self.record(err);
        }
        polled
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for AlertWatch<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.failed_write.is_some() {
            return self.held_write_error(cx).map(Err);
        }
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.written(cx, written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.failed_write.is_some() {
            return self.held_write_error(cx).map(Err);
        }
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        self.written(cx, flushed)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.failed_write.is_some() {
            return self.held_write_error(cx).map(Err);
        }
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.written(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quinn::{ConnectionClose, ConnectionError, TransportErrorCode};
    use rustls::AlertDescription;

    fn quic_close(code: TransportErrorCode) -> ConnectionError {
        ConnectionError::ConnectionClosed(ConnectionClose {
            error_code: code,
            frame_type: None,
            reason: bytes::Bytes::new(),
        })
    }

    /// A wrapper error whose source is `inner`, as `Error::Connection` holds one.
    #[derive(Debug)]
    struct Outer(Box<dyn std::error::Error + Send + Sync>);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn alerts_are_found_in_every_transport_error() {
        let tls_on_tcp = |alert| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::AlertReceived(alert),
            )
        };
        // (the error, the alert it carries)
        let table: Vec<(Box<dyn std::error::Error + Send + Sync>, Option<TlsAlert>)> = vec![
            (
                Box::new(quic_close(TransportErrorCode::crypto(42))),
                Some(TlsAlert::BAD_CERTIFICATE),
            ),
            (
                Box::new(quic_close(TransportErrorCode::crypto(48))),
                Some(TlsAlert::UNKNOWN_CA),
            ),
            (
                Box::new(tls_on_tcp(AlertDescription::CertificateExpired)),
                Some(TlsAlert::CERTIFICATE_EXPIRED),
            ),
            (
                Box::new(rustls::Error::AlertReceived(
                    AlertDescription::UnsupportedCertificate,
                )),
                Some(TlsAlert::UNSUPPORTED_CERTIFICATE),
            ),
            (
                Box::new(Refusal(TlsAlert::CERTIFICATE_REQUIRED)),
                Some(TlsAlert::CERTIFICATE_REQUIRED),
            ),
            (
                Box::new(Outer(Box::new(tls_on_tcp(AlertDescription::UnknownCA)))),
                Some(TlsAlert::UNKNOWN_CA),
            ),
            // A close with another code, a timeout, a local close, a TLS failure this side
            // raised itself and a plain I/O error are not refusals.
            (
                Box::new(quic_close(TransportErrorCode::PROTOCOL_VIOLATION)),
                None,
            ),
            (Box::new(ConnectionError::TimedOut), None),
            (Box::new(ConnectionError::LocallyClosed), None),
            (
                Box::new(io::Error::new(
                    io::ErrorKind::InvalidData,
                    rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
                )),
                None,
            ),
            (
                Box::new(io::Error::from(io::ErrorKind::ConnectionReset)),
                None,
            ),
        ];
        for (err, alert) in table {
            assert_eq!(peer_alert(&*err), alert, "{err:?}");
        }
    }
}
