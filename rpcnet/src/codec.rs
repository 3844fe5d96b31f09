//! gRPC message framing: the 5-byte prefix (compressed flag + big-endian length) around each message.
//!
//! Sans-IO: the transport appends whatever DATA it received to a `BytesMut` and asks the
//! [`Decoder`] for whole messages; "not enough bytes yet" is the normal `Ok(None)` answer.
//! Frame boundaries and message boundaries are unrelated, so nothing here assumes either.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::status::Status;

/// Length of the prefix before every message: one flag byte and a big-endian `u32` length.
pub const HEADER_LEN: usize = 5;

/// Largest message accepted by default (4 MiB), the limit gRPC implementations customarily use;
/// it bounds the memory one call can make the receiver buffer.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Flag byte of an uncompressed message.
const FLAG_UNCOMPRESSED: u8 = 0;
/// Flag byte of a message compressed with the negotiated `grpc-encoding`.
const FLAG_COMPRESSED: u8 = 1;

/// Appends `message` to `dst` with its 5-byte prefix, reserving the space once.
///
/// # Panics
///
/// If the encoded message is longer than `u32::MAX` bytes (4 GiB), which the prefix cannot
/// express; no receiver would accept such a message anyway.
pub fn encode<M: prost::Message>(message: &M, dst: &mut BytesMut) {
    let len = message.encoded_len();
    let Ok(wire_len) = u32::try_from(len) else {
        panic!("a {len}-byte message cannot be framed: gRPC lengths are 32-bit");
    };
    dst.reserve(HEADER_LEN + len);
    dst.put_u8(FLAG_UNCOMPRESSED);
    dst.put_u32(wire_len);
    // prost's only encode error is "not enough space", which a growable BytesMut never reports.
    let encoded = message.encode(dst);
    debug_assert!(encoded.is_ok(), "prost failed to encode into a BytesMut");
}

/// Encodes `message` with its 5-byte prefix into a fresh buffer.
pub fn encode_to_bytes<M: prost::Message>(message: &M) -> Bytes {
    let mut dst = BytesMut::new();
    encode(message, &mut dst);
    dst.freeze()
}

/// Decodes a message body (as returned by [`Decoder::decode`]) into `M`.
///
/// A malformed body is the peer's fault but not the caller's to fix, so it maps to `INTERNAL`
/// with the type name and prost's description of the problem.
pub fn decode_message<M: prost::Message + Default>(body: Bytes) -> Result<M, Status> {
    M::decode(body).map_err(|error| {
        Status::internal(format!(
            "failed to decode {} message: {error}",
            std::any::type_name::<M>()
        ))
    })
}

/// Why the received bytes are not a valid sequence of gRPC messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The prefix announced a message longer than the configured limit.
    #[error("message of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Length announced by the prefix.
        len: usize,
        /// The decoder's `max_message_size`.
        limit: usize,
    },
    /// The compressed flag was set, but this runtime negotiates no `grpc-encoding`.
    #[error("compressed message received but no grpc-encoding was negotiated")]
    Compressed,
    /// The flag byte was neither 0 nor 1.
    #[error("invalid message flag {0:#04x} (expected 0 or 1)")]
    InvalidFlag(u8),
    /// The stream ended with part of a message still buffered.
    #[error("stream ended inside a message: {buffered} of {expected} bytes")]
    Truncated {
        /// Bytes left in the buffer.
        buffered: usize,
        /// Bytes the message needed: 5 if even the prefix was incomplete, else 5 + its length.
        expected: usize,
    },
}

impl From<CodecError> for Status {
    fn from(error: CodecError) -> Status {
        match error {
            CodecError::TooLarge { .. } => Status::resource_exhausted(error.to_string()),
            CodecError::Compressed | CodecError::InvalidFlag(_) | CodecError::Truncated { .. } => {
                Status::internal(error.to_string())
            }
        }
    }
}

/// Splits a byte stream into gRPC message bodies, enforcing a size limit.
#[derive(Debug, Clone)]
pub struct Decoder {
    max_message_size: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Decoder {
    /// Creates a decoder refusing messages longer than `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> Self {
        Decoder { max_message_size }
    }

    /// The largest message body this decoder accepts, in bytes.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Takes the next whole message body off the front of `src`.
    ///
    /// Returns `Ok(None)` while fewer bytes than a whole message are buffered; append more and
    /// call again. The prefix is checked as soon as its 5 bytes are present, so an oversized or
    /// compressed message is refused before its body is waited for. The body is split off
    /// `src` without copying.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        let Some(len) = self.check_header(src)? else {
            return Ok(None);
        };
        if src.len() < HEADER_LEN.saturating_add(len) {
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        Ok(Some(src.split_to(len).freeze()))
    }

    /// [`Decoder::decode`] for bytes that arrived as one `Bytes` chunk: a whole message at the
    /// front is sliced out of `src` without copying it into a buffer first. `Ok(None)` leaves
    /// `src` as it was; the caller keeps the partial message and appends what follows.
    pub fn decode_bytes(&mut self, src: &mut Bytes) -> Result<Option<Bytes>, CodecError> {
        let Some(len) = self.check_header(src)? else {
            return Ok(None);
        };
        if src.len() < HEADER_LEN.saturating_add(len) {
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        Ok(Some(src.split_to(len)))
    }

    /// The length (prefix included) of the message at the front of `src`, once its prefix is
    /// complete; lets a caller reserve buffer space once instead of growing it chunk by chunk.
    /// Not a check: call it after [`Decoder::decode`] accepted the prefix.
    pub fn framed_len(&self, src: &[u8]) -> Option<usize> {
        header_fields(src).map(|(_, len)| HEADER_LEN.saturating_add(len))
    }

    /// Checks, at the end of the stream, that no partial message is left in `src`.
    ///
    /// Call it once [`Decoder::decode`] has returned `Ok(None)`: any byte still buffered then
    /// belongs to a message the peer never finished.
    pub fn finish(&self, src: &BytesMut) -> Result<(), CodecError> {
        if src.is_empty() {
            return Ok(());
        }
        let expected = match header_fields(src) {
            Some((_, len)) => HEADER_LEN.saturating_add(len),
            None => HEADER_LEN,
        };
        Err(CodecError::Truncated {
            buffered: src.len(),
            expected,
        })
    }

    /// Validates the prefix at the front of `src`; `Ok(None)` if it is not complete yet,
    /// otherwise the announced body length.
    fn check_header(&self, src: &[u8]) -> Result<Option<usize>, CodecError> {
        let Some((flag, len)) = header_fields(src) else {
            return Ok(None);
        };
        match flag {
            FLAG_UNCOMPRESSED => {}
            FLAG_COMPRESSED => return Err(CodecError::Compressed),
            other => return Err(CodecError::InvalidFlag(other)),
        }
        if len > self.max_message_size {
            return Err(CodecError::TooLarge {
                len,
                limit: self.max_message_size,
            });
        }
        Ok(Some(len))
    }
}

/// Reads the flag and length of the prefix at the front of `src`, if all 5 bytes are there.
fn header_fields(src: &[u8]) -> Option<(u8, usize)> {
    let header: &[u8; HEADER_LEN] = src.get(..HEADER_LEN)?.try_into().ok()?;
    let [flag, b0, b1, b2, b3] = *header;
    // A u32 always fits in usize on the 32- and 64-bit targets QUIC runs on; saturate otherwise
    // so the size check still refuses it.
    let len = usize::try_from(u32::from_be_bytes([b0, b1, b2, b3])).unwrap_or(usize::MAX);
    Some((flag, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest useful message: field 1 (varint) and field 2 (string).
    #[derive(Clone, PartialEq, prost::Message)]
    struct Ping {
        #[prost(uint32, tag = "1")]
        id: u32,
        #[prost(string, tag = "2")]
        text: String,
    }

    fn decoder() -> Decoder {
        Decoder::new(DEFAULT_MAX_MESSAGE_SIZE)
    }

    #[test]
    fn encode_matches_literal() {
        let ping = Ping {
            id: 150,
            text: "hi".into(),
        };
        let expected: &[u8] = b"\x00\x00\x00\x00\x07\x08\x96\x01\x12\x02hi";
        assert_eq!(&encode_to_bytes(&ping)[..], expected);

        let mut dst = BytesMut::from(&b"prefix"[..]);
        encode(&ping, &mut dst);
        assert_eq!(&dst[..6], b"prefix");
        assert_eq!(&dst[6..], expected);

        let body = decoder()
            .decode(&mut BytesMut::from(expected))
            .unwrap()
            .unwrap();
        assert_eq!(decode_message::<Ping>(body).unwrap(), ping);
    }

    #[test]
    fn one_message_exactly() {
        let mut src = BytesMut::from(&b"\x00\x00\x00\x00\x03abc"[..]);
        let mut decoder = decoder();
        assert_eq!(
            decoder.decode(&mut src).unwrap().as_deref(),
            Some(&b"abc"[..])
        );
        assert!(src.is_empty());
        assert_eq!(decoder.decode(&mut src).unwrap(), None);
        assert_eq!(decoder.finish(&src), Ok(()));
    }

    #[test]
    fn two_messages_in_one_buffer() {
        let mut src = BytesMut::from(&b"\x00\x00\x00\x00\x02ab\x00\x00\x00\x00\x01c"[..]);
        let mut decoder = decoder();
        assert_eq!(
            decoder.decode(&mut src).unwrap().as_deref(),
            Some(&b"ab"[..])
        );
        assert_eq!(
            decoder.decode(&mut src).unwrap().as_deref(),
            Some(&b"c"[..])
        );
        assert_eq!(decoder.decode(&mut src).unwrap(), None);
        assert_eq!(decoder.finish(&src), Ok(()));
    }

    #[test]
    fn message_split_across_three_chunks() {
        let chunks: [&[u8]; 3] = [b"\x00\x00", b"\x00\x00\x04he", b"llo\x00"];
        let mut decoder = decoder();
        let mut src = BytesMut::new();

        src.extend_from_slice(chunks[0]);
        assert_eq!(decoder.decode(&mut src).unwrap(), None);
        src.extend_from_slice(chunks[1]);
        assert_eq!(decoder.decode(&mut src).unwrap(), None);
        src.extend_from_slice(chunks[2]);
        assert_eq!(
            decoder.decode(&mut src).unwrap().as_deref(),
            Some(&b"hell"[..])
        );
        // "o\x00" is the start of the next message; its prefix is still incomplete.
        assert_eq!(decoder.decode(&mut src).unwrap(), None);
        assert_eq!(&src[..], b"o\x00");
    }

    #[test]
    fn empty_message() {
        let mut src = BytesMut::from(&b"\x00\x00\x00\x00\x00"[..]);
        let body = decoder().decode(&mut src).unwrap().unwrap();
        assert!(body.is_empty());
        assert!(src.is_empty());
        assert_eq!(decode_message::<Ping>(body).unwrap(), Ping::default());
        assert_eq!(
            &encode_to_bytes(&Ping::default())[..],
            b"\x00\x00\x00\x00\x00"
        );
    }

    #[test]
    fn oversized_header_alone_is_refused_immediately() {
        // 5_000_000 = 0x004C4B40, announced with no body bytes at all.
        let mut src = BytesMut::from(&b"\x00\x00\x4c\x4b\x40"[..]);
        let error = decoder().decode(&mut src).unwrap_err();
        assert_eq!(
            error,
            CodecError::TooLarge {
                len: 5_000_000,
                limit: 4_194_304
            }
        );
        let status = Status::from(error);
        assert_eq!(status.code(), crate::status::Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "message of 5000000 bytes exceeds the limit of 4194304 bytes"
        );
    }

    #[test]
    fn limit_is_inclusive() {
        let mut decoder = Decoder::new(3);
        let mut src = BytesMut::from(&b"\x00\x00\x00\x00\x03abc\x00\x00\x00\x00\x04"[..]);
        assert_eq!(
            decoder.decode(&mut src).unwrap().as_deref(),
            Some(&b"abc"[..])
        );
        assert_eq!(
            decoder.decode(&mut src),
            Err(CodecError::TooLarge { len: 4, limit: 3 })
        );
    }

    #[test]
    fn compressed_flag_is_refused() {
        let mut src = BytesMut::from(&b"\x01\x00\x00\x00\x01x"[..]);
        let error = decoder().decode(&mut src).unwrap_err();
        assert_eq!(error, CodecError::Compressed);
        assert_eq!(Status::from(error).code(), crate::status::Code::Internal);
    }

    #[test]
    fn invalid_flag_is_refused() {
        let mut src = BytesMut::from(&b"\x80\x00\x00\x00\x00"[..]);
        let error = decoder().decode(&mut src).unwrap_err();
        assert_eq!(error, CodecError::InvalidFlag(0x80));
        assert_eq!(
            error.to_string(),
            "invalid message flag 0x80 (expected 0 or 1)"
        );
        assert_eq!(Status::from(error).code(), crate::status::Code::Internal);
    }

    #[test]
    fn truncated_at_end() {
        let mut decoder = decoder();

        let mut partial_body = BytesMut::from(&b"\x00\x00\x00\x00\x0aabc"[..]);
        assert_eq!(decoder.decode(&mut partial_body).unwrap(), None);
        let error = decoder.finish(&partial_body).unwrap_err();
        assert_eq!(
            error,
            CodecError::Truncated {
                buffered: 8,
                expected: 15
            }
        );
        assert_eq!(
            error.to_string(),
            "stream ended inside a message: 8 of 15 bytes"
        );
        assert_eq!(Status::from(error).code(), crate::status::Code::Internal);

        let partial_header = BytesMut::from(&b"\x00\x00"[..]);
        assert_eq!(
            decoder.finish(&partial_header),
            Err(CodecError::Truncated {
                buffered: 2,
                expected: 5
            })
        );
    }

    #[test]
    fn malformed_body_names_the_type() {
        // Field 2 announces 5 bytes of string but only 1 follows.
        let status = decode_message::<Ping>(Bytes::from_static(b"\x12\x05h")).unwrap_err();
        assert_eq!(status.code(), crate::status::Code::Internal);
        assert!(
            status.message().starts_with("failed to decode ")
                && status.message().contains("Ping message: "),
            "{}",
            status.message()
        );
    }

    #[test]
    fn decode_bytes_slices_whole_messages_and_leaves_a_partial_one() {
        let mut src = Bytes::from_static(&[0, 0, 0, 0, 2, 7, 8, 0, 0, 0, 0, 3, 1]);
        let mut decoder = Decoder::new(16);
        assert_eq!(
            decoder.decode_bytes(&mut src).unwrap(),
            Some(Bytes::from_static(&[7, 8]))
        );
        assert_eq!(decoder.decode_bytes(&mut src).unwrap(), None);
        assert_eq!(&src[..], &[0, 0, 0, 0, 3, 1]);
        assert_eq!(decoder.framed_len(&src), Some(8));
        assert_eq!(decoder.framed_len(&[0, 0, 0]), None);
    }

    #[test]
    fn decode_bytes_refuses_what_decode_refuses() {
        let mut decoder = Decoder::new(4);
        let mut too_large = Bytes::from_static(&[0, 0, 0, 0, 5]);
        assert!(matches!(
            decoder.decode_bytes(&mut too_large),
            Err(CodecError::TooLarge { len: 5, limit: 4 })
        ));
        let mut compressed = Bytes::from_static(&[1, 0, 0, 0, 1, 9]);
        assert!(matches!(
            decoder.decode_bytes(&mut compressed),
            Err(CodecError::Compressed)
        ));
    }
}
