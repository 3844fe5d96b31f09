"""Runs the official gRPC interop cases with grpcio (gRPC C-core, HTTP/2 over TLS) against a server.

Usage (every case unless --cases names some; see interop_cases.py for the output):

    python grpcio_client.py --host 127.0.0.1 --port PORT [--server-name localhost]
        [--ca certs/ca.pem] [--cases empty_unary,large_unary]

Calls to streaming methods go through grpc.aio's stream-stream API (on the wire a gRPC call is the
same HEADERS, length-prefixed DATA and trailers for all four kinds), so each case sends,
half-closes, reads and cancels exactly when it says. Calls to unary methods go through the
unary-unary API, as the official interop client makes them: grpc-core sends the request and the
half-close in one batch there, while a stream-stream write that races a server's early
Trailers-Only answer (UNIMPLEMENTED for an unknown service) makes grpc-core report the failed
write's INTERNAL instead of the status it received.
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


class GrpcioUnaryCall:
    """One grpc.aio unary-unary call behind the `interop_cases.Call` interface: the request
    is kept until the half-close, which starts the call."""

    def __init__(self, method: grpc.aio.UnaryUnaryMultiCallable, metadata: Any, timeout: Any):
        self.method = method
        self.metadata = metadata
        self.timeout = timeout
        self.request: Any = None
        self.call: grpc.aio.UnaryUnaryCall | None = None
        self.replied = False

    async def send(self, message: Any) -> None:
        if self.request is not None:
            raise interop_cases.CaseFailed("a second request on a unary method")
        self.request = message

    async def close_send(self) -> None:
        if self.call is None:
            self.call = self.method(self.request, metadata=self.metadata, timeout=self.timeout)

    async def recv(self) -> Any | None:
        await self.close_send()
        if self.replied:
            return None
        self.replied = True
        try:
            return await self.call
        except grpc.aio.AioRpcError:
            return None

    def cancel(self) -> None:
        if self.call is not None:
            self.call.cancel()

    async def status(self) -> Status:
        await self.close_send()
        code = await self.call.code()
        return Status(
            code=code.value[0],
            details=await self.call.details() or "",
            initial=list(await self.call.initial_metadata() or []),
            trailing=list(await self.call.trailing_metadata() or []),
        )


# The unary methods of grpc.testing (the cases call nothing else unary).
UNARY_METHODS = {"EmptyCall", "UnaryCall", "CacheableUnaryCall", "UnimplementedCall"}


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
    ) -> GrpcioCall | GrpcioUnaryCall:
        if path.rsplit("/", 1)[-1] in UNARY_METHODS:
            unary = self.channel.unary_unary(
                path,
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=response_class.FromString,
            )
            return GrpcioUnaryCall(unary, tuple(metadata or ()), timeout)
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
