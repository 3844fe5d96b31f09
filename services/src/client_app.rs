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
use crate::protocol::{event_kind, EventKind, GenerateRequest};
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

    'streams: while !done(&tracker, config.max_tokens) {
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
                break 'streams;
            }
        };
        let mut events = match opened {
            Ok(response) => response.into_inner(),
            Err(status) => {
                let wait = backoff.next_delay();
                error!(
                    director = %config.director,
                    err = %status,
                    retry_in_ms = millis(wait),
                    "cannot open a stream to the director; retrying"
                );
                if pause(wait, &mut stop).await.is_some() {
                    break 'streams;
                }
                continue 'streams;
            }
        };
        info!("stream opened, waiting for frames");
        let mut current: Option<(String, String, u64)> = None;
        loop {
            let item = tokio::select! {
                item = next(&mut events) => item,
                reason = &mut stop => {
                    stopped(reason);
                    break 'streams;
                }
            };
            let event = match item {
                Some(Ok(event)) => event,
                Some(Err(status)) => {
                    let wait = backoff.next_delay();
                    error!(
                        director = %config.director,
                        err = %status,
                        retry_in_ms = millis(wait),
                        "lost the stream to the director; reconnecting"
                    );
                    tracker.on_reconnect();
                    if pause(wait, &mut stop).await.is_some() {
                        break 'streams;
                    }
                    continue 'streams;
                }
                None => {
                    warn!("the director ended the stream; opening a new one");
                    tracker.on_reconnect();
                    continue 'streams;
                }
            };
            match event_kind(event) {
                Some(EventKind::Assigned(assigned)) => {
                    backoff.reset();
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
                    tracker.on_assigned(&assigned.connection_id, &assigned.worker_label);
                    current = Some((
                        assigned.connection_id,
                        assigned.worker_label,
                        assigned.stream_id,
                    ));
                }
                Some(EventKind::Token(token)) => {
                    let (connection_id, _, stream_id) = current
                        .clone()
                        .unwrap_or_else(|| (String::new(), String::new(), 0));
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
                    let check = tracker.on_token(
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
                    if done(&tracker, config.max_tokens) {
                        info!(
                            tokens = tracker.tokens(),
                            "received the requested number of tokens; stopping"
                        );
                        break 'streams;
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
                        client.last_sequence = tracker.last_sequence(),
                        "resuming after the last token received"
                    );
                    tracker.on_worker_failed();
                    let retry = GenerateRequest {
                        prompt: config.prompt.clone(),
                        resume_after: tracker.last_sequence(),
                    };
                    // If the call is already over, the event stream reports it next.
                    let _ = requests.send(retry).await;
                }
                None => debug!("ignoring an event this client does not know"),
            }
        }
    }
    Ok(tracker.finish(client.connections_opened()))
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
