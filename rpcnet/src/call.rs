//! `Request` and `Response`: a message (or stream) together with its metadata.

use std::time::Duration;

use crate::Metadata;

/// What a client sends: a message (or a stream of messages), custom metadata and an optional
/// per-call timeout (sent as `grpc-timeout`, enforced on both sides).
#[derive(Debug)]
pub struct Request<T> {
    metadata: Metadata,
    message: T,
    timeout: Option<Duration>,
}

impl<T> Request<T> {
    /// A request with no metadata and no deadline.
    pub fn new(message: T) -> Self {
        Request {
            metadata: Metadata::new(),
            message,
            timeout: None,
        }
    }

    /// Builds a request from its parts; used by the server when decoding a call.
    pub(crate) fn from_parts(metadata: Metadata, message: T) -> Self {
        Request {
            metadata,
            message,
            timeout: None,
        }
    }

    /// The custom metadata (request headers other than the transport's own).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Mutable access to the custom metadata, to add headers before sending.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Sets the call's deadline relative to when the call starts.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    /// Builder form of [`Request::set_timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The timeout set on this request, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The message (or stream).
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// Mutable access to the message (or stream).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Takes the message (or stream) out, dropping the metadata.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// Splits the request into metadata, message and timeout.
    pub(crate) fn into_parts(self) -> (Metadata, T, Option<Duration>) {
        (self.metadata, self.message, self.timeout)
    }
}

impl<T> From<T> for Request<T> {
    fn from(message: T) -> Self {
        Request::new(message)
    }
}

/// What a client-streaming or bidirectional call accepts: a stream of messages, or a
/// [`Request`] wrapping one (to send metadata or a timeout with it). Generated clients take
/// `impl IntoStreamingRequest<Message = M>`, so both `client.call(stream)` and
/// `client.call(Request::new(stream).with_timeout(..))` infer without annotations.
pub trait IntoStreamingRequest {
    /// The message type of the stream.
    type Message;
    /// The stream itself.
    type Stream: futures_core::Stream<Item = Self::Message> + Send + 'static;

    /// The request, with no metadata if `self` is a bare stream.
    fn into_streaming_request(self) -> Request<Self::Stream>;
}

impl<S> IntoStreamingRequest for S
where
    S: futures_core::Stream + Send + 'static,
{
    type Message = S::Item;
    type Stream = S;

    fn into_streaming_request(self) -> Request<S> {
        Request::new(self)
    }
}

impl<S> IntoStreamingRequest for Request<S>
where
    S: futures_core::Stream + Send + 'static,
{
    type Message = S::Item;
    type Stream = S;

    fn into_streaming_request(self) -> Request<S> {
        self
    }
}

/// What a server answers: a message (or stream) with custom response metadata (sent as
/// response headers) and trailing metadata (sent in the trailers, with the OK status).
#[derive(Debug)]
pub struct Response<T> {
    metadata: Metadata,
    message: T,
    trailers: Metadata,
}

impl<T> Response<T> {
    /// A response with no metadata.
    pub fn new(message: T) -> Self {
        Response {
            metadata: Metadata::new(),
            message,
            trailers: Metadata::new(),
        }
    }

    pub(crate) fn from_parts(metadata: Metadata, message: T) -> Self {
        Response {
            metadata,
            message,
            trailers: Metadata::new(),
        }
    }

    pub(crate) fn with_trailers(mut self, trailers: Metadata) -> Self {
        self.trailers = trailers;
        self
    }

    /// The trailing metadata: on the server, what the trailers will carry after the last
    /// message; on a client's unary and client-streaming response, what the trailers
    /// carried. (A streaming response's trailers are on its `Streaming`, once it ended.)
    pub fn trailers(&self) -> &Metadata {
        &self.trailers
    }

    /// Mutable access to the trailing metadata, to add to the trailers before answering.
    pub fn trailers_mut(&mut self) -> &mut Metadata {
        &mut self.trailers
    }

    /// The response headers' custom metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Mutable access to the response metadata, to add headers before answering.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The message (or stream).
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// Mutable access to the message (or stream).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Takes the message (or stream) out, dropping the metadata.
    pub fn into_inner(self) -> T {
        self.message
    }

    pub(crate) fn into_parts_with_trailers(self) -> (Metadata, T, Metadata) {
        (self.metadata, self.message, self.trailers)
    }

    /// Maps the message, keeping the metadata.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            metadata: self.metadata,
            message: f(self.message),
            trailers: self.trailers,
        }
    }
}

impl<T> From<T> for Response<T> {
    fn from(message: T) -> Self {
        Response::new(message)
    }
}
