"""Id-sorted list pages joined by the database in one row (``queries.page_statement``) are the pages the general
path joins from a row per document: the same bytes, total and next cursor, page after page, for filters,
selectors, both id sorts, cursors and limits. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from falcon.uri import parse_query_string

from api.database import Database
from api.resources import Api, Endpoint
from api.routes import ROUTES, Shape
from api.sources import Page
from models import catalog
from tests.api_support import ReadModel, resource

MACHINES = [f"m-{index:02d}" for index in range(23)] + ["A-upper", "m_underscore", "z"]
QUERIES = ["", "limit=1", "limit=2", "limit=7", "limit=25", "limit=26", "limit=1000", "sort=-id&limit=5",
           "sort=-id", "sort=id&limit=4", "selector=env%3Dprod&limit=3", "selector=env!%3Dprod&limit=4",
           "selector=env&sort=-id&limit=2", "selector=!env", "selector=env+in+(prod,dev)&limit=6",
           "selector=env%3Dnone", "selector=env%3Dnone&limit=3", "cluster=c1&limit=2", "cluster=c2&sort=-id&limit=3",
           "cluster=c1", "cluster=nothing&limit=2"]


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    model = ReadModel(db_url)
    changes = [resource("Cluster", name, {"talos_version": "1.9.0"}, labels={"env": "prod"}) for name in ("c1", "c2")]
    for index, machine in enumerate(MACHINES):
        labels = {"env": "prod" if index % 3 else "dev"} if index % 5 else {}
        changes.append(resource("Machine", machine, {"management_address": f"fd00::{index}"}, labels=labels))
        if index % 2:
            changes.append(resource("MachineStatus", machine, {"network": {"hostname": f"host-{index}"}}))
        if index % 4:
            cluster = "c1" if index % 4 == 1 else "c2"
            changes.append(resource("ClusterMachine", machine, labels={catalog.LABEL_CLUSTER: cluster}))
    model.apply(changes)
    model.close()
    database = Database(db_url)
    yield Api(database)
    database.close()


def _page(api: Api, endpoint: Endpoint, query_string: str, one_row: bool) -> Page:
    api.live.one_row = one_row
    query = endpoint.list_query(parse_query_string(query_string, keep_blank=True))
    plan = api.live.plan(endpoint.kind, query)
    assert (plan.page is not None) is one_row
    version = api.freshness.token(endpoint.depends_on)
    return api.live.collection(endpoint.kind, query, version, plan)


def _walk(api: Api, endpoint: Endpoint, query_string: str) -> int:
    """Every page of the query, both ways; the number of pages."""
    pages = 0
    while True:
        one_row, general = _page(api, endpoint, query_string, True), _page(api, endpoint, query_string, False)
        assert one_row == general, (endpoint.route.path, query_string)
        pages += 1
        if general.next_cursor is None:
            return pages
        kept = "&".join(p for p in query_string.split("&") if p and not p.startswith("cursor="))
        query_string = f"{kept}&cursor={general.next_cursor.encode()}" if kept else f"cursor={general.next_cursor.encode()}"


def test_machine_pages_are_the_same_bytes_either_way(api: Api) -> None:
    endpoint = Endpoint(api, next(r for r in ROUTES if r.path == "/machines"))
    walked = {query: _walk(api, endpoint, query) for query in QUERIES}
    assert walked["limit=1"] == len(MACHINES) and walked["limit=7"] == 4 and walked["limit=26"] == 1
    assert walked["cluster=c1&limit=2"] > 1 and walked["selector=env%3Dprod&limit=3"] > 1
    everything = [document["id"] for document in json.loads(_page(api, endpoint, "", True).body.replace(b"\x01", b""))]
    first = json.loads(_page(api, endpoint, "limit=3", True).body.replace(b"\x01", b""))
    assert len(everything) == len(MACHINES) and [document["id"] for document in first] == everything[:3]
    assert _page(api, endpoint, "selector=env%3Dnone", True) == Page(b"[]", 0, None)


def test_every_stored_collection_pages_the_same_either_way(api: Api) -> None:
    for route in ROUTES:
        if route.shape is Shape.COLLECTION and route.derived is None:
            endpoint = Endpoint(api, route)
            for query in ("", "limit=1", "sort=-id&limit=2"):
                _walk(api, endpoint, query)
