//! The one module generated code uses: re-exports of the runtime surface and one server
//! adapter per call kind. Generated files name items as `rpcnet::codegen::X`.

pub use std::future::Future;
pub use std::net::SocketAddr;
pub use std::sync::Arc;

pub use futures_core::Stream;
pub use prost;

pub use crate::server::BoxFuture;
pub use crate::{
    Client, ClientConfig, Code, Error, IntoStreamingRequest, Request, RequestContext, Response,
    ResponseStream, ServerCall, Service, Status, Streaming,
};

/// Serves a unary call with `handler`.
pub fn unary<Req, Resp, F, Fut>(call: ServerCall, handler: F) -> BoxFuture<'static, ()>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + 'static,
    F: FnOnce(RequestContext, Request<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
{
    Box::pin(crate::server::run_unary(call, handler))
}

/// Serves a server-streaming call with `handler`.
pub fn server_streaming<Req, Resp, F, Fut>(call: ServerCall, handler: F) -> BoxFuture<'static, ()>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + 'static,
    F: FnOnce(RequestContext, Request<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Resp>>, Status>> + Send + 'static,
{
    Box::pin(crate::server::run_server_streaming(call, handler))
}

/// Serves a client-streaming call with `handler`.
pub fn client_streaming<Req, Resp, F, Fut>(call: ServerCall, handler: F) -> BoxFuture<'static, ()>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + 'static,
    F: FnOnce(RequestContext, Request<Streaming<Req>>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
{
    Box::pin(crate::server::run_client_streaming(call, handler))
}

/// Serves a bidirectional-streaming call with `handler`.
pub fn bidi_streaming<Req, Resp, F, Fut>(call: ServerCall, handler: F) -> BoxFuture<'static, ()>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + 'static,
    F: FnOnce(RequestContext, Request<Streaming<Req>>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Resp>>, Status>> + Send + 'static,
{
    Box::pin(crate::server::run_bidi_streaming(call, handler))
}

/// Answers a call to a method the service does not have with UNIMPLEMENTED.
pub fn unimplemented(call: ServerCall) -> BoxFuture<'static, ()> {
    Box::pin(crate::server::run_unimplemented(call))
}
