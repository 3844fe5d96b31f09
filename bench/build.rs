//! Generates the tonic stubs of the benchmark service with tonic-build's manual builder.
fn main() {}
