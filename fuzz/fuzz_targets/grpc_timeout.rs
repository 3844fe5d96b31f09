//! Fuzz target: `grpc-timeout` values a peer sends, and the encoding of ours.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (&str, u64, u32)| {
    let (text, secs, nanos) = input;
    rpcnet::fuzzing::grpc_timeout(text);
    let nanos = nanos % 1_000_000_000;
    rpcnet::fuzzing::our_timeout(std::time::Duration::new(secs, nanos));
});
