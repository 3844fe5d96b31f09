//! The rules of a gRPC call, whatever transport carries it: sans-IO, no tokio, quinn, h3 or hyper.
//!
//! The transports (`crate::transport`) move bytes and header blocks; the drivers
//! (`crate::server`, `crate::client`) move them between a transport and this module. Every
//! decision about what those bytes and headers mean is taken here, where it is tested on
//! literals:
//!
//! - [`head`]: request heads (method, path, content-type, `grpc-timeout`, `grpc-encoding`) to
//!   an accepted call or a rejection, and response heads to messages-follow, Trailers-Only or
//!   an error; the header blocks a side sends.
//! - [`reader`]: the message reader: 5-byte prefixes over arbitrarily split DATA, the size
//!   limit before allocation, and the end-of-stream rules of each side.
//! - [`outcome`]: what a call's status is once its deadline passed, and what a transport
//!   failure (a reset, a lost connection, a GOAWAY) means as a gRPC status.
//!
//! Inputs come in through `handle_*` methods and plain arguments, outputs go out through
//! `poll_*` methods and return values, and time is an argument (`std::time::Instant`), in the
//! shape of quinn-proto.

pub(crate) mod head;
pub(crate) mod outcome;
pub(crate) mod reader;

/// Which end of a call a rule is applied for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The server: reads requests, writes responses.
    Server,
    /// The client: writes requests, reads responses.
    Client,
}
