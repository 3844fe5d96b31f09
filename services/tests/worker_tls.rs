//! Workers whose client certificate the director refuses at the TLS level (signed by another
//! CA, expired, a server certificate): each must say so once, as a configuration error with
//! the TLS reason, and exit non-zero, while a worker with a good certificate is served. The
//! whole PKI is generated for the test, so the repository's certificates play no part.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use connection_swap::certs::CertPaths;
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use support::*;

/// A certificate authority able to sign leaves.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, common name `cn`, for `purpose`, valid from `from` to `until`
    /// (years); written as `<dir>/<file>.pem` and `.key`, whose paths it returns.
    fn leaf(
        &self,
        dir: &Path,
        file: &str,
        names: &[&str],
        cn: &str,
        purpose: ExtendedKeyUsagePurpose,
        (from, until): (i32, i32),
    ) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = date_time_ymd(from, 1, 1);
        params.not_after = date_time_ymd(until, 1, 1);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![purpose];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        let pem = dir.join(format!("{file}.pem"));
        let key_path = dir.join(format!("{file}.key"));
        std::fs::write(&pem, cert.pem()).expect("write certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (pem, key_path)
    }
}

/// Years of validity around now for a good certificate.
const VALID: (i32, i32) = (2020, 2040);

/// A certificate directory as `CertPaths` expects (CA, server, worker), plus three bad worker
/// certificates beside it; returns their names and paths.
fn pki(dir: &Path) -> Vec<(&'static str, PathBuf, PathBuf)> {
    let ca = Ca::new("connection-swap test CA");
    std::fs::write(dir.join("ca.pem"), &ca.pem).expect("write CA");
    let server_names = ["localhost", "127.0.0.1"];
    ca.leaf(
        dir,
        "server",
        &server_names,
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
        VALID,
    );
    ca.leaf(
        dir,
        "worker",
        &["worker.test"],
        "worker",
        ExtendedKeyUsagePurpose::ClientAuth,
        VALID,
    );
    let rogue = Ca::new("another CA");
    let client = ExtendedKeyUsagePurpose::ClientAuth;
    let (other_ca, other_ca_key) = rogue.leaf(
        dir,
        "other-ca",
        &["worker.test"],
        "worker",
        client.clone(),
        VALID,
    );
    let (expired, expired_key) = ca.leaf(
        dir,
        "expired",
        &["worker.test"],
        "worker",
        client,
        (2010, 2011),
    );
    // A server certificate of the right CA and even the right common name: only its purpose
    // is wrong.
    let (server, server_key) = ca.leaf(
        dir,
        "server-as-client",
        &["worker.test"],
        "worker",
        ExtendedKeyUsagePurpose::ServerAuth,
        VALID,
    );
    vec![
        ("other-ca", other_ca, other_ca_key),
        ("expired", expired, expired_key),
        ("server-cert", server, server_key),
    ]
}

#[test]
fn a_worker_refused_at_the_tls_level_says_so_once_and_exits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = pki(dir.path());
    let certs_dir = (CertPaths::ENV, dir.path().display().to_string());
    let addr = free_addr();
    let director = Proc::start(
        "director",
        DIRECTOR,
        &[
            ("CONNECTION_SWAP_DIRECTOR_ADDR", addr.to_string()),
            certs_dir.clone(),
        ],
    );
    director.wait_for(&["director listening"], Duration::from_secs(10));
    let good = start_worker(
        "worker-good",
        addr,
        Timing::STEADY,
        std::slice::from_ref(&certs_dir),
    );
    good.wait_for(&["registered with director"], Duration::from_secs(10));

    let mut refused: Vec<(Proc, &str)> = bad
        .iter()
        .map(|(name, cert, key)| {
            let env = [
                certs_dir.clone(),
                ("CONNECTION_SWAP_WORKER_CERT", cert.display().to_string()),
                ("CONNECTION_SWAP_WORKER_KEY", key.display().to_string()),
            ];
            (
                start_worker(&format!("worker-{name}"), addr, Timing::STEADY, &env),
                *name,
            )
        })
        .collect();
    for (worker, name) in &mut refused {
        let status = worker.wait_exit(Duration::from_secs(20));
        assert!(!status.success(), "{name}: the worker should fail");
        let errors = worker.matching(&["the director refused this worker's certificate"]);
        assert_eq!(errors.len(), 1, "{name}: said once: {errors:?}");
        let line = &errors[0].text;
        assert!(line.contains(" ERROR worker] "), "{name}: {line}");
        assert!(line.contains("configuration error"), "{name}: {line}");
        let reason = field(line, "tls.alert").unwrap_or("none");
        eprintln!("{name}: refused with {reason}");
        assert!(reason != "none", "{name}: no TLS reason in {line}");
        let retries = worker.matching(&["director not reachable yet"]);
        assert!(
            retries.is_empty(),
            "{name}: retried as if unreachable: {retries:?}"
        );
    }

    // The director is unaffected: the good worker serves a client.
    let mut client = Proc::start(
        "client",
        CLIENT,
        &[
            ("CONNECTION_SWAP_DIRECTOR_TARGET", addr.to_string()),
            ("CONNECTION_SWAP_CLIENT_TOKENS", "5".to_owned()),
            ("CONNECTION_SWAP_PROMPT", "prompt-tls".to_owned()),
            certs_dir,
        ],
    );
    let status = client.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "client failed: {status}");
    assert_eq!(client.summary()["per_worker"], "worker-good:5");
}
