"""ETags that survive churn: an answer's ETag moves only when what it reads moves.

The read model is written by the real watcher Writer with the product's projections (so a MachineStatus
change re-renders the Machine document as in production) and served by a real ``omni-readmodel serve``
over HTTP. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from api.database import Database
from api.resources import Api, Endpoint
from api.routes import ROUTES
from models import catalog, migrate
from models.db import create_engine
from models.schema import streams
from tests.api_support import serve
from watcher.decode import Decoded
from watcher.documents import load_projections
from watcher.items import Change
from watcher.writer import Writer

CLUSTER, MACHINE, STATUS = (catalog.by_name(name) for name in ("Cluster", "Machine", "MachineStatus"))
CREATED = 1_700_000_000_000_000


def state(kind: catalog.Kind, id_: str, version: int, spec: dict) -> Decoded:
    return Decoded(kind.namespace, kind.type, id_, version, "running", "", CREATED, CREATED + version, {}, {}, [],
                   spec)


def change(kind: catalog.Kind, id_: str, version: int, spec: dict) -> Change:
    return Change(kind.stream_key, state(kind, id_, version, spec), False, None, True)


@pytest.fixture
def writer(db_url: str) -> Iterator[Writer]:
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    writer = Writer(engine, load_projections())
    writer.take_over("test")
    writer.apply([
        change(CLUSTER, "c1", 1, {"talos_version": "1.9.0"}), change(CLUSTER, "c2", 1, {"talos_version": "1.9.0"}),
        change(MACHINE, "m1", 1, {}), change(MACHINE, "m2", 1, {}),
        change(STATUS, "m1", 1, {"network": {"hostname": "one"}}),
        change(STATUS, "m2", 1, {"network": {"hostname": "two"}}),
    ])
    yield writer
    writer.close()
    engine.dispose()


def _bootstrapped_now(writer: Writer) -> None:
    """Every watched kind's first bootstrap completed now (``at=`` refuses points inside it)."""
    now = datetime.now(UTC)
    with writer.engine.begin() as conn:
        conn.execute(sa.delete(streams))
        for kind in catalog.watched_kinds():
            conn.execute(sa.insert(streams).values(namespace=kind.namespace, type=kind.type, bootstrapped=True,
                                                   bootstrapped_at=now, last_revision=writer.head))
    writer._load()


def kind_revisions(writer: Writer) -> dict[str, int]:
    with writer.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT type, revision FROM kind_revisions")).all()
    return {type_.split(".")[0]: revision for type_, revision in rows}


def test_the_writer_moves_a_kind_with_its_rows_and_its_re_rendered_documents(writer: Writer) -> None:
    assert kind_revisions(writer) == {"Clusters": 2, "Machines": 6, "MachineStatuses": 6}  # m2 re-rendered at 6
    writer.apply([change(MACHINE, "m1", 2, {})])
    assert kind_revisions(writer) == {"Clusters": 2, "Machines": 7, "MachineStatuses": 6}
    # a status change re-renders the machine's document: the machines' revision moves with it
    writer.apply([change(STATUS, "m2", 2, {"network": {"hostname": "two-b"}})])
    assert kind_revisions(writer) == {"Clusters": 2, "Machines": 8, "MachineStatuses": 8}
    writer.apply([Change(CLUSTER.stream_key, state(CLUSTER, "c2", 1, {}), True, None, True)])
    assert kind_revisions(writer) == {"Clusters": 9, "Machines": 8, "MachineStatuses": 8}


def test_etags_move_only_with_what_the_answer_reads(writer: Writer) -> None:
    with serve(writer.engine.url.render_as_string(hide_password=False)) as base:

        def get(path: str, etag: str | None = None, **params: str) -> httpx.Response:
            # first wait until the (single) worker has seen everything the writer committed; min_revision
            # is part of the tagged URL, so the conditional request itself goes without it
            assert httpx.get(base + "/api/v1/clusters", params={"min_revision": str(writer.head)}).status_code == 200
            headers = {} if etag is None else {"If-None-Match": etag}
            return httpx.get(base + path, headers=headers, params=params)

        paths = ("/api/v1/clusters", "/api/v1/machines", "/api/v1/machines/m1", "/api/v1/machines/m2",
                 "/api/v1/clusters/c1")
        tags = {path: get(path).headers["etag"] for path in paths}

        # machine churn: the clusters and the other machine keep their tags and answer 304
        writer.apply([change(MACHINE, "m1", 2, {}), change(MACHINE, "m1", 3, {})])
        for path in ("/api/v1/clusters", "/api/v1/machines/m2", "/api/v1/clusters/c1"):
            response = get(path, tags[path])
            assert (response.status_code, response.headers["etag"]) == (304, tags[path]), path
        for path in ("/api/v1/machines", "/api/v1/machines/m1"):
            response = get(path, tags[path])
            assert response.status_code == 200 and response.headers["etag"] != tags[path], path
            tags[path] = response.headers["etag"]
        assert int(get("/api/v1/clusters").headers["x-readmodel-revision"]) == writer.head  # still the head

        # a joined change: the status re-renders machine m2, so its item and the list move; m1 does not
        writer.apply([change(STATUS, "m2", 2, {"network": {"hostname": "two-b"}})])
        response = get("/api/v1/machines/m2", tags["/api/v1/machines/m2"])
        assert response.status_code == 200 and response.json()["hostname"] == "two-b"
        assert response.headers["etag"] != tags["/api/v1/machines/m2"]
        assert get("/api/v1/machines", tags["/api/v1/machines"]).status_code == 200
        assert get("/api/v1/machines/m1", tags["/api/v1/machines/m1"]).status_code == 304
        assert get("/api/v1/clusters", tags["/api/v1/clusters"]).status_code == 304

        # a cluster changes: the cluster list and that cluster move
        writer.apply([change(CLUSTER, "c1", 2, {"talos_version": "1.10.0"})])
        response = get("/api/v1/clusters", tags["/api/v1/clusters"])
        assert response.status_code == 200 and response.headers["etag"] != tags["/api/v1/clusters"]
        assert [c["talos_version"] for c in response.json()] == ["1.10.0", "1.9.0"]
        assert get("/api/v1/clusters/c1", tags["/api/v1/clusters/c1"]).status_code == 200
        assert get("/api/v1/machines/m1", tags["/api/v1/machines/m1"]).status_code == 304

        # a filter reading another kind (ClusterMachine labels) depends on that kind too
        filtered = get("/api/v1/machines", cluster="c1").headers["etag"]
        cluster_machine = catalog.by_name("ClusterMachine")
        writer.apply([Change(cluster_machine.stream_key, Decoded(
            cluster_machine.namespace, cluster_machine.type, "m1", 1, "running", "", CREATED, CREATED,
            {catalog.LABEL_CLUSTER: "c1"}, {}, [], {}), False, None, True)])
        response = get("/api/v1/machines", filtered, cluster="c1")
        assert response.status_code == 200 and [m["id"] for m in response.json()] == ["m1"]

        # `*` is "any current representation": 304 for an answer that exists, never for a 404 or a 400
        assert get("/api/v1/clusters", "*").status_code == 304
        assert get("/api/v1/machines/m1", "*").status_code == 304
        assert get("/api/v1/machines/nope", "*").status_code == 404
        assert get("/api/v1/clusters", "*", limit="x").status_code == 400

        # at= answers keep revision-based tags (a point after the first bootstrap and before the head)
        _bootstrapped_now(writer)
        point = writer.head
        writer.apply([change(CLUSTER, "c2", 2, {"talos_version": "1.10.0"})])
        answer = get("/api/v1/clusters", at=str(point))
        assert answer.headers["x-readmodel-at"] == "past"
        assert answer.headers["etag"].startswith(f'"{point}-')


def test_machine_churn_keeps_cluster_pages_cached(writer: Writer) -> None:
    """The page cache keys on the same token as the ETag: machine churn does not evict a cluster page."""
    db = Database(writer.engine.url)
    try:
        api = Api(db, page_cache_bytes=1 << 20)
        clusters = Endpoint(api, next(r for r in ROUTES if r.path == "/clusters"))
        query, plan = clusters.prepared(api.live, "", {})

        def page():
            api.freshness.refresh()
            return api.live.collection(CLUSTER, query, api.freshness.token(clusters.depends_on), plan)

        first = page()
        writer.apply([change(MACHINE, "m1", 2, {}), change(STATUS, "m2", 2, {"network": {}})])
        assert page() is first
        writer.apply([change(CLUSTER, "c1", 2, {"talos_version": "1.10.0"})])
        assert page() is not first
    finally:
        db.close()


def test_item_documents_are_cached_while_their_kind_stands_still(writer: Writer) -> None:
    """The item cache keys on the kind revision: a repeated item GET reads no row until its kind moves
    (another kind's churn does not evict it), and the byte budget drops the least recently used first."""
    db = Database(writer.engine.url)
    try:
        api = Api(db, item_cache_bytes=1 << 20)
        freshness = api.freshness

        def item(kind: catalog.Kind, id_: str) -> tuple[int, bytes]:
            freshness.refresh()
            found = freshness.item(kind, id_)
            assert found is not None
            return found

        first = item(MACHINE, "m1")
        assert item(MACHINE, "m1")[1] is first[1]  # the same bytes object: no row was read
        writer.apply([change(CLUSTER, "c1", 2, {"talos_version": "1.10.0"})])
        assert item(MACHINE, "m1")[1] is first[1]
        writer.apply([change(STATUS, "m1", 2, {"network": {"hostname": "one-b"}})])  # re-renders machine m1
        revision, document = item(MACHINE, "m1")
        assert revision == writer.head and b'"hostname":"one-b"' in document
        assert freshness.item(MACHINE, "nope") is None

        # a budget of nine machine documents: a tenth evicts the least recently used
        writer.apply([change(MACHINE, f"m{n}", 1, {}) for n in range(3, 13)])
        nine = sum(len(item(MACHINE, f"m{n}")[1]) for n in range(3, 12))
        small = Api(db, item_cache_bytes=nine).freshness
        kept = {n: small.item(MACHINE, f"m{n}")[1] for n in range(3, 12)}
        assert small.item(MACHINE, "m3")[1] is kept[3]  # m3 is now the most recently used
        small.item(MACHINE, "m12")
        assert small.item(MACHINE, "m3")[1] is kept[3]
        assert small.item(MACHINE, "m4")[1] is not kept[4]  # evicted, read again
        assert small.documents.used <= small.documents.budget

        off = Api(db, item_cache_bytes=0)
        assert off.freshness.item(MACHINE, "m1")[1] is not off.freshness.item(MACHINE, "m1")[1]
    finally:
        db.close()
