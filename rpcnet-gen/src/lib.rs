//! rpcnet-gen: Rust service definitions to typed rpcnet stubs.
