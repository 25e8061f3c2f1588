"""schemathesis hooks for tests/test_api_schemathesis.py (loaded by path through SCHEMATHESIS_HOOKS).

Two parameters have valid values the schema cannot generate on its own, so schema-valid (positive) cases
get real ones; schema-invalid (negative) cases are left as generated:

- ``cursor`` is opaque: a string matching its pattern is well formed, but only a cursor the API issued
  is accepted (anything else is a 400, tested in tests/test_api_http.py). A cursor of the form the API
  issues, for the case's sort, takes its place (for ``<item>/history`` a revision, for ``/changes`` a
  collection and id, for ``/timeline`` its own form).
- ``min_revision`` above the head waits ~2 s and answers the documented 503 (tests/test_api_http.py):
  a value of ASCII digits above the head is lowered to the head in every case, so a run tests parsing,
  not waiting.
- ``/api/v1/events`` with ``follow=true`` or ``Accept: text/event-stream`` is a stream that never ends
  (by design); every case asks for the ndjson answer that ends at the head instead (follow and SSE are
  tested end to end in tests/test_api_feed.py).
"""

from __future__ import annotations

import os

import schemathesis

from api.params import Cursor
from api.timeline import PATH as TIMELINE
from api.timeline import encode_cursor
from models import timeline

HEAD = int(os.environ["OMNI_READMODEL_TEST_HEAD"])


@schemathesis.hook
def map_case(context, case):
    if case.headers and "text/event-stream" in str(case.headers.get("Accept", "")):
        case.headers = {name: value for name, value in case.headers.items() if name != "Accept"}
    if not case.query:
        return case
    query = dict(case.query)
    wanted = query.get("min_revision")
    if isinstance(wanted, str) and wanted.isascii() and wanted.isdigit() and int(wanted) > HEAD:
        query["min_revision"] = str(HEAD)
    if query.get("follow") in (True, "true"):
        query["follow"] = "false"
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and isinstance(query.get("cursor"), str):
        path = case.operation.path
        if path == TIMELINE:
            sort = query.get("sort") if query.get("sort") in timeline.SORTS else "name"
            query["cursor"] = encode_cursor(sort, 0)
        elif path.endswith("/history"):  # newest first, after a revision
            query["cursor"] = Cursor("-id", None, "1").encode()
        elif path.endswith("/changes"):  # by collection, then id
            query["cursor"] = Cursor("id", "machines", "m1").encode()
        else:
            sort = query.get("sort") if isinstance(query.get("sort"), str) else "id"
            key = None if sort.lstrip("-") == "id" else "2025-01-01 00:00:00.000000"
            query["cursor"] = Cursor(sort, key, "m1").encode()
    case.query = query
    return case
