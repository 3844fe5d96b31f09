"""Independent gRPC-over-HTTP/3 client: calls a service knowing only its .proto, prints JSON lines.

It shares no code with rpcnet. The `.proto` is compiled with grpcio-tools' bundled protoc
(`python -m grpc_tools.protoc`) into a temporary directory and the generated `_pb2` module is
imported; HTTP/3 is aioquic's (ALPN `h3`, the server verified against a CA file and a server
name). Each call is one request stream: `POST /<package>.<Service>/<Method>` with
`content-type: application/grpc+proto` and `te: trailers`, the request as one 5-byte
length-prefixed protobuf message in DATA frames, then the end of the stream. Responses are
read from the DATA frames (a message may span frames and a frame may hold several messages),
and the status from the trailers or from a Trailers-Only response.

Usage:

    python3 grpc_h3_client.py --proto echo.proto --ca certs/ca.pem --addr 127.0.0.1:4433 CALLS

CALLS is a JSON array of calls, made in order on one QUIC connection:

    [{"id": "unary", "method": "Echo", "request": {...proto3 JSON...},
      "metadata": {"x-key": "value"}, "chunk": 7}]

`request` is the request message in proto3 JSON (field names as in the .proto); `metadata`
values are sent verbatim (a `-bin` key's value must already be base64); `chunk`, if given,
splits the framed request into DATA frames of at most that many bytes. For negative tests,
`path` replaces the `:path` built from the .proto and `content_type` the content-type
(`method` still picks the message types), `copies` sends the framed request that many times
(0: an empty body), `flag` sets the compressed-flag byte and `append_hex` adds raw bytes after
the framed request(s).

Output, one JSON object per line on stdout:

    {"event": "ready", "service": "interop.Echo", "methods": [{"name": .., "server_streaming": ..}]}
    {"event": "headers", "call": id, "status": 200, "headers": {..}, "headers_bin": {..}}
    {"event": "message", "call": id, "index": 0, "message": {..proto3 JSON..}}
    {"event": "trailers", "call": id, "headers": {..}, "headers_bin": {..}}
    {"event": "end", "call": id, "code": 0, "message": "..", "raw_message": "..",
     "trailers_only": false, "messages": 1}
    {"event": "error", "call": id, "error": ".."}          (this call failed below gRPC)
    {"event": "fatal", "error": ".."}                       (nothing more will run; exit 2)
    {"event": "done", "calls": 3}

`headers_bin` holds each `-bin` header base64-decoded (padding optional) and re-encoded as hex.
`message` is the status message percent-decoded as UTF-8; `raw_message` is the header as sent.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import sys
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset
from google.protobuf import json_format, message_factory
from google.protobuf.message import DecodeError

from protos import ProtocFailed, compile_protos

# HTTP status -> gRPC code when a response carries no grpc-status (gRPC's HTTP mapping).
HTTP_TO_GRPC = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}
UNKNOWN = 2


class Fatal(Exception):
    """Nothing more can run (bad arguments, protoc failure, no connection)."""


class CallFailed(Exception):
    """One call failed below gRPC (stream reset, protocol violation, connection lost)."""


def emit(event: dict[str, Any]) -> None:
    """Prints one JSON line and flushes, so a killed process still leaves what it saw."""
    print(json.dumps(event, ensure_ascii=False, sort_keys=True), flush=True)


def compile_proto(proto: Path, out_dir: Path) -> Any:
    """Compiles `proto` with grpc_tools' protoc into `out_dir` and imports its `_pb2` module."""
    try:
        [module] = compile_protos(proto.parent, [proto.name], out_dir)
    except ProtocFailed as error:
        raise Fatal(str(error)) from error
    return module


def find_service(module: Any, name: str | None) -> Any:
    """The service descriptor named `name` (full or short), or the file's only service."""
    services = list(module.DESCRIPTOR.services_by_name.values())
    if name is None:
        if len(services) != 1:
            raise Fatal(f"the .proto has {len(services)} services: pass --service")
        return services[0]
    for service in services:
        if name in (service.full_name, service.name):
            return service
    raise Fatal(f"no service {name!r} in the .proto (have {[s.full_name for s in services]})")


def grpc_frame(payload: bytes, flag: int = 0) -> bytes:
    """One gRPC message: compressed-flag (0: not compressed), 4-byte big-endian length, body."""
    return bytes([flag]) + len(payload).to_bytes(4, "big") + payload


def decode_bin(value: str) -> bytes:
    """A `-bin` header value: base64 with or without padding, repeated values joined by ","."""
    return b"".join(
        base64.b64decode(part.strip() + "=" * (-len(part.strip()) % 4), validate=True)
        for part in value.split(",")
    )


def header_maps(headers: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], dict[str, str]]:
    """Headers as text (repeated names joined with ","), and `-bin` ones decoded to hex."""
    text: dict[str, str] = {}
    binary: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("ascii", "replace")
        value = raw_value.decode("utf-8", "replace")
        text[name] = f"{text[name]},{value}" if name in text else value
    for name, value in text.items():
        if name.endswith("-bin"):
            try:
                binary[name] = decode_bin(value).hex()
            except (binascii.Error, ValueError) as error:
                binary[name] = f"invalid base64: {error}"
    return text, binary


def grpc_status(headers: dict[str, str] | None, http_status: int | None) -> tuple[int, str, str]:
    """The call's (code, percent-decoded message, raw grpc-message) from the header block that
    ended it, or from the HTTP status when it carries no grpc-status (gRPC's HTTP mapping)."""
    headers = headers or {}
    if "grpc-status" in headers:
        raw_code = headers["grpc-status"]
        code = int(raw_code) if raw_code.isdigit() else UNKNOWN
        raw_message = headers.get("grpc-message", "")
        message = urllib.parse.unquote_to_bytes(raw_message).decode("utf-8", "replace")
        return code, message, raw_message
    status = http_status or 0
    return HTTP_TO_GRPC.get(status, UNKNOWN), f"no grpc-status (HTTP {status})", ""


class Deframer:
    """Splits a response body into gRPC messages; DATA frame boundaries mean nothing."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The messages `data` completes, in order; a partial one waits for more bytes."""
        self.buffer.extend(data)
        messages = []
        while len(self.buffer) >= 5:
            flag = self.buffer[0]
            length = int.from_bytes(self.buffer[1:5], "big")
            if flag != 0:
                raise CallFailed(f"compressed-flag {flag} without a negotiated grpc-encoding")
            if len(self.buffer) < 5 + length:
                break
            messages.append(bytes(self.buffer[5 : 5 + length]))
            del self.buffer[: 5 + length]
        return messages


class H3Client(QuicConnectionProtocol):
    """An HTTP/3 connection that routes each request stream's events to its own queue."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self.queues: dict[int, asyncio.Queue[H3Event | QuicEvent]] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            for queue in self.queues.values():
                queue.put_nowait(event)
        if isinstance(event, StreamReset) and event.stream_id in self.queues:
            self.queues[event.stream_id].put_nowait(event)
        for http_event in self.http.handle_event(event):
            stream_id = getattr(http_event, "stream_id", None)
            if stream_id in self.queues:
                self.queues[stream_id].put_nowait(http_event)

    def start_request(
        self, headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, asyncio.Queue[H3Event | QuicEvent]]:
        """Sends a request's headers on a new stream; its events arrive on the returned queue."""
        stream_id = self._quic.get_next_available_stream_id()
        queue: asyncio.Queue[H3Event | QuicEvent] = asyncio.Queue()
        self.queues[stream_id] = queue
        self.http.send_headers(stream_id, headers, end_stream=False)
        self.transmit()
        return stream_id, queue

    def send_body(self, stream_id: int, data: bytes, end_stream: bool) -> None:
        """Sends one DATA frame (or, empty with `end_stream`, just the end of the stream)."""
        self.http.send_data(stream_id, data, end_stream=end_stream)
        self.transmit()

    def cancel_request(self, stream_id: int, error_code: int) -> None:
        """Resets both directions of a request stream (a client cancelling its call)."""
        self._quic.reset_stream(stream_id, error_code)
        self._quic.stop_stream(stream_id, error_code)
        self.transmit()

    def open_request(
        self, headers: list[tuple[bytes, bytes]], body: bytes, chunk: int | None
    ) -> tuple[int, asyncio.Queue[H3Event | QuicEvent]]:
        """Sends a whole request (headers, DATA frames, end of stream) on a new stream."""
        stream_id, queue = self.start_request(headers)
        size = chunk if chunk and chunk > 0 else max(len(body), 1)
        pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
        for index, piece in enumerate(pieces):
            self.send_body(stream_id, piece, end_stream=index == len(pieces) - 1)
        return stream_id, queue


class ResponseReader:
    """Turns one request stream's events into gRPC events: headers, messages, status."""

    def __init__(self, call_id: str, output_class: Any) -> None:
        self.call_id = call_id
        self.output_class = output_class
        self.deframer = Deframer()
        self.messages = 0
        self.http_status: int | None = None
        self.status_headers: dict[str, str] | None = None
        self.trailers_only = False

    def on_headers(self, headers: list[tuple[bytes, bytes]]) -> None:
        text, binary = header_maps(headers)
        if self.http_status is None:
            self.http_status = int(text.get(":status", "0"))
            emit(
                {
                    "event": "headers",
                    "call": self.call_id,
                    "status": self.http_status,
                    "headers": text,
                    "headers_bin": binary,
                }
            )
            if "grpc-status" in text:
                self.trailers_only = True
                self.status_headers = text
        elif self.status_headers is None:
            emit(
                {"event": "trailers", "call": self.call_id, "headers": text, "headers_bin": binary}
            )
            self.status_headers = text
        else:
            raise CallFailed("a HEADERS frame after the trailers")

    def on_data(self, data: bytes) -> None:
        if self.status_headers is not None:
            if data:
                raise CallFailed("DATA after the status")
            return
        for payload in self.deframer.feed(data):
            try:
                message = self.output_class.FromString(payload)
            except DecodeError as error:
                raise CallFailed(f"reply {self.messages} does not decode: {error}") from error
            emit(
                {
                    "event": "message",
                    "call": self.call_id,
                    "index": self.messages,
                    "message": json_format.MessageToDict(message, preserving_proto_field_name=True),
                }
            )
            self.messages += 1

    def finish(self) -> None:
        if self.deframer.buffer:
            left = len(self.deframer.buffer)
            raise CallFailed(f"the stream ended inside a message ({left} bytes left)")
        code, message, raw_message = grpc_status(self.status_headers, self.http_status)
        emit(
            {
                "event": "end",
                "call": self.call_id,
                "code": code,
                "message": message,
                "raw_message": raw_message,
                "trailers_only": self.trailers_only,
                "messages": self.messages,
            }
        )


async def run_call(client: H3Client, service: Any, authority: str, call: dict[str, Any]) -> None:
    """Makes one call and prints its events."""
    call_id = str(call.get("id", call["method"]))
    method = service.methods_by_name.get(call["method"])
    if method is None:
        raise CallFailed(f"no method {call['method']!r} in {service.full_name}")
    input_class = message_factory.GetMessageClass(method.input_type)
    output_class = message_factory.GetMessageClass(method.output_type)
    request = json_format.ParseDict(call.get("request", {}), input_class())
    headers = [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", authority.encode()),
        (b":path", call.get("path", f"/{service.full_name}/{method.name}").encode()),
        (b"content-type", call.get("content_type", "application/grpc+proto").encode()),
        (b"te", b"trailers"),
        (b"user-agent", b"rpcnet-interop-python/aioquic"),
    ]
    for name, value in call.get("metadata", {}).items():
        headers.append((name.lower().encode("ascii"), value.encode("ascii")))
    body = grpc_frame(request.SerializeToString(), call.get("flag", 0)) * call.get("copies", 1)
    body += bytes.fromhex(call.get("append_hex", ""))
    stream_id, queue = client.open_request(headers, body, call.get("chunk"))
    reader = ResponseReader(call_id, output_class)
    try:
        while True:
            event = await queue.get()
            if isinstance(event, HeadersReceived):
                reader.on_headers(event.headers)
            elif isinstance(event, DataReceived):
                reader.on_data(event.data)
            elif isinstance(event, StreamReset):
                raise CallFailed(f"stream reset by the server with code {event.error_code:#x}")
            elif isinstance(event, ConnectionTerminated):
                raise CallFailed(
                    f"connection closed: code {event.error_code:#x} {event.reason_phrase!r}"
                )
            if getattr(event, "stream_ended", False):
                reader.finish()
                return
    finally:
        client.queues.pop(stream_id, None)


async def run(args: argparse.Namespace, calls: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory(prefix="rpcnet-interop-") as out_dir:
        module = compile_proto(Path(args.proto).resolve(), Path(out_dir))
        service = find_service(module, args.service)
        emit(
            {
                "event": "ready",
                "service": service.full_name,
                "methods": [
                    {
                        "name": m.name,
                        "input": m.input_type.full_name,
                        "output": m.output_type.full_name,
                        "client_streaming": m.client_streaming,
                        "server_streaming": m.server_streaming,
                    }
                    for m in service.methods
                ],
            }
        )
        host, _, port = args.addr.rpartition(":")
        configuration = QuicConfiguration(
            is_client=True, alpn_protocols=H3_ALPN, server_name=args.server_name
        )
        configuration.load_verify_locations(cafile=args.ca)
        try:
            connection = connect(
                host.strip("[]"), int(port), configuration=configuration, create_protocol=H3Client
            )
            async with connection as client:
                assert isinstance(client, H3Client)
                for call in calls:
                    try:
                        await run_call(client, service, f"{args.server_name}:{port}", call)
                    except CallFailed as error:
                        call_id = str(call.get("id", call.get("method")))
                        emit({"event": "error", "call": call_id, "error": str(error)})
        except ConnectionError as error:
            raise Fatal(f"cannot connect to {args.addr}: {error}") from error
        emit({"event": "done", "calls": len(calls)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto", required=True, help="the exported .proto file")
    parser.add_argument("--ca", required=True, help="PEM CA that signed the server certificate")
    parser.add_argument("--addr", required=True, help="server HOST:PORT (UDP)")
    parser.add_argument("--server-name", default="localhost", help="TLS server name to verify")
    parser.add_argument("--service", help="service name (default: the .proto's only service)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for everything")
    parser.add_argument("calls", help="JSON array of calls (see the module docs)")
    args = parser.parse_args()
    try:
        calls = json.loads(args.calls)
        if not isinstance(calls, list):
            raise Fatal("CALLS must be a JSON array")
        asyncio.run(asyncio.wait_for(run(args, calls), timeout=args.timeout))
    except Fatal as error:
        emit({"event": "fatal", "error": str(error)})
        return 2
    except TimeoutError:
        emit({"event": "fatal", "error": f"timed out after {args.timeout} s"})
        return 2
    except (json.JSONDecodeError, json_format.ParseError) as error:
        emit({"event": "fatal", "error": f"bad call description: {error}"})
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
