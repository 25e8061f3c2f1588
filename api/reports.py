"""``GET /api/v1/reports`` and ``GET /api/v1/reports/{name}``: the reports of ``models.reports`` for
dashboards, as JSON or (``Accept: text/csv``) CSV.

A report is one SQL query over the reporting views; it can read much of the event log, so it runs on the
worker's query threads (``Database.run``, never on the event loop), within the query timeout like every
other read (``serve --query-timeout``; 503 with ``Retry-After`` past it), at most ``CONCURRENT`` at a
time per worker (429 beyond, so reports never take every query thread) and with a row cap (``limit``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import falcon
from falcon.asgi import Request, Response

from api import problems
from api.database import Database
from api.params import single
from api.routes import API
from models import reports

CONCURRENT = 2
CSV = "text/csv; charset=utf-8"
_PARAMETERS = ("since", "until", "cluster", "limit")


class ReportRunner:
    """Runs reports on the worker's query threads and read-only connections (``Database.history``)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.slots = asyncio.Semaphore(CONCURRENT)

    def run(self, report: reports.Report, params: reports.Params) -> reports.Result:
        """Blocking; raises QueryTimeout / DatabaseUnavailable as every bounded read does."""
        return self.db.history(lambda conn: reports.run(conn, report, params))


class ReportList:
    def __init__(self) -> None:
        self.data = json.dumps(reports.describe(), separators=(",", ":")).encode()

    async def on_get(self, req: Request, resp: Response) -> None:
        resp.data = self.data
        resp.content_type = falcon.MEDIA_JSON

    on_head = on_get

    async def on_post(self, req: Request, resp: Response, **_: Any) -> None:
        raise problems.method_not_allowed(req.method)

    on_put = on_patch = on_delete = on_post


class ReportItem(ReportList):
    def __init__(self, runner: ReportRunner) -> None:
        self.runner = runner

    async def on_get(self, req: Request, resp: Response, name: str) -> None:  # type: ignore[override]
        try:
            report = reports.get(name)
        except reports.ReportError as exc:
            raise problems.not_found(str(exc)) from None
        unknown = sorted(set(req.params) - set(_PARAMETERS))
        if unknown:
            raise problems.bad_parameter(unknown[0], f"not a parameter of reports ({', '.join(_PARAMETERS)})")
        try:
            params = reports.parse_params(report, {p: single(req.params, p) for p in _PARAMETERS})
        except reports.ReportError as exc:
            raise problems.bad_parameter(exc.parameter or "name", str(exc)) from None
        as_csv = req.client_prefers([falcon.MEDIA_JSON, "text/csv"]) == "text/csv"
        if self.runner.slots.locked():
            raise problems.Problem(429, "busy", "Too Many Requests",
                                   f"{CONCURRENT} reports are already running in this worker; retry shortly",
                                   headers={"Retry-After": "1"})
        async with self.runner.slots:
            result = await self.runner.db.run(self.runner.run, report, params)
        if as_csv:
            resp.data = reports.to_csv(result).encode()
            resp.content_type = CSV
        else:
            resp.data = reports.to_json(result).encode()
            resp.content_type = falcon.MEDIA_JSON
        resp.set_header("X-Report-Truncated", "true" if result.truncated else "false")
        resp.vary = ("Accept",)

    on_head = on_get


def register(app: falcon.asgi.App, db: Database) -> None:
    app.add_route(API + "/reports", ReportList())
    app.add_route(API + "/reports/{name}", ReportItem(ReportRunner(db)))


# what parse_time accepts, exactly: an age, a calendar date, or an RFC 3339 time (also the timeline's)
_TIME_OF_DAY = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
_DAY = r"(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
TIME_SCHEMA = {"type": "string", "pattern": rf"^([0-9]{{1,5}}[mhd]|[0-9]{{1,4}}w|{_DAY}"
                                            rf"|{_DAY}T{_TIME_OF_DAY}(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))$"}


def openapi_paths() -> dict[str, Any]:
    """The two report routes for /openapi.json (merged by api/openapi.py)."""
    def problem(description: str) -> dict[str, Any]:
        return {"description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}

    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    when = TIME_SCHEMA
    takes = {reports.SINCE: query("since", "start: an age (90d, 12h, 2w, 30m), a date or an RFC 3339 time (UTC); "
                                           "since at or after until is an empty interval", when),
             reports.UNTIL: query("until", "end, same forms (default: now)", when),
             reports.CLUSTER: query("cluster", "only this cluster",
                                    {"type": "string", "maxLength": 256, "pattern": "^[^\\u0000]*$"})}
    responses = {
        "200": {"description": "the rows", "headers": {
            "X-Report-Truncated": {"schema": {"type": "string", "enum": ["true", "false"]},
                                   "description": "true when limit cut the answer"}},
                "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                            "text/csv": {"schema": {"type": "string"}}}},
        "400": problem("a malformed or unsupported parameter, named in the problem"),
        "429": problem("too many reports running in this worker; retry after Retry-After"),
        "503": problem("the database is unavailable, or the report ran past the query timeout "
                       "(serve --query-timeout); narrow since/until or the cluster"),
    }
    # one path per report, each with exactly the parameters it takes
    paths = {API + f"/reports/{report.name}": {"get": {
        "summary": report.description, "operationId": "report_" + report.name.replace("-", "_"),
        "tags": ["reports"],
        "parameters": [takes[name] for name in (reports.SINCE, reports.UNTIL, reports.CLUSTER)
                       if name in report.takes] + [
            query("limit", f"at most this many rows (default {reports.DEFAULT_LIMIT})",
                  {"type": "integer", "minimum": 1, "maximum": reports.MAX_LIMIT})],
        "responses": responses}} for report in reports.REPORTS.values()}
    return {
        **paths,
        API + "/reports": {"get": {
            "summary": "List the reports", "operationId": "listReports", "tags": ["reports"],
            "responses": {"200": {"description": "name, description, parameters and columns of each report",
                                  "content": {"application/json": {"schema": {"type": "array"}}}}}}},
    }
