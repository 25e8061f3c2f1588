"""The ASGI application: Falcon 4, one ``Endpoint`` per route table row, operational endpoints.

``create_app(settings)`` builds it; ``app_from_environment()`` is the factory uvicorn workers call
(``serve`` passes the settings to worker processes through the environment). Importing this module
imports prometheus_client: ``serve`` imports it only after setting ``PROMETHEUS_MULTIPROC_DIR``.
"""

from __future__ import annotations

import gc
import logging
from time import perf_counter
from typing import Any

import falcon
import falcon.asgi
from falcon.routing import CompiledRouter

from api import feed, history_routes, openapi, ops, problems, ui
from api import metrics as api_metrics
from api import reports as report_routes
from api import timeline as timeline_route
from api.auth import BearerAuth, access_middleware
from api.database import Database, DatabaseUnavailable, QueryTimeout
from api.fast_items import FastItems
from api.kubeconfig import Kubeconfigs, OmniAccess
from api.limits import limit_in_flight
from api.metrics import STARTED, RequestMetrics
from api.resources import FAST_FAILURE, Api, Endpoint
from api.routes import API, ROUTES, Derived
from api.settings import Settings

log = logging.getLogger(__name__)
ALLOW = b"GET, HEAD"


class Entry:
    """The ASGI entry point in front of Falcon: notes when the request arrived and counts requests in
    flight (metrics), and routes on the path as sent. ASGI servers percent-decode ``path``, which would
    make an encoded ``%2F`` inside an id (exposed services) indistinguishable from a separator;
    responders decode ids themselves.

    HEAD is answered as GET everywhere (uvicorn, which keeps its own scope saying HEAD, sends the headers
    without the body), and a successful OPTIONS names only GET and HEAD, whatever Falcon would list."""

    def __init__(self, app: falcon.asgi.App, metrics: RequestMetrics, fast: FastItems | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.fast = fast

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[STARTED] = perf_counter()
        raw = scope.get("raw_path")
        if raw:
            scope["path"] = raw.decode("latin-1")
        # the change feed watches for the client going away. Taken out again once answered: the server's
        # request object holds the scope and ``receive`` is its bound method, a reference cycle per request
        # otherwise (uvicorn's RequestResponseCycle), left for the cyclic GC to find, which then ran every
        # few dozen requests
        scope[feed.RECEIVE] = receive
        received = scope
        method = scope["method"]
        if method == "HEAD":
            scope = {**scope, "method": "GET", feed.HEAD: True}
        elif method == "OPTIONS":
            send = _read_only_allow(send)
        metrics = self.metrics
        metrics.in_flight += 1
        try:
            if method == "GET" and self.fast is not None and await self.fast.answer(scope, send):
                return
            await self.app(scope, receive, send)
        finally:
            metrics.in_flight -= 1
            received.pop(feed.RECEIVE, None)
            if FAST_FAILURE in scope:  # its traceback holds the frames that held the scope
                del scope[FAST_FAILURE]


def _read_only_allow(send: Any) -> Any:
    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] < 300:
            headers = [(name, value) for name, value in message.get("headers", ()) if name.lower() != b"allow"]
            message = {**message, "headers": [*headers, (b"allow", ALLOW)]}
        await send(message)

    return sending


class ReadOnlySink:
    """Paths under /api/v1 that match no route: 405 for write methods (the seed's write and action
    routes), a 404 problem otherwise."""

    async def __call__(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, **_: Any) -> None:
        if req.method not in problems.READ_ONLY_METHODS + ("OPTIONS",):
            raise problems.method_not_allowed(req.method)
        raise problems.not_found(f"no route for {req.path}")


async def _database_unavailable(req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: DatabaseUnavailable,
                                params: dict) -> None:
    """503: the database is unreachable, or this request's query ran past the timeout (logged either way;
    the driver's message names no credentials)."""
    timed_out = isinstance(ex, QueryTimeout)
    problems.log_unavailable(req, ex, "query timed out" if timed_out else "database unavailable")
    problems.write(resp, problems.unavailable(str(ex), retry_after=2 if timed_out else 1),
                   req.path)


def create_app(settings: Settings | None = None) -> Any:
    settings = settings or Settings()

    db = Database(settings.database_url, head_ttl=settings.head_cache_seconds,
                  query_timeout=settings.query_timeout_seconds, query_threads=settings.query_threads,
                  observer=api_metrics.DatabaseMetrics())
    api = Api(db, trust_proxy_headers=settings.trust_proxy_headers, page_cache_bytes=settings.page_cache_bytes,
              item_cache_bytes=settings.item_cache_bytes)
    metrics = RequestMetrics()
    access = access_middleware(settings, db)
    router = CompiledRouter()
    app = falcon.asgi.App(middleware=[metrics, *access], cors_enable=False, router=router)
    app.req_options.strip_url_path_trailing_slash = True
    omni = OmniAccess.configure(
        settings.omni_endpoint, user=settings.kubeconfig_user, groups=settings.kubeconfig_groups,
        ttl_seconds=settings.kubeconfig_ttl_seconds, ca_file=settings.omni_ca_file,
        insecure_no_auth=settings.omni_insecure_no_auth)
    for route in ROUTES:
        live = route.derived is Derived.LIVE_ONLY  # fetched from Omni per request, never stored
        app.add_route(route.template, Kubeconfigs(api, route, omni) if live else Endpoint(api, route))
    report_routes.register(app, db)
    history_routes.register(app, api)  # <item>/history, <item>/diff, /changes
    feed.register(app, api, settings)
    timeline_route.register(app, db)
    app.add_sink(ReadOnlySink(), prefix=API + r"(/|$)")
    app.add_route("/livez", ops.Livez())
    app.add_route("/readyz", ops.Readyz(api))
    app.add_route("/health", ops.Health(api))
    app.add_route("/metrics", ops.Metrics(metrics, api))
    app.add_route("/openapi.json", openapi.OpenApi())
    app.add_route("/", ops.RootRedirect())
    ui.register(app)
    app.add_route("/docs", openapi.DocsPage())
    app.add_route("/docs/init.js", openapi.DocsInit())
    assets = openapi.swagger_ui_path()
    if assets is not None:
        app.add_static_route("/docs", str(assets))
    app.add_error_handler(Exception, problems.handle_unexpected)
    app.add_error_handler(problems.Problem, problems.handle_problem)
    app.add_error_handler(DatabaseUnavailable, _database_unavailable)
    app.set_error_serializer(problems.serialize_http_error)
    fast = None
    if not settings.cors_origins:  # CORS answers vary with Origin: those stay with Falcon's middleware
        tokens = next((m.cache for m in access if isinstance(m, BearerAuth)), None)
        fast = FastItems(router, api, metrics, tokens)
    gc.freeze()  # start-up objects never die: keep them out of every collection
    return limit_in_flight(Entry(app, metrics, fast), settings.max_in_flight)


def app_from_environment() -> Any:
    """The uvicorn factory (``--factory api.app:app_from_environment``)."""
    return create_app(Settings.from_environment())
