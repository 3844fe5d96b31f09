//! Cross-language interoperability: a Python client that knows the service only through the
//! exported `.proto` (compiled by grpcio-tools' protoc, HTTP/3 by aioquic) calls the rpcnet echo
//! server over HTTP/3; the tests assert on the JSON lines it prints.
//!
//! The interpreter is the tests' own virtual environment (`rpcnet_interop_tests::python`): if it
//! cannot be prepared, every test here fails; none is skipped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rpcnet::Code;
use rpcnet_interop_tests::fixtures::{sample, COUNT, FAIL_MESSAGE};
use rpcnet_interop_tests::python::interpreter;
use rpcnet_interop_tests::{
    padding, EchoRequest, TestServer, CERTS_DIR, ECHO_BIN_KEY, ECHO_KEY, PROTO_PATH,
};
use serde_json::{json, Value};

/// The client script.
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/interop/python/grpc_h3_client.py"
);

/// How long one run of the script may take before it is killed.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The interpreter of the tests' virtual environment (or `RPCNET_INTEROP_PYTHON`).
fn python() -> PathBuf {
    interpreter(env!("CARGO_TARGET_TMPDIR"))
}

/// The JSON lines of one run of the script.
struct Run {
    events: Vec<Value>,
    /// stdout and stderr, for failure messages.
    transcript: String,
}

impl Run {
    /// The events of call `id`, in order.
    fn call(&self, id: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["call"] == id).collect()
    }

    /// The one event of kind `event` of call `id`.
    fn one(&self, id: &str, event: &str) -> &Value {
        let found: Vec<&Value> = self
            .call(id)
            .into_iter()
            .filter(|e| e["event"] == event)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "call {id}: expected one {event:?} event\n{}",
            self.transcript
        );
        found[0]
    }

    /// The decoded response messages of call `id`, checking their indexes.
    fn messages(&self, id: &str) -> Vec<&Value> {
        let messages: Vec<&Value> = self
            .call(id)
            .into_iter()
            .filter(|e| e["event"] == "message")
            .collect();
        for (i, message) in messages.iter().enumerate() {
            assert_eq!(message["index"], i, "call {id}: message order");
        }
        messages.into_iter().map(|m| &m["message"]).collect()
    }

    /// Asserts that call `id` ended with `code` and returns its end event.
    fn assert_end(&self, id: &str, code: Code) -> &Value {
        let end = self.one(id, "end");
        assert_eq!(
            end["code"], code as i32,
            "call {id}: status code\n{}",
            self.transcript
        );
        end
    }

    /// Asserts that call `id` got `:status 200` with the gRPC content-type; returns the headers.
    fn assert_grpc_headers(&self, id: &str) -> &Value {
        let headers = self.one(id, "headers");
        assert_eq!(headers["status"], 200, "call {id}: HTTP status");
        assert_eq!(
            headers["headers"]["content-type"], "application/grpc",
            "call {id}: content-type"
        );
        headers
    }
}

/// Runs the script against `server` with `calls`, bounded by [`SCRIPT_TIMEOUT`] (the child is
/// killed if the test gives up on it), and checks that it saw the service and finished.
async fn run_python(server: &TestServer, calls: Value) -> Run {
    let child = tokio::process::Command::new(python())
        .arg(SCRIPT)
        .args(["--proto", PROTO_PATH])
        .args(["--ca", &format!("{CERTS_DIR}/ca.pem")])
        .args(["--addr", &server.addr().to_string()])
        .args(["--server-name", "localhost"])
        .args(["--timeout", "45"])
        .arg(calls.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} {SCRIPT}: {e}", python().display()));
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{SCRIPT} did not finish within {SCRIPT_TIMEOUT:?}"))
        .expect("waiting for the Python client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let transcript = format!(
        "--- stdout\n{stdout}--- stderr\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the Python client failed ({})\n{transcript}",
        output.status
    );
    let events: Vec<Value> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{transcript}"))
        })
        .collect();
    let run = Run { events, transcript };
    // Python read the service from the .proto exactly as rpcnet-gen wrote it.
    let ready = run
        .events
        .iter()
        .find(|e| e["event"] == "ready")
        .unwrap_or_else(|| panic!("no ready event\n{}", run.transcript));
    assert_eq!(
        ready["service"], "interop.Echo",
        "service name from the .proto"
    );
    assert_eq!(
        ready["methods"],
        json!([
            {"name": "Echo", "input": "interop.EchoRequest", "output": "interop.EchoReply",
             "client_streaming": false, "server_streaming": false},
            {"name": "Count", "input": "interop.CountRequest", "output": "interop.CountReply",
             "client_streaming": false, "server_streaming": true},
        ]),
        "methods from the .proto"
    );
    let errors: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["event"] == "error")
        .collect();
    assert!(
        errors.is_empty(),
        "calls failed below gRPC: {errors:?}\n{}",
        run.transcript
    );
    assert_eq!(
        run.events.last().map(|e| &e["event"]),
        Some(&json!("done")),
        "the script did not finish its calls\n{}",
        run.transcript
    );
    run
}

fn start_server() -> TestServer {
    TestServer::start().expect("start the rpcnet echo server")
}

/// `fixtures::sample()` in proto3 JSON, as Python's `json_format` writes it (int64 as strings,
/// bytes as padded base64, enums by name, defaults omitted, a present optional kept).
fn sample_json() -> Value {
    json!({
        "text": "héllo, wörld ✓ 日本語 🚀",
        "blob": STANDARD.encode((0..=255).collect::<Vec<u8>>()),
        "number": "-9007199254740993",
        "unsigned": "18446744073709551615",
        "flag": true,
        "ratio": -1234.5625,
        "tags": ["alpha", "", "γ"],
        "numbers": ["0", "-1", "300", "9223372036854775807", "-9223372036854775808"],
        "mood": "MOOD_SLEEPY",
        "moods": ["MOOD_HAPPY", "MOOD_SLEEPY", "MOOD_UNSPECIFIED"],
        "maybe": 0,
        "point": {"x": -2147483648i64, "y": 2147483647},
        "points": [{"x": -1, "y": 2}, {}],
        "labels": {"k": "v", "ключ": "значение", "empty": ""},
    })
}

/// `CountReply` number `index` in proto3 JSON (zero index and empty padding are omitted).
fn count_reply_json(text: &str, index: u32) -> Value {
    let mut reply = serde_json::Map::new();
    if index != 0 {
        reply.insert("index".into(), json!(index));
    }
    reply.insert("text".into(), json!(format!("{text} {index}")));
    let padding = padding(index);
    if !padding.is_empty() {
        reply.insert("padding".into(), json!(STANDARD.encode(padding)));
    }
    Value::Object(reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_unary_round_trip_keeps_every_field_kind() {
    let server = start_server();
    let request = json!({ "sample": sample_json() });
    let run = run_python(
        &server,
        json!([
            {"id": "whole", "method": "Echo", "request": request},
            // The same request split into 3-byte DATA frames: the 5-byte prefix itself spans two.
            {"id": "chunked", "method": "Echo", "request": request, "chunk": 3},
        ]),
    )
    .await;

    for id in ["whole", "chunked"] {
        run.assert_grpc_headers(id);
        let messages = run.messages(id);
        assert_eq!(
            messages.len(),
            1,
            "call {id}: one reply\n{}",
            run.transcript
        );
        // Rust -> Python: prost's encoding, decoded by Python's protobuf, is the sample.
        assert_eq!(
            messages[0],
            &json!({ "sample": sample_json() }),
            "call {id}: reply as Python decoded it"
        );
        let end = run.assert_end(id, Code::Ok);
        assert_eq!(end["trailers_only"], false, "call {id}: status in trailers");
        assert!(
            run.one(id, "trailers")["headers"]["grpc-status"] == "0",
            "call {id}: trailers carry grpc-status 0"
        );
    }
    // Python -> Rust: Python's encoding, decoded by prost, is exactly the Rust sample.
    let expected = EchoRequest {
        sample: sample(),
        fail: None,
    };
    assert_eq!(server.service().seen(), vec![expected.clone(), expected]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_server_streaming_receives_every_reply_in_order() {
    let server = start_server();
    let run = run_python(
        &server,
        json!([
            {"id": "count", "method": "Count", "request": {"count": COUNT, "text": "tick"}},
            {"id": "none", "method": "Count", "request": {"count": 0, "text": "nothing"}},
        ]),
    )
    .await;

    run.assert_grpc_headers("count");
    let messages = run.messages("count");
    let expected: Vec<Value> = (0..COUNT).map(|i| count_reply_json("tick", i)).collect();
    assert_eq!(
        messages.len(),
        expected.len(),
        "number of replies\n{}",
        run.transcript
    );
    for (index, (got, want)) in messages.iter().zip(&expected).enumerate() {
        assert_eq!(*got, want, "reply {index}");
    }
    let end = run.assert_end("count", Code::Ok);
    assert_eq!(end["messages"], COUNT);
    assert_eq!(end["trailers_only"], false);

    // A stream of no messages still ends with a status.
    assert!(run.messages("none").is_empty());
    run.assert_end("none", Code::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sees_error_status_with_percent_decoded_message() {
    let server = start_server();
    let fail = |code: Code| json!({"code": code as u32, "message": FAIL_MESSAGE});
    let run = run_python(
        &server,
        json!([
            // Fails before any reply: a Trailers-Only response.
            {"id": "unary", "method": "Echo",
             "request": {"sample": {"text": "x"}, "fail": fail(Code::FailedPrecondition)}},
            // Fails after three replies: the status comes in trailers after the DATA.
            {"id": "stream", "method": "Count",
             "request": {"count": 3, "text": "before", "fail": fail(Code::Aborted)}},
            // The connection still carries calls after both errors.
            {"id": "after", "method": "Echo", "request": {"sample": {"text": "still here"}}},
        ]),
    )
    .await;

    let end = run.assert_end("unary", Code::FailedPrecondition);
    assert_eq!(end["message"], FAIL_MESSAGE, "percent-decoded grpc-message");
    assert_eq!(
        end["trailers_only"], true,
        "an immediate error is Trailers-Only"
    );
    assert_eq!(end["messages"], 0);
    let raw = end["raw_message"].as_str().expect("raw grpc-message");
    assert!(
        raw.is_ascii() && raw.contains('%') && !raw.contains('\t'),
        "grpc-message travels percent-encoded ASCII: {raw:?}"
    );
    assert!(run.call("unary").iter().all(|e| e["event"] != "trailers"));
    let headers = run.assert_grpc_headers("unary");
    assert_eq!(headers["headers"]["grpc-status"], "9");

    let messages = run.messages("stream");
    let expected: Vec<Value> = (0..3).map(|i| count_reply_json("before", i)).collect();
    assert_eq!(
        messages,
        expected.iter().collect::<Vec<_>>(),
        "replies before the error"
    );
    let end = run.assert_end("stream", Code::Aborted);
    assert_eq!(end["message"], FAIL_MESSAGE);
    assert_eq!(end["trailers_only"], false, "status in trailers after DATA");

    run.assert_end("after", Code::Ok);
    assert_eq!(
        run.messages("after"),
        vec![&json!({"sample": {"text": "still here"}})]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_metadata_is_echoed_in_response_headers() {
    let server = start_server();
    let text = "hello from python; 42";
    let binary: &[u8] = &[0, 1, 2, 0x7f, 0x80, 0xfe, 0xff];
    // Padded base64, as many gRPC clients send it; rpcnet must accept it.
    let metadata = json!({ECHO_KEY: text, ECHO_BIN_KEY: STANDARD.encode(binary)});
    let run = run_python(
        &server,
        json!([
            {"id": "unary", "method": "Echo", "request": {"sample": {}}, "metadata": metadata},
            {"id": "stream", "method": "Count", "request": {"count": 2, "text": "m"},
             "metadata": metadata},
            {"id": "without", "method": "Echo", "request": {"sample": {}}},
        ]),
    )
    .await;

    let hex: String = binary.iter().map(|b| format!("{b:02x}")).collect();
    for id in ["unary", "stream"] {
        let headers = run.assert_grpc_headers(id);
        assert_eq!(
            headers["headers"][ECHO_KEY], text,
            "call {id}: ASCII metadata echoed"
        );
        assert_eq!(
            headers["headers_bin"][ECHO_BIN_KEY], hex,
            "call {id}: binary metadata echoed"
        );
        run.assert_end(id, Code::Ok);
    }
    assert_eq!(run.messages("unary")[0]["echoed"], text);
    assert_eq!(run.messages("stream").len(), 2);

    let headers = run.assert_grpc_headers("without");
    assert!(headers["headers"].get(ECHO_KEY).is_none());
    assert!(headers["headers"].get(ECHO_BIN_KEY).is_none());

    // The server decoded the metadata-carrying request like any other.
    let seen = server.service().seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.fail.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_gets_protocol_answers_for_unknown_paths_and_content_types() {
    let server = start_server();
    let echo = |id: &str| json!({"id": id, "method": "Echo", "request": {"sample": {"text": id}}});
    let with = |id: &str, key: &str, value: Value| {
        let mut call = echo(id);
        call[key] = value;
        call
    };
    let run = run_python(
        &server,
        json!([
            // `application/grpc` and parameters are the same protocol as `+proto`.
            with("plain-grpc", "content_type", json!("application/grpc")),
            with(
                "params",
                "content_type",
                json!("application/grpc+proto; charset=utf-8")
            ),
            // Paths are case-sensitive; unknown ones are UNIMPLEMENTED.
            with("no-method", "path", json!("/interop.Echo/Nope")),
            with("no-service", "path", json!("/interop.Nope/Echo")),
            with("lowercase", "path", json!("/interop.echo/echo")),
            // An encoding the server does not support: UNIMPLEMENTED.
            with("gzip", "metadata", json!({"grpc-encoding": "gzip"})),
            // Not gRPC at all: plain HTTP 415, no grpc-status.
            with("json", "content_type", json!("application/json")),
            // No request message at all (a cardinality violation).
            with("no-message", "copies", json!(0)),
            // The compressed flag without a negotiated grpc-encoding.
            with("compressed", "flag", json!(1)),
            echo("after"),
        ]),
    )
    .await;

    for id in ["plain-grpc", "params", "after"] {
        run.assert_grpc_headers(id);
        run.assert_end(id, Code::Ok);
        assert_eq!(run.messages(id), vec![&json!({"sample": {"text": id}})]);
    }
    for (id, code) in [
        ("no-method", Code::Unimplemented),
        ("no-service", Code::Unimplemented),
        ("lowercase", Code::Unimplemented),
        ("gzip", Code::Unimplemented),
        // gRPC's status-code table says UNIMPLEMENTED for a cardinality violation, but Java
        // and Go answer INTERNAL, and so does rpcnet.
        ("no-message", Code::Internal),
        ("compressed", Code::Internal),
    ] {
        let end = run.assert_end(id, code);
        assert_eq!(end["trailers_only"], true, "call {id}: Trailers-Only");
        assert!(run.messages(id).is_empty(), "call {id}: no reply");
    }
    let headers = run.one("json", "headers");
    assert_eq!(
        headers["status"], 415,
        "non-gRPC content-type\n{}",
        run.transcript
    );
    assert!(headers["headers"].get("grpc-status").is_none());
    // Only the accepted calls reached the handler.
    let seen: Vec<String> = server
        .service()
        .seen()
        .into_iter()
        .map(|r| r.sample.text)
        .collect();
    assert_eq!(seen, ["plain-grpc", "params", "after"]);
}

/// A unary or server-streaming call carries exactly one request message; a second one fails
/// the call (INTERNAL, as grpc-java answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_extra_request_messages_are_refused() {
    let server = start_server();
    let run = run_python(
        &server,
        json!([
            {"id": "unary", "method": "Echo", "request": {"sample": {"text": "twice"}}, "copies": 2},
            {"id": "stream", "method": "Count", "request": {"count": 1}, "copies": 2},
        ]),
    )
    .await;
    for id in ["unary", "stream"] {
        let code = run.one(id, "end")["code"].clone();
        // INTERNAL (Java, Go) or UNIMPLEMENTED (gRPC's status-code table): not OK.
        assert!(
            code == Code::Internal as i32 || code == Code::Unimplemented as i32,
            "call {id}: two request messages must fail the call, got code {code}\n{}",
            run.transcript
        );
    }
}

/// After a valid first request message, bytes that are not a valid message (a compressed flag
/// without an encoding, or a prefix cut short by the end of the stream) are the client's
/// protocol error and get a status, not a stream reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_malformed_trailing_request_bytes_get_a_status() {
    let server = start_server();
    // run_python fails on a stream reset ("calls failed below gRPC").
    let run = run_python(
        &server,
        json!([
            {"id": "compressed-second", "method": "Echo", "request": {}, "append_hex": "0100000000"},
            {"id": "truncated-second", "method": "Echo", "request": {}, "append_hex": "00000000"},
        ]),
    )
    .await;
    for id in ["compressed-second", "truncated-second"] {
        let code = run.one(id, "end")["code"].clone();
        assert_ne!(
            code,
            Code::Ok as i32,
            "call {id}: malformed request answered OK"
        );
    }
}
