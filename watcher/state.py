"""The writer's in-memory mirror of what is committed: stream checkpoints and the resource index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.resource import StoredResource
from watcher.decode import Decoded
from watcher.items import StreamKey
from watcher.sql import read_datetime, read_json, read_micros

# (version, created micros, labels fingerprint, content fingerprint) of a stored resource. Versionless
# resources (version "undefined", stored as 0, e.g. EtcdBackups) are compared by content, not created.
Entry = tuple[int, int | None, int, int]


def entry_of(res: Decoded) -> Entry:
    if res.version == 0:
        return (0, None, res.labels_key, res.content_key())
    return (res.version, res.created, res.labels_key, 0)



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
