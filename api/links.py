"""The request's base URL (``scheme://host[prefix]``) that replaces ``projections.LINK`` in documents.

By default the scheme is the connection's and the host is the Host header (the seed's ``localhost:8080``
fallback when it is missing). With ``trust_proxy_headers`` the first value of ``X-Forwarded-Proto``,
``X-Forwarded-Host`` and ``X-Forwarded-Prefix`` win. Anything that would not be a plain URL prefix is
refused (400), because the base is spliced into JSON strings and headers verbatim.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass

from api.problems import Problem

FALLBACK_HOST = "localhost:8080"
_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~!$'()*+,;=:@%\-]+)*")


@dataclass(frozen=True, slots=True)
class Base:
    url: str  # for headers (Link)
    json: bytes  # escaped for splicing into a JSON string (same text for valid bases; kept for safety)
    crc: int  # CRC-32 of the URL, the seed of ETag hashes


_cache: dict[tuple, Base] = {}


def next_link(base: Base, path: str, query_string: str, cursor: str) -> str:
    """The RFC 8288 ``rel="next"`` Link of a paginated answer: the same query with ``cursor`` replaced."""
    kept = "&".join(p for p in query_string.split("&") if p and not p.startswith("cursor="))
    return f'<{base.url}{path}?{kept}{"&" if kept else ""}cursor={cursor}>; rel="next"'


def _first(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(",", 1)[0].strip() or None


def base_for(scheme: str, host: str | None, forwarded_proto: str | None = None, forwarded_host: str | None = None,
             forwarded_prefix: str | None = None) -> Base:
    """The base URL for one combination of request values; memoised (there are few distinct ones)."""
    key = (scheme, host, forwarded_proto, forwarded_host, forwarded_prefix)
    base = _cache.get(key)
    if base is not None:
        return base
    proto = (_first(forwarded_proto) or scheme).lower()
    if proto not in ("http", "https"):
        raise Problem(400, "invalid-header", "Bad Request", "X-Forwarded-Proto must be http or https")
    name = _first(forwarded_host) or host or FALLBACK_HOST
    if not _HOST.fullmatch(name):
        raise Problem(400, "invalid-header", "Bad Request", "the Host (or X-Forwarded-Host) header is not a host")
    prefix = (_first(forwarded_prefix) or "").rstrip("/")
    if prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    if not _PREFIX.fullmatch(prefix):
        raise Problem(400, "invalid-header", "Bad Request", "X-Forwarded-Prefix is not a URL path")
    url = f"{proto}://{name}{prefix}"
    base = Base(url, json.dumps(url)[1:-1].encode(), zlib.crc32(url.encode()))
    if len(_cache) > 1024:  # bounded: hostile clients can vary Host at will
        _cache.clear()
    _cache[key] = base
    return base
