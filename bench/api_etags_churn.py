"""The 304 rate a dashboard polling ``/api/v1/clusters`` gets while machines churn at 200 events/s.

Simulator -> watcher -> SQLite -> ``omni-readmodel serve``, all real subprocesses. A client polls the
cluster list every ``BENCH_ETAGS_POLL`` seconds with the ETag of its last answer in ``If-None-Match``;
target: >= 95 % of those conditional requests answered 304. Twice:

- machines flapping (``bench._machine_flaps``: disconnect/reconnect, not ready/ready; machine, status,
  cluster machine, cluster and machine set statuses change, never a Cluster): every poll should be a 304;
- the whole fleet churning (the simulator's ``/churn``).

The simulator's churn is fleet-wide: most events are machine kinds, but clusters are created, destroyed and
upgraded too (a few per minute), and then the list really changes. So each 200's body is compared with the
body the client already held: a 200 with a different body was earned; a 200 with the same body is an ETag
that moved for nothing. The second figure is the 304 rate over the polls where the list had not changed
(what the ETag decides); the first also depends on how often clusters change and on the poll interval.
The events the watcher wrote in the window are counted per kind from the log, to show what churned.
Run: ``python -m bench api_etags_churn``.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench import Result, setting
from bench._watcher import REPO, Simulator, Watcher, _read_line, _stop
from bench.api_http import api_server
from omni_client.signing import new_service_account

MACHINES = int(setting("BENCH_ETAGS_MACHINES", 2000, 200))
RATE = float(setting("BENCH_ETAGS_RATE", 200, 100))
SECONDS = float(setting("BENCH_ETAGS_SECONDS", 60, 10))
POLL = float(setting("BENCH_ETAGS_POLL", 0.25, 0.25))
TARGET = 0.95
PATH = "/api/v1/clusters"


def run() -> list[Result]:
    return measure("machines flapping", MachineFlaps) + measure("whole fleet churning", Simulator)


class MachineFlaps:
    """``bench._machine_flaps`` as a subprocess, shaped like ``bench._watcher.Simulator`` for the watcher."""

    def __init__(self, workdir: Path, machines: int, clusters: int) -> None:
        self.key_value, public_key = new_service_account("bench", None)
        key_file = workdir / "bench-public.asc"
        key_file.write_text(public_key)
        command = [sys.executable, "-m", "bench._machine_flaps", "--machines", str(machines), "--clusters",
                   str(clusters), "--rate", str(RATE), "--service-account-public-key", str(key_file)]
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
        line = _read_line(self.process, timeout=600)
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"bench._machine_flaps did not start: {line!r}")
        self.address = line.split()[2]

    def churn(self, start: bool) -> None:
        if start:
            self.process.send_signal(signal.SIGUSR1)

    def stop(self) -> None:
        _stop(self.process)


def measure(what: str, simulator_class: type) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-etags-") as tmp:
        workdir = Path(tmp)
        db = workdir / "readmodel.db"
        simulator = simulator_class(workdir, MACHINES, max(2, MACHINES // 50))
        churn = getattr(simulator, "churn", None) or (
            lambda start: simulator.control("POST", f"/churn?rate={RATE if start else 0}"))
        try:
            watcher = Watcher(workdir, f"sqlite:///{db}", simulator, "--migrate")
            try:
                watcher.wait_for("all streams bootstrapped")
                with api_server(f"sqlite:///{db}") as api:
                    churn(True)
                    time.sleep(2)  # let the rate settle
                    first = _head(db)
                    polls = _poll(api)
                    last = _head(db)
                    churn(False)
                    kinds = _events_by_kind(db, first, last)
            finally:
                watcher.stop()
        finally:
            simulator.stop()
    statuses = Counter(status for status, _ in polls)
    conditional = statuses[304] + statuses[200]
    earned = sum(1 for status, changed in polls if status == 200 and changed)
    unchanged = conditional - earned  # polls where the list had not changed: a perfect ETag answers 304
    rate = statuses[304] / conditional if conditional else float("nan")
    rate_unchanged = statuses[304] / unchanged if unchanged else float("nan")
    events = sum(kinds.values())
    top = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common(5))
    return [
        Result(f"304 rate polling {PATH} every {POLL:g} s, {what}", rate * 100, "%",
               target=f">= {TARGET * 100:.0f} %", passed=rate >= TARGET,
               note=f"{conditional} conditional requests: {statuses[304]} x 304, {statuses[200]} x 200 "
                    f"({earned} with a changed body, {statuses[200] - earned} unchanged); {events:,} events "
                    f"at {events / SECONDS:,.0f} events/s, of which Clusters {kinds['Clusters']}; top: {top}"),
        Result(f"304 rate on {PATH} when the list had not changed, {what}", rate_unchanged * 100, "%",
               target=f">= {TARGET * 100:.0f} %", passed=rate_unchanged >= TARGET,
               note=f"{unchanged} polls with nothing new (the ceiling of any correct ETag: "
                    f"{unchanged / conditional * 100:.1f} % of polls)"),
    ]


def _poll(api: str) -> list[tuple[int, bool]]:
    """(status, whether a 200's body differs from the one held) for each conditional request."""
    results: list[tuple[int, bool]] = []
    with httpx.Client(base_url=api) as client:
        first = client.get(PATH)
        first.raise_for_status()
        etag, body = first.headers["etag"], first.content
        started = time.monotonic()
        while time.monotonic() - started < SECONDS:
            time.sleep(POLL)
            response = client.get(PATH, headers={"If-None-Match": etag})
            if response.status_code == 200:
                results.append((200, response.content != body))
                etag, body = response.headers["etag"], response.content
            elif response.status_code == 304:
                results.append((304, False))
            else:
                raise RuntimeError(f"{PATH}: {response.status_code} {response.text[:200]}")
    return results


def _head(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT head_revision FROM meta").fetchone()[0]


def _events_by_kind(db: Path, first: int, last: int) -> Counter:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT type, count(*) FROM events WHERE revision > ? AND revision <= ? GROUP BY type",
                            (first, last)).fetchall()
    return Counter({type_.split(".")[0]: n for type_, n in rows})


if __name__ == "__main__":
    for result in run():
        print(result.line())
