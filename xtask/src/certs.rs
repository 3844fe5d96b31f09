//! Generates the DEVELOPMENT-ONLY certificate authority, server and worker certificates in `certs/`.
//!
//! Everything is produced in memory first ([`DevPki::generate`]) and only then written, each file
//! through a temporary file and a rename, so an interrupted run never leaves a half-written PEM
//! or a server certificate signed by a CA that is not the one on disk.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Subject common name of the development CA; it says what the CA is to anyone who inspects it.
pub const CA_COMMON_NAME: &str = "rpcnet development CA (DO NOT TRUST)";
/// Names the server certificate is valid for: what tests and local runs dial.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];
/// Subject common name of the worker client certificate, which servers see as the peer identity.
pub const WORKER_COMMON_NAME: &str = "worker";
/// DNS subject alternative name of the worker client certificate.
pub const WORKER_DNS_NAME: &str = "worker.rpcnet.local";

/// Start of validity, a fixed date in the past so a regenerated set differs only in keys.
const NOT_BEFORE: (i32, u8, u8) = (2025, 1, 1);
/// End of validity: ten years ahead, so CI does not start failing on an expired development
/// certificate, and still before 2050, where X.509 switches from UTCTime to GeneralizedTime.
const NOT_AFTER: (i32, u8, u8) = (2036, 1, 1);

/// The file names written by [`generate_into`], in the order they are written.
pub const FILE_NAMES: [&str; 6] = [
    "ca.pem",
    "ca.key",
    "server.pem",
    "server.key",
    "worker.pem",
    "worker.key",
];

/// A complete development PKI, PEM-encoded and not yet written anywhere.
#[derive(Clone, Debug)]
pub struct DevPki {
    /// The self-signed CA certificate that servers and clients trust.
    pub ca_cert: String,
    /// The CA's private key (PKCS#8), kept so the set can be extended by hand with openssl.
    pub ca_key: String,
    /// Server certificate for [`SERVER_NAMES`], signed by the CA, server-auth only.
    pub server_cert: String,
    /// The server certificate's private key (PKCS#8).
    pub server_key: String,
    /// Worker client certificate (CN [`WORKER_COMMON_NAME`]), signed by the CA, client-auth only.
    pub worker_cert: String,
    /// The worker certificate's private key (PKCS#8).
    pub worker_key: String,
}

impl DevPki {
    /// Generates fresh ECDSA P-256 keys and the three certificates, all in memory.
    pub fn generate() -> Result<Self> {
        let ca_key = KeyPair::generate().context("generating the CA key")?;
        let ca_params = ca_params()?;
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .context("self-signing the CA certificate")?;
        let ca_pem = ca_cert.pem();
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().context("generating the server key")?;
        let server_cert = server_params()?
            .signed_by(&server_key, &issuer)
            .context("signing the server certificate")?;

        let worker_key = KeyPair::generate().context("generating the worker key")?;
        let worker_cert = worker_params()?
            .signed_by(&worker_key, &issuer)
            .context("signing the worker certificate")?;

        Ok(Self {
            ca_cert: ca_pem,
            ca_key: ca_key_pem,
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
            worker_cert: worker_cert.pem(),
            worker_key: worker_key.serialize_pem(),
        })
    }

    /// Pairs each of [`FILE_NAMES`] with its contents.
    pub fn files(&self) -> [(&'static str, &str); 6] {
        [
            (FILE_NAMES[0], self.ca_cert.as_str()),
            (FILE_NAMES[1], self.ca_key.as_str()),
            (FILE_NAMES[2], self.server_cert.as_str()),
            (FILE_NAMES[3], self.server_key.as_str()),
            (FILE_NAMES[4], self.worker_cert.as_str()),
            (FILE_NAMES[5], self.worker_key.as_str()),
        ]
    }

    /// Writes all files into `dir` (created if missing) and returns their paths.
    ///
    /// Every file is first written in full to a temporary file in `dir` and synced; only when all
    /// of them exist are they renamed into place. A failure while writing therefore leaves the old
    /// set untouched, and no reader ever sees a partly written file.
    pub fn write_into(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut staged = Vec::with_capacity(FILE_NAMES.len());
        for (name, contents) in self.files() {
            let prefix = format!(".{name}.");
            let mut builder = tempfile::Builder::new();
            builder.prefix(&prefix).suffix(".tmp");
            #[cfg(unix)]
            builder.permissions(permissions_for(name));
            let mut tmp = builder
                .tempfile_in(dir)
                .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
            tmp.write_all(contents.as_bytes())
                .and_then(|()| tmp.as_file().sync_all())
                .with_context(|| format!("writing {}", tmp.path().display()))?;
            staged.push((tmp, dir.join(name)));
        }
        let mut written = Vec::with_capacity(staged.len());
        for (tmp, target) in staged {
            tmp.persist(&target)
                .with_context(|| format!("renaming into {}", target.display()))?;
            written.push(target);
        }
        Ok(written)
    }
}

/// Generates a fresh development PKI and writes it into `dir`; returns the paths written.
pub fn generate_into(dir: &Path) -> Result<Vec<PathBuf>> {
    DevPki::generate()?.write_into(dir)
}

/// Certificates are world-readable like any checked-out file; keys stay owner-only, the habit
/// worth keeping even for keys that are public, so copies made for real use start out private.
#[cfg(unix)]
fn permissions_for(name: &str) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    let mode = if name.ends_with(".key") { 0o600 } else { 0o644 };
    fs::Permissions::from_mode(mode)
}

/// The workspace's `certs/` directory, found from this crate's location rather than the current
/// directory, because `cargo run -p xtask` may be started from any directory of the workspace.
pub fn default_out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("certs")
}

/// Parameters shared by every certificate: the fixed validity window.
fn base_params(subject_alt_names: &[&str]) -> Result<CertificateParams> {
    let names: Vec<String> = subject_alt_names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).context("invalid subject alternative name")?;
    params.not_before = date_time_ymd(NOT_BEFORE.0, NOT_BEFORE.1, NOT_BEFORE.2);
    params.not_after = date_time_ymd(NOT_AFTER.0, NOT_AFTER.1, NOT_AFTER.2);
    // `CertificateParams::new` puts a placeholder CN in; every certificate here sets its own.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        DnType::OrganizationName,
        "rpcnet development (DO NOT TRUST)",
    );
    Ok(params)
}

/// The CA: may sign end-entity certificates only (path length 0), nothing else.
fn ca_params() -> Result<CertificateParams> {
    let mut params = base_params(&[])?;
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// The server: valid for `localhost` and `127.0.0.1`, usable for server authentication only.
fn server_params() -> Result<CertificateParams> {
    let mut params = base_params(&SERVER_NAMES)?;
    params
        .distinguished_name
        .push(DnType::CommonName, SERVER_NAMES[0]);
    leaf(&mut params, ExtendedKeyUsagePurpose::ServerAuth);
    Ok(params)
}

/// The worker: a client identity, usable for client authentication only.
fn worker_params() -> Result<CertificateParams> {
    let mut params = base_params(&[WORKER_DNS_NAME])?;
    params
        .distinguished_name
        .push(DnType::CommonName, WORKER_COMMON_NAME);
    leaf(&mut params, ExtendedKeyUsagePurpose::ClientAuth);
    Ok(params)
}

/// Marks `params` as an end-entity certificate for one purpose. Being explicit (CA:FALSE, one
/// EKU) means a leaked leaf can neither sign certificates nor stand in for the other role.
fn leaf(params: &mut CertificateParams, purpose: ExtendedKeyUsagePurpose) {
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![purpose];
    params.use_authority_key_identifier_extension = true;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::client::danger::ServerCertVerifier;
    use rustls::client::WebPkiServerVerifier;
    use rustls::server::WebPkiClientVerifier;
    use rustls::RootCertStore;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

    use super::*;

    fn cert(dir: &Path, name: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(dir.join(name)).expect("test fixture certificate")
    }

    fn key(dir: &Path, name: &str) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_file(dir.join(name)).expect("test fixture key")
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn roots(dir: &Path) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots
            .add(cert(dir, "ca.pem"))
            .expect("CA is a trust anchor");
        Arc::new(roots)
    }

    /// Moments the certificates must be valid at: now, and the day before they expire.
    fn moments() -> [UnixTime; 2] {
        // 2035-12-31T00:00:00Z.
        let last_day = UnixTime::since_unix_epoch(Duration::from_secs(2_082_672_000));
        [UnixTime::now(), last_day]
    }

    #[test]
    fn generates_all_files_and_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested/certs");
        let written = generate_into(&out).unwrap();
        assert_eq!(written.len(), FILE_NAMES.len());
        let mut names: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected: Vec<String> = FILE_NAMES.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(names, expected);
    }

    #[test]
    fn server_cert_verifies_against_the_ca_for_localhost_and_loopback() {
        let dir = tempfile::tempdir().unwrap();
        generate_into(dir.path()).unwrap();
        let verifier = WebPkiServerVerifier::builder_with_provider(roots(dir.path()), provider())
            .build()
            .unwrap();
        let server = cert(dir.path(), "server.pem");
        for name in SERVER_NAMES {
            let name = ServerName::try_from(name).unwrap();
            for now in moments() {
                verifier
                    .verify_server_cert(&server, &[], &name, &[], now)
                    .unwrap_or_else(|e| panic!("{name:?} at {now:?}: {e}"));
            }
        }
        let other = ServerName::try_from("example.com").unwrap();
        assert!(verifier
            .verify_server_cert(&server, &[], &other, &[], UnixTime::now())
            .is_err());
        // The client-auth-only worker certificate must not pass as a server.
        let worker = cert(dir.path(), "worker.pem");
        let worker_name = ServerName::try_from(WORKER_DNS_NAME).unwrap();
        assert!(verifier
            .verify_server_cert(&worker, &[], &worker_name, &[], UnixTime::now())
            .is_err());
    }

    #[test]
    fn worker_cert_verifies_as_a_client_and_the_server_cert_does_not() {
        let dir = tempfile::tempdir().unwrap();
        generate_into(dir.path()).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(roots(dir.path()), provider())
            .build()
            .unwrap();
        let worker = cert(dir.path(), "worker.pem");
        for now in moments() {
            verifier.verify_client_cert(&worker, &[], now).unwrap();
        }
        let server = cert(dir.path(), "server.pem");
        assert!(verifier
            .verify_client_cert(&server, &[], UnixTime::now())
            .is_err());
    }

    #[test]
    fn keys_match_their_certificates() {
        let dir = tempfile::tempdir().unwrap();
        generate_into(dir.path()).unwrap();
        let builder = || {
            rustls::ServerConfig::builder_with_provider(provider())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .with_no_client_auth()
        };
        builder()
            .with_single_cert(
                vec![cert(dir.path(), "server.pem")],
                key(dir.path(), "server.key"),
            )
            .unwrap();
        builder()
            .with_single_cert(
                vec![cert(dir.path(), "worker.pem")],
                key(dir.path(), "worker.key"),
            )
            .unwrap();
        builder()
            .with_single_cert(vec![cert(dir.path(), "ca.pem")], key(dir.path(), "ca.key"))
            .unwrap();
        // A mismatched pair must be refused, or the checks above prove nothing.
        assert!(builder()
            .with_single_cert(
                vec![cert(dir.path(), "server.pem")],
                key(dir.path(), "worker.key")
            )
            .is_err());
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_owner_only_and_certificates_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        generate_into(dir.path()).unwrap();
        let mode = |name: &str| {
            fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("server.key"), 0o600);
        assert_eq!(mode("server.pem") & 0o044, 0o044);
    }

    #[test]
    fn regenerating_replaces_the_files() {
        let dir = tempfile::tempdir().unwrap();
        generate_into(dir.path()).unwrap();
        let first = fs::read(dir.path().join("ca.pem")).unwrap();
        generate_into(dir.path()).unwrap();
        let second = fs::read(dir.path().join("ca.pem")).unwrap();
        assert_ne!(first, second);
    }
}
