"""Failover under load on PostgreSQL: the leading watcher is killed while clients read through the API; the
hot standby takes over within 15 s, no request gets a 5xx, and the log stays gap-free. Real processes:
the simulator, two watchers, ``serve`` with two workers, an HTTP load from a thread."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from models import migrate
from tests.api_support import serve
from tests.test_watcher_e2e import (  # noqa: F401 - reap_watchers is an autouse fixture
    ReadModel,
    WatcherProcess,
    reap_watchers,
    start_simulator,
    wait_converged,
    wait_until,
)

pytestmark = pytest.mark.postgres
TAKEOVER_LIMIT = 15.0  # seconds: the deployment promise, not a performance figure
PATHS = ("/api/v1/machines?limit=20", "/api/v1/clusters", "/api/v1/machinesets", "/api/v1/machines?limit=5&sort=-updated")


class Load:
    """GETs in a loop from a thread until stopped; counts statuses."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            i = 0
            while not self._stop.is_set():
                try:
                    self.statuses[client.get(PATHS[i % len(PATHS)]).status_code] += 1
                except httpx.HTTPError as exc:  # a refused or broken connection is a failure too
                    self.errors.append(repr(exc))
                i += 1

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_standby_takes_over_under_api_load_without_5xx(pg_url, tmp_path) -> None:
    model = ReadModel(pg_url)
    migrate.upgrade(model.engine)
    simulator = start_simulator(machines=40, clusters=3, seed=17)
    try:
        leader = WatcherProcess(pg_url, simulator.address, tmp_path)
        leader.wait_for_log("all streams bootstrapped")
        standby = WatcherProcess(pg_url, simulator.address, tmp_path)
        standby.wait_for_log("standby: another watcher holds the writer lock")
        simulator.call(simulator.simulator.set_churn_rate, 100)
        with serve(pg_url, "--workers", "2") as base, Load(base) as load:
            wait_until(lambda: sum(load.statuses.values()) >= 50, what="the load to get going")
            before = sum(load.statuses.values())
            leader.kill()
            standby.wait_for_log("writer for", timeout=TAKEOVER_LIMIT)
            wait_until(lambda: model.scalar("SELECT writer_epoch FROM meta") == 2, what="the standby's epoch")
            # the new leader commits: the head moves on while the load keeps reading
            head = model.scalar("SELECT head_revision FROM meta")
            wait_until(lambda: model.scalar("SELECT head_revision FROM meta") > head, what="new commits")
            wait_until(lambda: sum(load.statuses.values()) >= before + 50, what="reads after the takeover")
        simulator.call(simulator.simulator.set_churn_rate, 0)
        assert not load.errors, load.errors[:5]
        assert set(load.statuses) == {200}, load.statuses
        wait_converged(model, simulator)
        assert standby.terminate() == 0
        model.check_log()  # gap-free revisions, no duplicate rows
    finally:
        simulator.stop()
        model.dispose()
