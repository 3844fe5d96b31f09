//! Call heads: what a request head must carry for the server to run a call, what a response
//! head means to the client, and the header blocks each side sends.
//!
//! One content-type rule serves both sides ([`is_grpc_content_type`]). Nothing here reads a
//! clock: a `grpc-timeout` comes out as a `Duration` and the driver adds it to its `now`.

use std::time::Duration;

use http::header::{CONTENT_TYPE, TE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method};

use crate::{Metadata, Status};

/// The content-type rpcnet sends. The bare form means protobuf: h3 Huffman-codes every
/// literal header value on both ends, so `+proto` would cost six more bytes of that per call
/// each way. Receivers also accept `+proto` and parameters ([`is_grpc_content_type`]).
pub(crate) const CONTENT_TYPE_GRPC: &str = "application/grpc";

/// The `user-agent` of rpcnet clients.
const USER_AGENT_VALUE: &str = concat!("rpcnet/", env!("CARGO_PKG_VERSION"));

/// The one message encoding rpcnet speaks today; any other `grpc-encoding` is UNIMPLEMENTED.
const IDENTITY: &[u8] = b"identity";

/// Whether a `content-type` value is gRPC's: `application/grpc`, optionally `+proto`,
/// optionally followed by `;` parameters. The same rule on both sides, so what one side
/// sends the other accepts. Case matters, as in grpc-go.
pub(crate) fn is_grpc_content_type(value: Option<&[u8]>) -> bool {
    let Some(rest) = value.and_then(|v| v.strip_prefix(CONTENT_TYPE_GRPC.as_bytes())) else {
        return false;
    };
    let rest = rest.strip_prefix(b"+proto").unwrap_or(rest);
    rest.is_empty() || rest.starts_with(b";")
}

/// Why the server will not run a call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rejection {
    /// Not a gRPC request at all: answer with this HTTP status and no gRPC processing (405
    /// for a method other than POST, 415 for a content-type that is not gRPC's).
    Http(u16),
    /// A gRPC request that cannot be served: answer Trailers-Only with this status.
    Status(Status),
}

/// A request head the server accepts: the route and the client's timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestHead<'a> {
    /// `<package>.<Service>`, the first path segment.
    pub service: &'a str,
    /// The method name, the second path segment.
    pub method: &'a str,
    /// The client's `grpc-timeout`, when it sent one.
    pub timeout: Option<Duration>,
}

/// Checks a request head, in the order grpc-go applies the rules: the HTTP method, the
/// content-type, the path's shape, the message encoding, then the timeout. Whether the
/// service and method exist is the router's question, asked afterwards.
pub(crate) fn check_request<'a>(
    method: &Method,
    path: &'a str,
    headers: &HeaderMap,
) -> Result<RequestHead<'a>, Rejection> {
    if method != Method::POST {
        return Err(Rejection::Http(405));
    }
    let content_type = headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    if !is_grpc_content_type(content_type) {
        return Err(Rejection::Http(415));
    }
    let (service, method) = split_path(path).map_err(Rejection::Status)?;
    if let Some(encoding) = headers.get("grpc-encoding") {
        if encoding.as_bytes() != IDENTITY {
            return Err(Rejection::Status(Status::unimplemented(format!(
                "message encoding {:?} is not supported (only identity)",
                String::from_utf8_lossy(encoding.as_bytes())
            ))));
        }
    }
    let timeout = match headers.get("grpc-timeout") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| crate::timeout::parse(text).ok())
                .ok_or_else(|| {
                    Rejection::Status(Status::invalid_argument(format!(
                        "invalid grpc-timeout {:?}",
                        String::from_utf8_lossy(value.as_bytes())
                    )))
                })?,
        ),
    };
    Ok(RequestHead {
        service,
        method,
        timeout,
    })
}

/// Splits `/<package>.<Service>/<Method>` into its two segments.
pub(crate) fn split_path(path: &str) -> Result<(&str, &str), Status> {
    let malformed = || Status::unimplemented(format!("malformed method path {path:?}"));
    let rest = path.strip_prefix('/').ok_or_else(malformed)?;
    let (service, method) = rest.split_once('/').ok_or_else(malformed)?;
    if service.is_empty() || method.is_empty() || method.contains('/') {
        return Err(malformed());
    }
    Ok((service, method))
}

/// The regular headers of a client's request: content-type, `te: trailers`, user-agent,
/// `grpc-timeout` when the call has one, and the caller's metadata. The transport adds the
/// pseudo-headers.
pub(crate) fn request_headers(metadata: &Metadata, timeout: Option<Duration>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4 + metadata.len());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_GRPC));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    if let Some(timeout) = timeout {
        if let Ok(value) = HeaderValue::from_str(&crate::timeout::encode(timeout)) {
            headers.insert("grpc-timeout", value);
        }
    }
    metadata.append_to(&mut headers);
    headers
}

/// The regular headers of a server's response head: content-type and the handler's initial
/// metadata.
pub(crate) fn response_headers(metadata: &Metadata) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(1 + metadata.len());
    metadata.append_to(&mut headers);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_GRPC));
    headers
}

/// The trailers that end a call after its response head: the status, its message and
/// details, and the trailing metadata the status carries.
pub(crate) fn trailers(status: &Status) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(2 + status.metadata().len());
    status.add_to_headers(&mut headers);
    headers
}

/// A Trailers-Only response: one header block with content-type and the status, for a call
/// that ends before it sent a response head.
pub(crate) fn trailers_only(status: &Status) -> HeaderMap {
    let mut headers = trailers(status);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_GRPC));
    headers
}

/// What a response head tells the client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResponseHead {
    /// A response head: messages and then trailers follow. Carries the initial metadata.
    Messages(Metadata),
    /// A Trailers-Only response with status OK: the call is over, with no message. The
    /// status carries the trailing metadata.
    TrailersOnly(Status),
}

/// Reads a response head (HTTP status and headers): a failed call is `Err` with its status,
/// whether it came as Trailers-Only, as an HTTP error (a proxy's answer) or as a response
/// that is not gRPC.
pub(crate) fn check_response(
    http_status: u16,
    headers: &HeaderMap,
) -> Result<ResponseHead, Status> {
    if let Some(status) = Status::from_headers(headers) {
        return match status.code() {
            crate::Code::Ok => Ok(ResponseHead::TrailersOnly(status)),
            _ => Err(status),
        };
    }
    if http_status != 200 {
        return Err(Status::from_http_status(http_status));
    }
    let content_type = headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    if !is_grpc_content_type(content_type) {
        return Err(Status::unknown(format!(
            "the server answered with content-type {:?}, not gRPC",
            String::from_utf8_lossy(content_type.unwrap_or_default())
        )));
    }
    Ok(ResponseHead::Messages(Metadata::from_headers(headers)))
}

/// The status that ends a call on the client, read from its trailers (`None`: the stream
/// ended without any).
pub(crate) fn status_from_trailers(trailers: Option<&HeaderMap>) -> Status {
    match trailers {
        Some(headers) => Status::from_headers(headers)
            .unwrap_or_else(|| Status::internal("the server ended the call without grpc-status")),
        None => Status::internal("the server ended the call without trailers"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    /// What a request head comes to, in a form the tables can spell.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Accept(&'static str, &'static str, Option<Duration>),
        Http(u16),
        Status(Code, &'static str),
    }

    fn check(method: &str, path: &str, pairs: &[(&str, &str)], expected: Outcome) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let got = check_request(&method, path, &headers(pairs));
        let matches = match (&got, &expected) {
            (Ok(head), Outcome::Accept(service, name, timeout)) => {
                head.service == *service && head.method == *name && head.timeout == *timeout
            }
            (Err(Rejection::Http(code)), Outcome::Http(want)) => code == want,
            (Err(Rejection::Status(status)), Outcome::Status(code, text)) => {
                status.code() == *code && status.message().contains(text)
            }
            _ => false,
        };
        assert!(
            matches,
            "{method} {path} {pairs:?}: got {got:?}, expected {expected:?}"
        );
    }

    const GRPC: (&str, &str) = ("content-type", "application/grpc");

    #[test]
    fn request_heads() {
        use Outcome::*;
        let ms = Duration::from_millis;
        check(
            "POST",
            "/pkg.Svc/Call",
            &[GRPC],
            Accept("pkg.Svc", "Call", None),
        );
        check(
            "POST",
            "/pkg.Svc/Call",
            &[("content-type", "application/grpc+proto")],
            Accept("pkg.Svc", "Call", None),
        );
        check(
            "POST",
            "/pkg.Svc/Call",
            &[("content-type", "application/grpc;charset=utf-8")],
            Accept("pkg.Svc", "Call", None),
        );
        check(
            "POST",
            "/pkg.Svc/Call",
            &[("content-type", "application/grpc+proto;x=1")],
            Accept("pkg.Svc", "Call", None),
        );
        check(
            "POST",
            "/pkg.Svc/Call",
            &[GRPC, ("grpc-timeout", "250m")],
            Accept("pkg.Svc", "Call", Some(ms(250))),
        );
        check(
            "POST",
            "/pkg.Svc/Call",
            &[GRPC, ("grpc-encoding", "identity")],
            Accept("pkg.Svc", "Call", None),
        );
        // Not gRPC: an HTTP answer, no gRPC processing.
        check("GET", "/pkg.Svc/Call", &[GRPC], Http(405));
        check("PUT", "/pkg.Svc/Call", &[GRPC], Http(405));
        check("POST", "/pkg.Svc/Call", &[], Http(415));
        check(
            "POST",
            "/pkg.Svc/Call",
            &[("content-type", "application/json")],
            Http(415),
        );
        check(
            "POST",
            "/pkg.Svc/Call",
            &[("content-type", "application/grpc-web")],
            Http(415),
        );
        check(
            "POST",
            "/pkg.Svc/Call",
            &[("content-type", "application/grpc+json")],
            Http(415),
        );
        check(
            "POST",
            "/pkg.Svc/Call",
            &[("content-type", "Application/gRPC")],
            Http(415),
        );
        // The method is checked before the content-type.
        check("GET", "/pkg.Svc/Call", &[], Http(405));
        // Paths of the wrong shape.
        for path in [
            "",
            "/",
            "pkg.Svc/Call",
            "/pkg.Svc",
            "/pkg.Svc/",
            "//Call",
            "/a/b/c",
        ] {
            check(
                "POST",
                path,
                &[GRPC],
                Status(Code::Unimplemented, "malformed method path"),
            );
        }
        // Encodings and timeouts.
        check(
            "POST",
            "/pkg.Svc/Call",
            &[GRPC, ("grpc-encoding", "gzip")],
            Status(Code::Unimplemented, "\"gzip\" is not supported"),
        );
        for bad in ["", "1", "m", "123456789S", "-1S", "1x", "1.5S"] {
            check(
                "POST",
                "/pkg.Svc/Call",
                &[GRPC, ("grpc-timeout", bad)],
                Status(Code::InvalidArgument, "invalid grpc-timeout"),
            );
        }
        // The path is checked before the encoding, the encoding before the timeout.
        check(
            "POST",
            "/bad",
            &[GRPC, ("grpc-encoding", "gzip")],
            Status(Code::Unimplemented, "malformed"),
        );
        check(
            "POST",
            "/pkg.Svc/Call",
            &[GRPC, ("grpc-encoding", "gzip"), ("grpc-timeout", "x")],
            Status(Code::Unimplemented, "gzip"),
        );
    }

    #[test]
    fn what_the_client_sends_the_server_accepts() {
        let mut metadata = Metadata::new();
        metadata.insert("x-tenant", "blue").unwrap();
        metadata.insert_bin("x-key-bin", &[0, 255]).unwrap();
        let sent = request_headers(&metadata, Some(Duration::from_millis(1500)));
        let head = check_request(&Method::POST, "/a.B/C", &sent).unwrap();
        assert_eq!(head.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(sent.get("te").unwrap(), "trailers");
        let mut received = Metadata::from_headers(&sent);
        assert_eq!(
            received.remove("user-agent").as_deref(),
            Some(USER_AGENT_VALUE)
        );
        assert_eq!(received, metadata);
        // And what the server answers, the client reads back.
        let answer = response_headers(&metadata);
        assert_eq!(
            check_response(200, &answer).unwrap(),
            ResponseHead::Messages(metadata.clone())
        );
    }

    /// What a response head comes to.
    fn check_head(
        http_status: u16,
        pairs: &[(&str, &str)],
        expected: Result<ResponseHead, (Code, &str)>,
    ) {
        let got = check_response(http_status, &headers(pairs));
        let matches = match (&got, &expected) {
            (Ok(head), Ok(want)) => head == want,
            (Err(status), Err((code, text))) => {
                status.code() == *code && status.message().contains(text)
            }
            _ => false,
        };
        assert!(
            matches,
            "{http_status} {pairs:?}: got {got:?}, expected {expected:?}"
        );
    }

    #[test]
    fn response_heads() {
        let mut custom = Metadata::new();
        custom.insert("x-a", "1").unwrap();
        check_head(200, &[GRPC], Ok(ResponseHead::Messages(Metadata::new())));
        check_head(
            200,
            &[GRPC, ("x-a", "1")],
            Ok(ResponseHead::Messages(custom.clone())),
        );
        check_head(
            200,
            &[("content-type", "application/grpc+proto;a=b")],
            Ok(ResponseHead::Messages(Metadata::new())),
        );
        // Trailers-Only: the status decides, whatever else the head says.
        check_head(
            200,
            &[GRPC, ("grpc-status", "5"), ("grpc-message", "gone")],
            Err((Code::NotFound, "gone")),
        );
        check_head(200, &[("grpc-status", "14")], Err((Code::Unavailable, "")));
        check_head(
            503,
            &[("grpc-status", "7")],
            Err((Code::PermissionDenied, "")),
        );
        check_head(
            200,
            &[("grpc-status", "x")],
            Err((Code::Unknown, "invalid grpc-status")),
        );
        let mut ok = Status::ok("");
        *ok.metadata_mut() = custom.clone();
        check_head(
            200,
            &[GRPC, ("grpc-status", "0"), ("x-a", "1")],
            Ok(ResponseHead::TrailersOnly(ok)),
        );
        // No grpc-status: the HTTP status decides, then the content-type.
        check_head(404, &[], Err((Code::Unimplemented, "404")));
        check_head(503, &[GRPC], Err((Code::Unavailable, "503")));
        check_head(401, &[], Err((Code::Unauthenticated, "401")));
        check_head(500, &[], Err((Code::Unknown, "500")));
        check_head(
            200,
            &[("content-type", "text/html")],
            Err((Code::Unknown, "text/html")),
        );
        check_head(200, &[], Err((Code::Unknown, "not gRPC")));
    }

    #[test]
    fn server_header_blocks() {
        let mut metadata = Metadata::new();
        metadata.insert("x-b", "2").unwrap();
        let head = response_headers(&metadata);
        assert_eq!(head.get("content-type").unwrap(), "application/grpc");
        assert_eq!(head.get("x-b").unwrap(), "2");

        let mut status = Status::ok("");
        status.metadata_mut().insert("x-trailing", "t").unwrap();
        let end = trailers(&status);
        assert_eq!(end.get("grpc-status").unwrap(), "0");
        assert_eq!(end.get("x-trailing").unwrap(), "t");
        assert!(end.get("content-type").is_none());
        assert_eq!(status_from_trailers(Some(&end)), status);

        let only = trailers_only(&Status::not_found("no such key"));
        assert_eq!(only.get("content-type").unwrap(), "application/grpc");
        assert_eq!(
            check_response(200, &only).unwrap_err(),
            Status::not_found("no such key")
        );
    }

    #[test]
    fn trailers_that_end_a_call() {
        let missing = status_from_trailers(None);
        assert_eq!(missing.code(), Code::Internal);
        assert!(missing.message().contains("without trailers"));
        let no_status = status_from_trailers(Some(&headers(&[("x-a", "1")])));
        assert_eq!(no_status.code(), Code::Internal);
        assert!(no_status.message().contains("without grpc-status"));
        let failed = status_from_trailers(Some(&headers(&[
            ("grpc-status", "3"),
            ("grpc-message", "bad%20id"),
        ])));
        assert_eq!(failed, Status::invalid_argument("bad id"));
    }

    #[test]
    fn content_types() {
        for good in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc;a=b",
            "application/grpc+proto;a",
        ] {
            assert!(is_grpc_content_type(Some(good.as_bytes())), "{good}");
        }
        for bad in [
            "",
            "application/grpcx",
            "application/grpc+json",
            "application/grpc-web",
            "APPLICATION/GRPC",
            "text/plain",
        ] {
            assert!(!is_grpc_content_type(Some(bad.as_bytes())), "{bad}");
        }
        assert!(!is_grpc_content_type(None));
    }
}
