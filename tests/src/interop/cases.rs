//! The 14 official interop client cases on rpcnet's generated `TestServiceClient`, each
//! asserting what grpc's `doc/interop-test-descriptions.md` lists under "Client asserts".
//!
//! In rpcnet a client cancels a call by dropping it, so there is no locally made CANCELLED
//! status to look at: `cancel_after_begin` and `cancel_after_first_response` assert instead that
//! the call was still open when dropped and that the same connection serves the next call (and
//! the tests against our own server also see the server observe the cancellation).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rpcnet::{Code, Request, Status, Streaming};

use super::grpc_testing::testservice::TestServiceClient;
use super::grpc_testing::unimplementedservice::UnimplementedServiceClient;
use super::grpc_testing::{
    EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest,
    StreamingInputCallRequest, StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use super::{ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE, ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE};

/// The sizes the official cases use (digits of pi and e).
const LARGE_REQUEST: i32 = 271_828;
const LARGE_RESPONSE: i32 = 314_159;
const STREAM_REQUESTS: [i32; 4] = [27_182, 8, 1_828, 45_904];
const STREAM_RESPONSES: [i32; 4] = [31_415, 9, 2_653, 58_979];

/// How long a cancelled call is left open before it is dropped: long enough for its headers
/// (and first message) to reach the server.
const OPEN_BEFORE_CANCEL: Duration = Duration::from_millis(100);

/// One official case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    EmptyUnary,
    LargeUnary,
    ClientStreaming,
    ServerStreaming,
    PingPong,
    EmptyStream,
    CustomMetadata,
    StatusCodeAndMessage,
    SpecialStatusMessage,
    UnimplementedMethod,
    UnimplementedService,
    CancelAfterBegin,
    CancelAfterFirstResponse,
    TimeoutOnSleepingServer,
}

impl Case {
    /// Every case, in the order the official document lists them.
    pub const ALL: [Case; 14] = [
        Case::EmptyUnary,
        Case::LargeUnary,
        Case::ClientStreaming,
        Case::ServerStreaming,
        Case::PingPong,
        Case::EmptyStream,
        Case::CustomMetadata,
        Case::StatusCodeAndMessage,
        Case::SpecialStatusMessage,
        Case::UnimplementedMethod,
        Case::UnimplementedService,
        Case::CancelAfterBegin,
        Case::CancelAfterFirstResponse,
        Case::TimeoutOnSleepingServer,
    ];

    /// The official name (`empty_unary`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Case::EmptyUnary => "empty_unary",
            Case::LargeUnary => "large_unary",
            Case::ClientStreaming => "client_streaming",
            Case::ServerStreaming => "server_streaming",
            Case::PingPong => "ping_pong",
            Case::EmptyStream => "empty_stream",
            Case::CustomMetadata => "custom_metadata",
            Case::StatusCodeAndMessage => "status_code_and_message",
            Case::SpecialStatusMessage => "special_status_message",
            Case::UnimplementedMethod => "unimplemented_method",
            Case::UnimplementedService => "unimplemented_service",
            Case::CancelAfterBegin => "cancel_after_begin",
            Case::CancelAfterFirstResponse => "cancel_after_first_response",
            Case::TimeoutOnSleepingServer => "timeout_on_sleeping_server",
        }
    }

    /// Runs the case on `client`; `Ok` carries a short detail line, `Err` what did not hold.
    pub async fn run(self, client: &TestServiceClient) -> Result<String, String> {
        match self {
            Case::EmptyUnary => empty_unary(client).await,
            Case::LargeUnary => large_unary(client).await,
            Case::ClientStreaming => client_streaming(client).await,
            Case::ServerStreaming => server_streaming(client).await,
            Case::PingPong => ping_pong(client).await,
            Case::EmptyStream => empty_stream(client).await,
            Case::CustomMetadata => custom_metadata(client).await,
            Case::StatusCodeAndMessage => {
                echo_status(client, "test status message", true).await?;
                Ok("code 2 and message echoed by UnaryCall and FullDuplexCall".into())
            }
            Case::SpecialStatusMessage => {
                let message = "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \
                               \u{1f608}\t\n";
                echo_status(client, message, false).await?;
                Ok("whitespace and Unicode survive in the status message".into())
            }
            Case::UnimplementedMethod => {
                let status = client.unimplemented_call(Empty {}).await.err();
                expect_code(status.as_ref(), Code::Unimplemented, "UnimplementedCall")?;
                Ok("TestService/UnimplementedCall: UNIMPLEMENTED".into())
            }
            Case::UnimplementedService => {
                let other = UnimplementedServiceClient::new(client.inner().clone());
                let status = other.unimplemented_call(Empty {}).await.err();
                expect_code(status.as_ref(), Code::Unimplemented, "UnimplementedService")?;
                Ok("UnimplementedService/UnimplementedCall: UNIMPLEMENTED".into())
            }
            Case::CancelAfterBegin => cancel_after_begin(client).await,
            Case::CancelAfterFirstResponse => cancel_after_first_response(client).await,
            Case::TimeoutOnSleepingServer => timeout_on_sleeping_server(client).await,
        }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Case {
    type Err = String;

    fn from_str(name: &str) -> Result<Case, String> {
        Case::ALL
            .into_iter()
            .find(|case| case.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Case::ALL.iter().map(|case| case.name()).collect();
                format!("unknown case {name:?}; the cases are {}", known.join(", "))
            })
    }
}

/// The outcome of one case in a run.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub case: Case,
    pub outcome: Result<String, String>,
    pub took: Duration,
}

/// Runs `cases` in order, each bounded by `timeout`, on one client (one connection).
pub async fn run_all(
    client: &TestServiceClient,
    cases: &[Case],
    timeout: Duration,
) -> Vec<CaseResult> {
    let mut results = Vec::with_capacity(cases.len());
    for &case in cases {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(timeout, case.run(client)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("did not finish within {timeout:?}")),
        };
        results.push(CaseResult {
            case,
            outcome,
            took: started.elapsed(),
        });
    }
    results
}

fn check(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

fn zeros(size: i32) -> Option<Payload> {
    Some(Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; usize::try_from(size).unwrap_or(0)],
    })
}

fn check_payload(payload: Option<&Payload>, size: i32, what: &str) -> Result<(), String> {
    let body = payload.map_or(&[][..], |payload| &payload.body[..]);
    check(body.len() == usize::try_from(size).unwrap_or(0), || {
        format!("{what}: payload body is {} bytes, not {size}", body.len())
    })?;
    check(body.iter().all(|&byte| byte == 0), || {
        format!("{what}: payload body is not all zeros")
    })
}

fn expect_ok<T>(result: Result<T, Status>, what: &str) -> Result<T, String> {
    result.map_err(|status| format!("{what}: {status}"))
}

fn expect_code(status: Option<&Status>, code: Code, what: &str) -> Result<(), String> {
    match status {
        Some(status) if status.code() == code => Ok(()),
        Some(status) => Err(format!("{what}: {status}, expected {code:?}")),
        None => Err(format!("{what}: succeeded, expected {code:?}")),
    }
}

/// Reads a response stream to its end: the replies, and the status it ended with.
async fn drain<T: rpcnet::codegen::prost::Message + Default>(
    stream: &mut Streaming<T>,
) -> (Vec<T>, Option<Status>) {
    let mut replies = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(reply)) => replies.push(reply),
            Ok(None) => return (replies, None),
            Err(status) => return (replies, Some(status)),
        }
    }
}

fn duplex_request(request_size: i32, response_sizes: &[i32]) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_type: PayloadType::Compressable as i32,
        response_parameters: response_sizes
            .iter()
            .map(|&size| ResponseParameters {
                size,
                ..ResponseParameters::default()
            })
            .collect(),
        payload: zeros(request_size),
        ..StreamingOutputCallRequest::default()
    }
}

fn large_simple_request() -> SimpleRequest {
    SimpleRequest {
        response_type: PayloadType::Compressable as i32,
        response_size: LARGE_RESPONSE,
        payload: zeros(LARGE_REQUEST),
        ..SimpleRequest::default()
    }
}

async fn empty_unary(client: &TestServiceClient) -> Result<String, String> {
    let reply = expect_ok(client.empty_call(Empty {}).await, "EmptyCall")?;
    check(*reply.get_ref() == Empty {}, || {
        "EmptyCall: reply not empty".into()
    })?;
    Ok("EmptyCall returned Empty".into())
}

async fn large_unary(client: &TestServiceClient) -> Result<String, String> {
    let reply = expect_ok(client.unary_call(large_simple_request()).await, "UnaryCall")?;
    check_payload(
        reply.get_ref().payload.as_ref(),
        LARGE_RESPONSE,
        "UnaryCall",
    )?;
    Ok(format!("sent {LARGE_REQUEST} bytes, got {LARGE_RESPONSE}"))
}

async fn client_streaming(client: &TestServiceClient) -> Result<String, String> {
    let requests = STREAM_REQUESTS.map(|size| StreamingInputCallRequest {
        payload: zeros(size),
        ..StreamingInputCallRequest::default()
    });
    let reply = client
        .streaming_input_call(Request::new(futures_util::stream::iter(requests)))
        .await;
    let total = expect_ok(reply, "StreamingInputCall")?
        .get_ref()
        .aggregated_payload_size;
    check(total == 74_922, || {
        format!("aggregated_payload_size is {total}, expected 74922")
    })?;
    Ok("aggregated_payload_size 74922".into())
}

async fn server_streaming(client: &TestServiceClient) -> Result<String, String> {
    let request = StreamingOutputCallRequest {
        payload: None,
        ..duplex_request(0, &STREAM_RESPONSES)
    };
    let mut response = expect_ok(
        client.streaming_output_call(request).await,
        "StreamingOutputCall",
    )?;
    let (replies, status) = drain(response.get_mut()).await;
    if let Some(status) = status {
        return Err(format!("StreamingOutputCall ended with {status}"));
    }
    let sizes: Vec<usize> = replies.iter().map(payload_len).collect();
    check(sizes == STREAM_RESPONSES.map(|n| n as usize), || {
        format!("reply sizes {sizes:?}, expected {STREAM_RESPONSES:?}")
    })?;
    for (index, (reply, size)) in replies.iter().zip(STREAM_RESPONSES).enumerate() {
        check_payload(reply.payload.as_ref(), size, &format!("reply {index}"))?;
    }
    Ok(format!("reply sizes {sizes:?}"))
}

fn payload_len(reply: &StreamingOutputCallResponse) -> usize {
    reply
        .payload
        .as_ref()
        .map_or(0, |payload| payload.body.len())
}

async fn ping_pong(client: &TestServiceClient) -> Result<String, String> {
    let (requests, outgoing) = rpcnet::channel(1);
    let mut pairs = STREAM_REQUESTS.into_iter().zip(STREAM_RESPONSES);
    // The first request goes out with the call: a server may send its headers only with its
    // first reply.
    let (out, back) = pairs.next().unwrap_or_default();
    requests
        .send(duplex_request(out, &[back]))
        .await
        .map_err(|_| "the request stream closed before the call began".to_owned())?;
    let mut response = expect_ok(
        client.full_duplex_call(Request::new(outgoing)).await,
        "FullDuplexCall",
    )?;
    let stream = response.get_mut();
    let mut expected = back;
    for index in 0..STREAM_REQUESTS.len() {
        let reply = match stream.message().await {
            Ok(Some(reply)) => reply,
            Ok(None) => return Err(format!("no reply to request {index}: the stream ended")),
            Err(status) => return Err(format!("no reply to request {index}: {status}")),
        };
        check_payload(reply.payload.as_ref(), expected, &format!("reply {index}"))?;
        if let Some((out, back)) = pairs.next() {
            requests
                .send(duplex_request(out, &[back]))
                .await
                .map_err(|_| format!("request {} could not be sent", index + 1))?;
            expected = back;
        }
    }
    drop(requests);
    let (extra, status) = drain(stream).await;
    check(extra.is_empty(), || {
        format!("{} replies after the half-close", extra.len())
    })?;
    if let Some(status) = status {
        return Err(format!("FullDuplexCall ended with {status}"));
    }
    Ok(format!("4 round trips, reply sizes {STREAM_RESPONSES:?}"))
}

async fn empty_stream(client: &TestServiceClient) -> Result<String, String> {
    let requests = futures_util::stream::empty::<StreamingOutputCallRequest>();
    let mut response = expect_ok(
        client.full_duplex_call(Request::new(requests)).await,
        "FullDuplexCall",
    )?;
    let (replies, status) = drain(response.get_mut()).await;
    check(replies.is_empty(), || {
        format!("{} replies, expected none", replies.len())
    })?;
    if let Some(status) = status {
        return Err(format!("FullDuplexCall ended with {status}"));
    }
    Ok("no requests, no replies, OK".into())
}

fn with_echo_metadata<T>(message: T) -> Result<Request<T>, String> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    metadata
        .insert(ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE)
        .and_then(|()| metadata.insert_bin(ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE))
        .map_err(|err| format!("cannot set the echo metadata: {err}"))?;
    Ok(request)
}

fn check_echoed(
    initial: &rpcnet::Metadata,
    trailing: Option<&rpcnet::Metadata>,
    method: &str,
) -> Result<(), String> {
    let got = initial.get(ECHO_INITIAL_KEY);
    check(got == Some(ECHO_INITIAL_VALUE), || {
        format!("{method}: initial metadata {ECHO_INITIAL_KEY} is {got:?}, expected {ECHO_INITIAL_VALUE:?}")
    })?;
    let got = trailing.and_then(|trailing| trailing.get_bin(ECHO_TRAILING_KEY));
    check(
        matches!(&got, Some(Ok(value)) if value == ECHO_TRAILING_VALUE),
        || {
            format!("{method}: trailing metadata {ECHO_TRAILING_KEY} is {got:?}, expected {ECHO_TRAILING_VALUE:?}")
        },
    )
}

async fn custom_metadata(client: &TestServiceClient) -> Result<String, String> {
    let unary = expect_ok(
        client
            .unary_call(with_echo_metadata(large_simple_request())?)
            .await,
        "UnaryCall",
    )?;
    check_payload(
        unary.get_ref().payload.as_ref(),
        LARGE_RESPONSE,
        "UnaryCall",
    )?;
    check_echoed(unary.metadata(), Some(unary.trailers()), "UnaryCall")?;

    let request = duplex_request(LARGE_REQUEST, &[LARGE_RESPONSE]);
    let requests = futures_util::stream::iter([request]);
    let mut duplex = expect_ok(
        client.full_duplex_call(with_echo_metadata(requests)?).await,
        "FullDuplexCall",
    )?;
    let (replies, status) = drain(duplex.get_mut()).await;
    if let Some(status) = status {
        return Err(format!("FullDuplexCall ended with {status}"));
    }
    check(replies.len() == 1, || {
        format!("FullDuplexCall: {} replies, expected 1", replies.len())
    })?;
    check_payload(
        replies[0].payload.as_ref(),
        LARGE_RESPONSE,
        "FullDuplexCall",
    )?;
    check_echoed(
        duplex.metadata(),
        duplex.get_ref().trailers(),
        "FullDuplexCall",
    )?;
    Ok("initial and trailing metadata echoed on UnaryCall and FullDuplexCall".into())
}

/// UnaryCall (and FullDuplexCall if `duplex`) asked to end with UNKNOWN and `message`.
async fn echo_status(
    client: &TestServiceClient,
    message: &str,
    duplex: bool,
) -> Result<(), String> {
    let echo = Some(EchoStatus {
        code: Code::Unknown as i32,
        message: message.to_owned(),
    });
    let check_status = |status: Option<Status>, method: &str| -> Result<(), String> {
        expect_code(status.as_ref(), Code::Unknown, method)?;
        let got = status.as_ref().map_or("", Status::message);
        check(got == message, || {
            format!("{method}: status message {got:?}, expected {message:?}")
        })
    };
    let unary = client
        .unary_call(SimpleRequest {
            response_status: echo.clone(),
            ..SimpleRequest::default()
        })
        .await;
    check_status(unary.err(), "UnaryCall")?;
    if duplex {
        let request = StreamingOutputCallRequest {
            response_status: echo,
            ..StreamingOutputCallRequest::default()
        };
        let status = match client
            .full_duplex_call(Request::new(futures_util::stream::iter([request])))
            .await
        {
            // A Trailers-Only answer ends the call before any stream exists.
            Err(status) => Some(status),
            Ok(mut response) => drain(response.get_mut()).await.1,
        };
        check_status(status, "FullDuplexCall")?;
    }
    Ok(())
}

/// After a cancelled call, the same connection must still serve calls.
async fn connection_still_serves(client: &TestServiceClient, after: &str) -> Result<(), String> {
    expect_ok(
        client.empty_call(Empty {}).await,
        &format!("EmptyCall after {after}"),
    )
    .map(drop)
}

async fn cancel_after_begin(client: &TestServiceClient) -> Result<String, String> {
    // A request stream that never yields and never ends: the call stays open.
    let (requests, outgoing) = rpcnet::channel::<StreamingInputCallRequest>(1);
    let call = client.streaming_input_call(Request::new(outgoing));
    if let Ok(result) = tokio::time::timeout(OPEN_BEFORE_CANCEL, call).await {
        return Err(format!(
            "StreamingInputCall ended before it was cancelled: {:?}",
            result.map(|reply| reply.into_inner())
        ));
    }
    // The call future is dropped: the stream is reset with CANCEL.
    drop(requests);
    connection_still_serves(client, "the cancelled StreamingInputCall").await?;
    Ok("cancelled by dropping the call; the connection serves the next call".into())
}

async fn cancel_after_first_response(client: &TestServiceClient) -> Result<String, String> {
    let (requests, outgoing) = rpcnet::channel(1);
    requests
        .send(duplex_request(27_182, &[31_415]))
        .await
        .map_err(|_| "the request stream closed before the call began".to_owned())?;
    let mut response = expect_ok(
        client.full_duplex_call(Request::new(outgoing)).await,
        "FullDuplexCall",
    )?;
    match response.get_mut().message().await {
        Ok(Some(reply)) => check_payload(reply.payload.as_ref(), 31_415, "first reply")?,
        Ok(None) => return Err("the call ended before its first reply".into()),
        Err(status) => return Err(format!("no first reply: {status}")),
    }
    // Dropping the response stream and the request sender cancels the call.
    drop(response);
    drop(requests);
    connection_still_serves(client, "the cancelled FullDuplexCall").await?;
    Ok("cancelled after the first reply; the connection serves the next call".into())
}

async fn timeout_on_sleeping_server(client: &TestServiceClient) -> Result<String, String> {
    let (requests, outgoing) = rpcnet::channel(1);
    requests
        .send(StreamingOutputCallRequest {
            payload: zeros(27_182),
            ..StreamingOutputCallRequest::default()
        })
        .await
        .map_err(|_| "the request stream closed before the call began".to_owned())?;
    let request = Request::new(outgoing).with_timeout(Duration::from_millis(1));
    let status = match client.full_duplex_call(request).await {
        Err(status) => Some(status),
        Ok(mut response) => drain(response.get_mut()).await.1,
    };
    drop(requests);
    expect_code(status.as_ref(), Code::DeadlineExceeded, "FullDuplexCall")?;
    Ok("DEADLINE_EXCEEDED after 1 ms".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_round_trip_and_unknown_names_are_refused() {
        for case in Case::ALL {
            assert_eq!(case.name().parse::<Case>(), Ok(case));
        }
        let err = "empty".parse::<Case>().unwrap_err();
        assert!(err.contains("empty_unary"), "{err}");
    }
}
