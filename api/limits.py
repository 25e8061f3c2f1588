"""The per-worker cap on requests in flight (``serve --max-in-flight N``): the next one gets 429.

An ASGI wrapper around the application, so the count is released however a request ends. Probes are
neither counted nor refused: an orchestrator must still see a busy worker as alive and ready.
"""

from __future__ import annotations

from typing import Any

from api.ops import PROBES
from api.problems import PROBLEM_JSON, Problem

RETRY_AFTER_SECONDS = 1


class InFlightLimit:
    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await self._refuse(scope, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, scope: dict[str, Any], send: Any) -> None:
        problem = Problem(429, "too-many-requests", "Too Many Requests",
                          f"this worker is answering {self.limit} requests already; retry shortly")
        body = problem.body(scope["path"])
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode())]})
        await send({"type": "http.response.body", "body": body})


def limit_in_flight(app: Any, limit: int) -> Any:
    """``app`` behind the cap; ``app`` itself when ``limit`` is 0 (no cap)."""
    return InFlightLimit(app, limit) if limit > 0 else app
