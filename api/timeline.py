"""``GET /api/v1/timeline``: state segments per resource and time bucket (``models.timeline``), for the
fleet page and any script. Parameters are parsed strictly (400 naming the parameter); the aggregation
runs on a query thread within the query timeout (503 past it), at most ``CONCURRENT`` per worker (429
after waiting for a slot as long as a query may run), over at most ``limit`` rows and ``buckets`` buckets.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

import falcon
from falcon.asgi import Request, Response

from api import params as qp
from api import problems, selectors
from api.database import Database
from api.reports import TIME_SCHEMA
from api.routes import API
from models import reports, timeline

PATH = API + "/timeline"
CONCURRENT = 2  # per worker, so timelines never take every query thread
SLOT_WAIT_SECONDS = 2.0
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
DEFAULT_WINDOW = "1d"
PARAMETERS = ("collection", "from", "to", "buckets", "selector", "cluster", "q", "sort", "limit", "cursor")


def _time(name: str, text: str, now: datetime) -> datetime:
    try:
        return reports.parse_time(name, text, now)
    except reports.ReportError as exc:
        raise qp.bad_parameter(name, str(exc)) from None
    except OverflowError:
        raise qp.bad_parameter(name, "too far from now") from None


def _cursor(text: str, sort: str) -> int:
    try:
        sort_of, offset = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise qp.bad_parameter("cursor", "not a cursor this API issued") from None
    if sort_of != sort or not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= 10**9:
        raise qp.bad_parameter("cursor", "not a cursor this API issued for this sort")
    return offset


def encode_cursor(sort: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort, offset]).encode()).rstrip(b"=").decode()


def parse(params: dict[str, Any], now: datetime | None = None) -> timeline.Query:
    """The request's query parameters as a ``timeline.Query``; a 400 problem naming the bad one."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise qp.bad_parameter(unknown[0], "not a parameter of the timeline (" + ", ".join(PARAMETERS) + ")")
    now = now or datetime.now(UTC)
    single = {name: qp.single(params, name) for name in PARAMETERS}
    # an empty value is a malformed one (the OpenAPI patterns refuse it too), not the default
    collection = single["collection"] if single["collection"] is not None else "machines"
    if collection not in timeline.collections():
        raise qp.bad_parameter("collection", "must be one of " + ", ".join(timeline.collections()))
    start = _time("from", single["from"] if single["from"] is not None else DEFAULT_WINDOW, now)
    end = _time("to", single["to"], now) if single["to"] is not None else now

    def bounded(name: str, default: int, most: int) -> int:
        text = single[name]
        if text is None:
            return default
        value = qp.integer(text)
        if value is None or not 1 <= value <= most:
            raise qp.bad_parameter(name, f"must be an integer from 1 to {most}")
        return value

    sort = single["sort"] if single["sort"] is not None else "name"
    if sort not in timeline.SORTS:
        raise qp.bad_parameter("sort", "must be one of " + ", ".join(timeline.SORTS))
    requirements = qp.selector(params)
    return timeline.Query(
        collection, start, end, buckets=bounded("buckets", timeline.DEFAULT_BUCKETS, timeline.MAX_BUCKETS),
        labels=(lambda labels: selectors.matches(requirements, labels)) if requirements else None,
        cluster=qp.filter_value(params, "cluster"), text=qp.filter_value(params, "q"), sort=sort,
        limit=bounded("limit", DEFAULT_LIMIT, MAX_LIMIT),
        offset=_cursor(single["cursor"], sort) if single["cursor"] is not None else 0)


class Timeline:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.slots = asyncio.Semaphore(CONCURRENT)

    async def on_get(self, req: Request, resp: Response) -> None:
        qp.check_query_string(req.query_string)
        query = parse(req.params)
        try:  # a page asks for a few at once: wait briefly for a slot rather than refuse at once
            await asyncio.wait_for(self.slots.acquire(), max(SLOT_WAIT_SECONDS, self.db.query_timeout))
        except TimeoutError:
            raise problems.Problem(429, "busy", "Too Many Requests",
                                   f"{CONCURRENT} timelines are already being computed in this worker; retry "
                                   "shortly", headers={"Retry-After": "1"}) from None
        try:
            result = await self.db.run(self.db.history, lambda conn: timeline.compute(conn, query))
        finally:
            self.slots.release()
        document = result.document()
        following = query.offset + len(result.rows)
        document["next"] = encode_cursor(query.sort, following) if following < result.total else None
        resp.data = json.dumps(document, separators=(",", ":")).encode()
        resp.content_type = falcon.MEDIA_JSON
        resp.set_header("X-Readmodel-Revision", str(result.revision))
        resp.set_header("X-Total-Count", str(result.total))
        resp.cache_control = ("no-cache",)

    on_head = on_get

    async def on_post(self, req: Request, resp: Response, **_: Any) -> None:
        raise problems.method_not_allowed(req.method)

    on_put = on_patch = on_delete = on_post


def register(app: falcon.asgi.App, db: Database) -> None:
    app.add_route(PATH, Timeline(db))


def openapi_paths() -> dict[str, Any]:
    """The timeline route for /openapi.json (merged by api/openapi.py)."""
    from api.openapi import SELECTOR_PATTERN, _problem_response  # late: api.openapi imports this module

    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    text = {"type": "string", "maxLength": qp.MAX_TEXT, "pattern": "^[^\\u0000]*$"}
    rules = "; ".join(f"{name}: {', '.join(timeline.rule(name).states)}" for name in timeline.RULES)
    row = {"type": "object", "required": ["id", "first_seen", "destroyed", "changes", "state", "segments", "ticks"],
           "properties": {
               "id": {"type": "string"},
               "first_seen": {"type": ["string", "null"], "format": "date-time",
                              "description": "when the resource's first logged version was observed"},
               "destroyed": {"type": ["string", "null"], "format": "date-time"},
               "changes": {"type": "integer", "description": "versions inside the window"},
               "state": {"type": ["string", "null"], "description": "state at the end of the window"},
               "segments": {"type": "array", "description": "[first bucket, end bucket (exclusive), index "
                            "into states]: the state that held longest in each bucket, equal runs merged",
                            "items": {"type": "array", "items": {"type": "integer"}}},
               "ticks": {"type": "array", "description": "[bucket, versions observed in it]",
                         "items": {"type": "array", "items": {"type": "integer"}}}}}
    body = {"type": "object", "required": ["collection", "from", "to", "buckets", "bucket_ms", "revision", "states",
                                           "total", "current", "offset", "rows", "next"],
            "properties": {
                "collection": {"type": "string"}, "from": {"type": "string", "format": "date-time"},
                "to": {"type": "string", "format": "date-time"}, "buckets": {"type": "integer"},
                "bucket_ms": {"type": "number"}, "revision": {"type": "integer"},
                "states": {"type": "array", "items": {"type": "string"}},
                "total": {"type": "integer", "description": "rows matching, all pages"},
                "current": {"type": "object", "additionalProperties": {"type": "integer"},
                            "description": "live matching resources per current state"},
                "offset": {"type": "integer"}, "rows": {"type": "array", "items": row},
                "next": {"type": ["string", "null"], "description": "cursor of the next page"}}}
    return {PATH: {"get": {
        "summary": "State over time per resource of a collection, folded into time buckets",
        "description": "One row per resource that existed in [from, to). States per collection: " + rules
                       + "; any other collection: running, tearing-down (COSI phase).",
        "operationId": "getTimeline", "tags": ["timeline"],
        "parameters": [
            query("collection", "the collection (default machines)",
                  {"type": "string", "enum": list(timeline.collections())}),
            query("from", f"window start: an age (30d, 6h), a date or an RFC 3339 time (default {DEFAULT_WINDOW}); "
                  "from at or after to is an empty window (no rows)",
                  TIME_SCHEMA),
            query("to", "window end, same forms (default now)", TIME_SCHEMA),
            query("buckets", f"time buckets (1..{timeline.MAX_BUCKETS}, default {timeline.DEFAULT_BUCKETS})",
                  {"type": "integer", "minimum": 1, "maximum": timeline.MAX_BUCKETS}),
            query("selector", "label selector on the current (or last) labels", {"type": "string",
                                                                                 "pattern": SELECTOR_PATTERN}),
            query("cluster", "only resources of this cluster", text),
            query("q", "only ids containing this text (case-insensitive)", text),
            query("sort", "row order (default name)", {"type": "string", "enum": list(timeline.SORTS)}),
            query("limit", f"rows per page (1..{MAX_LIMIT}, default {DEFAULT_LIMIT})",
                  {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
            query("cursor", "the next member of the previous page, for the same sort",
                  {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}),
        ],
        "responses": {
            "200": {"description": "one page of rows", "headers": {
                "X-Total-Count": {"schema": {"type": "integer"}, "description": "rows matching, all pages"},
                "X-Readmodel-Revision": {"schema": {"type": "integer"}}},
                "content": {"application/json": {"schema": body}}},
            "400": _problem_response("a malformed parameter, named in the problem"),
            "401": _problem_response("no valid bearer token (with --auth tokens)"),
            "403": _problem_response("the token lacks the read scope"),
            "414": _problem_response("the request URL is too long"),
            "429": _problem_response("too many timelines being computed, or the worker is at its cap"),
            "431": _problem_response("the request headers are too large"),
            "503": _problem_response("the database is unavailable or the aggregation took too long; narrow "
                                     "the window, the filters or limit"),
        }}}}
