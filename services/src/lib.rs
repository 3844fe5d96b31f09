//! Connection-swap services: a director that keeps one client's streaming call alive on one QUIC
//! connection while the worker serving it fails and is replaced, the workers, the client, and a
//! one-command demo that runs them all.
//!
//! Every role is a library module with a `run(config)` entry point; the binaries in `src/bin/`
//! only turn flags and environment variables into a config. See `docs/connection-swap.md`.

pub mod backoff;
pub mod certs;
pub mod client_app;
pub mod config;
pub mod demo;
pub mod director;
pub mod logging;
pub mod ports;
pub mod protocol;
pub mod shutdown;
pub mod summary;
pub mod supervisor;
pub mod tokens;
pub mod worker;
