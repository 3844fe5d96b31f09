//! rpcnet-bench: rpcnet against tonic (gRPC over HTTP/2 with TLS) and a raw quinn echo (the
//! transport's ceiling), in the same run on the same machine. See BENCHMARKS.md.
//!
//! Layout: `driver` plans scenarios and alternates peers; `children` starts the server and
//! client processes; `load` is the client process's workloads; `peers` holds the three server
//! and client implementations; `report` summarises, prints and checks goals; `stats` and
//! `procstat` are the measurement helpers; `proto` the shared messages; `swap` scenario 5 (the
//! connection-swap director hop and swap gap), its worker and client children included.

pub mod children;
pub mod driver;
pub mod load;
pub mod peers;
pub mod procstat;
pub mod proto;
pub mod report;
pub mod stats;
pub mod swap;
