//! The client: opens one QUIC connection to the director and one long-running
//! `Inference.generate` call on it, logs every frame with the connection and stream ids, asks
//! for another worker when the serving one fails (same connection, same stream), reconnects
//! with backoff if the director goes away, and returns a summary of what it saw.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::certs::{CertPaths, SERVER_NAME};
use crate::protocol::inference::InferenceClient;
use crate::protocol::next;
use rpcnet::{StreamSender, Streaming};

use crate::protocol::{event_kind, EventKind, GenerateEvent, GenerateRequest};
use crate::shutdown::{self, StopReason};
use crate::summary::{Summary, TokenCheck, Tracker};

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientAppConfig {
    /// The director's address (`CONNECTION_SWAP_DIRECTOR_TARGET`).
    pub director: SocketAddr,
    /// The CA that signed the director's certificate.
    pub certs: CertPaths,
    /// The prompt to generate from.
    pub prompt: String,
    /// Stop after this many tokens (`CONNECTION_SWAP_CLIENT_TOKENS`); `None` runs until Ctrl-C.
    pub max_tokens: Option<u64>,
}

/// How the client's stream to a worker ended, as logged: the spec shows
/// `err=StreamError("worker-a simulated failure")`.
#[derive(Debug)]
pub enum StreamEnd {
    /// The serving worker failed with this reason.
    StreamError(String),
}

/// Keep-alive on the connection to the director, so a long pause between tokens (all workers
/// recovering) does not let the connection idle out.
const KEEP_ALIVE: Duration = Duration::from_millis(500);

/// A director connection silent this long is dead (the director crashed or restarted).
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one attempt to reach the director may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// First and longest wait between attempts to reach the director again.
const RECONNECT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(250), Duration::from_secs(4));

/// Runs the client until it has `max_tokens` tokens or is asked to stop; returns the summary.
pub async fn run(config: ClientAppConfig) -> anyhow::Result<Summary> {
    let rpc = rpcnet::ClientConfig::new(config.certs.ca())
        .context("loading the CA certificate")?
        .server_name(SERVER_NAME)
        .keep_alive(KEEP_ALIVE)
        .idle_timeout(IDLE_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT);
    let client = rpcnet::Client::lazy(config.director, rpc)
        .with_context(|| format!("preparing a client for the director at {}", config.director))?;
    let inference = InferenceClient::new(client.clone());
    let mut tracker = Tracker::new(&config.prompt);
    let mut backoff = Backoff::new(RECONNECT_BACKOFF.0, RECONNECT_BACKOFF.1);
    let stop = shutdown::requested();
    tokio::pin!(stop);

    while !done(&tracker, config.max_tokens) {
        info!(prompt = %config.prompt, "issuing streaming request to director");
        let (requests, outgoing) = rpcnet::channel(4);
        let first = GenerateRequest {
            prompt: config.prompt.clone(),
            resume_after: tracker.last_sequence(),
        };
        // The receiver is alive: this cannot fail.
        let _ = requests.send(first).await;
        let opened = tokio::select! {
            opened = inference.generate(outgoing) => opened,
            reason = &mut stop => {
                stopped(reason);
                break;
            }
        };
        let outcome = match opened {
            Ok(response) => {
                info!("stream opened, waiting for frames");
                let stream = OpenStream {
                    config: &config,
                    tracker: &mut tracker,
                    backoff: &mut backoff,
                    requests,
                    events: response.into_inner(),
                };
                stream.follow(&mut stop).await
            }
            Err(status) => {
                let wait = backoff.next_delay();
                error!(
                    director = %config.director,
                    err = %status,
                    retry_in_ms = millis(wait),
                    "cannot open a stream to the director; retrying"
                );
                Followed::Lost(Some(wait))
            }
        };
        match outcome {
            Followed::Stop => break,
            Followed::Lost(None) => {}
            Followed::Lost(Some(wait)) => {
                if pause(wait, &mut stop).await.is_some() {
                    break;
                }
            }
        }
    }
    Ok(tracker.finish(client.connections_opened()))
}

/// How following one stream ended.
enum Followed {
    /// Enough tokens, or a stop request: the client is done.
    Stop,
    /// The stream to the director was lost; open another after the wait, if any.
    Lost(Option<Duration>),
}

/// How long the client waits for the director to end the call after it said it is done.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// One `generate` call in progress.
struct OpenStream<'a> {
    config: &'a ClientAppConfig,
    tracker: &'a mut Tracker,
    backoff: &'a mut Backoff,
    requests: StreamSender<GenerateRequest>,
    events: Streaming<GenerateEvent>,
}

impl OpenStream<'_> {
    /// Handles the director's events until the client is done or the stream is lost.
    async fn follow(
        mut self,
        stop: &mut (impl std::future::Future<Output = StopReason> + Unpin),
    ) -> Followed {
        let mut current: Option<(String, u64)> = None;
        loop {
            let item = tokio::select! {
                item = next(&mut self.events) => item,
                reason = &mut *stop => {
                    stopped(reason);
                    self.close().await;
                    return Followed::Stop;
                }
            };
            let event = match item {
                Some(Ok(event)) => event,
                Some(Err(status)) => {
                    let wait = self.backoff.next_delay();
                    error!(
                        director = %self.config.director,
                        err = %status,
                        retry_in_ms = millis(wait),
                        "lost the stream to the director; reconnecting"
                    );
                    self.tracker.on_reconnect();
                    return Followed::Lost(Some(wait));
                }
                None => {
                    warn!("the director ended the stream; opening a new one");
                    self.tracker.on_reconnect();
                    return Followed::Lost(None);
                }
            };
            match event_kind(event) {
                Some(EventKind::Assigned(assigned)) => {
                    self.backoff.reset();
                    info!(
                        connection.id = %assigned.connection_id,
                        worker = %assigned.worker_label,
                        stream.id = assigned.stream_id,
                        "worker assigned to stream"
                    );
                    println!(
                        "[connected] connection={} worker={} stream={} addr={}",
                        assigned.connection_id,
                        assigned.worker_label,
                        assigned.stream_id,
                        assigned.worker_addr
                    );
                    self.tracker
                        .on_assigned(&assigned.connection_id, &assigned.worker_label);
                    current = Some((assigned.connection_id, assigned.stream_id));
                }
                Some(EventKind::Token(token)) => {
                    let (connection_id, stream_id) =
                        current.clone().unwrap_or_else(|| (String::new(), 0));
                    info!(
                        connection.id = %connection_id,
                        worker = %token.worker_label,
                        stream.id = stream_id,
                        sequence = token.sequence,
                        text = %token.text,
                        "received token"
                    );
                    println!(
                        "[token] connection={connection_id} worker={} stream={stream_id} seq={} text={}",
                        token.worker_label, token.sequence, token.text
                    );
                    let check = self.tracker.on_token(
                        token.sequence,
                        &token.text,
                        &token.worker_label,
                        Instant::now(),
                    );
                    if check != TokenCheck::Ok {
                        error!(
                            connection.id = %connection_id,
                            sequence = token.sequence,
                            problem = ?check,
                            "token out of order or with the wrong text"
                        );
                    }
                    if done(self.tracker, self.config.max_tokens) {
                        info!(
                            tokens = self.tracker.tokens(),
                            "received the requested number of tokens; stopping"
                        );
                        self.close().await;
                        return Followed::Stop;
                    }
                }
                Some(EventKind::WorkerFailed(failed)) => {
                    info!(
                        "stream ended; requesting another worker err={:?}",
                        StreamEnd::StreamError(failed.reason)
                    );
                    debug!(
                        worker = %failed.worker_label,
                        director.last_sequence = failed.last_sequence,
                        client.last_sequence = self.tracker.last_sequence(),
                        "resuming after the last token received"
                    );
                    self.tracker.on_worker_failed();
                    let retry = GenerateRequest {
                        prompt: self.config.prompt.clone(),
                        resume_after: self.tracker.last_sequence(),
                    };
                    // If the call is already over, the event stream reports it next.
                    let _ = self.requests.send(retry).await;
                }
                None => debug!("ignoring an event this client does not know"),
            }
        }
    }

    /// Ends the call politely: closes the request side, then reads until the director ends
    /// the response (it does so as soon as it sees the request side closed), for at most
    /// [`CLOSE_GRACE`]. Abandoning a call instead would reset it on the wire.
    async fn close(self) {
        let OpenStream {
            requests,
            mut events,
            ..
        } = self;
        drop(requests);
        let drained = tokio::time::timeout(CLOSE_GRACE, async {
            while next(&mut events).await.is_some() {}
        })
        .await;
        if drained.is_err() {
            debug!("the director did not end the call in time; abandoning it");
        }
    }
}

fn done(tracker: &Tracker, max_tokens: Option<u64>) -> bool {
    max_tokens.is_some_and(|max| tracker.tokens() >= max)
}

fn stopped(reason: StopReason) {
    info!(%reason, "stopping");
}

/// Waits `wait`, or less if a stop is requested (then returns the reason).
async fn pause(
    wait: Duration,
    stop: &mut (impl std::future::Future<Output = StopReason> + Unpin),
) -> Option<StopReason> {
    tokio::select! {
        () = tokio::time::sleep(wait) => None,
        reason = stop => {
            stopped(reason);
            Some(reason)
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A prompt unique enough to tell runs apart: `prompt-<unix seconds>`.
pub fn default_prompt() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("prompt-{secs}")
}
