//! `include_stubs!`: includes the stubs a `build.rs` generated with rpcnet-gen into `OUT_DIR`.

/// Includes `<OUT_DIR>/<stem>.rs`, the stubs that rpcnet-gen wrote from a `build.rs` in its
/// single-file layout, like tonic's `include_proto!`.
///
/// It expands to `include!(concat!(env!("OUT_DIR"), "/", stem, ".rs"));`, so it must be used
/// where items may go, in the crate whose `build.rs` generated the file: put it inside a module
/// you declare (and document), which then holds the messages and one module per service.
/// `stem` is the definition's file name without `.rpc.rs` (`echo.rpc.rs` -> `"echo"`).
///
/// `Cargo.toml`:
///
/// ```toml
/// [dependencies]
/// rpcnet = { path = "../rpcnet" }
///
/// [build-dependencies]
/// rpcnet-gen = { path = "../rpcnet-gen" }
/// ```
///
/// `build.rs`:
///
/// ```ignore
/// fn main() {
///     let input = "proto/echo.rpc.rs";
///     println!("cargo:rerun-if-changed={input}");
///     let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
///     let config = rpcnet_gen::Config {
///         out_dir: out_dir.clone(),  // `<OUT_DIR>/echo.rs`
///         proto_out: out_dir,        // `<OUT_DIR>/echo.proto`
///         layout: rpcnet_gen::Layout::SingleFile,
///         ..rpcnet_gen::Config::new(input)
///     };
///     let result = rpcnet_gen::generate(&config).and_then(|g| rpcnet_gen::write(&g));
///     if let Err(error) = result {
///         // Definition errors render as `path:line:col: error: ...` with the source line.
///         panic!("rpcnet-gen failed on {input}:\n{error}");
///     }
/// }
/// ```
///
/// `src/lib.rs`:
///
/// ```ignore
/// /// The `echo` messages, and the `Echo` service in `echo::echo`.
/// #[allow(clippy::module_inception)] // the service module is named like the file
/// pub mod echo {
///     rpcnet::include_stubs!("echo");
/// }
///
/// use echo::echo::{Echo, EchoClient, EchoServer};
/// ```
#[macro_export]
macro_rules! include_stubs {
    ($stem:literal) => {
        ::core::include!(::core::concat!(::core::env!("OUT_DIR"), "/", $stem, ".rs"));
    };
}
