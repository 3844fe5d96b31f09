//! Generates the echo service's Rust stubs and its `.proto` into `OUT_DIR` with the rpcnet-gen
//! library API: the usage example for a crate that generates its stubs at build time.

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
        proto_out: out_dir,
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
}
