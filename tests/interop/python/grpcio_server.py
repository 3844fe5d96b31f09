"""A grpcio (gRPC C-core, HTTP/2, TLS) grpc.testing.TestService server with the official semantics.

Usage:

    python grpcio_server.py [--host 127.0.0.1] [--port 0] [--cert certs/server.pem]
        [--key certs/server.key]

Prints `listening HOST:PORT` on stdout once bound (port 0 picks a free one) and serves until its
stdin closes, so a parent that dies leaves no server behind.

The server features of grpc's doc/interop-test-descriptions.md: EmptyCall; UnaryCall with
response_size, response_type (only COMPRESSABLE) and Echo Status; CacheableUnaryCall;
StreamingOutputCall and FullDuplexCall with one reply per ResponseParameters, sleeping
interval_us before each; StreamingInputCall summing payload sizes; HalfDuplexCall answering
after the half-close; Echo Metadata (`x-grpc-test-echo-initial` back as initial metadata,
`x-grpc-test-echo-trailing-bin` as trailing metadata). UnimplementedCall and UnimplementedService
are left to grpcio, which answers UNIMPLEMENTED. Compression is not implemented: a request that
sets expect_compressed fails with INVALID_ARGUMENT, as the CompressedRequest probe expects of a
server without it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from interop_cases import (
    CERTS_DIR,
    ECHO_INITIAL_KEY,
    ECHO_TRAILING_KEY,
    PROTO_DIR,
    PROTO_FILES,
)
from protos import compile_protos

# grpcio's status enum by number.
CODES = {code.value[0]: code for code in grpc.StatusCode}


class TestService:
    """grpc.testing.TestService; each handler takes grpc.aio's (request, context)."""

    def __init__(self, empty: Any, messages: Any) -> None:
        self.empty = empty
        self.m = messages

    async def echo_metadata(self, context: grpc.aio.ServicerContext) -> None:
        """Echo Metadata: sends the initial echo now and sets the trailing one for the end."""
        received = list(context.invocation_metadata() or [])
        initial = [(k, v) for k, v in received if k == ECHO_INITIAL_KEY]
        await context.send_initial_metadata(initial)
        context.set_trailing_metadata([(k, v) for k, v in received if k == ECHO_TRAILING_KEY])

    async def end_with(self, echo: Any, context: grpc.aio.ServicerContext) -> None:
        """Echo Status: ends the call with the requested status, if one with a code is set."""
        if echo.code != 0:
            code = CODES.get(echo.code, grpc.StatusCode.UNKNOWN)
            await context.abort(code, echo.message, context.trailing_metadata())

    async def payload(
        self, response_type: int, size: int, context: grpc.aio.ServicerContext
    ) -> Any:
        """`size` zero bytes of `response_type`, or INVALID_ARGUMENT for what we cannot send."""
        if response_type != self.m.COMPRESSABLE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"unsupported response_type {response_type}"
            )
        if size < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"negative size {size}")
        return self.m.Payload(type=self.m.COMPRESSABLE, body=bytes(size))

    async def refuse_compressed(self, expect: Any, context: grpc.aio.ServicerContext) -> None:
        if expect.value:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "this server cannot check request compression"
            )

    async def EmptyCall(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.echo_metadata(context)
        return self.empty.Empty()

    async def UnaryCall(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.echo_metadata(context)
        await self.refuse_compressed(request.expect_compressed, context)
        await self.end_with(request.response_status, context)
        payload = await self.payload(request.response_type, request.response_size, context)
        return self.m.SimpleResponse(payload=payload)

    async def CacheableUnaryCall(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.send_initial_metadata([("cache-control", "max-age=60, public")])
        body = str(time.time_ns()).encode()
        return self.m.SimpleResponse(payload=self.m.Payload(type=self.m.COMPRESSABLE, body=body))

    async def StreamingInputCall(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> Any:
        await self.echo_metadata(context)
        total = 0
        async for request in requests:
            await self.refuse_compressed(request.expect_compressed, context)
            total += len(request.payload.body)
        return self.m.StreamingInputCallResponse(aggregated_payload_size=total)

    async def answer(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        """Writes one reply per ResponseParameters (after its interval), then Echo Status."""
        for parameters in request.response_parameters:
            if parameters.interval_us > 0:
                await asyncio.sleep(parameters.interval_us / 1e6)
            payload = await self.payload(request.response_type, parameters.size, context)
            await context.write(self.m.StreamingOutputCallResponse(payload=payload))
        await self.end_with(request.response_status, context)

    async def StreamingOutputCall(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        await self.echo_metadata(context)
        await self.answer(request, context)

    async def FullDuplexCall(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> None:
        await self.echo_metadata(context)
        async for request in requests:
            await self.answer(request, context)

    async def HalfDuplexCall(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> None:
        await self.echo_metadata(context)
        buffered = [request async for request in requests]
        for request in buffered:
            await self.answer(request, context)


def handlers(service: TestService, test: Any) -> grpc.GenericRpcHandler:
    """Routes TestService's methods (except UnimplementedCall) to `service`, with the
    (de)serializers of the descriptor's message classes."""
    from google.protobuf import message_factory

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    descriptor = test.DESCRIPTOR.services_by_name["TestService"]
    table = {}
    for method in descriptor.methods:
        if method.name == "UnimplementedCall":
            continue
        request_class = message_factory.GetMessageClass(method.input_type)
        make = kinds[(method.client_streaming, method.server_streaming)]
        table[method.name] = make(
            getattr(service, method.name),
            request_deserializer=request_class.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )
    return grpc.method_handlers_generic_handler(descriptor.full_name, table)


async def serve(args: argparse.Namespace, modules: list[Any]) -> None:
    empty, messages, test = modules
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handlers(TestService(empty, messages), test),))
    key = Path(args.key).read_bytes()
    cert = Path(args.cert).read_bytes()
    port = server.add_secure_port(
        f"{args.host}:{args.port}", grpc.ssl_server_credentials([(key, cert)])
    )
    if port == 0:
        raise SystemExit(f"cannot bind {args.host}:{args.port}")
    await server.start()
    print(f"listening {args.host}:{port}", flush=True)
    # Serve until stdin closes (EOF), then stop, letting calls in flight end within a second.
    await asyncio.to_thread(sys.stdin.read)
    await server.stop(grace=1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free one)")
    parser.add_argument(
        "--cert", default=str(CERTS_DIR / "server.pem"), help="PEM certificate chain"
    )
    parser.add_argument("--key", default=str(CERTS_DIR / "server.key"), help="PEM private key")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rpcnet-interop-") as out_dir:
        modules = compile_protos(PROTO_DIR, PROTO_FILES, Path(out_dir))
        asyncio.run(serve(args, modules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
