//! The message reader of one call's receive side: DATA chunks in, whole message bodies out,
//! with the size limit checked from the prefix before anything is allocated and the
//! end-of-stream rules of each side.
//!
//! The driver (`crate::streaming::Streaming`) asks [`MessageReader::poll_read`] what to do
//! next and hands in what the transport delivered through the `handle_*` methods; the reader
//! never waits and never touches a socket.

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use super::head::status_from_trailers;
use super::outcome::TransportError;
use super::Side;
use crate::codec::Decoder;
use crate::{Code, Metadata, Status};

/// The most buffer space reserved ahead for the unreceived rest of a message. The prefix
/// announces the length before the peer sent (or flow control let it send) the bytes, so
/// reserving all of it at once would let 5 bytes cost up to `max_message_size` of memory.
const RESERVE_AHEAD: usize = 64 * 1024;

/// What the reader has for its driver.
#[derive(Debug, PartialEq)]
pub(crate) enum Read {
    /// A whole message body, not yet decoded.
    Message(Bytes),
    /// Nothing buffered makes a message: poll the transport for DATA and hand the result in
    /// with [`MessageReader::handle_data`], [`MessageReader::handle_data_end`] or
    /// [`MessageReader::handle_error`].
    NeedData,
    /// The DATA is over (client side): poll for the trailers and hand them in with
    /// [`MessageReader::handle_trailers`] or [`MessageReader::handle_error`].
    NeedTrailers,
    /// The stream ended cleanly: no more messages. Answered from then on.
    Ended,
    /// The stream failed: answered once, then [`Read::Ended`].
    Failed(Failure),
}

/// A receive side that failed.
#[derive(Debug, PartialEq)]
pub(crate) struct Failure {
    /// What the reader of the stream is told.
    pub status: Status,
    /// Whether the driver should ask the peer to stop sending: true when this side gave up
    /// on a stream the peer may still be writing (bad framing, a passed deadline), false when
    /// the peer or the transport ended it.
    pub stop_peer: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Trailers,
    Done,
}

/// Decodes one call's incoming messages. See the module documentation.
#[derive(Debug)]
pub(crate) struct MessageReader {
    side: Side,
    /// The last chunk received, decoded in place while it holds whole messages (no copy).
    /// Never non-empty together with `buf`: a partial message moves to `buf`.
    chunk: Bytes,
    /// A message that arrived in pieces, gathered until it is whole.
    buf: BytesMut,
    decoder: Decoder,
    state: State,
    /// A failure to report at the next poll.
    failure: Option<Failure>,
    /// The trailing metadata of a call that ended with OK (client side).
    trailers: Option<Metadata>,
}

impl MessageReader {
    /// A reader for `side` that refuses messages longer than `max_message_size` bytes.
    pub(crate) fn new(side: Side, max_message_size: usize) -> Self {
        MessageReader {
            side,
            chunk: Bytes::new(),
            buf: BytesMut::new(),
            decoder: Decoder::new(max_message_size),
            state: State::Data,
            failure: None,
            trailers: None,
        }
    }

    /// A reader of a stream that is already over (a Trailers-Only response, a request stream
    /// taken over by a handler): it yields no message. `trailers` is the trailing metadata of
    /// an OK status, when there was one.
    pub(crate) fn ended(trailers: Option<Metadata>) -> Self {
        let mut reader = MessageReader::new(Side::Server, 0);
        reader.state = State::Done;
        reader.trailers = trailers;
        reader
    }

    /// The trailing metadata, once the stream ended with OK (client side).
    pub(crate) fn trailers(&self) -> Option<&Metadata> {
        self.trailers.as_ref()
    }

    /// Bytes held for messages not yet complete.
    pub(crate) fn buffered(&self) -> usize {
        self.chunk.len() + self.buf.len()
    }

    /// The next thing the driver should do or deliver.
    pub(crate) fn poll_read(&mut self) -> Read {
        if let Some(failure) = self.failure.take() {
            return Read::Failed(failure);
        }
        match self.state {
            State::Done => Read::Ended,
            State::Trailers => Read::NeedTrailers,
            State::Data => {
                if !self.chunk.is_empty() {
                    match self.decoder.decode_bytes(&mut self.chunk) {
                        Ok(Some(body)) => return Read::Message(body),
                        Ok(None) => {
                            let partial = std::mem::take(&mut self.chunk);
                            self.gather(&partial);
                        }
                        Err(err) => return Read::Failed(self.fail(err.into(), true)),
                    }
                }
                match self.decoder.decode(&mut self.buf) {
                    Ok(Some(body)) => Read::Message(body),
                    Ok(None) => Read::NeedData,
                    Err(err) => Read::Failed(self.fail(err.into(), true)),
                }
            }
        }
    }

    /// A chunk of DATA payload arrived.
    pub(crate) fn handle_data(&mut self, bytes: Bytes) {
        if self.state != State::Data {
            return;
        }
        if self.buf.is_empty() && self.chunk.is_empty() {
            self.chunk = bytes;
        } else {
            let chunk = std::mem::take(&mut self.chunk);
            self.gather(&chunk);
            self.gather(&bytes);
        }
    }

    /// The peer's DATA is over (its FIN, or its trailers arrived). A partial message left is
    /// a truncated stream. The server's request stream is then over; the client waits for
    /// the trailers.
    pub(crate) fn handle_data_end(&mut self) {
        if self.state != State::Data {
            return;
        }
        // Whole messages still buffered are delivered first; `finish` looks at what is left
        // only once `poll_read` said it needs data, so `chunk` is empty here.
        let partial = std::mem::take(&mut self.chunk);
        if !partial.is_empty() {
            self.gather(&partial);
        }
        if let Err(err) = self.decoder.finish(&self.buf) {
            self.failure = Some(self.fail(err.into(), true));
            return;
        }
        self.state = match self.side {
            Side::Server => State::Done,
            Side::Client => State::Trailers,
        };
    }

    /// The trailers arrived (client side); `None` when the stream ended without any.
    pub(crate) fn handle_trailers(&mut self, trailers: Option<&HeaderMap>) {
        if self.state == State::Done {
            return;
        }
        let status = status_from_trailers(trailers);
        if status.code() == Code::Ok {
            self.state = State::Done;
            self.trailers = Some(status.metadata().clone());
        } else {
            self.failure = Some(self.fail(status, false));
        }
    }

    /// The transport failed the stream (a reset, a lost connection...).
    pub(crate) fn handle_error(&mut self, error: &TransportError) {
        if self.state != State::Done {
            self.failure = Some(self.fail(error.status(self.side), false));
        }
    }

    /// The call's deadline passed while the stream was still open.
    pub(crate) fn handle_deadline(&mut self) {
        if self.state != State::Done {
            let status = Status::deadline_exceeded("deadline exceeded while waiting for a message");
            self.failure = Some(self.fail(status, true));
        }
    }

    /// This side gives up the stream (its reader was dropped, or could not decode a
    /// message). Returns whether the stream was still open, so the driver should ask the
    /// peer to stop sending.
    pub(crate) fn abandon(&mut self) -> bool {
        let open = self.state != State::Done;
        self.state = State::Done;
        self.failure = None;
        self.chunk = Bytes::new();
        self.buf = BytesMut::new();
        open
    }

    /// Ends the stream on a failure, dropping whatever was buffered.
    fn fail(&mut self, status: Status, stop_peer: bool) -> Failure {
        self.state = State::Done;
        self.chunk = Bytes::new();
        self.buf = BytesMut::new();
        Failure { status, stop_peer }
    }

    /// Appends received bytes to the partial message in `buf`, reserving room for the rest
    /// of it once its prefix is known (up to `RESERVE_AHEAD`), so that a large message is not
    /// copied again each time the buffer grows.
    fn gather(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if let Some(total) = self.decoder.framed_len(&self.buf) {
            let missing = total.saturating_sub(self.buf.len());
            self.buf.reserve(missing.min(RESERVE_AHEAD));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call_core::outcome::{Reset, TransportError};
    use http::HeaderValue;

    /// One event the transport delivers to a reader.
    #[derive(Clone, Debug)]
    enum Input {
        Data(&'static [u8]),
        DataEnd,
        Trailers(&'static [(&'static str, &'static str)]),
        NoTrailers,
        Error(TransportError),
        Deadline,
    }

    /// What the reader gives out, in a form the tables can spell.
    #[derive(Debug, PartialEq)]
    enum Output {
        Message(Vec<u8>),
        Failed(Code, &'static str, bool),
        Ended,
    }

    /// Feeds `inputs` to a reader of `side` (limit 16 bytes), draining it after each, and
    /// compares everything it gave out with `expected`.
    fn check(side: Side, inputs: &[Input], expected: &[Output]) {
        let mut reader = MessageReader::new(side, 16);
        let mut got = Vec::new();
        for input in inputs {
            drain(&mut reader, &mut got);
            match input {
                Input::Data(bytes) => reader.handle_data(Bytes::from_static(bytes)),
                Input::DataEnd => reader.handle_data_end(),
                Input::Trailers(pairs) => reader.handle_trailers(Some(&headers(pairs))),
                Input::NoTrailers => reader.handle_trailers(None),
                Input::Error(error) => reader.handle_error(error),
                Input::Deadline => reader.handle_deadline(),
            }
        }
        drain(&mut reader, &mut got);
        let matches = got.len() == expected.len() && got.iter().zip(expected).all(|(g, w)| g == w);
        assert!(
            matches,
            "{side:?} {inputs:?}:\n got {got:?}\nwant {expected:?}"
        );
    }

    /// Takes out everything the reader has until it needs input or is over.
    fn drain(reader: &mut MessageReader, out: &mut Vec<(Output, String)>) {
        loop {
            match reader.poll_read() {
                Read::Message(body) => out.push((Output::Message(body.to_vec()), String::new())),
                Read::NeedData | Read::NeedTrailers => return,
                Read::Ended => {
                    if !matches!(
                        out.last(),
                        Some((Output::Ended, _)) | Some((Output::Failed(..), _))
                    ) {
                        out.push((Output::Ended, String::new()));
                    }
                    return;
                }
                Read::Failed(failure) => out.push((
                    Output::Failed(failure.status.code(), "", failure.stop_peer),
                    failure.status.message().to_string(),
                )),
            }
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    // `check` compares (Output, message) pairs; these wrappers keep the tables readable.
    impl PartialEq<Output> for (Output, String) {
        fn eq(&self, other: &Output) -> bool {
            match (&self.0, other) {
                (
                    Output::Failed(code, _, stop),
                    Output::Failed(want_code, want_text, want_stop),
                ) => code == want_code && self.1.contains(want_text) && stop == want_stop,
                (got, want) => got == want,
            }
        }
    }

    fn msg(body: &[u8]) -> Output {
        Output::Message(body.to_vec())
    }

    use Input::*;
    use Output::{Ended, Failed};

    const OK: &[(&str, &str)] = &[("grpc-status", "0")];

    #[test]
    fn end_of_stream_rules() {
        // The server's request stream ends at the client's FIN after whole messages.
        check(
            Side::Server,
            &[Data(b"\0\0\0\0\x02hi"), DataEnd],
            &[msg(b"hi"), Ended],
        );
        check(Side::Server, &[DataEnd], &[Ended]);
        check(
            Side::Server,
            &[Data(b"\0\0\0\0\0"), DataEnd],
            &[msg(b""), Ended],
        );
        // The client's response stream needs trailers with grpc-status.
        check(
            Side::Client,
            &[Data(b"\0\0\0\0\x02hi"), DataEnd, Trailers(OK)],
            &[msg(b"hi"), Ended],
        );
        check(
            Side::Client,
            &[Data(b"\0\0\0\0\x02hi"), DataEnd, NoTrailers],
            &[
                msg(b"hi"),
                Failed(Code::Internal, "without trailers", false),
            ],
        );
        check(
            Side::Client,
            &[DataEnd, Trailers(&[("x-a", "b")])],
            &[Failed(Code::Internal, "without grpc-status", false)],
        );
        check(
            Side::Client,
            &[
                Data(b"\0\0\0\0\x01a"),
                DataEnd,
                Trailers(&[("grpc-status", "5"), ("grpc-message", "gone")]),
            ],
            &[msg(b"a"), Failed(Code::NotFound, "gone", false)],
        );
        // Truncation: the stream ended inside a prefix or a body.
        check(
            Side::Server,
            &[Data(b"\0\0\0"), DataEnd],
            &[Failed(Code::Internal, "3 of 5 bytes", true)],
        );
        check(
            Side::Client,
            &[Data(b"\0\0\0\0\x04ab"), DataEnd, Trailers(OK)],
            &[Failed(Code::Internal, "7 of 9 bytes", true)],
        );
        // Bad prefixes are refused as soon as the prefix is complete.
        check(
            Side::Server,
            &[Data(b"\0\0\0\0\x11")],
            &[Failed(
                Code::ResourceExhausted,
                "17 bytes exceeds the limit of 16",
                true,
            )],
        );
        check(
            Side::Server,
            &[Data(b"\x01\0\0\0\x01x")],
            &[Failed(Code::Internal, "compressed", true)],
        );
        check(
            Side::Server,
            &[Data(b"\x07\0\0\0\x01x")],
            &[Failed(Code::Internal, "0x07", true)],
        );
        // Messages before a bad one are delivered; nothing after it.
        check(
            Side::Server,
            &[
                Data(b"\0\0\0\0\x01a\x09\0\0\0\x01b"),
                Data(b"\0\0\0\0\x01c"),
            ],
            &[msg(b"a"), Failed(Code::Internal, "0x09", true)],
        );
        // Transport failures and the deadline.
        let cancelled = TransportError::Reset(Reset::cancelled("RST_STREAM CANCEL"));
        check(
            Side::Server,
            &[Data(b"\0\0\0\0\x01a"), Error(cancelled.clone())],
            &[
                msg(b"a"),
                Failed(Code::Cancelled, "RST_STREAM CANCEL", false),
            ],
        );
        let lost = TransportError::ConnectionLost("idle timeout".into());
        check(
            Side::Client,
            &[Error(lost.clone())],
            &[Failed(Code::Unavailable, "idle timeout", false)],
        );
        check(
            Side::Server,
            &[Error(lost)],
            &[Failed(Code::Cancelled, "idle timeout", false)],
        );
        check(
            Side::Client,
            &[Data(b"\0\0\0"), Deadline, Data(b"\0\x01a")],
            &[Failed(Code::DeadlineExceeded, "deadline", true)],
        );
        // Nothing counts after the end.
        check(
            Side::Server,
            &[DataEnd, Deadline, Error(cancelled), Data(b"\0\0\0\0\0")],
            &[Ended],
        );
        check(Side::Client, &[DataEnd, Trailers(OK), NoTrailers], &[Ended]);
    }

    /// Three messages (empty, 1 byte, 16 bytes: the limit) split into two chunks at every
    /// byte boundary, then into three at every pair of boundaries: the same messages come out.
    #[test]
    fn messages_split_at_every_byte_boundary() {
        let mut wire = Vec::new();
        let bodies: [&[u8]; 3] = [b"", b"x", b"0123456789abcdef"];
        for body in bodies {
            wire.push(0);
            wire.extend_from_slice(&(body.len() as u32).to_be_bytes());
            wire.extend_from_slice(body);
        }
        let expected: Vec<Output> = bodies.iter().map(|b| msg(b)).chain([Ended]).collect();
        let run = |cuts: &[usize]| {
            let mut reader = MessageReader::new(Side::Server, 16);
            let mut got = Vec::new();
            let mut start = 0;
            for &end in cuts.iter().chain([&wire.len()]) {
                drain(&mut reader, &mut got);
                reader.handle_data(Bytes::copy_from_slice(&wire[start..end]));
                start = end;
            }
            drain(&mut reader, &mut got);
            reader.handle_data_end();
            drain(&mut reader, &mut got);
            assert!(
                got.len() == expected.len() && got.iter().zip(&expected).all(|(g, w)| g == w),
                "cuts {cuts:?}: {got:?}"
            );
        };
        for a in 0..=wire.len() {
            run(&[a]);
            for b in a..=wire.len() {
                run(&[a, b]);
            }
        }
    }

    #[test]
    fn a_large_message_reserves_only_ahead() {
        let mut reader = MessageReader::new(Side::Server, 1 << 30);
        // A prefix announcing 1 GiB costs at most RESERVE_AHEAD of buffer.
        reader.handle_data(Bytes::from_static(b"\0\x40\0\0\0"));
        assert_eq!(reader.poll_read(), Read::NeedData);
        assert!(
            reader.buf.capacity() <= RESERVE_AHEAD + 64,
            "{}",
            reader.buf.capacity()
        );
        assert_eq!(reader.buffered(), 5);
    }

    #[test]
    fn abandon_reports_whether_the_stream_was_open() {
        let mut reader = MessageReader::new(Side::Client, 16);
        assert!(reader.abandon());
        assert!(!reader.abandon());
        assert_eq!(reader.poll_read(), Read::Ended);
        let mut over = MessageReader::ended(None);
        assert!(!over.abandon());
    }
}
