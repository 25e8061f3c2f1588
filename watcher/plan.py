"""One batch's plan: what it will write, computed against the committed state plus its own changes.

Items are folded in order (per-stream order is the wire order). Nothing is written and nothing in memory
changes here; the writer writes the rows in one transaction and calls ``publish`` after the commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from models.resource import Key, StoredResource
from watcher import metrics
from watcher.decode import Decoded
from watcher.documents import Projections
from watcher.items import (
    Bookmark,
    Bootstrapped,
    BootstrapStarted,
    Change,
    Item,
    Poison,
    PollSnapshot,
    StreamKey,
    StreamNote,
)
from watcher.sql import Statements
from watcher.state import (
    Entry,
    StreamState,
    decoded_from_stored,
    entry_created,
    entry_labels,
    entry_of,
    entry_version,
)

CREATED, UPDATED, DESTROYED = "created", "updated", "destroyed"


class Committed(Protocol):
    """The committed state a plan reads and, after the commit, moves forward (the writer owns it)."""

    sql: Statements
    head: int
    index: dict[StreamKey, dict[str, Entry]]
    streams: dict[StreamKey, StreamState]
    projections: Projections

    def stream(self, key: StreamKey) -> StreamState: ...
    def guarded(self, function: Callable[..., Any]) -> Callable[..., Any]: ...
    def read_resource(self, cur: Any, key: Key) -> StoredResource | None: ...
    def read_resources(self, cur: Any, keys: Any) -> dict[Key, StoredResource | None]: ...


class Plan:
    """What one batch will write, computed against the committed state plus this batch's own changes."""

    def __init__(self, writer: Committed, cur, observed: datetime) -> None:
        self.w = writer
        self.cur = cur
        self.sql = writer.sql
        self.observed_dt = observed
        self.observed = writer.sql.datetime_value(observed)
        self.head = writer.head
        self.events: list[tuple] = []
        self.event_specs: list[dict] = []  # each event's spec as a dict: the log need not parse its JSON back
        self.pending: dict[StreamKey, dict[str, Entry | None]] = {}
        self.final: dict[Key, Decoded | None] = {}  # last state per touched key (None: destroyed)
        self.revision_of: dict[Key, int] = {}
        self.destroyed_states: dict[Key, Decoded] = {}
        self.streams: dict[StreamKey, StreamState] = {}
        self.poison: list[tuple] = []
        self.deleted: list[Key] = []
        self.label_deletes: list[Key] = []
        self.upserts: list[tuple] = []
        self.label_inserts: list[tuple] = []
        self.document_updates: list[tuple] = []
        self.documents: dict[Key, str | None] = {}
        # (namespace, type) -> the last revision that changed a row or a document of that kind
        self.kind_revisions: dict[StreamKey, int] = {}
        self.joined_revision: dict[Key, int] = {}  # rows whose document a later change in this batch embeds
        self.counts: dict[tuple[str, str], int] = {}
        self.lags: list[float] = []
        self.notes: list[tuple[str, str]] = []  # (metric, type) to count after the commit

    @property
    def empty(self) -> bool:
        return not self.events and not self.streams and not self.poison

    # -- items ---------------------------------------------------------------------------------------

    def add(self, item: Item) -> None:
        if type(item) is Change:
            state = self._stream(item.stream)
            self._change(item.resource, item.destroyed, state, item.live)
            if item.bookmark is not None:
                state.bookmark = item.bookmark
        elif type(item) is Bootstrapped:
            state = self._stream(item.stream)
            self._sweep(item.stream, item.seen, state)
            state.bookmark = item.bookmark
            state.bootstrapped = True
            if state.bootstrapped_at is None:  # the first bootstrap: where point-in-time reads start
                state.bootstrapped_at = self.observed_dt
        elif type(item) is BootstrapStarted:
            state = self._stream(item.stream)
            state.bookmark = None
            state.bootstrapped = False
            if item.rebootstrap:
                state.rebootstraps += 1
                self.notes.append(("rebootstraps", item.stream[1]))
        elif type(item) is Poison:
            self._poison(item)
        elif type(item) is Bookmark:
            self._stream(item.stream).bookmark = item.bookmark
        elif type(item) is StreamNote:
            state = self._stream(item.stream)
            if item.reconnect:
                state.reconnects += 1
                self.notes.append(("reconnects", item.stream[1]))
            if item.error is not None:
                state.last_error = item.error[:2000]
                state.last_error_at = self.observed_dt
        elif type(item) is PollSnapshot:
            state = self._stream(item.stream)
            for res in item.resources:
                self._change(res, False, state, False)
            for poison in item.poison:
                self._poison(poison)
            if item.complete:
                self._sweep(item.stream, item.listed, state)
                state.bootstrapped = True
                if state.bootstrapped_at is None:
                    state.bootstrapped_at = self.observed_dt
        else:  # pragma: no cover - programming error
            raise TypeError(f"unknown item {item!r}")

    def _stream(self, key: StreamKey) -> StreamState:
        state = self.streams.get(key)
        if state is None:
            state = self.streams[key] = replace(self.w.stream(key))
        return state

    def _entry(self, stream: StreamKey, id_: str) -> Entry | None:
        pending = self.pending.get(stream)
        if pending is not None and id_ in pending:
            return pending[id_]
        committed = self.w.index.get(stream)
        return None if committed is None else committed.get(id_)

    def _set_entry(self, stream: StreamKey, id_: str, entry: Entry | None) -> None:
        pending = self.pending.get(stream)
        if pending is None:
            pending = self.pending[stream] = {}
        pending[id_] = entry

    def _change(self, res: Decoded, destroyed: bool, state: StreamState, live: bool) -> None:
        stream = (res.namespace, res.type)
        entry = self._entry(stream, res.id)
        if destroyed:
            if entry is None:
                return  # already gone: a replay, or destroyed before we ever saw it
            if res.spec is None:  # its last state was undecodable: log the last state we hold
                res = self._current(res.key) or res
            self._event(DESTROYED, res, state)
            self._set_entry(stream, res.id, None)
            return
        new_entry = entry_of(res)
        if entry == new_entry:
            return  # already applied
        if entry is not None and res.version != 0:
            created = entry_created(entry)
            if created == res.created and entry_version(entry) == res.version:
                return  # already applied (a versioned state is its version and created)
            if created != res.created:
                # Re-created while we were away: close the old incarnation first.
                old = self._current(res.key)
                if old is not None:
                    self._event(DESTROYED, old, state)
                entry = None
        self._event(UPDATED if entry is not None else CREATED, res, state)
        self._set_entry(stream, res.id, new_entry)
        if live and res.updated is not None:
            self.lags.append(res.updated / 1e6)

    def _current(self, key: Key) -> Decoded | None:
        """The state of a current resource: this batch's, else the stored one."""
        if key in self.final:
            return self.final[key]
        stored = self.w.read_resource(self.cur, key)
        return None if stored is None else decoded_from_stored(stored)

    def _sweep(self, stream: StreamKey, seen: set[str], state: StreamState) -> None:
        ids = set(self.w.index.get(stream, ()))
        for id_, entry in self.pending.get(stream, {}).items():
            if entry is None:
                ids.discard(id_)
            else:
                ids.add(id_)
        gone = sorted(ids - seen)
        for id_ in gone:
            old = self._current((stream[0], stream[1], id_))
            if old is not None:
                self._event(DESTROYED, old, state)
            self._set_entry(stream, id_, None)

    def _event(self, event: str, res: Decoded, state: StreamState) -> None:
        self.head += 1
        revision = self.head
        ts = self.sql.timestamp
        self.events.append((
            revision, res.namespace, res.type, res.id, event, res.version, res.phase, res.owner,
            ts(res.created_text), ts(res.updated_text), res.labels_json, res.annotations_json,
            res.finalizers_json, res.spec_json, self.observed,
        ))
        self.event_specs.append(res.spec)
        key = res.key
        if event == DESTROYED:
            self.final[key] = None
            self.destroyed_states[key] = res
        else:
            self.final[key] = res
        self.revision_of[key] = revision
        self.kind_revisions[(res.namespace, res.type)] = revision
        state.last_revision = revision
        state.last_event_at = self.observed_dt
        counter = (res.type, event)
        self.counts[counter] = self.counts.get(counter, 0) + 1

    def _poison(self, item: Poison) -> None:
        state = self._stream(item.stream)
        state.poison_events += 1
        state.last_error = f"poison event {item.id} v{item.version}: {item.error}"[:2000]
        state.last_error_at = self.observed_dt
        if item.bookmark is not None:
            state.bookmark = item.bookmark
        row = {"namespace": item.stream[0], "type": item.stream[1], "id": item.id, "version": item.version,
               "event": item.event, "error": item.error, "raw": item.raw, "observed_at": self.observed}
        self.poison.append(tuple(row[name] for name in self.sql.insert_poison.columns))
        self.notes.append(("poison", item.stream[1]))

    # -- documents and rows --------------------------------------------------------------------------

    def render_documents(self) -> None:
        projections = self.w.projections
        if projections is not None:
            self._render(projections)
        self._rows()

    def _render(self, projections: Projections) -> None:
        stored: dict[Key, StoredResource | None] = {}

        def lookup(namespace: str, type_: str, id_: str) -> StoredResource | None:
            key = (namespace, type_, id_)
            if key in stored:
                return stored[key]
            if key in self.final:
                res = self.final[key]
                value = None if res is None else res.stored()
            else:
                value = self.w.read_resource(self.cur, key)
            stored[key] = value
            return value

        render = self.w.guarded(projections.render)
        dependents_of = self.w.guarded(projections.dependents)
        joins_of = self.w.guarded(projections.joins)
        # What the documents will read from committed rows, fetched in a few statements: the resources
        # their documents join and the ones whose documents embed them (both same id), unless in this batch.
        wanted = []
        embedding: dict[Key, list[Key]] = {}
        for key, res in self.final.items():
            current = stored[key] = None if res is None else res.stored()
            trigger = current if current is not None else self.destroyed_states[key].stored()
            for namespace, type_ in joins_of(key[1]) or ():
                wanted.append((namespace, type_, key[2]))
            deps = embedding[key] = dependents_of(trigger) or []
            for dep in deps:
                wanted.append(dep)
                for namespace, type_ in joins_of(dep[1]) or ():
                    wanted.append((namespace, type_, dep[2]))
        stored.update(self.w.read_resources(self.cur, [k for k in wanted if k not in self.final]))
        dependents: dict[Key, int] = {}
        for key in self.final:
            current = stored[key]
            if current is not None:
                self.documents[key] = render(current, lookup)
            for dep in embedding[key]:
                if dep not in self.final:
                    dependents[dep] = max(dependents.get(dep, 0), self.revision_of[key])
                else:  # changed in this batch too: its row takes the later of the two revisions
                    self.joined_revision[dep] = max(self.joined_revision.get(dep, 0), self.revision_of[key])
        for dep, revision in dependents.items():
            current = lookup(*dep)
            if current is None:
                continue  # the embedding resource does not exist (yet): children before parents
            # The document changed because of `revision`: give the row that revision, so ETags move.
            values = {"document": render(current, lookup), "revision": revision,
                      "namespace": dep[0], "type": dep[1], "id": dep[2]}
            self.document_updates.append(tuple(values[n] for n in self.sql.update_document.columns))
            kind = (dep[0], dep[1])
            self.kind_revisions[kind] = max(self.kind_revisions.get(kind, 0), revision)

    def _rows(self) -> None:
        ts = self.sql.timestamp
        committed = self.w.index
        for key, res in self.final.items():
            before = committed.get((key[0], key[1]))
            entry = None if before is None else before.get(key[2])
            if res is None:
                if entry is not None:
                    self.deleted.append(key)
                    self.label_deletes.append(key)
                continue
            self.upserts.append((
                res.namespace, res.type, res.id, res.version, res.phase, res.owner, ts(res.created_text),
                ts(res.updated_text), res.labels_json, res.annotations_json, res.finalizers_json,
                res.spec_json, self._row_revision(key), self.documents.get(key),
            ))
            if entry is not None and entry_labels(entry) == res.labels_key:
                continue
            if entry is not None:
                self.label_deletes.append(key)
            for label, value in res.labels.items():
                self.label_inserts.append((key[0], key[1], label, value, key[2]))

    def _row_revision(self, key: Key) -> int:
        """The revision of a row's last change, its document's included (so ETags move with it)."""
        revision = max(self.revision_of[key], self.joined_revision.get(key, 0))
        kind = (key[0], key[1])
        self.kind_revisions[kind] = max(self.kind_revisions[kind], revision)
        return revision

    # -- after the commit -------------------------------------------------------------------------------

    def publish(self) -> None:
        """The transaction is durable: move the in-memory state forward and count."""
        w = self.w
        w.head = self.head
        for stream, entries in self.pending.items():
            index = w.index.setdefault(stream, {})
            for id_, entry in entries.items():
                if entry is None:
                    index.pop(id_, None)
                else:
                    index[id_] = entry
        w.streams.update(self.streams)
        for (type_, event), n in self.counts.items():
            metrics.EVENTS_APPLIED.labels(type_, event).inc(n)
        for metric, type_ in self.notes:
            {"reconnects": metrics.RECONNECTS, "rebootstraps": metrics.REBOOTSTRAPS,
             "poison": metrics.POISON_EVENTS}[metric].labels(type_).inc()
        if self.lags:
            now = time.time()
            for updated in self.lags:
                metrics.EVENT_LAG.observe(max(0.0, now - updated))
            metrics.LAG_SECONDS.set(max(0.0, now - self.lags[-1]))
        metrics.HEAD_REVISION.set(w.head)
