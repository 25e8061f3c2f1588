"""The hot path of a stored item (``GET /api/v1/<kind>/{id}``, no query string), answered in front of Falcon.

Falcon's request and response objects, middleware loop and header handling cost more than the indexed
lookup the answer needs, and item GETs are what dashboards and automation send most. ``FastItems`` routes
with Falcon's own router (the same resource, template and fields), then does what the Falcon path does for
such a request: bearer auth through the same token cache, the base URL, the same ``Endpoint.live_answer``
(ETag, 304, document), ``X-Readmodel-Revision``, the metrics tally. It answers only 200 and 304: whatever
else the request needs (HEAD, a query string, a trailing slash, CORS, a 401/403, duplicated headers) is
left to Falcon untouched, and an error met on the way (404, 503 of a dead or slow database, 400 Host) is put
in the scope for the Falcon responder to raise, so it is answered, logged and counted exactly once, as any
other error, without a second query.
"""

from __future__ import annotations

from typing import Any

from falcon.routing import CompiledRouter

from api.auth import TOKEN_NAME, TokenCache
from api.links import base_for
from api.metrics import STARTED, RequestMetrics
from api.resources import FAST_FAILURE, JSON, Api, Endpoint

CONTENT_TYPE = JSON.encode()
_PROXY = (b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-prefix")


class FastItems:
    def __init__(self, router: CompiledRouter, api: Api, metrics: RequestMetrics,
                 tokens: TokenCache | None) -> None:
        self.router = router
        self.api = api
        self.metrics = metrics
        self.tokens = tokens
        self.wanted = {b"host", b"if-none-match", b"authorization"}
        if api.trust_proxy_headers:
            self.wanted.update(_PROXY)

    async def answer(self, scope: dict[str, Any], send: Any) -> bool:
        """Answer a plain item GET and return True; False leaves the request to Falcon."""
        path = scope["path"]
        if scope["query_string"] or path[-1] == "/":
            return False
        found = self.router.find(path)
        if found is None:
            return False
        endpoint, _, fields, template = found
        if type(endpoint) is not Endpoint or not endpoint.plain_item:
            return False
        headers: dict[bytes, bytes] = {}
        wanted = self.wanted
        for name, value in scope["headers"]:
            if name in wanted:
                if name in headers:  # Falcon joins repeated headers: let it
                    return False
                headers[name] = value
        authorization = headers.get(b"authorization")
        if self.tokens is not None:  # the same check as api.auth.BearerAuth; a refusal is Falcon's to answer
            grant = None if authorization is None else self.tokens.find(authorization.decode("latin-1"))
            if grant is None or endpoint.route.scope not in grant.scopes:
                return False
            TOKEN_NAME.set(grant.name)
        match = headers.get(b"if-none-match")
        try:
            api = self.api
            base = base_for(scope["scheme"], _text(headers.get(b"host")),  # memoised
                            *(_text(headers.get(name)) for name in _PROXY if name in wanted))
            api.freshness.kinds()  # first: a re-read of the kind revisions brings the head with it
            revision = api.db.head()
            etag, body = endpoint.live_answer(path, "", base, fields["id"], None if match is None else
                                              match.decode("latin-1"))
        except Exception as exc:  # noqa: BLE001 - every error is answered by the Falcon responder
            scope[FAST_FAILURE] = exc
            return False
        if body is None:
            status = 304
            await send({"type": "http.response.start", "status": 304, "headers": [
                (b"etag", etag.encode()), (b"x-readmodel-revision", str(revision).encode())]})
            await send({"type": "http.response.body"})
        else:
            status = 200
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", CONTENT_TYPE), (b"etag", etag.encode()),
                (b"x-readmodel-revision", str(revision).encode()), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        self.metrics.record(template, "GET", status, scope[STARTED])
        return True


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
