//! Fuzz target: a request head (method, path, header fields) and the metadata taken from it.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (Vec<u8>, String, Vec<(Vec<u8>, Vec<u8>)>)| {
    let (method, path, fields) = input;
    rpcnet::fuzzing::request_head(&method, &path, &fields);
});
