"""Pruning ~1 million events while the watcher ingests 500 events/s: freshness p99 (issue 10, <= 100 ms).

A SQLite read model starts with an old history (``bench/reports_history.py``'s generator, shifted two
days back, ``BENCH_PRUNE_MACHINES`` machines: 2,050 give ~1M events, folded into the rollup as the writer
would). The watcher follows a simulator of ``BENCH_CHURN_MACHINES`` machines churning at
``BENCH_CHURN_RATE`` events/s; freshness (simulator commit -> row visible to a reader) is measured as in
``bench/watcher_churn.py``:

- baseline: ``watch`` without retention, ``BENCH_CHURN_SECONDS`` of churn;
- pruning: ``watch --retention 1d`` restarted on the same database, whose first pass removes the whole old
  history (all of it is older than a day) in chunks, measured over the same churn while that pass runs.

Reported: both p99s and their ratio, the events the pass deleted and its duration, and the SQLite file
and free-page figures before and after (freed pages are reused by later inserts).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import Result, reports_history, setting, watcher_churn
from bench._watcher import Simulator, Watcher

OLD_MACHINES = int(setting("BENCH_PRUNE_MACHINES", 2050, 20))
P99_TARGET_MS = 100.0


def _file_figures(db: Path) -> tuple[int, int, int]:
    """(file bytes incl. WAL, free pages, page size)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file's own size, not the WAL's backlog
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    size = sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())
    return size, free, page


def _count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        conn.close()


def _churn_p99(db: Path, simulator: Simulator) -> tuple[float, int, float]:
    visible, events, seconds = watcher_churn._observe(db, simulator)
    lags = sorted(lag for lag, _ in visible.values())
    return watcher_churn._pct(lags, 0.99), len(lags), events / seconds


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-retention-") as tmp:
        workdir = Path(tmp)
        db = workdir / "readmodel.db"
        url = f"sqlite:///{db}"
        original = reports_history.MACHINES
        reports_history.MACHINES = OLD_MACHINES
        try:
            old = reports_history.generate(datetime.now(UTC) - timedelta(days=2))
        finally:
            reports_history.MACHINES = original
        reports_history.load(url, old)
        del old
        simulator = Simulator(workdir, watcher_churn.MACHINES, max(2, watcher_churn.MACHINES // 50))
        try:
            watcher = Watcher(workdir, url, simulator)
            watcher.wait_for("all streams bootstrapped")
            base_p99, base_n, base_rate = _churn_p99(db, simulator)
            watcher.stop()
            before_events = _count(db)
            before = _file_figures(db)

            pruning = Watcher(workdir, url, simulator, "--retention", "1d", "--retention-every", "3600")
            started = time.monotonic()
            pruning.wait_for("all streams bootstrapped")
            p99, n, rate = _churn_p99(db, simulator)
            observed_until = time.monotonic() - started
            record = pruning.wait_for("pruned", timeout=3600)
            pass_seconds = time.monotonic() - started
            simulator.control("POST", f"/churn?rate={watcher_churn.RATE}")
            time.sleep(10)  # new events land in the freed pages
            simulator.control("POST", "/churn?rate=0")
            pruning.stop()
            after = _file_figures(db)
        finally:
            simulator.stop()
    deleted = record.get("deleted", 0)
    overlapped = observed_until <= pass_seconds
    return [
        Result("commit-to-visible p99 while pruning", p99, "ms", base_p99, "ms (same churn, no retention)",
               f"<= {P99_TARGET_MS:.0f} ms", p99 <= P99_TARGET_MS,
               f"{n:,} events at {rate:,.0f}/s during the pass (baseline {base_n:,} at {base_rate:,.0f}/s); "
               f"window {'inside' if overlapped else 'NOT inside'} the pass"),
        Result("events pruned by the first --retention pass", deleted, "events",
               note=f"of {before_events:,}; pass ~{pass_seconds:.0f} s incl. resume, "
                    f"{deleted / max(pass_seconds, 1e-9):,.0f} events/s"),
        Result("SQLite file before pruning", before[0] / 2**20, "MiB", note=f"{before[1]:,} free pages"),
        Result("SQLite file after pruning and 10 s more churn", after[0] / 2**20, "MiB",
               note=f"{after[1]:,} free pages of {after[2]} bytes, reused by later inserts"),
    ]
