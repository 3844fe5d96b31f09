//! Stubs generated from proto/connection_swap.rpc.rs.
