"""One writer on PostgreSQL: a hot standby takes over from a dead leader, and a deposed leader that wakes
up cannot commit (the fencing epoch). Real processes, a real simulator, a real PostgreSQL."""

from __future__ import annotations

import signal

import pytest
import sqlalchemy as sa

from models import migrate
from tests.test_watcher_e2e import (  # noqa: F401 - reap_watchers is an autouse fixture
    ReadModel,
    WatcherProcess,
    reap_watchers,
    start_simulator,
    wait_converged,
    wait_until,
)

pytestmark = pytest.mark.postgres


def named(url: str, name: str) -> str:
    """The URL with an application_name, so the test can find each watcher's sessions."""
    return str(sa.engine.make_url(url).update_query_dict({"application_name": name}))


@pytest.fixture
def model(pg_url: str):
    reader = ReadModel(pg_url)
    migrate.upgrade(reader.engine)
    yield reader
    reader.dispose()


@pytest.fixture
def simulator():
    sim = start_simulator(machines=40, clusters=3, seed=13)
    yield sim
    sim.stop()


def test_standby_takes_over_when_the_leader_dies(pg_url, model, simulator, tmp_path) -> None:
    leader = WatcherProcess(named(pg_url, "leader"), simulator.address, tmp_path)
    leader.wait_for_log("all streams bootstrapped")
    standby = WatcherProcess(named(pg_url, "standby"), simulator.address, tmp_path)
    standby.wait_for_log("standby: another watcher holds the writer lock")
    simulator.call(simulator.simulator.set_churn_rate, 100)
    leader.kill()
    standby.wait_for_log("writer for")
    simulator.call(simulator.simulator.set_churn_rate, 0)
    wait_converged(model, simulator)
    assert standby.terminate() == 0
    model.check_log()
    assert model.scalar("SELECT writer_epoch FROM meta") == 2


def test_a_paused_deposed_leader_cannot_commit(pg_url, model, simulator, tmp_path) -> None:
    # The leader checks its lock rarely, so that after waking up it tries to commit before it could notice
    # the lost lock: the fence in the commit itself must refuse it.
    leader = WatcherProcess(named(pg_url, "leader"), simulator.address, tmp_path, "--lock-check-interval", "600")
    leader.wait_for_log("all streams bootstrapped")
    standby = WatcherProcess(named(pg_url, "standby"), simulator.address, tmp_path)
    standby.wait_for_log("standby: another watcher holds the writer lock")
    simulator.call(simulator.simulator.set_churn_rate, 100)
    leader.signal(signal.SIGSTOP)
    # The leader's sessions die (as after a network partition): the lock is free, the standby takes over
    # and bumps the epoch while the old leader still believes it leads.
    terminated = model.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE application_name = 'leader'")
    assert terminated >= 2  # the lock session and the write session
    standby.wait_for_log("writer for")
    wait_until(lambda: model.scalar("SELECT writer_epoch FROM meta") == 2, what="the new epoch")
    standby_id = model.scalar("SELECT writer_id FROM meta")
    assert standby_id.endswith(f":{standby.pid}")
    leader.signal(signal.SIGCONT)
    # It wakes up with events to write, reconnects, and its commit is refused by the fence: it stops.
    assert leader.wait() == 1
    log = leader.log()
    assert "writer epoch 1 is no longer current" in log, log
    assert "the session holding the writer lock" not in log, log  # refused by the fence, not by a lock check
    assert "projection" not in log, log  # the dead connection fails the batch, never a document
    simulator.call(simulator.simulator.set_churn_rate, 0)
    wait_converged(model, simulator)
    assert standby.terminate() == 0
    model.check_log()
    # Every commit since the takeover is the standby's: the epoch and the writer are still its own.
    assert model.scalar("SELECT writer_epoch FROM meta") == 2
    assert model.scalar("SELECT writer_id FROM meta") == standby_id
