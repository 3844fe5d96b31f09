//! TLS alerts as rpcnet reports them: the alert a peer sent when it refused a handshake, by
//! number and RFC 8446 name, whichever transport (QUIC's CRYPTO_ERROR codes, TLS over TCP)
//! carried it.
//!
//! Pure: the transports recognise an alert in their own errors and hand over its number; the
//! names are written once, in the table below.

use std::fmt;

/// A TLS alert a peer sent (RFC 8446 section 6), such as `bad_certificate` or `unknown_ca`.
///
/// A server that refuses a client's certificate says why with one of these; with TLS 1.3 the
/// client has already finished its handshake by then, so the refusal reaches it as a failed
/// call or connection. [`Status::tls_alert`](crate::Status::tls_alert) and
/// [`Error::tls_alert`](crate::Error::tls_alert) give it to the caller, so that a refused
/// certificate (a configuration error) can be told from a server that is not up yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlsAlert(u8);

/// Defines the named alerts once: an associated constant each and the name lookup.
macro_rules! alerts {
    ($($(#[$doc:meta])* $constant:ident = $number:literal, $name:literal;)*) => {
        impl TlsAlert {
            $(
                $(#[$doc])*
                pub const $constant: TlsAlert = TlsAlert($number);
            )*

            /// The alert's name as RFC 8446 (or the registry, for older ones) spells it, such as
            /// `"bad_certificate"`; `None` for a number no RFC assigns.
            pub fn name(&self) -> Option<&'static str> {
                match self.0 {
                    $($number => Some($name),)*
                    _ => None,
                }
            }
        }

        #[cfg(test)]
        const NAMED: &[(TlsAlert, u8, &str)] = &[$((TlsAlert::$constant, $number, $name),)*];
    };
}

alerts! {
    /// The peer is closing the connection cleanly.
    CLOSE_NOTIFY = 0, "close_notify";
    /// A message arrived that the state of the handshake did not allow.
    UNEXPECTED_MESSAGE = 10, "unexpected_message";
    /// A record could not be decrypted or authenticated.
    BAD_RECORD_MAC = 20, "bad_record_mac";
    /// A record was longer than allowed.
    RECORD_OVERFLOW = 22, "record_overflow";
    /// No acceptable set of security parameters could be agreed.
    HANDSHAKE_FAILURE = 40, "handshake_failure";
    /// A certificate was corrupt or its signature did not verify (or it does not cover the
    /// name asked for).
    BAD_CERTIFICATE = 42, "bad_certificate";
    /// A certificate of a kind the peer does not accept, such as a server certificate
    /// presented as a client certificate.
    UNSUPPORTED_CERTIFICATE = 43, "unsupported_certificate";
    /// A certificate was revoked by its signer.
    CERTIFICATE_REVOKED = 44, "certificate_revoked";
    /// A certificate has expired or is not valid yet.
    CERTIFICATE_EXPIRED = 45, "certificate_expired";
    /// A certificate was unacceptable for another reason.
    CERTIFICATE_UNKNOWN = 46, "certificate_unknown";
    /// A field of the handshake was out of range or inconsistent.
    ILLEGAL_PARAMETER = 47, "illegal_parameter";
    /// A certificate chain does not lead to a CA the peer trusts.
    UNKNOWN_CA = 48, "unknown_ca";
    /// A valid certificate, refused by the peer's policy.
    ACCESS_DENIED = 49, "access_denied";
    /// A message could not be decoded.
    DECODE_ERROR = 50, "decode_error";
    /// A signature or key exchange could not be verified (a certificate signed with an
    /// algorithm the peer does not accept, for one).
    DECRYPT_ERROR = 51, "decrypt_error";
    /// The peer does not support the offered protocol version.
    PROTOCOL_VERSION = 70, "protocol_version";
    /// The peer wants stronger parameters than offered.
    INSUFFICIENT_SECURITY = 71, "insufficient_security";
    /// The peer failed for a reason of its own.
    INTERNAL_ERROR = 80, "internal_error";
    /// A downgrade was detected.
    INAPPROPRIATE_FALLBACK = 86, "inappropriate_fallback";
    /// The peer's user cancelled the handshake.
    USER_CANCELED = 90, "user_canceled";
    /// A required extension was missing.
    MISSING_EXTENSION = 109, "missing_extension";
    /// An extension the peer cannot accept was sent.
    UNSUPPORTED_EXTENSION = 110, "unsupported_extension";
    /// The peer serves no name the client asked for (SNI).
    UNRECOGNIZED_NAME = 112, "unrecognized_name";
    /// An OCSP response was invalid.
    BAD_CERTIFICATE_STATUS_RESPONSE = 113, "bad_certificate_status_response";
    /// A pre-shared key identity was unknown.
    UNKNOWN_PSK_IDENTITY = 115, "unknown_psk_identity";
    /// The peer requires a certificate and none was presented.
    CERTIFICATE_REQUIRED = 116, "certificate_required";
    /// No protocol offered by ALPN is acceptable to the peer.
    NO_APPLICATION_PROTOCOL = 120, "no_application_protocol";
}

/// The first QUIC transport error code that carries a TLS alert (RFC 9001 section 4.8:
/// CRYPTO_ERROR is 0x0100 plus the alert, up to 0x01ff).
const QUIC_CRYPTO_ERROR: u64 = 0x0100;

impl TlsAlert {
    /// The alert with wire number `number`.
    pub fn from_number(number: u8) -> TlsAlert {
        TlsAlert(number)
    }

    /// The alert carried by a QUIC CONNECTION_CLOSE's transport error `code`, if it is a
    /// CRYPTO_ERROR (0x0100 + alert).
    pub fn from_quic_code(code: u64) -> Option<TlsAlert> {
        let alert = code.checked_sub(QUIC_CRYPTO_ERROR)?;
        u8::try_from(alert).ok().map(TlsAlert)
    }

    /// The alert's wire number.
    pub fn number(&self) -> u8 {
        self.0
    }

    /// Whether the alert refuses a certificate (the one presented, or a missing one), as
    /// opposed to the protocol or the peer's own state.
    pub fn concerns_a_certificate(&self) -> bool {
        matches!(
            *self,
            TlsAlert::BAD_CERTIFICATE
                | TlsAlert::UNSUPPORTED_CERTIFICATE
                | TlsAlert::CERTIFICATE_REVOKED
                | TlsAlert::CERTIFICATE_EXPIRED
                | TlsAlert::CERTIFICATE_UNKNOWN
                | TlsAlert::UNKNOWN_CA
                | TlsAlert::ACCESS_DENIED
                | TlsAlert::DECRYPT_ERROR
                | TlsAlert::BAD_CERTIFICATE_STATUS_RESPONSE
                | TlsAlert::CERTIFICATE_REQUIRED
        )
    }
}

/// The name (`bad_certificate`), or `alert_<number>` for a number without one, so that a log
/// field always holds one word.
impl fmt::Display for TlsAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "alert_{}", self.0),
        }
    }
}

/// A handshake the peer refused with `alert`: the error a failed connection carries as its
/// source, so that [`Error::tls_alert`](crate::Error::tls_alert) finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal(pub TlsAlert);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the peer refused the TLS handshake with alert {} ({})",
            self.0,
            self.0.number()
        )
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_alert_has_its_number_and_name() {
        for &(alert, number, name) in NAMED {
            assert_eq!(alert.number(), number, "{name}");
            assert_eq!(TlsAlert::from_number(number), alert, "{name}");
            assert_eq!(alert.name(), Some(name));
            assert_eq!(alert.to_string(), name);
        }
        assert!(
            NAMED.windows(2).all(|pair| pair[0].1 < pair[1].1),
            "the table ascends without repeats"
        );
    }

    #[test]
    fn unnamed_numbers_still_display_as_one_word() {
        for number in [1, 41, 99, 121, 255] {
            let alert = TlsAlert::from_number(number);
            assert_eq!(alert.name(), None, "{number}");
            assert_eq!(alert.to_string(), format!("alert_{number}"));
        }
    }

    #[test]
    fn quic_crypto_errors_carry_alerts() {
        // (QUIC transport error code, the alert it carries)
        let table = [
            (0x0100, Some(TlsAlert::CLOSE_NOTIFY)),
            (0x012a, Some(TlsAlert::BAD_CERTIFICATE)),
            (0x012b, Some(TlsAlert::UNSUPPORTED_CERTIFICATE)),
            (0x012d, Some(TlsAlert::CERTIFICATE_EXPIRED)),
            (0x0130, Some(TlsAlert::UNKNOWN_CA)),
            (0x0174, Some(TlsAlert::CERTIFICATE_REQUIRED)),
            (0x0178, Some(TlsAlert::NO_APPLICATION_PROTOCOL)),
            (0x01ff, Some(TlsAlert::from_number(255))),
            // Not CRYPTO_ERROR: NO_ERROR, PROTOCOL_VIOLATION, CONNECTION_REFUSED, the range's
            // neighbours, and a code far past it.
            (0x00, None),
            (0x0a, None),
            (0x02, None),
            (0x00ff, None),
            (0x0200, None),
            (u64::MAX, None),
        ];
        for (code, alert) in table {
            assert_eq!(TlsAlert::from_quic_code(code), alert, "{code:#x}");
        }
    }

    #[test]
    fn certificate_alerts_are_told_from_the_others() {
        for alert in [
            TlsAlert::BAD_CERTIFICATE,
            TlsAlert::UNSUPPORTED_CERTIFICATE,
            TlsAlert::CERTIFICATE_EXPIRED,
            TlsAlert::UNKNOWN_CA,
            TlsAlert::CERTIFICATE_REQUIRED,
        ] {
            assert!(alert.concerns_a_certificate(), "{alert}");
        }
        for alert in [
            TlsAlert::CLOSE_NOTIFY,
            TlsAlert::HANDSHAKE_FAILURE,
            TlsAlert::PROTOCOL_VERSION,
            TlsAlert::INTERNAL_ERROR,
            TlsAlert::NO_APPLICATION_PROTOCOL,
        ] {
            assert!(!alert.concerns_a_certificate(), "{alert}");
        }
    }

    #[test]
    fn a_refusal_names_the_alert_and_its_number() {
        assert_eq!(
            Refusal(TlsAlert::UNKNOWN_CA).to_string(),
            "the peer refused the TLS handshake with alert unknown_ca (48)"
        );
    }
}
