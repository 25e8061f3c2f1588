"""The history routes (``<item>/history``, ``<item>/diff``, ``/changes``) against the log that produced them.

A hypothesis property test writes random sequences of Machine and MachineStatus changes, deletes and
re-creates through the watcher's Writer (each example with its own ids in one database per backend) and
reads the API in-process: the history is exactly the revisions where ``GET /machines/{id}?at=R`` changed,
newest first, each ``document`` equal to that answer (the last state for ``destroyed``); every diff applied
to ``?at=A`` gives ``?at=B``; pages joined are the whole history; ``/changes`` counts each resource's events.
Focused tests cover parameters, 404, 410 below the retention horizon and ETags.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import jsonpatch
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.settings import Settings
from models import catalog, retention
from models.catalog import LABEL_CLUSTER
from models.schema import streams
from tests.api_support import ReadModel, resource

MACHINE = catalog.by_name("Machine")
STATUS = catalog.by_name("MachineStatus")
API = "/api/v1"


class Harness:
    """A read model written by the Writer and the API app over it, on one event loop."""

    def __init__(self, url: str) -> None:
        self.model = ReadModel(url)
        self.model.bootstrap_streams()
        with self.model.engine.begin() as conn:  # bootstrapped long ago: every revision has a complete state
            conn.execute(sa.update(streams).values(bootstrapped_at=datetime(2000, 1, 1)))
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(Settings(database_url=url))),
                                        base_url="http://test")
        self.examples = itertools.count()

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.loop.run_until_complete(self.client.get(path, headers=headers))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()
        self.model.close()


@pytest.fixture
def harness(db_url: str) -> Iterator[Harness]:
    """One database per test; hypothesis examples share it, each with its own ids."""
    made = Harness(db_url)
    yield made
    made.close()


# one operation: (kind, which machine, spec or None for a delete)
_MACHINE_SPEC = st.fixed_dictionaries({"connected": st.booleans()})
# ``noise`` is not in the machine document: a status change of only that is no version of /machines/{id}
_STATUS_SPEC = st.fixed_dictionaries({"network": st.fixed_dictionaries({"hostname": st.sampled_from(["a", "b"])}),
                                      "noise": st.integers(0, 2)})
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("Machine"), st.integers(0, 1), st.one_of(st.none(), _MACHINE_SPEC)),
    st.tuples(st.just("MachineStatus"), st.integers(0, 1), st.one_of(st.none(), _STATUS_SPEC)),
), min_size=1, max_size=10)


def _write(harness: Harness, prefix: str, operations: list[tuple[str, int, Any]]) -> dict[str, list[int]]:
    """Apply each operation as its own batch; the revisions that touched each machine id."""
    model = harness.model
    touched: dict[str, list[int]] = {}
    for kind_name, index, spec in operations:
        kind = catalog.by_name(kind_name)
        id_ = f"{prefix}-m{index}"
        if spec is None:
            if (kind.namespace, kind.type, id_) not in model.state:
                continue
            model.apply([(kind.namespace, kind.type, id_)])
        else:
            model.apply([resource(kind_name, id_, spec)])
        touched.setdefault(id_, []).append(model.revision)
    return touched


def _expected(harness: Harness, id_: str, revisions: list[int]) -> list[dict]:
    """The history as ?at= answers it: the revisions where the answer changed, newest first."""
    out, previous = [], None
    for revision in revisions:
        answer = harness.get(f"{API}/machines/{id_}?at={revision}")
        document = answer.json() if answer.status_code == 200 else None
        assert answer.status_code in (200, 404)
        if document == previous:
            continue
        if document is None:
            out.append({"revision": revision, "event": "destroyed", "document": previous})
        else:
            out.append({"revision": revision, "event": "created" if previous is None else "updated",
                        "document": document})
        previous = document
    return out[::-1]


def _pages(harness: Harness, path: str) -> list[dict]:
    items, url = [], path
    while url:
        page = harness.get(url)
        assert page.status_code == 200, page.text
        items += page.json()
        link = page.headers.get("Link")
        url = link[1:link.index(">")] if link else None
    return items


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_history_is_the_log(harness: Harness, operations: list[tuple[str, int, Any]]) -> None:
    prefix = f"e{next(harness.examples)}"
    start = harness.model.revision
    touched = _write(harness, prefix, operations)
    for index in (0, 1):
        id_ = f"{prefix}-m{index}"
        answer = harness.get(f"{API}/machines/{id_}/history")
        expected = _expected(harness, id_, touched.get(id_, []))
        if not expected:
            assert answer.status_code == 404, answer.text
            continue
        assert answer.status_code == 200, answer.text
        listed = answer.json()
        assert [{k: v[k] for k in ("revision", "event", "document")} for v in listed] == expected
        assert int(answer.headers["X-Total-Count"]) == len(expected)
        assert _pages(harness, f"{API}/machines/{id_}/history?limit=2") == listed
        # neighbouring versions with a document, both ways, and the oldest to the newest: the patch turns
        # ?at=A (the history's document, equal to it above) into ?at=B
        present = [(v["revision"], v["document"]) for v in listed if v["event"] != "destroyed"]
        pairs = [*itertools.pairwise(present), *itertools.pairwise(present[::-1])]
        for (low, before), (high, after) in [*pairs, (present[-1], present[0])] if len(present) > 1 else []:
            diff = harness.get(f"{API}/machines/{id_}/diff?from={low}&to={high}")
            assert diff.status_code == 200, diff.text
            assert diff.headers["Content-Type"].startswith("application/json-patch+json")
            assert jsonpatch.apply_patch(before, diff.json()) == after
    # /changes over this example's revisions: each machine with its event count
    changes = harness.get(f"{API}/changes?from={start}&collection=machines")
    assert changes.status_code == 200, changes.text
    mine = {c["id"]: c for c in changes.json()["changes"] if c["id"].startswith(prefix + "-")}
    assert {id_: mine[id_]["versions"] for id_ in mine} == {id_: len(revs) for id_, revs in touched.items()}
    for id_, revisions in touched.items():
        assert (mine[id_]["from_revision"], mine[id_]["to_revision"]) == (revisions[0], revisions[-1])


def _small(url: str) -> Harness:
    """m1: created (1), status (2), destroyed (3), re-created (4); c1 created (5)."""
    made = Harness(url)
    model = made.model
    model.apply([resource("Machine", "m1", {"connected": True})])
    model.apply([resource("MachineStatus", "m1", {"network": {"hostname": "a"}})])
    model.apply([(MACHINE.namespace, MACHINE.type, "m1")])
    model.apply([resource("Machine", "m1", {"connected": False})])
    model.apply([resource("Cluster", "c1", {"kubernetes_version": "1.31.1"}, labels={LABEL_CLUSTER: "c1"})])
    return made


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """The small history, for tests that only read it."""
    made = _small(f"sqlite:///{tmp_path_factory.mktemp('history')}/small.db")
    yield made
    made.close()


@pytest.fixture
def changing(sqlite_url: str) -> Iterator[Harness]:
    """The small history, for a test that writes or prunes."""
    made = _small(sqlite_url)
    yield made
    made.close()


def _problem(answer: httpx.Response, status: int, parameter: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    body = answer.json()
    assert body.get("parameter") == parameter
    return body


BAD_PARAMETERS = [
    ("/machines/m1/history?since=yesterday", "since"),
    ("/machines/m1/history?until=2025-01-01T00:00:00", "until"),
    ("/machines/m1/history?limit=0", "limit"),
    ("/machines/m1/history?limit=1&limit=2", "limit"),
    ("/machines/m1/history?cursor=bm90LWEtY3Vyc29y", "cursor"),
    ("/machines/m1/history?at=1", "at"),
    ("/machines/m1/diff?from=%E2%91%A0", "from"),
    ("/machines/m1/diff?to=x", "to"),
    ("/changes", "from"),
    ("/changes?from=1&collection=machines&collection=nope", "collection"),
    ("/changes?from=1&selector=a%20in", "selector"),
    ("/changes?from=1&cursor=WyJpZCIsIm5vcGUiLCJ4Il0", "cursor"),
    ("/changes?from=3&to=2&limit=x", "limit"),
]
def test_bad_parameters_are_named(small: Harness) -> None:
    for query, parameter in BAD_PARAMETERS:
        _problem(small.get(API + query), 400, parameter)
    # an empty range is an empty answer, not an error
    assert small.get(f"{API}/changes?from=3&to=2").json()["changes"] == []


def test_unknown_ids_and_points(small: Harness) -> None:
    _problem(small.get(f"{API}/machines/nope/history"), 404)
    _problem(small.get(f"{API}/machines/nope/diff"), 404)
    _problem(small.get(f"{API}/clusters/c1/status/history"), 404)  # c1 has no ClusterStatus
    _problem(small.get(f"{API}/machines/m1/diff?from=3&to=4"), 404, "from")  # destroyed at 3
    _problem(small.get(f"{API}/machines/m1/diff?to=99"), 409, "to")
    # readable after a destroy; the re-created machine's default diff reaches back across the destroy
    assert [v["event"] for v in small.get(f"{API}/clusters/c1/history").json()] == ["created"]
    diff = small.get(f"{API}/machines/m1/diff")
    assert (diff.headers["X-Readmodel-From"], diff.headers["X-Readmodel-To"]) == ("2", "5")
    window = small.get(f"{API}/machines/m1/history?since=2&until=3")
    assert [v["revision"] for v in window.json()] == [3, 2] and window.headers["X-Total-Count"] == "2"


def test_etags_follow_the_inputs(changing: Harness) -> None:
    small = changing
    first = small.get(f"{API}/machines/m1/history")
    assert small.get(f"{API}/machines/m1/history", **{"If-None-Match": first.headers["ETag"]}).status_code == 304
    small.model.apply([resource("Cluster", "c2", {})])  # not an input of m1's document
    assert small.get(f"{API}/machines/m1/history", **{"If-None-Match": first.headers["ETag"]}).status_code == 304
    small.model.apply([resource("MachineStatus", "m1", {"network": {"hostname": "b"}})])
    again = small.get(f"{API}/machines/m1/history", **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and again.json()[0]["revision"] == small.model.revision
    diff = small.get(f"{API}/machines/m1/diff?from=1&to=2")
    assert small.get(f"{API}/machines/m1/diff?from=1&to=2",
                     **{"If-None-Match": diff.headers["ETag"]}).status_code == 304


def test_below_the_retention_horizon_is_gone(changing: Harness) -> None:
    small = changing
    retention.prune(small.model.engine, 4)
    for query, parameter in (("/machines/m1/history?since=2", "since"), ("/machines/m1/diff?from=2&to=4", "from"),
                             ("/changes?from=3", "from")):
        answer = small.get(API + query)
        assert _problem(answer, 410, parameter)["revision"] == 4
        assert answer.headers["X-Readmodel-Horizon"] == "4"
    # versions at and after the horizon are still listed, from the kept state
    assert [v["revision"] for v in small.get(f"{API}/machines/m1/history").json()] == [4]
    summary = small.get(f"{API}/changes?from=4").json()["summary"]
    assert summary == {"clusters": {"created": 1, "updated": 0, "destroyed": 0}}


def test_openapi_documents_every_history_route(small: Harness) -> None:
    from api.route_documents import HISTORY_ROUTES

    paths = small.get("/openapi.json").json()["paths"]
    wanted = {route.template + end for route in HISTORY_ROUTES for end in ("/history", "/diff")} | {API + "/changes"}
    assert wanted <= set(paths)
    assert "application/json-patch+json" in paths[API + "/machines/{id}/diff"]["get"]["responses"]["200"]["content"]


def test_changes_filter_and_paginate(small: Harness) -> None:
    everything = small.get(f"{API}/changes?from=0").json()
    assert [(c["collection"], c["id"], c["first_event"], c["last_event"], c["versions"])
            for c in everything["changes"]] == [("clusters", "c1", "created", "created", 1),
                                                ("machines", "m1", "created", "created", 4)]
    assert everything["summary"] == {"clusters": {"created": 1, "updated": 0, "destroyed": 0},
                                      "machines": {"created": 1, "updated": 0, "destroyed": 0}}
    # m1 existed at 1: destroyed at 3 and re-created at 4 is an update; its MachineStatus (2) counts for it
    since_one = small.get(f"{API}/changes?from=1&collection=machines").json()
    assert since_one["changes"][0]["first_event"] == "updated" and since_one["changes"][0]["versions"] == 3
    assert since_one["summary"] == {"machines": {"created": 0, "updated": 1, "destroyed": 0}}
    for query in ("cluster=c1", "selector=omni.sidero.dev%2Fcluster%3Dc1"):
        assert [c["id"] for c in small.get(f"{API}/changes?from=0&{query}").json()["changes"]] == ["c1"]
    first = small.get(f"{API}/changes?from=0&limit=1")
    assert first.headers["X-Total-Count"] == "2" and [c["id"] for c in first.json()["changes"]] == ["c1"]
    link = first.headers["Link"]
    second = small.get(link[1:link.index(">")])
    assert [c["id"] for c in second.json()["changes"]] == ["m1"] and "Link" not in second.headers
    assert second.json()["summary"] == everything["summary"]  # the summary covers every page
