//! Control for the Python interoperability tests: an rpcnet Rust client (the stubs `build.rs`
//! generates) makes the same calls against the same server and must see the same results.

use std::time::Duration;

use rpcnet::{ClientConfig, Code, Request};
use rpcnet_interop_tests::fixtures::{failure, sample, COUNT, FAIL_MESSAGE};
use rpcnet_interop_tests::{
    padding, CountReply, CountRequest, EchoClient, EchoRequest, Sample, TestServer, CERTS_DIR,
    ECHO_BIN_KEY, ECHO_KEY,
};

/// Every call's deadline, so a hang fails the test instead of blocking it.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

async fn connect(server: &TestServer) -> EchoClient {
    let config = ClientConfig::new(format!("{CERTS_DIR}/ca.pem")).expect("load the CA");
    EchoClient::connect(server.addr(), config)
        .await
        .expect("connect to the echo server")
}

fn start_server() -> TestServer {
    TestServer::start().expect("start the rpcnet echo server")
}

/// Reads a whole response stream: the replies, then the final status (OK or not).
async fn drain(
    stream: &mut rpcnet::Streaming<CountReply>,
) -> (Vec<CountReply>, Result<(), rpcnet::Status>) {
    let mut replies = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(reply)) => replies.push(reply),
            Ok(None) => return (replies, Ok(())),
            Err(status) => return (replies, Err(status)),
        }
    }
}

fn expected_replies(text: &str, count: u32) -> Vec<CountReply> {
    (0..count)
        .map(|index| CountReply {
            index,
            text: format!("{text} {index}"),
            padding: padding(index),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_unary_round_trip_keeps_every_field_kind() {
    let server = start_server();
    let client = connect(&server).await;
    let request = EchoRequest {
        sample: sample(),
        fail: None,
    };
    let reply = client
        .echo(Request::new(request.clone()).with_timeout(CALL_TIMEOUT))
        .await
        .expect("Echo succeeds")
        .into_inner();
    assert_eq!(reply.sample, sample());
    assert_eq!(server.service().seen(), vec![request]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_server_streaming_receives_every_reply_in_order() {
    let server = start_server();
    let client = connect(&server).await;
    for (text, count) in [("tick", COUNT), ("nothing", 0)] {
        let request = CountRequest {
            count,
            text: text.to_owned(),
            fail: None,
        };
        let mut stream = client
            .count(Request::new(request).with_timeout(CALL_TIMEOUT))
            .await
            .expect("Count starts")
            .into_inner();
        let (replies, end) = drain(&mut stream).await;
        assert_eq!(replies, expected_replies(text, count));
        end.expect("Count ends OK");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sees_error_status_with_non_ascii_message() {
    let server = start_server();
    let client = connect(&server).await;

    let status = client
        .echo(
            Request::new(EchoRequest {
                sample: Sample::default(),
                fail: Some(failure(Code::FailedPrecondition)),
            })
            .with_timeout(CALL_TIMEOUT),
        )
        .await
        .expect_err("Echo fails as asked");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), FAIL_MESSAGE);

    let request = CountRequest {
        count: 3,
        text: "before".to_owned(),
        fail: Some(failure(Code::Aborted)),
    };
    let mut stream = client
        .count(Request::new(request).with_timeout(CALL_TIMEOUT))
        .await
        .expect("Count starts")
        .into_inner();
    let (replies, end) = drain(&mut stream).await;
    assert_eq!(replies, expected_replies("before", 3));
    let status = end.expect_err("Count ends with the requested error");
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), FAIL_MESSAGE);

    // The connection still carries calls after both errors.
    let after = Sample {
        text: "still here".to_owned(),
        ..Sample::default()
    };
    let reply = client
        .echo(
            Request::new(EchoRequest {
                sample: after.clone(),
                fail: None,
            })
            .with_timeout(CALL_TIMEOUT),
        )
        .await
        .expect("Echo after the errors");
    assert_eq!(reply.into_inner().sample, after);
}

/// `request` with both echo keys set and the call deadline.
fn with_metadata<T>(mut request: Request<T>, text: &str, binary: &[u8]) -> Request<T> {
    let metadata = request.metadata_mut();
    metadata.insert(ECHO_KEY, text).expect("ASCII metadata");
    metadata
        .insert_bin(ECHO_BIN_KEY, binary)
        .expect("binary metadata");
    request.with_timeout(CALL_TIMEOUT)
}

/// Asserts that response metadata carries back the ASCII and binary values sent.
fn assert_echoed(metadata: &rpcnet::Metadata, text: &str, binary: &[u8]) {
    assert_eq!(metadata.get(ECHO_KEY), Some(text));
    assert_eq!(
        metadata
            .get_bin(ECHO_BIN_KEY)
            .map(|v| v.expect("valid base64")),
        Some(binary.to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_metadata_is_echoed_in_response_headers() {
    let server = start_server();
    let client = connect(&server).await;
    let text = "hello from rust; 42";
    let binary: &[u8] = &[0, 1, 2, 0x7f, 0x80, 0xfe, 0xff];
    let response = client
        .echo(with_metadata(
            Request::new(EchoRequest::default()),
            text,
            binary,
        ))
        .await
        .expect("Echo succeeds");
    assert_echoed(response.metadata(), text, binary);
    assert_eq!(response.into_inner().echoed, text);

    let request = Request::new(CountRequest {
        count: 2,
        text: "m".to_owned(),
        fail: None,
    });
    let response = client
        .count(with_metadata(request, text, binary))
        .await
        .expect("Count starts");
    assert_echoed(response.metadata(), text, binary);
    let (replies, end) = drain(&mut response.into_inner()).await;
    assert_eq!(replies.len(), 2);
    end.expect("Count ends OK");

    let response = client
        .echo(Request::new(EchoRequest::default()).with_timeout(CALL_TIMEOUT))
        .await
        .expect("Echo without metadata");
    assert_eq!(response.metadata().get(ECHO_KEY), None);
    assert!(response.metadata().get_bin(ECHO_BIN_KEY).is_none());
}
