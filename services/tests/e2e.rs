//! End-to-end tests of the connection-swap services: the real director, worker, client and
//! demo binaries as processes on free ports with short intervals, judged by their logs and the
//! client's summary.

mod support;

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use connection_swap::certs::CertPaths;
use connection_swap::protocol::directorregistry::DirectorRegistryClient;
use connection_swap::protocol::{HeartbeatRequest, RegisterRequest};
use connection_swap::tokens::token_text;
use rpcnet::{Code, Request};
use support::*;

/// Tokens the shared swap run asks for: 60 at 100 ms with a failure every second gives about
/// five swaps.
const SWAP_RUN_TOKENS: u64 = 60;
const SWAP_RUN_PROMPT: &str = "prompt-e2e-swaps";

/// What one run of director + worker A + worker B + client printed.
struct SwapRun {
    director: Vec<String>,
    workers: Vec<(String, Vec<String>)>,
    client: Vec<String>,
    summary: std::collections::BTreeMap<String, String>,
}

/// One swapping run shared by the tests that only read its output.
fn swap_run() -> &'static SwapRun {
    static RUN: OnceLock<SwapRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let addr = free_addr();
        let director = start_director(addr);
        director.wait_for(&["director listening"], Duration::from_secs(10));
        let a = start_worker("worker-a", addr, Timing::SWAPPING, &[]);
        let b = start_worker("worker-b", addr, Timing::SWAPPING, &[]);
        director.wait_for_count(&["worker registered"], 2, Duration::from_secs(10));
        let mut client = start_client(addr, SWAP_RUN_TOKENS, SWAP_RUN_PROMPT);
        let status = client.wait_exit(Duration::from_secs(45));
        assert!(status.success(), "client failed: {status}");
        SwapRun {
            summary: client.summary(),
            director: director.text(),
            workers: vec![
                ("worker-a".to_owned(), a.text()),
                ("worker-b".to_owned(), b.text()),
            ],
            client: client.text(),
        }
    })
}

fn with<'a>(lines: &'a [String], needle: &str) -> Vec<&'a String> {
    lines.iter().filter(|l| l.contains(needle)).collect()
}

#[test]
fn swaps_alternate_between_workers_on_the_same_stream() {
    let run = swap_run();
    let swaps: u64 = run.summary["swaps"].parse().unwrap_or(0);
    assert!(swaps >= 3, "only {swaps} swaps: {:?}", run.summary);

    let timeline: Vec<&str> = run.summary["timeline"].split(',').collect();
    assert!(timeline.len() >= 4, "{timeline:?}");
    let workers: Vec<&str> = timeline
        .iter()
        .map(|segment| segment.split(':').next().unwrap_or_default())
        .collect();
    for pair in workers.windows(2) {
        assert_ne!(pair[0], pair[1], "no alternation in {timeline:?}");
    }

    let retries = with(
        &run.client,
        "stream ended; requesting another worker err=StreamError(\"",
    );
    assert!(retries.len() as u64 >= swaps, "{retries:?}");
    assert!(
        retries.iter().all(|l| l.contains(" simulated failure\")")),
        "{retries:?}"
    );
    let failures = with(&run.director, "worker stream ended with error");
    let asks = with(&run.director, "asking client to retry on next worker");
    assert!(failures.len() as u64 >= swaps && asks.len() as u64 >= swaps);
    assert!(failures
        .iter()
        .all(|l| l.contains(" WARN connection_swap::director] ")));
    for (label, lines) in &run.workers {
        let simulated = with(lines, "simulating failure after 1s");
        assert!(!simulated.is_empty(), "{label} never failed");
        assert!(simulated.iter().all(|l| l.contains(" WARN worker] ")));
        assert!(!with(lines, "INFO worker] worker=").is_empty());
    }
}

#[test]
fn connection_and_stream_ids_match_on_all_three_sides() {
    let run = swap_run();
    let ids = |lines: &[String], needle: &str| -> BTreeSet<(String, String)> {
        with(lines, needle)
            .iter()
            .map(|l| {
                (
                    field(l, "connection.id").unwrap_or("?").to_owned(),
                    field(l, "stream.id").unwrap_or("?").to_owned(),
                )
            })
            .collect()
    };
    let client = ids(&run.client, "worker assigned to stream");
    assert_eq!(client.len(), 1, "the client saw several ids: {client:?}");
    let (connection, _stream) = client.iter().next().cloned().unwrap_or_default();
    assert!(connection.starts_with("conn-"), "{connection}");

    assert_eq!(ids(&run.client, "received token"), client);
    assert_eq!(ids(&run.director, "client opened stream"), client);
    assert_eq!(ids(&run.director, "assigning stream to worker"), client);
    assert_eq!(ids(&run.director, "worker stream ended with error"), client);
    assert_eq!(
        ids(&run.director, "asking client to retry on next worker"),
        client
    );
    let mut handoffs = 0;
    for (label, lines) in &run.workers {
        let worker = ids(lines, "accepted handoff from director");
        assert_eq!(worker, client, "{label}");
        assert_eq!(ids(lines, "sending token"), client, "{label}");
        handoffs += with(lines, "accepted handoff from director").len();
    }
    let assigned = with(&run.client, "worker assigned to stream").len();
    assert_eq!(handoffs, assigned, "every hand-off reached the client");
    assert_eq!(with(&run.director, "client opened stream").len(), 1);
}

#[test]
fn tokens_are_contiguous_with_the_right_text_across_swaps() {
    let run = swap_run();
    let received: Vec<(u64, String)> = with(&run.client, "received token")
        .iter()
        .map(|l| {
            (
                number(l, "sequence").unwrap_or(0),
                field(l, "text").unwrap_or("?").to_owned(),
            )
        })
        .collect();
    let sequences: Vec<u64> = received.iter().map(|(s, _)| *s).collect();
    let expected: Vec<u64> = (1..=SWAP_RUN_TOKENS).collect();
    assert_eq!(sequences, expected);
    for (sequence, text) in &received {
        assert_eq!(
            text,
            &token_text(SWAP_RUN_PROMPT, *sequence),
            "seq {sequence}"
        );
    }
    assert_eq!(run.summary["contiguous"], "true");
    assert_eq!(run.summary["text_ok"], "true");
    assert_eq!(run.summary["first_seq"], "1");
    assert_eq!(run.summary["last_seq"], SWAP_RUN_TOKENS.to_string());
}

#[test]
fn the_client_uses_exactly_one_quic_connection() {
    let run = swap_run();
    assert_eq!(run.summary["quic_connections"], "1", "{:?}", run.summary);
    assert_eq!(run.summary["reconnects"], "0");
    assert!(!run.summary["connection_id"].contains(','));
    assert!(with(&run.client, "issuing streaming request to director").len() == 1);
}

#[test]
fn a_killed_worker_is_replaced_within_two_seconds() {
    let addr = free_addr();
    let director = start_director(addr);
    let a = start_worker("worker-a", addr, Timing::STEADY, &[]);
    let b = start_worker("worker-b", addr, Timing::STEADY, &[]);
    director.wait_for_count(&["worker registered"], 2, Duration::from_secs(10));
    let mut client = start_client(addr, 40, "prompt-e2e-kill");
    client.wait_for(&["sequence=15 "], Duration::from_secs(20));

    let serving = client.wait_for(&["worker assigned to stream"], Duration::from_secs(1));
    let serving = field(&serving.text, "worker").unwrap_or("?").to_owned();
    let (mut victim, other) = match serving.as_str() {
        "worker-a" => (a, "worker-b"),
        "worker-b" => (b, "worker-a"),
        other => panic!("unexpected serving worker {other}"),
    };
    let killed_at = std::time::Instant::now();
    victim.kill();

    let moved = client.wait_for(
        &["worker assigned to stream", &format!("worker={other} ")],
        Duration::from_secs(5),
    );
    let first_token = client.wait_for(
        &["received token", &format!("worker={other} ")],
        Duration::from_secs(5),
    );
    let moved_after = moved.at.duration_since(killed_at);
    let resumed_after = first_token.at.duration_since(killed_at);
    eprintln!("stream moved {moved_after:?} after SIGKILL, next token after {resumed_after:?}");
    assert!(moved_after < Duration::from_secs(2), "{moved_after:?}");
    assert!(resumed_after < Duration::from_secs(2), "{resumed_after:?}");

    let status = client.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "client failed: {status}");
    let summary = client.summary();
    assert_eq!(summary["contiguous"], "true", "{summary:?}");
    assert_eq!(summary["text_ok"], "true");
    assert_eq!(summary["quic_connections"], "1");
    assert_eq!(summary["swaps"], "1");
    let gap: u64 = summary["longest_gap_ms"].parse().unwrap_or(u64::MAX);
    assert!(gap < 2000, "longest gap {gap} ms");
    director.wait_for(
        &[
            "worker stream ended with error",
            &format!("worker.label={serving} "),
        ],
        Duration::from_secs(1),
    );
}

#[test]
fn a_worker_without_the_client_certificate_is_refused() {
    let addr = free_addr();
    let director = start_director(addr);
    let good = start_worker("worker-a", addr, Timing::STEADY, &[]);
    let mut no_cert = start_worker(
        "worker-c",
        addr,
        Timing::STEADY,
        &[("CONNECTION_SWAP_WORKER_CERT", "none".to_owned())],
    );
    let mut missing_cert = start_worker(
        "worker-d",
        addr,
        Timing::STEADY,
        &[(
            "CONNECTION_SWAP_WORKER_CERT",
            "/nonexistent/worker.pem".to_owned(),
        )],
    );
    for refused in [&mut no_cert, &mut missing_cert] {
        let status = refused.wait_exit(Duration::from_secs(15));
        assert!(!status.success(), "{} should fail", refused.name);
        let line = refused.wait_for(
            &["registration refused by director"],
            Duration::from_secs(1),
        );
        assert!(line.text.contains(" ERROR worker] "), "{}", line.text);
    }
    director.wait_for_count(
        &["refused registry call: the worker client certificate is required"],
        2,
        Duration::from_secs(5),
    );
    good.wait_for(&["registered with director"], Duration::from_secs(10));

    let mut client = start_client(addr, 15, "prompt-e2e-auth");
    let status = client.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "client failed: {status}");
    let summary = client.summary();
    assert_eq!(summary["per_worker"], "worker-a:15", "{summary:?}");
    let director_log = director.text();
    for label in ["worker-c", "worker-d"] {
        let mentions: Vec<&String> = director_log
            .iter()
            .filter(|l| l.contains(&format!("worker.label={label}")))
            .collect();
        assert!(
            mentions.is_empty(),
            "{label} got into the pool: {mentions:?}"
        );
    }
}

#[test]
fn a_client_cannot_call_the_registry() {
    let addr = free_addr();
    let director = start_director(addr);
    director.wait_for(&["director listening"], Duration::from_secs(10));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("tokio runtime: {err}"));
    let (register, heartbeat) = runtime.block_on(async {
        let certs = CertPaths::default();
        let config = rpcnet::ClientConfig::new(certs.ca())
            .unwrap_or_else(|err| panic!("client config: {err}"));
        let registry = DirectorRegistryClient::connect(addr, config)
            .await
            .unwrap_or_else(|err| panic!("connect: {err}"));
        let register = registry
            .register(Request::new(RegisterRequest {
                label: "intruder".into(),
                addr: "127.0.0.1:9".into(),
                available: true,
                ..RegisterRequest::default()
            }))
            .await;
        let heartbeat = registry
            .heartbeat(Request::new(HeartbeatRequest {
                worker_id: 1,
                addr: "127.0.0.1:9".into(),
                active_streams: 0,
                available: true,
            }))
            .await;
        (register.map(drop), heartbeat.map(drop))
    });
    for result in [register, heartbeat] {
        match result {
            Err(status) => assert_eq!(status.code(), Code::Unauthenticated, "{status}"),
            Ok(()) => panic!("the registry accepted a caller without the worker certificate"),
        }
    }
    director.wait_for_count(
        &["refused registry call", "certificate=none"],
        2,
        Duration::from_secs(5),
    );
    assert!(director.matching(&["worker registered"]).is_empty());
}

#[test]
fn workers_started_before_the_director_register_by_themselves() {
    let addr = free_addr();
    let a = start_worker("worker-a", addr, Timing::STEADY, &[]);
    let b = start_worker("worker-b", addr, Timing::STEADY, &[]);
    for worker in [&a, &b] {
        worker.wait_for(
            &["director not reachable yet; retrying registration"],
            Duration::from_secs(10),
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let director = start_director(addr);
    for worker in [&a, &b] {
        worker.wait_for(&["registered with director"], Duration::from_secs(10));
    }
    director.wait_for_count(&["worker registered"], 2, Duration::from_secs(5));
    let mut client = start_client(addr, 20, "prompt-e2e-order");
    let status = client.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "client failed: {status}");
    let summary = client.summary();
    assert_eq!(summary["tokens"], "20", "{summary:?}");
    assert_eq!(summary["contiguous"], "true");
    assert_eq!(summary["quic_connections"], "1");
}

#[test]
fn after_a_director_restart_workers_reregister_and_the_client_reconnects() {
    let addr = free_addr();
    let mut director = start_director(addr);
    let a = start_worker("worker-a", addr, Timing::STEADY, &[]);
    let b = start_worker("worker-b", addr, Timing::STEADY, &[]);
    director.wait_for_count(&["worker registered"], 2, Duration::from_secs(10));
    let mut client = start_client(addr, 50, "prompt-e2e-restart");
    client.wait_for(&["sequence=10 "], Duration::from_secs(20));

    director.kill();
    std::thread::sleep(Duration::from_millis(300));
    let director = start_director(addr);
    director.wait_for_count(&["worker registered"], 2, Duration::from_secs(15));
    for worker in [&a, &b] {
        worker.wait_for_count(&["registered with director"], 2, Duration::from_secs(5));
    }

    let status = client.wait_exit(Duration::from_secs(40));
    assert!(status.success(), "client failed: {status}");
    let lost = client.wait_for(
        &["lost the stream to the director; reconnecting"],
        Duration::from_secs(1),
    );
    assert!(
        lost.text.contains(" ERROR connection_swap::client_app] "),
        "{}",
        lost.text
    );
    let summary = client.summary();
    assert_eq!(summary["quic_connections"], "2", "{summary:?}");
    assert_eq!(summary["contiguous"], "true");
    assert_eq!(summary["text_ok"], "true");
    assert_eq!(summary["tokens"], "50");
    assert_eq!(summary["connection_id"].split(',').count(), 2);
}

/// The pids the demo reports for its children.
fn demo_children(demo: &Proc) -> Vec<u32> {
    demo.matching(&["[demo]", "(pid "])
        .iter()
        .filter_map(|l| {
            let start = l.text.find("(pid ")? + 5;
            l.text[start..].trim_end_matches(')').parse().ok()
        })
        .collect()
}

#[cfg(target_os = "linux")]
fn assert_gone(pids: &[u32]) {
    for pid in pids {
        let path = format!("/proc/{pid}");
        assert!(
            !std::path::Path::new(&path).exists(),
            "child {pid} outlived the demo"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn assert_gone(_pids: &[u32]) {}

fn demo_env(tokens: u64) -> Vec<(&'static str, String)> {
    vec![
        ("CONNECTION_SWAP_DEMO_BUILD", "never".to_owned()),
        ("CONNECTION_SWAP_DEMO_TOKENS", tokens.to_string()),
        ("CONNECTION_SWAP_DEMO_TOKEN_INTERVAL_MS", "100".to_owned()),
        ("CONNECTION_SWAP_DEMO_FAILURE_AFTER_SECS", "1".to_owned()),
        ("CONNECTION_SWAP_DEMO_RECOVERY_SECS", "0.5".to_owned()),
    ]
}

#[test]
fn the_demo_runs_everything_and_leaves_no_process_behind() {
    let mut demo = Proc::start("demo", DEMO, &demo_env(30));
    let status = demo.wait_exit(Duration::from_secs(45));
    assert!(status.success(), "demo failed: {status}");
    let text = demo.text();
    for prefix in ["[director]", "[worker-a]", "[worker-b]", "[client]"] {
        assert!(
            text.iter().any(|l| l.starts_with(prefix)),
            "no {prefix} lines"
        );
    }
    let summary = demo.summary();
    assert_eq!(summary["tokens"], "30", "{summary:?}");
    assert_eq!(summary["quic_connections"], "1");
    let swaps: u64 = summary["swaps"].parse().unwrap_or(0);
    assert!(swaps >= 2, "{summary:?}");
    let pids = demo_children(&demo);
    assert_eq!(pids.len(), 4, "{pids:?}");
    assert_gone(&pids);
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_demo_and_every_child() {
    let mut demo = Proc::start("demo", DEMO, &demo_env(10_000));
    demo.wait_for(&["[client]", "received token"], Duration::from_secs(20));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &demo.pid().to_string()])
        .status()
        .unwrap_or_else(|err| panic!("kill -INT: {err}"));
    assert!(sent.success());
    let status = demo.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "demo failed: {status}");
    let summary = demo.summary();
    assert_eq!(summary["contiguous"], "true", "{summary:?}");
    let pids = demo_children(&demo);
    assert_eq!(pids.len(), 4, "{pids:?}");
    assert_gone(&pids);
}
