//! A worker: registers with the director (mTLS, retrying until the director is up), keeps
//! itself in the pool with heartbeats, serves the streams the director hands over through
//! `WorkerStream.serve`, and periodically simulates a failure, recovering after a while.
//!
//! Logs use the target `worker`, as in the spec's checklist.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use rpcnet::{
    Code, Request, RequestContext, Response, ResponseStream, Server, ServerConfig, Status,
    StreamSender, Streaming, TlsAlert,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::certs::{CertPaths, SERVER_NAME};
use crate::config::display_secs;
use crate::protocol::directorregistry::DirectorRegistryClient;
use crate::protocol::next;
use crate::protocol::workerstream::{WorkerStream, WorkerStreamServer};
use crate::protocol::{
    first_sequence_after, frame, last_sequence_reached, prompt_too_long, recovering,
    simulated_failure, Connected, FrameKind, HeartbeatRequest, LoggedPrompt, RegisterRequest,
    SetAvailabilityRequest, WorkerAssignment, WorkerFrame, WorkerToken, ASSIGNMENT_OVERHEAD,
    DEFAULT_MAX_PROMPT_BYTES, DEFAULT_MAX_STREAMS, MAX_SEQUENCE,
};
use crate::shutdown;
use crate::tokens::token_text;

/// Worker settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The director's address (`CONNECTION_SWAP_DIRECTOR_TARGET`).
    pub director: SocketAddr,
    /// Where this worker's own server listens (`CONNECTION_SWAP_WORKER_ADDR`); port 0 picks one.
    pub listen: SocketAddr,
    /// Name in logs and events (`CONNECTION_SWAP_WORKER_LABEL`).
    pub label: String,
    /// CA and server identity.
    pub certs: CertPaths,
    /// The client certificate and key presented to the director's registry; `None` registers
    /// without one (and is refused).
    pub identity: Option<(PathBuf, PathBuf)>,
    /// How long a stream is served before the worker simulates a failure.
    pub failure_after: Duration,
    /// How long the worker stays unavailable after a failure.
    pub recovery: Duration,
    /// Time between two tokens.
    pub token_interval: Duration,
    /// What the worker accepts, announced to the director.
    pub limits: WorkerLimits,
}

/// What a worker accepts, announced to the director when it registers so that the director
/// refuses what no worker would take instead of handing it over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerLimits {
    /// The longest prompt accepted, in bytes (`CONNECTION_SWAP_WORKER_MAX_PROMPT_BYTES`,
    /// default [`DEFAULT_MAX_PROMPT_BYTES`]). The worker's server takes messages up to this
    /// plus [`ASSIGNMENT_OVERHEAD`].
    pub max_prompt_bytes: usize,
    /// Streams served at once (`CONNECTION_SWAP_WORKER_MAX_STREAMS`, default
    /// [`DEFAULT_MAX_STREAMS`]).
    pub max_streams: u32,
}

impl Default for WorkerLimits {
    fn default() -> Self {
        WorkerLimits {
            max_prompt_bytes: DEFAULT_MAX_PROMPT_BYTES,
            max_streams: DEFAULT_MAX_STREAMS,
        }
    }
}

/// Keep-alive on the worker's connection to the director, below the idle timeout.
const REGISTRY_KEEP_ALIVE: Duration = Duration::from_millis(250);

/// A director connection silent this long is dead; the next call dials again.
const REGISTRY_IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one attempt to reach the director may take.
const REGISTRY_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Deadline of each registry call.
const REGISTRY_CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// First and longest wait between registration attempts while the director is not up.
const REGISTER_BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(2));

/// Keep-alive and idle timeout on connections the director opened to this worker.
const SERVER_KEEP_ALIVE: Duration = Duration::from_millis(250);
const SERVER_IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// Capacity of the per-stream queue of frames towards the director.
const FRAME_QUEUE: usize = 8;

/// Runs a worker until Ctrl-C, SIGTERM, a server failure, or the director refusing it.
pub async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    let server_config = ServerConfig::new(config.certs.server_cert(), config.certs.server_key())
        .context("loading the worker's server certificate")?
        .keep_alive(SERVER_KEEP_ALIVE)
        .idle_timeout(SERVER_IDLE_TIMEOUT)
        .max_message_size(
            config
                .limits
                .max_prompt_bytes
                .saturating_add(ASSIGNMENT_OVERHEAD),
        );
    let state = Arc::new(WorkerState::new(&config));
    let server = Server::builder(server_config)
        .add_service(WorkerStreamServer::new(StreamService {
            state: Arc::clone(&state),
        }))
        .bind(config.listen)
        .with_context(|| format!("binding worker {} to {}", config.label, config.listen))?;
    let addr = server.local_addr();
    info!(
        target: "worker",
        worker = %config.label,
        addr = %addr,
        max_prompt_bytes = config.limits.max_prompt_bytes,
        max_streams = config.limits.max_streams,
        "worker listening"
    );
    let registry = registry_client(&config)?;
    let mut serving = tokio::spawn(server.serve());
    let membership = Membership {
        state,
        registry,
        director: config.director,
        addr,
    };
    tokio::select! {
        served = &mut serving => match served {
            Ok(result) => result.context("the worker's server failed"),
            Err(join) => Err(anyhow!("the worker's server task failed: {join}")),
        },
        refused = membership.run() => refused,
        reason = shutdown::requested() => {
            info!(target: "worker", worker = %config.label, %reason, "worker shutting down");
            Ok(())
        }
    }
}

/// The registry client, with the worker's client certificate when it has one.
fn registry_client(config: &WorkerConfig) -> anyhow::Result<DirectorRegistryClient> {
    let mut rpc = rpcnet::ClientConfig::new(config.certs.ca())
        .context("loading the CA certificate")?
        .server_name(SERVER_NAME)
        .keep_alive(REGISTRY_KEEP_ALIVE)
        .idle_timeout(REGISTRY_IDLE_TIMEOUT)
        .connect_timeout(REGISTRY_CONNECT_TIMEOUT);
    match &config.identity {
        Some((cert, key)) if cert.is_file() && key.is_file() => {
            rpc = rpc
                .identity(cert, key)
                .with_context(|| format!("loading the worker certificate {}", cert.display()))?;
        }
        Some((cert, key)) => warn!(
            target: "worker",
            worker = %config.label,
            cert = %cert.display(),
            key = %key.display(),
            "worker certificate or key not found; registering without a client certificate"
        ),
        None => warn!(
            target: "worker",
            worker = %config.label,
            "no worker certificate configured; registering without a client certificate"
        ),
    }
    let client = rpcnet::Client::lazy(config.director, rpc)
        .with_context(|| format!("preparing a client for the director at {}", config.director))?;
    Ok(DirectorRegistryClient::new(client))
}

/// What the worker's tasks share.
#[derive(Debug)]
struct WorkerState {
    label: String,
    failure_after: Duration,
    recovery: Duration,
    token_interval: Duration,
    limits: WorkerLimits,
    /// Whether the worker takes streams; the membership task reports changes to the director.
    available: watch::Sender<bool>,
    /// Bumped at every simulated failure: all streams being served end with it.
    failures: watch::Sender<u64>,
    /// Streams being served now.
    active: AtomicU32,
}

impl WorkerState {
    fn new(config: &WorkerConfig) -> Self {
        WorkerState {
            label: config.label.clone(),
            failure_after: config.failure_after,
            recovery: config.recovery,
            token_interval: config.token_interval,
            limits: config.limits,
            available: watch::Sender::new(true),
            failures: watch::Sender::new(0),
            active: AtomicU32::new(0),
        }
    }

    fn is_available(&self) -> bool {
        *self.available.borrow()
    }

    /// Simulates a failure: every stream ends, the worker is unavailable until `recovery` has
    /// passed. A failure while already failed changes nothing.
    fn fail(self: &Arc<Self>) {
        let newly_failed = self
            .available
            .send_if_modified(|available| std::mem::replace(available, false));
        if !newly_failed {
            return;
        }
        self.failures.send_modify(|n| *n = n.wrapping_add(1));
        let state = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(state.recovery).await;
            state.available.send_replace(true);
            info!(
                target: "worker",
                worker = %state.label,
                "recovered from simulated failure; available again"
            );
        });
    }
}

/// Keeps the worker registered: registers (retrying with backoff while the director is not
/// up), then heartbeats and reports availability; registers again whenever the director no
/// longer knows it (e.g. after a director restart).
struct Membership {
    state: Arc<WorkerState>,
    registry: DirectorRegistryClient,
    director: SocketAddr,
    addr: SocketAddr,
}

impl Membership {
    /// Returns only when the director refuses the worker.
    async fn run(self) -> anyhow::Result<()> {
        let mut backoff = Backoff::new(REGISTER_BACKOFF.0, REGISTER_BACKOFF.1);
        loop {
            let (worker_id, heartbeat_interval) = self.register(&mut backoff).await?;
            backoff.reset();
            self.stay_registered(worker_id, heartbeat_interval).await?;
        }
    }

    async fn register(&self, backoff: &mut Backoff) -> anyhow::Result<(u64, Duration)> {
        let label = &self.state.label;
        loop {
            let request = RegisterRequest {
                label: label.clone(),
                addr: self.addr.to_string(),
                available: self.state.is_available(),
                max_prompt_bytes: u64::try_from(self.state.limits.max_prompt_bytes)
                    .unwrap_or(u64::MAX),
                max_streams: self.state.limits.max_streams,
            };
            match self
                .registry
                .register(Request::new(request).with_timeout(REGISTRY_CALL_TIMEOUT))
                .await
            {
                Ok(response) => {
                    let response = response.into_inner();
                    info!(
                        target: "worker",
                        worker = %label,
                        worker.id = response.worker_id,
                        director = %self.director,
                        "registered with director"
                    );
                    let interval = Duration::from_millis(response.heartbeat_interval_ms)
                        .clamp(Duration::from_millis(50), Duration::from_secs(10));
                    return Ok((response.worker_id, interval));
                }
                Err(status) if refused(&status) => return Err(self.refusal(&status)),
                Err(status) => {
                    let wait = backoff.next_delay();
                    warn!(
                        target: "worker",
                        worker = %label,
                        director = %self.director,
                        err = %status,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "director not reachable yet; retrying registration"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Heartbeats and availability reports until the director forgets the worker (Ok) or
    /// refuses it (Err).
    async fn stay_registered(&self, worker_id: u64, interval: Duration) -> anyhow::Result<()> {
        let label = &self.state.label;
        let mut availability = self.state.available.subscribe();
        let mut reported = *availability.borrow_and_update();
        let mut director_lost = false;
        let mut next_heartbeat = Instant::now() + interval;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next_heartbeat) => {
                    next_heartbeat = Instant::now() + interval;
                    let request = HeartbeatRequest {
                        worker_id,
                        addr: self.addr.to_string(),
                        active_streams: self.state.active.load(Ordering::Relaxed),
                        available: self.state.is_available(),
                    };
                    match self
                        .registry
                        .heartbeat(Request::new(request).with_timeout(REGISTRY_CALL_TIMEOUT))
                        .await
                    {
                        Ok(response) => {
                            if director_lost {
                                director_lost = false;
                                info!(target: "worker", worker = %label, director = %self.director, "director reachable again");
                            }
                            if !response.into_inner().known {
                                info!(
                                    target: "worker",
                                    worker = %label,
                                    director = %self.director,
                                    "director does not know this worker (restarted?); registering again"
                                );
                                return Ok(());
                            }
                        }
                        Err(status) if refused(&status) => return Err(self.refusal(&status)),
                        Err(status) => {
                            if !director_lost {
                                director_lost = true;
                                warn!(
                                    target: "worker",
                                    worker = %label,
                                    director = %self.director,
                                    err = %status,
                                    "heartbeat failed; will keep trying"
                                );
                            }
                        }
                    }
                }
                changed = availability.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let available = *availability.borrow_and_update();
                    if available == reported {
                        continue;
                    }
                    reported = available;
                    let reason = if available { "recovered" } else { "simulated failure" };
                    let request = SetAvailabilityRequest {
                        worker_id,
                        addr: self.addr.to_string(),
                        available,
                        reason: reason.to_owned(),
                    };
                    match self
                        .registry
                        .set_availability(Request::new(request).with_timeout(REGISTRY_CALL_TIMEOUT))
                        .await
                    {
                        Ok(response) if !response.get_ref().known => return Ok(()),
                        Ok(_) => debug!(target: "worker", worker = %label, available, "availability reported"),
                        Err(status) if refused(&status) => return Err(self.refusal(&status)),
                        // The next heartbeat carries the availability too.
                        Err(status) => warn!(
                            target: "worker",
                            worker = %label,
                            err = %status,
                            "could not report availability; the next heartbeat will"
                        ),
                    }
                }
            }
        }
    }

    fn refusal(&self, status: &Status) -> anyhow::Error {
        if let Some(alert) = status.tls_alert() {
            return self.tls_refusal(alert, status);
        }
        error!(
            target: "worker",
            worker = %self.state.label,
            director = %self.director,
            err = %status.message(),
            "registration refused by director: this worker has no valid worker client certificate"
        );
        anyhow!(
            "the director at {} refused worker {}: {}",
            self.director,
            self.state.label,
            status.message()
        )
    }

    /// The director closed the connection with a TLS alert: a certificate it does not accept
    /// (another CA, expired, not a client certificate) or a TLS setting it does not share. No
    /// retry can mend that, so it is reported once, as the configuration error it is.
    fn tls_refusal(&self, alert: TlsAlert, status: &Status) -> anyhow::Error {
        let label = &self.state.label;
        let what = if alert.concerns_a_certificate() {
            "the director refused this worker's certificate; check CONNECTION_SWAP_WORKER_CERT and the CA the director trusts"
        } else {
            "the director refused this worker's TLS handshake"
        };
        error!(
            target: "worker",
            worker = %label,
            director = %self.director,
            tls.alert = %alert,
            err = %status.message(),
            "configuration error: {what}"
        );
        anyhow!(
            "the director at {} refused worker {label} at the TLS level (alert {alert}): {}",
            self.director,
            status.message()
        )
    }
}

/// Whether the director refused the worker itself (as opposed to being unreachable): at the
/// application level, or at the TLS level (its certificate) with an alert.
fn refused(status: &Status) -> bool {
    status.tls_alert().is_some()
        || matches!(
            status.code(),
            Code::Unauthenticated | Code::PermissionDenied
        )
}

/// The `WorkerStream` service: one call per stream handed over by the director.
struct StreamService {
    state: Arc<WorkerState>,
}

impl WorkerStream for StreamService {
    async fn serve(
        &self,
        ctx: RequestContext,
        request: Request<Streaming<WorkerAssignment>>,
    ) -> Result<Response<ResponseStream<WorkerFrame>>, Status> {
        let label = &self.state.label;
        // Info, not debug: the spec's troubleshooting guide tells users to look for this line.
        info!(
            target: "worker",
            worker = %label,
            transport = %ctx.transport(),
            "stream handler invoked; waiting for assignment"
        );
        let mut from_director = request.into_inner();
        let assignment = from_director
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("expected a WorkerAssignment first"))?;
        // The request is judged before the worker's state: a bad one is refused as such.
        let first = first_sequence_after(assignment.resume_after).inspect_err(|status| {
            warn!(
                target: "worker",
                worker = %label,
                stream.id = assignment.stream_id,
                connection.id = %assignment.connection_id,
                err = %status.message(),
                "refusing handoff: invalid resume position"
            );
        })?;
        let max_prompt = self.state.limits.max_prompt_bytes;
        if assignment.prompt.len() > max_prompt {
            let limit = u64::try_from(max_prompt).unwrap_or(u64::MAX);
            let status = prompt_too_long(assignment.prompt.len(), limit);
            warn!(
                target: "worker",
                worker = %label,
                stream.id = assignment.stream_id,
                connection.id = %assignment.connection_id,
                err = %status.message(),
                "refusing handoff: prompt too long"
            );
            return Err(status);
        }
        if !self.state.is_available() {
            info!(
                target: "worker",
                worker = %label,
                stream.id = assignment.stream_id,
                connection.id = %assignment.connection_id,
                "refusing handoff while recovering"
            );
            return Err(recovering(label));
        }
        info!(
            target: "worker",
            worker = %label,
            stream.id = assignment.stream_id,
            connection.id = %assignment.connection_id,
            prompt = %LoggedPrompt(&assignment.prompt),
            resume_after = assignment.resume_after,
            "accepted handoff from director"
        );
        let (frames, outgoing) = rpcnet::channel(FRAME_QUEUE);
        tokio::spawn(produce(
            Arc::clone(&self.state),
            assignment,
            first,
            from_director,
            frames,
        ));
        Ok(Response::new(ResponseStream::from(outgoing)))
    }
}

/// Counts a stream as active while alive.
struct ActiveStream<'a>(&'a AtomicU32);

impl<'a> ActiveStream<'a> {
    fn new(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        ActiveStream(counter)
    }
}

impl Drop for ActiveStream<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one assigned stream: a `[connected]` frame, then tokens from `first` (the checked
/// `resume_after + 1`) at the configured pace, until the director closes its side, the
/// simulated failure, or the last sequence number there is.
async fn produce(
    state: Arc<WorkerState>,
    assignment: WorkerAssignment,
    first: u64,
    mut from_director: Streaming<WorkerAssignment>,
    frames: StreamSender<Result<WorkerFrame, Status>>,
) {
    let _active = ActiveStream::new(&state.active);
    let label = state.label.as_str();
    let stream_id = assignment.stream_id;
    let connection_id = assignment.connection_id.as_str();
    let mut failures = state.failures.subscribe();
    let connected = frame(FrameKind::Connected(Connected {
        worker_label: label.to_owned(),
    }));
    if frames.send(Ok(connected)).await.is_err() {
        return;
    }
    let fail_at = Instant::now() + state.failure_after;
    let mut next_token = Instant::now();
    let mut sequence = first;
    loop {
        tokio::select! {
            biased;
            changed = failures.changed() => {
                if changed.is_ok() {
                    info!(
                        target: "worker",
                        worker = %label,
                        stream.id = stream_id,
                        connection.id = %connection_id,
                        "ending stream: the worker failed"
                    );
                    let _ = frames.send(Err(simulated_failure(label))).await;
                }
                return;
            }
            () = tokio::time::sleep_until(fail_at) => {
                warn!(
                    target: "worker",
                    worker = %label,
                    stream.id = stream_id,
                    connection.id = %connection_id,
                    "simulating failure after {}",
                    display_secs(state.failure_after)
                );
                state.fail();
                let _ = frames.send(Err(simulated_failure(label))).await;
                return;
            }
            message = next(&mut from_director) => match message {
                Some(Ok(_)) => debug!(target: "worker", worker = %label, "ignoring an extra message from the director"),
                Some(Err(_)) | None => {
                    info!(
                        target: "worker",
                        worker = %label,
                        stream.id = stream_id,
                        connection.id = %connection_id,
                        "director closed the stream"
                    );
                    return;
                }
            },
            () = frames.closed() => {
                info!(
                    target: "worker",
                    worker = %label,
                    stream.id = stream_id,
                    connection.id = %connection_id,
                    "director closed the stream"
                );
                return;
            }
            () = tokio::time::sleep_until(next_token) => {
                info!(
                    target: "worker",
                    worker = %label,
                    stream.id = stream_id,
                    connection.id = %connection_id,
                    seq = sequence,
                    "sending token"
                );
                let token = frame(FrameKind::Token(WorkerToken {
                    sequence,
                    text: token_text(&assignment.prompt, sequence),
                }));
                if frames.send(Ok(token)).await.is_err() {
                    return;
                }
                sequence = match sequence.checked_add(1).filter(|s| *s <= MAX_SEQUENCE) {
                    Some(next) => next,
                    None => {
                        let _ = frames.send(Err(last_sequence_reached())).await;
                        return;
                    }
                };
                next_token += state.token_interval;
            }
        }
    }
}

/// Parses `CONNECTION_SWAP_WORKER_CERT`-style settings: `none` (or empty) means no client
/// certificate; anything else is a path.
pub fn identity_setting(
    cert: Option<&str>,
    key: Option<PathBuf>,
    certs: &CertPaths,
) -> Option<(PathBuf, PathBuf)> {
    match cert.map(str::trim) {
        Some("") | Some("none") => None,
        Some(path) => Some((
            PathBuf::from(path),
            key.unwrap_or_else(|| certs.worker_key()),
        )),
        None => Some((
            certs.worker_cert(),
            key.unwrap_or_else(|| certs.worker_key()),
        )),
    }
}

/// A worker label from the settings, or `worker-<port>` when none is given.
pub fn label_or_default(label: Option<String>, listen: SocketAddr) -> anyhow::Result<String> {
    match label {
        Some(label) if label.trim().is_empty() => bail!("the worker label is empty"),
        Some(label) => Ok(label),
        None => Ok(format!("worker-{}", listen.port())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_none_means_no_certificate() {
        let certs = CertPaths::new("/c");
        assert_eq!(identity_setting(Some("none"), None, &certs), None);
        assert_eq!(
            identity_setting(None, None, &certs),
            Some((
                PathBuf::from("/c/worker.pem"),
                PathBuf::from("/c/worker.key")
            ))
        );
        assert_eq!(
            identity_setting(Some("/x.pem"), Some("/x.key".into()), &certs),
            Some((PathBuf::from("/x.pem"), PathBuf::from("/x.key")))
        );
    }

    #[test]
    fn labels_default_to_the_port() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 62001));
        assert_eq!(
            label_or_default(None, addr).ok().as_deref(),
            Some("worker-62001")
        );
        assert!(label_or_default(Some(" ".into()), addr).is_err());
    }
}
