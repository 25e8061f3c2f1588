"""The API on a PostgreSQL streaming-replication standby: a primary and a ``pg_basebackup`` standby of the
test's own (tests/pg_cluster.py), the real watcher writing to the primary from the real simulator, a real
``serve`` reading from the standby. ``?min_revision=`` gives read-your-writes across the replication lag
and ``/readyz`` reports the replica's lag."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models import migrate
from tests.api_support import serve
from tests.pg_cluster import PgCluster
from tests.test_watcher_e2e import (  # noqa: F401 - reap_watchers is an autouse fixture
    ReadModel,
    WatcherProcess,
    reap_watchers,
    start_simulator,
    wait_until,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def clusters() -> Iterator[tuple[PgCluster, PgCluster]]:
    with PgCluster.workspace() as root:
        primary = PgCluster.primary(root)
        standby = None
        try:
            primary.sql("CREATE DATABASE readmodel")
            standby = primary.standby(root)
            yield primary, standby
        finally:
            for cluster in (standby, primary):
                if cluster is not None:
                    cluster.stop()


def test_api_on_a_standby_reads_its_writes_with_min_revision(clusters, tmp_path: Path) -> None:
    primary, standby = clusters
    model = ReadModel(primary.url("readmodel"))
    migrate.upgrade(model.engine)
    simulator = start_simulator(machines=30, clusters=3, seed=21)
    watcher = WatcherProcess(primary.url("readmodel"), simulator.address, tmp_path)
    try:
        watcher.wait_for_log("all streams bootstrapped")
        with serve(primary.url("readmodel")) as on_primary, serve(standby.url("readmodel")) as on_standby:
            ready = httpx.get(on_standby + "/readyz", timeout=30).json()
            assert ready["replica_lag_seconds"] >= 0
            assert "replica_lag_seconds" not in httpx.get(on_primary + "/readyz", timeout=30).json()

            simulator.call(simulator.simulator.set_churn_rate, 200)
            for _ in range(5):
                # a revision the primary has committed: the standby answers at least that new state
                head = int(model.scalar("SELECT head_revision FROM meta"))
                answer = httpx.get(f"{on_standby}/api/v1/machines?min_revision={head}", timeout=30)
                assert answer.status_code == 200, answer.text
                assert int(answer.headers["x-readmodel-revision"]) >= head
            simulator.call(simulator.simulator.set_churn_rate, 0)

            # once the churn stops both answer the same thing at the same revision
            settled = wait_until(lambda: _settled(model), what="the watcher to go quiet")
            for path in ("/api/v1/machines", "/api/v1/clusters", "/api/v1/machinesets?limit=5"):
                primary_answer = httpx.get(f"{on_primary}{path}", timeout=30)
                standby_answer = httpx.get(f"{on_standby}{path}{'&' if '?' in path else '?'}min_revision={settled}",
                                           timeout=30)
                assert standby_answer.status_code == primary_answer.status_code == 200
                assert standby_answer.headers["x-readmodel-revision"] == str(settled)
                # the same documents; only the _links' base URL (each server's own port) differs
                assert standby_answer.text.replace(on_standby, "BASE") == primary_answer.text.replace(on_primary, "BASE")
            assert httpx.get(on_standby + "/readyz", timeout=30).json()["replica_lag_seconds"] == 0

            # the standby is read-only, and says so only in its logs: a client just reads
            with pytest.raises(RuntimeError, match="read-only"):
                standby.sql("CREATE TABLE nope (x int)", "readmodel")
    finally:
        watcher.terminate()
        simulator.stop()
        model.dispose()


def _settled(model: ReadModel) -> int | None:
    """The head revision once it has not moved for a moment (None while the watcher still commits)."""
    first = int(model.scalar("SELECT head_revision FROM meta"))
    time.sleep(0.5)
    return first if int(model.scalar("SELECT head_revision FROM meta")) == first else None
