//! Connection admission: the server's caps on connections in all and per peer address,
//! counted across both transports, each held by a guard for the connection's life.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Counts the connections a server holds.
#[derive(Debug)]
pub(crate) struct Admission {
    max_total: usize,
    max_per_peer: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server holds `max_connections` already.
    Total(usize),
    /// This address holds `max_connections_per_peer` already.
    PerPeer(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Total(max) => write!(f, "the server holds its limit of {max} connections"),
            Refusal::PerPeer(max) => {
                write!(f, "this address holds its limit of {max} connections")
            }
        }
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Admitted {
    admission: Arc<Admission>,
    peer: IpAddr,
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_peer: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max_total,
            max_per_peer,
            held: Mutex::new(Held::default()),
        })
    }

    /// Admits a connection from `peer`, or says which cap it would break.
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admitted, Refusal> {
        let mut held = self.lock();
        if held.total >= self.max_total {
            return Err(Refusal::Total(self.max_total));
        }
        let from_peer = held.per_peer.get(&peer).copied().unwrap_or(0);
        if from_peer >= self.max_per_peer {
            return Err(Refusal::PerPeer(self.max_per_peer));
        }
        held.total += 1;
        held.per_peer.insert(peer, from_peer + 1);
        Ok(Admitted {
            admission: self.clone(),
            peer,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // The counts are updated together under the lock, never left half-done by a panic.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut held = self.admission.lock();
        held.total = held.total.saturating_sub(1);
        if let Some(count) = held.per_peer.get_mut(&self.peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // Addresses that left take no memory.
                held.per_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_all_and_per_peer_and_places_come_back() {
        let admission = Admission::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = admission.admit(a).unwrap();
        let _a2 = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).unwrap_err(), Refusal::PerPeer(2));
        let b1 = admission.admit(b).unwrap();
        assert_eq!(admission.admit(b).unwrap_err(), Refusal::Total(3));
        drop(a1);
        let _a3 = admission.admit(a).unwrap();
        drop(b1);
        assert!(!admission.lock().per_peer.contains_key(&b));
        assert_eq!(admission.lock().total, 2);
    }
}
