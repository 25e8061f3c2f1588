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
from api.params import MAX_LIMIT, SORTS
from api.routes import API, ROUTES, Derived, Route, Shape
from models import projections
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


_COMMON = [
    _parameter("at", "query", "point-in-time read: a revision number or an RFC 3339 time"),
    _parameter("min_revision", "query", "wait up to ~2 s for the read model to reach this revision, else 503",
               {"type": "integer", "minimum": 0}),
    _parameter("If-None-Match", "header", "an ETag from an earlier answer: 304 when nothing changed"),
]
_COLLECTION = [
    _parameter("selector", "query", "Kubernetes label selector: a=b,c!=d,e in (x,y),f notin (z),g,!h"),
    _parameter("sort", "query", "sort order (default id)", {"type": "string", "enum": list(SORTS)}),
    _parameter("limit", "query", f"page size (1..{MAX_LIMIT}); without it every item is returned",
               {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    _parameter("cursor", "query", "opaque cursor from a Link rel=next header"),
]
_HEADERS = {
    "ETag": {"schema": {"type": "string"}, "description": "strong validator"},
    "X-Readmodel-Revision": {"schema": {"type": "integer"}, "description": "revision the answer reflects"},
}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}


def _operation(route: Route) -> dict[str, Any]:
    path_params = [
        _parameter(name, "path", "percent-encoded" + (" (may contain /)" if converter else ""), required=True)
        for name, converter in re.findall(r"\{(\w+)(:\w+)?\}", route.path)]
    doc = _document_of(route)
    ref = {"$ref": f"#/components/schemas/{doc.title}"} if doc else {}
    parameters = path_params + [_parameter(f.param, "query", f.description) for f in route.filters]
    headers = dict(_HEADERS)
    if route.shape is Shape.COLLECTION:
        parameters += _COLLECTION
        schema: dict[str, Any] = {"type": "array", "items": ref}
        headers["X-Total-Count"] = {"schema": {"type": "integer"}, "description": "items matching, all pages"}
        headers["Link"] = {"schema": {"type": "string"}, "description": 'RFC 8288 rel="next" when more pages exist'}
    else:
        schema = ref
    responses: dict[str, Any] = {
        "200": {"description": "OK", "headers": headers, "content": {"application/json": {"schema": schema}}},
        "304": {"description": "Not Modified (If-None-Match matched)"},
        "400": _problem_response("a malformed parameter, named in the problem"),
        "404": _problem_response("no such resource"),
        "503": _problem_response("the database is unavailable, or min_revision was not reached in time"),
    }
    common = _COMMON
    if route.derived is Derived.LIVE_ONLY:
        responses, common = _live_kubeconfig_responses(responses), []
    operation = {
        "summary": route.summary, "operationId": _operation_id(route), "tags": [route.path.split("/")[1]],
        "parameters": parameters + common, "responses": responses,
    }
    if route.deprecated:
        operation["deprecated"] = True
    return operation


def _operation_id(route: Route) -> str:
    words = re.sub(r"\{(\w+)(:\w+)?\}", r"by-\1", route.path).strip("/").replace("/", "-").split("-")
    name = "".join(word.capitalize() for word in words if word)
    return ("list" if route.shape is Shape.COLLECTION else "get") + name


def _ops_paths() -> dict[str, Any]:
    def plain(summary: str, content: str = "application/json") -> dict[str, Any]:
        return {"get": {"summary": summary, "tags": ["operations"],
                        "responses": {"200": {"description": "OK", "content": {content: {}}}}}}
    paths = {
        "/livez": plain("Liveness: the process answers", "text/plain"),
        "/readyz": plain("Readiness: the database answers and every watched kind has bootstrapped (else 503)"),
        "/health": plain("Seed-compatible health plus the watcher's state (always 200)"),
        "/metrics": plain("Prometheus metrics", "text/plain"),
    }
    paths["/readyz"]["get"]["responses"]["503"] = {"description": "not ready; the body says what is missing"}
    return paths


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths[route.template.replace(":path}", "}")] = {"get": _operation(route)}
    paths.update(_ops_paths())
    paths.update(report_routes.openapi_paths())  # the reports routes (api/reports.py)
    schemas: dict[str, Any] = {doc.title: document_schema(doc) for doc in projections.DOCUMENTS.values()}
    schemas["Metadata"] = _METADATA
    schemas["Problem"] = {
        "type": "object", "description": "RFC 9457 problem details",
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}, "instance": {"type": "string"},
                       "parameter": {"type": "string", "description": "the offending query parameter"},
                       "error": {"type": "string", "description": "the detail again, as the seed bridge's error"}},
        "required": ["type", "title", "status", "detail", "error"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "omni-readmodel REST API", "version": models.__version__,
                 "description": "Read-only REST API over the Omni read model; seed-compatible paths and fields "
                                f"under {API}. Write methods answer 405."},
        "paths": paths,
        "components": {"schemas": schemas},
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
