//! Custom call metadata: the user-visible headers and trailers of a call, validated per the gRPC spec.
//!
//! Keys are lowercase `[0-9a-z_.-]`; keys ending in `-bin` carry arbitrary bytes as base64
//! (emitted without padding, accepted with or without). Keys the protocol owns (`grpc-*`) and
//! transport headers (`content-type`, `te`, ...) are refused, so user metadata can never change
//! how a call is framed or reported.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Suffix that marks a key whose value is binary (carried as base64).
const BIN_SUFFIX: &str = "-bin";

/// Prefix of the keys the gRPC protocol reserves for itself.
const RESERVED_PREFIX: &str = "grpc-";

/// Transport headers that describe the HTTP exchange rather than the call; letting users set them
/// would break framing or routing. `user-agent` is deliberately not here: gRPC lets callers set it.
const TRANSPORT_HEADERS: [&str; 5] = ["content-type", "te", "content-length", "host", "connection"];

/// Base64 decoder for `-bin` values: the gRPC spec requires accepting padded and unpadded input.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The custom metadata of a call (request headers, response headers or trailers).
///
/// Every entry has been validated on the way in, whether it came from [`Metadata::insert`] or
/// from the wire through [`Metadata::from_headers`], so reading never fails except when decoding
/// a `-bin` value the peer sent as invalid base64.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    headers: HeaderMap,
}

/// Why a metadata key or value was refused. Every variant names the key involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The key is empty or holds characters outside lowercase `[0-9a-z_.-]`.
    #[error("invalid metadata key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key belongs to the protocol (`grpc-*`) or the transport (`content-type`, `te`, ...).
    #[error("metadata key {key:?} is reserved for the protocol or the transport")]
    ReservedKey {
        /// The key as given.
        key: String,
    },
    /// An ASCII value holds bytes outside printable ASCII (0x20..=0x7E).
    #[error("value of metadata key {key:?} is not printable ASCII (0x20..=0x7E)")]
    InvalidValue {
        /// The key whose value was refused.
        key: String,
    },
    /// A binary value under a key without the `-bin` suffix, or an ASCII value under one with it.
    #[error("metadata key {key:?}: binary values need a key ending in \"-bin\", ASCII values a key that does not")]
    BinKeyMismatch {
        /// The key as given.
        key: String,
    },
    /// A `-bin` value received from the peer is not valid base64.
    #[error("value of binary metadata key {key:?} is not valid base64")]
    InvalidBase64 {
        /// The key whose value could not be decoded.
        key: String,
    },
}

impl Metadata {
    /// Creates empty metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an ASCII entry, replacing every earlier value of `key`.
    ///
    /// The key must be lowercase `[0-9a-z_.-]`, must not end in `-bin` (use
    /// [`Metadata::insert_bin`]) and must not be reserved; the value must be printable ASCII.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let (name, value) = ascii_entry(key, value)?;
        self.headers.insert(name, value);
        Ok(())
    }

    /// Adds an ASCII entry, keeping earlier values of `key` (same rules as [`Metadata::insert`]).
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let (name, value) = ascii_entry(key, value)?;
        self.headers.append(name, value);
        Ok(())
    }

    /// Sets a binary entry, replacing every earlier value of `key`, which must end in `-bin`.
    ///
    /// The bytes are stored as standard base64 without padding, the form gRPC peers emit.
    pub fn insert_bin(&mut self, key: &str, value: &[u8]) -> Result<(), MetadataError> {
        let name = checked_name(key, true)?;
        let encoded = STANDARD_NO_PAD.encode(value);
        // Base64 output is always a valid header value; the error branch only keeps this total.
        let value = HeaderValue::from_str(&encoded).map_err(|_| MetadataError::InvalidValue {
            key: key.to_owned(),
        })?;
        self.headers.insert(name, value);
        Ok(())
    }

    /// Returns the first value of `key` as stored (base64 text for `-bin` keys).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }

    /// Returns every value of `key` in insertion order, as stored.
    pub fn get_all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.headers
            .get_all(key)
            .iter()
            .filter_map(|v| v.to_str().ok())
    }

    /// Decodes the first value of the binary key `key`; `None` when the key is absent.
    ///
    /// Padded and unpadded base64 are both accepted. A key without the `-bin` suffix yields
    /// [`MetadataError::BinKeyMismatch`] when present.
    pub fn get_bin(&self, key: &str) -> Option<Result<Vec<u8>, MetadataError>> {
        let value = self.headers.get(key)?;
        if !key.ends_with(BIN_SUFFIX) {
            return Some(Err(MetadataError::BinKeyMismatch {
                key: key.to_owned(),
            }));
        }
        Some(
            BASE64_LENIENT
                .decode(value.as_bytes())
                .map_err(|_| MetadataError::InvalidBase64 {
                    key: key.to_owned(),
                }),
        )
    }

    /// Removes every value of `key`, returning the first one as stored.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.headers
            .remove(key)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    /// Number of values (a key with two values counts twice).
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// True when there is no entry at all.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Every `(key, value)` pair, values as stored (`-bin` values still base64).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
    }

    /// Extracts the custom metadata from received headers or trailers.
    ///
    /// Reserved and transport headers (`grpc-*`, `content-type`, `te`, `content-length`, `host`,
    /// `connection`) are skipped, as are keys outside `[0-9a-z_.-]` and values that are not
    /// printable ASCII: a peer's odd header is dropped rather than failing the whole call.
    pub fn from_headers(headers: &HeaderMap) -> Metadata {
        let mut metadata = Metadata::new();
        for (name, value) in headers {
            let key = name.as_str();
            if check_key(key).is_ok() && !is_reserved(key) && is_printable_ascii(value.as_bytes()) {
                metadata.headers.append(name.clone(), value.clone());
            }
        }
        metadata
    }

    /// Appends every entry to `headers`, keeping entries already there.
    pub fn append_to(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
    }

    /// Sum of key and value lengths over all entries, for header-block size accounting.
    ///
    /// This is the raw byte count; a caller comparing against an HTTP/3 field-section limit adds
    /// the protocol's per-field overhead (32 bytes per entry in RFC 9114) itself.
    pub fn header_bytes(&self) -> usize {
        self.headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum()
    }
}

/// Validates an ASCII entry and converts it to header types.
fn ascii_entry(key: &str, value: &str) -> Result<(HeaderName, HeaderValue), MetadataError> {
    let name = checked_name(key, false)?;
    let invalid_value = || MetadataError::InvalidValue {
        key: key.to_owned(),
    };
    if !is_printable_ascii(value.as_bytes()) {
        return Err(invalid_value());
    }
    let value = HeaderValue::from_str(value).map_err(|_| invalid_value())?;
    Ok((name, value))
}

/// Validates `key` for an entry that is binary (`bin`) or ASCII and converts it to a header name.
fn checked_name(key: &str, bin: bool) -> Result<HeaderName, MetadataError> {
    check_key(key).map_err(|reason| MetadataError::InvalidKey {
        key: key.to_owned(),
        reason,
    })?;
    if is_reserved(key) {
        return Err(MetadataError::ReservedKey {
            key: key.to_owned(),
        });
    }
    if key.ends_with(BIN_SUFFIX) != bin {
        return Err(MetadataError::BinKeyMismatch {
            key: key.to_owned(),
        });
    }
    HeaderName::from_bytes(key.as_bytes()).map_err(|_| MetadataError::InvalidKey {
        key: key.to_owned(),
        reason: "not a valid HTTP header name",
    })
}

/// Checks the key grammar of the gRPC spec; the error is the reason for the caller to report.
fn check_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("key is empty");
    }
    if key == BIN_SUFFIX {
        return Err("a binary key needs a name before the \"-bin\" suffix");
    }
    let allowed = |b: u8| b.is_ascii_digit() || b.is_ascii_lowercase() || b"_.-".contains(&b);
    if !key.bytes().all(allowed) {
        return Err("only lowercase letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

/// True for keys owned by the protocol or the transport.
fn is_reserved(key: &str) -> bool {
    key.starts_with(RESERVED_PREFIX) || TRANSPORT_HEADERS.contains(&key)
}

/// True when every byte is printable ASCII (0x20..=0x7E), the gRPC rule for ASCII values.
fn is_printable_ascii(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| (0x20..=0x7E).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_round_trip() {
        let mut md = Metadata::new();
        md.insert("x-request-id", "abc 123 ~!").unwrap();
        assert_eq!(md.get("x-request-id"), Some("abc 123 ~!"));
        assert_eq!(md.len(), 1);
        assert!(!md.is_empty());

        md.insert("x-request-id", "replaced").unwrap();
        assert_eq!(md.get_all("x-request-id").collect::<Vec<_>>(), ["replaced"]);
        md.append("x-request-id", "second").unwrap();
        assert_eq!(
            md.get_all("x-request-id").collect::<Vec<_>>(),
            ["replaced", "second"]
        );
        assert_eq!(md.len(), 2);

        assert_eq!(md.remove("x-request-id").as_deref(), Some("replaced"));
        assert!(md.is_empty());
        assert_eq!(md.get("x-request-id"), None);
    }

    #[test]
    fn user_agent_is_allowed() {
        let mut md = Metadata::new();
        md.insert("user-agent", "rpcnet/0.1").unwrap();
        assert_eq!(md.get("user-agent"), Some("rpcnet/0.1"));
    }

    #[test]
    fn bin_round_trip_all_bytes() {
        let all: Vec<u8> = (0x00..=0xFF).collect();
        let mut md = Metadata::new();
        md.insert_bin("trace-bin", &all).unwrap();
        assert_eq!(md.get_bin("trace-bin"), Some(Ok(all)));

        md.insert_bin("small-bin", b"\x00\xff").unwrap();
        // Stored unpadded: "AP8" rather than "AP8=".
        assert_eq!(md.get("small-bin"), Some("AP8"));
        assert_eq!(md.get_bin("small-bin"), Some(Ok(b"\x00\xff".to_vec())));
        assert_eq!(md.get_bin("absent-bin"), None);
    }

    #[test]
    fn bin_accepts_padded_input() {
        let mut headers = HeaderMap::new();
        headers.insert("padded-bin", HeaderValue::from_static("AP8="));
        headers.insert("unpadded-bin", HeaderValue::from_static("AP8"));
        headers.insert("broken-bin", HeaderValue::from_static("A*8"));
        let md = Metadata::from_headers(&headers);
        assert_eq!(md.get_bin("padded-bin"), Some(Ok(b"\x00\xff".to_vec())));
        assert_eq!(md.get_bin("unpadded-bin"), Some(Ok(b"\x00\xff".to_vec())));
        assert_eq!(
            md.get_bin("broken-bin"),
            Some(Err(MetadataError::InvalidBase64 {
                key: "broken-bin".into()
            }))
        );
    }

    #[test]
    fn reserved_keys_rejected() {
        let mut md = Metadata::new();
        for key in [
            "grpc-status",
            "grpc-timeout",
            "content-type",
            "te",
            "content-length",
            "host",
            "connection",
        ] {
            assert_eq!(
                md.insert(key, "v"),
                Err(MetadataError::ReservedKey { key: key.into() })
            );
        }
        assert_eq!(
            md.insert_bin("grpc-status-details-bin", b"x"),
            Err(MetadataError::ReservedKey {
                key: "grpc-status-details-bin".into()
            })
        );
        assert!(md.is_empty());
    }

    #[test]
    fn invalid_keys_rejected() {
        let mut md = Metadata::new();
        for key in [
            "",
            "X-Upper",
            "has space",
            ":path",
            "semi;colon",
            "-bin",
            "é",
        ] {
            assert!(
                matches!(md.insert(key, "v"), Err(MetadataError::InvalidKey { key: k, .. }) if k == key),
                "key {key:?} accepted"
            );
        }
        assert_eq!(
            md.insert("trace-bin", "v"),
            Err(MetadataError::BinKeyMismatch {
                key: "trace-bin".into()
            })
        );
        assert_eq!(
            md.insert_bin("trace", b"v"),
            Err(MetadataError::BinKeyMismatch {
                key: "trace".into()
            })
        );
        assert!(md.is_empty());
    }

    #[test]
    fn invalid_values_rejected() {
        let mut md = Metadata::new();
        for value in ["tab\there", "new\nline", "del\x7f", "caf\u{e9}"] {
            assert_eq!(
                md.insert("x-key", value),
                Err(MetadataError::InvalidValue {
                    key: "x-key".into()
                })
            );
        }
        assert!(md.is_empty());
    }

    #[test]
    fn get_bin_on_ascii_key_is_a_mismatch() {
        let mut md = Metadata::new();
        md.insert("plain", "text").unwrap();
        assert_eq!(
            md.get_bin("plain"),
            Some(Err(MetadataError::BinKeyMismatch {
                key: "plain".into()
            }))
        );
    }

    #[test]
    fn from_headers_filters_reserved_and_invalid() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static("0"));
        headers.insert("grpc-message", HeaderValue::from_static("ok"));
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("content-length", HeaderValue::from_static("12"));
        headers.insert("x-kept", HeaderValue::from_static("yes"));
        headers.append("x-kept", HeaderValue::from_static("twice"));
        headers.insert("x-odd!", HeaderValue::from_static("key"));
        headers.insert("x-tab", HeaderValue::from_bytes(b"a\tb").unwrap());
        headers.insert("x-high", HeaderValue::from_bytes(b"caf\xe9").unwrap());

        let md = Metadata::from_headers(&headers);
        let pairs: Vec<_> = md.iter().collect();
        assert_eq!(pairs, [("x-kept", "yes"), ("x-kept", "twice")]);
    }

    #[test]
    fn append_to_and_header_bytes() {
        let mut md = Metadata::new();
        md.insert("ab", "cde").unwrap();
        md.append("ab", "f").unwrap();
        md.insert_bin("k-bin", b"\x01\x02\x03").unwrap();
        // 2+3, 2+1, 5+4 ("AQID").
        assert_eq!(md.header_bytes(), 17);

        let mut headers = HeaderMap::new();
        headers.insert("ab", HeaderValue::from_static("existing"));
        md.append_to(&mut headers);
        let values: Vec<_> = headers.get_all("ab").iter().collect();
        assert_eq!(values, ["existing", "cde", "f"]);
        assert_eq!(headers.get("k-bin").unwrap(), "AQID");
        assert_eq!(
            Metadata::from_headers(&headers).get_bin("k-bin"),
            md.get_bin("k-bin")
        );
    }
}
