//! `interop_server`: rpcnet's grpc.testing `TestService` on one port (HTTP/3 on UDP, HTTP/2 on
//! TCP), for the official interop clients of any implementation.
//!
//! ```text
//! interop_server [--port 0] [--host 127.0.0.1] [--cert certs/server.pem] [--key certs/server.key]
//! ```
//!
//! Prints `listening HOST:PORT` once bound and serves until its stdin closes or it gets Ctrl-C,
//! then shuts down gracefully.

use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rpcnet::ServerConfig;
use rpcnet_interop_tests::interop::server::InteropServer;
use rpcnet_interop_tests::CERTS_DIR;

#[derive(Parser)]
#[command(about = "rpcnet's grpc.testing TestService over HTTP/3 and HTTP/2 (TLS 1.3)")]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port for both UDP and TCP; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Server certificate chain (PEM).
    #[arg(long, default_value_os_t = PathBuf::from(format!("{CERTS_DIR}/server.pem")))]
    cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long, default_value_os_t = PathBuf::from(format!("{CERTS_DIR}/server.key")))]
    key: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let started = ServerConfig::new(&args.cert, &args.key)
        .and_then(|config| InteropServer::start(config, SocketAddr::new(args.host, args.port)));
    let server = match started {
        Ok(server) => server,
        Err(err) => {
            eprintln!("interop_server: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening {}", server.addr());
    // Reads stdin to its end on a blocking thread: a parent that dies closes it.
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = [0u8; 64];
        while let Ok(1..) = std::io::stdin().read(&mut sink) {}
    });
    tokio::select! {
        _ = stdin_closed => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let code = match server.stop().await {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("interop_server: {err}");
            1
        }
    };
    // Exits at once: after Ctrl-C the thread reading stdin may still be blocked in read(2),
    // and a runtime waits for its blocking threads when it is dropped.
    std::process::exit(code)
}
