"""Bootstrap of a simulated 10k-machine fleet (~111k resources) into SQLite and PostgreSQL, and the watcher's
peak RSS (VmHWM; target <= 200 MB up to 10k machines, <= 600 MB at 50k, linear between: the same target as
bench/fleet_scale.py).

The watcher (a subprocess, signing its calls) bootstraps from the simulator (another subprocess); its
own log reports events and seconds from its first stream to the last snapshot committed. The baseline,
in the same run: exactly the rows the watcher wrote (the event log with its keys, metas, specs and blobs;
resources with their documents, labels), read back and inserted with the fastest plain method, 2,000
events per transaction (the writer's batch) in the watcher's order: per batch the keys, metas and specs it
uses first, the log rows, the resources and their labels.

- SQLite: raw ``sqlite3`` ``executemany`` per table, same PRAGMAs;
- PostgreSQL (when ``OMNI_READMODEL_BENCH_PG_URL`` or ``OMNI_READMODEL_TEST_PG_URL`` names a server this
  may create databases on): psycopg 3 ``COPY ... FROM STDIN`` per table, the values as the server's own
  text (``COPY ... TO STDOUT`` of the watcher's database), so nothing is converted in Python. Databases
  are named ``BENCH_PG_PREFIX`` (``bench_bootstrap_``) + a random suffix and dropped afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from bench import Result, setting
from bench._postgres import PG_ENVS, scratch_database, server_url
from bench._watcher import Simulator, Watcher, rss_target_mb
from models import migrate
from models.db import create_engine
from watcher.sql import Statements

MACHINES = int(setting("BENCH_MACHINES", 10000, 1000))
CLUSTERS = max(2, MACHINES // 50)
BATCH = 2000
RATIO_TARGET = 0.50
RSS_TARGET_MB = rss_target_mb(MACHINES)  # 200 MB up to 10k machines (the issue), as bench/fleet_scale.py
CONTENT = (("resource_keys", "key_id"), ("metas", "meta_id"), ("specs", "spec_id"))
RESOURCE_COLUMNS = ("namespace", "type", "id", "version", "phase", "owner", "created", "updated", "labels",
                    "annotations", "finalizers", "spec", "revision", "document")
LABEL_COLUMNS = ("namespace", "type", "key", "value", "id")

# One batch of the baseline: {table: rows} of content first used by it, log rows, resource rows, label rows.
Batch = tuple[dict[str, list[tuple]], list[tuple], list[tuple], list[tuple]]


def run() -> list[Result]:
    results = []
    simulator = None
    with tempfile.TemporaryDirectory(prefix="bench-bootstrap-") as tmp:
        workdir = Path(tmp)
        try:
            simulator = Simulator(workdir, MACHINES, CLUSTERS)
            db = workdir / "readmodel.db"
            done, rss = _watch(workdir, f"sqlite:///{db}", simulator)
            baseline = _sqlite_baseline(db, workdir / "baseline.db")
            results.append(_ratio("SQLite", done, baseline, "raw sqlite3 executemany"))
            rss_mb = rss / (1 << 20)
            results.append(Result("watcher peak RSS after bootstrap (SQLite)", rss_mb, "MB",
                                  target=f"<= {RSS_TARGET_MB:.0f} MB", passed=rss_mb <= RSS_TARGET_MB,
                                  note=f"{done['events']:,} resources"))
            server = server_url()
            if server is None:
                results.append(Result("watcher bootstrap into PostgreSQL", 0, "events/s",
                                      note=f"skipped: set {PG_ENVS[0]}"))
            else:
                results += _postgres(workdir, server, simulator)
        finally:
            if simulator is not None:
                simulator.stop()
    return results


def _watch(workdir: Path, url: str, simulator: Simulator) -> tuple[dict, int]:
    """Bootstrap a fresh database at ``url``: the watcher's 'all streams bootstrapped' record, peak RSS."""
    watcher = Watcher(workdir, url, simulator, "--migrate")
    try:
        done = watcher.wait_for("all streams bootstrapped")
        return done, watcher.peak_rss_bytes()
    finally:
        watcher.stop()


def _ratio(where: str, done: dict, baseline: float, how: str) -> Result:
    rate = done["events"] / done["seconds"]
    return Result(f"watcher bootstrap into {where}", rate, "events/s", baseline, f"events/s ({how})",
                  f">= {RATIO_TARGET}", rate / baseline >= RATIO_TARGET,
                  note=f"{done['events']:,} events in {done['seconds']:.1f} s, {MACHINES:,} machines")


def _plan(events: list[tuple], names: list[str], content: dict[str, dict], keys_of: dict,
          resources: dict[tuple, tuple], labels: dict[tuple, list[tuple]], blob_rows: list[tuple]) -> list[Batch]:
    """The watcher's rows cut into its batches: each content row in the batch that first uses it (blobs in
    the first), each batch's resources and labels."""
    batches: list[Batch] = []
    seen: set = set()
    key_at = names.index("key_id")
    for start in range(0, len(events), BATCH):
        chunk = events[start:start + BATCH]
        rows: dict[str, list[tuple]] = {"blobs": blob_rows if start == 0 else []}
        for table, column in CONTENT:
            position = names.index(column)
            rows[table] = []
            for event in chunk:
                if (table, event[position]) not in seen:
                    seen.add((table, event[position]))
                    rows[table].append(content[table][event[position]])
        keys = [keys_of[e[key_at]] for e in chunk]
        batches.append((rows, chunk, [resources[k] for k in keys if k in resources],
                        [label for k in keys for label in labels.get(k, ())]))
    return batches


def _read(fetch: Callable[[str], tuple[list[str], list[tuple]]]) -> tuple[list[Batch], int]:
    """Read the watcher's rows (``fetch(sql)`` -> column names, rows) and plan the baseline's batches."""
    names, events = fetch("SELECT * FROM event_log ORDER BY revision")
    content = {table: {r[0]: r for r in fetch(f"SELECT * FROM {table}")[1]}  # noqa: S608 - our names
               for table, _ in CONTENT}
    keys_of = {r[0]: (r[1], r[2], r[3]) for r in content["resource_keys"].values()}
    resources = {(r[0], r[1], r[2]): r
                 for r in fetch(f"SELECT {', '.join(RESOURCE_COLUMNS)} FROM resources")[1]}  # noqa: S608
    labels: dict[tuple, list[tuple]] = defaultdict(list)
    for row in fetch(f"SELECT {', '.join(LABEL_COLUMNS)} FROM resource_labels")[1]:  # noqa: S608
        labels[(row[0], row[1], row[4])].append(row)
    blob_rows = fetch("SELECT * FROM blobs")[1]
    return _plan(events, names, content, keys_of, resources, labels, blob_rows), len(events)


def _sqlite_baseline(source: Path, target: Path) -> float:
    """events/s of inserting the watcher's rows with plain sqlite3 executemany, batch by batch."""
    engine = create_engine(f"sqlite:///{target}")
    migrate.upgrade(engine)
    sql = Statements(engine.dialect)
    engine.dispose()
    src = sqlite3.connect(source)

    def fetch(query: str) -> tuple[list[str], list[tuple]]:
        cur = src.execute(query)
        return [d[0] for d in cur.description], cur.fetchall()

    batches, count = _read(fetch)
    src.close()

    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for content_rows, chunk, resource_rows, label_rows in batches:
        conn.execute("BEGIN IMMEDIATE")
        for table, rows in content_rows.items():
            if rows:
                conn.executemany(_insert(table, len(rows[0])), rows)
        conn.executemany(_insert("event_log", len(chunk[0])), chunk)
        conn.executemany(sql.upsert_resource.sql, resource_rows)
        conn.executemany(sql.insert_label.sql, label_rows)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return count / seconds


def _insert(table: str, width: int) -> str:
    return f"INSERT INTO {table} VALUES ({', '.join('?' * width)})"  # noqa: S608 - a table name of ours


# -- PostgreSQL ------------------------------------------------------------------------------------------

def _postgres(workdir: Path, server: str, simulator: Simulator) -> list[Result]:
    prefix = os.environ.get("BENCH_PG_PREFIX", "bench_bootstrap_")
    with scratch_database(server, prefix) as watched, scratch_database(server, prefix) as copied:
        (workdir / "watcher.log").unlink(missing_ok=True)
        done, rss = _watch(workdir, watched, simulator)
        baseline = _pg_baseline(watched, copied)
        rss_mb = rss / (1 << 20)
        return [_ratio("PostgreSQL", done, baseline, "psycopg COPY"),
                Result("watcher peak RSS after bootstrap (PostgreSQL)", rss_mb, "MB", target=f"<= {RSS_TARGET_MB:.0f} MB",
                       passed=rss_mb <= RSS_TARGET_MB, note=f"{done['events']:,} resources")]


def _dsn(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_baseline(source: str, target: str) -> float:
    """events/s of COPYing the watcher's rows into a fresh database, one transaction per batch."""
    import psycopg

    engine = create_engine(target)
    migrate.upgrade(engine)
    engine.dispose()
    with psycopg.connect(_dsn(source)) as src:
        def fetch(query: str) -> tuple[list[str], list[tuple]]:
            with src.cursor() as cur:
                cur.execute(f"SELECT * FROM ({query}) q LIMIT 0")  # noqa: S608 - our queries
                names = [d.name for d in cur.description]
                with cur.copy(f"COPY ({query}) TO STDOUT") as copy:
                    return names, list(copy.rows())  # the server's text for each value

        batches, count = _read(fetch)
        columns = {table: fetch(f"SELECT * FROM {table}")[0]  # noqa: S608 - our names
                   for table in ("blobs", *(t for t, _ in CONTENT), "event_log")}
    columns["resources"], columns["resource_labels"] = list(RESOURCE_COLUMNS), list(LABEL_COLUMNS)

    with psycopg.connect(_dsn(target)) as conn, conn.cursor() as cur:
        def put(table: str, rows: list[tuple]) -> None:
            if rows:
                with cur.copy(f"COPY {table} ({', '.join(columns[table])}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)

        started = time.perf_counter()
        for content_rows, chunk, resource_rows, label_rows in batches:
            for table in ("blobs", *(t for t, _ in CONTENT)):
                put(table, content_rows[table])
            put("event_log", chunk)
            put("resources", resource_rows)
            put("resource_labels", label_rows)
            conn.commit()
        seconds = time.perf_counter() - started
    return count / seconds


if __name__ == "__main__":
    for result in run():
        print(result.line())
