"""OpenAPI 3.1 description generated from the route table and the projection table, and the docs page.

Nothing here is written by hand per route: paths, parameters and response schemas all come from
``api.routes.ROUTES`` and ``models.projections.DOCUMENTS``, so the description cannot drift from what
the server answers. The interactive docs are Swagger UI from the ``swagger-ui-bundle-v2`` package,
served locally (no CDN).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import falcon
from falcon.asgi import Request, Response

import models
from api import reports as report_routes
from api import selectors
from api import timeline as timeline_route
from api.params import MAX_LIMIT, MAX_TEXT, SORTS
from api.routes import API, ROUTES, Derived, Route, Shape
from models import history, projections
from models.projections import Document, Field

PROBLEM = {"$ref": "#/components/schemas/Problem"}
_SCALARS = {"str": "string", "bool": "boolean", "int": "integer", "enum": "string", "present": "boolean",
            "nonempty": "boolean", "size": "integer", "oneof": "string"}


def _field_schema(f: Field) -> dict[str, Any]:
    if f.type in _SCALARS:
        schema: dict[str, Any] = {"type": _SCALARS[f.type]}
        if f.type == "oneof":
            schema["enum"] = list(f.choices)
        if f.type == "enum" and f.zero:
            schema["description"] = f"protobuf enum name (zero value {f.zero!r})"
    elif f.type == "time":
        schema = {"type": "string", "format": "date-time", "description": "UTC, second precision"}
    elif f.type == "strings":
        schema = {"type": "array", "items": {"type": "string"}}
    elif f.type == "map":
        schema = {"type": "object", "additionalProperties": {"type": ["string", "integer"]}}
    elif f.type == "object":
        schema = _object(f.members)
    elif f.type == "array":
        schema = {"type": "array", "items": _object(f.members)}
    else:  # pragma: no cover - a new field type must be described here
        raise ValueError(f"no schema for field type {f.type!r}")
    if f.type in ("strings", "map", "array") and not f.omitempty:
        schema["type"] = [schema["type"], "null"]  # Go prints a nil slice or map as null
    if f.description:
        schema["description"] = f.description
    return schema


def _object(fields: tuple[Field, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f.name: _field_schema(f) for f in fields},
        "required": [f.name for f in fields if not f.omitempty and not f.optional and not f.requires],
    }


_METADATA = {
    "type": "object",
    "description": "COSI metadata of the resource (not in the seed bridge)",
    "properties": {
        "version": {"type": "integer"}, "created": {"type": ["string", "null"], "format": "date-time"},
        "updated": {"type": ["string", "null"], "format": "date-time"}, "phase": {"type": "string"},
        "owner": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["version", "created", "updated", "phase", "owner", "labels", "annotations"],
}


def document_schema(doc: Document) -> dict[str, Any]:
    schema = _object(doc.fields)
    if doc.metadata:
        schema["properties"]["metadata"] = {"$ref": "#/components/schemas/Metadata"}
        schema["required"].append("metadata")
    if doc.links:
        link_keys = sorted({key for key, _ in doc.links})
        schema["properties"]["_links"] = {
            "type": "object", "description": "absolute URLs; conditional links are left out when they do not apply",
            "properties": {key: {"type": "string", "format": "uri"} for key in link_keys}}
    return schema


def _live_kubeconfig_responses(responses: dict[str, Any]) -> dict[str, Any]:
    """The kubeconfig comes live from Omni: no ETag, no revision, never cached."""
    body = {"type": "object", "required": ["data", "_links"], "properties": {
        "data": {"type": "string", "contentEncoding": "base64", "description": "base64 of the kubeconfig YAML"},
        "_links": {"type": "object", "properties": {"self": {"type": "string", "format": "uri"},
                                                    "cluster": {"type": "string", "format": "uri"}}}}}
    return {
        "200": {"description": "the kubeconfig (Cache-Control: no-store)", "content": {
            "application/json": {"schema": body}, "application/yaml": {"schema": {"type": "string"}}}},
        "404": _problem_response("no such cluster, or the pass-through is not configured (the problem says which)"),
        "502": _problem_response("Omni refused the request"),
        "503": _problem_response("Omni did not answer"),
    }


def _document_of(route: Route) -> Document | None:
    if route.derived is Derived.LIVE_ONLY:
        return None
    if route.derived in (Derived.KUBERNETES_NODES, Derived.KUBERNETES_NODE):
        return projections.DOCUMENTS[projections.KUBERNETES_NODE]
    if route.derived in (Derived.SCHEMATICS, Derived.SCHEMATIC):
        return projections.DOCUMENTS[projections.SCHEMATIC]
    return projections.DOCUMENTS[route.catalog_kind.type]


def _parameter(name: str, where: str, description: str, schema: dict | None = None,
               required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "description": description, "required": required,
            "schema": schema or {"type": "string"}}


# The parsers' grammars as patterns (ECMA 262 subset): what a pattern admits, the server accepts.
_REVISION = {"type": "string", "pattern": history.REVISION_PATTERN}


def _name(longest: int) -> str:
    """A label name or value segment of at most ``longest`` characters (api/selectors.py's ``_NAME``)."""
    return f"[A-Za-z0-9](?:[-A-Za-z0-9_.]{{0,{longest - 2}}}[A-Za-z0-9])?"


_VALUE = _name(selectors.MAX_VALUE_LENGTH)
# A prefixed key within Kubernetes' limits (DNS prefix 253, name 63: at most MAX_KEY_LENGTH in all)
_KEY = f"(?:{_name(253)}/{_name(63)}|{_name(selectors.MAX_KEY_LENGTH)})"
_MEMBER = rf"(?:\s*{_VALUE})?"
_MORE_MEMBERS = selectors.MAX_VALUES - 1
_SET = (rf"\((?:\s*{_VALUE}(?:\s*,{_MEMBER}){{0,{_MORE_MEMBERS}}}"
        rf"|\s*,{_MEMBER}(?:\s*,{_MEMBER}){{0,{_MORE_MEMBERS - 1}}})\s*\)")
_REQUIREMENT = rf"(?:!\s*{_KEY}|{_KEY}(?:\s*(?:==?|!=)(?:\s*{_VALUE})?|\s+(?:in|notin)\s*{_SET})?)"
# The count of requirements stays out of the pattern: with it, the compiled pattern outgrows what
# validators (jsonschema-rs) accept, and a dropped pattern validates nothing. The description says it.
SELECTOR_PATTERN = rf"^\s*(?:{_REQUIREMENT}(?:\s*,\s*{_REQUIREMENT})*)?\s*$"
# A filter value binds as a database string: bounded, and without NUL (qp.filter_value).
_FILTER = {"type": "string", "maxLength": MAX_TEXT, "pattern": "^[^\\u0000]*$"}

_COMMON = [
    _parameter("at", "query", "point-in-time read: a revision (ASCII digits) or an RFC 3339 time with an offset "
               "(Z, or +HH:MM sent as %2B: a raw + is a space). A point at or after the head reads the head "
               "(X-Readmodel-At: head); a revision beyond the head is a 409; before the oldest logged revision a "
               "410; inside the first bootstrap a 409. The 409/410 problem's revision names the one to ask for.",
               {"anyOf": [_REVISION, {"type": "string", "format": "date-time"}]}),
    _parameter("min_revision", "query", "wait up to ~2 s for the read model to reach this revision (ASCII "
               "digits), else 503", _REVISION),
    _parameter("If-None-Match", "header", "ETags from an earlier answer: 304 when one still matches"),
]


def _collection_parameters(route: Route) -> list[dict[str, Any]]:
    sorts = [s for s in SORTS if route.derived is None or s.lstrip("-") == "id"]
    return [
        _parameter("selector", "query", "Kubernetes label selector: a=b,c!=d,e in (x,y),f notin (z),g,!h; at "
                   f"most {selectors.MAX_REQUIREMENTS} requirements and {selectors.MAX_VALUES} values per set",
                   {"type": "string", "pattern": SELECTOR_PATTERN}),
        _parameter("sort", "query", "sort order (default id)", {"type": "string", "enum": sorts}),
        _parameter("limit", "query", f"page size (1..{MAX_LIMIT}); without it every item is returned",
                   {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
        _parameter("cursor", "query", "opaque cursor from a Link rel=next header, for the same sort (anything "
                   "else is a 400)", {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}),
    ]


_HEADERS = {
    "ETag": {"schema": {"type": "string"}, "description": "strong validator"},
    "X-Readmodel-Revision": {"schema": {"type": "integer"}, "description": "revision the answer reflects"},
    "X-Readmodel-At": {"schema": {"type": "string", "enum": ["head", "past"]},
                       "description": "with at=: head when the point is at or after the head, else past"},
}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}


# What any route can answer before or around its own logic.
_SERVER_PROBLEMS = {
    "414": _problem_response("the request URL is too long"),
    "431": _problem_response("the request headers are too large"),
}
# With `serve --auth tokens` and `--max-in-flight` (every route but the probes).
_ACCESS_PROBLEMS = {
    "401": _problem_response("no valid bearer token (with --auth tokens); WWW-Authenticate: Bearer"),
    "403": _problem_response("the token lacks the scope this route needs (read; sensitive for kubeconfigs)"),
    "429": _problem_response("this worker is at its --max-in-flight cap; retry after Retry-After seconds"),
}
_READ_PROBLEMS = {
    "400": _problem_response("a malformed parameter, named in the problem"),
    "409": _problem_response("at= names no complete state: beyond the head, or inside the first bootstrap "
                             "(revision: the head, or where the first bootstrap completed)"),
    "410": _problem_response("at= is before the oldest logged revision (revision: the oldest)"),
    "503": _problem_response("the database is unavailable, a query took too long, or min_revision was not "
                             "reached in time"),
}


def _operation(route: Route) -> dict[str, Any]:
    path_params = [
        _parameter(name, "path", "percent-encoded" + (" (may contain /)" if converter else ""),
                   {"type": "string", "minLength": 1}, required=True)
        for name, converter in re.findall(r"\{(\w+)(:\w+)?\}", route.path)]
    doc = _document_of(route)
    ref = {"$ref": f"#/components/schemas/{doc.title}"} if doc else {}
    parameters = path_params + [_parameter(f.param, "query", f.description, _FILTER) for f in route.filters]
    headers = dict(_HEADERS)
    if route.shape is Shape.COLLECTION:
        parameters += _collection_parameters(route)
        schema: dict[str, Any] = {"type": "array", "items": ref}
        headers["X-Total-Count"] = {"schema": {"type": "integer"}, "description": "items matching, all pages"}
        headers["Link"] = {"schema": {"type": "string"}, "description": 'RFC 8288 rel="next" when more pages exist'}
    else:
        schema = ref
    responses: dict[str, Any] = {
        "200": {"description": "OK", "headers": headers, "content": {"application/json": {"schema": schema}}},
        "304": {"description": "Not Modified (If-None-Match matched)",
                "headers": {name: headers[name] for name in ("ETag", "X-Readmodel-Revision")}},
        **_READ_PROBLEMS,
    }
    if path_params:
        responses["404"] = _problem_response("no such resource")
    common = _COMMON
    if route.derived is Derived.LIVE_ONLY:
        responses, common = _live_kubeconfig_responses(responses), []
    responses.update(_SERVER_PROBLEMS)
    responses.update(_ACCESS_PROBLEMS)
    operation = {
        "summary": route.summary, "operationId": _operation_id(route), "tags": [route.path.split("/")[1]],
        "parameters": parameters + common, "responses": dict(sorted(responses.items())),
    }
    if route.deprecated:
        operation["deprecated"] = True
    return operation


def _operation_id(route: Route) -> str:
    words = re.sub(r"\{(\w+)(:\w+)?\}", r"by-\1", route.path).strip("/").replace("/", "-").split("-")
    name = "".join(word.capitalize() for word in words if word)
    return ("list" if route.shape is Shape.COLLECTION else "get") + name


_STREAMS = {"head_revision": {"type": "integer"}, "streams": {"type": "integer"},
            "bootstrapped": {"type": "integer"}, "missing": {"type": "array", "items": {"type": "string"}},
            "lag_seconds": {"type": ["number", "null"]}}
_READY = {"type": "object", "required": ["ready"], "properties": {
    "ready": {"type": "boolean"}, "database": {"type": "string", "description": "why it does not answer"},
    **_STREAMS}}
_HEALTH = {"type": "object", "required": ["status", "timestamp", "version", "omni", "_links"], "properties": {
    "status": {"type": "string", "enum": ["healthy", "degraded"]},
    "timestamp": {"type": "string", "format": "date-time"}, "version": {"type": "string"},
    "omni": {"type": "object", "properties": {"connected": {"type": "boolean"}, "error": {"type": "string"},
                                              "backend_version": {"type": "string"}}},
    "watcher": {"type": "object", "properties": _STREAMS},
    "_links": {"type": "object", "properties": {"metrics": {"type": "string", "format": "uri"},
                                                "self": {"type": "string", "format": "uri"}}}}}


def _ops_paths() -> dict[str, Any]:
    def plain(summary: str, content: str, schema: dict[str, Any] | None = None,
              **extra: dict[str, Any]) -> dict[str, Any]:
        media = {content: {"schema": schema} if schema else {}}
        responses = {"200": {"description": "OK", "content": media}, **extra, **_SERVER_PROBLEMS}
        return {"get": {"summary": summary, "tags": ["operations"], "responses": dict(sorted(responses.items()))}}
    return {
        "/livez": plain("Liveness: the process answers", "text/plain"),
        "/readyz": plain("Readiness: the database answers and every watched kind has bootstrapped",
                         "application/json", _READY, **{"503": {
                             "description": "not ready; the body says what is missing",
                             "content": {"application/json": {"schema": _READY}}}}),
        "/health": plain("Seed-compatible health plus the watcher's state (always 200)", "application/json",
                         _HEALTH),
        "/metrics": plain("Prometheus metrics", "text/plain"),
        "/openapi.json": plain("This document", "application/json", {"type": "object"}),
        "/docs": plain("Interactive documentation (Swagger UI, served locally)", "text/html"),
        "/ui/": plain("The fleet page (static files; reads only this API)", "text/html"),
    }


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths[route.template.replace(":path}", "}")] = {"get": _operation(route)}
    paths.update(_ops_paths())
    paths.update(report_routes.openapi_paths())  # the reports routes (api/reports.py)
    from api import feed_openapi, history_openapi  # they build on this module's helpers

    paths.update(history_openapi.paths())  # <item>/history, <item>/diff, /changes (api/history_routes.py)
    paths.update(feed_openapi.paths())  # /events (api/feed.py)
    paths.update(timeline_route.openapi_paths())  # api/timeline.py
    schemas: dict[str, Any] = {doc.title: document_schema(doc) for doc in projections.DOCUMENTS.values()}
    schemas["Metadata"] = _METADATA
    schemas.update(feed_openapi.schemas())
    schemas["Problem"] = {
        "type": "object", "description": "RFC 9457 problem details",
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}, "instance": {"type": "string"},
                       "parameter": {"type": "string", "description": "the offending query parameter"},
                       "revision": {"type": "integer",
                                    "description": "at= problems: the revision to ask for instead"},
                       "error": {"type": "string", "description": "the detail again, as the seed bridge's error"}},
        "required": ["type", "title", "status", "detail", "error"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "omni-readmodel REST API", "version": models.__version__,
                 "description": "Read-only REST API over the Omni read model; seed-compatible paths and fields "
                                f"under {API}. HEAD is answered wherever GET is (same headers, no body); "
                                "write methods answer 405 with Allow: GET, HEAD."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearerAuth": {
            "type": "http", "scheme": "bearer",
            "description": "a token from `omni-readmodel token create`; required when the server runs with "
                           "--auth tokens (not for /livez and /readyz)"}}},
        # optional: a server started with --auth none needs no token
        "security": [{}, {"bearerAuth": []}],
    }


class OpenApi:
    def __init__(self) -> None:
        self.data = json.dumps(build(), separators=(",", ":")).encode()

    async def on_get(self, req: Request, resp: Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self.data


_DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>omni-readmodel API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
"""
# Relative URLs keep the page working behind a path prefix. A separate script, no inline code.
_DOCS_INIT = """window.onload = function () {
  window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true});
};
"""


def swagger_ui_path() -> Path | None:
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return Path(str(swagger_ui_bundle.swagger_ui_path))


class DocsPage:
    async def on_get(self, req: Request, resp: Response) -> None:
        if req.scope.get("raw_path", b"").endswith(b"/"):  # /docs/ would break the relative URLs
            raise falcon.HTTPMovedPermanently("../docs")
        resp.content_type = falcon.MEDIA_HTML
        resp.text = _DOCS_PAGE


class DocsInit:
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.content_type = falcon.MEDIA_JS
        resp.text = _DOCS_INIT
