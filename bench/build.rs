//! Generates the tonic stubs of the benchmark service with tonic-build's manual builder, so the
//! tonic peer needs neither protoc nor a .proto file: the messages are hand-written prost types
//! in `src/proto.rs`, shared with the rpcnet and raw-quinn sides.

fn main() {
    let method = |name: &str, route: &str, input: &str, output: &str| {
        tonic_build::manual::Method::builder()
            .name(name)
            .route_name(route)
            .input_type(input)
            .output_type(output)
            .codec_path("tonic_prost::ProstCodec")
    };
    let service = tonic_build::manual::Service::builder()
        .name("Bench")
        .package("bench")
        .method(
            method(
                "echo",
                "Echo",
                "crate::proto::Payload",
                "crate::proto::Payload",
            )
            .build(),
        )
        .method(
            method(
                "stream",
                "Stream",
                "crate::proto::StreamRequest",
                "crate::proto::Payload",
            )
            .server_streaming()
            .build(),
        )
        .method(
            method(
                "hold",
                "Hold",
                "crate::proto::StreamRequest",
                "crate::proto::Payload",
            )
            .server_streaming()
            .build(),
        )
        .build();
    tonic_build::manual::Builder::new().compile(&[service]);
    println!("cargo:rerun-if-changed=build.rs");
}
