//! Behaviour that involves the choice of transport: trailing metadata on OK, the deadline rule
//! on the wire, HTTP/2 cancellation by RST_STREAM, what a handler learns of its transport and
//! connection, `alt-svc`, and the automatic mode (HTTP/3 preferred, HTTP/2 as the fallback).

mod common;

use std::time::{Duration, Instant};

use common::*;
use rpcnet::{Client, ClientTransport, Code, Request, Transport};

const EVENT_WAIT: Duration = Duration::from_secs(3);

async fn trailing_metadata_on_ok_reaches_the_client(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(transport).await;
        let request = Echo {
            payload: vec![0x00, 0xff, 0x80],
            ..echo("trailing")
        };
        let response = client
            .unary::<Echo, Echo>(TRAIL, Request::new(request))
            .await
            .expect("unary call");
        assert_eq!(response.trailers().get("x-trail"), Some("trailing"));
        assert_eq!(
            response.trailers().get_bin("x-trail-bin"),
            Some(Ok(vec![0x00, 0xff, 0x80]))
        );
        // Trailing metadata is not initial metadata.
        assert_eq!(response.metadata().get("x-trail"), None);

        let mut stream = client
            .server_streaming::<Echo, Echo>(
                COUNT,
                Request::new(Echo {
                    count: 3,
                    ..echo("counted")
                }),
            )
            .await
            .expect("streaming call")
            .into_inner();
        assert!(stream.trailers().is_none(), "no trailers before the end");
        let mut received = 0;
        while stream.message().await.expect("message").is_some() {
            received += 1;
        }
        assert_eq!(received, 3);
        let trailers = stream.trailers().expect("OK trailers");
        assert_eq!(trailers.get("x-count"), Some("3"));
    })
    .await;
}

async fn an_ok_after_the_deadline_is_deadline_exceeded_on_the_wire(transport: ClientTransport) {
    // A raw client has no timer of its own, so what it reads is what the server sent.
    let server = TestServer::default_config();
    bounded(30, async {
        let mut raw = RawClient::connect(server.addr, transport).await;
        let mut codes = Vec::new();
        for i in 0..50u64 {
            let timeout = format!("{}m", 5 + i % 16);
            let request = Echo {
                // The handler returns OK 0 to 2 ms after the deadline: the tightest races.
                delay_ms: i % 3,
                ..echo("late")
            };
            let response = raw
                .call(
                    LATE,
                    "application/grpc",
                    &[("grpc-timeout", &timeout)],
                    vec![frame(&request)],
                )
                .await;
            let (code, message) = response.grpc_status().expect("a grpc-status");
            codes.push((code, message, timeout));
        }
        let ok: Vec<_> = codes.iter().filter(|(code, ..)| *code == 0).collect();
        assert!(ok.is_empty(), "OK after the deadline: {ok:?}");
        for (code, message, timeout) in &codes {
            assert_eq!(*code, Code::DeadlineExceeded as i32, "{timeout}: {message}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rst_stream_cancel_on_http2_cancels_the_handler() {
    let mut server = TestServer::default_config();
    bounded(20, async {
        let mut raw = RawClient::connect(server.addr, ClientTransport::Http2).await;
        let request = Echo {
            delay_ms: 15_000,
            ..echo("reset by the client")
        };
        let started = Instant::now();
        raw.call_then_cancel(SLEEP, frame(&request), Duration::from_millis(300))
            .await;
        let event = server.event_for("reset by the client", EVENT_WAIT).await;
        assert_eq!(event.what, "cancelled");
        assert!(event.is_cancelled);
        assert!(started.elapsed() < Duration::from_secs(2));
        // The connection survives a reset stream.
        let response = raw
            .call(ECHO, "application/grpc", &[], vec![frame(&echo("after"))])
            .await;
        assert_eq!(response.grpc_status(), Some((0, String::new())));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_see_their_transport_and_one_connection_counter() {
    let server = TestServer::default_config();
    bounded(20, async {
        let mut seen = Vec::new();
        for mode in [ClientTransport::Http3, ClientTransport::Http2] {
            let client = server.client(mode).await;
            let response = client
                .unary::<Echo, Echo>(INSPECT, Request::new(echo("where")))
                .await
                .expect("inspect call");
            let transport = response.metadata().get("x-transport").map(str::to_string);
            assert_eq!(transport, Some(transport_of(mode).to_string()));
            let connection = response.metadata().get("x-connection").expect("conn");
            assert_eq!(connection, format!("conn-{}", response.get_ref().id));
            seen.push(response.get_ref().id);
        }
        assert_ne!(seen[0], seen[1], "one counter across both transports");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_responses_advertise_http3_only_when_it_is_served() {
    let both = TestServer::default_config();
    let tcp_only = TestServer::start(server_config().http3(false));
    bounded(20, async {
        assert_eq!(both.transports, vec![Transport::Http3, Transport::Http2]);
        assert_eq!(tcp_only.transports, vec![Transport::Http2]);
        let expected = format!("h3=\":{}\"; ma=86400", both.addr.port());
        let mut raw = RawClient::connect(both.addr, ClientTransport::Http2).await;
        let ok = raw
            .call(ECHO, "application/grpc", &[], vec![frame(&echo("a"))])
            .await;
        let failed = raw
            .call(FAIL, "application/grpc", &[], vec![frame(&echo("b"))])
            .await;
        for response in [&ok, &failed] {
            let alt_svc = response.headers.get("alt-svc").map(|v| v.to_str().unwrap());
            assert_eq!(alt_svc, Some(expected.as_str()));
        }

        let mut raw = RawClient::connect(tcp_only.addr, ClientTransport::Http2).await;
        let response = raw
            .call(ECHO, "application/grpc", &[], vec![frame(&echo("c"))])
            .await;
        assert_eq!(response.grpc_status(), Some((0, String::new())));
        assert_eq!(response.headers.get("alt-svc"), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_prefers_http3_when_the_server_serves_both() {
    let server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(ClientTransport::Auto).await;
        assert_eq!(client.transport(), Some(Transport::Http3));
        let response = client
            .unary::<Echo, Echo>(INSPECT, Request::new(echo("auto")))
            .await
            .expect("call");
        assert_eq!(response.metadata().get("x-transport"), Some("HTTP/3"));
        assert_eq!(client.connections_opened(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_falls_back_to_http2_within_a_second_without_http3() {
    let server = TestServer::start(server_config().http3(false));
    bounded(20, async {
        let started = Instant::now();
        let client =
            Client::lazy(server.addr, client_config(ClientTransport::Auto)).expect("client");
        for i in 0..3 {
            let response = client
                .unary::<Echo, Echo>(INSPECT, Request::new(echo(&format!("fallback {i}"))))
                .await
                .expect("call over the fallback");
            assert_eq!(response.metadata().get("x-transport"), Some("HTTP/2"));
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "calls done after {took:?}");
        assert_eq!(client.transport(), Some(Transport::Http2));
        assert_eq!(client.connections_opened(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_one_transport_fails_against_a_server_without_it() {
    let tcp_only = TestServer::start(server_config().http3(false));
    let udp_only = TestServer::start(server_config().http2(false));
    bounded(20, async {
        assert_eq!(udp_only.transports, vec![Transport::Http3]);
        let config = client_config(ClientTransport::Http2).connect_timeout(Duration::from_secs(2));
        let err = Client::connect(udp_only.addr, config)
            .await
            .expect_err("nothing listens on TCP");
        assert!(err.to_string().contains("HTTP/2"), "{err}");
        let config =
            client_config(ClientTransport::Http3).connect_timeout(Duration::from_millis(500));
        Client::connect(tcp_only.addr, config)
            .await
            .expect_err("nothing speaks QUIC there");
    })
    .await;
}

over_both_transports!(
    trailing_metadata_on_ok_reaches_the_client,
    an_ok_after_the_deadline_is_deadline_exceeded_on_the_wire,
);
