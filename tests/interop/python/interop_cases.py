"""The official gRPC interop client cases, written once over a transport-neutral call interface.

Each case follows grpc's doc/interop-test-descriptions.md: the same requests, and exactly the
assertions listed under "Client asserts" (plus the payload checks the document leaves to the
client: bodies are zeros of the asked size). A transport (grpcio over HTTP/2 in
`grpcio_client.py`, aioquic over HTTP/3 in `h3_interop_client.py`) only has to provide
`Transport.start`, returning a `Call`:

    call = transport.start("/grpc.testing.TestService/UnaryCall", SimpleResponse,
                           metadata=[("x-key", "text"), ("x-key-bin", b"bytes")], timeout=None)
    await call.send(request)       # one request message
    await call.close_send()        # half-close
    reply = await call.recv()      # the next reply, or None at the end (OK or not)
    call.cancel()                  # cancel the call from the client
    status = await call.status()   # waits for the end: code, details, initial, trailing

Metadata is a list of (key, value) pairs; values of `-bin` keys are bytes, others str.

`main(make_transport)` is the command line both runners share:

    --host 127.0.0.1 --port PORT [--server-name localhost] [--ca certs/ca.pem]
    [--cases empty_unary,large_unary,...] [--case-timeout 30]

It prints one JSON line per case, `{"case": NAME, "ok": true|false, "detail": "..."}`, and exits
1 if any case failed (2 if it could not start).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from protos import ProtocFailed, compile_protos

HERE = Path(__file__).resolve().parent
# The repository's grpc.testing protos and development certificates.
PROTO_DIR = HERE.parent / "proto"
PROTO_FILES = ["empty.proto", "messages.proto", "test.proto"]
CERTS_DIR = HERE.parents[2] / "certs"

SERVICE = "/grpc.testing.TestService/"

# gRPC status codes the cases expect.
OK, CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED = 0, 1, 2, 4, 12

# The metadata keys of the "Echo Metadata" server feature and the values the cases send.
ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_INITIAL_VALUE = "test_initial_metadata_value"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
ECHO_TRAILING_VALUE = b"\xab\xab\xab"

# The sizes the official cases use (digits of pi and e).
LARGE_REQUEST, LARGE_RESPONSE = 271828, 314159
STREAM_REQUESTS = [27182, 8, 1828, 45904]
STREAM_RESPONSES = [31415, 9, 2653, 58979]


@dataclass
class Status:
    """How a call ended, as the client saw it."""

    code: int
    details: str
    initial: list[tuple[str, Any]] = field(default_factory=list)
    trailing: list[tuple[str, Any]] = field(default_factory=list)


class Call(Protocol):
    """One call in flight (see the module docs)."""

    async def send(self, message: Any) -> None: ...
    async def close_send(self) -> None: ...
    async def recv(self) -> Any | None: ...
    def cancel(self) -> None: ...
    async def status(self) -> Status: ...


class Transport(Protocol):
    """Starts calls on one connection (or channel) to the server."""

    def start(
        self,
        path: str,
        response_class: Any,
        metadata: list[tuple[str, Any]] | None = None,
        timeout: float | None = None,
    ) -> Call: ...


class CaseFailed(Exception):
    """An assertion of a case did not hold; the message says which and what was seen."""


def check(condition: bool, what: str) -> None:
    """Fails the case with `what` unless `condition` holds."""
    if not condition:
        raise CaseFailed(what)


class Cases:
    """The 14 cases; each method is named like the case and returns a short detail line."""

    def __init__(self, transport: Transport, empty: Any, messages: Any) -> None:
        self.transport = transport
        self.empty = empty
        self.m = messages

    def payload(self, size: int) -> Any:
        return self.m.Payload(type=self.m.COMPRESSABLE, body=bytes(size))

    def check_payload(self, payload: Any, size: int, what: str) -> None:
        check(
            len(payload.body) == size,
            f"{what}: payload body is {len(payload.body)} bytes, not {size}",
        )
        check(payload.body == bytes(size), f"{what}: payload body is not all zeros")

    def check_status(
        self, status: Status, code: int, what: str, details: str | None = None
    ) -> None:
        check(
            status.code == code,
            f"{what}: status {status.code} ({status.details!r}), expected {code}",
        )
        if details is not None:
            check(
                status.details == details,
                f"{what}: status message {status.details!r}, expected {details!r}",
            )

    async def call(
        self,
        method: str,
        requests: list[Any],
        response_class: Any,
        metadata: list[tuple[str, Any]] | None = None,
        path: str | None = None,
    ) -> tuple[list[Any], Status]:
        """Sends `requests`, half-closes, reads every reply; returns them and the status."""
        call = self.transport.start(path or SERVICE + method, response_class, metadata)
        for request in requests:
            await call.send(request)
        await call.close_send()
        replies = []
        while (reply := await call.recv()) is not None:
            replies.append(reply)
        return replies, await call.status()

    async def empty_unary(self) -> str:
        replies, status = await self.call("EmptyCall", [self.empty.Empty()], self.empty.Empty)
        self.check_status(status, OK, "EmptyCall")
        check(len(replies) == 1, f"EmptyCall: {len(replies)} replies, expected 1")
        check(replies[0].ByteSize() == 0, "EmptyCall: the reply is not an empty message")
        return "EmptyCall returned Empty"

    async def large_unary(self) -> str:
        request = self.m.SimpleRequest(
            response_type=self.m.COMPRESSABLE,
            response_size=LARGE_RESPONSE,
            payload=self.payload(LARGE_REQUEST),
        )
        replies, status = await self.call("UnaryCall", [request], self.m.SimpleResponse)
        self.check_status(status, OK, "UnaryCall")
        check(len(replies) == 1, f"UnaryCall: {len(replies)} replies, expected 1")
        self.check_payload(replies[0].payload, LARGE_RESPONSE, "UnaryCall")
        return f"sent {LARGE_REQUEST} bytes, got {LARGE_RESPONSE}"

    async def client_streaming(self) -> str:
        requests = [
            self.m.StreamingInputCallRequest(payload=self.payload(n)) for n in STREAM_REQUESTS
        ]
        replies, status = await self.call(
            "StreamingInputCall", requests, self.m.StreamingInputCallResponse
        )
        self.check_status(status, OK, "StreamingInputCall")
        check(len(replies) == 1, f"StreamingInputCall: {len(replies)} replies, expected 1")
        total = replies[0].aggregated_payload_size
        check(total == 74922, f"aggregated_payload_size is {total}, expected 74922")
        return "aggregated_payload_size 74922"

    async def server_streaming(self) -> str:
        request = self.m.StreamingOutputCallRequest(
            response_type=self.m.COMPRESSABLE,
            response_parameters=[self.m.ResponseParameters(size=n) for n in STREAM_RESPONSES],
        )
        replies, status = await self.call(
            "StreamingOutputCall", [request], self.m.StreamingOutputCallResponse
        )
        self.check_status(status, OK, "StreamingOutputCall")
        sizes = [len(r.payload.body) for r in replies]
        check(sizes == STREAM_RESPONSES, f"reply sizes {sizes}, expected {STREAM_RESPONSES}")
        for index, reply in enumerate(replies):
            self.check_payload(reply.payload, STREAM_RESPONSES[index], f"reply {index}")
        return f"reply sizes {sizes}"

    async def ping_pong(self) -> str:
        call = self.transport.start(SERVICE + "FullDuplexCall", self.m.StreamingOutputCallResponse)
        for index, (out, back) in enumerate(zip(STREAM_REQUESTS, STREAM_RESPONSES)):
            await call.send(
                self.m.StreamingOutputCallRequest(
                    response_type=self.m.COMPRESSABLE,
                    response_parameters=[self.m.ResponseParameters(size=back)],
                    payload=self.payload(out),
                )
            )
            reply = await call.recv()
            if reply is None:
                status = await call.status()
                raise CaseFailed(
                    f"no reply to request {index}: status {status.code} {status.details!r}"
                )
            self.check_payload(reply.payload, back, f"reply {index}")
        await call.close_send()
        extra = await call.recv()
        check(extra is None, "a fifth reply after the half-close")
        self.check_status(await call.status(), OK, "FullDuplexCall")
        return f"4 round trips, reply sizes {STREAM_RESPONSES}"

    async def empty_stream(self) -> str:
        replies, status = await self.call("FullDuplexCall", [], self.m.StreamingOutputCallResponse)
        self.check_status(status, OK, "FullDuplexCall")
        check(not replies, f"{len(replies)} replies, expected none")
        return "no requests, no replies, OK"

    async def custom_metadata(self) -> str:
        metadata = [
            (ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE),
            (ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE),
        ]
        unary = self.m.SimpleRequest(
            response_type=self.m.COMPRESSABLE,
            response_size=LARGE_RESPONSE,
            payload=self.payload(LARGE_REQUEST),
        )
        duplex = self.m.StreamingOutputCallRequest(
            response_type=self.m.COMPRESSABLE,
            response_parameters=[self.m.ResponseParameters(size=LARGE_RESPONSE)],
            payload=self.payload(LARGE_REQUEST),
        )
        for method, request, response_class in [
            ("UnaryCall", unary, self.m.SimpleResponse),
            ("FullDuplexCall", duplex, self.m.StreamingOutputCallResponse),
        ]:
            replies, status = await self.call(method, [request], response_class, metadata)
            self.check_status(status, OK, method)
            check(len(replies) == 1, f"{method}: {len(replies)} replies, expected 1")
            self.check_payload(replies[0].payload, LARGE_RESPONSE, method)
            initial = [v for k, v in status.initial if k == ECHO_INITIAL_KEY]
            check(
                initial == [ECHO_INITIAL_VALUE],
                f"{method}: initial metadata {ECHO_INITIAL_KEY} is {initial}, expected "
                f"[{ECHO_INITIAL_VALUE!r}] (initial: {status.initial})",
            )
            trailing = [v for k, v in status.trailing if k == ECHO_TRAILING_KEY]
            check(
                trailing == [ECHO_TRAILING_VALUE],
                f"{method}: trailing metadata {ECHO_TRAILING_KEY} is {trailing}, expected "
                f"[{ECHO_TRAILING_VALUE!r}] (trailing: {status.trailing})",
            )
        return "initial and trailing metadata echoed on UnaryCall and FullDuplexCall"

    async def echo_status(self, message: str, duplex: bool) -> None:
        """UnaryCall (and FullDuplexCall if `duplex`) asked to end with UNKNOWN and `message`."""
        status_request = self.m.EchoStatus(code=UNKNOWN, message=message)
        calls = [
            (
                "UnaryCall",
                self.m.SimpleRequest(response_status=status_request),
                self.m.SimpleResponse,
            )
        ]
        if duplex:
            request = self.m.StreamingOutputCallRequest(response_status=status_request)
            calls.append(("FullDuplexCall", request, self.m.StreamingOutputCallResponse))
        for method, request, response_class in calls:
            _, status = await self.call(method, [request], response_class)
            self.check_status(status, UNKNOWN, method, details=message)

    async def status_code_and_message(self) -> str:
        await self.echo_status("test status message", duplex=True)
        return "code 2 and message echoed by UnaryCall and FullDuplexCall"

    async def special_status_message(self) -> str:
        await self.echo_status(
            "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n",
            duplex=False,
        )
        return "whitespace and Unicode survive in the status message"

    async def unimplemented(self, path: str) -> str:
        _, status = await self.call("", [self.empty.Empty()], self.empty.Empty, path=path)
        self.check_status(status, UNIMPLEMENTED, path)
        return f"{path}: UNIMPLEMENTED"

    async def unimplemented_method(self) -> str:
        return await self.unimplemented(SERVICE + "UnimplementedCall")

    async def unimplemented_service(self) -> str:
        return await self.unimplemented("/grpc.testing.UnimplementedService/UnimplementedCall")

    async def cancel_after_begin(self) -> str:
        call = self.transport.start(
            SERVICE + "StreamingInputCall", self.m.StreamingInputCallResponse
        )
        call.cancel()
        self.check_status(await call.status(), CANCELLED, "StreamingInputCall")
        return "CANCELLED"

    async def cancel_after_first_response(self) -> str:
        call = self.transport.start(SERVICE + "FullDuplexCall", self.m.StreamingOutputCallResponse)
        await call.send(
            self.m.StreamingOutputCallRequest(
                response_type=self.m.COMPRESSABLE,
                response_parameters=[self.m.ResponseParameters(size=31415)],
                payload=self.payload(27182),
            )
        )
        reply = await call.recv()
        check(reply is not None, "no first reply to cancel after")
        call.cancel()
        self.check_status(await call.status(), CANCELLED, "FullDuplexCall")
        return "CANCELLED after the first reply"

    async def timeout_on_sleeping_server(self) -> str:
        call = self.transport.start(
            SERVICE + "FullDuplexCall", self.m.StreamingOutputCallResponse, timeout=0.001
        )
        await call.send(self.m.StreamingOutputCallRequest(payload=self.payload(27182)))
        while await call.recv() is not None:
            pass
        self.check_status(await call.status(), DEADLINE_EXCEEDED, "FullDuplexCall")
        return "DEADLINE_EXCEEDED after 1 ms"


# The case names, in the order the official document lists them.
CASE_NAMES = [
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
]


def emit(line: dict[str, Any]) -> None:
    """Prints one JSON line and flushes, so a killed run still leaves what it finished."""
    print(json.dumps(line, ensure_ascii=False), flush=True)


async def run_cases(cases: Cases, names: list[str], case_timeout: float) -> bool:
    """Runs `names` in order, each bounded by `case_timeout` seconds; True if all passed."""
    all_ok = True
    for name in names:
        started = time.monotonic()
        try:
            detail = await asyncio.wait_for(getattr(cases, name)(), timeout=case_timeout)
            ok = True
        except CaseFailed as error:
            ok, detail = False, str(error)
        except TimeoutError:
            ok, detail = False, f"did not finish within {case_timeout} s"
        except Exception as error:  # A transport error fails this case, not the whole run.
            ok, detail = False, f"{type(error).__name__}: {error}"
        all_ok &= ok
        emit(
            {
                "case": name,
                "ok": ok,
                "detail": detail,
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    return all_ok


def case_list(text: str) -> list[str]:
    """Parses --cases: comma-separated names, or `all`."""
    names = CASE_NAMES if text == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASE_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown cases {unknown}; known: {', '.join(CASE_NAMES)}")
    return names


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every case runner takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1", help="server address to connect to")
    p.add_argument("--port", type=int, required=True, help="server port")
    p.add_argument("--server-name", default="localhost", help="TLS server name (and :authority)")
    p.add_argument(
        "--ca", default=str(CERTS_DIR / "ca.pem"), help="PEM CA of the server certificate"
    )
    p.add_argument("--cases", type=case_list, default=CASE_NAMES, help="comma-separated, or all")
    p.add_argument("--case-timeout", type=float, default=30.0, help="seconds per case")
    return p


TransportFactory = Callable[
    [argparse.Namespace], Awaitable[tuple[Transport, Callable[[], Awaitable[None]]]]
]


def main(description: str, make_transport: TransportFactory) -> int:
    """Parses the shared arguments, compiles the protos, opens a transport with
    `make_transport(args)` (which returns it and an async close function) and runs the cases."""
    args = parser(description).parse_args()

    async def run() -> bool:
        transport, close = await make_transport(args)
        try:
            return await run_cases(Cases(transport, empty, messages), args.cases, args.case_timeout)
        finally:
            await close()

    with tempfile.TemporaryDirectory(prefix="rpcnet-interop-") as out_dir:
        try:
            empty, messages, _ = compile_protos(PROTO_DIR, PROTO_FILES, Path(out_dir))
        except ProtocFailed as error:
            print(f"fatal: {error}", file=sys.stderr)
            return 2
        return 0 if asyncio.run(run()) else 1
