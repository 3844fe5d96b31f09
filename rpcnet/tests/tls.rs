//! TLS over real QUIC and TCP handshakes: server verification against the client's CA, and
//! mutual TLS with required and optional client certificates and the identity handlers see;
//! every test runs over HTTP/3 and HTTP/2.

mod common;

use std::time::Duration;

use common::*;
use rpcnet::{Client, ClientConfig, ClientTransport, Request, TlsAlert};

/// A fresh self-signed CA that signed nothing we serve.
fn rogue_ca(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rpcnet rogue test CA");
    let key = rcgen::KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    let path = dir.path().join("rogue-ca.pem");
    std::fs::write(&path, cert.pem()).expect("write CA");
    path
}

async fn client_with_the_wrong_ca_refuses_the_server(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = ClientConfig::new(rogue_ca(&dir))
            .expect("a valid CA file")
            .transport(transport)
            .connect_timeout(Duration::from_secs(5));
        let err = Client::connect(server.addr, config)
            .await
            .expect_err("the server certificate is not trusted");
        let text = err.to_string();
        eprintln!("wrong CA: {text}");
        assert!(
            text.contains("certificate") && text.contains("UnknownIssuer"),
            "unclear error: {text}"
        );
        assert!(
            text.contains(&server.addr.to_string()),
            "names the server: {text}"
        );
        // This side refused the server: the server sent no alert.
        assert_eq!(err.tls_alert(), None, "{err:?}");

        // The server is unaffected.
        assert_healthy(&server.client(transport).await, "after rogue client").await;
    })
    .await;
}

async fn client_refuses_a_server_name_the_certificate_does_not_cover(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let config = client_config(transport).server_name("not-localhost.example");
        let err = Client::connect(server.addr, config)
            .await
            .expect_err("wrong name");
        let text = err.to_string();
        assert!(text.contains("certificate"), "unclear error: {text}");
    })
    .await;
}

/// Connects with `config` to a server that refuses it at the TLS level, and returns the alert
/// the refusal carried: at connect or at the first call (in TLS 1.3 the client may finish its
/// handshake before the server checks its certificate), as `Error::tls_alert` or
/// `Status::tls_alert`, never from a message's text.
async fn refusal_alert(server: &TestServer, config: ClientConfig, tag: &str) -> TlsAlert {
    match Client::connect(server.addr, config).await {
        Err(err) => {
            eprintln!("{tag}: refused at connect: {err}");
            err.tls_alert()
                .unwrap_or_else(|| panic!("{tag}: no TLS alert in {err:?}"))
        }
        Ok(client) => {
            let status = client
                .unary::<Echo, Echo>(INSPECT, Request::new(echo(tag)))
                .await
                .expect_err("the server refuses the client");
            eprintln!("{tag}: refused at the first call: {status}");
            assert_eq!(status.code(), rpcnet::Code::Unavailable, "{status}");
            assert!(status.message().contains("refused"), "{status}");
            status
                .tls_alert()
                .unwrap_or_else(|| panic!("{tag}: no TLS alert in {status:?}"))
        }
    }
}

async fn required_client_certificate(transport: ClientTransport) {
    let config = server_config().client_ca(CA, true).expect("client CA");
    let mut server = TestServer::start(config);
    bounded(20, async {
        // Without a certificate: refused, with the alert that says so.
        let alert = refusal_alert(&server, client_config(transport), "anonymous").await;
        assert_eq!(alert, TlsAlert::CERTIFICATE_REQUIRED);
        assert_eq!(alert.to_string(), "certificate_required");

        // With the worker certificate: served, and the handler sees who it is.
        let config = client_config(transport)
            .identity(WORKER_CERT, WORKER_KEY)
            .expect("worker identity");
        let client = Client::connect(server.addr, config)
            .await
            .expect("mTLS connect");
        let response = client
            .unary::<Echo, Echo>(INSPECT, Request::new(echo("worker")))
            .await
            .expect("mTLS call");
        assert_eq!(response.get_ref().note, "cn=worker");

        // The identity is visible to streaming handlers too (same connection).
        let response = client
            .server_streaming::<Echo, Echo>(
                COUNT,
                Request::new(Echo {
                    count: 1,
                    ..echo("worker stream")
                }),
            )
            .await
            .expect("stream");
        let mut stream = response.into_inner();
        assert!(stream.message().await.expect("message").is_some());
        assert!(stream.message().await.expect("end").is_none());
        let event = server
            .event_for("worker stream", Duration::from_secs(3))
            .await;
        assert_eq!(event.what, "finished");
    })
    .await;
}

async fn refused_client_certificates_carry_the_servers_alert(transport: ClientTransport) {
    let config = server_config().client_ca(CA, false).expect("client CA");
    let server = TestServer::start(config);
    bounded(20, async {
        // A server certificate presented as a client certificate: the right CA, the wrong
        // purpose.
        let config = client_config(transport)
            .identity(SERVER_CERT, SERVER_KEY)
            .expect("server identity");
        let alert = refusal_alert(&server, config, "server certificate").await;
        assert_eq!(alert, TlsAlert::UNSUPPORTED_CERTIFICATE);

        // A certificate from a CA the server does not trust.
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key) = rogue_leaf(&dir);
        let config = client_config(transport)
            .identity(&cert, &key)
            .expect("rogue identity");
        let alert = refusal_alert(&server, config, "rogue certificate").await;
        assert_eq!(alert, TlsAlert::UNKNOWN_CA);

        // The server is unaffected.
        assert_healthy(&server.client(transport).await, "after refused clients").await;
    })
    .await;
}

/// A client certificate and key signed by a fresh CA that nobody trusts.
fn rogue_leaf(dir: &tempfile::TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut params = rcgen::CertificateParams::new(vec!["worker.test".to_owned()]).expect("leaf");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
    let cert_path = dir.path().join("rogue.pem");
    let key_path = dir.path().join("rogue.key");
    std::fs::write(&cert_path, cert.pem()).expect("write certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path)
}

async fn optional_client_certificate(transport: ClientTransport) {
    let config = server_config().client_ca(CA, false).expect("client CA");
    let server = TestServer::start(config);
    bounded(20, async {
        let anonymous = server.client(transport).await;
        let response = anonymous
            .unary::<Echo, Echo>(INSPECT, Request::new(echo("anonymous")))
            .await
            .expect("anonymous call");
        assert_eq!(response.get_ref().note, "anonymous");

        let config = client_config(transport)
            .identity(WORKER_CERT, WORKER_KEY)
            .expect("worker identity");
        let worker = Client::connect(server.addr, config)
            .await
            .expect("mTLS connect");
        let response = worker
            .unary::<Echo, Echo>(INSPECT, Request::new(echo("worker")))
            .await
            .expect("mTLS call");
        assert_eq!(response.get_ref().note, "cn=worker");
        // Different connections get different numbers.
        let anonymous_conn = anonymous
            .unary::<Echo, Echo>(INSPECT, Request::new(echo("again")))
            .await
            .expect("anonymous call")
            .get_ref()
            .id;
        assert_ne!(anonymous_conn, response.get_ref().id);
    })
    .await;
}

async fn a_server_without_client_ca_ignores_client_certificates(transport: ClientTransport) {
    let server = TestServer::default_config();
    bounded(20, async {
        let config = client_config(transport)
            .identity(WORKER_CERT, WORKER_KEY)
            .expect("worker identity");
        let client = Client::connect(server.addr, config).await.expect("connect");
        let response = client
            .unary::<Echo, Echo>(INSPECT, Request::new(echo("unasked")))
            .await
            .expect("call");
        assert_eq!(response.get_ref().note, "anonymous");
    })
    .await;
}

over_both_transports!(
    client_with_the_wrong_ca_refuses_the_server,
    client_refuses_a_server_name_the_certificate_does_not_cover,
    required_client_certificate,
    refused_client_certificates_carry_the_servers_alert,
    optional_client_certificate,
    a_server_without_client_ca_ignores_client_certificates,
);
