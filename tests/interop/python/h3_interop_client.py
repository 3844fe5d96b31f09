"""Runs the official gRPC interop cases over HTTP/3 (aioquic) against a server, e.g. rpcnet's.

Usage (every case unless --cases names some; see interop_cases.py for the output):

    python h3_interop_client.py --host 127.0.0.1 --port PORT [--server-name localhost]
        [--ca certs/ca.pem] [--cases empty_unary,large_unary]

The cases are interop_cases.py's, shared with grpcio_client.py; the HTTP/3 side is
grpc_h3_client.py's (its connection, framing and status mapping). What this file adds is a call
that sends and reads incrementally: request messages go out one DATA frame each when the case
sends them, the half-close is an empty DATA frame ending the stream, a cancel resets both
directions of the stream with H3_REQUEST_CANCELLED and reports CANCELLED, and a timeout is sent
as `grpc-timeout` and also enforced here: when it passes, the stream is reset the same way and
the call reports DEADLINE_EXCEEDED (unless the server's status came first).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.h3.connection import H3_ALPN
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamReset

import interop_cases
from grpc_h3_client import CallFailed, Deframer, H3Client, decode_bin, grpc_frame, grpc_status
from interop_cases import CANCELLED, DEADLINE_EXCEEDED, Status

# H3_REQUEST_CANCELLED (RFC 9114): how a client cancels a request stream.
H3_REQUEST_CANCELLED = 0x10C
# A stream or connection that failed below gRPC is UNAVAILABLE to the caller, as in grpcio.
UNAVAILABLE = 14
# Response headers that are the protocol's, not the application's metadata.
RESERVED = {"content-type", "grpc-status", "grpc-message", "grpc-status-details-bin"}


def metadata_of(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, Any]]:
    """A header block as metadata pairs: pseudo-headers and gRPC's own dropped, `-bin` decoded."""
    pairs: list[tuple[str, Any]] = []
    for raw_name, raw_value in headers:
        name = raw_name.decode("ascii", "replace")
        if name.startswith(":") or name in RESERVED:
            continue
        value = raw_value.decode("ascii", "replace")
        pairs.append((name, decode_bin(value) if name.endswith("-bin") else value))
    return pairs


def timeout_header(seconds: float) -> bytes:
    """`grpc-timeout` for `seconds`, in whole microseconds (at most 8 digits), rounded up."""
    micros = max(1, int(seconds * 1_000_000 + 0.999))
    if micros < 100_000_000:
        return f"{micros}u".encode()
    return f"{min(99_999_999, int(seconds + 0.999))}S".encode()


class H3Call:
    """One gRPC call on an HTTP/3 request stream, behind the `interop_cases.Call` interface."""

    def __init__(
        self,
        client: H3Client,
        headers: list[tuple[bytes, bytes]],
        response_class: Any,
        timeout: float | None,
    ) -> None:
        self.client = client
        self.response_class = response_class
        self.stream_id, self.queue = client.start_request(headers)
        loop = asyncio.get_running_loop()
        self.deadline = None if timeout is None else loop.time() + timeout
        self.deframer = Deframer()
        self.replies: list[Any] = []
        self.http_status: int | None = None
        self.initial: list[tuple[str, Any]] = []
        self.trailing: list[tuple[str, Any]] = []
        self.status_headers: dict[str, str] | None = None
        self.outcome: Status | None = None
        self.sent_end = False

    def end(self, code: int, details: str) -> None:
        """Ends the call from the client side (cancel, deadline, failure below gRPC)."""
        if self.outcome is None:
            try:
                self.client.cancel_request(self.stream_id, H3_REQUEST_CANCELLED)
            except Exception:  # The stream may already be gone (reset, connection lost).
                pass
            self.outcome = Status(code, details, self.initial, self.trailing)
            self.client.queues.pop(self.stream_id, None)

    async def send(self, message: Any) -> None:
        if self.outcome is None and not self.sent_end:
            self.client.send_body(self.stream_id, grpc_frame(message.SerializeToString()), False)

    async def close_send(self) -> None:
        if self.outcome is None and not self.sent_end:
            self.sent_end = True
            self.client.send_body(self.stream_id, b"", True)

    def cancel(self) -> None:
        self.end(CANCELLED, "cancelled by the client")

    async def recv(self) -> Any | None:
        while not self.replies and self.outcome is None:
            await self.next_event()
        return self.replies.pop(0) if self.replies else None

    async def status(self) -> Status:
        while self.outcome is None:
            await self.next_event()
        return self.outcome

    async def next_event(self) -> None:
        """Handles one event of the stream, or the deadline passing while waiting for it."""
        remaining = None
        if self.deadline is not None:
            remaining = self.deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                self.end(DEADLINE_EXCEEDED, "deadline exceeded (client)")
                return
        try:
            event = await asyncio.wait_for(self.queue.get(), timeout=remaining)
        except TimeoutError:
            self.end(DEADLINE_EXCEEDED, "deadline exceeded (client)")
            return
        try:
            self.handle(event)
        except CallFailed as error:
            self.end(UNAVAILABLE, str(error))

    def handle(self, event: Any) -> None:
        if isinstance(event, HeadersReceived):
            text = {
                n.decode("ascii", "replace"): v.decode("utf-8", "replace") for n, v in event.headers
            }
            if self.http_status is None:
                self.http_status = int(text.get(":status", "0"))
                if "grpc-status" in text:
                    # Trailers-Only: the one header block is also the trailers.
                    self.status_headers = text
                    self.trailing = metadata_of(event.headers)
                else:
                    self.initial = metadata_of(event.headers)
            elif self.status_headers is None:
                self.status_headers = text
                self.trailing = metadata_of(event.headers)
            else:
                raise CallFailed("a HEADERS frame after the trailers")
        elif isinstance(event, DataReceived):
            if self.status_headers is not None and event.data:
                raise CallFailed("DATA after the status")
            for payload in self.deframer.feed(event.data):
                self.replies.append(self.response_class.FromString(payload))
        elif isinstance(event, StreamReset):
            raise CallFailed(f"stream reset by the server with code {event.error_code:#x}")
        elif isinstance(event, ConnectionTerminated):
            raise CallFailed(
                f"connection closed: code {event.error_code:#x} {event.reason_phrase!r}"
            )
        if getattr(event, "stream_ended", False) and self.outcome is None:
            if self.deframer.buffer:
                raise CallFailed(
                    f"the stream ended inside a message ({len(self.deframer.buffer)} bytes left)"
                )
            code, details, _ = grpc_status(self.status_headers, self.http_status)
            self.outcome = Status(code, details, self.initial, self.trailing)
            self.client.queues.pop(self.stream_id, None)


class H3Transport:
    """Calls on one HTTP/3 connection."""

    def __init__(self, client: H3Client, authority: str) -> None:
        self.client = client
        self.authority = authority

    def start(
        self,
        path: str,
        response_class: Any,
        metadata: list[tuple[str, Any]] | None = None,
        timeout: float | None = None,
    ) -> H3Call:
        headers = [
            (b":method", b"POST"),
            (b":scheme", b"https"),
            (b":authority", self.authority.encode()),
            (b":path", path.encode()),
            (b"content-type", b"application/grpc+proto"),
            (b"te", b"trailers"),
            (b"user-agent", b"rpcnet-interop-python/aioquic"),
        ]
        if timeout is not None:
            headers.append((b"grpc-timeout", timeout_header(timeout)))
        for name, value in metadata or []:
            if name.endswith("-bin"):
                # Unpadded base64, as gRPC senders emit it.
                value = base64.b64encode(value).decode("ascii").rstrip("=")
            headers.append((name.lower().encode("ascii"), value.encode("ascii")))
        return H3Call(self.client, headers, response_class, timeout)


async def open_transport(
    args: argparse.Namespace,
) -> tuple[H3Transport, Callable[[], Awaitable[None]]]:
    """A QUIC connection (ALPN h3) to --host:--port verifying the server as --server-name."""
    configuration = QuicConfiguration(
        is_client=True, alpn_protocols=H3_ALPN, server_name=args.server_name
    )
    configuration.load_verify_locations(cafile=args.ca)
    stack = AsyncExitStack()
    client = await stack.enter_async_context(
        connect(args.host, args.port, configuration=configuration, create_protocol=H3Client)
    )
    assert isinstance(client, H3Client)
    return H3Transport(client, f"{args.server_name}:{args.port}"), stack.aclose


if __name__ == "__main__":
    sys.exit(interop_cases.main(__doc__.splitlines()[0], open_transport))
