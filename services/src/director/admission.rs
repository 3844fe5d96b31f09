//! Session admission: how many `generate` sessions one client connection and one peer address
//! may hold at once, so that no anonymous client can take the whole worker pool, and the
//! bounded queue of sessions waiting for a free worker. Pure bookkeeping; it neither logs nor
//! does I/O.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rpcnet::{ConnectionId, Status};

/// The caps on the sessions a client may hold at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// Sessions on one client connection (`CONNECTION_SWAP_MAX_SESSIONS_PER_CONNECTION`).
    pub per_connection: usize,
    /// Sessions from one peer IP address, over all its connections
    /// (`CONNECTION_SWAP_MAX_SESSIONS_PER_PEER`).
    pub per_peer: usize,
}

impl SessionLimits {
    /// 64 sessions per connection: an honest client runs one generation per connection (the
    /// spec's client) or a handful; 64 leaves room for a multiplexing one.
    pub const DEFAULT_PER_CONNECTION: usize = 64;

    /// 1,024 sessions per address: enough for a host running many clients behind one address
    /// (a load test on loopback, a NAT), small enough that one address cannot hold more than
    /// four workers' worth of streams.
    pub const DEFAULT_PER_PEER: usize = 1024;
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            per_connection: Self::DEFAULT_PER_CONNECTION,
            per_peer: Self::DEFAULT_PER_PEER,
        }
    }
}

/// The sessions held now, by connection and by peer address.
#[derive(Debug)]
pub struct Admission {
    limits: SessionLimits,
    counts: Mutex<Counts>,
}

/// Entries exist only while their count is above zero, so the maps never hold more than the
/// live sessions.
#[derive(Debug, Default)]
struct Counts {
    by_connection: HashMap<ConnectionId, usize>,
    by_peer: HashMap<IpAddr, usize>,
}

/// One admitted session; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    connection: ConnectionId,
    peer: IpAddr,
}

impl Admission {
    pub fn new(limits: SessionLimits) -> Arc<Self> {
        Arc::new(Admission {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Admits a session on `connection` from `peer`, or RESOURCE_EXHAUSTED naming the cap it
    /// would pass.
    pub fn admit(
        self: &Arc<Self>,
        connection: ConnectionId,
        peer: IpAddr,
    ) -> Result<Permit, Status> {
        let mut counts = self.lock();
        let on_connection = counts.by_connection.get(&connection).copied().unwrap_or(0);
        if on_connection >= self.limits.per_connection {
            return Err(Status::resource_exhausted(format!(
                "this connection holds {on_connection} sessions, the most one connection may \
                 hold at once (CONNECTION_SWAP_MAX_SESSIONS_PER_CONNECTION={})",
                self.limits.per_connection
            )));
        }
        let from_peer = counts.by_peer.get(&peer).copied().unwrap_or(0);
        if from_peer >= self.limits.per_peer {
            return Err(Status::resource_exhausted(format!(
                "{peer} holds {from_peer} sessions, the most one address may hold at once \
                 (CONNECTION_SWAP_MAX_SESSIONS_PER_PEER={})",
                self.limits.per_peer
            )));
        }
        *counts.by_connection.entry(connection).or_default() += 1;
        *counts.by_peer.entry(peer).or_default() += 1;
        Ok(Permit {
            admission: Arc::clone(self),
            connection,
            peer,
        })
    }

    /// Sessions held now on `connection` and from `peer`.
    pub fn held(&self, connection: ConnectionId, peer: IpAddr) -> (usize, usize) {
        let counts = self.lock();
        (
            counts.by_connection.get(&connection).copied().unwrap_or(0),
            counts.by_peer.get(&peer).copied().unwrap_or(0),
        )
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Every update is a pair of single-step changes, so a poisoned lock is still usable.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.admission.lock();
        release(&mut counts.by_connection, &self.connection);
        release(&mut counts.by_peer, &self.peer);
    }
}

/// Takes one from `key`'s count, dropping the entry at zero.
/// The bounds on sessions waiting for a worker while every worker that could take them is busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Sessions waiting at once (`CONNECTION_SWAP_MAX_QUEUED_SESSIONS`); past it a session is
    /// refused at once.
    pub max_waiting: usize,
    /// How long one session waits (`CONNECTION_SWAP_QUEUE_WAIT_MS`) before it is refused.
    pub max_wait: Duration,
}

impl QueueLimits {
    /// 1,024 waiting sessions: each costs a task and a few KiB while it waits.
    pub const DEFAULT_MAX_WAITING: usize = 1024;

    /// 10 s: longer than a worker's default recovery (5 s), so that a stream whose only
    /// worker failed waits for it to come back rather than fail; short enough that a client
    /// is told, rather than left hanging, when the pool is full.
    pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(10);
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_waiting: Self::DEFAULT_MAX_WAITING,
            max_wait: Self::DEFAULT_MAX_WAIT,
        }
    }
}

/// The sessions waiting for a worker now.
#[derive(Debug)]
pub struct WaitQueue {
    limits: QueueLimits,
    waiting: AtomicUsize,
}

/// A place in the queue; dropping it leaves the queue.
#[derive(Debug)]
pub struct Place<'a>(&'a WaitQueue);

impl WaitQueue {
    pub fn new(limits: QueueLimits) -> Arc<Self> {
        Arc::new(WaitQueue {
            limits,
            waiting: AtomicUsize::new(0),
        })
    }

    /// How long a session may wait.
    pub fn max_wait(&self) -> Duration {
        self.limits.max_wait
    }

    /// Joins the queue, or UNAVAILABLE when it is full.
    pub fn enter(&self) -> Result<Place<'_>, Status> {
        let max = self.limits.max_waiting;
        let joined = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        match joined {
            Ok(_) => Ok(Place(self)),
            Err(waiting) => Err(Status::unavailable(format!(
                "every worker is busy and {waiting} streams are waiting already, the most \
                 that may (CONNECTION_SWAP_MAX_QUEUED_SESSIONS={max}); try again later"
            ))),
        }
    }

    /// The status of a session that waited its whole time: UNAVAILABLE.
    pub fn timed_out(&self) -> Status {
        Status::unavailable(format!(
            "no worker became free within {} ms (CONNECTION_SWAP_QUEUE_WAIT_MS); try again later",
            self.limits.max_wait.as_millis()
        ))
    }

    /// Sessions waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = map.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpcnet::Code;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn each_cap_refuses_the_session_past_it_and_a_drop_frees_a_place() {
        let admission = Admission::new(SessionLimits {
            per_connection: 2,
            per_peer: 3,
        });
        let (one, two, three) = (ConnectionId(1), ConnectionId(2), ConnectionId(3));
        let first = admission.admit(one, A).expect("first");
        let _second = admission.admit(one, A).expect("second");
        let refused = admission
            .admit(one, A)
            .expect_err("a third on one connection");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(refused.message().contains("PER_CONNECTION=2"), "{refused}");
        let _third = admission
            .admit(two, A)
            .expect("another connection, same address");
        let refused = admission
            .admit(three, A)
            .expect_err("a fourth from one address");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(refused.message().contains("127.0.0.1 holds 3"), "{refused}");
        assert!(refused.message().contains("PER_PEER=3"), "{refused}");
        // Another address is counted apart.
        let _other = admission.admit(three, B).expect("another address");
        assert_eq!(admission.held(one, A), (2, 3));
        drop(first);
        assert_eq!(admission.held(one, A), (1, 2));
        let _again = admission.admit(one, A).expect("a freed place");
    }

    #[test]
    fn the_queue_holds_its_bound_and_frees_places() {
        let queue = WaitQueue::new(QueueLimits {
            max_waiting: 2,
            max_wait: Duration::from_millis(1500),
        });
        let first = queue.enter().expect("first");
        let _second = queue.enter().expect("second");
        let refused = queue.enter().expect_err("full");
        assert_eq!(refused.code(), Code::Unavailable);
        assert!(refused.message().contains("QUEUED_SESSIONS=2"), "{refused}");
        assert_eq!(queue.waiting(), 2);
        drop(first);
        assert_eq!(queue.waiting(), 1);
        let _third = queue.enter().expect("a freed place");
        let timed_out = queue.timed_out();
        assert_eq!(timed_out.code(), Code::Unavailable);
        assert!(
            timed_out.message().contains("within 1500 ms"),
            "{timed_out}"
        );
    }

    #[test]
    fn entries_go_when_their_sessions_do() {
        let admission = Admission::new(SessionLimits::default());
        let permits: Vec<Permit> = (0..10)
            .map(|n| admission.admit(ConnectionId(n), A).expect("admitted"))
            .collect();
        assert_eq!(admission.lock().by_connection.len(), 10);
        drop(permits);
        let counts = admission.lock();
        assert!(counts.by_connection.is_empty() && counts.by_peer.is_empty());
    }
}
