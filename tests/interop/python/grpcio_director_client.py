"""A stock grpcio client (gRPC C-core, HTTP/2 over TLS) calling the connection-swap director.

Usage:

    python grpcio_director_client.py --port PORT [--host 127.0.0.1] [--tokens 20]
        [--prompt "..."] [--server-name localhost] [--ca certs/ca.pem]

Compiles `proto/connection_swap.proto` (the `.proto` rpcnet-gen exports) with grpcio-tools'
protoc, opens one secure channel, calls `connection_swap.Inference/Generate` with one
`GenerateRequest`, answers each `WorkerFailed` with a retry request (`resume_after` = the last
token it has) on the same stream, as the connection-swap protocol asks, and reads events until
`--tokens` tokens arrived, then half-closes and cancels.
Prints one JSON line: the workers that served it, the token sequence numbers and texts, and how
many swaps it saw; exits 1 if the tokens were not contiguous from 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

import grpc
import grpc.aio

from protos import compile_protos

ROOT = Path(__file__).resolve().parents[3]


async def run(args: argparse.Namespace, out_dir: Path) -> dict:
    (pb,) = compile_protos(ROOT / "proto", ["connection_swap.proto"], out_dir)
    with open(args.ca, "rb") as ca:
        credentials = grpc.ssl_channel_credentials(root_certificates=ca.read())
    options = [
        ("grpc.ssl_target_name_override", args.server_name),
        ("grpc.default_authority", args.server_name),
        ("grpc.enable_http_proxy", 0),
    ]
    async with grpc.aio.secure_channel(
        f"{args.host}:{args.port}", credentials, options=options
    ) as channel:
        generate = channel.stream_stream(
            "/connection_swap.Inference/Generate",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=pb.GenerateEvent.FromString,
        )
        call = generate()
        await call.write(pb.GenerateRequest(prompt=args.prompt))
        tokens, workers, assigned, failures = [], [], 0, 0
        while len(tokens) < args.tokens:
            event = await call.read()
            if event is grpc.aio.EOF:
                break
            kind = event.WhichOneof("kind")
            if kind == "assigned":
                assigned += 1
                workers.append(event.assigned.worker_label)
            elif kind == "token":
                tokens.append((event.token.sequence, event.token.text, event.token.worker_label))
            elif kind == "worker_failed":
                # The director asks the client to resume on the next worker, on the same
                # stream, after the last token it has.
                failures += 1
                last = tokens[-1][0] if tokens else 0
                await call.write(pb.GenerateRequest(prompt=args.prompt, resume_after=last))
        await call.done_writing()
        call.cancel()
        return {
            "tokens": len(tokens),
            "sequences": [sequence for sequence, _, _ in tokens],
            "texts": [text for _, text, _ in tokens],
            "token_workers": sorted({worker for _, _, worker in tokens}),
            "assigned": assigned,
            "workers_assigned": workers,
            "worker_failed": failures,
        }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-name", default="localhost")
    p.add_argument("--ca", default=str(ROOT / "certs" / "ca.pem"))
    p.add_argument("--tokens", type=int, default=20)
    p.add_argument("--prompt", default="hello from grpcio")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        result = asyncio.run(asyncio.wait_for(run(args, Path(out_dir)), timeout=120))
    print(json.dumps(result))
    contiguous = result["sequences"] == list(range(1, args.tokens + 1))
    return 0 if contiguous else 1


if __name__ == "__main__":
    sys.exit(main())
