"""Helpers for the API tests: a read model written by the watcher's own ``Writer`` (event log, current state
with rendered documents, label index, head revision), stream checkpoints as a test needs them, and a real
``omni-readmodel serve`` process on a free loopback port."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from models import catalog, migrate
from models.db import create_engine
from models.resource import StoredResource
from models.schema import streams
from watcher.decode import Decoded
from watcher.documents import load_projections
from watcher.items import Change
from watcher.sql import read_micros
from watcher.writer import Writer

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _decoded(resource: StoredResource) -> Decoded:
    return Decoded(resource.namespace, resource.type, resource.id, resource.version, resource.phase, resource.owner,
                   read_micros(resource.created), read_micros(resource.updated), dict(resource.labels),
                   dict(resource.annotations), list(resource.finalizers), resource.spec)


class ReadModel:
    """A migrated database and the watcher's writer, fed resource changes the way a stream feeds it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        migrate.upgrade(self.engine)
        self.writer = Writer(self.engine, load_projections())
        self.writer.take_over("tests")
        self.state: dict[tuple[str, str, str], StoredResource] = {}
        self.clock = T0  # created/updated of the resources: one second per change

    @property
    def revision(self) -> int:
        return self.writer.head

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()

    def apply(self, changes: Iterable[StoredResource | tuple[str, str, str]]) -> int:
        """Apply upserts (StoredResource; the version follows the previous one) and deletes (keys) in one
        batch of the writer; returns the new head."""
        items = []
        state = dict(self.state)
        for change in changes:
            self.clock += timedelta(seconds=1)
            if isinstance(change, StoredResource):
                previous = state.get(change.key)
                resource = replace(change, version=(previous.version + 1) if previous else change.version,
                                   created=change.created or (previous.created if previous else self.clock),
                                   updated=self.clock)
                state[resource.key] = resource
                items.append(Change((resource.namespace, resource.type), _decoded(resource), False, None, True))
            else:
                resource = state.pop(change)
                items.append(Change((resource.namespace, resource.type), _decoded(resource), True, None, True))
        self.writer.apply(items)
        self.state = state
        return self.revision

    def bootstrap_streams(self, kinds: Iterable[catalog.Kind] | None = None, *, error: str | None = None) -> None:
        """Stream checkpoints: every watched kind bootstrapped (or only ``kinds``)."""
        chosen = list(kinds if kinds is not None else catalog.watched_kinds())
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(streams))
            for kind in chosen:
                conn.execute(sa.insert(streams).values(
                    namespace=kind.namespace, type=kind.type, bootstrapped=True, bootstrapped_at=now,
                    last_revision=self.revision, last_event_at=now, last_error=error,
                    last_error_at=now + timedelta(seconds=1) if error else None))
        self.writer._load()  # the writer's checkpoints are these from now on (it rewrites those it touches)


def resource(kind_name: str, id_: str, spec: dict | None = None, labels: dict | None = None,
             **meta_values) -> StoredResource:
    kind = catalog.by_name(kind_name)
    return StoredResource(kind.namespace, kind.type, id_, meta_values.pop("version", 1), labels=labels or {},
                          spec=spec or {}, **meta_values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve(url: str, *args: str, env: dict[str, str] | None = None, log_level: str = "WARNING",
          log: Path | None = None, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Run ``omni-readmodel serve`` on a free port; yields its base URL once /livez answers.

    ``log``: keep the server's output in that file; ``tls``: the server speaks HTTPS, verified with that
    client context."""
    port = free_port()
    command = [sys.executable, "-m", "omni_readmodel", "--log-level", log_level, "serve", "--database-url", url,
               "--port", str(port), *args]
    # a file, not a pipe nobody drains while the server runs
    output = open(log, "w+") if log else tempfile.TemporaryFile("w+")
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=output,
                               stderr=subprocess.STDOUT, text=True)
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output.seek(0)
                raise RuntimeError(f"serve exited with {process.returncode}: {output.read()[-2000:]}")
            try:
                if httpx.get(base + "/livez", timeout=1, verify=tls or True).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not answer /livez within 30 s")
            time.sleep(0.05)
        yield base
    finally:
        stop(process, timeout=10)
        output.close()
