"""A large fleet end to end (issue 13 item 3): bootstrap, sustained churn, then every API route.

The simulator (a subprocess) generates ``BENCH_FLEET_MACHINES`` machines (50,000, ~555k resources; 2,000
with ``--quick``); the watcher (a subprocess, signing its calls) bootstraps it into SQLite and, when
``OMNI_READMODEL_BENCH_PG_URL`` or ``OMNI_READMODEL_TEST_PG_URL`` names a server it may create databases
on, into PostgreSQL (``BENCH_FLEET_DATABASES=sqlite`` or ``postgresql`` runs one); then the simulator churns at ``BENCH_FLEET_RATE`` events/s (1,000) for
``BENCH_FLEET_SECONDS`` (300). A sampler reads the watcher's ``VmRSS`` from /proc every 0.25 s.

Figures per database: bootstrap rate, the watcher's peak RSS during bootstrap and during churn (target
<= 200 MB up to 10k machines, <= 600 MB at 50k, linear between; baseline in the same run: the
simulator's peak RSS, i.e. the same fleet held in memory by the process that serves it), the churn rate
the simulator really produced (target >= 95 % of the asked rate), streams that fell behind into ERRORED
(target 0) and whether the watcher kept up, and every route of ``/openapi.json`` answered by ``serve`` on
the same database (each collection route, and each item route with an id read from its collection: all
200).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import sqlalchemy as sa

from bench import Result, setting
from bench._postgres import PG_ENVS, scratch_database, server_url
from bench._watcher import Simulator, Watcher, rss_target_mb
from bench.api_http import api_server

MACHINES = int(setting("BENCH_FLEET_MACHINES", 50_000, 2_000))
RATE = float(setting("BENCH_FLEET_RATE", 1_000, 1_000))
SECONDS = float(setting("BENCH_FLEET_SECONDS", 300, 20))
CLUSTERS = max(2, MACHINES // 50)
RATE_TARGET = 0.95
SETTLE_SECONDS = 600  # how long the watcher may take to drain what churn left queued


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """The peak ``VmRSS`` of a process per phase, sampled from /proc on a thread."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid, self.every = pid, every
        self.phase = "bootstrap"
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                rss = _status_mb(self.pid, "VmRSS")
            except OSError:
                return
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _head(url: str) -> int:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT head_revision FROM meta")).scalar() or 0)
    finally:
        engine.dispose()


def _stream_errors(url: str) -> tuple[int, int]:
    """(re-bootstraps, reconnects) summed over the ``streams`` checkpoints."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT coalesce(sum(rebootstraps), 0), coalesce(sum(reconnects), 0) "
                                       "FROM streams")).one()
            return int(row[0]), int(row[1])
    finally:
        engine.dispose()


def _errored_lines(log: Path) -> int:
    """Watch failures the watcher logged because Omni sent ERRORED (e.g. "buffer overrun")."""
    return sum(1 for line in log.read_text().splitlines() if "ERRORED" in line or "buffer overrun" in line)


def _drained(url: str, timeout: float) -> tuple[bool, float]:
    """Wait until the head stops moving for 3 s (the watcher applied what was queued); (drained, seconds)."""
    started = time.monotonic()
    last, still = _head(url), time.monotonic()
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        head = _head(url)
        if head != last:
            last, still = head, time.monotonic()
        elif time.monotonic() - still >= 3:
            return True, still - started
    return False, timeout


_PARAM = re.compile(r"\{[^}]+\}")


def _route_paths(api: str) -> list[str]:
    """Every collection route of the OpenAPI document (a required query parameter gets a recent revision),
    and one item route per collection (``<collection>/{id}``) with the first id that collection lists."""
    spec = httpx.get(api + "/openapi.json", timeout=60).json()
    head = int(httpx.get(api + "/api/v1/clusters?limit=1", timeout=60).headers["x-readmodel-revision"])
    templates = {t: ops["get"] for t, ops in spec["paths"].items()
                 if "get" in ops and t.startswith("/api/v1/") and t != "/api/v1/events"}  # the feed is a stream
    paths = []
    for template, operation in sorted(templates.items()):
        names = _PARAM.findall(template)
        if not names:
            required = [p["name"] for p in operation.get("parameters", ())
                        if p.get("required") and p.get("in") == "query"]
            query = "&".join(f"{name}={max(0, head - 100)}" for name in required)
            paths.append(template + (f"?{query}" if query else ""))
            continue
        collection = template[:template.index("{")].rstrip("/")
        if len(names) > 1 or not template.endswith(names[0]) or collection not in templates:
            continue  # a sub-resource of an item: not every item has one
        value = _first_id(api, collection, operation, names[0][1:-1])
        if value is not None:
            paths.append(template.replace(names[0], quote(value, safe="")))
    return paths


def _first_id(api: str, collection: str, operation: dict, name: str) -> str | None:
    for parameter in operation.get("parameters", ()):
        if parameter.get("name") == name and parameter.get("schema", {}).get("enum"):
            return parameter["schema"]["enum"][0]
    answer = httpx.get(f"{api}{collection}?limit=1", timeout=120)
    if answer.status_code != 200:
        return None
    items = answer.json()
    if isinstance(items, dict):
        items = next((v for v in items.values() if isinstance(v, list)), [])
    if not items:
        return None
    item = items[0]
    return item.get("id") or item.get("name") or (item.get("metadata") or {}).get("id")


def _routes(url: str) -> tuple[int, list[str]]:
    """(routes asked, those that did not answer 200)."""
    with api_server(url) as api:
        paths = _route_paths(api)
        failed = []
        with httpx.Client(base_url=api, timeout=300) as client:
            for path in paths:
                status = client.get(path).status_code
                if status != 200:
                    failed.append(f"{path} {status}")
        return len(paths), failed


def _churn(simulator: Simulator) -> tuple[int, float]:
    """Churn for SECONDS; (events the simulator committed, seconds)."""
    before = simulator.control("GET", "/state")["revision"]
    started = time.monotonic()
    simulator.control("POST", f"/churn?rate={RATE:g}")
    time.sleep(SECONDS)
    simulator.control("POST", "/churn?rate=0")
    seconds = time.monotonic() - started
    return simulator.control("GET", "/state")["revision"] - before, seconds


def run_one(label: str, url: str, workdir: Path) -> list[Result]:
    started = time.monotonic()
    simulator = Simulator(workdir, MACHINES, CLUSTERS)
    generated = time.monotonic() - started
    watcher = sampler = None
    try:
        watcher = Watcher(workdir, url, simulator, "--migrate")
        sampler = RssSampler(watcher.process.pid)
        done = watcher.wait_for("all streams bootstrapped", timeout=7200)
        sampler.phase = "churn"
        rebootstraps0, _ = _stream_errors(url)
        head0 = _head(url)
        produced, churn_seconds = _churn(simulator)
        drained, drain_seconds = _drained(url, SETTLE_SECONDS)
        applied = _head(url) - head0
        rebootstraps, reconnects = _stream_errors(url)
        errored = _errored_lines(watcher.log_path) + rebootstraps - rebootstraps0
        peak_hwm = _status_mb(watcher.process.pid, "VmHWM")
        sim_mb = _status_mb(simulator.process.pid, "VmHWM")
        watcher.stop()
        watcher = None
    finally:
        if sampler is not None:
            sampler.stop()
        if watcher is not None:
            watcher.stop()
        simulator.stop()
    asked, failed = _routes(url)
    target = rss_target_mb(MACHINES)
    boot_mb, churn_mb = sampler.peaks.get("bootstrap", 0.0), max(sampler.peaks.get("churn", 0.0), 0.0)
    achieved = produced / churn_seconds
    fleet = f"{MACHINES:,} machines, {done['events']:,} resources"
    return [
        Result(f"{label}: bootstrap", done["events"] / done["seconds"], "events/s",
               note=f"{fleet} in {done['seconds']:.0f} s; simulator generated them in {generated:.0f} s"),
        Result(f"{label}: watcher peak RSS during bootstrap", boot_mb, "MB", sim_mb, "MB (simulator peak RSS)",
               f"<= {target:.0f} MB", boot_mb <= target, fleet),
        Result(f"{label}: watcher peak RSS during churn", churn_mb, "MB", sim_mb, "MB (simulator peak RSS)",
               f"<= {target:.0f} MB", churn_mb <= target, f"VmHWM over the whole run {peak_hwm:.0f} MB"),
        Result(f"{label}: churn rate the simulator produced", achieved, "events/s", RATE, "events/s asked",
               f">= {RATE_TARGET:.2f}", achieved / RATE >= RATE_TARGET,
               f"{produced:,} events in {churn_seconds:.0f} s; watcher applied {applied:,} log rows, "
               f"{'drained' if drained else 'NOT drained'} {drain_seconds:.0f} s after churn stopped"),
        Result(f"{label}: streams fallen behind into ERRORED", errored, "streams", target="= 0",
               passed=errored == 0 and drained, note=f"{reconnects} reconnects in all"),
        Result(f"{label}: API routes answered 200", asked - len(failed), "routes", asked, "routes asked",
               "all", not failed, "; ".join(failed[:5])),
    ]


def _with_postgres(work: Callable[[str], list[Result]]) -> list[Result]:
    server = server_url()
    if not server:
        return [Result("PostgreSQL", 0, "", note=f"skipped: set {PG_ENVS[0]}")]
    with scratch_database(server, "omni_rm_bench_fleet_") as url:
        return work(url)


def run() -> list[Result]:
    wanted = os.environ.get("BENCH_FLEET_DATABASES", "sqlite,postgresql").split(",")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        if "sqlite" in wanted:
            sqlite_dir = Path(tmp) / "sqlite"
            sqlite_dir.mkdir()
            results += _reported("SQLite", lambda: run_one("SQLite", f"sqlite:///{sqlite_dir / 'readmodel.db'}",
                                                           sqlite_dir))
        if "postgresql" in wanted:
            pg_dir = Path(tmp) / "pg"
            pg_dir.mkdir()
            results += _reported("PostgreSQL",
                                 lambda: _with_postgres(lambda url: run_one("PostgreSQL", url, pg_dir)))
    return results


def _reported(label: str, work: Callable[[], list[Result]]) -> list[Result]:
    """One database's figures, or a failed row saying why: a run that fails on one database (30 minutes
    in) keeps the other's figures."""
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - reported in the table, with the watcher's last log lines
        return [Result(f"{label}: run completed", 0, "", target="completed", passed=False,
                       note=f"{type(exc).__name__}: {str(exc)[-600:]}")]


if __name__ == "__main__":
    for result in run():
        print(result.line())
