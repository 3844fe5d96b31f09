//! Where the development certificates live: one directory holding the CA, the server identity
//! (director and workers serve with it) and the worker client identity (mTLS registration).

use std::path::{Path, PathBuf};

/// The files of a certificate directory (`certs/` of the workspace by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertPaths {
    dir: PathBuf,
}

impl CertPaths {
    /// The workspace's `certs/`, fixed at compile time; override with `CONNECTION_SWAP_CERTS_DIR`.
    pub const DEFAULT_DIR: &'static str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs");

    /// The environment variable that overrides [`CertPaths::DEFAULT_DIR`].
    pub const ENV: &'static str = "CONNECTION_SWAP_CERTS_DIR";

    /// Certificates in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CertPaths { dir: dir.into() }
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA that signed every certificate here (`ca.pem`).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server certificate (`server.pem`, valid for `localhost`).
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server private key (`server.key`).
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The worker client certificate (`worker.pem`, common name `worker`).
    pub fn worker_cert(&self) -> PathBuf {
        self.dir.join("worker.pem")
    }

    /// The worker client private key (`worker.key`).
    pub fn worker_key(&self) -> PathBuf {
        self.dir.join("worker.key")
    }
}

impl Default for CertPaths {
    fn default() -> Self {
        CertPaths::new(Self::DEFAULT_DIR)
    }
}

/// The common name the director requires in a registry caller's client certificate.
pub const WORKER_COMMON_NAME: &str = "worker";

/// The name workers and the director present in their server certificate.
pub const SERVER_NAME: &str = "localhost";
