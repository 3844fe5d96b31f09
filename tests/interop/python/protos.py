"""Compiles .proto files with grpcio-tools' bundled protoc and imports the generated modules.

No protoc needs to be installed: `python -m grpc_tools.protoc` is the compiler grpcio-tools
ships, with the well-known types (`google/protobuf/*.proto`) beside it.
"""

from __future__ import annotations

import importlib
import importlib.resources
import subprocess
import sys
from pathlib import Path
from typing import Any


class ProtocFailed(Exception):
    """protoc rejected the files (the message holds its stderr)."""


def compile_protos(proto_dir: Path, files: list[str], out_dir: Path) -> list[Any]:
    """Compiles `files` (paths relative to `proto_dir`, which is also the import root) into
    `out_dir`, puts `out_dir` on `sys.path` and returns the `_pb2` modules in the same order."""
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={proto_dir}",
        f"--proto_path={well_known}",
        f"--python_out={out_dir}",
        *(str(proto_dir / name) for name in files),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise ProtocFailed(
            f"protoc failed on {files} in {proto_dir} (exit {result.returncode}): "
            f"{result.stderr.strip()}"
        )
    sys.path.insert(0, str(out_dir))
    return [
        importlib.import_module(
            name.removesuffix(".proto").replace("-", "_").replace("/", ".") + "_pb2"
        )
        for name in files
    ]
