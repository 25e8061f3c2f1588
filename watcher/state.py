"""The writer's in-memory mirror of what is committed: stream checkpoints and the resource index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.resource import StoredResource
from watcher.decode import Decoded
from watcher.items import StreamKey
from watcher.sql import read_datetime, read_json, read_micros

# What the writer's index holds per stored resource: its version, created micros, labels fingerprint and
# content fingerprint. Versionless resources (version "undefined", stored as 0, e.g. EtcdBackups) are
# compared by content, not created (content 0 for the others, created None for versionless ones).
#
# One int per resource, not a 4-tuple: a tuple of four ints took ~170 bytes per resource (26 MB of index at
# 111k resources), the int ~48. Bits 0-63 hold the labels fingerprint (``hash()``, as unsigned), bits
# 64-127 created + 1 (0: none) for a versioned resource, the content fingerprint for a versionless one,
# and the bits above the version. Values that do not fit (a negative version, created before 1970 or past
# year ~586,000) keep the tuple ``(version, created, labels, content)``: the same state always gives the
# same form, so equal entries are still exactly equal states. Read entries through the functions below.
Entry = int | tuple[int, int | None, int, int]

_BITS = 64
_MASK = (1 << _BITS) - 1
_SIGN = 1 << (_BITS - 1)


def pack(version: int, created: int | None, labels: int, content: int) -> Entry:
    """The index entry of (version, created, labels fingerprint, content fingerprint)."""
    fingerprints = -_SIGN <= labels < _SIGN and -_SIGN <= content < _SIGN
    if version == 0 and created is None and fingerprints:
        return ((content & _MASK) << _BITS) | (labels & _MASK)
    if version > 0 and content == 0 and fingerprints and (created is None or 0 <= created < _MASK):
        return (version << (2 * _BITS)) | ((0 if created is None else created + 1) << _BITS) | (labels & _MASK)
    return (version, created, labels, content)


def _signed(value: int) -> int:
    return value - (1 << _BITS) if value & _SIGN else value


def unpack(entry: Entry) -> tuple[int, int | None, int, int]:
    """(version, created, labels fingerprint, content fingerprint) of an entry."""
    if type(entry) is tuple:
        return entry
    version = entry >> (2 * _BITS)
    middle = (entry >> _BITS) & _MASK
    labels = _signed(entry & _MASK)
    if version == 0:
        return (0, None, labels, _signed(middle))
    return (version, None if middle == 0 else middle - 1, labels, 0)


def entry_version(entry: Entry) -> int:
    return entry[0] if type(entry) is tuple else entry >> (2 * _BITS)


def entry_created(entry: Entry) -> int | None:
    return unpack(entry)[1]


def entry_labels(entry: Entry) -> int:
    """The labels fingerprint (``Decoded.labels_key``) of an entry."""
    return entry[2] if type(entry) is tuple else _signed(entry & _MASK)


def entry_of(res: Decoded) -> Entry:
    if res.version == 0:
        return pack(0, None, res.labels_key, res.content_key())
    return pack(res.version, res.created, res.labels_key, 0)



@dataclass
class StreamState:
    """One ``streams`` row."""

    namespace: str
    type: str
    bookmark: bytes | None = None
    bootstrapped: bool = False
    bootstrapped_at: datetime | None = None
    last_revision: int = 0
    last_event_at: datetime | None = None
    reconnects: int = 0
    rebootstraps: int = 0
    poison_events: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None

    @property
    def key(self) -> StreamKey:
        return (self.namespace, self.type)


def stored_from_row(row) -> StoredResource:
    namespace, type_, id_, version, phase, owner, created, updated, labels, annotations, finalizers, spec = row
    return StoredResource(namespace, type_, id_, int(version), phase, owner, read_datetime(created),
                          read_datetime(updated), read_json(labels), read_json(annotations),
                          read_json(finalizers), read_json(spec))


def decoded_from_stored(res: StoredResource) -> Decoded:
    return Decoded(res.namespace, res.type, res.id, res.version, res.phase, res.owner,
                   read_micros(res.created), read_micros(res.updated), dict(res.labels),
                   dict(res.annotations), list(res.finalizers), res.spec)
