"""Query parameters shared by every route: parsed strictly, a 400 problem naming the parameter otherwise."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api import selectors
from api.problems import bad_parameter
from models import history

MAX_LIMIT = 1000
SORTS = ("id", "-id", "created", "-created", "updated", "-updated")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the sort it belongs to, the last sort key (None for id sorts) and the last id."""

    sort: str
    key: Any
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.sort, self.key, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def single(params: dict[str, Any], name: str) -> str | None:
    """A parameter given at most once; repeated parameters are ambiguous and refused."""
    value = params.get(name)
    if isinstance(value, list):
        raise bad_parameter(name, "given more than once")
    return value


def limit(params: dict[str, Any]) -> int | None:
    text = single(params, "limit")
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise bad_parameter("limit", f"must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


def sort(params: dict[str, Any]) -> str:
    text = single(params, "sort")
    if text is None:
        return "id"
    if text not in SORTS:
        raise bad_parameter("sort", "must be one of " + ", ".join(SORTS))
    return text


def cursor(params: dict[str, Any], sort_name: str) -> Cursor | None:
    text = single(params, "cursor")
    if text is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        sort_of, key, last_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise bad_parameter("cursor", "not a cursor this API issued") from None
    if not isinstance(last_id, str) or sort_of not in SORTS or not (key is None or isinstance(key, str)):
        raise bad_parameter("cursor", "not a cursor this API issued")
    if sort_of != sort_name:
        raise bad_parameter("cursor", f"issued for sort={sort_of}, not sort={sort_name}")
    return Cursor(sort_of, key, last_id)


def selector(params: dict[str, Any]) -> tuple[selectors.Requirement, ...]:
    text = single(params, "selector")
    if not text:
        return ()
    try:
        return selectors.parse(text)
    except selectors.SelectorError as exc:
        raise bad_parameter("selector", str(exc)) from None


def min_revision(params: dict[str, Any]) -> int | None:
    text = single(params, "min_revision")
    if text is None:
        return None
    if not text.isdigit():
        raise bad_parameter("min_revision", "must be a non-negative integer revision")
    return int(text)


def at(params: dict[str, Any]) -> int | datetime | None:
    """``at=REVISION`` or ``at=RFC3339`` (with an offset; see ``models.history.parse_point``)."""
    text = single(params, "at")
    if text is None:
        return None
    try:
        return history.parse_point(text)
    except ValueError as exc:
        raise bad_parameter("at", f"must be a revision number or an RFC 3339 time: {exc}") from None


def filter_value(params: dict[str, Any], name: str) -> str | None:
    """A seed filter: an empty value means no filter (seed-api.md §4.2)."""
    return single(params, name) or None
