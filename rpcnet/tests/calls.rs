//! Round trips of the four call kinds, message framing independent of DATA frames, metadata
//! in both directions, and many concurrent calls on one connection; every test runs over
//! HTTP/3 (`http3::`) and HTTP/2 (`http2::`).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures_util::StreamExt;
use rpcnet::{ClientTransport, Code, Request};

async fn unary_round_trip(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(transport).await;
        let request = Echo {
            id: 42,
            text: "hello".into(),
            payload: (0..=255u8).collect(),
            ..Echo::default()
        };
        let response = client
            .unary::<Echo, Echo>(ECHO, Request::new(request.clone()))
            .await
            .expect("unary call");
        assert_eq!(response.into_inner(), request);

        // A large (1 MiB) message crosses many QUIC packets and reads.
        let big = Echo {
            payload: (0..1024 * 1024).map(|i| (i % 251) as u8).collect(),
            ..echo("big")
        };
        let response = client
            .unary::<Echo, Echo>(ECHO, Request::new(big.clone()))
            .await
            .expect("1 MiB unary call");
        assert_eq!(response.into_inner(), big);

        // The empty message (zero-length body) is a valid request and response.
        let response = client
            .unary::<Echo, Echo>(ECHO, Request::new(Echo::default()))
            .await
            .expect("empty message");
        assert_eq!(response.into_inner(), Echo::default());
        assert_eq!(client.connections_opened(), 1);
    })
    .await;
}

async fn server_streaming_round_trip(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(transport).await;
        let request = Echo {
            count: 25,
            payload: vec![1, 2, 3],
            ..echo("stream")
        };
        let response = client
            .server_streaming::<Echo, Echo>(COUNT, Request::new(request))
            .await
            .expect("server streaming call");
        let mut stream = response.into_inner();
        let mut ids = Vec::new();
        while let Some(message) = stream.message().await.expect("stream message") {
            assert_eq!(message.text, "stream");
            assert_eq!(message.payload, vec![1, 2, 3]);
            ids.push(message.id);
        }
        assert_eq!(ids, (0..25).collect::<Vec<u64>>());
        assert!(stream.trailers().is_some(), "OK trailers were received");
        // After the end the stream stays ended.
        assert!(stream.message().await.expect("after end").is_none());

        // Zero messages, then OK.
        let response = client
            .server_streaming::<Echo, Echo>(COUNT, Request::new(echo("none")))
            .await
            .expect("empty stream call");
        let mut stream = response.into_inner();
        assert!(stream.message().await.expect("empty stream").is_none());
    })
    .await;
}

async fn client_streaming_round_trip_with_coalesced_frames(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(transport).await;

        // All 50 messages are ready at once, so the uploader packs them into one DATA frame:
        // the server must split several messages out of one frame.
        let messages: Vec<Echo> = (0..50)
            .map(|i| Echo {
                id: i,
                text: format!("m{i}"),
                payload: vec![i as u8; 10],
                ..Echo::default()
            })
            .collect();
        let expected_text = (0..50)
            .map(|i| format!("m{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let response = client
            .client_streaming::<Echo, Echo, _>(
                SUM,
                Request::new(futures_util::stream::iter(messages)),
            )
            .await
            .expect("client streaming call");
        let sum = response.into_inner();
        assert_eq!(sum.id, 50);
        assert_eq!(sum.count, 500);
        assert_eq!(sum.text, expected_text);

        // 300 messages of 1 KiB: more than one coalesced frame (64 KiB each), so messages
        // also straddle frame boundaries.
        let messages = (0..300).map(|i| Echo {
            id: i,
            payload: vec![0xAB; 1024],
            ..Echo::default()
        });
        let response = client
            .client_streaming::<Echo, Echo, _>(
                SUM,
                Request::new(futures_util::stream::iter(messages)),
            )
            .await
            .expect("client streaming call (300 messages)");
        assert_eq!(response.get_ref().id, 300);
        assert_eq!(response.get_ref().count, 300 * 1024);

        // A stream that yields slowly: one frame per message.
        let slow = futures_util::stream::iter(0..3u64).then(|i| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Echo {
                id: i,
                text: format!("s{i}"),
                ..Echo::default()
            }
        });
        let response = client
            .client_streaming::<Echo, Echo, _>(SUM, Request::new(slow))
            .await
            .expect("slow client streaming call");
        assert_eq!(response.get_ref().text, "s0,s1,s2");

        // No messages at all.
        let response = client
            .client_streaming::<Echo, Echo, _>(
                SUM,
                Request::new(futures_util::stream::iter(Vec::<Echo>::new())),
            )
            .await
            .expect("empty client stream");
        assert_eq!(response.get_ref().id, 0);
    })
    .await;
}

async fn bidi_streaming_round_trip_interleaved(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(transport).await;
        // Requests are fed one at a time and each answer is awaited before the next request:
        // proves true interleaving rather than upload-then-download.
        let (tx, rx) = tokio::sync::mpsc::channel::<Echo>(1);
        let requests = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let response = client
            .bidi_streaming::<Echo, Echo, _>(CHAT, Request::new(requests))
            .await
            .expect("bidi call");
        let mut replies = response.into_inner();
        for i in 1..=5u64 {
            tx.send(Echo {
                id: i,
                text: format!("word{i}"),
                ..Echo::default()
            })
            .await
            .expect("queue request");
            let reply = replies
                .message()
                .await
                .expect("reply")
                .expect("a reply, not the end");
            assert_eq!(reply.id, i * 10);
            assert_eq!(reply.text, format!("WORD{i}"));
        }
        drop(tx);
        assert!(replies.message().await.expect("clean end").is_none());
        assert!(replies.trailers().is_some());
    })
    .await;
}

async fn raw_message_split_over_several_data_frames(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let mut raw = RawClient::connect(server.addr, transport).await;
        let message = Echo {
            id: 7,
            text: "split".into(),
            payload: (0..3000).map(|i| (i % 256) as u8).collect(),
            ..Echo::default()
        };
        let bytes = frame(&message);
        // Four DATA frames: inside the prefix, inside the body, and the rest.
        let chunks = vec![
            bytes.slice(0..2),
            bytes.slice(2..100),
            bytes.slice(100..1500),
            bytes.slice(1500..),
        ];
        let response = raw.call(ECHO, "application/grpc", &[], chunks).await;
        assert_eq!(response.status, http::StatusCode::OK);
        assert_eq!(response.grpc_status(), Some((0, String::new())));
        assert_eq!(response.messages(), vec![message]);

        // One byte per DATA frame for a small message.
        let small = echo("tiny");
        let bytes = frame(&small);
        let chunks = (0..bytes.len()).map(|i| bytes.slice(i..i + 1)).collect();
        let response = raw.call(ECHO, "application/grpc+proto", &[], chunks).await;
        assert_eq!(response.grpc_status(), Some((0, String::new())));
        assert_eq!(response.messages(), vec![small]);
    })
    .await;
}

async fn raw_several_messages_in_one_data_frame(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let mut raw = RawClient::connect(server.addr, transport).await;
        let mut body = Vec::new();
        for text in ["a", "bb", "ccc"] {
            body.extend_from_slice(&frame(&Echo {
                payload: vec![1; 5],
                ..echo(text)
            }));
        }
        let response = raw
            .call(SUM, "application/grpc", &[], vec![Bytes::from(body)])
            .await;
        assert_eq!(response.grpc_status(), Some((0, String::new())));
        let replies = response.messages();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].id, 3);
        assert_eq!(replies[0].count, 15);
        assert_eq!(replies[0].text, "a,bb,ccc");

        // Three messages in one frame, the third one spilling into a second frame.
        let mut first = Vec::new();
        for text in ["x", "y"] {
            first.extend_from_slice(&frame(&echo(text)));
        }
        let third = frame(&echo("zzzz"));
        first.extend_from_slice(&third[..4]);
        let response = raw
            .call(
                SUM,
                "application/grpc",
                &[],
                vec![Bytes::from(first), third.slice(4..)],
            )
            .await;
        assert_eq!(response.grpc_status(), Some((0, String::new())));
        assert_eq!(response.messages()[0].text, "x,y,zzzz");
    })
    .await;
}

async fn metadata_both_ways(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(transport).await;
        let blob: Vec<u8> = vec![0x00, 0xff, 0x00, 0x7f, 0x80, 0xfe, b'a', 0x00];
        let mut request = Request::new(echo("md"));
        request
            .metadata_mut()
            .insert("x-ascii", "plain value with spaces; and=symbols")
            .expect("ascii metadata");
        request
            .metadata_mut()
            .insert_bin("x-blob-bin", &blob)
            .expect("binary metadata");
        let response = client
            .unary::<Echo, Echo>(INSPECT, request)
            .await
            .expect("inspect call");
        assert_eq!(
            response.get_ref().text,
            "plain value with spaces; and=symbols"
        );
        assert_eq!(response.get_ref().payload, blob);
        assert_eq!(response.metadata().get("x-served-by"), Some("tester"));
        assert_eq!(
            response.metadata().get_bin("x-reply-bin"),
            Some(Ok(vec![0x00, 0xff, 0x10, 0x00]))
        );
        // The transport's own headers are not metadata.
        assert_eq!(response.metadata().get("content-type"), None);

        // Every byte value survives a -bin round trip.
        let all: Vec<u8> = (0..=255u8).collect();
        let mut request = Request::new(echo("md-all"));
        request
            .metadata_mut()
            .insert_bin("x-blob-bin", &all)
            .expect("binary metadata");
        let response = client
            .unary::<Echo, Echo>(INSPECT, request)
            .await
            .expect("inspect call");
        assert_eq!(response.get_ref().payload, all);
    })
    .await;
}

async fn metadata_from_a_raw_client_with_padded_base64(transport: ClientTransport) {
    // The spec requires accepting padded base64 in -bin values; rpcnet emits unpadded.
    let server = TestServer::default_config();
    bounded(20, async {
        let mut raw = RawClient::connect(server.addr, transport).await;
        let response = raw
            .call(
                INSPECT,
                "application/grpc",
                &[("x-ascii", "raw"), ("x-blob-bin", "AP8=")],
                vec![frame(&echo("raw"))],
            )
            .await;
        assert_eq!(response.grpc_status(), Some((0, String::new())));
        let reply = &response.messages()[0];
        assert_eq!(reply.text, "raw");
        assert_eq!(reply.payload, vec![0x00, 0xff]);
        assert_eq!(
            response.headers.get("x-reply-bin").map(|v| v.as_bytes()),
            Some(&b"AP8QAA"[..]),
            "unpadded base64 on the wire"
        );
    })
    .await;
}

async fn a_thousand_concurrent_unary_calls_share_one_connection(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(45, async {
        let client = server.client(transport).await;
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..1000u64 {
            let client = client.clone();
            calls.spawn(async move {
                let request = Echo {
                    id: i,
                    text: format!("call-{i}"),
                    ..Echo::default()
                };
                let response = client
                    .unary::<Echo, Echo>(ECHO, Request::new(request))
                    .await;
                (i, response)
            });
        }
        let mut ok = 0;
        while let Some(joined) = calls.join_next().await {
            let (i, response) = joined.expect("call task");
            let response = response.unwrap_or_else(|s| panic!("call {i} failed: {s}"));
            assert_eq!(response.get_ref().id, i);
            assert_eq!(response.get_ref().text, format!("call-{i}"));
            ok += 1;
        }
        assert_eq!(ok, 1000);
        assert_eq!(client.connections_opened(), 1);
    })
    .await;
}

async fn streaming_error_status_after_messages(transport: ClientTransport) {
    // A server-streaming call that ends OK carries trailers; one that ends with an error
    // after messages keeps the messages and reports the status.
    let server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(transport).await;
        let response = client
            .server_streaming::<Echo, Echo>(
                COUNT,
                Request::new(Echo {
                    count: 2,
                    code: Code::Aborted as i32,
                    ..echo("after two")
                }),
            )
            .await
            .expect("stream starts");
        let mut stream = response.into_inner();
        assert_eq!(
            stream.message().await.expect("first").map(|m| m.id),
            Some(0)
        );
        assert_eq!(
            stream.message().await.expect("second").map(|m| m.id),
            Some(1)
        );
        let status = stream.message().await.expect_err("the error status");
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(status.message(), "after two");
    })
    .await;
}

over_both_transports!(
    unary_round_trip,
    server_streaming_round_trip,
    client_streaming_round_trip_with_coalesced_frames,
    bidi_streaming_round_trip_interleaved,
    raw_message_split_over_several_data_frames,
    raw_several_messages_in_one_data_frame,
    metadata_both_ways,
    metadata_from_a_raw_client_with_padded_base64,
    a_thousand_concurrent_unary_calls_share_one_connection,
    streaming_error_status_after_messages,
);
