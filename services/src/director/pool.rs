//! The director's worker pool: who is registered, what each accepts, who is available, who
//! serves how many streams, and who has gone silent. Pure bookkeeping; it neither logs nor
//! does I/O.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// What identifies a worker in logs and events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The id handed out at registration (unique within one director process).
    pub id: u64,
    pub label: String,
    /// Where the worker's `WorkerStream` server listens.
    pub addr: SocketAddr,
}

/// What a worker announced it accepts when it registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// The longest prompt it takes, in bytes.
    pub max_prompt_bytes: u64,
    /// Streams it serves at once; the pool leases no more.
    pub max_streams: usize,
}

/// Why no worker could be leased.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoWorker {
    /// No worker that could take the stream is free: all are unavailable or at capacity, or
    /// none is registered. Worth waiting for.
    Busy,
    /// No registered worker takes a prompt this long: the request is at fault, and waiting
    /// cannot help (unless another kind of worker registers). `limit` is the longest prompt
    /// any registered worker takes.
    PromptTooLong { limit: u64 },
}

/// The pool. `C` is a client of one connection to a worker (generic so the bookkeeping is
/// testable alone); a worker has one or more, so that its capacity is not capped by one
/// connection's stream limit.
#[derive(Debug)]
pub struct WorkerPool<C> {
    state: Mutex<State<C>>,
    /// Bumped on every change that may let a waiting `acquire` succeed.
    changes: watch::Sender<u64>,
}

#[derive(Debug)]
struct State<C> {
    next_id: u64,
    workers: BTreeMap<u64, Entry<C>>,
}

#[derive(Debug)]
struct Entry<C> {
    info: WorkerInfo,
    capacity: Capacity,
    available: bool,
    /// Streams this director currently has assigned to the worker.
    active: usize,
    last_seen: Instant,
    /// The connections to the worker, each with the streams it carries now.
    clients: Vec<(C, usize)>,
}

/// A worker assigned to one stream. Dropping it gives the slot back.
#[derive(Debug)]
pub struct Lease<C> {
    pool: Arc<WorkerPool<C>>,
    /// The worker.
    pub info: WorkerInfo,
    /// The director's client for it: the connection carrying the fewest streams.
    pub client: C,
    /// Which of the worker's connections `client` is.
    connection: usize,
}

impl<C> Drop for Lease<C> {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        if let Some(entry) = state.workers.get_mut(&self.info.id) {
            entry.active = entry.active.saturating_sub(1);
            if let Some((_, streams)) = entry.clients.get_mut(self.connection) {
                *streams = streams.saturating_sub(1);
            }
        }
        drop(state);
        self.pool.changed();
    }
}

impl<C: Clone> WorkerPool<C> {
    /// An empty pool.
    pub fn new() -> Arc<Self> {
        Arc::new(WorkerPool {
            state: Mutex::new(State {
                next_id: 1,
                workers: BTreeMap::new(),
            }),
            changes: watch::Sender::new(0),
        })
    }

    /// Adds a worker reached through `clients` (one per connection; a worker without any
    /// is never leased) and returns its id, with the entry it replaced: a worker registering
    /// again from the same address (after a restart, or after the director forgot it)
    /// replaces its old entry.
    pub fn register(
        &self,
        label: String,
        addr: SocketAddr,
        available: bool,
        capacity: Capacity,
        clients: Vec<C>,
    ) -> (u64, Option<WorkerInfo>) {
        let mut state = self.lock();
        let replaced_id = state
            .workers
            .values()
            .find(|e| e.info.addr == addr)
            .map(|e| e.info.id);
        let replaced = replaced_id.and_then(|id| state.workers.remove(&id).map(|e| e.info));
        let id = state.next_id;
        state.next_id += 1;
        state.workers.insert(
            id,
            Entry {
                info: WorkerInfo { id, label, addr },
                capacity,
                available,
                active: 0,
                last_seen: Instant::now(),
                clients: clients.into_iter().map(|client| (client, 0)).collect(),
            },
        );
        drop(state);
        self.changed();
        (id, replaced)
    }

    /// Records a heartbeat. Returns false when `id` is unknown or belongs to another address
    /// (an id from an earlier director process): the worker must register again.
    pub fn heartbeat(&self, id: u64, addr: SocketAddr, available: bool) -> bool {
        let mut state = self.lock();
        let Some(entry) = state.workers.get_mut(&id).filter(|e| e.info.addr == addr) else {
            return false;
        };
        entry.last_seen = Instant::now();
        let became_available = available && !entry.available;
        entry.available = available;
        drop(state);
        if became_available {
            self.changed();
        }
        true
    }

    /// Sets a worker's availability as it reported it; `None` when the worker is unknown.
    /// Returns the worker and whether anything changed.
    pub fn set_available(
        &self,
        id: u64,
        addr: SocketAddr,
        available: bool,
    ) -> Option<(WorkerInfo, bool)> {
        let mut state = self.lock();
        let entry = state.workers.get_mut(&id).filter(|e| e.info.addr == addr)?;
        entry.last_seen = Instant::now();
        let changed = entry.available != available;
        entry.available = available;
        let info = entry.info.clone();
        drop(state);
        if changed {
            self.changed();
        }
        Some((info, changed))
    }

    /// Marks a worker unavailable because one of its streams failed. Returns false when it is
    /// no longer in the pool.
    pub fn mark_unavailable(&self, id: u64) -> bool {
        let mut state = self.lock();
        match state.workers.get_mut(&id) {
            Some(entry) => {
                entry.available = false;
                true
            }
            None => false,
        }
    }

    /// Removes a worker; `None` when it was not in the pool.
    pub fn remove(&self, id: u64) -> Option<WorkerInfo> {
        let removed = self.lock().workers.remove(&id).map(|e| e.info);
        self.changed();
        removed
    }

    /// Removes and returns the workers not heard from for longer than `max_silence`.
    pub fn remove_silent(&self, max_silence: Duration, now: Instant) -> Vec<WorkerInfo> {
        let mut state = self.lock();
        let silent: Vec<u64> = state
            .workers
            .values()
            .filter(|e| now.saturating_duration_since(e.last_seen) > max_silence)
            .map(|e| e.info.id)
            .collect();
        let removed: Vec<WorkerInfo> = silent
            .iter()
            .filter_map(|id| state.workers.remove(id).map(|e| e.info))
            .collect();
        drop(state);
        if !removed.is_empty() {
            self.changed();
        }
        removed
    }

    /// Whether some registered worker takes a prompt of `len` bytes: `Err` with the longest
    /// any takes when none does. With no worker registered nobody can say, so it is `Ok`.
    pub fn check_prompt(&self, len: usize) -> Result<(), NoWorker> {
        let state = self.lock();
        let limit = state
            .workers
            .values()
            .map(|e| e.capacity.max_prompt_bytes)
            .max();
        match limit {
            Some(limit) if !fits(len, limit) => Err(NoWorker::PromptTooLong { limit }),
            _ => Ok(()),
        }
    }

    /// Leases the least-loaded available worker with room for another stream and a prompt of
    /// `prompt_len` bytes (ties go to the earliest registered), avoiding `avoid` unless it is
    /// the only choice.
    pub fn try_acquire(
        self: &Arc<Self>,
        avoid: Option<u64>,
        prompt_len: usize,
    ) -> Result<Lease<C>, NoWorker> {
        self.check_prompt(prompt_len)?;
        let mut state = self.lock();
        let pick = state
            .workers
            .values()
            .filter(|e| {
                e.available
                    && !e.clients.is_empty()
                    && e.active < e.capacity.max_streams
                    && fits(prompt_len, e.capacity.max_prompt_bytes)
            })
            .min_by_key(|e| (Some(e.info.id) == avoid, e.active, e.info.id))
            .map(|e| e.info.id)
            .ok_or(NoWorker::Busy)?;
        let entry = state.workers.get_mut(&pick).ok_or(NoWorker::Busy)?;
        let (connection, (client, streams)) = entry
            .clients
            .iter_mut()
            .enumerate()
            .min_by_key(|(index, (_, streams))| (*streams, *index))
            .ok_or(NoWorker::Busy)?;
        *streams += 1;
        let client = client.clone();
        entry.active += 1;
        Ok(Lease {
            pool: Arc::clone(self),
            info: entry.info.clone(),
            client,
            connection,
        })
    }

    /// Waits until a worker can take the stream and leases it (see
    /// [`WorkerPool::try_acquire`]); `Err(limit)` when no registered worker takes a prompt
    /// of `prompt_len` bytes ([`NoWorker::PromptTooLong`]).
    pub async fn acquire(
        self: &Arc<Self>,
        avoid: Option<u64>,
        prompt_len: usize,
    ) -> Result<Lease<C>, u64> {
        let mut changes = self.changes.subscribe();
        loop {
            match self.try_acquire(avoid, prompt_len) {
                Ok(lease) => return Ok(lease),
                Err(NoWorker::PromptTooLong { limit }) => return Err(limit),
                Err(NoWorker::Busy) => {}
            }
            // The sender lives in `self`, so `changed` cannot fail while we hold `self`.
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Registered workers as (info, available, active streams), in registration order.
    pub fn snapshot(&self) -> Vec<(WorkerInfo, bool, usize)> {
        self.lock()
            .workers
            .values()
            .map(|e| (e.info.clone(), e.available, e.active))
            .collect()
    }
}

/// Whether a prompt of `len` bytes is within `limit`.
fn fits(len: usize, limit: u64) -> bool {
    u64::try_from(len).is_ok_and(|len| len <= limit)
}

impl<C> WorkerPool<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        // A panic while holding the lock leaves consistent bookkeeping behind (every update
        // is a single assignment), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// What the tests' workers accept unless a test says otherwise.
    const ROOMY: Capacity = Capacity {
        max_prompt_bytes: 1000,
        max_streams: 100,
    };

    #[tokio::test]
    async fn least_loaded_available_worker_first() {
        let pool = WorkerPool::new();
        let (a, _) = pool.register("worker-a".into(), addr(1), true, ROOMY, vec![()]);
        let (b, _) = pool.register("worker-b".into(), addr(2), true, ROOMY, vec![()]);
        let first = pool.try_acquire(None, 10).map(|l| l.info.id).ok();
        assert_eq!(first, Some(a), "ties go to the earliest registered");
        let lease_a = pool.try_acquire(None, 10);
        assert_eq!(lease_a.as_ref().map(|l| l.info.id).ok(), Some(a));
        let lease_b = pool.try_acquire(None, 10);
        assert_eq!(
            lease_b.as_ref().map(|l| l.info.id).ok(),
            Some(b),
            "a is busier"
        );
        drop(lease_a);
        assert_eq!(pool.try_acquire(None, 10).map(|l| l.info.id).ok(), Some(a));
    }

    #[tokio::test]
    async fn avoided_and_unavailable_workers_are_skipped() {
        let pool = WorkerPool::new();
        let (a, _) = pool.register("worker-a".into(), addr(1), true, ROOMY, vec![()]);
        let (b, _) = pool.register("worker-b".into(), addr(2), true, ROOMY, vec![()]);
        assert_eq!(
            pool.try_acquire(Some(a), 10).map(|l| l.info.id).ok(),
            Some(b)
        );
        assert!(pool.mark_unavailable(b));
        assert_eq!(
            pool.try_acquire(Some(a), 10).map(|l| l.info.id).ok(),
            Some(a),
            "the avoided worker is still better than none"
        );
        assert!(pool.mark_unavailable(a));
        assert_eq!(pool.try_acquire(None, 10).err(), Some(NoWorker::Busy));
    }

    #[tokio::test]
    async fn prompts_go_to_workers_that_take_them_or_are_refused() {
        let pool = WorkerPool::new();
        assert_eq!(pool.check_prompt(1 << 30), Ok(()), "nobody to ask yet");
        let small = Capacity {
            max_prompt_bytes: 10,
            ..ROOMY
        };
        let (a, _) = pool.register("worker-a".into(), addr(1), true, small, vec![()]);
        let (b, _) = pool.register("worker-b".into(), addr(2), true, ROOMY, vec![()]);
        // (prompt length, the worker leased or why none)
        let table = [
            (0, Ok(a)),
            (10, Ok(a)),
            (11, Ok(b)),
            (1000, Ok(b)),
            (1001, Err(NoWorker::PromptTooLong { limit: 1000 })),
            (usize::MAX, Err(NoWorker::PromptTooLong { limit: 1000 })),
        ];
        for (len, expected) in table {
            let got = pool.try_acquire(None, len).map(|l| l.info.id);
            assert_eq!(got, expected, "prompt of {len} bytes");
        }
        // A worker that takes long prompts but is busy: wait, the prompt is not at fault.
        assert!(pool.mark_unavailable(b));
        assert_eq!(pool.try_acquire(None, 11).err(), Some(NoWorker::Busy));
        let waiter = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move { pool.acquire(None, 2000).await.map(|l| l.info.id) }
        });
        let got = tokio::time::timeout(Duration::from_secs(1), waiter).await;
        assert!(matches!(got, Ok(Ok(Err(1000)))), "{got:?}");
    }

    #[tokio::test]
    async fn a_full_worker_takes_no_more_streams() {
        let pool = WorkerPool::new();
        let two = Capacity {
            max_streams: 2,
            ..ROOMY
        };
        let (a, _) = pool.register("worker-a".into(), addr(1), true, two, vec![()]);
        let first = pool.try_acquire(None, 1);
        let second = pool.try_acquire(None, 1);
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(pool.try_acquire(None, 1).err(), Some(NoWorker::Busy));
        drop(first);
        assert_eq!(pool.try_acquire(None, 1).map(|l| l.info.id).ok(), Some(a));
    }

    #[tokio::test]
    async fn streams_spread_over_a_workers_connections() {
        let pool = WorkerPool::new();
        let three = Capacity {
            max_streams: 5,
            ..ROOMY
        };
        pool.register("worker-a".into(), addr(1), true, three, vec![0, 1, 2]);
        let mut leases: Vec<Lease<i32>> = (0..5)
            .map(|_| pool.try_acquire(None, 1).expect("room"))
            .collect();
        let connections: Vec<i32> = leases.iter().map(|l| l.client).collect();
        assert_eq!(
            connections,
            [0, 1, 2, 0, 1],
            "the least loaded connection first"
        );
        assert!(pool.try_acquire(None, 1).is_err(), "at capacity");
        drop(leases.remove(2));
        assert_eq!(pool.try_acquire(None, 1).map(|l| l.client).ok(), Some(2));
        // A worker without connections is never leased.
        let none = WorkerPool::<i32>::new();
        none.register("worker-b".into(), addr(2), true, ROOMY, vec![]);
        assert_eq!(none.try_acquire(None, 1).err(), Some(NoWorker::Busy));
    }

    #[tokio::test]
    async fn acquire_waits_for_availability() {
        let pool = WorkerPool::new();
        let (a, _) = pool.register("worker-a".into(), addr(1), false, ROOMY, vec![()]);
        let waiter = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move { pool.acquire(None, 10).await.map(|l| l.info.id) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        assert!(pool.set_available(a, addr(1), true).is_some());
        let got = tokio::time::timeout(Duration::from_secs(1), waiter).await;
        assert!(matches!(got, Ok(Ok(Ok(id))) if id == a));
    }

    #[tokio::test]
    async fn reregistration_replaces_and_stale_ids_are_unknown() {
        let pool = WorkerPool::new();
        let (old, _) = pool.register("worker-a".into(), addr(1), true, ROOMY, vec![()]);
        let (new, replaced) = pool.register("worker-a".into(), addr(1), true, ROOMY, vec![()]);
        assert_ne!(old, new);
        assert_eq!(replaced.map(|r| r.id), Some(old));
        assert!(!pool.heartbeat(old, addr(1), true));
        assert!(pool.heartbeat(new, addr(1), true));
        assert!(!pool.heartbeat(new, addr(9), true), "same id, other worker");
        assert_eq!(pool.snapshot().len(), 1);
    }

    #[tokio::test]
    async fn silent_workers_are_removed() {
        let pool = WorkerPool::new();
        let (a, _) = pool.register("worker-a".into(), addr(1), true, ROOMY, vec![()]);
        let (b, _) = pool.register("worker-b".into(), addr(2), true, ROOMY, vec![()]);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(pool.heartbeat(b, addr(2), true));
        let removed = pool.remove_silent(Duration::from_millis(40), Instant::now());
        assert_eq!(removed.iter().map(|w| w.id).collect::<Vec<_>>(), [a]);
        assert_eq!(pool.snapshot().len(), 1);
    }
}
