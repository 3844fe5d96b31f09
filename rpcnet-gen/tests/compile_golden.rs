//! Compiles the expected output of every valid golden case against the real rpcnet runtime.
//!
//! Each top-level module below is a golden case's `expected/<stem>/mod.rs`, and each module of
//! `single_file` the same case's `expected_single_file/<stem>.rs`, included with `include!` as
//! `rpcnet::include_stubs!` does; if generated code stops compiling (or stops matching the
//! runtime API, or stops being valid inside `include!`), this test binary fails to build. The
//! tests then touch a few items so the modules are used, and check the wire constants. The
//! `.proto` cases (`tests/golden/proto/<case>`) are compiled the same way, in `proto` and
//! `proto_single_file`.

#![allow(dead_code)]

#[path = "golden/doc_comments/expected/input/mod.rs"]
#[rustfmt::skip]
mod doc_comments;
#[path = "golden/enums_oneofs/expected/input/mod.rs"]
#[rustfmt::skip]
mod enums_oneofs;
#[path = "golden/field_types/expected/input/mod.rs"]
#[rustfmt::skip]
mod field_types;
#[path = "golden/keywords/expected/input/mod.rs"]
#[rustfmt::skip]
mod keywords;
#[path = "golden/multi_service/expected/input/mod.rs"]
#[rustfmt::skip]
mod multi_service;
#[path = "golden/nested_messages/expected/input/mod.rs"]
#[rustfmt::skip]
mod nested_messages;
#[path = "golden/pinned_tags/expected/input/mod.rs"]
#[rustfmt::skip]
mod pinned_tags;
#[path = "golden/streaming_kinds/expected/input/mod.rs"]
#[rustfmt::skip]
mod streaming_kinds;
#[path = "golden/unary/expected/input/mod.rs"]
#[rustfmt::skip]
mod unary;

/// The same cases in the single-file layout. `include!` rejects a file that opens with `//!`
/// docs or inner attributes (E0753), so these fail to build if the layout regresses.
#[rustfmt::skip]
mod single_file {
    pub mod doc_comments { include!("golden/doc_comments/expected_single_file/input.rs"); }
    pub mod enums_oneofs { include!("golden/enums_oneofs/expected_single_file/input.rs"); }
    pub mod field_types { include!("golden/field_types/expected_single_file/input.rs"); }
    pub mod keywords { include!("golden/keywords/expected_single_file/input.rs"); }
    pub mod multi_service { include!("golden/multi_service/expected_single_file/input.rs"); }
    pub mod nested_messages { include!("golden/nested_messages/expected_single_file/input.rs"); }
    pub mod pinned_tags { include!("golden/pinned_tags/expected_single_file/input.rs"); }
    pub mod streaming_kinds { include!("golden/streaming_kinds/expected_single_file/input.rs"); }
    pub mod unary { include!("golden/unary/expected_single_file/input.rs"); }
}

// The `.proto` cases, module layout: prost-build's messages beside our service modules.
#[path = "golden/proto/all_kinds/expected/input/mod.rs"]
#[rustfmt::skip]
mod proto_all_kinds;
#[path = "golden/proto/interop/expected/input/mod.rs"]
#[rustfmt::skip]
mod proto_interop;
#[path = "golden/proto/multi_file/expected/input/mod.rs"]
#[rustfmt::skip]
mod proto_multi_file;

/// The module-layout `.proto` cases under one name, as the tests below use them.
mod proto {
    pub(crate) use super::proto_all_kinds as all_kinds;
    pub(crate) use super::proto_interop as interop;
    pub(crate) use super::proto_multi_file as multi_file;
}

/// The `.proto` cases, single-file layout, included as `rpcnet::include_stubs!` does.
#[rustfmt::skip]
mod proto_single_file {
    pub mod all_kinds { include!("golden/proto/all_kinds/expected_single_file/input.rs"); }
    pub mod interop { include!("golden/proto/interop/expected_single_file/input.rs"); }
    pub mod multi_file { include!("golden/proto/multi_file/expected_single_file/input.rs"); }
}

use prost::Message as _;

/// Every valid case folder must be listed above, so none escapes compilation.
#[test]
fn every_valid_case_is_compiled() {
    let listed = [
        "doc_comments",
        "enums_oneofs",
        "field_types",
        "keywords",
        "multi_service",
        "nested_messages",
        "pinned_tags",
        "streaming_kinds",
        "unary",
    ];
    assert_eq!(case_folders("tests/golden", "input.rpc.rs"), listed);
    // The single-file modules above list the same cases.
    assert_eq!(inline_modules("mod single_file {"), listed);

    let listed_proto = ["all_kinds", "interop", "multi_file"];
    assert_eq!(
        case_folders("tests/golden/proto", "input.proto"),
        listed_proto
    );
    assert_eq!(inline_modules("mod proto_single_file {"), listed_proto);
}

/// The folders of `dir` holding a file named `input`, sorted.
fn case_folders(dir: &str, input: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().join(input).is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The `pub mod` names inside the inline module of this file that opens with `opening`.
fn inline_modules(opening: &str) -> Vec<&'static str> {
    include_str!("compile_golden.rs")
        .lines()
        .skip_while(|line| !line.starts_with(opening))
        .skip(1)
        .take_while(|line| !line.starts_with('}'))
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect()
}

#[test]
fn proto_services_name_the_wire_as_written() {
    use proto::interop::testservice;
    assert_eq!(testservice::SERVICE_NAME, "grpc.testing.TestService");
    assert_eq!(
        testservice::FULL_DUPLEX_CALL_PATH,
        "/grpc.testing.TestService/FullDuplexCall"
    );
    assert_eq!(
        proto_single_file::interop::unimplementedservice::UNIMPLEMENTED_CALL_PATH,
        "/grpc.testing.UnimplementedService/UnimplementedCall"
    );
    assert_eq!(
        proto::all_kinds::calculator::RUNNING_SUM_PATH,
        "/kinds.v1.Calculator/RunningSum"
    );
    assert_eq!(
        proto::all_kinds::calculator::MATCH_PATH,
        "/kinds.v1.Calculator/Match"
    );
    // The extra input's service shares the output with the input's two.
    assert_eq!(
        proto::multi_file::inventory::RESTOCK_PATH,
        "/shop.Inventory/Restock"
    );
    assert_eq!(
        proto::multi_file::healthcheck::CHECK_PATH,
        "/shop.HealthCheck/Check"
    );
}

#[test]
fn proto_messages_are_prost_builds() {
    use proto::all_kinds::{operand, total, Total};
    // Imported files' messages sit beside the input's, and both layouts give the same types.
    let request = proto::interop::SimpleRequest {
        response_size: 7,
        payload: Some(proto::interop::Payload {
            body: vec![1, 2],
            ..Default::default()
        }),
        ..Default::default()
    };
    let back =
        proto_single_file::interop::SimpleRequest::decode(request.encode_to_vec().as_slice())
            .expect("decodes");
    assert_eq!(back.response_size, 7);
    let total = Total {
        detail: Some(total::Detail::LastBatch(operand::Batch {
            values: vec![1.5],
            ..Default::default()
        })),
        ..Default::default()
    };
    assert_eq!(
        Total::decode(total.encode_to_vec().as_slice()).ok(),
        Some(total)
    );
    assert_eq!(
        proto::all_kinds::Mode::from_str_name("MODE_EXACT"),
        Some(proto::all_kinds::Mode::Exact)
    );
}

#[test]
fn both_layouts_give_the_same_api() {
    assert_eq!(
        single_file::unary::greeter::SAY_HELLO_PATH,
        unary::greeter::SAY_HELLO_PATH
    );
    assert_eq!(
        single_file::multi_service::healthcheck::CHECK_PATH,
        multi_service::healthcheck::CHECK_PATH
    );
    assert_eq!(
        single_file::keywords::r#type::MATCH_PATH,
        keywords::r#type::MATCH_PATH
    );
    assert_eq!(
        single_file::streaming_kinds::calculator::SERVICE_NAME,
        streaming_kinds::calculator::SERVICE_NAME
    );
    // The messages are the same wire types: bytes of one decode as the other.
    let node = nested_messages::Node {
        name: "n".into(),
        ..Default::default()
    };
    let back = single_file::nested_messages::Node::decode(node.encode_to_vec().as_slice())
        .expect("decodes");
    assert_eq!(back.name, "n");
    let mut event = single_file::enums_oneofs::Event::default();
    event.set_level(single_file::enums_oneofs::Level::Warning);
    assert_eq!(event.level, enums_oneofs::Level::Warning as i32);
}

#[test]
fn constants_name_the_wire() {
    assert_eq!(unary::greeter::SERVICE_NAME, "input.Greeter");
    assert_eq!(unary::greeter::SAY_HELLO_PATH, "/input.Greeter/SayHello");
    assert_eq!(
        streaming_kinds::calculator::RUNNING_SUM_PATH,
        "/kinds.Calculator/RunningSum"
    );
    assert_eq!(
        multi_service::healthcheck::CHECK_PATH,
        "/shop.HealthCheck/Check"
    );
    assert_eq!(keywords::r#type::MATCH_PATH, "/acme.keywords.v1.Type/Match");
    assert_eq!(doc_comments::oracle::ASK_MANY_PATH, "/docs.Oracle/AskMany");
}

#[test]
fn user_types_are_kept() {
    // Written types survive: a required message field is the message itself, an optional one an
    // Option, a boxed one an Option<Box<_>>, maps are HashMaps.
    let node = nested_messages::Node {
        name: "root".into(),
        bounds: nested_messages::Rect {
            top_left: nested_messages::Point { x: 1.0, y: 2.0 },
            bottom_right: None,
        },
        parent: Some(Box::default()),
        children: vec![nested_messages::Node::default()],
        by_name: std::collections::HashMap::new(),
    };
    let bytes = node.encode_to_vec();
    let back = nested_messages::Node::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(back, node);

    let query = keywords::Query {
        r#type: "t".into(),
        r#match: vec!["m".into()],
        r#async: true,
        r#loop: Some(3),
    };
    assert_eq!(
        keywords::Query::decode(query.encode_to_vec().as_slice()).ok(),
        Some(query)
    );
}

#[test]
fn enums_have_typed_accessors() {
    use enums_oneofs::{Body, Event, Level};
    let mut event = Event::default();
    event.set_level(Level::Warning);
    assert_eq!(event.level, 5);
    assert_eq!(event.level(), Level::Warning);
    assert_eq!(Level::Debug as i32, -1);
    assert_eq!(Level::Error.as_str_name(), "LEVEL_ERROR");
    assert_eq!(Level::from_str_name("LEVEL_INFO"), Some(Level::Info));
    // An unknown number on the wire reads as the default through the typed getter.
    event.level = 99;
    assert_eq!(event.level(), Level::Unspecified);
    event.body = Some(Body::Reply(Box::default()));
    let back = Event::decode(event.encode_to_vec().as_slice()).expect("decodes");
    assert_eq!(back, event);
}

#[test]
fn pinned_tags_are_on_the_wire() {
    let id = pinned_tags::ProfileId { id: 1 };
    // Field 9, varint: key byte (9 << 3) | 0 = 72, then the value.
    assert_eq!(id.encode_to_vec(), vec![72, 1]);
}

#[test]
fn garbage_does_not_panic() {
    // Bytes from the wire never panic the generated decoders, whatever they are.
    let mut seed: u32 = 12345;
    for len in 0..200 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8
            })
            .collect();
        let _ = enums_oneofs::Event::decode(bytes.as_slice());
        let _ = field_types::Everything::decode(bytes.as_slice());
        let _ = nested_messages::Layout::decode(bytes.as_slice());
        let _ = pinned_tags::Profile::decode(bytes.as_slice());
    }
}
