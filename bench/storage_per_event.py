"""Database growth per event on the simulator's churn mix, on SQLite and PostgreSQL.

The simulator (200 machines, 4 clusters, seed 3, a subprocess) → ``omni-readmodel watch`` → a fresh
database. After the bootstrap the database size is taken, then ``POST /churn/apply`` runs 10 × 1,000
churn events; once the head stops moving the size is taken again. Growth / logged events is the figure
(tables, indexes and the projection's updates together: what a year of history costs).

Size: on SQLite the used pages (``page_count - freelist_count``, WAL included); on PostgreSQL the sum of
``pg_total_relation_size`` of the schema's tables after a ``VACUUM`` (dead tuples of updated projection
rows become reusable space, as autovacuum would make them). Per-table bytes come from ``dbstat`` /
``pg_total_relation_size``.

The baseline is the figure recorded before issue 10 item 3 (2,227 B per churn event on SQLite, the same
fleet and churn), plus, measured in this run, the log stored the old way: every logged event re-inserted
with its full state into an ``events`` table of the old layout in a scratch SQLite database.
PostgreSQL runs when ``OMNI_READMODEL_BENCH_PG_URL`` or ``OMNI_READMODEL_TEST_PG_URL`` names a server this
may create databases on.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from bench import Result
from bench._watcher import Simulator, Watcher
from models.db import create_engine

MACHINES, CLUSTERS, SEED = 200, 4, 3
ROUNDS, PER_ROUND = 10, 1000
RECORDED_BASELINE = 2227.0  # B per churn event, docs/benchmarks.md, before issue 10 item 3
TARGET = 4.0
PG_ENVS = ("OMNI_READMODEL_BENCH_PG_URL", "OMNI_READMODEL_TEST_PG_URL")


# -- sizes ---------------------------------------------------------------------------------------------

def _sqlite_sizes(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        return {name: int(size) for name, size in rows}
    finally:
        conn.close()


def _pg_sizes(url: str) -> dict[str, int]:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM")
            rows = conn.exec_driver_sql(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'").fetchall()
        return {name: int(size) for name, size in rows}
    finally:
        engine.dispose()


def _head(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT head_revision FROM meta").scalar() or 0)
    finally:
        engine.dispose()


def _settled_head(url: str, quiet: float = 3.0, timeout: float = 900) -> int:
    """The head once it has not moved for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    head, since = _head(url), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _head(url)
        if now != head:
            head, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return head
    raise RuntimeError("the head kept moving")


# -- the old layout, for the same events -----------------------------------------------------------------

_OLD_EVENTS = """CREATE TABLE events (revision INTEGER NOT NULL PRIMARY KEY, namespace VARCHAR(64) NOT NULL,
type VARCHAR(128) NOT NULL, id TEXT NOT NULL, event VARCHAR(16) NOT NULL, version BIGINT NOT NULL,
phase VARCHAR(16) NOT NULL, owner TEXT DEFAULT '' NOT NULL, created DATETIME, updated DATETIME, labels JSON NOT NULL,
annotations JSON NOT NULL, finalizers JSON NOT NULL, spec JSON NOT NULL, observed_at DATETIME NOT NULL,
CONSTRAINT ck_events_event_kind CHECK (event IN ('created', 'updated', 'destroyed')));
CREATE INDEX ix_events_namespace_type_id_revision ON events (namespace, type, id, revision);
CREATE INDEX ix_events_observed_at ON events (observed_at);"""


def _old_layout_bytes(url: str, workdir: Path, low: int, high: int) -> int:
    """Bytes the old layout's ``events`` table and indexes take for revisions ``low < r <= high``."""
    from models import history
    from watcher.sql import sqlite_datetime

    scratch = workdir / f"old-{uuid.uuid4().hex}.db"
    out = sqlite3.connect(scratch)
    out.executescript(_OLD_EVENTS)
    engine = create_engine(url)

    def text(value):
        return None if value is None else sqlite_datetime(value)

    import json
    dump = lambda value: json.dumps(value, separators=(",", ":"), sort_keys=True)  # noqa: E731
    try:
        with engine.connect() as conn:
            rows = []
            for revision, event, res, observed in history.log_rows(conn, low, high):
                rows.append((revision, res.namespace, res.type, res.id, event, res.version, res.phase, res.owner,
                             text(res.created), text(res.updated), dump(res.labels), dump(res.annotations),
                             dump(res.finalizers), dump(res.spec), text(observed)))
        out.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        out.commit()
        return sum(size for (size,) in out.execute("SELECT SUM(pgsize) FROM dbstat"))
    finally:
        engine.dispose()
        out.close()


# -- one run -------------------------------------------------------------------------------------------

def measure(name: str, url: str, sizes, workdir: Path) -> list[Result]:
    simulator = Simulator(workdir, MACHINES, CLUSTERS, seed=SEED)
    try:
        watcher = Watcher(workdir, url, simulator, "--migrate")
        try:
            watcher.wait_for("all streams bootstrapped")
            start_head = _settled_head(url)
            before = sizes()
            for _ in range(ROUNDS):
                simulator.control("POST", f"/churn/apply?events={PER_ROUND}")
            end_head = _settled_head(url)
            after = sizes()
        finally:
            watcher.stop()
    finally:
        simulator.stop()
    events = end_head - start_head
    growth = sum(after.values()) - sum(before.values())
    per_event = growth / events
    parts = sorted(((after.get(t, 0) - before.get(t, 0)) / events, t) for t in after)
    detail = ", ".join(f"{t} {b:,.0f}" for b, t in reversed(parts) if b >= 1)
    results = [Result(f"growth per churn event ({name})", per_event, "B", RECORDED_BASELINE,
                      "B (recorded before item 3, SQLite)", f"<= {RECORDED_BASELINE / TARGET:,.0f} B (4x)",
                      per_event * TARGET <= RECORDED_BASELINE, f"{events:,} events; per table B/event: {detail}")]
    if name == "SQLite":
        old = _old_layout_bytes(url, workdir, start_head, end_head) / events
        results.append(Result("the same events in the old events layout (SQLite, events table + indexes)", old,
                              "B", note=f"old layout / whole new growth = {old / per_event:.2f}x"))
    return results


def _pg_database(server: str) -> tuple[str, sa.Engine]:
    name = f"bench_storage_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return sa.make_url(server).set(database=name).render_as_string(hide_password=False), admin


def run() -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        workdir = Path(tmp)
        db = workdir / "readmodel.db"
        results += measure("SQLite", f"sqlite:///{db}", lambda: _sqlite_sizes(db), workdir)
        if os.environ.get("BENCH_STORAGE_KEEP"):  # the SQLite file, for a closer look
            sqlite3.connect(db).execute("VACUUM INTO ?", (os.environ["BENCH_STORAGE_KEEP"],))
        server = next((os.environ[v] for v in PG_ENVS if os.environ.get(v)), None)
        if server:
            url, admin = _pg_database(server)
            try:
                results += measure("PostgreSQL", url, lambda: _pg_sizes(url), workdir)
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')
                admin.dispose()
    return results


if __name__ == "__main__":
    for result in run():
        print(result.line())
