//! The connection-swap services over HTTP/2: a stock gRPC client (grpcio, HTTP/2 only) streams
//! from the director across swaps, and the whole cluster keeps swapping when UDP is blocked
//! (run in a network namespace whose firewall drops every UDP packet: director, workers and
//! client find HTTP/2 by themselves).
//!
//! The UDP test needs root, `unshare` (util-linux), `ip` (iproute2) and `iptables`; without
//! them it fails and says why.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use connection_swap::tokens::token_text;
use rpcnet_interop_tests::python::{interpreter, run_script};
use serde_json::Value;
use support::*;

/// Tokens the grpcio client reads: about 3 s at one per 100 ms, so workers failing every second
/// move its call at least twice.
const GRPCIO_TOKENS: u64 = 30;

const GRPCIO_PROMPT: &str = "prompt-grpcio-http2";

/// What the re-executed test binary runs inside the namespace.
const SCENARIO_VAR: &str = "CONNECTION_SWAP_UDP_BLOCKED_SCENARIO";

/// Printed by the scenario when it passed, so that a child that ran no test cannot pass.
const PASSED_MARKER: &str = "udp-blocked scenario passed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_grpcio_client_streams_from_the_director_across_swaps_over_http2() {
    let python = interpreter(env!("CARGO_TARGET_TMPDIR"));
    let addr = free_addr();
    let director = start_director(addr);
    director.wait_for(&["director listening"], Duration::from_secs(10));
    let _a = start_worker("worker-a", addr, Timing::SWAPPING, &[]);
    let _b = start_worker("worker-b", addr, Timing::SWAPPING, &[]);
    director.wait_for_count(&["worker registered"], 2, Duration::from_secs(10));

    let tokens = GRPCIO_TOKENS.to_string();
    let port = addr.port().to_string();
    let args = [
        "--port",
        &port,
        "--tokens",
        &tokens,
        "--prompt",
        GRPCIO_PROMPT,
    ];
    let run = run_script(
        &python,
        "grpcio_director_client.py",
        &args,
        Duration::from_secs(120),
    )
    .await;
    assert!(
        run.status.success(),
        "grpcio client failed\n{}",
        run.transcript
    );
    let result: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON line ({e})\n{}", run.transcript));

    let sequences: Vec<u64> = result["sequences"]
        .as_array()
        .map(|all| all.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    assert_eq!(
        sequences,
        (1..=GRPCIO_TOKENS).collect::<Vec<_>>(),
        "{result}"
    );
    let texts: Vec<&str> = result["texts"]
        .as_array()
        .map(|all| all.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (sequence, text) in sequences.iter().zip(&texts) {
        assert_eq!(
            *text,
            token_text(GRPCIO_PROMPT, *sequence),
            "token {sequence}"
        );
    }
    let served_by = result["token_workers"].as_array().map_or(0, Vec::len);
    assert_eq!(served_by, 2, "both workers served the one call: {result}");
    assert!(
        result["worker_failed"].as_u64() >= Some(2),
        "the call was moved at least twice: {result}"
    );
    // The director saw an HTTP/2 client: grpcio speaks nothing else.
    director.wait_for(
        &["client opened stream", "transport=HTTP/2", GRPCIO_PROMPT],
        Duration::from_secs(5),
    );
}

#[test]
fn the_cluster_keeps_swapping_when_udp_is_blocked() {
    let binary = std::env::current_exe().expect("the test binary's path");
    // A fresh network namespace with only loopback, whose firewall drops all UDP; the test
    // binary runs again inside it, on the scenario alone.
    let script = "ip link set lo up && iptables -A INPUT -p udp -j DROP && exec \"$@\"";
    let child = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", script, "sh"])
        .arg(&binary)
        .args([
            "--exact",
            "udp_blocked_scenario",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO_VAR, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run unshare (util-linux) to make a network namespace: {e}")
        });
    let output = child.wait_with_output().expect("wait for the scenario");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(PASSED_MARKER),
        "the scenario in a namespace without UDP failed ({}); it needs root, unshare, ip and \
         iptables\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}

/// Inside the namespace: director, two swapping workers and the client, with UDP dropped.
#[test]
#[ignore = "a helper: run inside a network namespace by the_cluster_keeps_swapping_when_udp_is_blocked"]
fn udp_blocked_scenario() {
    assert!(
        std::env::var_os(SCENARIO_VAR).is_some(),
        "{SCENARIO_VAR} is not set: run by the_cluster_keeps_swapping_when_udp_is_blocked"
    );
    let addr = free_addr();
    let director = start_director(addr);
    director.wait_for(&["director listening"], Duration::from_secs(10));
    let a = start_worker("worker-a", addr, Timing::SWAPPING, &[]);
    let b = start_worker("worker-b", addr, Timing::SWAPPING, &[]);
    director.wait_for_count(&["worker registered"], 2, Duration::from_secs(20));
    let tokens = 30;
    let mut client = start_client(addr, tokens, "prompt-udp-blocked");
    let status = client.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "client failed: {status}");
    let summary = client.summary();
    assert_eq!(summary["contiguous"], "true", "{summary:?}");
    assert_eq!(summary["text_ok"], "true", "{summary:?}");
    assert_eq!(summary["last_seq"], tokens.to_string(), "{summary:?}");
    // One connection (HTTP/2: QUIC never got an answer) for the whole run.
    assert_eq!(summary["quic_connections"], "1", "{summary:?}");
    assert_eq!(summary["reconnects"], "0", "{summary:?}");
    let swaps = director
        .matching(&["asking client to retry on next worker"])
        .len();
    assert!(swaps >= 1, "the director moved the call at least once");
    // Every hop ran on HTTP/2: client to director, director to each worker.
    let opened = director.matching(&["client opened stream"]);
    assert_eq!(opened.len(), 1, "one call from the client");
    assert!(
        opened[0].text.contains("transport=HTTP/2"),
        "{}",
        opened[0].text
    );
    for worker in [&a, &b] {
        let streams = worker.matching(&["stream handler invoked"]);
        assert!(!streams.is_empty(), "{} served the call", worker.name);
        for line in streams {
            assert!(line.text.contains("transport=HTTP/2"), "{}", line.text);
        }
    }
    println!("{PASSED_MARKER}: {swaps} swaps over HTTP/2");
}
