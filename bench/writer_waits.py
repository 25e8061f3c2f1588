"""Where a live PostgreSQL batch waits: the writer's round trips per batch at a steady churn.

The simulator (``BENCH_WAITS_MACHINES``, 2,000) churns at ``BENCH_WAITS_RATE`` (500) events/s for
``BENCH_WAITS_SECONDS`` (15) into ``omni-readmodel watch`` on a scratch PostgreSQL database, the watcher run
by ``bench/_counted_watch.py``: per live batch, the wall time of ``Writer.apply``, the writer thread's CPU
time, and each wait in psycopg's ``Connection.wait`` (in the writer's pipeline a statement sent, or answers
awaited) with the repository lines that caused it. The figure is a batch's wall time against the writer
thread's own CPU time in it (the ratio: how much of a batch is waiting, on the server or for a core); the
note gives the waits per batch, the time in them and the lines that waited longest. A diagnostic: no
target. Needs ``OMNI_READMODEL_BENCH_PG_URL`` or ``OMNI_READMODEL_TEST_PG_URL``.
Run: ``python -m bench writer_waits``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from bench import Result, setting
from bench._postgres import PG_ENVS, scratch_database, server_url
from bench._watcher import Simulator, Watcher

MACHINES = int(setting("BENCH_WAITS_MACHINES", 2000, 300))
RATE = setting("BENCH_WAITS_RATE", 500, 300)
SECONDS = setting("BENCH_WAITS_SECONDS", 15, 5)
TOP_SITES = 4


def run() -> list[Result]:
    server = server_url()
    if server is None:
        return [Result("PostgreSQL live batch, wall time", 0, "ms", note=f"skipped: set {PG_ENVS[0]}")]
    with tempfile.TemporaryDirectory(prefix="bench-waits-") as tmp, scratch_database(server, "bench_waits_") as url:
        workdir = Path(tmp)
        out = workdir / "waits.json"
        simulator = Simulator(workdir, MACHINES, max(2, MACHINES // 50))
        watcher = None
        try:
            watcher = Watcher(workdir, url, simulator, "--migrate",
                              program=("-m", "bench._counted_watch", str(out)))
            watcher.wait_for("all streams bootstrapped")
            time.sleep(3)  # the bootstrap's last small batches
            before = _read(out)
            simulator.control("POST", f"/churn?rate={RATE}")
            time.sleep(SECONDS)
            simulator.control("POST", "/churn?rate=0")
            time.sleep(2)  # the tail is applied and written out
            after = _read(out)
        finally:
            if watcher is not None:
                watcher.stop()
            simulator.stop()
    return [_result(before, after)]


def _read(path: Path) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # not written yet, or caught mid-write
            time.sleep(0.2)
    raise RuntimeError(f"the counted watcher wrote no {path.name}")


def _result(before: dict, after: dict) -> Result:
    total = {k: after["totals"].get(k, 0) - before["totals"].get(k, 0) for k in after["totals"]}
    batches = total.get("batches", 0)
    if not batches:
        return Result("PostgreSQL live batch, wall time", 0, "ms", note="no live batch in the window")
    sites = []
    for site, (waits, seconds) in after["sites"].items():
        old_waits, old_seconds = before["sites"].get(site, (0, 0.0))
        sites.append((seconds - old_seconds, waits - old_waits, site))
    sites.sort(reverse=True)
    top = "; ".join(f"{seconds / batches * 1000:.2f} ms in {waits / batches:.1f} waits at {site}"
                    for seconds, waits, site in sites[:TOP_SITES])
    per = lambda key: total.get(key, 0) / batches  # noqa: E731
    return Result(
        "PostgreSQL live batch, wall time", per("wall") * 1000, "ms", per("cpu") * 1000, "ms writer CPU",
        note=f"{batches:,} batches of {per('items'):.1f} items at {RATE:,.0f} events/s; {per('waits'):.1f} waits a "
             f"batch, {per('wait_seconds') * 1000:.2f} ms in them; longest: {top}")
