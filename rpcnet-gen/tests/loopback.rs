//! Runs each of the four call kinds through generated stubs over a real loopback rpcnet server.
//!
//! The stubs are the `streaming_kinds` golden case's expected output, so what is tested here is
//! exactly what the generator emits for that definition.

#![allow(dead_code)]

#[path = "golden/streaming_kinds/expected/input/mod.rs"]
#[rustfmt::skip]
mod kinds;

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use kinds::calculator::{Calculator, CalculatorClient, CalculatorServer};
use kinds::{Number, Total};
use rpcnet::{Code, Request, RequestContext, Response, ResponseStream, Status, Streaming};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A stream over a list, so tests need no stream-combinator crate.
struct Items<T>(std::vec::IntoIter<T>);

impl<T: Unpin> rpcnet::codegen::Stream for Items<T> {
    type Item = T;
    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<T>> {
        Poll::Ready(self.get_mut().0.next())
    }
}

fn items<T>(list: Vec<T>) -> Items<T> {
    Items(list.into_iter())
}

/// The service under test; a value of -1 makes `double` sleep past any short deadline.
struct Calc;

impl Calculator for Calc {
    async fn double(
        &self,
        _ctx: RequestContext,
        request: Request<Number>,
    ) -> Result<Response<Total>, Status> {
        let factor: i64 = request
            .metadata()
            .get("x-factor")
            .and_then(|v| v.parse().ok())
            .unwrap_or(2);
        let value = request.into_inner().value;
        if value == -1 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Ok(Response::new(Total {
            value: value * factor,
            count: 1,
        }))
    }

    async fn count_to(
        &self,
        _ctx: RequestContext,
        request: Request<Number>,
    ) -> Result<Response<ResponseStream<Total>>, Status> {
        let n = request.into_inner().value;
        if n < 0 {
            return Err(Status::invalid_argument(format!("cannot count to {n}")));
        }
        let totals: Vec<Result<Total, Status>> =
            (1..=n).map(|value| Ok(Total { value, count: 1 })).collect();
        Ok(Response::new(ResponseStream::new(items(totals))))
    }

    async fn sum(
        &self,
        _ctx: RequestContext,
        request: Request<Streaming<Number>>,
    ) -> Result<Response<Total>, Status> {
        let mut stream = request.into_inner();
        let mut total = Total::default();
        while let Some(number) = stream.message().await? {
            total.value += number.value;
            total.count += 1;
        }
        Ok(Response::new(total))
    }

    async fn running_sum(
        &self,
        _ctx: RequestContext,
        request: Request<Streaming<Number>>,
    ) -> Result<Response<ResponseStream<Total>>, Status> {
        let mut stream = request.into_inner();
        let (tx, rx) = rpcnet::channel(4);
        tokio::spawn(async move {
            let mut total = Total::default();
            loop {
                let item = match stream.message().await {
                    Ok(Some(number)) => {
                        total.value += number.value;
                        total.count += 1;
                        Ok(total.clone())
                    }
                    Ok(None) => break,
                    Err(status) => Err(status),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(ResponseStream::from(rx)))
    }
}

async fn collect(mut stream: Streaming<Total>) -> Result<Vec<i64>, Status> {
    let mut out = Vec::new();
    while let Some(total) = stream.message().await? {
        out.push(total.value);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_kind_runs_through_generated_stubs() -> TestResult {
    tokio::time::timeout(Duration::from_secs(60), run()).await?
}

async fn run() -> TestResult {
    let certs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../certs");
    let config = rpcnet::ServerConfig::new(certs.join("server.pem"), certs.join("server.key"))?;
    let server = rpcnet::Server::builder(config)
        .add_service(CalculatorServer::new(Calc))
        .bind("127.0.0.1:0".parse()?)?;
    let addr = server.local_addr();
    let shutdown = server.shutdown_handle();
    let serving = tokio::spawn(server.serve());

    let client =
        CalculatorClient::connect(addr, rpcnet::ClientConfig::new(certs.join("ca.pem"))?).await?;

    // Unary, with per-call metadata.
    let reply = client.double(Number { value: 21 }).await?;
    assert_eq!(reply.into_inner().value, 42);
    let mut request = Request::new(Number { value: 5 });
    request.metadata_mut().insert("x-factor", "10")?;
    assert_eq!(client.double(request).await?.into_inner().value, 50);

    // Server streaming, and an error status from the handler.
    let stream = client.count_to(Number { value: 4 }).await?.into_inner();
    assert_eq!(collect(stream).await?, vec![1, 2, 3, 4]);
    let failed = client.count_to(Number { value: -3 }).await;
    let code = match failed {
        Ok(response) => collect(response.into_inner()).await.err().map(|s| s.code()),
        Err(status) => Some(status.code()),
    };
    assert_eq!(code, Some(Code::InvalidArgument));

    // Client streaming.
    let numbers = vec![
        Number { value: 1 },
        Number { value: 2 },
        Number { value: 3 },
    ];
    let total = client.sum(items(numbers)).await?.into_inner();
    assert_eq!((total.value, total.count), (6, 3));

    // Bidirectional streaming.
    let numbers = vec![
        Number { value: 10 },
        Number { value: 20 },
        Number { value: 30 },
    ];
    let stream = client.running_sum(items(numbers)).await?.into_inner();
    assert_eq!(collect(stream).await?, vec![10, 30, 60]);

    // A per-call deadline ends a slow call with DEADLINE_EXCEEDED.
    let slow = Request::new(Number { value: -1 }).with_timeout(Duration::from_millis(200));
    let status = client.double(slow).await.err().map(|s| s.code());
    assert_eq!(status, Some(Code::DeadlineExceeded));

    // One connection carried every call.
    assert_eq!(client.inner().connections_opened(), 1);

    shutdown.shutdown();
    serving.await??;
    Ok(())
}
