//! Generates the echo service's Rust stubs and its `.proto`, and the `grpc.testing` stubs from
//! `.proto`, into `OUT_DIR` with the rpcnet-gen library API: the usage example for a crate that
//! generates its stubs at build time.

use std::path::PathBuf;

fn main() {
    // Cargo runs build scripts in the package's directory.
    let input = "echo.rpc.rs";
    println!("cargo:rerun-if-changed={input}");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let config = rpcnet_gen::Config {
        // `<OUT_DIR>/echo.rs`: the messages and the service module `echo`, in one file that
        // `src/lib.rs` includes with `rpcnet::include_stubs!("echo")`.
        out_dir: out_dir.clone(),
        // `<OUT_DIR>/echo.proto`, for clients in other languages.
        proto_out: out_dir.clone(),
        layout: rpcnet_gen::Layout::SingleFile,
        ..rpcnet_gen::Config::new(input)
    };
    let generated = match rpcnet_gen::generate(&config) {
        Ok(generated) => generated,
        // Diagnostics render as `path:line:col: error: ...` with the source line and a caret.
        Err(error) => panic!("rpcnet-gen rejected {input}:\n{error}"),
    };
    if let Err(error) = rpcnet_gen::write(&generated) {
        panic!("rpcnet-gen could not write its output: {error}");
    }
    generate_grpc_testing(&out_dir);
}

/// `<OUT_DIR>/test.rs`: the official interop service, generated from our `.proto` files
/// (rpcnet-gen's `.proto` front end: protox, no protoc), included by `src/interop/mod.rs`.
fn generate_grpc_testing(out_dir: &std::path::Path) {
    let proto_dir = "interop/proto";
    for file in ["test.proto", "messages.proto", "empty.proto"] {
        println!("cargo:rerun-if-changed={proto_dir}/{file}");
    }
    let input = format!("{proto_dir}/test.proto");
    let config = rpcnet_gen::Config {
        out_dir: out_dir.to_path_buf(),
        includes: vec![PathBuf::from(proto_dir)],
        layout: rpcnet_gen::Layout::SingleFile,
        ..rpcnet_gen::Config::new(&input)
    };
    let generated = rpcnet_gen::generate(&config)
        .unwrap_or_else(|error| panic!("rpcnet-gen rejected {input}:\n{error}"));
    if let Err(error) = rpcnet_gen::write(&generated) {
        panic!("rpcnet-gen could not write the grpc.testing stubs: {error}");
    }
}
