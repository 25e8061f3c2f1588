"""Reporting views and reports over a scripted history written by the real Writer (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import migrate, rebuild, reporting, reports
from models.db import create_engine
from tests.reporting_history import ScriptedWriter, write_history

NOW = datetime(2026, 11, 6, tzinfo=UTC)


def scripted_engine(url: str) -> sa.Engine:
    engine = create_engine(url)
    migrate.upgrade(engine)
    writer = ScriptedWriter(engine)
    writer.take_over("script")
    write_history(writer)
    writer.close()
    return engine


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = scripted_engine(db_url)
    yield engine
    engine.dispose()


def report(engine: sa.Engine, name: str, **values: str) -> list[dict]:
    chosen = reports.get(name)
    params = reports.parse_params(chosen, values, now=NOW)
    with engine.connect() as conn:
        return reports.run(conn, chosen, params).rows


def test_machine_count_per_day(engine) -> None:
    assert report(engine, "machine-count", since="2026-10-31", until="2026-11-06") == [
        {"day": "2026-11-01", "machines": 3, "connected": 3},
        {"day": "2026-11-02", "machines": 3, "connected": 2},
        {"day": "2026-11-03", "machines": 3, "connected": 2},
        {"day": "2026-11-04", "machines": 2, "connected": 2},
        {"day": "2026-11-05", "machines": 3, "connected": 3},
    ]
    assert [r["machines"] for r in report(engine, "machine-count", since="2026-11-01", until="2026-11-06",
                                          cluster="prod")] == [2, 2, 2, 2, 2]
    # an age counts back from now
    assert [r["day"] for r in report(engine, "machine-count", since="2d", until="2026-11-06")] == [
        "2026-11-04", "2026-11-05"]


def test_talos_and_kubernetes_versions_per_day(engine) -> None:
    rows = report(engine, "talos-versions", since="2026-11-02", until="2026-11-06")
    assert [(r["day"], r["talos_version"], r["machines"]) for r in rows] == [
        ("2026-11-02", "v1.8.0", 3),
        ("2026-11-03", "v1.8.0", 1), ("2026-11-03", "v1.9.0", 2),
        ("2026-11-04", "v1.9.0", 2),
        ("2026-11-05", "v1.9.0", 3),
    ]
    rows = report(engine, "kubernetes-versions", since="2026-11-02", until="2026-11-04", cluster="prod")
    assert [(r["day"], r["kubernetes_version"], r["machines"]) for r in rows] == [
        ("2026-11-02", "1.31.0", 2), ("2026-11-03", "1.32.0", 2)]


def test_flapping(engine) -> None:
    assert report(engine, "flapping") == [
        {"machine": "m3", "hostname": "", "cluster": "", "connected_changes": 3, "ready_changes": 0,
         "changes": 3, "last_change": "2026-11-02T10:00:00Z"},
        {"machine": "m1", "hostname": "host-m1", "cluster": "prod", "connected_changes": 0, "ready_changes": 2,
         "changes": 2, "last_change": "2026-11-02T11:30:00Z"},
    ]
    assert [r["changes"] for r in report(engine, "flapping", since="2026-11-02T08:30:00Z",
                                         until="2026-11-02T11:15:00Z")] == [2, 1]
    assert [r["machine"] for r in report(engine, "flapping", cluster="prod")] == ["m1"]


def test_upgrades(engine) -> None:
    assert report(engine, "upgrades") == [
        {"cluster": "prod", "component": "talos", "from_version": "v1.8.0", "to_version": "v1.9.0",
         "machines": 2, "started": "2026-11-03T12:00:00Z", "finished": "2026-11-03T12:10:00Z",
         "duration_seconds": 600.0},
        {"cluster": "prod", "component": "kubernetes", "from_version": "1.31.0", "to_version": "1.32.0",
         "machines": 2, "started": "2026-11-03T14:00:00Z", "finished": "2026-11-03T14:05:00Z",
         "duration_seconds": 300.0},
    ]
    assert report(engine, "upgrades", until="2026-11-03T13:00:00Z")[0]["to_version"] == "v1.9.0"
    assert len(report(engine, "upgrades", until="2026-11-03T13:00:00Z")) == 1
    assert report(engine, "upgrades", cluster="other") == []


def test_inventory_now_and_at_a_time(engine) -> None:
    rows = report(engine, "inventory")
    assert [r["machine"] for r in rows] == ["m1", "m2", "m4"]
    assert rows[0] == {"machine": "m1", "hostname": "host-m1", "cluster": "prod", "machine_set": "prod-workers",
                       "role": "WORKER", "talos_version": "v1.9.0", "kubernetes_version": "1.32.0",
                       "platform": "metal", "arch": "amd64", "cpu_cores": 8, "memory_mb": 16384, "disks": 2,
                       "disk_bytes": 1_500_000_000, "connected": True, "power_state": "POWER_STATE_ON"}
    assert rows[2]["kubernetes_version"] == "" and rows[2]["cluster"] == "" and rows[2]["role"] == "NONE"
    past = report(engine, "inventory", until="2026-11-02T12:00:00Z")
    assert [(r["machine"], r["connected"], r["talos_version"]) for r in past] == [
        ("m1", True, "v1.8.0"), ("m2", True, "v1.8.0"), ("m3", False, "v1.8.0")]


def test_an_empty_interval_is_an_empty_report(engine) -> None:
    for name in ("machine-count", "flapping", "upgrades"):
        assert report(engine, name, since="2026-11-05", until="2026-11-01") == []


def test_limit_truncates_and_says_so(engine) -> None:
    chosen = reports.get("machine-count")
    with engine.connect() as conn:
        result = reports.run(conn, chosen, reports.parse_params(chosen, {"limit": "2"}))
    assert len(result.rows) == 2 and result.truncated


@pytest.mark.parametrize(("values", "parameter", "message"), [
    ({"since": "yesterday"}, "since", "is not an age"),
    ({"since": "٣d"}, "since", "must be ASCII"),
    ({"cluster": "a\x00b"}, "cluster", "without NUL"),
    ({"limit": "0"}, "limit", "from 1 to"),
    ({"limit": "x"}, "limit", "from 1 to"),
])
def test_bad_parameters(values, parameter, message) -> None:
    with pytest.raises(reports.ReportError, match=message) as caught:
        reports.parse_params(reports.get("machine-count"), values)
    assert caught.value.parameter == parameter


def test_inventory_refuses_since_and_unknown_reports() -> None:
    with pytest.raises(reports.ReportError, match="does not take since"):
        reports.parse_params(reports.get("inventory"), {"since": "1d"})
    with pytest.raises(reports.ReportError, match="unknown report 'nope'; known: machine-count"):
        reports.get("nope")


def test_history_views_state_at_time(engine) -> None:
    """valid_from/valid_to: the documented state-at-T predicate picks one version, none when destroyed."""
    query = ("SELECT id, connected FROM history_machines WHERE valid_from <= :t "
             "AND (valid_to > :t OR valid_to IS NULL) ORDER BY id")

    def at(when: str) -> list[tuple]:
        bound = reports._bind_time(engine.dialect.name, datetime.fromisoformat(when).replace(tzinfo=UTC))
        with engine.connect() as conn:
            return [(r.id, bool(r.connected)) for r in conn.execute(sa.text(query), {"t": bound})]

    assert at("2026-11-02T08:30:00") == [("m1", True), ("m2", True), ("m3", False)]
    assert at("2026-11-02T09:30:00") == [("m1", True), ("m2", True), ("m3", True)]
    assert at("2026-11-04T09:00:00") == [("m1", True), ("m2", True)]
    with engine.connect() as conn:
        events = [r.event for r in conn.execute(sa.text(
            "SELECT event FROM history_machines WHERE id = 'm3' ORDER BY revision"))]
    assert events == ["created", "updated", "updated", "updated", "destroyed"]


def test_daily_fleet(engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT day, subject, dimension, value, count FROM daily_fleet "
            "WHERE day <= '2026-11-03' ORDER BY day, subject, dimension, value")).fetchall()
    assert [(str(r[0])[:10], r[1], r[2], r[3], int(r[4])) for r in rows] == [
        ("2026-11-01", "clusters", "phase", "RUNNING", 1),
        ("2026-11-01", "clusters", "total", "", 1),
        ("2026-11-01", "machines", "connected", "", 3),
        ("2026-11-01", "machines", "talos_version", "v1.8.0", 3),
        ("2026-11-01", "machines", "total", "", 3),
        ("2026-11-02", "clusters", "phase", "RUNNING", 1),
        ("2026-11-02", "clusters", "total", "", 1),
        ("2026-11-02", "machines", "connected", "", 2),
        ("2026-11-02", "machines", "talos_version", "v1.8.0", 3),
        ("2026-11-02", "machines", "total", "", 3),
        ("2026-11-03", "clusters", "phase", "RUNNING", 1),
        ("2026-11-03", "clusters", "total", "", 1),
        ("2026-11-03", "machines", "connected", "", 2),
        ("2026-11-03", "machines", "talos_version", "v1.8.0", 1),
        ("2026-11-03", "machines", "talos_version", "v1.9.0", 2),
        ("2026-11-03", "machines", "total", "", 3),
    ]


# -- the same log on both databases -------------------------------------------------------------------

_TIMES = {"created", "updated", "observed_at", "valid_from", "valid_to", "day_start", "day_end"}
_JSON = {"labels"} | {c.name for v in reporting.VIEWS for c in v.columns if c.type == reporting.JSON}
_BOOLS = {c.name for v in reporting.VIEWS for c in v.columns if c.type in (reporting.BOOL, reporting.EXISTS)}


def _normal(name: str, value):
    if value is None:
        return None
    if name in _TIMES or (isinstance(value, datetime)):
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).isoformat()
    if name in ("day", "week", "observed_day"):
        return value.isoformat() if isinstance(value, date) else value
    if name in _JSON:
        return json.loads(value) if isinstance(value, str) else value
    if name in _BOOLS:
        return bool(value)
    if isinstance(value, Decimal):
        return int(value)
    return value


def view_rows(engine: sa.Engine, name: str) -> list[tuple]:
    with engine.connect() as conn:
        result = conn.execute(sa.text(f"SELECT * FROM {name}"))  # noqa: S608 - a declared view name
        keys = list(result.keys())
        rows = [tuple(json.dumps(_normal(k, v), sort_keys=True) for k, v in zip(keys, row, strict=True))
                for row in result]
    return sorted(rows)


@pytest.mark.postgres
def test_views_return_the_same_rows_on_both_databases(sqlite_url, pg_url) -> None:
    lite, pg = scripted_engine(sqlite_url), scripted_engine(pg_url)
    try:
        for name in reporting.view_names():
            assert view_rows(lite, name) == view_rows(pg, name), name
        assert len(view_rows(lite, "history_machines")) > 10
        for name in reports.REPORTS:
            assert report(lite, name) == report(pg, name), name
    finally:
        lite.dispose()
        pg.dispose()


# -- current_* views against the API's documents, after a real watcher followed the simulator -----------

def _api_value(document: dict, path: str):
    value = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _typed(column: reporting.Column, value):
    if column.type in (reporting.BOOL, reporting.EXISTS):
        return bool(value)
    if column.type == reporting.JSON:
        return json.loads(value) if isinstance(value, str) else value
    return value


def test_current_views_match_the_api_collections(db_url, tmp_path) -> None:
    from tests.test_watcher_e2e import ReadModel, WatcherProcess, start_simulator, wait_converged

    sim = start_simulator(machines=30, clusters=3, seed=5)
    model = ReadModel(db_url)
    watcher = WatcherProcess(db_url, sim.address, tmp_path)
    try:
        wait_converged(model, sim)
        sim.call(sim.simulator.apply_churn, 300)
        wait_converged(model, sim)
        assert watcher.terminate() == 0, watcher.log()
        engine = model.engine
        with engine.connect() as conn:  # rebuild --check on what the real watcher wrote
            assert list(rebuild.differences(conn, rebuild.expected(conn))) == []
        compared = 0
        for view in reporting.VIEWS:
            kind = reporting.catalog.by_name(view.kind)
            with engine.connect() as conn:
                documents = {r.id: json.loads(r.document, strict=False) for r in conn.execute(sa.text(
                    "SELECT id, document FROM resources WHERE namespace = :ns AND type = :type"),
                    {"ns": kind.namespace, "type": kind.type})}
                current = {r.id: r._mapping for r in conn.execute(sa.text(f"SELECT * FROM {view.current}"))}  # noqa: S608
                latest = {r.id: r._mapping for r in conn.execute(sa.text(
                    f"SELECT * FROM {view.history} WHERE valid_to IS NULL"))}  # noqa: S608
            assert set(current) == set(documents) == set(latest), view.name
            for id_, row in current.items():
                for column in view.columns:
                    value = row[column.name]
                    if column.type != reporting.TIME:
                        assert value is not None, (view.name, id_, column.name)
                    assert _typed(column, value) == _typed(column, latest[id_][column.name]), (view.name, column.name)
                    if column.api:
                        shown = _api_value(documents[id_], column.api)
                        expected = column.proto3_default if shown is None else shown
                        if column.type == reporting.JSON:
                            expected = json.loads(expected) if isinstance(expected, str) else expected
                        assert _typed(column, value) == expected, (view.name, id_, column.name)
                        compared += 1
                for common in ("namespace", "phase"):
                    assert row[common] == latest[id_][common]
                assert _normal("updated", row["updated"]) == _normal("updated", latest[id_]["updated"])
                assert _normal("labels", row["labels"]) == documents[id_]["metadata"]["labels"]
        assert compared > 500
    finally:
        watcher.kill() if watcher.process.poll() is None else None
        model.dispose()
        sim.stop()


# -- docs/reporting.md -------------------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "reporting.md"


def worked_queries() -> list[str]:
    text = DOC.read_text()
    section = text[text.index("## Worked queries"):text.index("## Reports")]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def test_docs_name_every_view_and_column() -> None:
    text = DOC.read_text()
    for name in reporting.view_names():
        assert f"`{name}`" in text, name
    for view in reporting.VIEWS:
        section = text[text.index(f"### `{view.current}` / `{view.history}`"):]
        section = section[:section.index("\n### ", 1)] if "\n### " in section[1:] else section
        for column in view.columns:
            assert f"| `{column.name}` |" in section, (view.name, column.name)


def test_the_worked_queries_answer_on_the_scripted_history(engine) -> None:
    queries = worked_queries()
    assert len(queries) == 4
    with engine.connect() as conn:
        answers = [[tuple(r) for r in conn.execute(sa.text(q.strip().rstrip(";")))] for q in queries]
    by_version, flapped, upgrades, weekly = answers
    assert [(str(d)[:10], v, int(n)) for d, v, n in by_version[:2]] == [
        ("2026-11-01", "v1.8.0", 3), ("2026-11-02", "v1.8.0", 3)]
    assert [(m, int(n)) for m, n, _ in flapped] == [("m3", 3)]
    assert [(c, a, b, int(n), float(s)) for c, a, b, n, _, _, s in upgrades] == [
        ("prod", "v1.8.0", "v1.9.0", 2, 600.0)]
    assert [(str(w)[:10], int(a), int(r)) for w, a, r in weekly] == [
        ("2026-10-26", 3, 0), ("2026-11-02", 1, 1)]
