"""Change feed fan-out: 200 SSE subscribers on one API worker while the watcher ingests 500 events/s.

Simulator (churning at ``BENCH_FEED_RATE`` events/s) -> watcher -> SQLite -> ``omni-readmodel serve``
(one worker), all real subprocesses. ``BENCH_FEED_SUBSCRIBERS`` unfiltered SSE clients (asyncio, in a
thread of this process) follow ``/api/v1/events`` and read every byte; ``BENCH_FEED_SAMPLED`` of them
parse each event and record its delivery latency: the time it was read minus its ``observed_at`` (set
by the watcher when it planned the batch, before the commit, so this bounds commit-to-delivery from
above). Targets:

- p99 delivery latency <= 250 ms;
- worker RSS (VmHWM, the peak) <= 200 MB;
- item GET throughput (wrk, ``/api/v1/machines/{id}``) with the subscribers >= 0.80 of the same worker's
  throughput without them, both measured under the same churn, alternating rounds, best of each.

Run: ``python -m bench feed_fanout`` (needs ``wrk``: ``apt-get install -y wrk``).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from bench import Result
from bench._watcher import Simulator, Watcher
from bench.api_http import _PIDS, CONNECTIONS, _lua, api_server

MACHINES = int(os.environ.get("BENCH_FEED_MACHINES", "2000"))
RATE = float(os.environ.get("BENCH_FEED_RATE", "500"))
SUBSCRIBERS = int(os.environ.get("BENCH_FEED_SUBSCRIBERS", "200"))
SAMPLED = int(os.environ.get("BENCH_FEED_SAMPLED", "10"))
ROUNDS = int(os.environ.get("BENCH_FEED_ROUNDS", "3"))
FILTER = os.environ.get("BENCH_FEED_FILTER", "")  # e.g. "&collection=clusters": filtered subscribers
P99_MS, RSS_MB, GET_RATIO = 250.0, 200.0, 0.80
MARK = b'"observed_at":"'


class Subscribers:
    """``count`` SSE clients on their own event loop (a thread): connect, read, measure, disconnect."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.latencies: list[float] = []
        self.events = 0
        self.bytes = 0
        self.overflows = 0
        self.failures: list[str] = []
        self._tasks: list[asyncio.Task] = []

    def connect(self, count: int, since: int) -> None:
        async def start() -> None:
            self._tasks = [asyncio.create_task(self._follow(since, i < SAMPLED)) for i in range(count)]
        asyncio.run_coroutine_threadsafe(start(), self.loop).result()

    def disconnect(self) -> None:
        async def stop() -> None:
            for task in self._tasks:
                task.cancel()
            for outcome in await asyncio.gather(*self._tasks, return_exceptions=True):
                if isinstance(outcome, Exception):
                    self.failures.append(repr(outcome))
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result()

    def close(self) -> None:
        self.disconnect()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()

    async def _follow(self, since: int, sampled: bool) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(f"GET /api/v1/events?since={since}{FILTER} HTTP/1.1\r\nHost: {self.host}\r\n"
                         "Accept: text/event-stream\r\n\r\n".encode())
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                raise RuntimeError(f"feed answered {status!r}")
            while True:
                chunk = await reader.read(1 << 20)
                if not chunk:
                    return
                now = time.time()
                self.bytes += len(chunk)
                if b"event: overflow" in chunk:
                    self.overflows += 1
                if sampled:  # chunked framing never splits the 27-byte timestamps this finds in practice
                    position = chunk.find(MARK)
                    while position >= 0:
                        stamp = chunk[position + len(MARK):position + len(MARK) + 27]
                        try:
                            self.latencies.append(now - datetime.fromisoformat(stamp.decode()).timestamp())
                            self.events += 1
                        except ValueError:
                            pass  # cut by a read boundary
                        position = chunk.find(MARK, position + 1)
        finally:
            writer.close()


def wrk(base: str, script: str, seconds: int = 5) -> tuple[float, int]:
    """Requests per second and the count of non-2xx answers (404s: the churn removes machines)."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", script, base + "/"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), int(errors.group(1)) if errors else 0


def _head(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT head_revision FROM meta").fetchone()[0]


def _machine_ids(db: Path, count: int) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id FROM resources WHERE type = 'Machines.omni.sidero.dev' ORDER BY id").fetchall()
    ids = [row[0] for row in rows]
    random.Random(7).shuffle(ids)
    return ids[:count]


def _rss(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, size = line.split()[:2]
            values[name] = int(size) / 1024
    return values["VmRSS:"], values["VmHWM:"]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def run() -> list[Result]:
    if shutil.which("wrk") is None:
        return [Result("feed_fanout", 0, "", note="skipped: wrk is not installed (apt-get install -y wrk)")]
    with tempfile.TemporaryDirectory(prefix="bench-feed-") as tmp:
        workdir = Path(tmp)
        db = workdir / "readmodel.db"
        simulator = Simulator(workdir, MACHINES, max(2, MACHINES // 50))
        try:
            watcher = Watcher(workdir, f"sqlite:///{db}", simulator, "--migrate")
            try:
                watcher.wait_for("all streams bootstrapped")
                return _measure(workdir, db, simulator)
            finally:
                watcher.stop()
        finally:
            simulator.stop()


def _measure(workdir: Path, db: Path, simulator: Simulator) -> list[Result]:
    script = _lua([f"/api/v1/machines/{mid}" for mid in _machine_ids(db, 1000)], None, str(workdir))
    with api_server(f"sqlite:///{db}", "--feed-max-subscribers", str(SUBSCRIBERS + 10)) as api:
        pid = _PIDS[api]
        simulator.control("POST", f"/churn?rate={RATE}")
        time.sleep(2)  # let the rate settle
        clients = Subscribers(api)
        alone, shared, first, last, missing = [], [], _head(db), 0, 0
        started = time.monotonic()
        try:
            for _ in range(ROUNDS):
                rate, errors = wrk(api, script)
                alone.append(rate)
                missing += errors
                clients.connect(SUBSCRIBERS, _head(db))
                time.sleep(1)  # every subscriber attached and streaming
                rate, errors = wrk(api, script)
                shared.append(rate)
                missing += errors
                last = _head(db)
                clients.disconnect()
        finally:
            simulator.control("POST", "/churn?rate=0")
            clients.close()
        elapsed = time.monotonic() - started
        rss, peak = _rss(pid)
    p50, p99 = _percentile(clients.latencies, 0.50) * 1000, _percentile(clients.latencies, 0.99) * 1000
    ingested = (last - first) / elapsed
    ratio = max(shared) / max(alone)
    who = f"SSE subscribers filtered by {FILTER.lstrip('&')}" if FILTER else "unfiltered SSE subscribers"
    note = (f"{SUBSCRIBERS} {who}, watcher ingesting {ingested:,.0f} events/s measured "
            f"(simulator asked for {RATE:g}); {clients.events:,} deliveries sampled on {SAMPLED} subscribers, "
            f"{clients.bytes / 1e6:,.0f} MB read by all; {clients.overflows} overflows"
            + (f"; {len(clients.failures)} clients failed: {clients.failures[0]}" if clients.failures else ""))
    return [
        Result("feed delivery latency p99 (commit to client)", p99, "ms", target=f"<= {P99_MS:g} ms",
               passed=p99 <= P99_MS, note=f"p50 {p50:.0f} ms; " + note),
        Result("API worker peak RSS with the subscribers", peak, "MB", target=f"<= {RSS_MB:g} MB",
               passed=peak <= RSS_MB, note=f"RSS at the end {rss:.0f} MB"),
        Result("item GET with the subscribers", max(shared), "req/s", max(alone), "req/s without them",
               f">= {GET_RATIO:.2f}", ratio >= GET_RATIO,
               note="runs " + "/".join(f"{v:,.0f}" for v in shared) + " vs " + "/".join(f"{v:,.0f}" for v in alone)
               + f"; both under the same churn; {missing} answers were 404 (machines the churn removed)"),
    ]


if __name__ == "__main__":
    for result in run():
        print(result.line())
