"""Freshness under load: simulator commit -> visible through the REST API, at 500 and 2,000 events/s.

Per database (SQLite always; PostgreSQL when ``OMNI_READMODEL_BENCH_PG_URL`` or ``OMNI_READMODEL_TEST_PG_URL``
names a server it may create a database on, dropped afterwards): the simulator, ``omni-readmodel watch`` and
``omni-readmodel serve`` (1 worker) as subprocesses, and a fixed-rate API load (``bench/_api_load.py``, its
own process: item GETs of machines and clusters at ``BENCH_FRESH_LOAD_RATE`` requests/s over 4 kept-alive
connections) running the whole time churn runs at each rate.

Visibility is measured **through the API**: a probe in this process sends ``GET /api/v1/clusters?limit=1``
with the last ETag every 2 ms on one kept-alive connection (a 304 nearly always) and records when each
``X-Readmodel-Revision`` (the head the API reads; the watcher commits a batch's events with the head)
was first answered. An event of revision R was visible at the first answer with a head >= R, which
includes the API's own head cache (``serve --head-cache-ms``, 5 ms). After the run the events of the
measured revision range are read from the database for their (type, id, version) and ``updated``, which
the simulator stamps with its commit time: latency = visible - updated, for created/updated events of
watched kinds (as bench/watcher_churn.py, which polls the SQLite file directly instead). The probe adds
up to its 2 ms interval plus one round trip. Same host, same clock. Only events visible by the end of the
window count: when the watcher falls behind (the note's applied rate below the simulator's), the p99 is
a lower bound on a growing backlog. The note splits each latency at the event's ``observed_at`` (when the
watcher began applying the batch that took it): commit -> batch start (transport, decoding, the inbox,
waiting for the batch before and the batch window) and batch start -> visible (applying and committing
the batch, the API's head cache, the probe's interval).

Baseline, in the same run: a bare gRPC client (threads, no decoding, no database) watching every kind of
the same simulator records commit -> received for the same events: the floor the simulator and the
transport impose on this (shared, loaded) machine.
Run: ``python -m bench freshness`` (``--quick`` for a smoke run; sizes: ``BENCH_FRESH_MACHINES``,
``BENCH_FRESH_SECONDS``, ``BENCH_FRESH_LOAD_RATE``, ``BENCH_FRESH_RATES`` as ``500,2000``; ``BENCH_FRESH_DATABASES``
as ``sqlite,postgresql``; ``BENCH_FRESH_WATCH_ARGS`` adds ``watch`` flags, e.g. to compare batching settings).
"""

from __future__ import annotations

import bisect
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from bench import Result, setting
from bench._postgres import PG_ENVS, scratch_database, server_url
from bench._watcher import REPO, Simulator, Watcher
from bench.watcher_churn import BareClient, _pct
from models.db import as_utc, create_engine

MACHINES = int(setting("BENCH_FRESH_MACHINES", 2000, 300))
SECONDS = float(setting("BENCH_FRESH_SECONDS", 20, 6))
LOAD_RATE = float(setting("BENCH_FRESH_LOAD_RATE", 200, 100))
TARGETS = {500.0: 50.0, 2000.0: 100.0}  # events/s -> p99 target (ms)
RATES = [float(r) for r in os.environ.get("BENCH_FRESH_RATES", "500,2000").split(",")]
PROBE = 0.002
WATCH_ARGS = os.environ.get("BENCH_FRESH_WATCH_ARGS", "").split()  # e.g. "--batch-latency-ms 10"

Key = tuple[str, str, int]  # (type, id, version)


def run() -> list[Result]:
    results: list[Result] = []
    wanted = os.environ.get("BENCH_FRESH_DATABASES", "sqlite,postgresql").lower().split(",")
    for backend, database in (("SQLite", _sqlite), ("PostgreSQL", _postgres)):
        if backend.lower() not in wanted:
            continue
        with database() as url:
            if url is None:
                results.append(Result(f"{backend} freshness", 0, "ms", note=f"skipped: set {PG_ENVS[0]}"))
                continue
            results += _measure(backend, url)
    return results


@contextmanager
def _sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench-fresh-db-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'readmodel.db'}"


@contextmanager
def _postgres() -> Iterator[str | None]:
    server = server_url()
    if server is None:
        yield None
        return
    with scratch_database(server, f"{os.environ.get('BENCH_PG_DB_PREFIX', 'omni_rm_bench_')}fresh_") as url:
        yield url


def _measure(backend: str, db_url: str) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp:
        workdir = Path(tmp)
        simulator = Simulator(workdir, MACHINES, max(2, MACHINES // 50))
        watcher = bare = api = None
        engine = create_engine(db_url)
        try:
            metrics_port = _free_port()
            watcher = Watcher(workdir, db_url, simulator, "--migrate", "--metrics-port", str(metrics_port), *WATCH_ARGS)
            watcher.wait_for("all streams bootstrapped")
            api = ApiServer(db_url)
            paths = api.load_paths()
            bare = BareClient(simulator)
            for rate in RATES:
                results.append(_one_rate(backend, rate, simulator, api, paths, bare, engine, metrics_port))
        finally:
            engine.dispose()
            if bare is not None:
                bare.stop()
            if api is not None:
                api.stop()
            if watcher is not None:
                watcher.stop()
            simulator.stop()
    return results


def _one_rate(backend: str, rate: float, simulator: Simulator, api: ApiServer, paths: list[str],
              bare: BareClient, engine: sa.Engine, metrics_port: int) -> Result:
    simulator.control("POST", f"/churn?rate={rate}")
    time.sleep(2)  # let the rate settle
    batches_before = _batches(metrics_port)
    position = simulator.control("GET", "/state")["revision"]
    probe = Probe(api.port)
    first = probe.head() + 1
    load = subprocess.Popen([sys.executable, "-m", "bench._api_load", api.base, str(LOAD_RATE), str(SECONDS),
                             *paths], cwd=REPO, stdout=subprocess.PIPE, text=True)
    probe.start()
    started = time.monotonic()
    time.sleep(SECONDS)
    elapsed = time.monotonic() - started
    last = probe.heads[-1][0]  # the last head answered within the window
    produced = simulator.control("GET", "/state")["revision"] - position
    batches = [after - before for after, before in zip(_batches(metrics_port), batches_before, strict=True)]
    simulator.control("POST", "/churn?rate=0")
    time.sleep(1)  # the tail of the window becomes visible too
    probe.stop()
    load_stats = json.loads(load.communicate(timeout=120)[0])
    events = _events(engine, first, last)
    latencies: list[float] = []
    added: list[float] = []
    unseen = 0
    waited: list[float] = []  # commit -> the start of the batch that took the event (observed_at)
    applied: list[float] = []  # the start of that batch -> visible through the API
    for revision, key, stamp, observed in events:
        seen = probe.visible_at(revision)
        if key is None:
            continue
        if seen is None:
            unseen += 1
            continue
        latencies.append(max(0.0, seen - stamp))
        waited.append(observed - stamp)
        applied.append(seen - observed)
        received = bare.received.get(key)
        if received is not None:
            added.append(seen - received[1])
    for values in (latencies, added, waited, applied):
        values.sort()
    floor = sorted(bare.received[k][0] for _, k, _, _ in events if k is not None and k in bare.received)
    p99, target = _pct(latencies, 0.99), TARGETS.get(rate, 100.0)
    return Result(
        f"{backend} commit-to-API-visible p99 at {rate:,.0f} events/s", p99, "ms", _pct(floor, 0.99),
        "ms (commit -> bare gRPC client)", f"<= {target:.0f} ms", p99 <= target,
        f"{len(latencies):,} events, simulator {produced / elapsed:,.0f} events/s, watcher "
        f"{len(events) / elapsed:,.0f} events/s; {batches[1]:,.0f} batches of {batches[0] / max(1, batches[1]):,.1f} "
        f"items, {batches[2] / max(1, batches[1]) * 1000:.1f} ms each; p50 {_pct(latencies, 0.5):.1f} ms, "
        f"max {_pct(latencies, 1.0):.1f} ms; watcher+API-added p99 {_pct(added, 0.99):.1f} ms; commit -> its "
        f"batch's start p50/p99 {_pct(waited, 0.5):.1f}/{_pct(waited, 0.99):.1f} ms, batch start -> visible "
        f"p50/p99 {_pct(applied, 0.5):.1f}/{_pct(applied, 0.99):.1f} ms; API load "
        f"{load_stats['rate']:,.0f} req/s (p50 {load_stats['p50_ms']:.1f} ms, p99 {load_stats['p99_ms']:.1f} ms, "
        f"{load_stats['errors']} errors); probe {probe.answers:,} answers, "
        f"{probe.errors} errors, {unseen} events never seen")


def _events(engine: sa.Engine, first: int, last: int) -> list[tuple[int, Key | None, float, float]]:
    """(revision, (type, id, version) or None when not measured, updated, observed_at) for revisions
    first..last; observed_at is when the watcher began applying the event's batch (``watcher/plan.py``)."""
    query = sa.text("SELECT revision, namespace, type, id, version, event, updated, observed_at FROM events "
                    "WHERE revision >= :first AND revision <= :last ORDER BY revision")
    out: list[tuple[int, Key | None, float, float]] = []
    with engine.connect() as conn:
        for revision, namespace, type_, id_, version, event, updated, observed in conn.execute(
                query, {"first": first, "last": last}):
            # a destroy carries the last update time, not the commit's; polled kinds are not streamed
            measured = event != "destroyed" and namespace != "external" and updated is not None
            stamp = as_utc(updated).timestamp() if updated is not None else 0.0
            out.append((revision, (type_, id_, int(version)) if measured else None, stamp,
                        as_utc(observed).timestamp()))
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _batches(port: int) -> tuple[float, float, float]:
    """The watcher's (items, batches, seconds) committed so far, from its Prometheus histograms."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:  # noqa: S310
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("omni_readmodel_watcher_batch_items_sum", "omni_readmodel_watcher_batch_items_count",
                    "omni_readmodel_watcher_batch_seconds_sum"):
            values[name] = float(value)
    return (values["omni_readmodel_watcher_batch_items_sum"], values["omni_readmodel_watcher_batch_items_count"],
            values["omni_readmodel_watcher_batch_seconds_sum"])


class ApiServer:
    """``omni-readmodel serve`` (1 worker) on a free port."""

    def __init__(self, db_url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "omni_readmodel", "--log-level", "WARNING", "serve", "--database-url",
                   db_url, "--port", str(self.port), "--workers", "1"]
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.process.stderr.read()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not become ready")
            time.sleep(0.1)

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def load_paths(self) -> list[str]:
        """Item routes for the load: up to 500 machines and 50 clusters, as they are now."""
        machines = json.loads(self.get("/api/v1/machines?limit=500")[1])
        clusters = json.loads(self.get("/api/v1/clusters?limit=50")[1])
        paths = [f"/api/v1/machines/{m['id']}" for m in machines] + [f"/api/v1/clusters/{c['id']}" for c in clusters]
        if not paths:
            raise RuntimeError("the API lists no machines or clusters")
        return paths

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Probe:
    """Polls the API's head revision every ``PROBE`` seconds; records when each new head was first answered."""

    PATH = "/api/v1/clusters?limit=1"

    def __init__(self, port: int) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._etag = ""
        self.heads: list[tuple[int, float]] = []  # (head, first answered at), ascending
        self.answers = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def head(self) -> int:
        headers = {"If-None-Match": self._etag} if self._etag else {}
        self._conn.request("GET", self.PATH, headers=headers)
        response = self._conn.getresponse()
        response.read()
        now = time.time()
        if response.status not in (200, 304):
            raise RuntimeError(f"probe got {response.status}")
        self._etag = response.getheader("ETag") or ""
        head = int(response.getheader("X-Readmodel-Revision"))
        self.answers += 1
        if not self.heads or head > self.heads[-1][0]:
            self.heads.append((head, now))
        return head

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.head()
            except (OSError, http.client.HTTPException, RuntimeError):
                self.errors += 1  # counted in the figure's note; the next answer still dates the heads
                self._conn.close()
            time.sleep(PROBE)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._conn.close()

    def visible_at(self, revision: int) -> float | None:
        """When the API first answered a head at or beyond ``revision`` (None: not within the probe)."""
        i = bisect.bisect_left(self.heads, (revision, float("-inf")))
        return self.heads[i][1] if i < len(self.heads) else None


if __name__ == "__main__":
    for result in run():
        print(result.line())
