"""Query parameters shared by every route: parsed strictly, a 400 problem naming the parameter otherwise."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api import selectors
from api.problems import bad_parameter

MAX_LIMIT = 1000
SORTS = ("id", "-id", "created", "-created", "updated", "-updated")
MAX_QUERY_STRING = 4096  # bytes of the raw query string; the HTTP layer refuses longer URLs with 414
MAX_INTEGER_DIGITS = 19
MAX_INTEGER = 2**63 - 1  # revisions are 64-bit columns
MAX_TEXT = 256  # characters of a filter value (label values are at most 63 in Kubernetes)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the sort it belongs to, the last sort key (None for id sorts) and the last id."""

    sort: str
    key: Any
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.sort, self.key, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def integer(text: str) -> int | None:
    """``text`` as a non-negative integer, or None: ASCII digits only (``str.isdigit`` also accepts ``①``
    and other Unicode digits, which ``int`` then refuses or reads as something else) and at most a
    64-bit value, so no conversion or database bind can fail on it."""
    if not 0 < len(text) <= MAX_INTEGER_DIGITS or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_INTEGER else None


def clean_text(text: str) -> bool:
    """Whether ``text`` can be bound as a database string on both backends: no NUL (PostgreSQL text
    cannot hold one) and no lone surrogate (not encodable as UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_query_string(query_string: str) -> None:
    if len(query_string) > MAX_QUERY_STRING:
        raise bad_parameter("query string", f"longer than {MAX_QUERY_STRING} bytes")


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
    value = integer(text)
    if value is None or not 1 <= value <= MAX_LIMIT:
        raise bad_parameter("limit", f"must be an integer from 1 to {MAX_LIMIT}")
    return value


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
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise bad_parameter("cursor", "not a cursor this API issued") from None
    if (not isinstance(last_id, str) or sort_of not in SORTS or not (key is None or isinstance(key, str))
            or not clean_text(last_id) or not clean_text(key or "")):
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
    value = integer(text)
    if value is None:
        raise bad_parameter("min_revision", f"must be a non-negative integer revision of at most "
                                            f"{MAX_INTEGER_DIGITS} ASCII digits")
    return value


def at(params: dict[str, Any]) -> int | datetime | None:
    """``at=REVISION`` or ``at=RFC3339`` (a time without offset is UTC)."""
    text = single(params, "at")
    if text is None:
        return None
    revision = integer(text)
    if revision is not None:
        return revision
    if text.isdigit():  # Unicode digits, or more than a 64-bit revision
        raise bad_parameter("at", f"a revision is at most {MAX_INTEGER_DIGITS} ASCII digits")
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise bad_parameter("at", "must be a revision number or an RFC 3339 time") from None


def filter_value(params: dict[str, Any], name: str) -> str | None:
    """A seed filter: an empty value means no filter (seed-api.md §4.2)."""
    value = single(params, name) or None
    if value is not None and (len(value) > MAX_TEXT or not clean_text(value)):
        raise bad_parameter(name, f"must be at most {MAX_TEXT} characters, without NUL")
    return value
