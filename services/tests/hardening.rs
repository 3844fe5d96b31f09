//! Hardening tests of the connection-swap services (issue 10): hostile or unlucky inputs sent
//! to the real director and worker processes over loopback, each showing that the request is
//! answered with a clear status and that no worker is evicted, no process panics or overflows.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use connection_swap::certs::{CertPaths, SERVER_NAME};
use connection_swap::protocol::inference::InferenceClient;
use connection_swap::protocol::workerstream::WorkerStreamClient;
use connection_swap::protocol::{
    event_kind, frame_kind, EventKind, FrameKind, GenerateEvent, GenerateRequest, WorkerAssignment,
    DEFAULT_MAX_PROMPT_BYTES, MAX_SEQUENCE,
};
use connection_swap::tokens::token_text;
use rpcnet::{Code, Status, StreamSender, Streaming};
use support::*;

/// Swaps rarely: one failure a second, short recovery, so a test sees a retry quickly without
/// its other calls being interrupted often.
const RARE_SWAPS: Timing = Timing {
    token_interval_ms: 100,
    failure_after_secs: 1.0,
    recovery_secs: 0.3,
};

/// No simulated failure, and tokens slow enough that hundreds of held sessions do not load the
/// machine.
const SLOW_TOKENS: Timing = Timing {
    token_interval_ms: 300,
    failure_after_secs: 600.0,
    recovery_secs: 0.5,
};

/// How long any single call of these tests may take.
const CALL_BOUND: Duration = Duration::from_secs(15);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("tokio runtime: {err}"))
}

fn client_config() -> rpcnet::ClientConfig {
    rpcnet::ClientConfig::new(CertPaths::default().ca())
        .unwrap_or_else(|err| panic!("client config: {err}"))
        .server_name(SERVER_NAME)
}

/// An anonymous client of the director at `addr`, connected.
async fn connect(addr: std::net::SocketAddr) -> InferenceClient {
    InferenceClient::new(
        rpcnet::Client::connect(addr, client_config())
            .await
            .unwrap_or_else(|err| panic!("connect: {err}")),
    )
}

/// A `generate` call in progress: the request side (kept open) and the events.
struct Call {
    requests: StreamSender<GenerateRequest>,
    events: Streaming<GenerateEvent>,
}

/// Opens a `generate` call with one first request; the status if the director refused it.
async fn open(client: &InferenceClient, prompt: &str, resume_after: u64) -> Result<Call, Status> {
    let (requests, outgoing) = rpcnet::channel(4);
    let first = GenerateRequest {
        prompt: prompt.to_owned(),
        resume_after,
    };
    if requests.send(first).await.is_err() {
        panic!("the request channel closed before the call started");
    }
    let response = tokio::time::timeout(CALL_BOUND, client.generate(outgoing))
        .await
        .unwrap_or_else(|_| panic!("the director did not answer within {CALL_BOUND:?}"))?;
    Ok(Call {
        requests,
        events: response.into_inner(),
    })
}

impl Call {
    /// The next event; `Err` with the status that ended the call (OK if it ended cleanly).
    async fn next(&mut self) -> Result<EventKind, Status> {
        let item = tokio::time::timeout(CALL_BOUND, self.events.message())
            .await
            .unwrap_or_else(|_| panic!("no event within {CALL_BOUND:?}"));
        match item {
            Ok(Some(event)) => event_kind(event).ok_or_else(|| Status::unknown("empty event")),
            Ok(None) => Err(Status::ok("the call ended")),
            Err(status) => Err(status),
        }
    }

    /// Events until the call ends; returns the tokens' sequence numbers and the final status.
    async fn tokens_until_end(&mut self) -> (Vec<u64>, Status) {
        let mut sequences = Vec::new();
        loop {
            match self.next().await {
                Ok(EventKind::Token(token)) => sequences.push(token.sequence),
                Ok(_) => {}
                Err(status) => return (sequences, status),
            }
        }
    }
}

/// The status a call ended with, whether the director refused it at once or after opening.
async fn refusal(client: &InferenceClient, prompt: &str, resume_after: u64) -> Status {
    match open(client, prompt, resume_after).await {
        Err(status) => status,
        Ok(mut call) => {
            let (tokens, status) = call.tokens_until_end().await;
            assert!(tokens.is_empty(), "tokens {tokens:?} before {status}");
            status
        }
    }
}

/// The address a worker process reports in its `worker listening` line.
fn worker_addr(worker: &Proc) -> std::net::SocketAddr {
    let line = worker.wait_for(&["worker listening"], Duration::from_secs(10));
    field(&line.text, "addr")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {:?}", line.text))
}

/// The next token of a call for `prompt`, checked to follow `last` (which it then becomes);
/// returns the label of the worker that produced it.
async fn next_token(call: &mut Call, prompt: &str, last: &mut u64) -> String {
    loop {
        match call.next().await {
            Ok(EventKind::Token(token)) => {
                assert_eq!(token.sequence, *last + 1, "contiguous");
                assert_eq!(token.text, token_text(prompt, token.sequence));
                *last = token.sequence;
                return token.worker_label;
            }
            Ok(_) => {}
            Err(status) => panic!("the call ended after {last} tokens: {status}"),
        }
    }
}

fn assert_no_panic(proc: &Proc) {
    let panics = proc.matching(&["panicked"]);
    assert!(panics.is_empty(), "{} panicked: {panics:?}", proc.name);
}

fn assert_never_evicted(director: &Proc) {
    let evictions = director.matching(&["removing unreachable worker"]);
    assert!(evictions.is_empty(), "a worker was evicted: {evictions:?}");
}

#[test]
fn resume_positions_past_the_last_sequence_are_refused_and_never_overflow() {
    let addr = free_addr();
    let director = start_director(addr);
    let worker = start_worker("worker-a", addr, RARE_SWAPS, &[]);
    director.wait_for(&["worker registered"], Duration::from_secs(10));
    let worker_at = worker_addr(&worker);
    runtime().block_on(async {
        let client = connect(addr).await;

        // The first request: refused at once, naming the limit.
        for bad in [u64::MAX, u64::MAX - 1, MAX_SEQUENCE] {
            let status = refusal(&client, "prompt-overflow", bad).await;
            assert_eq!(status.code(), Code::InvalidArgument, "{bad}: {status}");
            assert!(
                status.message().contains(&MAX_SEQUENCE.to_string()),
                "the limit is named: {status}"
            );
        }

        // Just below the limit: the last tokens there are, then OUT_OF_RANGE, worker kept.
        let mut call = open(&client, "prompt-last", MAX_SEQUENCE - 2)
            .await
            .unwrap_or_else(|status| panic!("refused below the limit: {status}"));
        let (tokens, status) = call.tokens_until_end().await;
        assert_eq!(tokens, [MAX_SEQUENCE - 1, MAX_SEQUENCE]);
        assert_eq!(status.code(), Code::OutOfRange, "{status}");

        // A retry after a worker failure: the resume position is checked again.
        let mut call = open(&client, "prompt-retry", 0)
            .await
            .unwrap_or_else(|status| panic!("refused: {status}"));
        loop {
            match call.next().await {
                Ok(EventKind::WorkerFailed(_)) => break,
                Ok(_) => {}
                Err(status) => panic!("the call ended before a swap: {status}"),
            }
        }
        let retry = GenerateRequest {
            prompt: "prompt-retry".into(),
            resume_after: u64::MAX,
        };
        assert!(call.requests.send(retry).await.is_ok());
        let (tokens, status) = call.tokens_until_end().await;
        assert!(tokens.is_empty(), "{tokens:?}");
        assert_eq!(status.code(), Code::InvalidArgument, "{status}");

        // The worker itself checks too, whoever calls it.
        let direct = WorkerStreamClient::connect(worker_at, client_config())
            .await
            .unwrap_or_else(|err| panic!("connect to the worker: {err}"));
        for bad in [u64::MAX, MAX_SEQUENCE] {
            let (assignments, outgoing) = rpcnet::channel(1);
            let assignment = WorkerAssignment {
                connection_id: "conn-test".into(),
                stream_id: 0,
                prompt: "prompt-direct".into(),
                resume_after: bad,
            };
            assert!(assignments.send(assignment).await.is_ok());
            let status = match direct.serve(outgoing).await {
                Err(status) => status,
                Ok(response) => {
                    let mut frames = response.into_inner();
                    loop {
                        match frames.message().await {
                            Ok(Some(frame)) => match frame_kind(frame) {
                                Some(FrameKind::Token(token)) => {
                                    panic!("the worker sent token {}", token.sequence)
                                }
                                _ => continue,
                            },
                            Ok(None) => panic!("the worker ended the call with OK"),
                            Err(status) => break status,
                        }
                    }
                }
            };
            assert_eq!(status.code(), Code::InvalidArgument, "{bad}: {status}");
        }

        // Nothing was lost on the way: a normal client is served by the same worker.
        let mut call = open(&client, "prompt-after", 0)
            .await
            .unwrap_or_else(|status| panic!("refused: {status}"));
        let mut seen = 0;
        while seen < 3 {
            match call.next().await {
                Ok(EventKind::Token(token)) => {
                    seen += 1;
                    assert_eq!(token.text, token_text("prompt-after", token.sequence));
                }
                Ok(_) => {}
                Err(status) => panic!("the call ended after {seen} tokens: {status}"),
            }
        }
    });
    director.wait_for(
        &["refusing stream: invalid resume position"],
        Duration::from_secs(1),
    );
    director.wait_for(
        &["ending stream: invalid resume position"],
        Duration::from_secs(1),
    );
    worker.wait_for(
        &["refusing handoff: invalid resume position"],
        Duration::from_secs(1),
    );
    assert_never_evicted(&director);
    assert_no_panic(&worker);
    assert_no_panic(&director);
}

#[test]
fn a_prompt_no_worker_takes_is_refused_at_once_and_evicts_nobody() {
    let addr = free_addr();
    let director = start_director(addr);
    // worker-small takes prompts of up to 1000 bytes, worker-big the default (4 MiB less the
    // rest of an assignment).
    let small_limit = ("CONNECTION_SWAP_WORKER_MAX_PROMPT_BYTES", "1000".to_owned());
    let small = start_worker("worker-small", addr, Timing::STEADY, &[small_limit]);
    director.wait_for_count(&["worker registered"], 1, Duration::from_secs(10));
    let big = start_worker("worker-big", addr, Timing::STEADY, &[]);
    director.wait_for_count(&["worker registered"], 2, Duration::from_secs(10));
    let small_at = worker_addr(&small);
    let limit = DEFAULT_MAX_PROMPT_BYTES.to_string();
    let registered = director.wait_for(&["worker registered", "worker-big"], CALL_BOUND);
    assert_eq!(
        field(&registered.text, "max_prompt_bytes"),
        Some(limit.as_str())
    );
    runtime().block_on(async {
        let client = connect(addr).await;
        // A client being served all along, by the least loaded worker that takes its prompt.
        let mut served = open(&client, "prompt-steady", 0)
            .await
            .unwrap_or_else(|status| panic!("refused: {status}"));
        let mut last = 0;
        let worker = next_token(&mut served, "prompt-steady", &mut last).await;
        assert_eq!(worker, "worker-small");

        // Just under the director's own 4 MiB message limit, over every worker's: refused at
        // once, naming the limit, again and again.
        let huge = "p".repeat(rpcnet::codec::DEFAULT_MAX_MESSAGE_SIZE - 512);
        for attempt in 0..3 {
            let status = refusal(&client, &huge, 0).await;
            assert_eq!(status.code(), Code::InvalidArgument, "{attempt}: {status}");
            assert!(
                status.message().contains(&format!("at most {limit} bytes")),
                "the limit is named: {status}"
            );
            next_token(&mut served, "prompt-steady", &mut last).await;
        }

        // A prompt only worker-big takes goes there, although worker-small is less loaded.
        let medium = "m".repeat(2000);
        let mut call = open(&client, &medium, 0)
            .await
            .unwrap_or_else(|status| panic!("refused: {status}"));
        let token = loop {
            match call.next().await {
                Ok(EventKind::Token(token)) => break token,
                Ok(_) => {}
                Err(status) => panic!("the medium prompt was not served: {status}"),
            }
        };
        assert_eq!(token.worker_label, "worker-big");
        assert_eq!(token.text, token_text(&medium, 1));

        // worker-small checks its own limit too, whoever calls it.
        let direct = WorkerStreamClient::connect(small_at, client_config())
            .await
            .unwrap_or_else(|err| panic!("connect to the worker: {err}"));
        let (assignments, outgoing) = rpcnet::channel(1);
        let assignment = WorkerAssignment {
            connection_id: "conn-test".into(),
            stream_id: 0,
            prompt: "m".repeat(1500),
            resume_after: 0,
        };
        assert!(assignments.send(assignment).await.is_ok());
        let status = match direct.serve(outgoing).await {
            Err(status) => status,
            Ok(response) => {
                let mut frames = response.into_inner();
                loop {
                    match frames.message().await {
                        Ok(Some(_)) => continue,
                        Ok(None) => panic!("worker-small served a prompt over its limit"),
                        Err(status) => break status,
                    }
                }
            }
        };
        assert_eq!(status.code(), Code::InvalidArgument, "{status}");
        assert!(status.message().contains("at most 1000 bytes"), "{status}");

        // Both workers still serve: the steady call goes on, and a new client is served.
        next_token(&mut served, "prompt-steady", &mut last).await;
        let other = connect(addr).await;
        let mut fresh = open(&other, "prompt-fresh", 0)
            .await
            .unwrap_or_else(|status| panic!("refused: {status}"));
        match fresh.next().await {
            Ok(_) => {}
            Err(status) => panic!("a new client was not served: {status}"),
        }
    });
    let refusals = director.matching(&["refusing stream: prompt too long for every worker"]);
    assert_eq!(refusals.len(), 3, "{refusals:?}");
    // The huge prompt is logged by its start and length, not whole.
    let longest = director.text().iter().map(String::len).max().unwrap_or(0);
    assert!(longest < 1000, "a director log line of {longest} bytes");
    small.wait_for(
        &["refusing handoff: prompt too long"],
        Duration::from_secs(1),
    );
    let not_accepted = director.matching(&["worker did not accept the stream"]);
    assert!(not_accepted.is_empty(), "{not_accepted:?}");
    assert_never_evicted(&director);
    for proc in [&director, &small, &big] {
        assert_no_panic(proc);
    }
}

/// How a `generate` call opened by a client that never reads went: held by a worker (its
/// first event, the assignment, arrived; the call stays open), or ended with a status.
enum Held {
    Assigned(#[allow(dead_code)] Box<Call>, String),
    Refused(Status),
}

/// Opens `calls` `generate` calls on one new connection to the director, all at once, reads
/// the first event of each and nothing more; returns the client too, which holds the
/// connection open.
async fn hold_sessions(
    addr: std::net::SocketAddr,
    calls: usize,
    tag: &str,
) -> (InferenceClient, Vec<Held>) {
    let client = connect(addr).await;
    let mut opening = tokio::task::JoinSet::new();
    for n in 0..calls {
        let client = client.clone();
        let prompt = format!("{tag}-{n}");
        opening.spawn(async move {
            match open(&client, &prompt, 0).await {
                Err(status) => Held::Refused(status),
                Ok(mut call) => match call.next().await {
                    Ok(EventKind::Assigned(assigned)) => {
                        Held::Assigned(Box::new(call), assigned.worker_label)
                    }
                    Ok(other) => panic!("{prompt}: {other:?} before the assignment"),
                    Err(status) => Held::Refused(status),
                },
            }
        });
    }
    let mut held = Vec::with_capacity(calls);
    while let Some(joined) = opening.join_next().await {
        held.push(joined.unwrap_or_else(|err| panic!("a call task failed: {err}")));
    }
    (client, held)
}

/// (sessions assigned per worker label, refusals per code) of `held`.
fn tally(held: &[Held]) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut assigned = BTreeMap::new();
    let mut refused = BTreeMap::new();
    for outcome in held {
        match outcome {
            Held::Assigned(_, worker) => *assigned.entry(worker.clone()).or_default() += 1,
            Held::Refused(status) => *refused.entry(status.code().to_string()).or_default() += 1,
        }
    }
    (assigned, refused)
}

#[test]
fn held_sessions_cannot_keep_a_new_client_from_its_tokens() {
    let addr = free_addr();
    let director = Proc::start(
        "director",
        DIRECTOR,
        &[
            ("CONNECTION_SWAP_DIRECTOR_ADDR", addr.to_string()),
            (
                "CONNECTION_SWAP_MAX_SESSIONS_PER_CONNECTION",
                "150".to_owned(),
            ),
            ("CONNECTION_SWAP_MAX_QUEUED_SESSIONS", "10".to_owned()),
            ("CONNECTION_SWAP_QUEUE_WAIT_MS", "1000".to_owned()),
        ],
    );
    director.wait_for(&["director listening"], Duration::from_secs(10));
    // worker-a takes more streams than one connection carries (256); worker-b only ten.
    let big = ("CONNECTION_SWAP_WORKER_MAX_STREAMS", "300".to_owned());
    let worker_a = start_worker("worker-a", addr, SLOW_TOKENS, &[big]);
    director.wait_for_count(&["worker registered"], 1, Duration::from_secs(10));
    let small = ("CONNECTION_SWAP_WORKER_MAX_STREAMS", "10".to_owned());
    let worker_b = start_worker("worker-b", addr, SLOW_TOKENS, &[small]);
    let registered = director.wait_for_count(&["worker registered"], 2, Duration::from_secs(10));
    assert_eq!(
        field(&registered.text, "connections"),
        Some("1"),
        "{}",
        registered.text
    );
    let registered = director.wait_for(&["worker registered", "worker-a"], CALL_BOUND);
    assert_eq!(
        field(&registered.text, "connections"),
        Some("2"),
        "{}",
        registered.text
    );

    // A runtime of its own thread, so that the held connections are kept alive (answering
    // keep-alives) while the test waits for processes.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("tokio runtime: {err}"));
    // Two anonymous connections open 200 calls each and never read past the first event:
    // each connection gets 150 sessions, and the 300 fill the pool but for 10 places.
    let (clients, first): (Vec<InferenceClient>, Vec<Held>) = rt.block_on(async {
        let ((client_one, one), (client_two, two)) = tokio::join!(
            hold_sessions(addr, 200, "held-one"),
            hold_sessions(addr, 200, "held-two")
        );
        (
            vec![client_one, client_two],
            one.into_iter().chain(two).collect(),
        )
    });
    let (assigned, refused) = tally(&first);
    assert_eq!(refused.get("RESOURCE_EXHAUSTED"), Some(&100), "{refused:?}");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(assigned.values().sum::<usize>(), 300, "{assigned:?}");
    assert_eq!(assigned.get("worker-b"), Some(&10), "worker-b is full");
    assert_eq!(assigned.get("worker-a"), Some(&290), "over two connections");
    let refusal = director.wait_for(&["refusing stream: too many sessions"], CALL_BOUND);
    assert!(
        refusal.text.contains("PER_CONNECTION=150"),
        "{}",
        refusal.text
    );

    // A new client gets its tokens at once all the same.
    let started = std::time::Instant::now();
    let mut client = start_client(addr, 5, "prompt-newcomer");
    let status = client.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "the new client failed: {status}");
    let first_token = client.wait_for(&["received token"], Duration::from_secs(1));
    let waited = first_token.at.saturating_duration_since(started);
    assert!(
        waited < Duration::from_secs(5),
        "first token after {waited:?}"
    );
    assert_eq!(client.summary()["per_worker"], "worker-a:5");
    // Its session's place is free again once the director saw it leave (the held sessions
    // never leave).
    director.wait_for(&["client closed stream"], CALL_BOUND);

    // The pool is now full but for 10 places: of 40 more sessions 10 are served, 10 wait
    // their second and are told UNAVAILABLE, 20 find the queue full and are told at once.
    // None stalls.
    let queued_at = std::time::Instant::now();
    let (client_three, more) = rt.block_on(hold_sessions(addr, 40, "held-three"));
    let took = queued_at.elapsed();
    let (assigned, refused) = tally(&more);
    assert_eq!(assigned.values().sum::<usize>(), 10, "{assigned:?}");
    assert_eq!(refused.get("UNAVAILABLE"), Some(&30), "{refused:?}");
    assert!(took < Duration::from_secs(5), "the refusals took {took:?}");
    assert!(took >= Duration::from_secs(1), "nobody waited: {took:?}");
    let timed_out = director.matching(&["no worker became free within 1000 ms"]);
    assert_eq!(timed_out.len(), 10, "{timed_out:?}");
    let full = director.matching(&["QUEUED_SESSIONS=10"]);
    assert_eq!(full.len(), 20, "{full:?}");

    drop((first, more, clients, client_three));
    assert_never_evicted(&director);
    for proc in [&director, &worker_a, &worker_b] {
        assert_no_panic(proc);
    }
}
