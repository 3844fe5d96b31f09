//! Fuzz target: received DATA as gRPC length-prefixed messages, cut anywhere, on either side.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (Vec<u8>, Vec<u16>, u8, bool)| {
    let (data, cuts, max, client) = input;
    let cuts: Vec<usize> = cuts.into_iter().map(usize::from).collect();
    rpcnet::fuzzing::message_stream(&data, &cuts, usize::from(max), client);
});
