//! The `rpcnet-bench` binary (work in progress).
fn main() {}
