"""Bootstrap of a simulated 10k-machine fleet (~110k resources) into SQLite, and the watcher's peak RSS.

The watcher (a subprocess, signing its calls) bootstraps from the simulator (another subprocess); its
own log reports events and seconds from its first stream to the last snapshot committed. The baseline,
in the same run: a raw ``sqlite3`` executemany of exactly the rows the watcher wrote (events, resources
with their documents, labels), 2,000 events per transaction, same statements, same PRAGMAs.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench import Result, setting
from bench._watcher import Simulator, Watcher
from models import migrate
from models.db import create_engine
from watcher.sql import Statements

MACHINES = int(setting("BENCH_MACHINES", 10000, 1000))
CLUSTERS = max(2, MACHINES // 50)
BATCH = 2000
RATIO_TARGET = 0.25
RSS_TARGET_MB = 250


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-bootstrap-") as tmp:
        workdir = Path(tmp)
        db = workdir / "readmodel.db"
        simulator = Simulator(workdir, MACHINES, CLUSTERS)
        try:
            watcher = Watcher(workdir, f"sqlite:///{db}", simulator, "--migrate")
            done = watcher.wait_for("all streams bootstrapped")
            rss = watcher.peak_rss_bytes()
            watcher.stop()
        finally:
            simulator.stop()
        rate = done["events"] / done["seconds"]
        baseline = _baseline(db, workdir / "baseline.db")
    rss_mb = rss / (1 << 20)
    return [
        Result("watcher bootstrap into SQLite", rate, "events/s", baseline, "events/s (raw sqlite3 executemany)",
               f">= {RATIO_TARGET}", rate / baseline >= RATIO_TARGET,
               note=f"{done['events']:,} events in {done['seconds']:.1f} s, {MACHINES:,} machines"),
        Result("watcher peak RSS after bootstrap", rss_mb, "MB", target=f"<= {RSS_TARGET_MB} MB",
               passed=rss_mb <= RSS_TARGET_MB, note=f"{done['events']:,} resources"),
    ]


def _baseline(source: Path, target: Path) -> float:
    """events/s of inserting the watcher's rows with plain sqlite3, the way the writer batches them."""
    engine = create_engine(f"sqlite:///{target}")
    migrate.upgrade(engine)
    sql = Statements(engine.dialect)
    engine.dispose()
    src = sqlite3.connect(source)
    events = src.execute("SELECT * FROM events ORDER BY revision").fetchall()
    resources = {(r[0], r[1], r[2]): r for r in src.execute(
        "SELECT namespace, type, id, version, phase, owner, created, updated, labels, annotations, finalizers, "
        "spec, revision, document FROM resources")}
    labels: dict[tuple, list[tuple]] = defaultdict(list)
    for row in src.execute("SELECT namespace, type, key, value, id FROM resource_labels"):
        labels[(row[0], row[1], row[4])].append(row)
    src.close()
    batches = []
    for start in range(0, len(events), BATCH):
        chunk = events[start:start + BATCH]
        keys = [(e[1], e[2], e[3]) for e in chunk]
        batches.append((chunk, [resources[k] for k in keys if k in resources],
                        [label for k in keys for label in labels.get(k, ())]))

    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for chunk, resource_rows, label_rows in batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql.insert_event.sql, chunk)
        conn.executemany(sql.upsert_resource.sql, resource_rows)
        conn.executemany(sql.insert_label.sql, label_rows)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return len(events) / seconds


if __name__ == "__main__":
    for result in run():
        print(result.line())
