"""Reports over a long generated history: ``report machine-count --since 90d`` and one machine's history.

A log of ``BENCH_REPORT_MACHINES`` machines (Machine, MachineStatus, ClusterMachine each) churning for 90
days (connection flaps, status updates, a Talos upgrade) is appended ``batch`` events per transaction,
each batch folded into the per-day rollup in its transaction as the writer does (models/rollup.py), then
the reports run on SQLite and, with ``BENCH_PG_URL`` set, on PostgreSQL. Targets (issue 10):
machine-count within 10 s over >= 5M events of a 10k-machine fleet; one machine's ``history_machines``
within 50 ms. ``BENCH_REPORT_MACHINES=10000`` gives ~5M events. Baseline in the same run: the same report
computed from the log (``models.reports.FROM_LOG``, what the report ran before the rollup);
``BENCH_REPORT_BASELINE=0`` skips it (it is linear in the history: minutes at 5M events);
``BENCH_REPORT_SQLITE=0`` measures PostgreSQL only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench import Result, setting
from models import eventlog, migrate, reports
from models.db import create_engine
from models.rollup import Folder

MACHINES = int(setting("BENCH_REPORT_MACHINES", 2000, 100))
BASELINE = os.environ.get("BENCH_REPORT_BASELINE", "1") != "0"
BATCH = 2_000
# The writer folds each batch it commits; folding every FOLD_STEP events instead (same code, same counts:
# tests/test_rollup.py) reads each machine's fold state once per step, which a 5M-event run needs to fit.
FOLD_STEP = int(os.environ.get("BENCH_REPORT_FOLD_STEP", str(BATCH)))
DAYS = 90
CHANGES_PER_MACHINE_DAY = 5.4  # with the creations: ~5M events for 10k machines
REPORT_TARGET_S = 10.0
HISTORY_TARGET_MS = 50.0
TYPES = {"Machine": "Machines.omni.sidero.dev", "MachineStatus": "MachineStatuses.omni.sidero.dev",
         "ClusterMachine": "ClusterMachines.omni.sidero.dev"}


def _status(index: int, talos: str, cores: int) -> dict:
    return {"talos_version": talos, "connected": True, "cluster": f"c{index % 40}", "role": "WORKER",
            "network": {"hostname": f"node-{index}"}, "platform_metadata": {"platform": "metal"},
            "hardware": {"arch": "amd64", "processors": [{"core_count": cores}],
                         "memory_modules": [{"size_mb": 16384}], "blockdevices": [{"size": "512000000000"}]}}


_CONNECTED, _DISCONNECTED, _CLUSTER_MACHINE = {"connected": True}, {}, {"kubernetes_version": "1.31.0"}


def generate(now: datetime, seed: int = 1, *, machines: int = MACHINES, days: int = DAYS) -> list[tuple]:
    """(observed_at, type, id, event, spec) rows in time order; specs are shared objects (5M rows fit).
    Also bench/timeline.py's and bench/history_routes.py's log."""
    rng = random.Random(seed)
    start = now - timedelta(days=days)
    seconds = days * 86_400
    rows: list[tuple] = []
    for index in range(machines):
        id_ = f"{index:08d}-machine"
        cores = rng.choice((4, 8, 16))
        statuses = {talos: _status(index, talos, cores) for talos in ("v1.8.0", "v1.9.0")}
        born = start + timedelta(seconds=rng.uniform(0, 3_600))
        rows += [(born, "MachineStatus", id_, "created", statuses["v1.8.0"]),
                 (born, "Machine", id_, "created", _CONNECTED),
                 (born, "ClusterMachine", id_, "created", _CLUSTER_MACHINE)]
        upgraded = start + timedelta(days=rng.uniform(days / 3, days * 4 / 9))  # days 30-40 of 90
        rows.append((upgraded, "MachineStatus", id_, "updated", statuses["v1.9.0"]))
        connected = True
        for _ in range(int(days * CHANGES_PER_MACHINE_DAY)):
            at = start + timedelta(seconds=rng.uniform(3_600, seconds))
            if rng.random() < 0.8:
                connected = not connected
                rows.append((at, "Machine", id_, "updated", _CONNECTED if connected else _DISCONNECTED))
            else:
                rows.append((at, "MachineStatus", id_, "updated", statuses["v1.9.0" if at > upgraded else "v1.8.0"]))
    rows.sort(key=lambda r: r[0])
    return rows


def _event_rows(rows: list[tuple], sqlite: bool, first: int, versions: dict, texts: dict) -> list[tuple]:
    out = []
    for revision, (at, kind, id_, event, spec) in enumerate(rows, first):
        key = (kind, id_)
        versions[key] = versions.get(key, 0) + 1
        stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else at
        text = texts.get(id(spec))
        if text is None:
            text = texts[id(spec)] = json.dumps(spec, separators=(",", ":"))
        out.append((revision, "default", TYPES[kind], id_, event, versions[key], "running", "", stamp, stamp,
                    "{}", "{}", "[]", text, stamp))
    return out


def load(url: str, rows: list[tuple], batch: int = BATCH) -> float:
    """Append the rows ``batch`` at a time, one transaction each, and fold them into the per-day rollup
    (models/rollup.py) in the transaction that reaches each ``FOLD_STEP``; returns the seconds it took."""
    engine = create_engine(url)
    migrate.upgrade(engine)
    sqlite = engine.dialect.name == "sqlite"
    appender = eventlog.Appender(engine.dialect)  # the log's own write path (models/eventlog.py)
    folder = Folder(engine.dialect)
    raw = engine.raw_connection()
    versions: dict = {}
    texts: dict = {}
    started = time.perf_counter()
    try:
        cur = raw.cursor()
        for start in range(0, len(rows), batch):
            chunk = _event_rows(rows[start:start + batch], sqlite, start + 1, versions, texts)
            appender.append(cur, chunk)
            head = start + len(chunk)
            if head % FOLD_STEP < batch or head == len(rows):
                folder.fold(cur, head)
            cur.execute(f"UPDATE meta SET head_revision = {head:d}")  # noqa: S608 - an int
            raw.commit()
        if not sqlite:
            cur.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()
    engine.dispose()
    return time.perf_counter() - started


def _timed_report(conn, name: str, sql: str | None = None) -> tuple[float, list]:
    report = reports.get(name)
    if sql is not None:
        report = dataclasses.replace(report, sql=sql)
    params = reports.parse_params(report, {"since": "90d"})
    started = time.perf_counter()
    rows = reports.run(conn, report, params).rows
    return time.perf_counter() - started, rows


def database_bytes(engine: sa.Engine) -> int:
    """The database's size on disk: the SQLite file and its WAL, or pg_database_size."""
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar())


def measure(url: str, baseline: bool = BASELINE) -> dict[str, float]:
    """Seconds of machine-count and talos-versions (rollup; and machine-count from the log when
    ``baseline``), one machine's history in ms, the report's rows and the database size."""
    engine = create_engine(url)
    out: dict[str, float] = {}
    try:
        with engine.connect() as conn:
            out["report_s"], rolled = _timed_report(conn, "machine-count")
            out["days"] = len(rolled)
            out["talos_s"], _ = _timed_report(conn, "talos-versions")
            if baseline:
                out["log_s"], from_log = _timed_report(conn, "machine-count", reports.FROM_LOG["machine-count"])
                if from_log != rolled:
                    raise AssertionError("the rollup's machine-count differs from the log's")
            query = sa.text("SELECT revision, event, connected, talos_version FROM history_machines WHERE id = :id")
            conn.execute(query, {"id": "00000001-machine"}).fetchall()  # warm
            started = time.perf_counter()
            for index in range(2, 12):
                conn.execute(query, {"id": f"{index:08d}-machine"}).fetchall()
            out["history_ms"] = (time.perf_counter() - started) * 100
        out["bytes"] = database_bytes(engine)
        return out
    finally:
        engine.dispose()


def run() -> list[Result]:
    now = datetime.now(UTC)
    rows = generate(now)
    results = []
    targets = [("SQLite", None)] if os.environ.get("BENCH_REPORT_SQLITE", "1") != "0" else []
    if os.environ.get("BENCH_PG_URL"):
        targets.append(("PostgreSQL", os.environ["BENCH_PG_URL"]))
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        for name, url in targets:
            url = url or f"sqlite:///{Path(tmp) / 'history.db'}"
            load_s = load(url, rows)
            m = measure(url)
            note = f"{len(rows):,} events, {MACHINES:,} machines, {DAYS} days"
            results += [
                Result(f"load in {BATCH}-event transactions, rollup folded every {FOLD_STEP} ({name})", load_s, "s",
                       note=f"{len(rows) / load_s:,.0f} events/s; {note}"),
                Result(f"database size after the load ({name})", m["bytes"] / 2**20, "MiB",
                       note=f"{m['bytes'] / len(rows):,.0f} bytes/event"),
                Result(f"report machine-count --since 90d ({name})", m["report_s"] * 1000, "ms",
                       baseline=m["log_s"] * 1000 if "log_s" in m else None,
                       target=f"<= {REPORT_TARGET_S * 1000:g} ms",
                       passed=m["report_s"] <= REPORT_TARGET_S,
                       note=f"{m['days']:.0f} days; baseline: computed from the log, same answer; {note}"),
                Result(f"report talos-versions --since 90d ({name})", m["talos_s"] * 1000, "ms",
                       target=f"<= {REPORT_TARGET_S * 1000:g} ms", passed=m["talos_s"] <= REPORT_TARGET_S),
                Result(f"history_machines for one machine ({name})", m["history_ms"], "ms",
                       target=f"<= {HISTORY_TARGET_MS:g} ms", passed=m["history_ms"] <= HISTORY_TARGET_MS, note=note),
            ]
    return results
