//! The official gRPC interop suite on rpcnet: `grpc.testing` stubs generated from our `.proto`
//! files, the `TestService` server and the client cases.
//!
//! `build.rs` generates [`grpc_testing`] from `interop/proto/test.proto` (which imports
//! `empty.proto` and `messages.proto`) with rpcnet-gen's `.proto` front end, so these tests also
//! prove that existing gRPC definitions run on rpcnet without a rewrite. [`server`] implements
//! the server side of grpc's `doc/interop-test-descriptions.md`; [`cases`] the 14 client cases,
//! each asserting what the document's "Client asserts" lists. The `interop_server` and
//! `interop_client` binaries wrap both for runs against other implementations.

pub mod cases;
pub mod server;

/// The stubs `build.rs` generated from `interop/proto/test.proto`: the `grpc.testing` messages
/// and the service modules `testservice` and `unimplementedservice`.
pub mod grpc_testing {
    rpcnet::include_stubs!("test");
}

/// Request metadata the server echoes back as initial metadata (response headers).
pub const ECHO_INITIAL_KEY: &str = "x-grpc-test-echo-initial";

/// The value `custom_metadata` sends under [`ECHO_INITIAL_KEY`].
pub const ECHO_INITIAL_VALUE: &str = "test_initial_metadata_value";

/// Binary request metadata the server echoes back as trailing metadata.
pub const ECHO_TRAILING_KEY: &str = "x-grpc-test-echo-trailing-bin";

/// The value `custom_metadata` sends under [`ECHO_TRAILING_KEY`].
pub const ECHO_TRAILING_VALUE: &[u8] = &[0xab, 0xab, 0xab];
