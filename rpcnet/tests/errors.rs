//! Failure paths: every status code end to end, message size limits in both directions, and
//! protocol errors sent by a raw HTTP/3 or HTTP/2 client (routing, method, content-type,
//! framing, encoding); every test runs over both transports.

mod common;

use bytes::Bytes;
use common::*;
use rpcnet::{ClientTransport, Code, Request};

async fn every_status_code_round_trips(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(30, async {
        let client = server.client(transport).await;
        let details: Vec<u8> = vec![0x00, 0xff, 0x08, 0x96, 0x01, 0x00];
        for code in Code::ALL {
            let text = format!("code {} ({})", code as i32, code.as_str());
            let request = Echo {
                code: code as i32,
                payload: details.clone(),
                ..echo(&text)
            };
            if code == Code::Ok {
                // OK is what a handler's `Ok(response)` produces.
                let response = client
                    .unary::<Echo, Echo>(ECHO, Request::new(request.clone()))
                    .await
                    .expect("OK call");
                assert_eq!(response.get_ref().text, text);
                continue;
            }

            // As a Trailers-Only response from a unary handler.
            let status = client
                .unary::<Echo, Echo>(FAIL, Request::new(request.clone()))
                .await
                .expect_err("the handler fails");
            assert_eq!(status.code(), code, "{status}");
            assert_eq!(status.message(), text);
            assert_eq!(status.details(), &details[..], "details of {code}");
            assert_eq!(status.metadata().get("x-error-tag"), Some("fail-handler"));

            // In trailers after a streamed message.
            let response = client
                .server_streaming::<Echo, Echo>(
                    COUNT,
                    Request::new(Echo {
                        count: 1,
                        ..request
                    }),
                )
                .await
                .expect("the stream starts");
            let mut stream = response.into_inner();
            assert!(stream.message().await.expect("first message").is_some());
            let status = stream.message().await.expect_err("the stream fails");
            assert_eq!(status.code(), code, "{status}");
            assert_eq!(status.message(), text);
        }
    })
    .await;
}

async fn non_ascii_status_message_and_details_round_trip(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(transport).await;
        for message in [
            "délai dépassé ✓ 100%",
            "%41 is not A, %% and % stay",
            "line\nbreak\ttab \u{7f} and \u{1F600}",
            "",
        ] {
            let details: Vec<u8> = (0..=255u8).rev().collect();
            let status = client
                .unary::<Echo, Echo>(
                    FAIL,
                    Request::new(Echo {
                        code: Code::FailedPrecondition as i32,
                        payload: details.clone(),
                        ..echo(message)
                    }),
                )
                .await
                .expect_err("the handler fails");
            assert_eq!(status.code(), Code::FailedPrecondition);
            assert_eq!(status.message(), message);
            assert_eq!(status.details(), &details[..]);
        }
    })
    .await;
}

/// The announced length in a "message of N bytes exceeds the limit of L bytes" status.
fn announced_len(message: &str) -> usize {
    let rest = message
        .strip_prefix("message of ")
        .unwrap_or_else(|| panic!("unexpected message {message:?}"));
    rest.split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

async fn oversized_request_with_the_default_limit(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(30, async {
        let client = server.client(transport).await;
        let request = Echo {
            payload: vec![0x5a; 5 * 1024 * 1024],
            ..echo("too big")
        };
        let status = client
            .unary::<Echo, Echo>(ECHO, Request::new(request))
            .await
            .expect_err("5 MiB is over the 4 MiB default");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
        assert!(
            status
                .message()
                .ends_with("exceeds the limit of 4194304 bytes"),
            "{status}"
        );
        assert!(
            announced_len(status.message()) > 5 * 1024 * 1024,
            "{status}"
        );

        // The same server and the same connection go on serving.
        assert_healthy(&client, "after oversized").await;
        assert_eq!(client.connections_opened(), 1);

        // Exactly at the limit is accepted (4 MiB body including the protobuf overhead).
        let at_limit = Echo {
            payload: vec![1; 4 * 1024 * 1024 - 5],
            ..Echo::default()
        };
        assert_eq!(prost::Message::encoded_len(&at_limit), 4 * 1024 * 1024);
        let response = client
            .unary::<Echo, Echo>(ECHO, Request::new(at_limit))
            .await;
        // The echo is as large, which the client's own 4 MiB default also accepts.
        assert_eq!(
            response.expect("at the limit").get_ref().payload.len(),
            4 * 1024 * 1024 - 5
        );
    })
    .await;
}

async fn oversized_request_with_a_configured_limit(transport: ClientTransport) {
    let server = TestServer::start(server_config().max_message_size(1024));
    bounded(20, async {
        let client = server.client(transport).await;
        let status = client
            .unary::<Echo, Echo>(
                ECHO,
                Request::new(Echo {
                    payload: vec![1; 2000],
                    ..Echo::default()
                }),
            )
            .await
            .expect_err("over the 1 KiB limit");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
        assert!(status.message().contains("limit of 1024 bytes"), "{status}");
        assert_eq!(announced_len(status.message()), 2003);

        // Also in a client stream: the second message is too large.
        let messages = vec![
            Echo {
                payload: vec![1; 100],
                ..Echo::default()
            },
            Echo {
                payload: vec![2; 5000],
                ..Echo::default()
            },
        ];
        let status = client
            .client_streaming::<Echo, Echo, _>(
                SUM,
                Request::new(futures_util::stream::iter(messages)),
            )
            .await
            .expect_err("the second message is over the limit");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
        assert!(status.message().contains("limit of 1024 bytes"), "{status}");

        assert_healthy(&client, "after configured limit").await;
        assert_eq!(client.connections_opened(), 1);
    })
    .await;
}

async fn oversized_response_against_the_client_limit(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let client =
            rpcnet::Client::connect(server.addr, client_config(transport).max_message_size(1000))
                .await
                .expect("connect");
        let status = client
            .unary::<Echo, Echo>(
                BIG,
                Request::new(Echo {
                    count: 5000,
                    ..Echo::default()
                }),
            )
            .await
            .expect_err("the response is over the client's limit");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
        assert!(status.message().contains("limit of 1000 bytes"), "{status}");
        assert_eq!(announced_len(status.message()), 5003);

        // Under the limit works, on the same connection.
        let response = client
            .unary::<Echo, Echo>(
                BIG,
                Request::new(Echo {
                    count: 900,
                    ..Echo::default()
                }),
            )
            .await
            .expect("under the limit");
        assert_eq!(response.get_ref().payload.len(), 900);
        assert_healthy(&client, "after oversized response").await;
        assert_eq!(client.connections_opened(), 1);
    })
    .await;
}

async fn unknown_method_and_unknown_service_are_unimplemented(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let client = server.client(transport).await;
        for path in [
            "/rpctest.Tester/NoSuchMethod",
            "/rpctest.Tester/echo",
            "/rpctest.NoSuchService/Echo",
            "/rpctest.Tester",
        ] {
            let status = client
                .unary::<Echo, Echo>(path, Request::new(echo("lost")))
                .await
                .expect_err("not routable");
            assert_eq!(status.code(), Code::Unimplemented, "{path}: {status}");
            assert!(!status.message().is_empty(), "{path}: no message");
        }
        let status = client
            .unary::<Echo, Echo>("/rpctest.NoSuchService/Echo", Request::new(echo("lost")))
            .await
            .expect_err("unknown service");
        assert!(
            status.message().contains("rpctest.NoSuchService"),
            "{status}"
        );
        // Streaming kinds too.
        let status = client
            .server_streaming::<Echo, Echo>("/rpctest.Tester/Nope", Request::new(echo("x")))
            .await
            .expect_err("unknown streaming method");
        assert_eq!(status.code(), Code::Unimplemented);
        assert_healthy(&client, "after unimplemented").await;
    })
    .await;
}

async fn raw_protocol_errors(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(30, async {
        let mut raw = RawClient::connect(server.addr, transport).await;

        // Wrong content-type: plain HTTP 415, no gRPC status.
        let response = raw
            .call(ECHO, "text/plain", &[], vec![frame(&echo("x"))])
            .await;
        assert_eq!(response.status, http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(response.grpc_status(), None);

        // A method other than POST: plain HTTP 405, no gRPC status, before the content-type.
        for method in [http::Method::GET, http::Method::PUT] {
            let response = raw
                .call_with_method(method.clone(), ECHO, "text/plain", &[], vec![])
                .await;
            assert_eq!(
                response.status,
                http::StatusCode::METHOD_NOT_ALLOWED,
                "{method}"
            );
            assert_eq!(response.grpc_status(), None, "{method}");
        }

        // A prefix announcing 100 bytes, 10 bytes, then the end of the stream.
        let mut truncated = vec![0u8, 0, 0, 0, 100];
        truncated.extend_from_slice(&[1; 10]);
        let response = raw
            .call(ECHO, "application/grpc", &[], vec![Bytes::from(truncated)])
            .await;
        let (code, message) = response.grpc_status().expect("a grpc-status");
        assert_eq!(code, Code::Internal as i32, "{message}");
        assert!(
            message.contains("15%20of%20105") || message.contains("15 of 105"),
            "{message}"
        );

        // Compressed flag without grpc-encoding.
        let mut compressed = frame(&echo("c")).to_vec();
        compressed[0] = 1;
        let response = raw
            .call(ECHO, "application/grpc", &[], vec![Bytes::from(compressed)])
            .await;
        let (code, message) = response.grpc_status().expect("a grpc-status");
        assert_eq!(code, Code::Internal as i32, "{message}");

        // An undefined flag value.
        let mut bad_flag = frame(&echo("f")).to_vec();
        bad_flag[0] = 0x80;
        let response = raw
            .call(ECHO, "application/grpc", &[], vec![Bytes::from(bad_flag)])
            .await;
        assert_eq!(
            response.grpc_status().map(|s| s.0),
            Some(Code::Internal as i32)
        );

        // A compression the server does not speak.
        let response = raw
            .call(
                ECHO,
                "application/grpc",
                &[("grpc-encoding", "gzip")],
                vec![frame(&echo("g"))],
            )
            .await;
        let (code, message) = response.grpc_status().expect("a grpc-status");
        assert_eq!(code, Code::Unimplemented as i32, "{message}");

        // A unary call without any message.
        let response = raw.call(ECHO, "application/grpc", &[], vec![]).await;
        assert_eq!(
            response.grpc_status().map(|s| s.0),
            Some(Code::Internal as i32)
        );

        // A body that is not a valid Echo (field 2 announces 5 bytes, has 1).
        let mut garbage = vec![0u8, 0, 0, 0, 3];
        garbage.extend_from_slice(b"\x12\x05h");
        let response = raw
            .call(ECHO, "application/grpc", &[], vec![Bytes::from(garbage)])
            .await;
        assert_eq!(
            response.grpc_status().map(|s| s.0),
            Some(Code::Internal as i32)
        );

        // A malformed grpc-timeout.
        let response = raw
            .call(
                ECHO,
                "application/grpc",
                &[("grpc-timeout", "soon")],
                vec![frame(&echo("t"))],
            )
            .await;
        assert_eq!(
            response.grpc_status().map(|s| s.0),
            Some(Code::InvalidArgument as i32)
        );

        // Nothing above killed the connection or the server.
        assert!(raw.is_open());
        let response = raw
            .call(
                ECHO,
                "application/grpc",
                &[],
                vec![frame(&echo("still here"))],
            )
            .await;
        assert_eq!(response.grpc_status(), Some((0, String::new())));
        assert_eq!(response.messages(), vec![echo("still here")]);
        let client = server.client(transport).await;
        assert_healthy(&client, "after raw errors").await;
    })
    .await;
}

over_both_transports!(
    every_status_code_round_trips,
    non_ascii_status_message_and_details_round_trip,
    oversized_request_with_the_default_limit,
    oversized_request_with_a_configured_limit,
    oversized_response_against_the_client_limit,
    unknown_method_and_unknown_service_are_unimplemented,
    raw_protocol_errors,
);
