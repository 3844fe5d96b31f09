//! The director: serves the worker registry and the client-facing `Inference` service on one
//! port, keeps the worker pool, hands each client stream to a worker, forwards the worker's
//! frames, and when that worker fails moves the stream - same QUIC connection, same HTTP/3
//! stream - to the next worker, which resumes after the last token the client received.

mod admission;
mod pool;

pub use admission::{Admission, Permit, QueueLimits, SessionLimits, WaitQueue};
pub use pool::{Capacity, Lease, NoWorker, WorkerInfo, WorkerPool};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use rpcnet::{
    Request, RequestContext, Response, ResponseStream, Server, ServerConfig, Status, StreamSender,
    Streaming,
};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};

use crate::certs::{CertPaths, SERVER_NAME, WORKER_COMMON_NAME};
use crate::protocol::directorregistry::{DirectorRegistry, DirectorRegistryServer};
use crate::protocol::inference::{Inference, InferenceServer};
use crate::protocol::workerstream::WorkerStreamClient;
use crate::protocol::{
    self, event, frame_kind, EventKind, FrameKind, GenerateEvent, GenerateRequest,
    HeartbeatRequest, HeartbeatResponse, RegisterRequest, RegisterResponse, SetAvailabilityRequest,
    SetAvailabilityResponse, StreamAssigned, Token, WorkerAssignment, WorkerFailed, WorkerFrame,
    WorkerVerdict,
};
use crate::protocol::{
    first_sequence_after, judge_worker_status, last_sequence_reached, next, prompt_too_long,
    LoggedPrompt, DEFAULT_MAX_PROMPT_BYTES, MAX_SEQUENCE, UNANNOUNCED_MAX_STREAMS,
};
use crate::shutdown;

/// Director settings; [`DirectorConfig::new`] fills in the timing defaults.
#[derive(Clone, Debug)]
pub struct DirectorConfig {
    /// Where to listen (`CONNECTION_SWAP_DIRECTOR_ADDR`).
    pub listen: SocketAddr,
    /// Server identity, and the CA that signs worker client certificates.
    pub certs: CertPaths,
    /// How often workers must send a heartbeat; three missed ones remove a worker.
    pub heartbeat_interval: Duration,
    /// Keep-alive on the director's connections to workers. Short, so that a worker killed
    /// mid-stream is noticed through the idle timeout below rather than much later.
    pub worker_keep_alive: Duration,
    /// A worker connection silent this long is dead: its stream moves to another worker.
    pub worker_idle_timeout: Duration,
    /// The sessions one client connection and one peer address may hold at once.
    pub sessions: SessionLimits,
    /// The bounds on sessions waiting for a free worker.
    pub queue: QueueLimits,
    /// Most connections one IP address may hold at once
    /// (`CONNECTION_SWAP_MAX_CONNECTIONS_PER_PEER`, default rpcnet's 512). Raise it when many
    /// clients arrive from one address (a NAT, a load balancer, a benchmark on loopback).
    pub max_connections_per_peer: usize,
}

impl DirectorConfig {
    /// The spec's default listening address.
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:61000";

    /// rpcnet's default per-address connection cap.
    pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 512;

    /// Defaults: heartbeats every 500 ms, 200 ms keep-alive and an 800 ms idle timeout towards
    /// workers (a crashed worker's stream moves within about a second, measured at 1.0-1.3 s
    /// from SIGKILL to the next token including QUIC's own timer slack).
    pub fn new(listen: SocketAddr, certs: CertPaths) -> Self {
        DirectorConfig {
            listen,
            certs,
            heartbeat_interval: Duration::from_millis(500),
            worker_keep_alive: Duration::from_millis(200),
            worker_idle_timeout: Duration::from_millis(800),
            sessions: SessionLimits::default(),
            queue: QueueLimits::default(),
            max_connections_per_peer: Self::DEFAULT_MAX_CONNECTIONS_PER_PEER,
        }
    }
}

/// Heartbeats a worker may miss before the director removes it.
const MISSED_HEARTBEATS: u32 = 3;

/// Keep-alive the director sends on client and worker connections it accepted.
const SERVER_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// Idle timeout of accepted connections: how long a vanished client keeps its session. Peers
/// that ask for less (workers do) get less: QUIC uses the smaller of the two.
const SERVER_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long in-flight calls get to finish after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How long connecting to a worker may take before the director tries another.
const WORKER_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a worker gets to end a call the director closed its side of.
const WORKER_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Capacity of the per-stream queue of events towards the client.
const EVENT_QUEUE: usize = 32;

/// Streams one connection to a worker carries: rpcnet's default stream limit, which the
/// worker's server keeps. The director opens as many connections as a worker's announced
/// capacity needs.
const STREAMS_PER_WORKER_CONNECTION: usize = 256;

/// The largest capacity the director believes a worker announces (64 connections' worth):
/// each connection costs a socket, so a worker claiming more is taken at this.
const MAX_WORKER_STREAMS: u32 = 16_384;

/// Runs the director until Ctrl-C, SIGTERM or a server failure.
pub async fn run(config: DirectorConfig) -> anyhow::Result<()> {
    let server_config = ServerConfig::new(config.certs.server_cert(), config.certs.server_key())
        .context("loading the director's server certificate")?
        .client_ca(config.certs.ca(), false)
        .context("loading the CA for worker client certificates")?
        .keep_alive(SERVER_KEEP_ALIVE)
        .idle_timeout(SERVER_IDLE_TIMEOUT)
        .shutdown_grace(SHUTDOWN_GRACE)
        .max_connections_per_peer(config.max_connections_per_peer);
    let director = Arc::new(Director {
        pool: WorkerPool::new(),
        admission: Admission::new(config.sessions),
        queue: WaitQueue::new(config.queue),
        config: config.clone(),
    });
    let server = Server::builder(server_config)
        .add_service(DirectorRegistryServer::from_arc(Arc::clone(&director)))
        .add_service(InferenceServer::from_arc(Arc::clone(&director)))
        .bind(config.listen)
        .with_context(|| format!("binding the director to {}", config.listen))?;
    info!(
        addr = %server.local_addr(),
        sessions_per_connection = config.sessions.per_connection,
        sessions_per_peer = config.sessions.per_peer,
        max_queued = config.queue.max_waiting,
        queue_wait_ms = u64::try_from(config.queue.max_wait.as_millis()).unwrap_or(u64::MAX),
        "director listening; waiting for workers to register"
    );
    let shutdown_handle = server.shutdown_handle();
    let reaper = tokio::spawn(reap_silent_workers(Arc::clone(&director)));
    let mut serving = tokio::spawn(server.serve());
    let served = tokio::select! {
        served = &mut serving => served,
        reason = shutdown::requested() => {
            info!(%reason, "director shutting down");
            shutdown_handle.shutdown();
            serving.await
        }
    };
    reaper.abort();
    match served {
        Ok(result) => result.context("the director's server failed"),
        Err(join) => Err(anyhow!("the director's server task failed: {join}")),
    }
}

/// The director's shared state; implements both services it serves.
pub struct Director {
    pool: Arc<WorkerPool<WorkerStreamClient>>,
    admission: Arc<Admission>,
    queue: Arc<WaitQueue>,
    config: DirectorConfig,
}

impl Director {
    /// Clients for a worker's `WorkerStream` server, one per connection (`connections` of
    /// them), verifying its certificate against the CA. Each connects on first use and again
    /// after its connection died.
    fn worker_clients(
        &self,
        addr: SocketAddr,
        connections: usize,
    ) -> Result<Vec<WorkerStreamClient>, rpcnet::Error> {
        let config = rpcnet::ClientConfig::new(self.config.certs.ca())?
            .server_name(SERVER_NAME)
            .keep_alive(self.config.worker_keep_alive)
            .idle_timeout(self.config.worker_idle_timeout)
            .connect_timeout(WORKER_CONNECT_TIMEOUT);
        (0..connections)
            .map(|_| {
                Ok(WorkerStreamClient::new(rpcnet::Client::lazy(
                    addr,
                    config.clone(),
                )?))
            })
            .collect()
    }

    fn heartbeat_interval_ms(&self) -> u64 {
        u64::try_from(self.config.heartbeat_interval.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Admits registry calls only from peers that presented the worker client certificate.
fn authenticate(ctx: &RequestContext, call: &'static str) -> Result<(), Status> {
    let common_name = ctx
        .peer_identity()
        .and_then(|identity| identity.common_name.as_deref());
    if common_name == Some(WORKER_COMMON_NAME) {
        return Ok(());
    }
    warn!(
        peer.addr = %ctx.peer_addr(),
        call,
        certificate = common_name.unwrap_or("none"),
        "refused registry call: the worker client certificate is required"
    );
    Err(Status::unauthenticated(format!(
        "the director's registry requires the worker client certificate (CN={WORKER_COMMON_NAME})"
    )))
}

/// What a registering worker accepts; a field left at 0 (a worker older than it) is what such
/// a worker accepts by default, and a capacity past [`MAX_WORKER_STREAMS`] is taken at that.
fn announced_capacity(max_prompt_bytes: u64, max_streams: u32) -> Capacity {
    let default_prompt = u64::try_from(DEFAULT_MAX_PROMPT_BYTES).unwrap_or(u64::MAX);
    let max_streams = if max_streams == 0 {
        UNANNOUNCED_MAX_STREAMS
    } else {
        max_streams.min(MAX_WORKER_STREAMS)
    };
    Capacity {
        max_prompt_bytes: if max_prompt_bytes == 0 {
            default_prompt
        } else {
            max_prompt_bytes
        },
        max_streams: usize::try_from(max_streams).unwrap_or(usize::MAX),
    }
}

fn parse_worker_addr(addr: &str) -> Result<SocketAddr, Status> {
    addr.parse()
        .map_err(|_| Status::invalid_argument(format!("worker address {addr:?} is not ip:port")))
}

impl DirectorRegistry for Director {
    async fn register(
        &self,
        ctx: RequestContext,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        authenticate(&ctx, "register")?;
        let RegisterRequest {
            label,
            addr,
            available,
            max_prompt_bytes,
            max_streams,
        } = request.into_inner();
        let addr = parse_worker_addr(&addr)?;
        if label.is_empty() {
            return Err(Status::invalid_argument("the worker label is empty"));
        }
        let capacity = announced_capacity(max_prompt_bytes, max_streams);
        let connections = capacity.max_streams.div_ceil(STREAMS_PER_WORKER_CONNECTION);
        let clients = self.worker_clients(addr, connections).map_err(|err| {
            error!(worker.addr = %addr, worker.label = %label, %err, "cannot prepare a client for the worker");
            Status::internal(format!("the director cannot prepare a client for {addr}: {err}"))
        })?;
        let (worker_id, replaced) =
            self.pool
                .register(label.clone(), addr, available, capacity, clients);
        if let Some(old) = replaced {
            info!(
                worker.id = old.id,
                worker.addr = %old.addr,
                worker.label = %old.label,
                "worker registered again; replacing its earlier entry"
            );
        }
        info!(
            worker.id = worker_id,
            worker.addr = %addr,
            worker.label = %label,
            available,
            max_prompt_bytes = capacity.max_prompt_bytes,
            max_streams = capacity.max_streams,
            connections,
            "worker registered"
        );
        Ok(Response::new(RegisterResponse {
            worker_id,
            heartbeat_interval_ms: self.heartbeat_interval_ms(),
        }))
    }

    async fn set_availability(
        &self,
        ctx: RequestContext,
        request: Request<SetAvailabilityRequest>,
    ) -> Result<Response<SetAvailabilityResponse>, Status> {
        authenticate(&ctx, "set_availability")?;
        let request = request.into_inner();
        let addr = parse_worker_addr(&request.addr)?;
        let known = match self
            .pool
            .set_available(request.worker_id, addr, request.available)
        {
            Some((worker, _)) => {
                info!(
                    worker.addr = %worker.addr,
                    worker.label = %worker.label,
                    available = request.available,
                    reason = %request.reason,
                    "worker availability changed"
                );
                true
            }
            None => {
                info!(
                    worker.id = request.worker_id,
                    worker.addr = %addr,
                    "availability from an unknown worker; asking it to register again"
                );
                false
            }
        };
        Ok(Response::new(SetAvailabilityResponse { known }))
    }

    async fn heartbeat(
        &self,
        ctx: RequestContext,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        authenticate(&ctx, "heartbeat")?;
        let request = request.into_inner();
        let addr = parse_worker_addr(&request.addr)?;
        let known = self
            .pool
            .heartbeat(request.worker_id, addr, request.available);
        if known {
            debug!(
                worker.id = request.worker_id,
                worker.addr = %addr,
                active_streams = request.active_streams,
                available = request.available,
                "heartbeat"
            );
        } else {
            info!(
                worker.id = request.worker_id,
                worker.addr = %addr,
                "heartbeat from an unknown worker; asking it to register again"
            );
        }
        Ok(Response::new(HeartbeatResponse { known }))
    }
}

impl Inference for Director {
    async fn generate(
        &self,
        ctx: RequestContext,
        request: Request<Streaming<GenerateRequest>>,
    ) -> Result<Response<ResponseStream<GenerateEvent>>, Status> {
        let connection = ctx.connection_id();
        let permit = match self.admission.admit(connection, ctx.peer_addr().ip()) {
            Ok(permit) => permit,
            Err(status) => {
                warn!(
                    stream.id = ctx.stream_id(),
                    connection.id = %connection,
                    peer.addr = %ctx.peer_addr(),
                    err = %status.message(),
                    "refusing stream: too many sessions"
                );
                return Err(status);
            }
        };
        let mut requests = request.into_inner();
        let first = requests
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("expected a GenerateRequest first"))?;
        let connection_id = ctx.connection_id().to_string();
        let stream_id = ctx.stream_id();
        info!(
            stream.id = stream_id,
            connection.id = %connection_id,
            prompt = %LoggedPrompt(&first.prompt),
            transport = %ctx.transport(),
            "client opened stream"
        );
        if let Err(status) = first_sequence_after(first.resume_after) {
            warn!(
                stream.id = stream_id,
                connection.id = %connection_id,
                err = %status.message(),
                "refusing stream: invalid resume position"
            );
            return Err(status);
        }
        if let Err(NoWorker::PromptTooLong { limit }) = self.pool.check_prompt(first.prompt.len()) {
            let status = prompt_too_long(first.prompt.len(), limit);
            warn!(
                stream.id = stream_id,
                connection.id = %connection_id,
                err = %status.message(),
                "refusing stream: prompt too long for every worker"
            );
            return Err(status);
        }
        let (events, outgoing) = rpcnet::channel(EVENT_QUEUE);
        let session = Session {
            pool: Arc::clone(&self.pool),
            queue: Arc::clone(&self.queue),
            _permit: permit,
            connection_id,
            stream_id,
            prompt: first.prompt,
            resume_after: first.resume_after,
            requests,
            events,
        };
        tokio::spawn(session.run());
        Ok(Response::new(ResponseStream::from(outgoing)))
    }
}

/// One client stream, from its first request until the client goes away, across workers.
struct Session {
    pool: Arc<WorkerPool<WorkerStreamClient>>,
    queue: Arc<WaitQueue>,
    /// The session's place under the admission caps, freed when it ends.
    _permit: Permit,
    connection_id: String,
    stream_id: u64,
    prompt: String,
    /// The last sequence number sent towards the client; the next worker resumes after it.
    resume_after: u64,
    requests: Streaming<GenerateRequest>,
    events: StreamSender<Result<GenerateEvent, Status>>,
}

/// How one worker's turn on a stream ended.
enum Outcome {
    /// The client went away: the session is over.
    ClientGone,
    /// The worker never accepted the stream (refused it, or was unreachable). The client saw
    /// nothing of it, so the director quietly tries the next worker.
    NotAccepted(Status),
    /// The worker failed while serving: the client is asked to retry.
    Failed(Status),
    /// The request cannot go on, through no fault of the worker: the worker refused it (an
    /// argument out of range, a message over a limit) or the generation reached the last
    /// sequence number. The client's call ends with this status; the worker stays as it was.
    Ended(Status),
}

/// Why a session got no worker.
enum NoLease {
    /// The client went away while the session waited.
    ClientGone,
    /// No worker takes the request (its prompt is too long), or none became free in time (the
    /// queue is full, or the wait too long): the client's call ends with this.
    Refused(Status),
}

/// Why relaying one frame stopped the worker's turn.
enum RelayError {
    ClientGone,
    Worker(Status),
    /// The token just relayed was the last sequence number there is.
    LastSequence,
}

impl Session {
    async fn run(mut self) {
        let mut avoid = None;
        loop {
            let lease = match self.acquire_worker(avoid).await {
                Ok(lease) => lease,
                Err(NoLease::ClientGone) => {
                    info!(stream.id = self.stream_id, connection.id = %self.connection_id, "client closed stream");
                    return;
                }
                Err(NoLease::Refused(status)) => {
                    warn!(
                        stream.id = self.stream_id,
                        connection.id = %self.connection_id,
                        code = ?status.code(),
                        err = %status.message(),
                        "ending stream: no worker can take it"
                    );
                    let _ = self.events.send(Err(status)).await;
                    return;
                }
            };
            avoid = Some(lease.info.id);
            info!(
                stream.id = self.stream_id,
                connection.id = %self.connection_id,
                worker.addr = %lease.info.addr,
                worker.label = %lease.info.label,
                "assigning stream to worker"
            );
            match self.forward(&lease).await {
                Outcome::ClientGone => {
                    info!(stream.id = self.stream_id, connection.id = %self.connection_id, "client closed stream");
                    return;
                }
                Outcome::Ended(status) => {
                    warn!(
                        stream.id = self.stream_id,
                        connection.id = %self.connection_id,
                        worker.addr = %lease.info.addr,
                        worker.label = %lease.info.label,
                        code = ?status.code(),
                        err = %status.message(),
                        "ending stream: the request cannot go on; the worker stays in the pool"
                    );
                    let _ = self.events.send(Err(status)).await;
                    return;
                }
                Outcome::NotAccepted(status) => {
                    warn!(
                        stream.id = self.stream_id,
                        connection.id = %self.connection_id,
                        worker.addr = %lease.info.addr,
                        worker.label = %lease.info.label,
                        err = %status.message(),
                        "worker did not accept the stream; trying the next worker"
                    );
                    self.judge_worker(&lease.info, &status);
                }
                Outcome::Failed(status) => {
                    warn!(
                        stream.id = self.stream_id,
                        connection.id = %self.connection_id,
                        worker.addr = %lease.info.addr,
                        worker.label = %lease.info.label,
                        err = %status.message(),
                        "worker stream ended with error"
                    );
                    self.judge_worker(&lease.info, &status);
                    let failed = WorkerFailed {
                        worker_label: lease.info.label.clone(),
                        reason: status.message().to_owned(),
                        last_sequence: self.resume_after,
                    };
                    drop(lease);
                    info!(
                        stream.id = self.stream_id,
                        connection.id = %self.connection_id,
                        "asking client to retry on next worker"
                    );
                    if !self.send(EventKind::WorkerFailed(failed)).await {
                        info!(stream.id = self.stream_id, connection.id = %self.connection_id, "client closed stream");
                        return;
                    }
                    let Some(retry) = self.next_request().await else {
                        info!(stream.id = self.stream_id, connection.id = %self.connection_id, "client closed stream");
                        return;
                    };
                    if let Err(status) = first_sequence_after(retry.resume_after) {
                        warn!(
                            stream.id = self.stream_id,
                            connection.id = %self.connection_id,
                            err = %status.message(),
                            "ending stream: invalid resume position"
                        );
                        let _ = self.events.send(Err(status)).await;
                        return;
                    }
                    if retry.resume_after != self.resume_after {
                        warn!(
                            stream.id = self.stream_id,
                            connection.id = %self.connection_id,
                            client.resume_after = retry.resume_after,
                            director.resume_after = self.resume_after,
                            "client resumes at another sequence than the director forwarded; following the client"
                        );
                        self.resume_after = retry.resume_after;
                    }
                }
            }
        }
    }

    /// The next worker for this stream, waiting for one if none is available.
    async fn acquire_worker(
        &mut self,
        avoid: Option<u64>,
    ) -> Result<Lease<WorkerStreamClient>, NoLease> {
        let len = self.prompt.len();
        let too_long = |limit| NoLease::Refused(prompt_too_long(len, limit));
        match self.pool.try_acquire(avoid, len) {
            Ok(lease) => return Ok(lease),
            Err(NoWorker::PromptTooLong { limit }) => return Err(too_long(limit)),
            Err(NoWorker::Busy) => {}
        }
        let queue = Arc::clone(&self.queue);
        let _place = queue.enter().map_err(NoLease::Refused)?;
        info!(
            stream.id = self.stream_id,
            connection.id = %self.connection_id,
            waiting = queue.waiting(),
            "no worker available; waiting for one"
        );
        let pool = Arc::clone(&self.pool);
        let leased = tokio::time::timeout(queue.max_wait(), pool.acquire(avoid, len));
        tokio::select! {
            leased = leased => match leased {
                Ok(leased) => leased.map_err(too_long),
                Err(_) => Err(NoLease::Refused(queue.timed_out())),
            },
            () = self.client_gone() => Err(NoLease::ClientGone),
        }
    }

    /// Hands the stream to `lease`'s worker and relays its frames until the worker's turn ends.
    async fn forward(&mut self, lease: &Lease<WorkerStreamClient>) -> Outcome {
        let assignment = WorkerAssignment {
            connection_id: self.connection_id.clone(),
            stream_id: self.stream_id,
            prompt: self.prompt.clone(),
            resume_after: self.resume_after,
        };
        // `to_worker` lives until this function returns: the director's side of the worker
        // call stays open while the worker serves, and closing it tells the worker to stop.
        let (to_worker, assignments) = rpcnet::channel(1);
        if to_worker.send(assignment).await.is_err() {
            return Outcome::NotAccepted(Status::internal("the assignment channel closed"));
        }
        // Info, not debug: the spec's troubleshooting guide tells users to look for this line.
        info!(
            stream.id = self.stream_id,
            connection.id = %self.connection_id,
            worker.addr = %lease.info.addr,
            "connecting to worker"
        );
        let opened = tokio::select! {
            opened = lease.client.serve(assignments) => opened,
            () = self.events.closed() => return Outcome::ClientGone,
        };
        let mut frames = match opened {
            Ok(response) => response.into_inner(),
            Err(status) => return not_accepted(status),
        };
        let mut accepted = false;
        let outcome = loop {
            tokio::select! {
                frame = next(&mut frames) => {
                    let status = match frame {
                        Some(Ok(frame)) => match self.relay(frame, &lease.info, &mut accepted).await {
                            Ok(()) => continue,
                            Err(RelayError::ClientGone) => break Outcome::ClientGone,
                            Err(RelayError::LastSequence) => break Outcome::Ended(last_sequence_reached()),
                            Err(RelayError::Worker(status)) => status,
                        },
                        Some(Err(status)) => status,
                        None => Status::unavailable(format!(
                            "{} ended the stream without an error status",
                            lease.info.label
                        )),
                    };
                    break if judge_worker_status(&status) == WorkerVerdict::RequestRefused {
                        Outcome::Ended(status)
                    } else if accepted {
                        Outcome::Failed(status)
                    } else {
                        Outcome::NotAccepted(status)
                    };
                }
                request = next(&mut self.requests) => match request {
                    Some(Ok(_)) => debug!(
                        stream.id = self.stream_id,
                        connection.id = %self.connection_id,
                        "ignoring a request that arrived while a worker serves the stream"
                    ),
                    Some(Err(_)) | None => break Outcome::ClientGone,
                },
                () = self.events.closed() => break Outcome::ClientGone,
            }
        };
        if matches!(outcome, Outcome::ClientGone | Outcome::Ended(_)) {
            // End the worker's call politely: close our side, and let the worker end its
            // response (it does as soon as it sees our side closed).
            drop(to_worker);
            let drained = tokio::time::timeout(WORKER_CLOSE_GRACE, async {
                while next(&mut frames).await.is_some() {}
            })
            .await;
            if drained.is_err() {
                debug!(worker.label = %lease.info.label, "worker did not end the call in time; abandoning it");
            }
        }
        outcome
    }

    /// Passes one worker frame on to the client, keeping the sequence contiguous.
    async fn relay(
        &mut self,
        frame: WorkerFrame,
        worker: &WorkerInfo,
        accepted: &mut bool,
    ) -> Result<(), RelayError> {
        match frame_kind(frame) {
            Some(FrameKind::Connected(_)) => {
                *accepted = true;
                let assigned = StreamAssigned {
                    connection_id: self.connection_id.clone(),
                    stream_id: self.stream_id,
                    worker_label: worker.label.clone(),
                    worker_addr: worker.addr.to_string(),
                };
                if !self.send(EventKind::Assigned(assigned)).await {
                    return Err(RelayError::ClientGone);
                }
            }
            Some(FrameKind::Token(token)) => {
                *accepted = true;
                // `resume_after` was validated and stops at MAX_SEQUENCE (see below), so this
                // cannot overflow; checked all the same, as no sequence arithmetic here may.
                let Some(expected) = self.resume_after.checked_add(1) else {
                    return Err(RelayError::LastSequence);
                };
                if token.sequence < expected {
                    debug!(
                        stream.id = self.stream_id,
                        connection.id = %self.connection_id,
                        seq = token.sequence,
                        "dropping a token the client already has"
                    );
                    return Ok(());
                }
                if token.sequence > expected {
                    return Err(RelayError::Worker(Status::data_loss(format!(
                        "{} sent sequence {} where {expected} was due",
                        worker.label, token.sequence
                    ))));
                }
                let sequence = token.sequence;
                let token = Token {
                    sequence,
                    text: token.text,
                    worker_label: worker.label.clone(),
                };
                if !self.send(EventKind::Token(token)).await {
                    return Err(RelayError::ClientGone);
                }
                self.resume_after = sequence;
                if sequence >= MAX_SEQUENCE {
                    return Err(RelayError::LastSequence);
                }
            }
            None => debug!("ignoring a worker frame without content"),
        }
        Ok(())
    }

    /// Updates the pool after a worker's turn ended with `status`.
    fn judge_worker(&self, worker: &WorkerInfo, status: &Status) {
        match protocol::judge_worker_status(status) {
            WorkerVerdict::Unavailable => {
                if self.pool.mark_unavailable(worker.id) {
                    info!(
                        worker.addr = %worker.addr,
                        worker.label = %worker.label,
                        "worker marked unavailable until it reports recovery"
                    );
                }
            }
            // The client was told; the worker did nothing wrong.
            WorkerVerdict::RequestRefused => {}
            WorkerVerdict::Gone => {
                if self.pool.remove(worker.id).is_some() {
                    warn!(
                        worker.addr = %worker.addr,
                        worker.label = %worker.label,
                        "removing unreachable worker from the pool"
                    );
                }
            }
        }
    }

    /// Queues an event for the client; false when the client is gone. Takes `&mut self` because
    /// a `Session` is not `Sync` (its `Streaming` is not), so `&Session` cannot cross an await.
    async fn send(&mut self, kind: EventKind) -> bool {
        self.events.send(Ok(event(kind))).await.is_ok()
    }

    /// The client's next request; `None` when the client is gone.
    async fn next_request(&mut self) -> Option<GenerateRequest> {
        tokio::select! {
            request = next(&mut self.requests) => request.and_then(Result::ok),
            () = self.events.closed() => None,
        }
    }

    /// Resolves when the client is gone (requests arriving meanwhile are ignored).
    async fn client_gone(&mut self) {
        loop {
            tokio::select! {
                request = next(&mut self.requests) => match request {
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return,
                },
                () = self.events.closed() => return,
            }
        }
    }
}

/// The outcome of a worker call that ended before the worker accepted the stream.
fn not_accepted(status: Status) -> Outcome {
    if judge_worker_status(&status) == WorkerVerdict::RequestRefused {
        Outcome::Ended(status)
    } else {
        Outcome::NotAccepted(status)
    }
}

/// Removes workers that stopped sending heartbeats (crashed while idle, or partitioned).
async fn reap_silent_workers(director: Arc<Director>) {
    let interval = director.config.heartbeat_interval;
    let max_silence = interval * MISSED_HEARTBEATS;
    let mut tick = tokio::time::interval((interval / 2).max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for worker in director.pool.remove_silent(max_silence, Instant::now()) {
            warn!(
                worker.addr = %worker.addr,
                worker.label = %worker.label,
                missed = MISSED_HEARTBEATS,
                "worker missed heartbeats; removing it from the pool"
            );
        }
    }
}
