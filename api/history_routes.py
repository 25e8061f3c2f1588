"""The history routes: ``<item>/history``, ``<item>/diff`` and ``/changes`` (every version of every
resource, the patch between two points, what changed fleet-wide between two points).

Each reads the event log on the worker's query threads (``Database.run``) within the query timeout, and
answers with the collections' conventions: keyset pagination with an opaque cursor and ``Link: rel=next``,
``X-Total-Count``, strong ETags (``If-None-Match``), problem+json naming the parameter. Points
(``since``, ``until``, ``from``, ``to``) take what ``at=`` takes and are resolved the same way
(``models.history``): below the retention horizon a 410, beyond the head or inside the first bootstrap
a 409, the problem naming the parameter and the revision to ask for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonpatch
from falcon.asgi import App, Request, Response

from api import collection_kinds, problems, route_documents, selectors, versions
from api import params as qp
from api.database import Database
from api.links import next_link
from api.problems import bad_parameter, not_found
from api.resources import JSON, LINK, Api, PointProblem, etag_for, etag_matches, is_any
from api.resources import _path_id as decode_path_id
from api.routes import API, Route
from api.sources import HistorySource, json_array
from models import history, projections
from models.catalog import LABEL_CLUSTER

JSON_PATCH = "application/json-patch+json"
DEFAULT_PAGE = qp.MAX_LIMIT  # without limit=, one page of at most this many
MAX_CHANGED = 100_000  # resources a /changes range may touch (narrow the range beyond)
HISTORY_PARAMETERS = ("since", "until", "limit", "cursor")
DIFF_PARAMETERS = ("from", "to")
CHANGES_PARAMETERS = ("from", "to", "collection", "cluster", "selector", "limit", "cursor")


def _only(params: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise bad_parameter(unknown[0], f"not a parameter of this route ({', '.join(allowed)})")


def _point(params: dict[str, Any], name: str) -> int | datetime | None:
    text = qp.single(params, name)
    if text is None:
        return None
    try:
        return history.parse_point(text)
    except ValueError as exc:
        raise bad_parameter(name, f"must be a revision number or an RFC 3339 time: {exc}") from None


async def _resolve(api: Api, name: str, point: int | datetime, head: int) -> int:
    """The revision ``point`` reads at, as ``at=`` resolves it; its 409/410 problems name ``name``."""
    try:
        resolved = await api.db.run(api.revision_at, point, head)
    except PointProblem as problem:
        raise _named(problem, name) from None
    return resolved.revision


def _named(problem: PointProblem, name: str) -> PointProblem:
    problem.parameter = name  # PointProblem names at=; these name their own parameter
    return problem


def _gone(name: str, horizon: int) -> PointProblem:
    return _named(PointProblem(410, "pruned", "Gone", f"history before revision {horizon} was pruned (the retention "
                               f"horizon); {name} is older: ask for {name}={horizon} or later", horizon,
                               headers={"X-Readmodel-Horizon": str(horizon)}), name)


def _horizon_check(conn: Any, name: str, point: int | datetime) -> None:
    """410 when ``point`` (since=) is older than the retention horizon: versions before it are gone."""
    revision = point if isinstance(point, int) else history.revision_at(conn, point)
    horizon = history.retention_horizon(conn)
    if revision < horizon:
        raise _gone(name, horizon)


def _range_start(db: Database, point: int | datetime, head: int) -> int:
    """``from`` of /changes: every event after it must still be logged (at or after the retention
    horizon); 409 beyond the head."""
    def read(conn: Any) -> tuple[int, int]:
        revision = point if isinstance(point, int) else min(history.revision_at(conn, point), head)
        return revision, history.retention_horizon(conn)

    revision, horizon = db.history(read)
    if revision > head:
        raise _named(PointProblem(409, "no-complete-state", "Conflict",
                                  f"from={revision} is beyond the head revision {head}", head), "from")
    if revision < horizon:
        raise _gone("from", horizon)
    return revision


def _revision_cursor(params: dict[str, Any]) -> int | None:
    found = qp.cursor(params, "-id")
    if found is None:
        return None
    revision = qp.integer(found.id)
    if revision is None or found.key is not None:
        raise bad_parameter("cursor", "not a cursor this API issued")
    return revision


def _link_next(req: Request, base: Any, cursor: qp.Cursor) -> str:
    return next_link(base, req.path, req.query_string, cursor.encode())


def _answer(req: Request, resp: Response, base: Any, version: str, head: int, body: bytes,
            content_type: str = JSON) -> None:
    """The ETag (and a 304 when it matches), the revision header, the body with absolute links."""
    etag = etag_for(version, req, base)
    header = req.get_header("If-None-Match")
    if header is not None and (etag_matches(header, etag) or is_any(header)):
        resp.status = 304
    else:
        resp.data = body.replace(LINK, base.json)
        resp.content_type = content_type
    resp.set_header("ETag", etag)
    resp.set_header("X-Readmodel-Revision", str(head))


def _path_id(text: str, route: Route) -> str:
    """The item routes' own decoding (an id holding NUL is a 404)."""
    return decode_path_id(text, route) if "%" in text else text


class _Base:
    def __init__(self, api: Api, route: Route | None = None) -> None:
        self.api = api
        self.route = route  # its scope (api.auth); None: read

    async def on_post(self, req: Request, resp: Response, **_: Any) -> None:
        raise problems.method_not_allowed(req.method)

    on_put = on_patch = on_delete = on_post


class HistoryEndpoint(_Base):
    """``GET <item>/history``: the versions of the item route's document, newest first."""

    def __init__(self, api: Api, route: Route, replays: versions.ReplayCache) -> None:
        super().__init__(api, route)
        self.replays = replays

    async def on_get(self, req: Request, resp: Response, id: str) -> None:  # noqa: A002 - the route's name
        api, route = self.api, self.route
        params = req.params
        qp.check_query_string(req.query_string)
        _only(params, HISTORY_PARAMETERS)
        since, until = _point(params, "since"), _point(params, "until")
        limit = qp.limit(params) or DEFAULT_PAGE
        before = _revision_cursor(params)
        path_id = _path_id(id, route)
        base = api.base(req)
        head = api.db.head(fresh=True)
        header = req.get_header("If-None-Match")
        cache = self.replays
        if since is not None:
            await api.db.run(api.db.history, lambda conn: _horizon_check(conn, "since", since))
        token = cache.token(route, path_id, head)
        etag = etag_for(token, req, base)
        if header is not None and etag_matches(header, etag):  # nothing it reads changed: no replay
            resp.status = 304
            resp.set_header("ETag", etag)
            resp.set_header("X-Readmodel-Revision", str(head))
            return

        def answer(conn: Any | None) -> tuple[list[versions.Version], int, bytes]:
            """(the page and one more, the total, the body): blocking on a replay or a render, else cheap."""
            replay = cache.get(route, path_id, token) if conn is None else cache.replay(conn, route, path_id,
                                                                                         head, token)
            if not replay.existed:
                raise not_found(f"{route.not_found}: {path_id!r} (never logged)")
            chosen = [v for v in reversed(replay.versions) if _within(v, since, until)]
            total = len(chosen)
            if before is not None:
                chosen = [v for v in chosen if v.revision < before]
            page = chosen[:limit + 1]
            return page, total, json_array([_entry(v, replay.document(v)) for v in page[:limit]])

        cached = cache.get(route, path_id, token)
        newest_page = before is None and since is None and until is None
        if cached is not None and newest_page and cached.rendered_all(cached.versions[-limit:]):
            page, total, body = answer(None)  # the newest page of a cached replay, rendered: on the loop
        elif cached is not None:
            page, total, body = await api.db.run(answer, None)
        else:
            page, total, body = await api.db.run(api.db.history, answer)
        if len(page) > limit:
            resp.set_header("Link", _link_next(req, base, qp.Cursor("-id", None, str(page[limit - 1].revision))))
        resp.set_header("X-Total-Count", str(total))
        _answer(req, resp, base, token, head, body)

    on_head = on_get


def _within(version: versions.Version, since: int | datetime | None, until: int | datetime | None) -> bool:
    if since is not None and (version.revision < since if isinstance(since, int) else version.observed_at < since):
        return False
    if until is not None and (version.revision > until if isinstance(until, int) else version.observed_at > until):
        return False
    return True


def _entry(version: versions.Version, document: bytes) -> bytes:
    head = json.dumps({"revision": version.revision, "observed_at": projections.rfc3339(version.observed_at),
                       "event": version.event, "version": version.version}, separators=(",", ":"))
    return head[:-1].encode() + b',"document":' + document + b"}"


class DiffEndpoint(_Base):
    """``GET <item>/diff?from=A&to=B``: the RFC 6902 patch turning the document at A into the one at B."""

    async def on_get(self, req: Request, resp: Response, id: str) -> None:  # noqa: A002
        api, route = self.api, self.route
        params = req.params
        qp.check_query_string(req.query_string)
        _only(params, DIFF_PARAMETERS)
        start, end = _point(params, "from"), _point(params, "to")
        path_id = _path_id(id, route)
        base = api.base(req)
        head = api.db.head(fresh=True)
        low = None if start is None else await _resolve(api, "from", start, head)
        high = None if end is None else await _resolve(api, "to", end, head)
        if low is None or high is None:
            replay = await api.db.run(api.db.history, lambda conn: versions.replay(conn, route, path_id, head))
            if not replay.existed:
                raise not_found(f"{route.not_found}: {path_id!r} (never logged)")
            if high is None:
                high = _latest(replay, head)
            if low is None:
                low = _before(replay, high)
        documents = await api.db.run(self._documents, path_id, low, high)
        patch = jsonpatch.make_patch(*(json.loads(d.replace(LINK, base.json)) for d in documents))
        resp.set_header("X-Readmodel-From", str(low))
        resp.set_header("X-Readmodel-To", str(high))
        body = json.dumps(patch.patch, separators=(",", ":"), ensure_ascii=False).encode()
        _answer(req, resp, base, f"{low}.{high}", head, body, JSON_PATCH)

    on_head = on_get

    def _documents(self, path_id: str, low: int, high: int) -> list[bytes]:
        """The documents at ``low`` and ``high`` as ``?at=`` answers them (links still placeholders)."""
        out = []
        for name, revision in (("from", low), ("to", high)):
            document = route_documents.document(self.route, HistorySource(self.api.db, revision), path_id)
            if document is None:
                raise _absent(f"{self.route.not_found}: {path_id!r} did not exist at revision {revision}", name)
            out.append(document)
        return out


def _absent(detail: str, parameter: str) -> problems.Problem:
    """404: no document at that point (the parameter names which point)."""
    return problems.Problem(404, "not-found", "Not Found", detail, parameter=parameter)


def _latest(replay: versions.Replay, head: int) -> int:
    """``to`` by default: the head while the document exists, else the last revision it existed at."""
    if not replay.versions or replay.versions[-1].event != versions.DESTROYED:
        return head  # (no version listed: unchanged since the retention horizon)
    return replay.versions[-1].revision - 1  # right before the destroy: the last state


def _before(replay: versions.Replay, high: int) -> int:
    """``from`` by default: the version before the one ``to`` reads (before a destroy: the last state)."""
    listed = [v for v in replay.versions if v.revision <= high]
    if len(listed) < 2:
        raise _absent(f"no version before revision {high}: give from=", "from")
    previous = listed[-2]
    return previous.revision - 1 if previous.event == versions.DESTROYED else previous.revision


@dataclass
class Change:
    collection: str
    id: str
    first_event: str
    last_event: str
    from_revision: int
    to_revision: int
    versions: int
    labels: dict
    own: bool  # whether the collection's own resource changed (its labels are then the ones kept)

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "id": self.id, "first_event": self.first_event,
                "last_event": self.last_event, "from_revision": self.from_revision,
                "to_revision": self.to_revision, "versions": self.versions}


class ChangesEndpoint(_Base):
    """``GET /changes?from=A&to=B``: the resources whose documents changed in (A, B], per collection."""

    async def on_get(self, req: Request, resp: Response) -> None:
        api = self.api
        params = req.params
        qp.check_query_string(req.query_string)
        _only(params, CHANGES_PARAMETERS)
        start, end = _point(params, "from"), _point(params, "to")
        if start is None:
            raise bad_parameter("from", "required: a revision number or an RFC 3339 time")
        wanted = _collections(params)
        cluster = qp.filter_value(params, "cluster")
        requirements = qp.selector(params)
        limit = qp.limit(params) or DEFAULT_PAGE
        after = qp.cursor(params, "id")
        if after is not None and (after.key not in collection_kinds.COLLECTIONS):
            raise bad_parameter("cursor", "not a cursor this API issued")
        base = api.base(req)
        head = api.db.head(fresh=True)
        low = await api.db.run(_range_start, api.db, start, head)
        high = head if end is None else await _resolve(api, "to", end, head)
        kinds = [key for name in wanted for key in collection_kinds.kinds_of(name)] if low < high else []
        rows = await api.db.run(api.db.history, lambda conn: history.changed_between(conn, low, high, kinds,
                                                                                     MAX_CHANGED + 1))
        if len(rows) > MAX_CHANGED:
            raise bad_parameter("from", f"more than {MAX_CHANGED} resources changed between revisions {low} and "
                                        f"{high}: narrow from/to, or name a collection")
        # merging and filtering grow with the range: off the event loop
        page, total, more, body = await api.db.run(_changes_page, rows, cluster, requirements, after, limit, low,
                                                   high)
        if more:
            resp.set_header("Link", _link_next(req, base, qp.Cursor("id", page[-1].collection, page[-1].id)))
        resp.set_header("X-Total-Count", str(total))
        _answer(req, resp, base, f"{low}.{high}", head, body)

    on_head = on_get


def _changes_page(rows: list[history.Changed], cluster: str | None, requirements: tuple, after: qp.Cursor | None,
                  limit: int, low: int, high: int) -> tuple[list[Change], int, bool, bytes]:
    """(the page, the total, whether more follow, the body): one change per resource, filtered, with the
    summary over every page."""
    changes = [c for c in _merge(rows)
               if (cluster is None or c.labels.get(LABEL_CLUSTER) == cluster)
               and selectors.matches(requirements, c.labels)]
    summary: dict[str, dict[str, int]] = {}
    for change in changes:
        counts = summary.setdefault(change.collection, {"created": 0, "updated": 0, "destroyed": 0})
        counts[_net(change)] += 1
    total = len(changes)
    if after is not None:
        changes = [c for c in changes if (c.collection, c.id) > (after.key, after.id)]
    page = changes[:limit]
    body = json.dumps({"from_revision": low, "to_revision": high, "summary": summary,
                       "changes": [c.as_dict() for c in page]}, separators=(",", ":"), ensure_ascii=False)
    return page, total, len(changes) > limit, body.encode()


def _collections(params: dict[str, Any]) -> list[str]:
    value = params.get("collection")
    if value is None:
        return list(collection_kinds.COLLECTIONS)
    names = value if isinstance(value, list) else [value]
    for name in names:
        if name not in collection_kinds.COLLECTIONS:
            raise bad_parameter("collection", f"{name[:64]!r} is not a collection with a history "
                                              f"({', '.join(collection_kinds.COLLECTIONS)})")
    return list(dict.fromkeys(names))


def _merge(rows: list[history.Changed]) -> list[Change]:
    """One change per (collection, id): a joined resource's events are updates of the embedding
    document; the labels kept are those of the collection's own resource when it changed."""
    merged: dict[tuple[str, str], Change] = {}
    for row in rows:
        collection = collection_kinds.collection_of(row.namespace, row.type)
        if collection is None:
            continue
        own = collection_kinds.is_own(row.namespace, row.type)
        first = row.first_event if own else versions.UPDATED
        last = row.last_event if own else versions.UPDATED
        found = merged.get((collection, row.id))
        if found is None:
            merged[(collection, row.id)] = Change(collection, row.id, first, last, row.first_revision,
                                                  row.last_revision, row.events, row.labels, own)
            continue
        if row.first_revision < found.from_revision:
            found.first_event, found.from_revision = first, row.first_revision
        if row.last_revision > found.to_revision:
            found.last_event, found.to_revision = last, row.last_revision
        found.versions += row.events
        if own or not found.own:
            found.labels, found.own = (row.labels, own) if own else (found.labels or row.labels, found.own)
    return sorted(merged.values(), key=lambda c: (c.collection, c.id))


def _net(change: Change) -> str:
    """created: it did not exist before the range and does after; destroyed: its last event is a destroy;
    updated: the rest."""
    if change.last_event == versions.DESTROYED:
        return "destroyed"
    return "created" if change.first_event == versions.CREATED else "updated"


def register(app: App, api: Api) -> None:
    """The history routes of every item route with a history (``route_documents.HISTORY_ROUTES``)."""
    replays = versions.ReplayCache(api.db)
    for route in route_documents.HISTORY_ROUTES:
        app.add_route(route.template + "/history", HistoryEndpoint(api, route, replays))
        app.add_route(route.template + "/diff", DiffEndpoint(api, route))
    app.add_route(API + "/changes", ChangesEndpoint(api))
