//! rpcnet: gRPC semantics (paths, length-prefixed prost messages, status in trailers, deadlines,
//! metadata, cancellation) over HTTP/3 (quinn + h3) and HTTP/2 (hyper), TLS 1.3 by rustls.
//!
//! See `docs/runtime-api.md` for the public surface and `ARCHITECTURE.md` for the invariants.

mod alert;
mod call;
mod call_core;
mod client;
pub mod codec;
pub mod codegen;
mod context;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod macros;
pub mod metadata;
mod quic;
mod server;
mod socket;
pub mod status;
mod streaming;
pub mod timeout;
pub mod tls;
mod transport;

pub use alert::TlsAlert;
pub use call::{IntoStreamingRequest, Request, Response};
pub use client::{Client, ClientConfig, ClientTransport};
pub use context::{ConnectionId, PeerIdentity, RequestContext};
pub use error::Error;
pub use metadata::{Metadata, MetadataError};
pub use server::{Server, ServerBuilder, ServerCall, ServerConfig, Service, ShutdownHandle};
pub use status::{Code, Status};
pub use streaming::{channel, ResponseStream, StreamReceiver, StreamSender, Streaming};
pub use transport::Transport;
