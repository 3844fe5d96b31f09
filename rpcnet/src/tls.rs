//! TLS for rpcnet: PEM loading, TLS 1.3-only rustls configurations (ring provider, ALPN `h3`),
//! their QUIC wrappers, and the verified identity of a client that presented a certificate.
//!
//! Invariants: every configuration is built from [`provider`] explicitly, so the process-level
//! default provider is never consulted (with two providers compiled in, rustls would panic); and a
//! client always verifies the server against a CA file, since this module offers no way not to.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::extensions::GeneralName;

use crate::{Error, PeerIdentity};

/// The ALPN protocol id of HTTP/3 (RFC 9114, section 3.1). QUIC requires both ends to agree on
/// an ALPN value, so a peer that does not offer `h3` fails the handshake instead of misbehaving.
pub const ALPN_H3: &[u8] = b"h3";

/// The ALPN protocol id of HTTP/2 over TLS.
pub const ALPN_H2: &[u8] = b"h2";

/// How a server treats client certificates when a client CA is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Clients may connect without a certificate; one that is presented must chain to the CA.
    Optional,
    /// Clients without a certificate that chains to the CA are refused during the handshake.
    Required,
}

/// The crypto provider behind every configuration made here: ring, passed explicitly.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate from a PEM file, leaf first when it is a chain.
///
/// A missing or unreadable file is [`Error::Io`]; a file with no `CERTIFICATE` section, or a
/// malformed one, is [`Error::Pem`].
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    read_certs(path, "certificate")
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) from a PEM file.
///
/// A missing or unreadable file is [`Error::Io`]; a file without a private key section, or a
/// malformed one, is [`Error::Pem`].
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    const WHAT: &str = "private key";
    let pem = read_file(path, WHAT)?;
    match PrivateKeyDer::pem_slice_iter(&pem).next() {
        Some(Ok(key)) => Ok(key),
        Some(Err(err)) => Err(malformed(path, WHAT, &err)),
        None => Err(Error::Pem {
            what: WHAT,
            path: path.to_path_buf(),
            detail: "the file holds no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY section"
                .to_owned(),
        }),
    }
}

/// Reads the CA certificates of a PEM file into a trust store.
///
/// Every certificate must be usable as a trust anchor: silently skipping a bad one would leave a
/// deployment trusting less than its operator thinks, and failing later in every handshake.
pub fn load_roots(path: &Path) -> Result<RootCertStore, Error> {
    const WHAT: &str = "CA certificate";
    let certs = read_certs(path, WHAT)?;
    let count = certs.len();
    let mut roots = RootCertStore::empty();
    for (index, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|err| Error::Pem {
            what: WHAT,
            path: path.to_path_buf(),
            detail: format!(
                "certificate {} of {count} is not a usable trust anchor: {err}",
                index + 1
            ),
        })?;
    }
    Ok(roots)
}

/// Builds the server's TLS 1.3 configuration: its certificate chain and key, ALPN `h3`, no 0-RTT,
/// and, when `client_auth` names a CA file, client certificates verified against that CA.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_auth: Option<(&Path, ClientAuth)>,
) -> Result<rustls::ServerConfig, Error> {
    let chain = load_certs(cert)?;
    let private_key = load_private_key(key)?;
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match client_auth {
        None => builder.with_no_client_auth(),
        Some((ca, mode)) => {
            let roots = Arc::new(load_roots(ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = match mode {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                ClientAuth::Required => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|err| Error::TlsConfig(format!("client CA {}: {err}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, private_key)
        .map_err(|err| {
            Error::TlsConfig(format!(
                "certificate {} with key {}: {err}",
                cert.display(),
                key.display()
            ))
        })?;
    config.alpn_protocols = vec![ALPN_H3.to_vec()];
    // 0-RTT data can be replayed by an attacker and gRPC calls are not idempotent in general.
    // QUIC allows only 0 or u32::MAX here, so 0 is the one safe value.
    config.max_early_data_size = 0;
    Ok(config)
}

/// Builds the client's TLS 1.3 configuration: the server is always verified against the CA in
/// `ca`; `identity` (certificate, key) adds a client certificate for mutual TLS; ALPN `h3`.
pub fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<rustls::ClientConfig, Error> {
    let provider = provider();
    let roots = Arc::new(load_roots(ca)?);
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|err| Error::TlsConfig(format!("server CA {}: {err}", ca.display())))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_webpki_verifier(verifier);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_private_key(key)?)
            .map_err(|err| {
                Error::TlsConfig(format!(
                    "client certificate {} with key {}: {err}",
                    cert.display(),
                    key.display()
                ))
            })?,
    };
    config.alpn_protocols = vec![ALPN_H3.to_vec()];
    // Early data could be replayed; the server refuses it anyway (see `server_config`).
    config.enable_early_data = false;
    Ok(config)
}

/// Wraps a server TLS configuration for QUIC, with quinn's default transport parameters (the
/// caller sets its own afterwards).
pub fn quic_server_config(cfg: rustls::ServerConfig) -> Result<quinn::ServerConfig, Error> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(cfg).map_err(|err| {
        Error::TlsConfig(format!("server configuration unusable for QUIC: {err}"))
    })?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(crypto)))
}

/// Wraps a client TLS configuration for QUIC, with quinn's default transport parameters (the
/// caller sets its own afterwards).
pub fn quic_client_config(cfg: rustls::ClientConfig) -> Result<quinn::ClientConfig, Error> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(cfg).map_err(|err| {
        Error::TlsConfig(format!("client configuration unusable for QUIC: {err}"))
    })?;
    Ok(quinn::ClientConfig::new(Arc::new(crypto)))
}

/// The identity in the certificate the peer of `conn` presented, if it presented one.
///
/// On a server, rustls has already verified that certificate against the client CA by the time
/// the connection is established, so what is returned here can be trusted.
pub fn peer_identity(conn: &quinn::Connection) -> Option<PeerIdentity> {
    // With quinn's rustls session the identity is the peer's chain, leaf first.
    let chain = conn
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    identity_from_der(chain.first()?)
}

/// Extracts the subject common name and the DNS subject alternative names of a DER certificate.
///
/// Returns `None` when `der` is not exactly one well-formed certificate or its subject
/// alternative name extension is malformed. `common_name` is `None` unless the subject has
/// exactly one common name that is a readable string: with several, which one "is" the peer
/// would be a guess, and authorization must not rest on a guess.
pub fn identity_from_der(der: &[u8]) -> Option<PeerIdentity> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let mut common_names = cert.subject().iter_common_name();
    let common_name = match (common_names.next(), common_names.next()) {
        (Some(only), None) => only.as_str().ok().map(str::to_owned),
        _ => None,
    };
    let dns_names = match cert.subject_alternative_name().ok()? {
        Some(san) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                _ => None,
            })
            .collect(),
        None => Vec::new(),
    };
    Some(PeerIdentity {
        common_name,
        dns_names,
        der: Bytes::copy_from_slice(der),
    })
}

/// Reads and parses all certificates of a PEM file; `what` names them in errors.
fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = read_file(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| malformed(path, what, &err))?;
    if certs.is_empty() {
        return Err(Error::Pem {
            what,
            path: path.to_path_buf(),
            detail: "the file holds no CERTIFICATE section".to_owned(),
        });
    }
    Ok(certs)
}

/// Reads a whole file, naming it in the error. Reading up front (instead of letting the PEM
/// parser open the file) keeps "cannot read" and "cannot parse" apart for the operator.
fn read_file(path: &Path, what: &'static str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// The error for a PEM file whose sections could not be decoded.
fn malformed(path: &Path, what: &'static str, err: &rustls_pki_types::pem::Error) -> Error {
    Error::Pem {
        what,
        path: path.to_path_buf(),
        detail: format!("malformed PEM: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use rustls::{ClientConnection, ServerConnection};
    use rustls_pki_types::ServerName;

    use super::*;

    /// A file of the committed development PKI in `certs/`.
    fn dev(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../certs")
            .join(name)
    }

    /// A scratch file holding `contents`, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str, contents: &str) -> Scratch {
            let path =
                std::env::temp_dir().join(format!("rpcnet-tls-test-{}-{name}", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            Scratch(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn server(client_auth: Option<ClientAuth>) -> rustls::ServerConfig {
        let ca = dev("ca.pem");
        server_config(
            &dev("server.pem"),
            &dev("server.key"),
            client_auth.map(|mode| (ca.as_path(), mode)),
        )
        .unwrap()
    }

    fn client(identity: Option<(&str, &str)>) -> rustls::ClientConfig {
        let identity = identity.map(|(cert, key)| (dev(cert), dev(key)));
        client_config(
            &dev("ca.pem"),
            identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )
        .unwrap()
    }

    /// Runs a TLS handshake in memory (no sockets) and returns both ends, or the first error
    /// either side raised.
    fn handshake(
        client: rustls::ClientConfig,
        server: rustls::ServerConfig,
        server_name: &str,
    ) -> Result<(ClientConnection, ServerConnection), rustls::Error> {
        let name = ServerName::try_from(server_name.to_owned()).unwrap();
        let mut c = ClientConnection::new(Arc::new(client), name)?;
        let mut s = ServerConnection::new(Arc::new(server))?;
        for _ in 0..16 {
            let mut moved = false;
            while c.wants_write() {
                let mut buf = Vec::new();
                c.write_tls(&mut buf).unwrap();
                let mut rd = &buf[..];
                while !rd.is_empty() {
                    s.read_tls(&mut rd).unwrap();
                    s.process_new_packets()?;
                }
                moved = true;
            }
            while s.wants_write() {
                let mut buf = Vec::new();
                s.write_tls(&mut buf).unwrap();
                let mut rd = &buf[..];
                while !rd.is_empty() {
                    c.read_tls(&mut rd).unwrap();
                    c.process_new_packets()?;
                }
                moved = true;
            }
            if !moved && !c.is_handshaking() && !s.is_handshaking() {
                return Ok((c, s));
            }
        }
        panic!("handshake did not settle");
    }

    #[test]
    fn loads_every_dev_certificate_and_key() {
        for name in ["ca", "server", "worker"] {
            let certs = load_certs(&dev(&format!("{name}.pem"))).unwrap();
            assert_eq!(certs.len(), 1, "{name}.pem");
            load_private_key(&dev(&format!("{name}.key"))).unwrap();
        }
        assert_eq!(load_roots(&dev("ca.pem")).unwrap().len(), 1);
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let path = dev("does-not-exist.pem");
        let err = load_certs(&path).unwrap_err();
        assert!(
            matches!(&err, Error::Io { what: "certificate", path: p, .. } if *p == path),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );

        let err = load_private_key(&path).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Io {
                    what: "private key",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = load_roots(&path).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Io {
                    what: "CA certificate",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn pem_without_the_wanted_section_is_a_pem_error() {
        // A key file holds no certificate, a certificate file holds no key, prose holds neither.
        let err = load_certs(&dev("server.key")).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Pem {
                    what: "certificate",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = load_certs(&dev("README.md")).unwrap_err();
        assert!(matches!(err, Error::Pem { .. }), "{err:?}");
        let err = load_private_key(&dev("server.pem")).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Pem {
                    what: "private key",
                    ..
                }
            ),
            "{err:?}"
        );
        let empty = Scratch::new("empty.pem", "");
        let err = load_roots(&empty.0).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Pem {
                    what: "CA certificate",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&empty.0.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn malformed_pem_is_a_pem_error() {
        let bad = Scratch::new(
            "bad.pem",
            "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
        );
        let err = load_certs(&bad.0).unwrap_err();
        assert!(matches!(err, Error::Pem { .. }), "{err:?}");
        let unterminated = Scratch::new("unterminated.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n");
        let err = load_private_key(&unterminated.0).unwrap_err();
        assert!(matches!(err, Error::Pem { .. }), "{err:?}");
    }

    #[test]
    fn server_config_builds_with_and_without_client_auth() {
        for mode in [None, Some(ClientAuth::Optional), Some(ClientAuth::Required)] {
            let config = server(mode);
            assert_eq!(config.alpn_protocols, vec![b"h3".to_vec()], "{mode:?}");
            assert_eq!(config.max_early_data_size, 0, "{mode:?}");
            quic_server_config(config).unwrap();
        }
    }

    #[test]
    fn server_config_refuses_a_key_of_another_certificate() {
        let err = server_config(&dev("server.pem"), &dev("worker.key"), None).unwrap_err();
        assert!(matches!(err, Error::TlsConfig(_)), "{err:?}");
        assert!(err.to_string().contains("worker.key"), "{err}");
    }

    #[test]
    fn client_config_builds_with_alpn_h3() {
        let plain = client(None);
        assert_eq!(plain.alpn_protocols, vec![b"h3".to_vec()]);
        assert!(!plain.client_auth_cert_resolver.has_certs());
        quic_client_config(plain).unwrap();

        let mtls = client(Some(("worker.pem", "worker.key")));
        assert_eq!(mtls.alpn_protocols, vec![b"h3".to_vec()]);
        assert!(mtls.client_auth_cert_resolver.has_certs());
        quic_client_config(mtls).unwrap();
    }

    #[test]
    fn handshake_agrees_on_tls13_and_h3() {
        let (c, s) = handshake(client(None), server(None), "localhost").unwrap();
        assert_eq!(c.alpn_protocol(), Some(ALPN_H3));
        assert_eq!(s.alpn_protocol(), Some(ALPN_H3));
        assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
        assert!(s.peer_certificates().is_none());
        // The IP SAN is valid too, since tests dial 127.0.0.1 directly.
        handshake(client(None), server(None), "127.0.0.1").unwrap();
    }

    #[test]
    fn client_refuses_a_server_name_the_certificate_does_not_cover() {
        let err = handshake(client(None), server(None), "example.com").unwrap_err();
        assert!(
            matches!(err, rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
    }

    #[test]
    fn required_client_auth_refuses_a_client_without_a_certificate() {
        let err = handshake(
            client(None),
            server(Some(ClientAuth::Required)),
            "localhost",
        )
        .unwrap_err();
        assert!(
            matches!(err, rustls::Error::NoCertificatesPresented),
            "{err:?}"
        );
    }

    #[test]
    fn required_client_auth_accepts_the_worker_and_exposes_its_identity() {
        let (_, s) = handshake(
            client(Some(("worker.pem", "worker.key"))),
            server(Some(ClientAuth::Required)),
            "localhost",
        )
        .unwrap();
        let leaf = &s.peer_certificates().unwrap()[0];
        let identity = identity_from_der(leaf).unwrap();
        assert_eq!(identity.common_name.as_deref(), Some("worker"));
    }

    #[test]
    fn optional_client_auth_accepts_anonymous_clients_but_verifies_presented_certificates() {
        let (_, s) = handshake(
            client(None),
            server(Some(ClientAuth::Optional)),
            "localhost",
        )
        .unwrap();
        assert!(s.peer_certificates().is_none());

        let (_, s) = handshake(
            client(Some(("worker.pem", "worker.key"))),
            server(Some(ClientAuth::Optional)),
            "localhost",
        )
        .unwrap();
        assert!(s.peer_certificates().is_some());

        // The server certificate chains to the CA but is not for client authentication.
        let err = handshake(
            client(Some(("server.pem", "server.key"))),
            server(Some(ClientAuth::Optional)),
            "localhost",
        )
        .unwrap_err();
        assert!(
            matches!(err, rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
    }

    #[test]
    fn identity_of_the_worker_certificate() {
        let der = load_certs(&dev("worker.pem")).unwrap().remove(0);
        let identity = identity_from_der(&der).unwrap();
        assert_eq!(
            identity,
            PeerIdentity {
                common_name: Some("worker".to_owned()),
                dns_names: vec!["worker.rpcnet.local".to_owned()],
                der: Bytes::copy_from_slice(&der),
            }
        );
    }

    #[test]
    fn identity_of_the_server_certificate_lists_dns_names_only() {
        let der = load_certs(&dev("server.pem")).unwrap().remove(0);
        let identity = identity_from_der(&der).unwrap();
        assert_eq!(identity.common_name.as_deref(), Some("localhost"));
        assert_eq!(identity.dns_names, vec!["localhost".to_owned()]);
    }

    #[test]
    fn identity_of_garbage_is_none() {
        assert_eq!(identity_from_der(b""), None);
        assert_eq!(identity_from_der(b"not a certificate"), None);
        let mut der = load_certs(&dev("worker.pem")).unwrap().remove(0).to_vec();
        der.push(0);
        assert_eq!(identity_from_der(&der), None, "trailing bytes");
        der.truncate(der.len() / 2);
        assert_eq!(identity_from_der(&der), None, "truncated");
    }
}
