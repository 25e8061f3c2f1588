"""One responder class for every ``/api/v1`` route: the route table row says what it reads.

The request pipeline is the same for all routes: base URL, ``min_revision`` wait, revision (head or
``at=``), strong ETag and ``If-None-Match``, then the answer from the source, links spliced in with one
replace. A live answer's ETag names only what it depends on (``api.freshness``): an item its row's
revision, a collection the revisions of the kinds it reads; an ``at=`` answer names its revision.
A 304 is answered without reading a document (an item's revision is remembered per worker while its
kind does not move).
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from falcon.asgi import Request, Response

from api import params as qp
from api import problems, selectors
from api.database import Database
from api.freshness import Freshness, StreamKey
from api.links import Base, base_for, next_link
from api.problems import bad_parameter, not_found
from api.queries import Queries
from api.routes import Derived, KeyMap, Match, Route, Shape
from api.sources import HistorySource, ListQuery, LiveSource, Page, paginate
from models import catalog, history, projections

JSON = "application/json; charset=utf-8"
AT_HEADER = "X-Readmodel-At"  # with at=: "head" (the point is at or after the head) or "past"
MIN_REVISION_WAIT = 2.0
MIN_REVISION_POLL = 0.02
PREPARED_CACHE = 256
LINK = projections.LINK.encode()
PATH_ID = projections.PATH_ID.encode()
FAST_FAILURE = "omni_readmodel.fast_failure"  # ASGI scope key: what api.fast_items raised, for Falcon to answer


class Api:
    """What every responder of one worker shares: the database, its statements, the live source."""

    def __init__(self, db: Database, *, trust_proxy_headers: bool = False, page_cache_bytes: int = 0,
                 item_cache_bytes: int = 0) -> None:
        self.db = db
        self.queries = Queries(db)
        self.live = LiveSource(db, self.queries, page_cache_bytes=page_cache_bytes)
        self.freshness = Freshness(db, ttl=db.head_ttl, item_cache_bytes=item_cache_bytes)
        self.trust_proxy_headers = trust_proxy_headers

    def base(self, req: Request) -> Base:
        get = req.get_header
        if self.trust_proxy_headers:
            return base_for(req.scheme, get("Host"), get("X-Forwarded-Proto"), get("X-Forwarded-Host"),
                            get("X-Forwarded-Prefix"))
        return base_for(req.scheme, get("Host"))

    async def wait_for(self, revision: int) -> int:
        """Wait (briefly) until the watcher has committed ``revision``; 503 if it does not in time."""
        deadline = time.monotonic() + MIN_REVISION_WAIT
        head = self.db.head(fresh=True)
        while head < revision:
            if time.monotonic() >= deadline:
                raise problems.unavailable(
                    f"the read model is at revision {head}, not yet at min_revision {revision}", retry_after=1)
            await asyncio.sleep(MIN_REVISION_POLL)
            head = self.db.head(fresh=True)
        return head

    def revision_at(self, point: int | datetime, head: int) -> history.Point:
        """Where ``at=`` reads (models/history.py says how); 409/410 problems naming the revision to ask for.
        Below the retention horizon (``omni-readmodel prune``) the log no longer answers: 410."""
        try:
            return self.db.history(lambda connection: history.resolve(connection, point, head))
        except history.Pruned as exc:
            raise PointProblem(410, "pruned", "Gone", str(exc), exc.revision,
                               headers={"X-Readmodel-Horizon": str(exc.revision)}) from None
        except history.BeforeHistory as exc:
            raise PointProblem(410, "before-history", "Gone", str(exc), exc.revision) from None
        except history.PointError as exc:  # inside the first bootstrap, or beyond the head
            raise PointProblem(409, "no-complete-state", "Conflict", str(exc), exc.revision) from None


class PointProblem(problems.Problem):
    """A 409/410 for ``at=``: the body's ``revision`` is the nearest revision that answers (if any)."""

    def __init__(self, status: int, slug: str, title: str, detail: str, revision: int | None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, slug, title, detail, parameter="at", headers=headers)
        self.revision = revision

    def body(self, instance: str | None = None) -> bytes:
        document = json.loads(super().body(instance))
        if self.revision is not None:
            document["revision"] = self.revision
        return json.dumps(document, separators=(",", ":")).encode()


def etag_for(version: int | str, req: Request, base: Base) -> str:
    """``"<version>-<hash of (path, query, base URL)>"``, the version being what the answer depends on (a
    revision, or a token of revisions): strong (the bytes are a function of those), and the same in every
    worker (CRC-32, not Python's per-process salted hash)."""
    return etag_of(version, req.path, req.query_string, base)


def etag_of(version: int | str, path: str, query_string: str, base: Base) -> str:
    digest = zlib.crc32(f"{path}?{query_string}".encode(), base.crc)
    return f'"{version}-{digest:08x}"'


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: ``W/`` prefixes do not matter. ``*`` is not a match here:
    it means "any current representation", so it is answered only once the answer exists (``is_any``)."""
    if header == etag:
        return True
    return any(candidate.strip().removeprefix("W/") == etag for candidate in header.split(","))


def is_any(header: str | None) -> bool:
    return header is not None and header.strip() == "*"


def depends_on(route: Route) -> tuple[StreamKey, ...]:
    """The kinds a live answer of ``route`` reads, for its ETag and page cache key."""
    names = [route.kind, route.parent, route.via, *(f.kind for f in route.filters if f.match is Match.LABEL_OF)]
    keys: list[StreamKey] = []
    for name in names:
        if name and catalog.by_name(name).stream_key not in keys:
            keys.append(catalog.by_name(name).stream_key)
    return tuple(keys)


class Endpoint:
    """The responder of one route table row."""

    def __init__(self, api: Api, route: Route) -> None:
        self.api = api
        self.route = route
        self.kind = route.catalog_kind
        self.path_links = route.key in (KeyMap.SINGLETON, KeyMap.VIA_LABEL)
        self.is_item = route.shape is Shape.ITEM
        # the common case (stored id = path id, nothing to check first) skips the dispatch below
        self.plain_item = self.is_item and route.derived is None and not route.parent and route.key is KeyMap.SAME
        # items read with a few indexed lookups answer on the event loop; derivations over many rows do not
        self.inline = self.is_item and route.derived not in (Derived.SCHEMATIC,)
        self.depends_on = depends_on(route)
        self._parsed: dict[str, ListQuery] = {}
        self._plans: dict[str, Any] = {}

    async def on_get(self, req: Request, resp: Response, **fields: str) -> None:
        failure = req.scope.get(FAST_FAILURE)
        if failure is not None:  # api.fast_items met it first: answer it here, as every error is answered
            raise failure
        api = self.api
        base = api.base(req)
        params = req.params
        point = None
        if params:
            qp.check_query_string(req.query_string)
            point = qp.at(params)
            wanted = qp.min_revision(params)
            if not self.is_item:
                self.parsed(req.query_string, params)  # every malformed parameter is a 400 before any 304/409
            if wanted is not None:
                await api.wait_for(wanted)
                api.freshness.refresh()
        header = req.get_header("If-None-Match")
        if point is not None:
            resolved = await api.db.run(api.revision_at, point, api.db.head(fresh=True))
            resp.set_header(AT_HEADER, "head" if resolved.at_head else "past")
            if resolved.at_head:
                point = None  # at or after the head: the live answer, with its ETag
        if point is None:
            # the head, re-read at most every few ms (with the kind revisions): rows read below are at least
            # this new
            api.freshness.kinds()
            revision, source = api.db.head(), api.live
            if self.plain_item:
                self.live_item(req, resp, base, fields["id"], header)
                resp.set_header("X-Readmodel-Revision", str(revision))
                return
            version: int | str = api.freshness.token(self.depends_on)
        else:
            revision = version = resolved.revision
            source = HistorySource(api.db, revision)
        etag = etag_for(version, req, base)
        if header is not None and etag_matches(header, etag):
            resp.status = 304  # answered from the kind revisions (or the revision) alone: no row read
        else:
            ids = {name: _path_id(value, self.route) if "%" in value else value for name, value in fields.items()}
            if not self.is_item:
                text = await self.collection(source, ids, params, req, resp, base, version)
            elif self.inline and point is None:
                text = self.item(source, ids)
            else:  # a point-in-time read or a derivation over many rows: off the event loop
                text = await api.db.run(self.item, source, ids)
            if is_any(header):
                resp.status = 304  # the answer exists (no 404 or 400 was raised)
            else:
                resp.data = text.replace(LINK, base.json)
                resp.content_type = JSON
        resp.set_header("ETag", etag)
        resp.set_header("X-Readmodel-Revision", str(revision))

    on_head = on_get

    def live_item(self, req: Request, resp: Response, base: Base, path_id: str, header: str | None) -> None:
        """A stored document by id, its ETag its row's revision."""
        etag, body = self.live_answer(req.path, req.query_string, base, path_id, header)
        if body is None:
            resp.status = 304
        else:
            resp.data = body
            resp.content_type = JSON
        resp.set_header("ETag", etag)

    def live_answer(self, path: str, query_string: str, base: Base, path_id: str,
                    header: str | None) -> tuple[str, bytes | None]:
        """(ETag, document) of a stored item, the document None for a 304; the ETag is its row's revision.
        Shared by the Falcon responder and ``api.fast_items``."""
        path_id = _path_id(path_id, self.route) if "%" in path_id else path_id
        freshness = self.api.freshness
        if header is not None:
            known = freshness.known_item(self.kind, path_id)
            if known is not None:
                etag = etag_of(known, path, query_string, base)
                if etag_matches(header, etag) or is_any(header):
                    return etag, None  # the row's revision is known and its kind has not moved: no row read
        found = freshness.item(self.kind, path_id)
        if found is None:
            raise not_found(f"{self.route.not_found}: {path_id!r}")
        row_revision, text = found
        etag = etag_of(row_revision, path, query_string, base)
        if header is not None and (etag_matches(header, etag) or is_any(header)):
            return etag, None
        return etag, text.replace(LINK, base.json)

    async def on_post(self, req: Request, resp: Response, **fields: str) -> None:
        raise problems.method_not_allowed(req.method)

    on_put = on_patch = on_delete = on_post

    # -- items ---------------------------------------------------------------------------------

    def item(self, source: Any, ids: dict[str, str]) -> bytes:
        route, kind = self.route, self.kind
        path_id = ids.get("id", "")
        if route.derived is not None:
            return self.derived_item(source, ids)
        if route.parent and not source.exists(catalog.by_name(route.parent), path_id):
            raise not_found(f"{route.parent} {path_id!r} not found")
        if route.key is KeyMap.SAME:
            document = source.document(kind, path_id)
        elif route.key is KeyMap.SUFFIX:
            document = source.document(kind, path_id + route.key_arg)
        elif route.key is KeyMap.SINGLETON:
            document = source.document(kind, kind.singleton_id or "")
        elif route.key is KeyMap.VIA_LABEL:
            via = catalog.by_name(route.via)
            if not source.exists(via, path_id):
                raise not_found(f"{route.via} {path_id!r} not found")
            # ids are `<cluster>-<unix seconds>`: the id says the cluster when the label is missing.
            target = source.label(via, path_id, route.key_arg) or path_id.rpartition("-")[0]
            document = source.document(kind, target)
        else:  # NEWEST_WITH_LABEL
            document = source.newest_with_label(kind, route.key_arg, path_id)
        if document is None:
            raise not_found(f"{route.not_found}: {path_id!r}")
        if self.path_links:
            document = document.replace(PATH_ID, quote(path_id, safe="").encode())
        return document

    def derived_item(self, source: Any, ids: dict[str, str]) -> bytes:
        derived, path_id = self.route.derived, ids.get("id", "")
        if derived is Derived.KUBERNETES_NODE:
            for name, document in self.kubernetes_nodes(source, path_id):
                if name == ids["node"]:
                    return document.encode()
            raise not_found(f"kubernetes node {ids['node']!r} not found in cluster {path_id!r}")
        schematics = source.schematics(path_id)
        if not schematics:
            raise not_found(f"no machine uses schematic {path_id!r}")
        return projections.schematic(schematics[0].id, schematics[0].machines, schematics[0].spec).encode()

    def kubernetes_nodes(self, source: Any, cluster: str) -> list[tuple[str, str]]:
        resource = source.resource(self.kind, cluster)
        if resource is None:
            raise not_found(f"cluster kubernetes nodes not found: {cluster!r}")
        return projections.kubernetes_nodes(resource)

    # -- collections ---------------------------------------------------------------------------

    def list_query(self, params: dict[str, Any]) -> ListQuery:
        filters = []
        for f in self.route.filters:
            value = qp.filter_value(params, f.param)
            if value is not None:
                filters.append((f, value))
        sort = qp.sort(params)
        if self.route.derived is not None and sort.lstrip("-") != "id":
            raise bad_parameter("sort", "this collection can only be sorted by id or -id")
        return ListQuery(tuple(filters), qp.selector(params), sort, qp.cursor(params, sort), qp.limit(params))

    def parsed(self, query_string: str, params: dict[str, Any]) -> ListQuery:
        """The parsed collection parameters (400 if malformed); memoised per query string."""
        query = self._parsed.get(query_string)
        if query is None:
            query = self.list_query(params)
            if len(self._parsed) >= PREPARED_CACHE:
                self._parsed.clear()
            self._parsed[query_string] = query
        return query

    def prepared(self, source: Any, query_string: str, params: dict[str, Any]) -> tuple[ListQuery, Any]:
        """The parsed query and, for the live source, its plan; memoised per query string."""
        query = self.parsed(query_string, params)
        if source is not self.api.live or self.route.derived is not None:
            return query, None
        plan = self._plans.get(query_string)
        if plan is None:
            plan = source.plan(self.kind, query)
            if len(self._plans) >= PREPARED_CACHE:
                self._plans.clear()
            self._plans[query_string] = plan
        return query, plan

    async def collection(self, source: Any, ids: dict[str, str], params: dict[str, Any], req: Request,
                         resp: Response, base: Base, version: int | str) -> bytes:
        if source is self.api.live and self.route.derived is None and req.query_string not in self._plans:
            # a new query string: planning may compile a new statement shape (tens of ms for a long selector)
            query, plan = await self.api.db.run(self.prepared, source, req.query_string, params)
        else:
            query, plan = self.prepared(source, req.query_string, params)
        page = source.cached_page(plan, version) if plan is not None else None
        if page is None:
            if plan is not None and source.bounded(plan, version):
                page = self.page(source, ids, query, plan, version)
            else:  # a read whose cost grows with the fleet: off the event loop
                page = await self.api.db.run(self.page, source, ids, query, plan, version)
        resp.set_header("X-Total-Count", str(page.total))
        if page.next_cursor is not None:
            resp.set_header("Link", next_link(base, req.path, req.query_string, page.next_cursor.encode()))
        return page.body

    def page(self, source: Any, ids: dict[str, str], query: ListQuery, plan: Any, version: int | str) -> Page:
        """One page of the collection (blocking: on a query thread unless ``LiveSource.bounded``); ``version``
        is what the answer depends on (``api.freshness``), the page cache's key."""
        derived = self.route.derived
        if derived is None:
            return source.collection(self.kind, query, version, plan)
        if derived is Derived.KUBERNETES_NODES:
            nodes = [(None, pair) for pair in self.kubernetes_nodes(source, ids["id"])]
            if query.requirements:  # nodes carry no labels
                nodes = [pair for pair in nodes if _matches_no_labels(query)]
            return paginate(nodes, query, lambda node: node[1].encode())
        # SCHEMATICS
        documents = [(None, (s.id, projections.schematic(s.id, s.machines, s.spec)))
                     for s in source.schematics(None)]
        if query.requirements:
            documents = [pair for pair in documents if _matches_no_labels(query)]
        return paginate(documents, query, lambda schematic: schematic[1].encode())


def _matches_no_labels(query: ListQuery) -> bool:
    return selectors.matches(query.requirements, {})


def _path_id(text: str, route: Route) -> str:
    """A percent-decoded path id. One holding NUL cannot exist (and PostgreSQL cannot even compare it)."""
    value = unquote(text)
    if "\x00" in value:
        raise not_found(f"{route.not_found}: {value!r}")
    return value
