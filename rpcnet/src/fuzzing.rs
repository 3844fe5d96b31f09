//! Property checks over what a peer controls (request heads, metadata, `grpc-timeout`, message streams), shared by the proptest suite below and the cargo-fuzz targets in `fuzz/`.
//!
//! Each check takes raw input, runs the real code on it, and panics when a property fails;
//! an input that is merely invalid (an error answered cleanly) passes. Compiled for tests and
//! with the `fuzzing` feature only: nothing here is API.

use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::call_core::head::{check_request, is_grpc_content_type, Rejection};
use crate::call_core::reader::{MessageReader, Read};
use crate::call_core::Side;
use crate::codec::HEADER_LEN;
use crate::{timeout, Code, Metadata};

/// A request head from raw parts, as a transport would hand it over: an HTTP method, the
/// path, and header fields (fields whose name or value HTTP itself refuses are dropped, as
/// h3 and hyper refuse them before rpcnet sees them).
///
/// Checks: the call core accepts only POST with gRPC's content-type; an accepted head's
/// service and method are the path's two non-empty segments; its timeout is exactly the
/// header's; only the `identity` encoding is accepted; every refusal is 405, 415,
/// UNIMPLEMENTED or INVALID_ARGUMENT. The metadata taken from the same fields holds only
/// fields that were received, with legal keys, and never carries a reserved one.
pub fn request_head(method: &[u8], path: &str, fields: &[(Vec<u8>, Vec<u8>)]) {
    let Ok(method) = Method::from_bytes(method) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for (name, value) in fields {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    match check_request(&method, path, &headers) {
        Ok(head) => {
            assert_eq!(method, Method::POST);
            assert!(is_grpc_content_type(
                headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes)
            ));
            assert!(!head.service.is_empty() && !head.method.is_empty());
            assert!(!head.method.contains('/') && !head.service.contains('/'));
            assert_eq!(format!("/{}/{}", head.service, head.method), path);
            let sent = headers.get("grpc-timeout").map(|v| {
                timeout::parse(v.to_str().expect("an accepted timeout is text"))
                    .expect("an accepted timeout parses")
            });
            assert_eq!(head.timeout, sent);
            if let Some(encoding) = headers.get("grpc-encoding") {
                assert_eq!(encoding, "identity");
            }
        }
        Err(Rejection::Http(405)) => assert_ne!(method, Method::POST),
        Err(Rejection::Http(code)) => assert_eq!(code, 415),
        Err(Rejection::Status(status)) => assert!(
            matches!(status.code(), Code::Unimplemented | Code::InvalidArgument),
            "unexpected refusal {status:?}"
        ),
    }
    let metadata = Metadata::from_headers(&headers);
    for (key, value) in metadata.iter() {
        assert!(!key.starts_with("grpc-") && key != "content-type" && key != "te");
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b"_.-".contains(&b)));
        assert!(headers
            .get_all(key)
            .iter()
            .any(|received| received.as_bytes() == value.as_bytes()));
        if key.ends_with("-bin") {
            // Undecodable base64 is the caller's error to see, never a panic.
            let _ = metadata.get_bin(key);
        }
    }
}

/// A `grpc-timeout` value as a peer may send it.
///
/// Checks: only the grammar (1 to 8 ASCII digits, one unit) parses, and what parses encodes
/// back to a value that parses to no less.
pub fn grpc_timeout(text: &str) {
    let Ok(duration) = timeout::parse(text) else {
        return;
    };
    let bytes = text.as_bytes();
    assert!((2..=9).contains(&bytes.len()), "{text:?}");
    let (unit, digits) = bytes.split_last().expect("not empty");
    assert!(digits.iter().all(u8::is_ascii_digit), "{text:?}");
    assert!(b"HMSmun".contains(unit), "{text:?}");
    our_timeout(duration);
}

/// A timeout rpcnet sends: its encoding follows the grammar and never shortens it (beyond
/// the longest value the header can carry, it says that value).
pub fn our_timeout(duration: Duration) {
    let encoded = timeout::encode(duration);
    let back = timeout::parse(&encoded).expect("our own encoding parses");
    let longest = timeout::parse("99999999H").expect("the longest value parses");
    assert!(
        back >= duration.min(longest),
        "{duration:?} -> {encoded} -> {back:?}"
    );
    // Rounded up by less than one unit of the encoding, which is the most precise that fits.
    if back < longest {
        assert!(
            back - duration < unit_of(&encoded),
            "{duration:?} -> {encoded}"
        );
    }
}

fn unit_of(encoded: &str) -> Duration {
    match encoded.as_bytes().last() {
        Some(b'H') => Duration::from_secs(3_600),
        Some(b'M') => Duration::from_secs(60),
        Some(b'S') => Duration::from_secs(1),
        Some(b'm') => Duration::from_millis(1),
        Some(b'u') => Duration::from_micros(1),
        _ => Duration::from_nanos(1),
    }
}

/// What a reader made of one stream: its messages, then how it ended (`None`: cleanly).
#[derive(Debug, PartialEq)]
struct Outcome {
    messages: Vec<Bytes>,
    end: Option<Code>,
}

/// A received stream of length-prefixed messages, cut into DATA chunks at `cuts` (byte
/// offsets; out of range ones are ignored), then ended (the client side then receives
/// `grpc-status: 0` trailers).
///
/// Checks: the messages and the way the stream ends do not depend on where it was cut, and
/// are what a plain reading of the framing gives (a compressed or unknown flag or a truncated
/// message is INTERNAL, a message over `max_message_size` is RESOURCE_EXHAUSTED, refused on
/// its prefix alone); between chunks the reader holds less than one whole message of the
/// largest size (`HEADER_LEN + max_message_size` bytes).
pub fn message_stream(data: &[u8], cuts: &[usize], max_message_size: usize, client: bool) {
    let side = if client { Side::Client } else { Side::Server };
    let whole = read(side, data, &[], max_message_size);
    assert_eq!(whole, framing(data, max_message_size), "unsplit stream");
    let split = read(side, data, cuts, max_message_size);
    assert_eq!(split, whole, "cut at {cuts:?}");
}

fn read(side: Side, data: &[u8], cuts: &[usize], max: usize) -> Outcome {
    let mut reader = MessageReader::new(side, max);
    let mut out = Outcome {
        messages: Vec::new(),
        end: None,
    };
    let mut points: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&cut| cut > 0 && cut < data.len())
        .collect();
    points.sort_unstable();
    points.dedup();
    points.push(data.len());
    let data = Bytes::copy_from_slice(data);
    let mut start = 0;
    for end in points {
        if end > start {
            reader.handle_data(data.slice(start..end));
        }
        start = end;
        if drain(&mut reader, &mut out, max) {
            return out;
        }
    }
    reader.handle_data_end();
    // A server's stream is over at its end; a client gets there through its trailers.
    assert!(
        drain(&mut reader, &mut out, max),
        "the reader asked for data after the end"
    );
    out
}

/// Delivers what the reader has; true once the stream is over.
fn drain(reader: &mut MessageReader, out: &mut Outcome, max: usize) -> bool {
    loop {
        match reader.poll_read() {
            Read::Message(body) => out.messages.push(body),
            Read::NeedData => {
                let bound = HEADER_LEN.saturating_add(max);
                assert!(
                    reader.buffered() < bound,
                    "holds {} bytes with at most {bound} allowed",
                    reader.buffered()
                );
                return false;
            }
            Read::NeedTrailers => {
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", HeaderValue::from_static("0"));
                reader.handle_trailers(Some(&trailers));
            }
            Read::Ended => {
                out.end = None;
                return true;
            }
            Read::Failed(failure) => {
                out.end = Some(failure.status.code());
                return true;
            }
        }
    }
}

/// The framing read plainly, all at once: the reference the reader is held to.
fn framing(data: &[u8], max: usize) -> Outcome {
    let mut messages = Vec::new();
    let mut rest = data;
    let end = loop {
        if rest.is_empty() {
            break None;
        }
        let Some((prefix, body)) = rest.split_first_chunk::<HEADER_LEN>() else {
            break Some(Code::Internal);
        };
        let [flag, length @ ..] = *prefix;
        if flag != 0 {
            break Some(Code::Internal);
        }
        let Ok(length) = usize::try_from(u32::from_be_bytes(length)) else {
            break Some(Code::ResourceExhausted);
        };
        if length > max {
            break Some(Code::ResourceExhausted);
        }
        if body.len() < length {
            break Some(Code::Internal);
        }
        messages.push(Bytes::copy_from_slice(&body[..length]));
        rest = &body[length..];
    };
    Outcome { messages, end }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes that are mostly well-framed messages, with a chance of a bad flag, a long
    /// length or a cut-off tail, so the interesting paths are reached often.
    fn framed_stream() -> impl Strategy<Value = Vec<u8>> {
        let message = (
            prop_oneof![8 => Just(0u8), 1 => Just(1u8), 1 => any::<u8>()],
            prop::collection::vec(any::<u8>(), 0..40),
            prop_oneof![9 => Just(None), 1 => any::<u32>().prop_map(Some)],
        )
            .prop_map(|(flag, body, length)| {
                let length = length.unwrap_or(body.len() as u32);
                let mut framed = vec![flag];
                framed.extend_from_slice(&length.to_be_bytes());
                framed.extend_from_slice(&body);
                framed
            });
        (
            prop::collection::vec(message, 0..6),
            prop::collection::vec(any::<u8>(), 0..4),
        )
            .prop_map(|(messages, tail)| {
                let mut stream: Vec<u8> = messages.concat();
                stream.extend_from_slice(&tail);
                stream
            })
    }

    fn field() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        let name = prop_oneof![
            Just(b"content-type".to_vec()),
            Just(b"grpc-timeout".to_vec()),
            Just(b"grpc-encoding".to_vec()),
            Just(b"te".to_vec()),
            Just(b"x-trace-bin".to_vec()),
            "[a-z0-9_.-]{1,12}".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..12),
        ];
        let value = prop_oneof![
            Just(b"application/grpc".to_vec()),
            Just(b"application/grpc+proto;charset=utf-8".to_vec()),
            Just(b"identity".to_vec()),
            "[0-9]{1,9}[HMSmunx]".prop_map(String::into_bytes),
            "[A-Za-z0-9+/=]{0,12}".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..16),
        ];
        (name, value)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn message_streams_read_the_same_however_cut(
            data in framed_stream(),
            cuts in prop::collection::vec(0usize..300, 0..12),
            max in prop_oneof![Just(0usize), 0usize..64, Just(usize::MAX)],
            client in any::<bool>(),
        ) {
            message_stream(&data, &cuts, max, client);
        }

        #[test]
        fn arbitrary_bytes_as_a_message_stream(
            data in prop::collection::vec(any::<u8>(), 0..64),
            cuts in prop::collection::vec(0usize..64, 0..8),
        ) {
            message_stream(&data, &cuts, 16, false);
        }

        #[test]
        fn request_heads_are_judged_by_the_rules(
            method in prop_oneof![Just(b"POST".to_vec()), Just(b"GET".to_vec()), prop::collection::vec(any::<u8>(), 0..6)],
            path in prop_oneof!["/[a-z.]{0,8}/[A-Za-z/]{0,8}", ".{0,12}"],
            fields in prop::collection::vec(field(), 0..8),
        ) {
            request_head(&method, &path, &fields);
        }

        #[test]
        fn grpc_timeouts_parse_only_by_the_grammar(text in prop_oneof!["[0-9]{0,10}[HMSmunx ]?", ".{0,10}"]) {
            grpc_timeout(&text);
        }

        #[test]
        fn our_timeouts_are_never_shortened(nanos in any::<u64>(), secs in any::<u64>()) {
            our_timeout(Duration::from_nanos(nanos));
            our_timeout(Duration::new(secs, 999_999_999));
        }

        #[test]
        fn binary_metadata_round_trips(value in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut metadata = Metadata::new();
            metadata.insert_bin("x-blob-bin", &value).unwrap();
            prop_assert_eq!(metadata.get_bin("x-blob-bin").unwrap().unwrap(), value);
        }
    }

    #[test]
    fn the_reference_reads_literals() {
        let stream = [0, 0, 0, 0, 2, b'h', b'i'];
        let hi = Outcome {
            messages: vec![Bytes::from_static(b"hi")],
            end: None,
        };
        assert_eq!(framing(&stream, 16), hi);
        assert_eq!(framing(&stream, 1).end, Some(Code::ResourceExhausted));
        assert_eq!(framing(&stream[..6], 16).end, Some(Code::Internal));
        assert_eq!(framing(&[1, 0, 0, 0, 0], 16).end, Some(Code::Internal));
        assert_eq!(
            framing(&[], 16),
            Outcome {
                messages: vec![],
                end: None
            }
        );
    }
}
