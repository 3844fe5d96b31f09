//! Free local ports for the demo and the end-to-end tests.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

/// Attempts at finding a port free on both protocols before giving up.
const ATTEMPTS: usize = 64;

/// A loopback address whose port number was free a moment ago on UDP (HTTP/3) and on TCP
/// (HTTP/2): rpcnet servers bind both by default.
///
/// The sockets are closed before returning, so another process could take the port in
/// between; for a demo and tests on one machine that window is acceptable.
pub fn free_udp_addr() -> io::Result<SocketAddr> {
    for _ in 0..ATTEMPTS {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = socket.local_addr()?;
        if TcpListener::bind(addr).is_ok() {
            return Ok(addr);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("no loopback port free on both UDP and TCP in {ATTEMPTS} attempts"),
    ))
}
