"""Operational endpoints: ``/livez``, ``/readyz``, ``/health`` (seed-compatible), ``/metrics``, ``/``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import falcon
from falcon.asgi import Request, Response

import models
from api import metrics, problems
from api.database import DatabaseUnavailable
from api.resources import JSON, Api
from models import catalog
from models.db import as_utc

PROBES = frozenset({"/livez", "/readyz"})  # open to all: no token, no in-flight cap


@dataclass(frozen=True)
class WatcherState:
    """What the streams table says about the watcher."""

    head: int
    expected: int
    bootstrapped: int
    missing: list[str]
    lag_seconds: float | None
    error: str | None

    @property
    def ready(self) -> bool:
        return not self.missing


def watcher_state(api: Api) -> WatcherState:
    """Raises DatabaseUnavailable when the database does not answer."""
    head = api.db.head(fresh=True)
    rows = api.db.all(api.queries.streams, {})
    by_key = {(row[0], row[1]): row for row in rows}
    expected = [kind for kind in catalog.watched_kinds()]
    missing, newest_event, error, error_at = [], None, None, None
    for kind in expected:
        row = by_key.get(kind.stream_key)
        if row is None or not row[2]:
            missing.append(f"{kind.namespace}/{kind.type}")
    for row in rows:
        last_event_at, last_error, last_error_at = as_utc(row[3]), row[4], as_utc(row[5])
        if last_event_at is not None and (newest_event is None or last_event_at > newest_event):
            newest_event = last_event_at
        # an error counts until the stream has moved on past it
        if last_error and last_error_at and (last_event_at is None or last_error_at > last_event_at):
            if error_at is None or last_error_at > error_at:
                error, error_at = last_error, last_error_at
    lag = None if newest_event is None else max(0.0, (datetime.now(UTC) - newest_event).total_seconds())
    return WatcherState(head, len(expected), len(expected) - len(missing), missing, lag, error)


def _readiness(api: Api) -> tuple[WatcherState, float | None]:
    return watcher_state(api), api.db.replica_lag()


class Livez:
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "ok\n"


class Readyz:
    """503 until the database answers and every watched kind's stream has bootstrapped."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def on_get(self, req: Request, resp: Response) -> None:
        try:
            state, replica_lag = await self.api.db.run(_readiness, self.api)
        except DatabaseUnavailable as exc:
            problems.log_unavailable(req, exc)
            body = {"ready": False, "database": str(exc)}
            resp.status = 503
        else:
            body = {"ready": state.ready, "head_revision": state.head, "streams": state.expected,
                    "bootstrapped": state.bootstrapped, "missing": state.missing,
                    "lag_seconds": state.lag_seconds}
            if replica_lag is not None:  # reading from a standby: how far behind its primary it is
                body["replica_lag_seconds"] = replica_lag
            resp.status = 200 if state.ready else 503
        if resp.status == 503:
            resp.set_header("Retry-After", "1")
        resp.content_type = JSON
        resp.data = json.dumps(body, separators=(",", ":")).encode()


class Health:
    """The seed's HealthResponse (always 200) plus the watcher's state."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def on_get(self, req: Request, resp: Response) -> None:
        base = self.api.base(req)
        omni: dict[str, Any] = {}
        watcher: dict[str, Any] = {}
        try:
            state, backend = await self.api.db.run(self._read)
        except DatabaseUnavailable as exc:
            problems.log_unavailable(req, exc)
            status, omni = "degraded", {"connected": False, "error": str(exc)}
        else:
            connected = state.ready and state.error is None
            status = "healthy" if state.ready else "degraded"
            omni = {"connected": connected}
            if state.error:
                omni["error"] = state.error
            if backend:
                omni["backend_version"] = backend
            watcher = {"head_revision": state.head, "streams": state.expected, "bootstrapped": state.bootstrapped,
                       "missing": state.missing, "lag_seconds": state.lag_seconds}
        body = {
            "status": status,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "version": models.__version__,
            "omni": omni,
        }
        if watcher:
            body["watcher"] = watcher
        body["_links"] = {"metrics": base.url + "/metrics", "self": base.url + "/health"}
        resp.content_type = JSON
        resp.data = json.dumps(body, separators=(",", ":")).encode()

    def _read(self) -> tuple[WatcherState, str | None]:
        state = watcher_state(self.api)
        resource = self.api.live.resource(catalog.by_name("SysVersion"), "current")
        return state, None if resource is None else (resource.spec or {}).get("backend_version")


class Metrics:
    """The Prometheus text; the head revision and commit lag are read now (skipped when the database
    does not answer: the error counter says so)."""

    def __init__(self, request_metrics: metrics.RequestMetrics, api: Api) -> None:
        self.request_metrics = request_metrics
        self.api = api

    def _commit_state(self) -> None:
        row = self.api.db.one(self.api.queries.commit, {})
        if row is not None:
            heartbeat = as_utc(row[1])
            metrics.commit_state(int(row[0]), None if heartbeat is None else heartbeat.timestamp())

    async def on_get(self, req: Request, resp: Response) -> None:
        try:
            await self.api.db.run(self._commit_state)
        except DatabaseUnavailable:
            pass
        data, content_type = metrics.exposition(self.request_metrics)
        resp.content_type = content_type
        resp.data = data


class RootRedirect:
    """``/`` opens the fleet page (``/ui/``); the API documentation stays at ``/docs``."""

    async def on_get(self, req: Request, resp: Response) -> None:
        raise falcon.HTTPFound("ui/")
