"""OpenAPI for the history routes (``api.history_routes``): one path per route, generated from the same
table (``route_documents.HISTORY_ROUTES``), merged into /openapi.json by ``api.openapi.build``."""

from __future__ import annotations

from typing import Any

from api import collection_kinds, history_routes, openapi, route_documents
from api.params import MAX_LIMIT
from api.routes import API, Route

_POINT = {"anyOf": [openapi._REVISION, {"type": "string", "format": "date-time"}]}
_POINT_TEXT = ("a revision (ASCII digits) or an RFC 3339 time with an offset (Z, or +HH:MM sent as %2B), as at= "
               "takes it")
_PAGE = [
    openapi._parameter("limit", "query", f"page size (1..{MAX_LIMIT}, default {history_routes.DEFAULT_PAGE})",
                       {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    openapi._parameter("cursor", "query", "opaque cursor from a Link rel=next header (anything else is a 400)",
                       {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}),
]
_ETAG = openapi._parameter("If-None-Match", "header", "ETags from an earlier answer: 304 when one still matches")
_HEADERS = {
    "ETag": {"schema": {"type": "string"}, "description": "strong validator"},
    "X-Readmodel-Revision": {"schema": {"type": "integer"}, "description": "the head revision read"},
}
_PAGE_HEADERS = {
    "X-Total-Count": {"schema": {"type": "integer"}, "description": "items matching, all pages"},
    "Link": {"schema": {"type": "string"}, "description": 'RFC 8288 rel="next" when more pages exist'},
}
_GONE = {"X-Readmodel-Horizon": {"schema": {"type": "integer"}, "description": "the retention horizon"}}


def _problems(**extra: str) -> dict[str, Any]:
    out = {
        "400": openapi._problem_response("a malformed or unknown parameter, named in the problem"),
        "503": openapi._problem_response("the database is unavailable, or a query took too long"),
        **{status: openapi._problem_response(text) for status, text in extra.items()},
        **openapi._SERVER_PROBLEMS, **openapi._ACCESS_PROBLEMS,
    }
    if "410" in out:
        out["410"]["headers"] = _GONE
    return out


def _operation(summary: str, operation_id: str, tag: str, parameters: list[dict[str, Any]],
               ok: dict[str, Any], problems: dict[str, Any]) -> dict[str, Any]:
    not_modified = {"description": "Not Modified (If-None-Match matched)", "headers": _HEADERS}
    responses = {"200": ok, "304": not_modified, **problems}
    return {"get": {"summary": summary, "operationId": operation_id, "tags": [tag],
                    "parameters": [*parameters, _ETAG], "responses": dict(sorted(responses.items()))}}


def _id_parameter() -> dict[str, Any]:
    return openapi._parameter("id", "path", "percent-encoded", {"type": "string", "minLength": 1}, required=True)


def _history(route: Route) -> dict[str, Any]:
    document = openapi._document_of(route)
    entry = {"type": "object", "required": ["revision", "observed_at", "event", "version", "document"],
             "properties": {
                 "revision": {"type": "integer"},
                 "observed_at": {"type": "string", "format": "date-time", "description": "when it was logged (UTC)"},
                 "event": {"type": "string", "enum": ["created", "updated", "destroyed"],
                           "description": "the document appeared, changed, or disappeared"},
                 "version": {"type": "integer", "description": "COSI version of the resource (destroyed: its last)"},
                 "document": {"$ref": f"#/components/schemas/{document.title}",
                              "description": f"what GET {API}{route.path}?at=<revision> answers; for destroyed, "
                                             "the last state"}}}
    ok = {"description": "the versions, newest first", "headers": {**_HEADERS, **_PAGE_HEADERS},
          "content": {"application/json": {"schema": {"type": "array", "items": entry}}}}
    parameters = [_id_parameter(),
                  openapi._parameter("since", "query", f"only versions at or after this point: {_POINT_TEXT}", _POINT),
                  openapi._parameter("until", "query", f"only versions at or before this point: {_POINT_TEXT}", _POINT),
                  *_PAGE]
    summary = (f"Every version of {API}{route.path}: each revision where its document changed, spanning "
               "deletes and re-creates (readable after a destroy)")
    problems = _problems(**{"404": "the id was never logged (or only before the retention horizon)",
                            "410": "since is before the retention horizon (revision: the horizon)"})
    return _operation(summary, openapi._operation_id(route) + "History", route.path.split("/")[1], parameters, ok,
                      problems)


_PATCH = {"type": "array", "description": "RFC 6902 JSON Patch", "items": {
    "type": "object", "required": ["op", "path"], "properties": {
        "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
        "path": {"type": "string"}, "from": {"type": "string"}, "value": {}}}}


def _diff(route: Route) -> dict[str, Any]:
    revision = {"schema": {"type": "integer"}}
    ok = {"description": "the patch turning the document at from into the document at to",
          "headers": {**_HEADERS, "X-Readmodel-From": {**revision, "description": "the revision from read"},
                      "X-Readmodel-To": {**revision, "description": "the revision to read"}},
          "content": {history_routes.JSON_PATCH: {"schema": _PATCH}}}
    parameters = [_id_parameter(),
                  openapi._parameter("from", "query", f"{_POINT_TEXT}; default: the version before to's", _POINT),
                  openapi._parameter("to", "query", f"{_POINT_TEXT}; default: the latest document", _POINT)]
    problems = _problems(**{"404": "the id was never logged, or it had no document at from or to (named)",
                            "409": "from or to names no complete state (beyond the head, inside the first "
                                   "bootstrap); revision: the one to ask for",
                            "410": "from or to is before the retention horizon or the oldest logged revision"})
    return _operation(f"JSON Patch between two versions of {API}{route.path}",
                      openapi._operation_id(route) + "Diff", route.path.split("/")[1], parameters, ok, problems)


def _changes() -> dict[str, Any]:
    counts = {"type": "object", "required": ["created", "updated", "destroyed"],
              "properties": {name: {"type": "integer"} for name in ("created", "updated", "destroyed")}}
    event = {"type": "string", "enum": ["created", "updated", "destroyed"]}
    change = {"type": "object", "required": ["collection", "id", "first_event", "last_event", "from_revision",
                                             "to_revision", "versions"], "properties": {
        "collection": {"type": "string"}, "id": {"type": "string"}, "first_event": event, "last_event": event,
        "from_revision": {"type": "integer", "description": "its first event in the range"},
        "to_revision": {"type": "integer", "description": "its last event in the range"},
        "versions": {"type": "integer", "description": "its logged events in the range (with those of the "
                                                       "resources its document joins)"}}}
    body = {"type": "object", "required": ["from_revision", "to_revision", "summary", "changes"], "properties": {
        "from_revision": {"type": "integer"}, "to_revision": {"type": "integer"},
        "summary": {"type": "object", "additionalProperties": counts,
                    "description": "per collection, over all pages: created (first event a create, not destroyed "
                                   "since), destroyed (last event a destroy), updated (the rest)"},
        "changes": {"type": "array", "items": change, "description": "this page, by collection then id"}}}
    ok = {"description": "the resources changed in (from, to]", "headers": {**_HEADERS, **_PAGE_HEADERS},
          "content": {"application/json": {"schema": body}}}
    parameters = [
        openapi._parameter("from", "query", f"changes after this point: {_POINT_TEXT}", _POINT, required=True),
        openapi._parameter("to", "query", f"changes up to this point (default: the head): {_POINT_TEXT}", _POINT),
        {**openapi._parameter("collection", "query", "only these collections (repeatable)",
                              {"type": "array", "items": {"type": "string", "enum": list(collection_kinds.COLLECTIONS)}}),
         "style": "form", "explode": True},
        openapi._parameter("cluster", "query", "only resources labelled with this cluster", openapi._FILTER),
        openapi._parameter("selector", "query", "Kubernetes label selector over the labels after the last change",
                           {"type": "string", "pattern": openapi.SELECTOR_PATTERN}),
        *_PAGE]
    problems = _problems(**{"409": "from or to is beyond the head (revision: the head)",
                            "410": "from is before the retention horizon (revision: the horizon)"})
    return _operation("What changed fleet-wide between two points, per resource, with a summary per collection",
                      "listChanges", "changes", parameters, ok, problems)


def paths() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for route in route_documents.HISTORY_ROUTES:
        out[route.template + "/history"] = _history(route)
        out[route.template + "/diff"] = _diff(route)
    out[API + "/changes"] = _changes()
    return out
