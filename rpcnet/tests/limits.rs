//! Server admission limits over real loopback connections: the per-peer connection cap on both
//! transports (the excess is refused, a freed place is reusable, calls keep being served), and
//! the HTTP/3 request-header timeout (a stream that never completes its headers is given up,
//! unanswered).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rpcnet::{Client, ClientConfig, ClientTransport, Code, Request, Server, ServerConfig};

const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/ca.pem");
const CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/server.pem");
const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/server.key");

fn start(config: ServerConfig) -> SocketAddr {
    let server = Server::builder(config)
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("bind");
    let addr = server.local_addr();
    tokio::spawn(server.serve());
    addr
}

fn client_config(transport: ClientTransport) -> ClientConfig {
    ClientConfig::new(CA)
        .unwrap()
        .transport(transport)
        .connect_timeout(Duration::from_secs(2))
}

/// A call the server answers without any service registered: UNIMPLEMENTED proves it was
/// served end to end.
async fn served(client: &Client) -> bool {
    let result = client
        .unary::<(), ()>("/no.Such/Method", Request::new(()))
        .await;
    matches!(result, Err(status) if status.code() == Code::Unimplemented)
}

#[tokio::test]
async fn connections_over_the_per_peer_cap_are_refused_on_both_transports() {
    let addr = start(
        ServerConfig::new(CERT, KEY)
            .unwrap()
            .max_connections_per_peer(2),
    );
    let first = Client::connect(addr, client_config(ClientTransport::Http3))
        .await
        .expect("first connection");
    let second = Client::connect(addr, client_config(ClientTransport::Http2))
        .await
        .expect("second connection");
    assert!(served(&first).await && served(&second).await);
    for transport in [ClientTransport::Http3, ClientTransport::Http2] {
        let refused = Client::connect(addr, client_config(transport)).await;
        assert!(
            refused.is_err(),
            "{transport:?}: a third connection was admitted"
        );
    }
    // The admitted connections are unaffected.
    assert!(served(&first).await && served(&second).await);
    // A freed place can be taken again (the server notices the close shortly after).
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        if let Ok(client) = Client::connect(addr, client_config(ClientTransport::Http2)).await {
            again = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = again.expect("a freed place is admitted again");
    assert!(served(&again).await);
}

#[tokio::test]
async fn a_request_whose_headers_never_complete_is_dropped() {
    let addr = start(
        ServerConfig::new(CERT, KEY)
            .unwrap()
            .http2(false)
            .header_timeout(Duration::from_millis(300)),
    );
    let conn = raw_quic(addr).await;
    let (mut send, mut recv) = conn.open_bi().await.expect("open stream");
    // A HEADERS frame (type 0x01) announcing 64 bytes, of which only 3 ever arrive.
    send.write_all(&[0x01, 0x40, 0x40, 0xAA, 0xBB, 0xCC])
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(5), recv.read_to_end(1024)).await;
    let read = outcome.expect("the server gave up the stream within its header timeout");
    // Given up, not answered: the stream ends (or is reset) with no response at all, and not
    // before the timeout.
    assert!(
        read.as_ref().map_or(true, |bytes| bytes.is_empty()),
        "no response on an incomplete request: {read:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    // The connection itself still serves calls.
    let client = Client::connect(addr, client_config(ClientTransport::Http3))
        .await
        .unwrap();
    assert!(served(&client).await);
}

/// A bare QUIC connection with ALPN h3 and no HTTP/3 on top: the test writes frames itself.
async fn raw_quic(addr: SocketAddr) -> quinn::Connection {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rpcnet::tls::load_certs(std::path::Path::new(CA)).unwrap() {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut crypto = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    crypto.alpn_protocols = vec![b"h3".to_vec()];
    let config = quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(crypto).unwrap(),
    ));
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(config);
    endpoint
        .connect(addr, "localhost")
        .unwrap()
        .await
        .expect("QUIC handshake")
}
