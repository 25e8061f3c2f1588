"""Reports over a long generated history: ``report machine-count --since 90d`` and one machine's history.

A log of ``BENCH_REPORT_MACHINES`` machines (Machine, MachineStatus, ClusterMachine each) churning for 90
days (connection flaps, status updates, a Talos upgrade, machines replaced) is bulk-inserted into the
``events`` table (the views read only the log), then the reports run on SQLite and, with ``BENCH_PG_URL``
set, on PostgreSQL. Targets (issue 10): machine-count within 10 s over >= 5M events of a 10k-machine fleet;
one machine's ``history_machines`` within 50 ms. ``BENCH_REPORT_MACHINES=10000`` gives ~5M events.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench import Result
from models import migrate, reports
from models.db import create_engine
from models.rollup import Folder

MACHINES = int(os.environ.get("BENCH_REPORT_MACHINES", "2000"))
DAYS = 90
CHANGES_PER_MACHINE_DAY = 5.4  # with the creations: ~5M events for 10k machines
REPORT_TARGET_S = 10.0
HISTORY_TARGET_MS = 50.0
TYPES = {"Machine": "Machines.omni.sidero.dev", "MachineStatus": "MachineStatuses.omni.sidero.dev",
         "ClusterMachine": "ClusterMachines.omni.sidero.dev"}


def _status(rng: random.Random, index: int, talos: str) -> dict:
    return {"talos_version": talos, "connected": True, "cluster": f"c{index % 40}", "role": "WORKER",
            "network": {"hostname": f"node-{index}"}, "platform_metadata": {"platform": "metal"},
            "hardware": {"arch": "amd64", "processors": [{"core_count": rng.choice((4, 8, 16))}],
                         "memory_modules": [{"size_mb": 16384}], "blockdevices": [{"size": "512000000000"}]}}


def generate(now: datetime, seed: int = 1) -> list[tuple]:
    """(observed_at, type, id, event, version, spec) rows in time order."""
    rng = random.Random(seed)
    start = now - timedelta(days=DAYS)
    seconds = DAYS * 86_400
    rows: list[tuple] = []
    for index in range(MACHINES):
        id_ = f"{index:08d}-machine"
        born = start + timedelta(seconds=rng.uniform(0, 3_600))
        rows += [(born, "MachineStatus", id_, "created", _status(rng, index, "v1.8.0")),
                 (born, "Machine", id_, "created", {"connected": True}),
                 (born, "ClusterMachine", id_, "created", {"kubernetes_version": "1.31.0"})]
        upgraded = start + timedelta(days=rng.uniform(30, 40))
        rows.append((upgraded, "MachineStatus", id_, "updated", _status(rng, index, "v1.9.0")))
        connected = True
        for _ in range(int(DAYS * CHANGES_PER_MACHINE_DAY)):
            at = start + timedelta(seconds=rng.uniform(3_600, seconds))
            if rng.random() < 0.8:
                connected = not connected
                rows.append((at, "Machine", id_, "updated", {"connected": True} if connected else {}))
            else:
                talos = "v1.9.0" if at > upgraded else "v1.8.0"
                rows.append((at, "MachineStatus", id_, "updated", _status(rng, index, talos)))
    rows.sort(key=lambda r: r[0])
    return rows


def _event_rows(rows: list[tuple], sqlite: bool) -> list[tuple]:
    versions: dict[tuple[str, str], int] = {}
    out = []
    for revision, (at, kind, id_, event, spec) in enumerate(rows, 1):
        key = (kind, id_)
        versions[key] = versions.get(key, 0) + 1
        stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else at
        out.append((revision, "default", TYPES[kind], id_, event, versions[key], "running", "", stamp, stamp,
                    "{}", "{}", "[]", json.dumps(spec, separators=(",", ":")), stamp))
    return out


def load(url: str, rows: list[tuple], batch: int = 2_000) -> float:
    """Append the rows ``batch`` at a time and fold each batch into the per-day rollup in its transaction,
    as the writer does (models/rollup.py); returns the seconds it took."""
    engine = create_engine(url)
    migrate.upgrade(engine)
    sqlite = engine.dialect.name == "sqlite"
    columns = ("revision, namespace, type, id, event, version, phase, owner, created, updated, labels, "
               "annotations, finalizers, spec, observed_at")
    data = _event_rows(rows, sqlite)
    folder = Folder(engine.dialect)
    raw = engine.raw_connection()
    started = time.perf_counter()
    try:
        cur = raw.cursor()
        for start in range(0, len(data), batch):
            chunk = data[start:start + batch]
            if sqlite:
                cur.executemany(f"INSERT INTO events ({columns}) VALUES ({', '.join('?' * 15)})", chunk)  # noqa: S608
            else:
                with cur.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row(row)
            head = start + len(chunk)
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


def measure(url: str) -> tuple[float, float, int]:
    """(machine-count seconds, one machine's history ms, rows of the report)."""
    engine = create_engine(url)
    try:
        report = reports.get("machine-count")
        params = reports.parse_params(report, {"since": "90d"})
        with engine.connect() as conn:
            started = time.perf_counter()
            result = reports.run(conn, report, params)
            report_s = time.perf_counter() - started
            query = sa.text("SELECT revision, event, connected, talos_version FROM history_machines WHERE id = :id")
            conn.execute(query, {"id": "00000001-machine"}).fetchall()  # warm
            started = time.perf_counter()
            for index in range(2, 12):
                conn.execute(query, {"id": f"{index:08d}-machine"}).fetchall()
            history_ms = (time.perf_counter() - started) * 100
        return report_s, history_ms, len(result.rows)
    finally:
        engine.dispose()


def run() -> list[Result]:
    now = datetime.now(UTC)
    rows = generate(now)
    results = []
    targets = [("SQLite", None)]
    if os.environ.get("BENCH_PG_URL"):
        targets.append(("PostgreSQL", os.environ["BENCH_PG_URL"]))
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        for name, url in targets:
            url = url or f"sqlite:///{Path(tmp) / 'history.db'}"
            load(url, rows)
            report_s, history_ms, days = measure(url)
            note = f"{len(rows):,} events, {MACHINES:,} machines, {DAYS} days"
            results += [
                Result(f"report machine-count --since 90d ({name})", report_s, "s",
                       target=f"<= {REPORT_TARGET_S:g} s", passed=report_s <= REPORT_TARGET_S,
                       note=f"{days} days; {note}"),
                Result(f"history_machines for one machine ({name})", history_ms, "ms",
                       target=f"<= {HISTORY_TARGET_MS:g} ms", passed=history_ms <= HISTORY_TARGET_MS, note=note),
            ]
    return results
