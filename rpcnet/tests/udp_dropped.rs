//! The automatic mode where UDP is really dropped: each test runs this test binary again inside
//! a fresh network namespace (loopback only) whose firewall drops the server's UDP port, and
//! checks there that calls complete over HTTP/2 within a second, and that the client moves to
//! HTTP/3 once UDP passes again and the server's `alt-svc` has been seen.
//!
//! Needs root, `ip` (iproute2) and `iptables`; without them the tests fail and say why.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rpcnet::{Client, ClientTransport, Request, Transport};

/// The environment variable that tells the re-executed binary which scenario to run.
const SCENARIO_VAR: &str = "RPCNET_UDP_DROPPED_SCENARIO";

/// What the child prints when its scenario passed, so that a child which ran no test at all
/// (a renamed test, a filter that matched nothing) cannot pass for one that succeeded.
const PASSED_MARKER: &str = "udp-dropped scenario passed:";

/// How long a child may run before it is killed and the test fails.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn udp_dropped_auto_client_completes_calls_over_http2_within_a_second() {
    run_in_namespace("fallback");
}

#[test]
fn udp_dropped_then_restored_auto_client_moves_to_http3_after_alt_svc() {
    run_in_namespace("upgrade");
}

/// The scenarios, run by the re-executed binary inside the namespace.
#[test]
#[ignore = "a helper: run inside a network namespace by the udp_dropped_* tests"]
fn scenario_in_namespace() {
    let scenario = std::env::var(SCENARIO_VAR)
        .unwrap_or_else(|_| panic!("{SCENARIO_VAR} is not set: run by the udp_dropped_* tests"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        match scenario.as_str() {
            "fallback" => fallback().await,
            "upgrade" => upgrade().await,
            other => panic!("unknown scenario {other:?}"),
        }
    });
    println!("{PASSED_MARKER} {scenario}");
}

/// UDP to the server is dropped: an HTTP/3-only client cannot connect, and an automatic one
/// completes its calls over HTTP/2 within a second of starting.
async fn fallback() {
    let server = TestServer::default_config();
    let _rule = DropUdp::add(server.addr.port());
    bounded(30, async {
        let quic_only =
            client_config(ClientTransport::Http3).connect_timeout(Duration::from_millis(500));
        Client::connect(server.addr, quic_only)
            .await
            .expect_err("UDP is dropped, so QUIC cannot connect");

        let started = Instant::now();
        let client =
            Client::lazy(server.addr, client_config(ClientTransport::Auto)).expect("client");
        for i in 0..3 {
            let response = client
                .unary::<Echo, Echo>(INSPECT, Request::new(echo(&format!("fallback {i}"))))
                .await
                .expect("call over HTTP/2");
            assert_eq!(response.metadata().get("x-transport"), Some("HTTP/2"));
        }
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "calls completed after {took:?}"
        );
        assert_eq!(client.transport(), Some(Transport::Http2));
        assert_eq!(client.connections_opened(), 1);
    })
    .await;
}

/// The first connection lands on HTTP/2 because UDP is dropped; once UDP passes again, the
/// next response's `alt-svc` makes the client dial QUIC, and later calls run over HTTP/3.
async fn upgrade() {
    let server = TestServer::default_config();
    let rule = DropUdp::add(server.addr.port());
    bounded(30, async {
        let client = Client::connect(server.addr, client_config(ClientTransport::Auto))
            .await
            .expect("connects over HTTP/2");
        assert_eq!(client.transport(), Some(Transport::Http2));
        drop(rule);

        // This response carries alt-svc; the QUIC dial it starts now gets through.
        assert_healthy(&client, "sees alt-svc").await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while client.transport() != Some(Transport::Http3) {
            assert!(
                Instant::now() < deadline,
                "still on {:?} 5 s after alt-svc",
                client.transport()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let response = client
            .unary::<Echo, Echo>(INSPECT, Request::new(echo("upgraded")))
            .await
            .expect("call after the move");
        assert_eq!(response.metadata().get("x-transport"), Some("HTTP/3"));
        assert_eq!(client.connections_opened(), 2, "HTTP/2 and then HTTP/3");
    })
    .await;
}

/// An iptables rule dropping UDP to a port, in the current network namespace, removed on drop.
struct DropUdp(String);

impl DropUdp {
    fn add(port: u16) -> DropUdp {
        let port = port.to_string();
        must(iptables("-A", &port), "iptables -A");
        DropUdp(port)
    }
}

impl Drop for DropUdp {
    fn drop(&mut self) {
        let _ = iptables("-D", &self.0);
    }
}

fn iptables(action: &str, port: &str) -> std::io::Result<Output> {
    Command::new("iptables")
        .args([action, "INPUT", "-p", "udp", "--dport", port, "-j", "DROP"])
        .output()
}

/// Runs `scenario` in this binary, re-executed inside a new network namespace with only `lo`,
/// and fails unless it passed. The namespace is deleted whatever happens.
fn run_in_namespace(scenario: &str) {
    let uid = must(Command::new("id").arg("-u").output(), "id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "this test needs root (network namespaces and iptables); CI runs it as root"
    );
    must(
        Command::new("iptables").arg("--version").output(),
        "iptables --version (apt-get install iptables)",
    );
    let namespace = Namespace::create(scenario);
    let exe = std::env::current_exe().expect("test binary path");
    let child = Command::new("ip")
        .args(["netns", "exec", &namespace.0])
        .arg(exe)
        .args([
            "--exact",
            "scenario_in_namespace",
            "--include-ignored",
            "--nocapture",
        ])
        .env(SCENARIO_VAR, scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the scenario in the namespace");
    let output = wait_bounded(child, CHILD_TIMEOUT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(&format!("{PASSED_MARKER} {scenario}")),
        "scenario {scenario} failed in namespace {} ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        namespace.0,
        output.status
    );
}

/// A network namespace with loopback up, deleted on drop.
struct Namespace(String);

impl Namespace {
    fn create(scenario: &str) -> Namespace {
        let name = format!("rpcnet-{scenario}-{}", std::process::id());
        // A namespace left by a killed earlier run of the same pid would make `add` fail.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        must(
            Command::new("ip").args(["netns", "add", &name]).output(),
            "ip netns add",
        );
        let namespace = Namespace(name);
        must(
            Command::new("ip")
                .args(["-n", &namespace.0, "link", "set", "lo", "up"])
                .output(),
            "ip link set lo up",
        );
        namespace
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// The output of a command that must have run and succeeded.
fn must(result: std::io::Result<Output>, what: &str) -> Output {
    let output = result.unwrap_or_else(|err| panic!("{what}: could not run: {err}"));
    assert!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Waits for `child`, killing it after `timeout`.
fn wait_bounded(mut child: std::process::Child, timeout: Duration) -> Output {
    let started = Instant::now();
    loop {
        match child.try_wait().expect("wait for the scenario") {
            Some(_) => return child.wait_with_output().expect("scenario output"),
            None if started.elapsed() > timeout => {
                let _ = child.kill();
                let output = child.wait_with_output().expect("scenario output");
                panic!(
                    "the scenario did not finish within {timeout:?}:\n{}\n{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
