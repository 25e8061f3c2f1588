"""The OpenAPI description of ``GET /api/v1/events`` (merged into /openapi.json by ``api.openapi.build``)."""

from __future__ import annotations

from typing import Any

from api import openapi, served
from api.feed import NDJSON, PATH, SSE

_EVENT = {
    "type": "object", "required": ["revision", "observed_at", "collection", "namespace", "type", "id", "event",
                                   "document"],
    "properties": {
        "revision": {"type": "integer", "description": "the log revision (SSE id:); strictly increasing"},
        "observed_at": {"type": "string", "format": "date-time", "description": "when the watcher applied it"},
        "collection": {"type": ["string", "null"], "enum": [*served.NAMES, None],
                       "description": "the API collection whose item document this change changes (a "
                                      "MachineStatus change is a change of machines); null for kinds no item "
                                      "route serves by id (metrics singletons, config diffs, backup statuses)"},
        "namespace": {"type": "string"}, "type": {"type": "string"},
        "id": {"type": "string", "description": "the stored resource id"},
        "event": {"type": "string", "enum": ["created", "updated", "destroyed"]},
        "document": {"type": ["object", "null"],
                     "description": "what the collection's item route answers at this revision (?at=revision); "
                                    "for destroyed, the last state; null when collection is null or the item "
                                    "did not exist then"},
    },
}


def paths() -> dict[str, Any]:
    parameter, problem = openapi._parameter, openapi._problem_response
    description = (
        "The change feed: every log row after `since` in strict revision order, no gaps, no duplicates across "
        "reconnects. With `Accept: text/event-stream`, Server-Sent Events that never end: `id:` the revision, "
        "`event:` created|updated|destroyed, `data:` one FeedEvent; a `: heartbeat` comment when idle (15 s); "
        "`event: bookmark` (data `{\"event\":\"bookmark\",\"revision\":N}`) at least every 5 s while filters "
        "hide events, so a filtered client resumes cheaply; `event: overflow` with the revision to resume from, "
        "then the end, when the client falls too far behind (serve --feed-queue-events). Otherwise "
        "`application/x-ndjson`, one FeedEvent per line, ending at the head revision of the request unless "
        "follow=true (then bookmark and overflow arrive as `{\"event\": ..., \"revision\": N}` lines). "
        "Without since (or Last-Event-ID), the feed starts at the head. Each worker polls the log once for all "
        "of its feed clients (serve --feed-max-subscribers caps them: 503 with Retry-After past it).")
    parameters = [
        parameter("since", "query", "the last revision the client has: the feed sends the revisions after it. "
                  "Below the retention horizon (omni-readmodel prune) a 410 naming the oldest revision that "
                  "answers (relist, then follow from there)", openapi._REVISION),
        parameter("Last-Event-ID", "header", "SSE resume: the last id received; wins over since",
                  openapi._REVISION),
        {"name": "collection", "in": "query", "required": False, "style": "form", "explode": True,
         "description": "only changes of these collections (repeatable); excludes the collection-less kinds",
         "schema": {"type": "array", "items": {"type": "string", "enum": list(served.NAMES)}}},
        parameter("cluster", "query", "only changes of this cluster: resources labelled omni.sidero.dev/cluster "
                  "with it, and the cluster-keyed kinds (clusters, clusters/status, ...) with this id",
                  openapi._FILTER),
        parameter("selector", "query", "only resources whose labels match this Kubernetes label selector",
                  {"type": "string", "pattern": openapi.SELECTOR_PATTERN}),
        parameter("follow", "query", "ndjson: keep the stream open after the head (default false; SSE always "
                  "follows)", {"type": "boolean"}),
    ]
    headers = {"X-Readmodel-Revision": {"schema": {"type": "integer"},
                                        "description": "the head revision when the request began"}}
    responses = {
        "200": {"description": "the stream", "headers": headers, "content": {
            NDJSON: {"schema": {"type": "string", "description": "one FeedEvent JSON object per line"}},
            SSE: {"schema": {"type": "string", "description": "Server-Sent Events, data: one FeedEvent"}}}},
        "400": problem("a malformed parameter (or Last-Event-ID), named in the problem"),
        "410": problem("since is below the retention horizon (revision: the oldest revision that answers)"),
        "503": problem("this worker serves --feed-max-subscribers feed clients already (Retry-After), or the "
                       "database is unavailable"),
        **openapi._SERVER_PROBLEMS, **openapi._ACCESS_PROBLEMS,
    }
    return {PATH: {"get": {"summary": "The change feed (SSE or ndjson), resumable by revision", "description":
                           description, "operationId": "getEvents", "tags": ["events"], "parameters": parameters,
                           "responses": dict(sorted(responses.items()))}}}


def schemas() -> dict[str, Any]:
    return {"FeedEvent": _EVENT}
