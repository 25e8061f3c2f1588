"""Regenerate the Python code for omni_client/wire/*.proto.

Usage: python scripts/gen_protos.py [--out DIR]

The import root is the repository root, so generated modules import each other as
``from omni_client.wire import resource_pb2``. With ``--out DIR`` the code is written under
DIR/omni_client/wire/ instead of into the tree (the staleness test uses this).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = Path("omni_client") / "wire"


def proto_files() -> list[str]:
    """Return the .proto paths relative to the repository root, sorted."""
    return sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / PROTO_DIR).glob("*.proto"))


def generate(out_dir: Path | None = None) -> None:
    """Run protoc (from grpcio-tools) over every proto; raise RuntimeError on failure."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    out = out_dir.resolve() if out_dir is not None else REPO_ROOT
    (out / PROTO_DIR).mkdir(parents=True, exist_ok=True)
    files = proto_files()
    if not files:
        raise RuntimeError(f"no .proto files under {REPO_ROOT / PROTO_DIR}")

    args = [
        "grpc_tools.protoc",
        "-I.",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *files,
    ]
    # protoc resolves the relative -I. and proto paths against the working directory.
    prev = Path.cwd()
    os.chdir(REPO_ROOT)
    try:
        rc = protoc.main(args)
    finally:
        os.chdir(prev)
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit code {rc}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=None, help="output root (default: the repository root)")
    ns = parser.parse_args(argv)
    try:
        generate(ns.out)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
