"""A restarted simulator serves the same initial fleet: same ids, specs, versions and timestamps for a seed,
whatever the clock says, so a watcher on the same database records nothing for the unchanged fleet."""

from __future__ import annotations

import json

from simulator.app import Simulator
from simulator.export import export_lines
from simulator.fleet import DAY, EPOCH_NS
from tests.simulator_fixtures import START_NS
from tests.test_watcher_e2e import ReadModel, WatcherProcess, reap_watchers, start_simulator, wait_converged

__all__ = ["reap_watchers"]  # the fixture, imported so it runs here too


def _wire_dump(simulator: Simulator) -> list[bytes]:
    """Every resource's serialized cosi Resource (metadata with created/updated included), in order."""
    store = simulator.store
    return [res.wire for key in sorted(store.collections) for res in store.collections[key].sorted_items()]


def test_same_seed_gives_the_same_initial_fleet_at_any_clock() -> None:
    early = Simulator(seed=5, clusters=4, machines=60, clock=lambda: START_NS)
    late = Simulator(seed=5, clusters=4, machines=60, clock=lambda: START_NS + 400 * DAY)
    assert list(export_lines(early.store)) == list(export_lines(late.store))
    early_wire, late_wire = _wire_dump(early), _wire_dump(late)
    assert len(early_wire) > 500
    assert early_wire == late_wire
    created = {res.created for res in early.store.all_resources()}
    assert max(created) <= EPOCH_NS


def test_another_seed_gives_another_fleet() -> None:
    one = Simulator(seed=5, clusters=4, machines=60)
    other = Simulator(seed=6, clusters=4, machines=60)
    assert _wire_dump(one) != _wire_dump(other)


def test_watcher_records_nothing_for_an_unchanged_fleet_after_restarts(db_url, tmp_path) -> None:
    model = ReadModel(db_url)
    simulator = start_simulator(seed=21)
    try:
        watcher = WatcherProcess(db_url, simulator.address, tmp_path)
        first = wait_converged(model, simulator)
        assert watcher.terminate() == 0, watcher.log()
    finally:
        simulator.stop()
    head = model.check_log()
    assert head > 400

    restarted = start_simulator(seed=21)  # a new process-like instance: new bookmark cookie, later clock
    try:
        watcher = WatcherProcess(db_url, restarted.address, tmp_path)
        assert wait_converged(model, restarted) == first
        watcher.wait_for_log("all streams bootstrapped")
        assert watcher.terminate() == 0, watcher.log()
        # the watcher logs in the format every process uses (models/logs.py): JSON lines off a terminal
        records = [json.loads(line) for line in watcher.log().splitlines()]
        assert all(set(record) >= {"time", "level", "logger", "msg"} for record in records)
    finally:
        restarted.stop()
    try:
        assert model.check_log() == head
        assert model.rows("SELECT event, count(*) FROM events WHERE revision > :head GROUP BY event",
                          head=head) == []
    finally:
        model.dispose()
