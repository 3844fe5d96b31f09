//! `interop_client`: the official interop client cases on rpcnet, against any grpc.testing
//! `TestService` server, over HTTP/3, HTTP/2 or whichever connects first.
//!
//! ```text
//! interop_client --port PORT [--host 127.0.0.1] [--server-name localhost] [--ca certs/ca.pem]
//!     [--transport h3|h2|auto] [--cases empty_unary,large_unary,...|all] [--case-timeout 30]
//! ```
//!
//! Prints one JSON line per case, `{"case": ..., "ok": true|false, "detail": ..., "seconds": ...}`
//! (the format of the Python runners), and exits 1 if any case failed, 2 if it could not start.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use rpcnet::{Client, ClientConfig, ClientTransport};
use rpcnet_interop_tests::interop::cases::{run_all, Case};
use rpcnet_interop_tests::interop::grpc_testing::testservice::TestServiceClient;
use rpcnet_interop_tests::CERTS_DIR;

#[derive(Clone, Copy, ValueEnum)]
enum TransportArg {
    H3,
    H2,
    Auto,
}

#[derive(Parser)]
#[command(about = "the official gRPC interop client cases on rpcnet")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Server port.
    #[arg(long)]
    port: u16,
    /// TLS server name to verify.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// CA that signed the server's certificate (PEM).
    #[arg(long, default_value_os_t = PathBuf::from(format!("{CERTS_DIR}/ca.pem")))]
    ca: PathBuf,
    /// Transport: HTTP/3, HTTP/2, or both raced.
    #[arg(long, value_enum, default_value = "auto")]
    transport: TransportArg,
    /// Comma-separated case names, or `all`.
    #[arg(long, default_value = "all", value_parser = parse_cases)]
    cases: CaseList,
    /// Seconds each case may take.
    #[arg(long, default_value_t = 30.0)]
    case_timeout: f64,
}

/// The `--cases` value.
#[derive(Clone)]
struct CaseList(Vec<Case>);

fn parse_cases(text: &str) -> Result<CaseList, String> {
    if text == "all" {
        return Ok(CaseList(Case::ALL.to_vec()));
    }
    text.split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map(CaseList)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let transport = match args.transport {
        TransportArg::H3 => ClientTransport::Http3,
        TransportArg::H2 => ClientTransport::Http2,
        TransportArg::Auto => ClientTransport::Auto,
    };
    let config = match ClientConfig::new(&args.ca) {
        Ok(config) => config.server_name(args.server_name).transport(transport),
        Err(err) => {
            eprintln!("interop_client: {err}");
            return ExitCode::from(2);
        }
    };
    let client = match Client::lazy(SocketAddr::new(args.host, args.port), config) {
        Ok(client) => TestServiceClient::new(client),
        Err(err) => {
            eprintln!("interop_client: {err}");
            return ExitCode::from(2);
        }
    };
    let cases = args.cases.0;
    let timeout = Duration::from_secs_f64(args.case_timeout.max(0.001));
    let results = run_all(&client, &cases, timeout).await;
    let mut failed = false;
    for result in &results {
        let (ok, detail) = match &result.outcome {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        failed |= !ok;
        let line = serde_json::json!({
            "case": result.case.name(),
            "ok": ok,
            "detail": detail,
            "seconds": (result.took.as_secs_f64() * 1000.0).round() / 1000.0,
        });
        println!("{line}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
