"""Database growth per event on the simulator's churn mix, on SQLite and PostgreSQL.

The simulator (200 machines, 4 clusters, seed 3, a subprocess) → ``omni-readmodel watch`` → a fresh
database. After the bootstrap the database size is taken, then ``POST /churn/apply`` runs 10 × 1,000
churn events; once the head stops moving the size is taken again. Growth / logged events is the figure
(tables, indexes and the projection's updates together: what a year of history costs).

Size, per table with its indexes: on SQLite the pages ``dbstat`` counts (WAL included); on PostgreSQL
``pg_total_relation_size`` (TOAST included) after a ``VACUUM``. On PostgreSQL the projection's updates
leave dead tuples that a ``VACUUM`` makes reusable but does not return: over 10k events ``resources`` and
``resource_labels`` grow by their churned size; in a long run that space is reused.

Two figures per database: the whole database's growth (against the 2,227 B per churn event recorded on
SQLite before issue 10 item 3, same fleet and churn), and the event log's own tables (against the same
events in the old layout, measured in this run: every logged event read back with
``models.history.log_rows`` and inserted, with its full state, into a table shaped like the old
``events`` with its two indexes, in the same database).
PostgreSQL runs when ``OMNI_READMODEL_BENCH_PG_URL`` or ``OMNI_READMODEL_TEST_PG_URL`` names a server this
may create databases on.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql

from bench import Result
from bench._postgres import scratch_database, server_url
from bench._watcher import Simulator, Watcher
from models.db import create_engine

MACHINES, CLUSTERS, SEED = 200, 4, 3
ROUNDS, PER_ROUND = 10, 1000
RECORDED_BASELINE = 2227.0  # B per churn event, docs/benchmarks.md, before issue 10 item 3
TARGET = 4.0


# -- sizes: bytes per table, its indexes (and TOAST) included ----------------------------------------------

def _sqlite_sizes(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT COALESCE(m.tbl_name, d.name), SUM(d.pgsize) FROM dbstat d "
                            "LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1").fetchall()
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


def _settled_head(url: str, quiet: float = 10.0, timeout: float = 900) -> int:
    """The head once it has not moved for ``quiet`` seconds (a loaded machine stalls the watcher for seconds)."""
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

OLD = "events_old_layout"


def _old_layout_table() -> sa.Table:
    """The ``events`` table as migrations 0001-0005 made it (one full row per event), under another name."""
    json_type = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    stamp = sa.DateTime(timezone=True)
    table = sa.Table(
        OLD, sa.MetaData(),
        sa.Column("revision", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("namespace", sa.String(64), nullable=False), sa.Column("type", sa.String(128), nullable=False),
        sa.Column("id", sa.Text, nullable=False), sa.Column("event", sa.String(16), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False), sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("owner", sa.Text, nullable=False), sa.Column("created", stamp), sa.Column("updated", stamp),
        *[sa.Column(name, json_type, nullable=False) for name in ("labels", "annotations", "finalizers", "spec")],
        sa.Column("observed_at", stamp, nullable=False),
        sa.CheckConstraint("event IN ('created', 'updated', 'destroyed')"),
    )
    sa.Index(f"ix_{OLD}_key", table.c.namespace, table.c.type, table.c.id, table.c.revision)
    sa.Index(f"ix_{OLD}_observed_at", table.c.observed_at)
    return table


def _old_layout_bytes(url: str, sizes, low: int, high: int) -> int:
    """Bytes the old layout's ``events`` table and indexes take for revisions ``low < r <= high``: every
    logged event read back (``models.history.log_rows``) and inserted into such a table in the database."""
    from models import history

    table = _old_layout_table()
    engine = create_engine(url)
    try:
        table.create(engine)
        with engine.connect() as conn:
            rows = [{"revision": revision, "namespace": res.namespace, "type": res.type, "id": res.id,
                     "event": event, "version": res.version, "phase": res.phase, "owner": res.owner,
                     "created": res.created, "updated": res.updated, "labels": res.labels,
                     "annotations": res.annotations, "finalizers": res.finalizers, "spec": res.spec,
                     "observed_at": observed}
                    for revision, event, res, observed in history.log_rows(conn, low, high)]
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)
        return sizes()[OLD]
    finally:
        table.drop(engine, checkfirst=True)
        engine.dispose()


# -- one run -------------------------------------------------------------------------------------------

LOG_TABLES = ("event_log", "resource_keys", "metas", "specs", "blobs")


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
    grown = {t: (after.get(t, 0) - before.get(t, 0)) / events for t in after}
    per_event = sum(grown.values())
    log = sum(grown.get(t, 0) for t in LOG_TABLES)
    detail = ", ".join(f"{t} {b:,.0f}" for t, b in sorted(grown.items(), key=lambda kv: -kv[1]) if b >= 1)
    old = _old_layout_bytes(url, sizes, start_head, end_head) / events
    return [
        Result(f"database growth per churn event ({name})", per_event, "B", RECORDED_BASELINE,
               "B (recorded before item 3, SQLite)", f"<= {RECORDED_BASELINE / TARGET:,.0f} B (4x)",
               per_event * TARGET <= RECORDED_BASELINE, f"{events:,} events; B/event by table: {detail}"),
        Result(f"event log per churn event ({name}: {', '.join(LOG_TABLES)})", log, "B", old,
               "B (the same events in the old events table, this run)", f"<= {old / TARGET:,.0f} B (4x)",
               log * TARGET <= old, f"{old / log:.2f}x smaller"),
    ]


def run() -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        db = Path(tmp) / "readmodel.db"
        results += measure("SQLite", f"sqlite:///{db}", lambda: _sqlite_sizes(db), Path(tmp))
        if os.environ.get("BENCH_STORAGE_KEEP"):  # the SQLite file, for a closer look
            sqlite3.connect(db).execute("VACUUM INTO ?", (os.environ["BENCH_STORAGE_KEEP"],))
        server = server_url()
        if server:
            with scratch_database(server, "bench_storage_") as url:
                results += measure("PostgreSQL", url, lambda: _pg_sizes(url), Path(tmp))
    return results


if __name__ == "__main__":
    for result in run():
        print(result.line())
