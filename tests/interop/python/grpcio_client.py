"""Runs the official gRPC interop cases with grpcio (gRPC C-core, HTTP/2 over TLS) against a server.

Usage (every case unless --cases names some; see interop_cases.py for the output):

    python grpcio_client.py --host 127.0.0.1 --port PORT [--server-name localhost]
        [--ca certs/ca.pem] [--cases empty_unary,large_unary]

Every call goes through grpc.aio's stream-stream API, whatever the method's kind: on the wire a
gRPC call is the same HEADERS, length-prefixed DATA and trailers for all four kinds, and one
code path lets each case send, half-close, read and cancel exactly when the case says.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

import interop_cases
from interop_cases import Status

# grpcio's status enum by number.
CODES = {code.value[0]: code for code in grpc.StatusCode}


class GrpcioCall:
    """One grpc.aio stream-stream call behind the `interop_cases.Call` interface."""

    def __init__(self, call: grpc.aio.StreamStreamCall) -> None:
        self.call = call

    async def send(self, message: Any) -> None:
        try:
            await self.call.write(message)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, ConnectionError):
            # The call is over (deadline, server status); status() says how.
            pass

    async def close_send(self) -> None:
        try:
            await self.call.done_writing()
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, ConnectionError):
            pass

    async def recv(self) -> Any | None:
        try:
            reply = await self.call.read()
        except grpc.aio.AioRpcError:
            return None
        return None if reply is grpc.aio.EOF else reply

    def cancel(self) -> None:
        self.call.cancel()

    async def status(self) -> Status:
        code = await self.call.code()
        return Status(
            code=code.value[0],
            details=await self.call.details() or "",
            initial=list(await self.call.initial_metadata() or []),
            trailing=list(await self.call.trailing_metadata() or []),
        )


class GrpcioTransport:
    """Calls on one grpc.aio secure channel."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel

    def start(
        self,
        path: str,
        response_class: Any,
        metadata: list[tuple[str, Any]] | None = None,
        timeout: float | None = None,
    ) -> GrpcioCall:
        method = self.channel.stream_stream(
            path,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        return GrpcioCall(method(metadata=tuple(metadata or ()), timeout=timeout))


async def open_transport(
    args: argparse.Namespace,
) -> tuple[GrpcioTransport, Callable[[], Awaitable[None]]]:
    """A TLS channel to --host:--port that verifies the server as --server-name against --ca."""
    with open(args.ca, "rb") as ca:
        credentials = grpc.ssl_channel_credentials(root_certificates=ca.read())
    options = [
        ("grpc.ssl_target_name_override", args.server_name),
        ("grpc.default_authority", args.server_name),
        # Loopback only: never route through a proxy from the environment.
        ("grpc.enable_http_proxy", 0),
        # Room for the large cases' messages with headroom (gRPC's default limit is 4 MiB).
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ]
    channel = grpc.aio.secure_channel(f"{args.host}:{args.port}", credentials, options=options)
    return GrpcioTransport(channel), channel.close


if __name__ == "__main__":
    sys.exit(interop_cases.main(__doc__.splitlines()[0], open_transport))
