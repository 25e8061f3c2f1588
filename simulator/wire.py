"""Hand-assembled protobuf bytes for the hot path of the State service.

Resources are serialised once per version (see ``resource.Res.wire``); events and responses around them
are built here by concatenating length-delimited fields, which is what protobuf itself would emit for
``cosi.resource.Event`` / ``WatchResponse`` / ``ListResponse`` / ``GetResponse``.
"""

from __future__ import annotations

import struct

CREATED, UPDATED, DESTROYED, BOOTSTRAPPED, ERRORED, NOOP = range(6)
EVENT_NAMES = ("CREATED", "UPDATED", "DESTROYED", "BOOTSTRAPPED", "ERRORED", "NOOP")

BOOKMARK_LEN = 16


def varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def event(resource: bytes | None, event_type: int, old: bytes | None = None,
          error: str | None = None, bookmark: bytes | None = None) -> bytes:
    """Bytes of one ``cosi.resource.Event`` (fields in number order, proto3 zero values omitted)."""
    parts = []
    if resource is not None:
        parts.append(field_bytes(1, resource))
    if event_type:
        parts.append(b"\x10" + varint(event_type))
    if old is not None:
        parts.append(field_bytes(3, old))
    if error is not None:
        parts.append(field_bytes(4, error.encode()))
    if bookmark is not None:
        parts.append(field_bytes(5, bookmark))
    return b"".join(parts)


def watch_response(*events: bytes) -> bytes:
    """Bytes of a ``WatchResponse`` carrying the given encoded events (none: the handshake)."""
    return b"".join(field_bytes(1, ev) for ev in events)


def resource_response(resource: bytes) -> bytes:
    """``GetResponse``/``ListResponse``/``CreateResponse``/``UpdateResponse``: field 1 = the resource."""
    return field_bytes(1, resource)


def make_bookmark(cookie: bytes, position: int) -> bytes:
    return cookie + struct.pack(">Q", position)


def parse_bookmark(bookmark: bytes) -> tuple[bytes, int] | None:
    """(cookie, position), or None when the bytes cannot be one of ours."""
    if len(bookmark) != BOOKMARK_LEN:
        return None
    return bookmark[:8], struct.unpack(">Q", bookmark[8:])[0]
