"""Helpers for the API tests: a read model written with SQLAlchemy Core the way the watcher writes it
(event log, current state with rendered documents, label index, head revision, stream checkpoints),
and a real ``omni-readmodel serve`` process on a free loopback port."""

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

from models import catalog, migrate, projections
from models.db import create_engine
from models.resource import StoredResource
from models.schema import events, meta, resource_labels, resources, streams

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


class ReadModel:
    """A migrated database plus a writer that applies resource changes as the watcher would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        migrate.upgrade(self.engine)
        self.state: dict[tuple[str, str, str], StoredResource] = {}
        self.revision = 0
        self.clock = T0

    def close(self) -> None:
        self.engine.dispose()

    def _lookup(self, namespace: str, type_: str, id_: str) -> StoredResource | None:
        return self.state.get((namespace, type_, id_))

    def apply(self, changes: Iterable[StoredResource | tuple[str, str, str]]) -> int:
        """Apply upserts (StoredResource) and deletes (keys) in one transaction; returns the new head."""
        with self.engine.begin() as conn:
            touched: set[tuple[str, str, str]] = set()
            for change in changes:
                self.revision += 1
                self.clock += timedelta(seconds=1)
                if isinstance(change, StoredResource):
                    previous = self.state.get(change.key)
                    resource = replace(change, version=(previous.version + 1) if previous else change.version,
                                       created=change.created or (previous.created if previous else self.clock),
                                       updated=self.clock)
                    self.state[resource.key] = resource
                    self._event(conn, resource, "updated" if previous else "created")
                    touched.add(resource.key)
                    touched.update(projections.dependents(resource))
                else:
                    resource = self.state.pop(change)
                    self._event(conn, resource, "destroyed")
                    conn.execute(sa.delete(resources).where(*_key(resources, change)))
                    conn.execute(sa.delete(resource_labels).where(*_key(resource_labels, change)))
                    touched.update(projections.dependents(resource))
            for key in touched:
                resource = self.state.get(key)
                if resource is not None:
                    self._upsert(conn, resource)
            conn.execute(sa.update(meta).where(meta.c.singleton == 1).values(head_revision=self.revision))
        return self.revision

    def _event(self, conn: sa.Connection, resource: StoredResource, event: str) -> None:
        conn.execute(sa.insert(events).values(
            revision=self.revision, namespace=resource.namespace, type=resource.type, id=resource.id, event=event,
            version=resource.version, phase=resource.phase, owner=resource.owner, created=resource.created,
            updated=resource.updated, labels=resource.labels, annotations=resource.annotations,
            finalizers=resource.finalizers, spec=resource.spec, observed_at=self.clock))

    def _upsert(self, conn: sa.Connection, resource: StoredResource) -> None:
        conn.execute(sa.delete(resources).where(*_key(resources, resource.key)))
        conn.execute(sa.delete(resource_labels).where(*_key(resource_labels, resource.key)))
        conn.execute(sa.insert(resources).values(
            namespace=resource.namespace, type=resource.type, id=resource.id, version=resource.version,
            phase=resource.phase, owner=resource.owner, created=resource.created, updated=resource.updated,
            labels=resource.labels, annotations=resource.annotations, finalizers=resource.finalizers,
            spec=resource.spec, revision=self.revision, document=projections.render(resource, self._lookup)))
        if resource.labels:
            conn.execute(sa.insert(resource_labels), [
                {"namespace": resource.namespace, "type": resource.type, "id": resource.id, "key": k, "value": v}
                for k, v in resource.labels.items()])

    def bootstrap_streams(self, kinds: Iterable[catalog.Kind] | None = None, *, error: str | None = None) -> None:
        """Stream checkpoints: every watched kind bootstrapped (or only ``kinds``)."""
        chosen = list(kinds if kinds is not None else catalog.watched_kinds())
        with self.engine.begin() as conn:
            conn.execute(sa.delete(streams))
            for kind in chosen:
                conn.execute(sa.insert(streams).values(
                    namespace=kind.namespace, type=kind.type, bootstrapped=True, bootstrapped_at=self.clock,
                    last_revision=self.revision, last_event_at=self.clock, last_error=error,
                    last_error_at=self.clock + timedelta(seconds=1) if error else None))


def _key(table: sa.Table, key: tuple[str, str, str]) -> list:
    return [table.c.namespace == key[0], table.c.type == key[1], table.c.id == key[2]]


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
