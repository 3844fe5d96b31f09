//! The interop `TestService`: the server side of grpc's `doc/interop-test-descriptions.md` on
//! the generated stubs, and a loopback server running it.
//!
//! Features, as the document lists them: EmptyCall; UnaryCall with `response_size`,
//! `response_type` (only COMPRESSABLE) and Echo Status; CacheableUnaryCall (a `cache-control`
//! header and a body that changes per call); StreamingOutputCall and FullDuplexCall with one
//! reply per `ResponseParameters`, each after its `interval_us`; StreamingInputCall summing the
//! payload sizes; HalfDuplexCall answering after the half-close; Echo Metadata
//! (`x-grpc-test-echo-initial` back as initial metadata, `x-grpc-test-echo-trailing-bin` as
//! trailing metadata, on success and on error). UnimplementedCall answers UNIMPLEMENTED and
//! `UnimplementedService` is not registered. Compression is not implemented yet: a request that
//! sets `expect_compressed` fails with INVALID_ARGUMENT, as the document's probe expects of a
//! server without it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rpcnet::{
    Code, Metadata, Request, RequestContext, Response, ResponseStream, Server, ServerConfig,
    ShutdownHandle, Status, StreamSender, Streaming,
};

use super::grpc_testing::testservice::{TestService, TestServiceServer};
use super::grpc_testing::{
    EchoStatus, Empty, Payload, PayloadType, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};
use super::{ECHO_INITIAL_KEY, ECHO_TRAILING_KEY};

/// Replies a streaming handler may have written ahead of a slow client.
const REPLY_QUEUE: usize = 8;

/// The implementation; counts the calls whose client went away mid-call (cancelled, reset, or
/// past its deadline), however the handler noticed, so tests can see cancellation arrive.
#[derive(Clone, Default)]
pub struct InteropService {
    abandoned: Arc<AtomicU64>,
}

impl InteropService {
    /// Calls abandoned by their client (cancelled, reset or timed out) while in progress.
    pub fn abandoned_calls(&self) -> u64 {
        self.abandoned.load(Ordering::Relaxed)
    }
}

/// Counts a call whose client went away; each call counts at most once, where its handler
/// stops.
#[derive(Clone)]
struct Abandoned(Arc<AtomicU64>);

impl Abandoned {
    fn count(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// What Echo Metadata sends back: the initial value in the response headers, the trailing one
/// in the trailers.
#[derive(Clone, Default)]
struct Echo {
    initial: Option<String>,
    trailing: Option<Vec<u8>>,
}

impl Echo {
    fn of(request: &Metadata) -> Result<Echo, Status> {
        let trailing = match request.get_bin(ECHO_TRAILING_KEY) {
            Some(Ok(value)) => Some(value),
            Some(Err(err)) => {
                return Err(Status::invalid_argument(format!(
                    "{ECHO_TRAILING_KEY}: {err}"
                )))
            }
            None => None,
        };
        Ok(Echo {
            initial: request.get(ECHO_INITIAL_KEY).map(str::to_owned),
            trailing,
        })
    }

    /// `message` as a response with the echoed headers and trailers.
    fn respond<T>(&self, message: T) -> Result<Response<T>, Status> {
        let mut response = Response::new(message);
        if let Some(initial) = &self.initial {
            response
                .metadata_mut()
                .insert(ECHO_INITIAL_KEY, initial)
                .map_err(|err| Status::internal(format!("echo {ECHO_INITIAL_KEY}: {err}")))?;
        }
        if let Some(trailing) = &self.trailing {
            response
                .trailers_mut()
                .insert_bin(ECHO_TRAILING_KEY, trailing)
                .map_err(|err| Status::internal(format!("echo {ECHO_TRAILING_KEY}: {err}")))?;
        }
        Ok(response)
    }

    /// `status` carrying the echoed trailing metadata (a failed call has trailers too).
    fn fail(&self, mut status: Status) -> Status {
        if let Some(trailing) = &self.trailing {
            // The value was decoded from valid metadata, so it encodes again.
            let _ = status
                .metadata_mut()
                .insert_bin(ECHO_TRAILING_KEY, trailing);
        }
        status
    }
}

/// Echo Status: the status a request asks the server to end with, if it has a code.
fn requested_status(echo: Option<&EchoStatus>) -> Option<Status> {
    echo.filter(|echo| echo.code != 0)
        .map(|echo| Status::new(Code::from_i32(echo.code), echo.message.clone()))
}

/// `size` zero bytes of `response_type`, or INVALID_ARGUMENT for what this server cannot send.
fn payload(response_type: i32, size: i32) -> Result<Payload, Status> {
    if response_type != PayloadType::Compressable as i32 {
        return Err(Status::invalid_argument(format!(
            "unsupported response_type {response_type}"
        )));
    }
    let size = usize::try_from(size)
        .map_err(|_| Status::invalid_argument(format!("negative response size {size}")))?;
    Ok(Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; size],
    })
}

fn refuse_compressed(
    expect_compressed: Option<&super::grpc_testing::BoolValue>,
) -> Result<(), Status> {
    match expect_compressed {
        Some(expect) if expect.value => Err(Status::invalid_argument(
            "this server cannot check request compression",
        )),
        _ => Ok(()),
    }
}

/// Why a streaming handler stopped writing.
enum Stop {
    /// The call ended with an error status (already sent).
    Failed,
    /// The client is gone: nobody reads any more.
    ClientGone,
}

/// Writes the replies one StreamingOutputCallRequest asks for, each after its interval, then
/// the Echo Status it asks for.
async fn answer(
    request: &StreamingOutputCallRequest,
    echo: &Echo,
    replies: &StreamSender<Result<StreamingOutputCallResponse, Status>>,
) -> Result<(), Stop> {
    for parameters in &request.response_parameters {
        if let Ok(interval) = u64::try_from(parameters.interval_us) {
            if interval > 0 {
                tokio::time::sleep(Duration::from_micros(interval)).await;
            }
        }
        let reply = payload(request.response_type, parameters.size).map(|payload| {
            StreamingOutputCallResponse {
                payload: Some(payload),
            }
        });
        let failed = reply.is_err();
        let reply = reply.map_err(|status| echo.fail(status));
        replies.send(reply).await.map_err(|_| Stop::ClientGone)?;
        if failed {
            return Err(Stop::Failed);
        }
    }
    if let Some(status) = requested_status(request.response_status.as_ref()) {
        let _ = replies.send(Err(echo.fail(status))).await;
        return Err(Stop::Failed);
    }
    Ok(())
}

/// Why a streaming handler's writer stopped early.
type Written = Result<(), Stop>;

impl InteropService {
    fn abandoned(&self) -> Abandoned {
        Abandoned(self.abandoned.clone())
    }

    /// A streaming response fed by `write`, run as its own task so the handler can return the
    /// response headers at once. The call counts as abandoned if its client goes away first or
    /// `write` stops because nobody reads.
    fn stream<F, Fut>(
        &self,
        ctx: RequestContext,
        echo: &Echo,
        write: F,
    ) -> Result<Response<ResponseStream<StreamingOutputCallResponse>>, Status>
    where
        F: FnOnce(StreamSender<Result<StreamingOutputCallResponse, Status>>, Echo) -> Fut,
        Fut: std::future::Future<Output = Written> + Send + 'static,
    {
        let (replies, stream) = rpcnet::channel(REPLY_QUEUE);
        let work = write(replies, echo.clone());
        let abandoned = self.abandoned();
        tokio::spawn(async move {
            tokio::select! {
                written = work => if let Err(Stop::ClientGone) = written {
                    abandoned.count();
                },
                () = ctx.cancelled() => abandoned.count(),
            }
        });
        echo.respond(ResponseStream::from(stream))
    }
}

/// The next request of a stream; a broken stream (reset, cancelled, past its deadline) means
/// the client is gone.
async fn next_request<T: rpcnet::codegen::prost::Message + Default>(
    requests: &mut Streaming<T>,
) -> Result<Option<T>, Stop> {
    requests.message().await.map_err(|_| Stop::ClientGone)
}

impl TestService for InteropService {
    async fn empty_call(
        &self,
        _ctx: RequestContext,
        request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        Echo::of(request.metadata())?.respond(Empty {})
    }

    async fn unary_call(
        &self,
        _ctx: RequestContext,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let echo = Echo::of(request.metadata())?;
        let request = request.get_ref();
        let reply = refuse_compressed(request.expect_compressed.as_ref())
            .and_then(
                |()| match requested_status(request.response_status.as_ref()) {
                    Some(status) => Err(status),
                    None => payload(request.response_type, request.response_size),
                },
            )
            .map_err(|status| echo.fail(status))?;
        echo.respond(SimpleResponse {
            payload: Some(reply),
            ..SimpleResponse::default()
        })
    }

    async fn cacheable_unary_call(
        &self,
        _ctx: RequestContext,
        _request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut response = Response::new(SimpleResponse {
            payload: Some(Payload {
                r#type: PayloadType::Compressable as i32,
                body: now.to_string().into_bytes(),
            }),
            ..SimpleResponse::default()
        });
        response
            .metadata_mut()
            .insert("cache-control", "max-age=60, public")
            .map_err(|err| Status::internal(err.to_string()))?;
        Ok(response)
    }

    async fn streaming_output_call(
        &self,
        ctx: RequestContext,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<ResponseStream<StreamingOutputCallResponse>>, Status> {
        let echo = Echo::of(request.metadata())?;
        let request = request.into_inner();
        self.stream(ctx, &echo, |replies, echo| async move {
            answer(&request, &echo, &replies).await
        })
    }

    async fn streaming_input_call(
        &self,
        ctx: RequestContext,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let echo = Echo::of(request.metadata())?;
        let mut requests = request.into_inner();
        let sum = async {
            let mut total: i64 = 0;
            loop {
                let request = match requests.message().await {
                    Ok(Some(request)) => request,
                    Ok(None) => break,
                    Err(status) => return Err((status, Stop::ClientGone)),
                };
                refuse_compressed(request.expect_compressed.as_ref())
                    .map_err(|status| (status, Stop::Failed))?;
                let size = request.payload.map_or(0, |payload| payload.body.len());
                total = total.saturating_add(i64::try_from(size).unwrap_or(i64::MAX));
            }
            i32::try_from(total).map_err(|_| {
                let status = Status::out_of_range(format!("{total} bytes do not fit an int32"));
                (status, Stop::Failed)
            })
        };
        let gone = Status::cancelled("the client went away");
        let total = tokio::select! {
            total = sum => match total {
                Ok(total) => total,
                Err((status, stop)) => {
                    if let Stop::ClientGone = stop {
                        self.abandoned().count();
                    }
                    return Err(echo.fail(status));
                }
            },
            () = ctx.cancelled() => {
                self.abandoned().count();
                return Err(gone);
            }
        };
        echo.respond(StreamingInputCallResponse {
            aggregated_payload_size: total,
        })
    }

    async fn full_duplex_call(
        &self,
        ctx: RequestContext,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream<StreamingOutputCallResponse>>, Status> {
        let echo = Echo::of(request.metadata())?;
        let mut requests = request.into_inner();
        self.stream(ctx, &echo, |replies, echo| async move {
            while let Some(request) = next_request(&mut requests).await? {
                answer(&request, &echo, &replies).await?;
            }
            Ok(())
        })
    }

    async fn half_duplex_call(
        &self,
        ctx: RequestContext,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream<StreamingOutputCallResponse>>, Status> {
        let echo = Echo::of(request.metadata())?;
        let mut requests = request.into_inner();
        self.stream(ctx, &echo, |replies, echo| async move {
            let mut buffered = Vec::new();
            while let Some(request) = next_request(&mut requests).await? {
                buffered.push(request);
            }
            for request in &buffered {
                answer(request, &echo, &replies).await?;
            }
            Ok(())
        })
    }

    async fn unimplemented_call(
        &self,
        _ctx: RequestContext,
        _request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "grpc.testing.TestService/UnimplementedCall is not implemented, by design",
        ))
    }
}

/// An rpcnet server running [`InteropService`] (HTTP/3 and HTTP/2 on one port); shut down
/// when dropped.
pub struct InteropServer {
    addr: SocketAddr,
    service: InteropService,
    shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<Result<(), rpcnet::Error>>,
}

impl InteropServer {
    /// Binds `addr` with `config` and starts serving on the current tokio runtime.
    pub fn start(config: ServerConfig, addr: SocketAddr) -> Result<InteropServer, rpcnet::Error> {
        let service = InteropService::default();
        let server = Server::builder(config)
            .add_service(TestServiceServer::new(service.clone()))
            .bind(addr)?;
        let addr = server.local_addr();
        let shutdown = server.shutdown_handle();
        let task = tokio::spawn(server.serve());
        Ok(InteropServer {
            addr,
            service,
            shutdown,
            task,
        })
    }

    /// The bound address (the same port for UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The running implementation.
    pub fn service(&self) -> &InteropService {
        &self.service
    }

    /// Shuts down gracefully and waits for the server to stop.
    pub async fn stop(mut self) -> Result<(), rpcnet::Error> {
        self.shutdown.shutdown();
        match (&mut self.task).await {
            Ok(result) => result,
            Err(err) => panic!("the interop server task failed: {err}"),
        }
    }
}

impl Drop for InteropServer {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        self.task.abort();
    }
}
