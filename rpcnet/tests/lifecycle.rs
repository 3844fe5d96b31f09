//! The life of a call beyond its messages: deadlines, cancellation seen by the handler, and
//! graceful server shutdown with calls in flight; every test runs over HTTP/3 and HTTP/2.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rpcnet::{Client, ClientTransport, Code, Request, Streaming};

const EVENT_WAIT: Duration = Duration::from_secs(3);

async fn unary_deadline_exceeded_and_handler_cancelled(transport: ClientTransport) {
    let mut server = TestServer::default_config();
    let client = server.client(transport).await;
    bounded(20, async {
        let started = Instant::now();
        let status = client
            .unary::<Echo, Echo>(
                SLEEP,
                Request::new(Echo {
                    delay_ms: 10_000,
                    ..echo("slow unary")
                })
                .with_timeout(Duration::from_millis(300)),
            )
            .await
            .expect_err("the handler is slower than the deadline");
        let elapsed = started.elapsed();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
            "DEADLINE_EXCEEDED after {elapsed:?}"
        );
        let event = server.event_for("slow unary", EVENT_WAIT).await;
        assert_eq!(event.what, "cancelled");
        assert!(event.is_cancelled);

        // A call within its deadline is unaffected.
        let response = client
            .unary::<Echo, Echo>(
                SLEEP,
                Request::new(Echo {
                    delay_ms: 10,
                    ..echo("quick unary")
                })
                .with_timeout(Duration::from_secs(5)),
            )
            .await
            .expect("within the deadline");
        assert_eq!(response.get_ref().text, "quick unary");
        let event = server.event_for("quick unary", EVENT_WAIT).await;
        assert_eq!(event.what, "completed");
        assert!(!event.is_cancelled);
        assert_healthy(&client, "after deadline").await;
    })
    .await;
}

async fn server_deadline_enforced_without_client_timer(transport: ClientTransport) {
    // A raw client sends grpc-timeout but no timer of its own: the server must end the call.
    let mut server = TestServer::default_config();
    bounded(20, async {
        let mut raw = RawClient::connect(server.addr, transport).await;
        let started = Instant::now();
        let request = Echo {
            delay_ms: 10_000,
            ..echo("raw deadline")
        };
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            raw.call(
                SLEEP,
                "application/grpc",
                &[("grpc-timeout", "200m")],
                vec![frame(&request)],
            ),
        )
        .await
        .expect("the server ends the call by itself");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            response.grpc_status().map(|s| s.0),
            Some(Code::DeadlineExceeded as i32)
        );
        let event = server.event_for("raw deadline", EVENT_WAIT).await;
        assert_eq!(event.what, "cancelled");
    })
    .await;
}

async fn server_streaming_deadline_mid_stream(transport: ClientTransport) {
    let mut server = TestServer::default_config();
    let client = server.client(transport).await;
    bounded(20, async {
        let started = Instant::now();
        let mut stream = open_stream(
            &client,
            STALL,
            Request::new(Echo {
                count: 2,
                ..echo("stalled stream")
            })
            .with_timeout(Duration::from_millis(500)),
            2,
        )
        .await;
        let status = stream
            .message()
            .await
            .expect_err("the stream stalls past its deadline");
        let elapsed = started.elapsed();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
        assert!(
            elapsed >= Duration::from_millis(450) && elapsed < Duration::from_secs(2),
            "DEADLINE_EXCEEDED after {elapsed:?}"
        );
        let event = server.event_for("stalled stream", EVENT_WAIT).await;
        assert_eq!(event.what, "cancelled");
        assert!(event.is_cancelled);
        assert_healthy(&client, "after stream deadline").await;
    })
    .await;
}

async fn client_streaming_and_bidi_deadlines(transport: ClientTransport) {
    let server = TestServer::default_config();
    let client = server.client(transport).await;
    bounded(20, async {
        // An upload that never ends: the server's Sum handler waits for more until the
        // deadline.
        let endless = futures_util::stream::unfold(0u64, |i| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some((
                Echo {
                    id: i,
                    ..echo("tick")
                },
                i + 1,
            ))
        });
        let started = Instant::now();
        let status = client
            .client_streaming::<Echo, Echo, _>(
                SUM,
                Request::new(endless).with_timeout(Duration::from_millis(400)),
            )
            .await
            .expect_err("the upload outlives the deadline");
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );

        // A bidi call whose client stays silent: no reply ever comes, the deadline ends it.
        let silent = futures_util::stream::pending::<Echo>();
        let started = Instant::now();
        let outcome = client
            .bidi_streaming::<Echo, Echo, _>(
                CHAT,
                Request::new(silent).with_timeout(Duration::from_millis(400)),
            )
            .await;
        let status = match outcome {
            Err(status) => status,
            Ok(response) => response
                .into_inner()
                .message()
                .await
                .expect_err("no reply before the deadline"),
        };
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_healthy(&client, "after streaming deadlines").await;
    })
    .await;
}

async fn dropping_a_server_stream_cancels_a_writing_handler(transport: ClientTransport) {
    let mut server = TestServer::default_config();
    let client = server.client(transport).await;
    bounded(20, async {
        let stream = open_stream(
            &client,
            COUNT,
            Request::new(Echo {
                count: 100_000,
                delay_ms: 50,
                ..echo("ticker")
            }),
            2,
        )
        .await;
        let dropped = Instant::now();
        drop(stream);
        let event = server.event_for("ticker", EVENT_WAIT).await;
        assert_eq!(
            event.what, "cancelled",
            "the handler's write failed but ctx.cancelled() did not fire"
        );
        assert!(event.is_cancelled);
        assert!(
            dropped.elapsed() < Duration::from_secs(2),
            "{:?}",
            dropped.elapsed()
        );
        assert_healthy(&client, "after dropping a stream").await;
        assert_eq!(client.connections_opened(), 1);
    })
    .await;
}

async fn dropping_a_server_stream_cancels_an_idle_handler(transport: ClientTransport) {
    let mut server = TestServer::default_config();
    let client = server.client(transport).await;
    bounded(20, async {
        let stream = open_stream(
            &client,
            STALL,
            Request::new(Echo {
                count: 1,
                ..echo("idle stream")
            }),
            1,
        )
        .await;
        drop(stream);
        // The handler writes nothing more: only the client's STOP_SENDING can tell the server.
        let event = server.event_for("idle stream", EVENT_WAIT).await;
        assert_eq!(event.what, "cancelled");
        assert!(event.is_cancelled);
        assert_healthy(&client, "after dropping an idle stream").await;
    })
    .await;
}

async fn aborting_a_unary_call_cancels_the_handler(transport: ClientTransport) {
    let mut server = TestServer::default_config();
    let client = server.client(transport).await;
    bounded(20, async {
        let call = {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .unary::<Echo, Echo>(
                        SLEEP,
                        Request::new(Echo {
                            delay_ms: 15_000,
                            ..echo("aborted unary")
                        }),
                    )
                    .await
            })
        };
        // Let the request reach the handler, then give up on the call.
        tokio::time::sleep(Duration::from_millis(300)).await;
        call.abort();
        assert!(call.await.expect_err("aborted").is_cancelled());
        let event = server.event_for("aborted unary", EVENT_WAIT).await;
        assert_eq!(event.what, "cancelled");
        assert!(event.is_cancelled);

        // Dropping the call future (here by a client-side timeout without grpc-timeout) is the
        // same cancellation.
        let dropped = tokio::time::timeout(
            Duration::from_millis(300),
            client.unary::<Echo, Echo>(
                SLEEP,
                Request::new(Echo {
                    delay_ms: 15_000,
                    ..echo("dropped unary")
                }),
            ),
        )
        .await;
        assert!(dropped.is_err(), "the call cannot finish in 300 ms");
        let event = server.event_for("dropped unary", EVENT_WAIT).await;
        assert_eq!(event.what, "cancelled");
        assert_healthy(&client, "after aborted calls").await;
    })
    .await;
}

async fn a_closed_client_connection_cancels_its_calls(transport: ClientTransport) {
    let mut server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(transport).await;
        let call = {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .unary::<Echo, Echo>(
                        SLEEP,
                        Request::new(Echo {
                            delay_ms: 15_000,
                            ..echo("orphaned unary")
                        }),
                    )
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Dropping every handle of the client closes its connection (H3_NO_ERROR).
        call.abort();
        let _ = call.await;
        drop(client);
        let event = server.event_for("orphaned unary", EVENT_WAIT).await;
        assert_eq!(event.what, "cancelled");
        assert!(event.is_cancelled);
    })
    .await;
}

async fn graceful_shutdown_lets_an_in_flight_stream_finish(transport: ClientTransport) {
    // Grace is 3 s (see `server_config`); the stream needs about 1 s more after shutdown.
    let mut server = TestServer::default_config();
    let client = server.client(transport).await;
    bounded(20, async {
        let mut stream = open_stream(
            &client,
            COUNT,
            Request::new(Echo {
                count: 10,
                delay_ms: 100,
                ..echo("draining")
            }),
            1,
        )
        .await;

        let shutdown_at = Instant::now();
        server.shutdown.shutdown();

        // New calls are refused once the GOAWAY arrived, while the stream goes on.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let refused = client
            .unary::<Echo, Echo>(ECHO, Request::new(echo("too late")))
            .await
            .expect_err("no new calls after GOAWAY");
        assert_eq!(refused.code(), Code::Unavailable, "{refused}");

        let mut ids = vec![0];
        while let Some(message) = stream
            .message()
            .await
            .expect("the stream completes cleanly")
        {
            ids.push(message.id);
        }
        assert_eq!(ids, (0..10).collect::<Vec<u64>>());
        assert!(stream.trailers().is_some(), "the OK status arrived");
        let event = server.event_for("draining", EVENT_WAIT).await;
        assert_eq!(event.what, "finished");

        let serve = &mut server.serve;
        let result = tokio::time::timeout(Duration::from_secs(5), serve)
            .await
            .expect("serve() returns within the grace");
        result.expect("serve task").expect("serve() result");
        let took = shutdown_at.elapsed();
        assert!(
            took < Duration::from_secs(4),
            "serve() returned after {took:?}"
        );
    })
    .await;
}

async fn shutdown_with_an_idle_connection_returns_promptly(transport: ClientTransport) {
    let mut server = TestServer::default_config();
    let client = server.client(transport).await;
    bounded(20, async {
        assert_healthy(&client, "before shutdown").await;
        let started = Instant::now();
        server.shutdown.shutdown();
        let serve = &mut server.serve;
        tokio::time::timeout(Duration::from_secs(5), serve)
            .await
            .expect("serve() returns")
            .expect("serve task")
            .expect("serve() result");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}

/// Starts a server-streaming call and checks that its first `first` messages carry ids
/// 0, 1, ...; returns the stream positioned after them.
async fn open_stream(
    client: &Client,
    path: &'static str,
    request: Request<Echo>,
    first: u64,
) -> Streaming<Echo> {
    let mut stream = client
        .server_streaming::<Echo, Echo>(path, request)
        .await
        .expect("the stream starts")
        .into_inner();
    for id in 0..first {
        let message = stream
            .message()
            .await
            .expect("message")
            .expect("not the end");
        assert_eq!(message.id, id);
    }
    stream
}

over_both_transports!(
    unary_deadline_exceeded_and_handler_cancelled,
    server_deadline_enforced_without_client_timer,
    server_streaming_deadline_mid_stream,
    client_streaming_and_bidi_deadlines,
    dropping_a_server_stream_cancels_a_writing_handler,
    dropping_a_server_stream_cancels_an_idle_handler,
    aborting_a_unary_call_cancels_the_handler,
    a_closed_client_connection_cancels_its_calls,
    graceful_shutdown_lets_an_in_flight_stream_finish,
    shutdown_with_an_idle_connection_returns_promptly,
);
