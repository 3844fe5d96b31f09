//! The official gRPC interop cases (grpc's `doc/interop-test-descriptions.md`) across every pair
//! of client and server we have: grpcio's client over HTTP/2 and an aioquic client over HTTP/3
//! against rpcnet's `interop_server` binary; rpcnet's client against grpcio's `TestService`
//! server over HTTP/2 (chosen, and found by the automatic mode when UDP gets no answer); rpcnet
//! against rpcnet over both transports; and grpcio against grpcio, which proves the Python
//! runner and server before rpcnet stands on either side. Every pair must pass all 14 cases.

use std::path::Path;
use std::time::Duration;

use rpcnet::{Client, ClientConfig, ClientTransport, ServerConfig};
use rpcnet_interop_tests::interop::cases::{run_all, Case, CaseResult};
use rpcnet_interop_tests::interop::grpc_testing::testservice::TestServiceClient;
use rpcnet_interop_tests::interop::server::InteropServer;
use rpcnet_interop_tests::python::{interpreter, run_script, PeerServer, ScriptRun};
use rpcnet_interop_tests::CERTS_DIR;
use serde_json::Value;

/// One run of a case runner; each case has its own bound inside.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// What one case may take in the Rust runner.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server may take to stop after its stdin closed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn python() -> std::path::PathBuf {
    interpreter(env!("CARGO_TARGET_TMPDIR"))
}

fn case_names() -> Vec<&'static str> {
    Case::ALL.iter().map(|case| case.name()).collect()
}

/// The `{"case", "ok", "detail"}` lines of a run, checked to name exactly `expected`, in order.
fn results(run: &ScriptRun, expected: &[&str]) -> Vec<(String, bool, String)> {
    let results: Vec<(String, bool, String)> = run
        .stdout
        .lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{}", run.transcript));
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

/// Runs a Python case runner against `port` and asserts that every case passed.
async fn python_runner_passes_every_case(
    runner: &str,
    port: &str,
    server_log: impl Fn() -> String,
) {
    let run = run_script(&python(), runner, &["--port", port], RUN_TIMEOUT).await;
    let failed: Vec<String> = results(&run, &case_names())
        .into_iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(case, _, detail)| format!("{case}: {detail}"))
        .collect();
    assert!(
        failed.is_empty(),
        "{runner}: failed cases: {failed:#?}\n{}\n--- server stderr\n{}",
        run.transcript,
        server_log()
    );
    assert!(run.status.success(), "exit status\n{}", run.transcript);
}

/// Asserts that every case of a Rust run passed, naming those that did not.
fn assert_all_passed(results: &[CaseResult], pair: &str) {
    let names: Vec<&str> = results.iter().map(|result| result.case.name()).collect();
    assert_eq!(names, case_names(), "{pair}: cases run");
    let failed: Vec<String> = results
        .iter()
        .filter_map(|result| {
            result
                .outcome
                .as_ref()
                .err()
                .map(|detail| format!("{}: {detail}", result.case))
        })
        .collect();
    assert!(failed.is_empty(), "{pair}: failed cases: {failed:#?}");
}

fn client_config(transport: ClientTransport) -> ClientConfig {
    ClientConfig::new(format!("{CERTS_DIR}/ca.pem"))
        .expect("the dev CA")
        .transport(transport)
}

/// The rpcnet interop server as its own process (the `interop_server` binary).
async fn rpcnet_server_process() -> PeerServer {
    PeerServer::start_program(Path::new(env!("CARGO_BIN_EXE_interop_server")), &[]).await
}

async fn stop(server: PeerServer, what: &str) {
    let stderr = server.stderr();
    assert!(
        server.stop(STOP_TIMEOUT).await,
        "{what} did not exit cleanly when its stdin closed\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_over_http2_passes_every_case_against_rpcnet() {
    let server = rpcnet_server_process().await;
    python_runner_passes_every_case("grpcio_client.py", server.port(), || server.stderr()).await;
    stop(server, "interop_server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aioquic_client_over_http3_passes_every_case_against_rpcnet() {
    let server = rpcnet_server_process().await;
    python_runner_passes_every_case("h3_interop_client.py", server.port(), || server.stderr())
        .await;
    stop(server, "interop_server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_passes_every_case_against_grpcio_server() {
    let server = PeerServer::start(&python(), "grpcio_server.py", &[]).await;
    python_runner_passes_every_case("grpcio_client.py", server.port(), || server.stderr()).await;
    stop(server, "the grpcio server").await;
}

/// rpcnet's client against grpcio's server (which serves no HTTP/3), over HTTP/2 as chosen, and
/// in automatic mode, which must find HTTP/2 by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpcnet_client_passes_every_case_against_grpcio_server() {
    let server = PeerServer::start(&python(), "grpcio_server.py", &[]).await;
    let addr = server.addr().parse().expect("the grpcio server's address");
    for transport in [ClientTransport::Http2, ClientTransport::Auto] {
        let client = Client::lazy(addr, client_config(transport)).expect("client");
        let client = TestServiceClient::new(client);
        let results = run_all(&client, &Case::ALL, CASE_TIMEOUT).await;
        assert_all_passed(
            &results,
            &format!(
                "rpcnet ({transport:?}) -> grpcio\n--- server stderr\n{}",
                server.stderr()
            ),
        );
        assert_eq!(
            client.inner().transport(),
            Some(rpcnet::Transport::Http2),
            "{transport:?}: grpcio serves HTTP/2 only"
        );
        assert_eq!(
            client.inner().connections_opened(),
            1,
            "{transport:?}: one connection"
        );
    }
    stop(server, "the grpcio server").await;
}

/// rpcnet against rpcnet, on each transport: every case passes on one connection, and the
/// server sees the three calls the client abandons (two cancelled, one past its deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpcnet_client_passes_every_case_against_rpcnet_on_both_transports() {
    for transport in [ClientTransport::Http3, ClientTransport::Http2] {
        let config = ServerConfig::new(
            format!("{CERTS_DIR}/server.pem"),
            format!("{CERTS_DIR}/server.key"),
        )
        .expect("server config");
        let server = InteropServer::start(config, ([127, 0, 0, 1], 0).into()).expect("server");
        let client = Client::lazy(server.addr(), client_config(transport)).expect("client");
        let client = TestServiceClient::new(client);
        let results = run_all(&client, &Case::ALL, CASE_TIMEOUT).await;
        assert_all_passed(&results, &format!("rpcnet -> rpcnet over {transport:?}"));
        assert_eq!(client.inner().connections_opened(), 1, "{transport:?}");
        // The server notices a cancellation when the reset arrives: give it a moment.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while server.service().abandoned_calls() < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            server.service().abandoned_calls(),
            3,
            "{transport:?}: calls the server saw abandoned"
        );
        server.stop().await.expect("graceful stop");
    }
}

/// The runner reports what it sees: a server that is not the one asked for (TLS name check)
/// fails the cases that reach it, and the exit code says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_fails_cases_when_the_server_name_does_not_verify() {
    let server = PeerServer::start(&python(), "grpcio_server.py", &[]).await;
    let run = run_script(
        &python(),
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
