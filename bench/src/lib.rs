//! rpcnet-bench: rpcnet against tonic (gRPC over HTTP/2 with TLS) and a raw quinn echo (the
//! transport's ceiling), in the same run on the same machine. See BENCHMARKS.md.
//!
//! Layout: `driver` plans scenarios and alternates peers; `children` starts the server and
//! client processes; `load` is the client process's workloads; `peers` holds the three server
//! and client implementations; `report` summarises, prints and checks goals; `stats` and
//! `procstat` are the measurement helpers; `proto` the shared messages; `swap` scenario 5 (the
//! connection-swap director hop and swap gap), its worker and client children included;
//! `options` is what the run was asked to do and `table` renders Markdown tables.
//!
//! Layering, each module importing only from the layers after it, so there is no cycle:
//! `driver` -> `report` -> `swap` -> `children` -> `load` -> `peers`, `options` -> `proto`,
//! `stats`, `procstat`, `table`. Types two layers share live in the lower one (or in a leaf:
//! `options`, `table`), never in the module that uses them first.

pub mod children;
pub mod driver;
pub mod load;
pub mod options;
pub mod peers;
pub mod procstat;
pub mod proto;
pub mod report;
pub mod stats;
pub mod swap;
pub mod table;
