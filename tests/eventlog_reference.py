"""The appender as it was before its statements were batched (models/eventlog.py at 6d60991): the
reference ``tests/test_eventlog_statements.py`` compares what the new one stores with."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from models.eventlog import (
    _Compiled,
    _ensure,
    _legacy_tables,
    _MicrosCache,
    _unchanged,
    compress,
    inflate,
    split_spec,
    state_digest,
)
from models.schema import blobs, event_log, metas, resource_keys, specs

CACHE_ENTRIES = 20_000
BASE_ENTRIES = 2_048


class _Interned:
    """One table whose rows are stored once and named by an id: ``id_for`` finds (cache, then the
    database) or allocates the id of a row given its natural key; ``ensure`` re-inserts a batch's rows."""

    def __init__(self, table: sa.Table, id_column: str, natural: tuple[str, ...], compiled: _Compiled) -> None:
        self.table, self.id_column, self.natural = table, id_column, natural
        self._mark = "%s" if compiled.dialect_name == "postgresql" else "?"
        self._insert = compiled(_ensure(table, id_column, compiled.dialect_name))
        self._find = compiled(sa.select(table.c[id_column]).where(
            *(table.c[name] == sa.bindparam(name) for name in natural)))[0]
        self._top = compiled(sa.select(sa.func.coalesce(sa.func.max(table.c[id_column]), sa.literal_column("0"))))[0]
        self.reset()

    def reset(self) -> None:
        self._ids: dict = {}
        self._absent: set = set()  # looked up by ``prefetch`` in this batch and not there
        self._next: int | None = None
        self.batch: dict[int, dict] = {}

    def prefetch(self, cur, naturals: Iterable[tuple], chunk: int = 500) -> None:
        """Look up, a few hundred per query, the ids of ``naturals`` not in the cache (a bootstrap's batch
        would otherwise cost one query per row)."""
        groups: dict[tuple, list[tuple]] = {}  # by all but the last column: the unique index's prefix
        for natural in {n for n in naturals if n not in self._ids}:
            groups.setdefault(natural[:-1], []).append(natural)
        columns = ", ".join((self.id_column, *self.natural))
        prefix = "".join(f"{name} = {self._mark} AND " for name in self.natural[:-1])
        for head, missing in groups.items():
            for start in range(0, len(missing), chunk):
                part = missing[start:start + chunk]
                marks = ", ".join([self._mark] * len(part))
                cur.execute(f"SELECT {columns} FROM {self.table.name} "  # noqa: S608 - our names; values bound
                            f"WHERE {prefix}{self.natural[-1]} IN ({marks})", [*head, *(n[-1] for n in part)])
                for row in cur.fetchall():
                    self._ids[tuple(bytes(v) if isinstance(v, memoryview) else v for v in row[1:])] = int(row[0])
                self._absent.update(n for n in part if n not in self._ids)

    def id_for(self, cur, natural: tuple, row: dict) -> int:
        """The id of the row named by ``natural``; ``row`` (without the id) is remembered for ``ensure``."""
        found = self._ids.get(natural)
        if found is None:
            hit = None
            if natural not in self._absent:
                cur.execute(self._find, natural)
                hit = cur.fetchone()
            if hit is not None:
                found = int(hit[0])
            else:
                if self._next is None:
                    cur.execute(self._top)
                    self._next = int(cur.fetchone()[0]) + 1
                found, self._next = self._next, self._next + 1
            if len(self._ids) >= CACHE_ENTRIES:
                self._ids.clear()  # crude but bounded; misses are looked up in the database
            self._ids[natural] = found
        if found not in self.batch:
            self.batch[found] = {self.id_column: found, **row}
        return found

    def ensure(self, cur) -> None:
        """Insert this batch's rows unless present (rows retention removed since they were cached come back)."""
        if self.batch:
            sql, columns = self._insert
            cur.executemany(sql, [tuple(row[c] for c in columns) for row in self.batch.values()])
            self.batch = {}
        self._absent = set()


class Appender:
    """Appends events (rows in ``EVENT_COLUMNS`` order, values as the writer binds them) through a DB-API
    cursor: finds or allocates the ids of their keys, metadata and specs, stores new blobs, inserts the
    ``event_log`` rows. The caller owns the transaction; ids are allocated here, so at most one appender
    writes to a database at a time (the watcher's fenced writer)."""

    def __init__(self, dialect: Dialect, legacy: bool = False) -> None:
        compiled = _Compiled(dialect)
        # ``legacy``: the log of migrations 0006-0007 (migration 0006 appends through this class): ``created``
        # in ``metas`` (and in its digest), text timestamps on SQLite. Now LogTime columns hold integer
        # microseconds on SQLite (models/schema.py); PostgreSQL takes the values as they are bound. One batch
        # shares its observed_at: the last conversion is kept.
        self._legacy = legacy
        self._time = _MicrosCache() if not legacy and dialect.name == "sqlite" else _unchanged
        meta_table, log_table = _legacy_tables() if legacy else (metas, event_log)
        self._keys = _Interned(resource_keys, "key_id", ("namespace", "type", "id"), compiled)
        self._metas = _Interned(meta_table, "meta_id", ("digest",), compiled)
        self._specs = _Interned(specs, "spec_id", ("digest",), compiled)
        self._blobs_insert = compiled(_ensure(blobs, "digest", dialect.name))
        last = (sa.select(sa.func.max(event_log.c.revision))
                .where(event_log.c.key_id == sa.bindparam("key_id")).scalar_subquery())
        self._last_blobs = compiled(
            sa.select(specs.c.spec_blobs).join(event_log, event_log.c.spec_id == specs.c.spec_id)
            .where(event_log.c.revision == last))
        self._blob_row = compiled(sa.select(blobs.c.data, blobs.c.base).where(blobs.c.digest == sa.bindparam("d")))[0]
        self._bases: dict[tuple[int, str], tuple[str, bytes, bytes]] = {}
        self._log_insert = compiled(sa.insert(log_table).values({c.name: sa.bindparam(c.name) for c in log_table.c}))

    def reset(self) -> None:
        """Forget every cached id (after a failed transaction, or another writer's)."""
        for interned in (self._keys, self._metas, self._specs):
            interned.reset()
        self._bases = {}

    def _base(self, cur, key_id: int, member: str) -> tuple[str, bytes, bytes] | None:
        """(digest, JSON, stored data) of the blob later values of this resource's member are stored against:
        the first value seen (or, after a restart, the base of the last logged value)."""
        hit = self._bases.get((key_id, member))
        if hit is not None:
            return hit
        sql, _ = self._last_blobs
        cur.execute(sql, (key_id,))
        row = cur.fetchone()
        refs = None if row is None or row[0] is None else row[0]
        refs = json.loads(refs) if isinstance(refs, str | bytes) else refs
        digest = (refs or {}).get(member)
        while digest is not None:
            cur.execute(self._blob_row, (digest,))
            found = cur.fetchone()
            if found is None:
                return None
            data, base = bytes(found[0]), found[1]
            if base is None:
                return self._remember_base(key_id, member, (digest, inflate(data), data))
            digest = base
        return None

    def _remember_base(self, key_id: int, member: str, base: tuple[str, bytes, bytes]) -> tuple[str, bytes, bytes]:
        if len(self._bases) >= BASE_ENTRIES:
            self._bases.clear()
        self._bases[(key_id, member)] = base
        return base

    def append(self, cur, rows: list[tuple], spec_values=None) -> None:  # spec_values: ignored, it parsed the text
        if not rows:
            return
        new_blobs: dict[str, tuple[str | None, bytes]] = {}  # digest -> (base, stored data)
        parts = []
        for (revision, namespace, type_, id_, event, version, phase, owner, created, updated, labels, notes,
             finalizers, spec, observed_at) in rows:
            if self._legacy:
                created_text = created if created is None or isinstance(created, str) else created.isoformat()
                digest = state_digest((phase, owner, created_text, labels, notes, finalizers))
            else:  # without created, a re-created resource (or one back in its earlier place) reuses a meta
                digest = state_digest((phase, owner, labels, notes, finalizers))
            created = self._time(created)
            meta = {"digest": digest, "phase": phase, "owner": owner, "created": created, "labels": labels,
                    "annotations": notes, "finalizers": finalizers}  # each table takes the columns it has
            stored, spec_blobs, members = split_spec(type_, spec)
            stored_spec = {"digest": state_digest((stored, spec_blobs)), "spec": stored, "spec_blobs": spec_blobs}
            log = {"revision": revision, "event": event, "version": version, "created": created,
                   "updated": self._time(updated),
                   "observed_at": self._time(observed_at)}
            parts.append(((namespace, type_, id_), meta, stored_spec, members, log))
        self._keys.prefetch(cur, [p[0] for p in parts])
        self._metas.prefetch(cur, [(p[1]["digest"],) for p in parts])
        self._specs.prefetch(cur, [(p[2]["digest"],) for p in parts])
        log_rows = []
        for key, meta, stored_spec, members, log in parts:
            key_id = self._keys.id_for(cur, key, {"namespace": key[0], "type": key[1], "id": key[2]})
            meta_id = self._metas.id_for(cur, (meta["digest"],), meta)
            spec_id = self._specs.id_for(cur, (stored_spec["digest"],), stored_spec)
            for member, (blob_digest, data) in members.items():
                if blob_digest in new_blobs:
                    continue
                base = self._base(cur, key_id, member)
                if base is None or base[0] == blob_digest:
                    packed = base[2] if base is not None else compress(data)
                    new_blobs[blob_digest] = (None, packed)
                    self._remember_base(key_id, member, (blob_digest, data, packed))
                else:
                    new_blobs[blob_digest] = (base[0], compress(data, base[1]))
                    new_blobs.setdefault(base[0], (None, base[2]))  # the base must exist as long as this does
            log_rows.append({**log, "key_id": key_id, "meta_id": meta_id, "spec_id": spec_id})
        for interned in (self._keys, self._metas, self._specs):
            interned.ensure(cur)
        if new_blobs:
            sql, columns = self._blobs_insert
            cur.executemany(sql, [tuple({"digest": d, "base": base, "data": data}[c] for c in columns)
                                  for d, (base, data) in new_blobs.items()])
        sql, columns = self._log_insert
        cur.executemany(sql, [tuple(values[c] for c in columns) for values in log_rows])
