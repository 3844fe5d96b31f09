//! The outcome of a call (`Code` + message + details + metadata) and its mapping to and from trailers.
//!
//! [`Status::add_to_headers`] and [`Status::from_headers`] are the only place in the crate that
//! knows how `grpc-status`, `grpc-message` and `grpc-status-details-bin` are spelled on the wire.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::alert::TlsAlert;
use crate::metadata::Metadata;

/// Trailer carrying the numeric status code.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// Trailer carrying the percent-encoded UTF-8 message.
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
/// Trailer carrying the base64 `google.rpc.Status` (or any) details.
const GRPC_STATUS_DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");

/// Bytes the gRPC spec requires percent-encoding in `grpc-message`: everything outside
/// 0x20..=0x7E (controls, DEL, and every non-ASCII byte, which `percent_encoding` always
/// encodes) plus '%' itself.
const MESSAGE_ENCODE_SET: &AsciiSet = &CONTROLS.add(b'%');

/// Base64 decoder for the details trailer: peers may send it padded or not.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A gRPC status code, with the numeric values fixed by the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Code {
    /// Not an error; returned on success.
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error, or an error from a peer that gave no usable status.
    Unknown = 2,
    /// The client specified an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity a client attempted to create already exists.
    AlreadyExists = 6,
    /// The caller does not have permission to execute the operation.
    PermissionDenied = 7,
    /// Some resource (quota, memory, message size) has been exhausted.
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted, typically due to a concurrency issue.
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not supported.
    Unimplemented = 12,
    /// Internal error: an invariant of the system or the protocol was broken.
    Internal = 13,
    /// The service is currently unavailable; retrying may succeed.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request does not have valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// Maps a wire number to its code; numbers the protocol does not define become `Unknown`.
    pub fn from_i32(value: i32) -> Code {
        usize::try_from(value)
            .ok()
            .and_then(|index| Code::ALL.get(index).copied())
            .unwrap_or(Code::Unknown)
    }

    /// The canonical upper-case name (`"OK"`, `"CANCELLED"`, `"DEADLINE_EXCEEDED"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a call: a code, a human-readable message, optional binary details and the
/// custom trailer metadata that travels with it.
///
/// The fields live behind one box so that `Result<T, Status>` stays small.
#[derive(Clone, PartialEq)]
pub struct Status(Box<Inner>);

/// The fields of a [`Status`].
#[derive(Clone, PartialEq)]
struct Inner {
    code: Code,
    message: String,
    details: Bytes,
    metadata: Metadata,
    /// Local knowledge, never on the wire: the TLS alert with which the server refused the
    /// call's connection.
    tls_alert: Option<TlsAlert>,
}

/// Defines one constructor per code, so call sites read `Status::not_found("...")`.
macro_rules! code_constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// Creates a status with `code` and `message`, no details and no metadata.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status::with_details(code, message, Bytes::new())
    }

    /// Creates a status carrying binary `details` (sent as `grpc-status-details-bin`).
    pub fn with_details(code: Code, message: impl Into<String>, details: Bytes) -> Status {
        Status(Box::new(Inner {
            code,
            message: message.into(),
            details,
            metadata: Metadata::new(),
            tls_alert: None,
        }))
    }

    code_constructors! {
        /// A status with code `OK`.
        ok => Ok;
        /// A status with code `CANCELLED`.
        cancelled => Cancelled;
        /// A status with code `UNKNOWN`.
        unknown => Unknown;
        /// A status with code `INVALID_ARGUMENT`.
        invalid_argument => InvalidArgument;
        /// A status with code `DEADLINE_EXCEEDED`.
        deadline_exceeded => DeadlineExceeded;
        /// A status with code `NOT_FOUND`.
        not_found => NotFound;
        /// A status with code `ALREADY_EXISTS`.
        already_exists => AlreadyExists;
        /// A status with code `PERMISSION_DENIED`.
        permission_denied => PermissionDenied;
        /// A status with code `RESOURCE_EXHAUSTED`.
        resource_exhausted => ResourceExhausted;
        /// A status with code `FAILED_PRECONDITION`.
        failed_precondition => FailedPrecondition;
        /// A status with code `ABORTED`.
        aborted => Aborted;
        /// A status with code `OUT_OF_RANGE`.
        out_of_range => OutOfRange;
        /// A status with code `UNIMPLEMENTED`.
        unimplemented => Unimplemented;
        /// A status with code `INTERNAL`.
        internal => Internal;
        /// A status with code `UNAVAILABLE`.
        unavailable => Unavailable;
        /// A status with code `DATA_LOSS`.
        data_loss => DataLoss;
        /// A status with code `UNAUTHENTICATED`.
        unauthenticated => Unauthenticated;
    }

    /// The status code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The human-readable message (may be empty).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The binary details (empty when none were given).
    pub fn details(&self) -> &[u8] {
        &self.0.details
    }

    /// The custom metadata sent or received with the status (trailers).
    pub fn metadata(&self) -> &Metadata {
        &self.0.metadata
    }

    /// Mutable access to the custom metadata, to attach trailers to an error.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.0.metadata
    }

    /// The TLS alert with which the server refused this call's connection, when that is why
    /// the call failed (the code is then UNAVAILABLE): for example `bad_certificate` or
    /// `unknown_ca` when it did not accept the client's certificate. It lets a caller tell a
    /// configuration error from a server that is merely not up, without parsing the message.
    ///
    /// Set by the client runtime from what the transport reported; it is never sent or read
    /// on the wire, so a status built from trailers has none.
    pub fn tls_alert(&self) -> Option<TlsAlert> {
        self.0.tls_alert
    }

    /// The same status, marked as caused by the server's TLS `alert`.
    pub(crate) fn with_tls_alert(mut self, alert: Option<TlsAlert>) -> Status {
        self.0.tls_alert = alert;
        self
    }

    /// Writes the status into `headers` (trailers, or a Trailers-Only response).
    ///
    /// Sets `grpc-status` (decimal), `grpc-message` (percent-encoded, omitted when empty) and
    /// `grpc-status-details-bin` (unpadded base64, omitted when empty), replacing any earlier
    /// values of those three, then appends the status's custom metadata.
    pub fn add_to_headers(&self, headers: &mut HeaderMap) {
        headers.insert(GRPC_STATUS, HeaderValue::from(self.code() as i32));

        let encoded_message = utf8_percent_encode(self.message(), MESSAGE_ENCODE_SET).to_string();
        // The encoded form is printable ASCII by construction, so the conversion cannot fail.
        match HeaderValue::from_str(&encoded_message) {
            Ok(value) if !encoded_message.is_empty() => {
                headers.insert(GRPC_MESSAGE, value);
            }
            _ => {
                headers.remove(GRPC_MESSAGE);
            }
        }

        let encoded_details = STANDARD_NO_PAD.encode(self.details());
        match HeaderValue::from_str(&encoded_details) {
            Ok(value) if !encoded_details.is_empty() => {
                headers.insert(GRPC_STATUS_DETAILS, value);
            }
            _ => {
                headers.remove(GRPC_STATUS_DETAILS);
            }
        }

        self.metadata().append_to(headers);
    }

    /// Reads a status from received headers or trailers; `None` when `grpc-status` is absent.
    ///
    /// Never fails on peer input: an unparsable `grpc-status` becomes `UNKNOWN` with a message
    /// quoting what was received, a message that is not valid UTF-8 after percent-decoding is
    /// decoded lossily, and details that are not valid base64 are dropped (the code and message
    /// are what callers act on). Every non-reserved header becomes the status's metadata.
    pub fn from_headers(headers: &HeaderMap) -> Option<Status> {
        let raw_status = headers.get(GRPC_STATUS)?;
        let message = headers
            .get(GRPC_MESSAGE)
            .map(|value| {
                percent_decode(value.as_bytes())
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();

        let (code, message) = match parse_status_number(raw_status.as_bytes()) {
            Some(number) => (Code::from_i32(number), message),
            None => {
                let received = String::from_utf8_lossy(raw_status.as_bytes());
                let mut text = format!("invalid grpc-status {received:?} received");
                if !message.is_empty() {
                    text.push_str(": ");
                    text.push_str(&message);
                }
                (Code::Unknown, text)
            }
        };

        let details = headers
            .get(GRPC_STATUS_DETAILS)
            .and_then(|value| BASE64_LENIENT.decode(value.as_bytes()).ok())
            .map(Bytes::from)
            .unwrap_or_default();

        let mut status = Status::with_details(code, message, details);
        *status.metadata_mut() = Metadata::from_headers(headers);
        Some(status)
    }

    /// Derives a status from the HTTP status of a response that carried no `grpc-status`
    /// (typically an error page from a proxy), as the gRPC HTTP mapping prescribes.
    pub fn from_http_status(status: u16) -> Status {
        let code = match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        };
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason());
        let message = match reason {
            Some(reason) => {
                format!("received HTTP status {status} ({reason}) without a grpc-status")
            }
            None => format!("received HTTP status {status} without a grpc-status"),
        };
        Status::new(code, message)
    }
}

/// Parses the decimal `grpc-status` value; `None` when it is not plain ASCII digits fitting i32.
fn parse_status_number(bytes: &[u8]) -> Option<i32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Status")
            .field("code", &self.code())
            .field("message", &self.message())
            .field("details_len", &self.details().len())
            .field("metadata", self.metadata())
            .field("tls_alert", &self.tls_alert())
            .finish()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status: {}, message: {:?}", self.code(), self.message())
    }
}

impl std::error::Error for Status {}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(status: &Status) -> Status {
        let mut headers = HeaderMap::new();
        status.add_to_headers(&mut headers);
        Status::from_headers(&headers).unwrap()
    }

    #[test]
    fn every_code_round_trips() {
        for (number, code) in Code::ALL.into_iter().enumerate() {
            assert_eq!(code as i32, i32::try_from(number).unwrap());
            assert_eq!(Code::from_i32(code as i32), code);

            let status = Status::new(code, format!("code {code}"));
            let mut headers = HeaderMap::new();
            status.add_to_headers(&mut headers);
            assert_eq!(headers[GRPC_STATUS], number.to_string().as_str());

            let back = Status::from_headers(&headers).unwrap();
            assert_eq!(back.code(), code);
            assert_eq!(back.message(), format!("code {code}"));
            assert!(back.details().is_empty());
            assert!(back.metadata().is_empty());
        }
    }

    #[test]
    fn constructors_set_their_code() {
        let made = [
            Status::ok(""),
            Status::cancelled(""),
            Status::unknown(""),
            Status::invalid_argument(""),
            Status::deadline_exceeded(""),
            Status::not_found(""),
            Status::already_exists(""),
            Status::permission_denied(""),
            Status::resource_exhausted(""),
            Status::failed_precondition(""),
            Status::aborted(""),
            Status::out_of_range(""),
            Status::unimplemented(""),
            Status::internal(""),
            Status::unavailable(""),
            Status::data_loss(""),
            Status::unauthenticated(""),
        ];
        let codes: Vec<Code> = made.iter().map(Status::code).collect();
        assert_eq!(codes, Code::ALL);
    }

    #[test]
    fn code_names() {
        assert_eq!(Code::Ok.as_str(), "OK");
        assert_eq!(Code::DeadlineExceeded.to_string(), "DEADLINE_EXCEEDED");
        assert_eq!(Code::Unauthenticated.as_str(), "UNAUTHENTICATED");
        assert_eq!(Code::from_i32(-1), Code::Unknown);
        assert_eq!(Code::from_i32(17), Code::Unknown);
    }

    #[test]
    fn non_ascii_message_round_trips() {
        let message = "délai dépassé ✓ 100%";
        let status = Status::deadline_exceeded(message);
        let mut headers = HeaderMap::new();
        status.add_to_headers(&mut headers);
        assert_eq!(
            headers[GRPC_MESSAGE].as_bytes(),
            b"d%C3%A9lai d%C3%A9pass%C3%A9 %E2%9C%93 100%25"
        );
        let back = Status::from_headers(&headers).unwrap();
        assert_eq!(back.code(), Code::DeadlineExceeded);
        assert_eq!(back.message(), message);
    }

    #[test]
    fn control_characters_are_encoded() {
        let status = Status::internal("line\nbreak\x7f");
        let mut headers = HeaderMap::new();
        status.add_to_headers(&mut headers);
        assert_eq!(headers[GRPC_MESSAGE].as_bytes(), b"line%0Abreak%7F");
        assert_eq!(round_trip(&status).message(), "line\nbreak\x7f");
    }

    #[test]
    fn invalid_percent_and_utf8_never_panic() {
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_STATUS, HeaderValue::from_static("13"));
        headers.insert(
            GRPC_MESSAGE,
            HeaderValue::from_static("bad %ZZ escape, %FF byte, trailing %"),
        );
        let status = Status::from_headers(&headers).unwrap();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(
            status.message(),
            "bad %ZZ escape, \u{FFFD} byte, trailing %"
        );
    }

    #[test]
    fn empty_message_and_details_are_omitted() {
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_MESSAGE, HeaderValue::from_static("stale"));
        Status::ok("").add_to_headers(&mut headers);
        assert_eq!(headers[GRPC_STATUS], "0");
        assert!(headers.get(GRPC_MESSAGE).is_none());
        assert!(headers.get(GRPC_STATUS_DETAILS).is_none());
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn unknown_number_becomes_unknown() {
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_STATUS, HeaderValue::from_static("99"));
        headers.insert(GRPC_MESSAGE, HeaderValue::from_static("from the future"));
        let status = Status::from_headers(&headers).unwrap();
        assert_eq!(status.code(), Code::Unknown);
        assert_eq!(status.message(), "from the future");
    }

    #[test]
    fn unparsable_status_is_reported() {
        for raw in ["abc", "-1", "+3", " 3", "99999999999"] {
            let mut headers = HeaderMap::new();
            headers.insert(GRPC_STATUS, HeaderValue::from_str(raw).unwrap());
            let status = Status::from_headers(&headers).unwrap();
            assert_eq!(status.code(), Code::Unknown, "{raw:?}");
            assert!(status.message().contains(raw), "{}", status.message());
        }
    }

    #[test]
    fn missing_status_is_none() {
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_MESSAGE, HeaderValue::from_static("no code"));
        headers.insert("content-type", HeaderValue::from_static("text/html"));
        assert!(Status::from_headers(&headers).is_none());
        assert!(Status::from_headers(&HeaderMap::new()).is_none());
    }

    #[test]
    fn details_round_trip() {
        let details = Bytes::from_static(b"\x08\x03\x12\x00\xff\xfe");
        let status = Status::with_details(Code::InvalidArgument, "bad", details.clone());
        let mut headers = HeaderMap::new();
        status.add_to_headers(&mut headers);
        assert_eq!(headers[GRPC_STATUS_DETAILS], "CAMSAP/+");
        let back = Status::from_headers(&headers).unwrap();
        assert_eq!(back.details(), &details[..]);
        assert!(back.metadata().is_empty());

        // A padded encoding from another implementation is accepted too.
        headers.insert(GRPC_STATUS_DETAILS, HeaderValue::from_static("AP8="));
        assert_eq!(
            Status::from_headers(&headers).unwrap().details(),
            b"\x00\xff"
        );
        // Invalid base64 drops the details but keeps the status.
        headers.insert(GRPC_STATUS_DETAILS, HeaderValue::from_static("*"));
        let broken = Status::from_headers(&headers).unwrap();
        assert_eq!(broken.code(), Code::InvalidArgument);
        assert!(broken.details().is_empty());
    }

    #[test]
    fn metadata_travels_with_the_status() {
        let mut status = Status::unavailable("busy");
        status.metadata_mut().insert("retry-after", "5").unwrap();
        status
            .metadata_mut()
            .insert_bin("trace-bin", b"\x00\x01")
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        status.add_to_headers(&mut headers);

        let back = Status::from_headers(&headers).unwrap();
        assert_eq!(back.metadata(), status.metadata());
        assert_eq!(back.metadata().get("retry-after"), Some("5"));
        assert_eq!(back.metadata().get("content-type"), None);
    }

    #[test]
    fn http_status_mapping() {
        let cases = [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (500, Code::Unknown),
            (200, Code::Unknown),
            (999, Code::Unknown),
        ];
        for (http, code) in cases {
            let status = Status::from_http_status(http);
            assert_eq!(status.code(), code, "HTTP {http}");
            assert!(status.message().contains(&http.to_string()));
        }
        assert_eq!(
            Status::from_http_status(503).message(),
            "received HTTP status 503 (Service Unavailable) without a grpc-status"
        );
    }

    #[test]
    fn display_and_debug() {
        let status =
            Status::with_details(Code::Cancelled, "gone \"away\"", Bytes::from_static(b"abc"));
        assert_eq!(
            status.to_string(),
            r#"status: CANCELLED, message: "gone \"away\"""#
        );
        let debug = format!("{status:?}");
        assert!(debug.contains("code: Cancelled"), "{debug}");
        assert!(debug.contains("details_len: 3"), "{debug}");
        assert!(debug.contains("metadata"), "{debug}");
    }
}
