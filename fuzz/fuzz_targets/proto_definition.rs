//! Fuzz target: the `.proto` front end of rpcnet-gen on any text.
#![no_main]

libfuzzer_sys::fuzz_target!(|source: &str| {
    rpcnet_gen::fuzzing::definition(source, true);
});
