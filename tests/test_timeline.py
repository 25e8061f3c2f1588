"""``models.timeline`` and ``GET /api/v1/timeline``: state runs per resource and bucket from the history
views, filters, sorts and pages; the HTTP layer's strict parameters; the page's files at ``/ui/``.

The log is written by the watcher's own writer; its observed times are then set to one minute per
revision (a test fixture's edit of the log) so buckets are exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api import selectors
from api import timeline as timeline_api
from models import timeline
from models.schema import event_log
from tests.api_support import T0, ReadModel, resource, serve

MINUTE = timedelta(minutes=1)
LABEL = {"omni.sidero.dev/cluster": "c1"}


def _fleet(url: str) -> ReadModel:
    """Revisions: 1 m1 created connected, 2 m2 created connected, 3 m3 created disconnected (labels
    env=dev), 4 MachineStatus m1 (cluster c1), 5 m1 disconnected, 6 m2 destroyed, 7 m1 connected,
    8 m3 connected, 9 MachineStatus m3 in maintenance; revision r observed at T0 + r minutes."""
    model = ReadModel(url)
    model.bootstrap_streams()
    model.apply([resource("Machine", "m1", {"connected": True}, labels={"env": "prod"})])
    model.apply([resource("Machine", "m2", {"connected": True}, labels={"env": "prod"})])
    model.apply([resource("Machine", "m3", {}, labels={"env": "dev"})])
    model.apply([resource("MachineStatus", "m1", {"cluster": "c1"}, labels=LABEL)])
    model.apply([resource("Machine", "m1", {}, labels={"env": "prod"})])
    model.apply([("default", "Machines.omni.sidero.dev", "m2")])
    model.apply([resource("Machine", "m1", {"connected": True}, labels={"env": "prod"})])
    model.apply([resource("Machine", "m3", {"connected": True}, labels={"env": "dev"}),
                 resource("MachineStatus", "m3", {"maintenance": True})])
    with model.engine.begin() as conn:
        for revision in range(1, model.revision + 1):
            conn.execute(sa.update(event_log).where(event_log.c.revision == revision)
                         .values(observed_at=T0 + revision * MINUTE))
    return model


@pytest.fixture
def fleet(db_url: str) -> Iterator[ReadModel]:
    model = _fleet(db_url)
    try:
        yield model
    finally:
        model.close()


def _compute(model: ReadModel, **options) -> dict:
    query = timeline.Query("machines", options.pop("start", T0), options.pop("end", T0 + 10 * MINUTE),
                           buckets=options.pop("buckets", 10), **options)
    with model.engine.connect() as conn:
        return timeline.compute(conn, query).document()


def test_runs_ticks_and_destroyed_rows(fleet: ReadModel) -> None:
    found = _compute(fleet)
    assert found["states"] == ["connected", "maintenance", "disconnected"]
    assert found["total"] == 3 and found["current"] == {"connected": 1, "maintenance": 1, "disconnected": 0}
    rows = {row["id"]: row for row in found["rows"]}
    assert list(rows) == ["m1", "m2", "m3"]
    # m1: connected from 1, disconnected from 5, connected from 7; versions at 1, 4 (its status), 5, 7
    assert rows["m1"]["segments"] == [[1, 5, 0], [5, 7, 2], [7, 10, 0]]
    assert rows["m1"]["ticks"] == [[1, 1], [4, 1], [5, 1], [7, 1]]
    assert (rows["m1"]["changes"], rows["m1"]["state"], rows["m1"]["destroyed"]) == (4, "connected", None)
    # m2: connected from 2 until destroyed at 6 (the start of bucket 6)
    assert rows["m2"]["segments"] == [[2, 6, 0]] and rows["m2"]["ticks"] == [[2, 1], [6, 1]]
    assert rows["m2"]["state"] is None and rows["m2"]["destroyed"].startswith("2025-01-01T00:06:00")
    # m3: disconnected from 3, connected at 8, in maintenance (its status) at 9
    assert rows["m3"]["segments"] == [[3, 8, 2], [8, 9, 0], [9, 10, 1]]
    assert rows["m3"]["ticks"] == [[3, 1], [8, 1], [9, 1]]
    assert rows["m1"]["first_seen"].startswith("2025-01-01T00:01:00")


def test_a_window_inside_the_history(fleet: ReadModel) -> None:
    """From minute 5.5 to 7.5 in 4 buckets of 30 s: m2 is gone (destroyed at 6, inside), m1 starts
    disconnected (its version from 5) and turns connected at 7."""
    found = _compute(fleet, start=T0 + 5.5 * MINUTE, end=T0 + 7.5 * MINUTE, buckets=4)
    rows = {row["id"]: row for row in found["rows"]}
    assert rows["m1"]["segments"] == [[0, 3, 2], [3, 4, 0]] and rows["m1"]["ticks"] == [[3, 1]]
    assert rows["m2"]["segments"] == [[0, 1, 0]] and rows["m2"]["ticks"] == [[1, 1]]  # gone at 6.0
    assert rows["m3"]["segments"] == [[0, 4, 2]] and rows["m3"]["changes"] == 0
    # before m3 existed, and after m2 was destroyed: neither is a row
    assert [r["id"] for r in _compute(fleet, start=T0, end=T0 + 2.5 * MINUTE)["rows"]] == ["m1", "m2"]
    assert [r["id"] for r in _compute(fleet, start=T0 + 6.5 * MINUTE, end=T0 + 9 * MINUTE)["rows"]] == ["m1", "m3"]


def test_filters_sorts_and_pages(fleet: ReadModel) -> None:
    ids = lambda found: [row["id"] for row in found["rows"]]  # noqa: E731
    prod = selectors.parse("env=prod")
    assert ids(_compute(fleet, labels=lambda labels: selectors.matches(prod, labels))) == ["m1", "m2"]
    assert ids(_compute(fleet, text="M3")) == ["m3"]
    assert ids(_compute(fleet, cluster="c1")) == ["m1"]
    by_changes = _compute(fleet, sort="changes")["rows"]
    assert [(row["id"], row["changes"]) for row in by_changes] == [("m1", 4), ("m3", 3), ("m2", 2)]
    assert ids(_compute(fleet, sort="first_seen")) == ["m1", "m2", "m3"]
    page = _compute(fleet, limit=2, offset=2)
    assert page["total"] == 3 and ids(page) == ["m3"]


def test_other_collections_use_their_rule(fleet: ReadModel) -> None:
    fleet.apply([resource("Cluster", "c1", {}), resource("ClusterStatus", "c1", {"phase": "RUNNING", "ready": True})])
    with fleet.engine.connect() as conn:
        found = timeline.compute(conn, timeline.Query("clusters", T0, T0 + 1000 * 24 * 60 * MINUTE, buckets=3))
    assert [(row.id, row.state) for row in found.rows] == [("c1", "ready")]
    assert found.current["ready"] == 1


def test_later_destroys_and_recreations(fleet: ReadModel) -> None:
    """The destroyed resources are found once, then followed from the log past that head."""
    assert {r["id"]: r["destroyed"] is not None for r in _compute(fleet)["rows"]} == {
        "m1": False, "m2": True, "m3": False}
    fleet.apply([("default", "Machines.omni.sidero.dev", "m3")])
    fleet.apply([resource("Machine", "m2", {"connected": True})])
    later = _compute(fleet, end=datetime.now(UTC) + timedelta(days=1))
    assert {r["id"]: (r["destroyed"] is not None, r["state"]) for r in later["rows"]} == {
        "m1": (False, "connected"), "m2": (False, "connected"), "m3": (True, None)}


# --- over HTTP ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('timeline') / 'readmodel.db'}"
    model = _fleet(url)
    try:
        with serve(url) as base:
            yield base
    finally:
        model.close()


WINDOW = {"from": "2025-01-01T00:00:00Z", "to": "2025-01-01T00:10:00Z", "buckets": "10"}


def test_http_pages_with_cursors(server: str) -> None:
    seen, cursor = [], None
    while True:
        response = httpx.get(server + "/api/v1/timeline", params={**WINDOW, "limit": "2", "cursor": cursor}
                             if cursor else {**WINDOW, "limit": "2"}, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert response.headers["x-total-count"] == "3" and body["collection"] == "machines"
        seen += [row["id"] for row in body["rows"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == ["m1", "m2", "m3"]
    assert httpx.get(server + "/api/v1/timeline", params={**WINDOW, "selector": "env in (dev)"}).json()["total"] == 1
    empty = httpx.get(server + "/api/v1/timeline", params={"from": "2025-01-02", "to": "2025-01-01"}).json()
    assert (empty["total"], empty["rows"], empty["next"]) == (0, [], None)  # an empty window


@pytest.mark.parametrize(("params", "parameter"), [
    ({"collection": "nope"}, "collection"),
    ({"buckets": "0"}, "buckets"),
    ({"buckets": "1001"}, "buckets"),
    ({"limit": "501"}, "limit"),
    ({"from": "yesterday"}, "from"),
    ({"sort": "size"}, "sort"),
    ({"cursor": "!!"}, "cursor"),
    ({"cursor": timeline_api.encode_cursor("changes", 2)}, "cursor"),
    ({"selector": "a in ("}, "selector"),
    ({"cluster": "a\x00"}, "cluster"),
    ({"colour": "red"}, "colour"),
    ({"to": ""}, "to"),
    ({"cursor": ""}, "cursor"),
])
def test_http_bad_parameters_are_400(server: str, params: dict, parameter: str) -> None:
    response = httpx.get(server + "/api/v1/timeline", params=params, timeout=10)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["parameter"] == parameter


def test_the_page_is_served_from_the_package(server: str) -> None:
    root = httpx.get(server + "/", timeout=10)
    assert root.status_code == 302 and root.headers["location"] == "ui/"
    bare = httpx.get(server + "/ui", timeout=10)
    assert bare.status_code == 301 and bare.headers["location"] == "ui/"
    page = httpx.get(server + "/ui/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    package = Path(__file__).resolve().parents[1] / "api" / "ui"
    for name in ("app.js", "api.js", "timeline.js", "panel.js", "overview.js", "format.js", "style.css"):
        response = httpx.get(f"{server}/ui/{name}", timeout=10)
        assert response.status_code == 200 and response.content == (package / name).read_bytes(), name
        again = httpx.get(f"{server}/ui/{name}", headers={"If-None-Match": response.headers["etag"]}, timeout=10)
        assert again.status_code == 304
    assert httpx.get(server + "/ui/secret.py", timeout=10).status_code == 404
    assert httpx.get(server + "/docs", timeout=10).status_code == 200
