//! The official gRPC interop cases, run by our Python case runners: grpcio client against grpcio
//! server (proving the runner and the server before rpcnet stands on either side), and the
//! HTTP/3 runner against rpcnet's echo server for the cases that need no TestService.

use std::time::Duration;

use rpcnet_interop_tests::python::{interpreter, run_script, PythonServer, ScriptRun};
use rpcnet_interop_tests::TestServer;
use serde_json::Value;

/// The cases grpc's interop-test-descriptions.md defines that the runners implement, in order.
const CASES: [&str; 14] = [
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
];

/// One run of a case runner; each case has its own 30 s bound inside.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the server may take to stop after its stdin closed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn python() -> std::path::PathBuf {
    interpreter(env!("CARGO_TARGET_TMPDIR"))
}

/// The `{"case", "ok", "detail"}` lines of a run, checked to be exactly `expected`, in order.
fn results(run: &ScriptRun, expected: &[&str]) -> Vec<(String, bool, String)> {
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{}", run.transcript))
        })
        .collect();
    let results: Vec<(String, bool, String)> = lines
        .iter()
        .map(|line| {
            let field = |name: &str| line.get(name).cloned().unwrap_or(Value::Null);
            match (field("case"), field("ok"), field("detail")) {
                (Value::String(case), Value::Bool(ok), Value::String(detail)) => (case, ok, detail),
                _ => panic!(
                    "a result line without case/ok/detail: {line}\n{}",
                    run.transcript
                ),
            }
        })
        .collect();
    let names: Vec<&str> = results.iter().map(|(case, _, _)| case.as_str()).collect();
    assert_eq!(names, expected, "cases run\n{}", run.transcript);
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_passes_every_official_case_against_grpcio_server() {
    let python = python();
    let server = PythonServer::start(&python, "grpcio_server.py", &[]).await;
    let run = run_script(
        &python,
        "grpcio_client.py",
        &["--host", "127.0.0.1", "--port", server.port()],
        RUN_TIMEOUT,
    )
    .await;
    let failed: Vec<String> = results(&run, &CASES)
        .into_iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(case, _, detail)| format!("{case}: {detail}"))
        .collect();
    assert!(
        failed.is_empty(),
        "failed cases: {failed:#?}\n{}\n--- server stderr\n{}",
        run.transcript,
        server.stderr()
    );
    assert!(run.status.success(), "exit status\n{}", run.transcript);
    let stderr = server.stderr();
    assert!(
        server.stop(STOP_TIMEOUT).await,
        "the grpcio server did not exit cleanly when its stdin closed\n{stderr}"
    );
}

/// The runner reports what it sees: a server that is not the one asked for (TLS name check)
/// fails the cases that reach it, and the exit code says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_fails_cases_when_the_server_name_does_not_verify() {
    let python = python();
    let server = PythonServer::start(&python, "grpcio_server.py", &[]).await;
    let run = run_script(
        &python,
        "grpcio_client.py",
        &[
            "--port",
            server.port(),
            "--server-name",
            "not-the-server.example",
            "--cases",
            "empty_unary,large_unary",
        ],
        RUN_TIMEOUT,
    )
    .await;
    for (case, ok, detail) in results(&run, &["empty_unary", "large_unary"]) {
        assert!(
            !ok,
            "{case} passed without a verified server\n{}",
            run.transcript
        );
        // UNAVAILABLE: the channel never connected.
        assert!(detail.contains("status 14"), "{case}: {detail}");
    }
    assert_eq!(
        run.status.code(),
        Some(1),
        "exit status\n{}",
        run.transcript
    );
}

/// The HTTP/3 runner against rpcnet's echo server (which has no TestService): the cases about
/// unknown methods and services pass, cancel_after_begin passes, and a case that needs
/// TestService fails with the UNIMPLEMENTED that rpcnet answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_runner_reaches_rpcnet_over_http3() {
    let python = python();
    let server = TestServer::start().expect("start the rpcnet echo server");
    let port = server.addr().port().to_string();
    let cases = [
        "unimplemented_method",
        "unimplemented_service",
        "cancel_after_begin",
        "empty_unary",
    ];
    let run = run_script(
        &python,
        "h3_interop_client.py",
        &["--port", &port, "--cases", &cases.join(",")],
        RUN_TIMEOUT,
    )
    .await;
    let results = results(&run, &cases);
    for (case, ok, detail) in &results[..3] {
        assert!(ok, "{case}: {detail}\n{}", run.transcript);
    }
    let (_, ok, detail) = &results[3];
    assert!(
        !ok,
        "empty_unary passed against a server without TestService"
    );
    assert!(
        detail.contains("status 12"),
        "empty_unary should see UNIMPLEMENTED: {detail}"
    );
    assert_eq!(
        run.status.code(),
        Some(1),
        "exit status\n{}",
        run.transcript
    );
}
