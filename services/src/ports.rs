//! Free local ports for the demo and the end-to-end tests.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

/// A loopback address whose UDP port was free a moment ago (QUIC runs over UDP).
///
/// The socket is closed before returning, so another process could take the port in between;
/// for a demo and tests on one machine that window is acceptable.
pub fn free_udp_addr() -> io::Result<SocketAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    socket.local_addr()
}
