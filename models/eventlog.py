"""The event log's storage: each change is a narrow row pointing at content-addressed parts.

A logged event used to carry its whole state (namespace, type, id, labels, annotations, spec, ...) in one
``events`` row: ~2.2 KB per event on the simulator's churn mix, most of it repeated from the previous
version. Now (migration 0006):

- ``resource_keys``: each (namespace, type, id) once, with a small integer ``key_id``;
- ``metas``: each distinct (phase, owner, labels, annotations, finalizers) once (``created`` is in the log
  row since migration 0008: a re-created resource got a new meta for it alone), and ``specs``:
  each distinct spec once; both found by the 16-byte SHA-256 ``digest`` of their stored text (a spec
  change repeats no labels, a label change no spec; flapping resources alternate between a few of each);
- ``blobs``: each distinct large spec member once, zlib-compressed, keyed by the hex SHA-256 of its JSON.
  A member is *large* when its JSON is at least ``BLOB_MIN_BYTES`` long. In the stored spec it holds its
  blob's digest, or, when a reporting view reads part of it (``models.reporting`` declares the paths),
  its ``shadow``: just those paths (a MachineStatus's hardware keeps its arch and each processor's core
  count, not the rest), so every view reads the stored spec as before. ``spec_blobs`` maps member ->
  digest, and ``resolve_spec`` puts the whole values back (readers in Python: models/history.py);
- ``event_log``: per event only revision, key, meta, spec, event kind, COSI version, created, updated,
  observed_at; indexed by (key, revision) and observed_at only (retention finds unused metas and specs
  by a scan, models/retention.py).
  On SQLite the timestamps of ``event_log`` and ``metas`` are integer microseconds since the epoch
  (``schema.LogTime``, migration 0008): 8 bytes instead of 26 of text, in the rows and the observed_at index.

``events`` is a view joining these back into the old columns (plus ``spec_blobs``; timestamps as the old
table held them, ``reporting.stamp_sql``), so every SQL reader
(the reporting views, ``at=`` reads, scripts) reads the log as before. Rows are appended with
``Appender`` only: the watcher's writer, the migration that converts old logs and bulk loaders.

Content-addressed rows are shared, so retention deletes them only when no event (key, meta, spec) or
spec (blob) refers to them any more (models/retention.py). The appender therefore re-inserts,
idempotently, every key, meta, spec and blob a batch refers to: a row removed since it was cached comes
back in the same transaction as the event that needs it (a base blob is the exception, below).

A batch costs a few statements whatever its size and mix of kinds (in the writer's pipeline mode on
PostgreSQL each read is a round trip): one query looks up the keys, metas and specs it names that are not
cached (PostgreSQL binds the values as arrays, unnested, each probing the unique index; SQLite as many
rows a statement as its parameter limit allows), and, once per appender, the tables' next ids (it is the
only writer; ``reset`` forgets them); then the bases (below), and one INSERT per table.

Bases: a large member is stored against its resource's *base* for it, the first value the appender saw
(after a restart: the base of the last logged value). The appender caches each (resource, member)'s base
digest only. A batch reads the last logged ``spec_blobs`` of the resources whose base is not cached (one
query; none for the resources new in the batch), then the rows of the bases it may use, with their base
chains (one query, which reads two levels of a chain), and re-inserts each base it stores a value against
(a retention pass between the read and the insert cannot take it away). A base retention removed since it
was cached is not brought back: the new value is stored whole and becomes the base of the member's later
values.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import cache

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from models import catalog, reporting
from models.schema import blobs, event_log, metas, resource_keys, specs, to_micros

BLOB_MIN_BYTES = 256
# Bounded caches: digest -> id lookups that would otherwise hit the database for every event.
CACHE_ENTRIES = 20_000  # a bootstrap's ids are rarely asked for again: 10x fewer cost no speed, ~60 MB at 10k machines
BASE_ENTRIES = 65_536  # (resource, member) -> its base blob's digest: ~120 B each
EVENT_COLUMNS = ("revision", "namespace", "type", "id", "event", "version", "phase", "owner", "created",
                 "updated", "labels", "annotations", "finalizers", "spec", "observed_at")

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


# -- which members may leave the spec ------------------------------------------------------------------

Tree = dict | None  # the spec paths views read below a value: None = the whole value, {} = a list's length


def _merge(a: Tree, b: Tree) -> Tree:
    if a is None or b is None:
        return None
    return {k: _merge(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in a.keys() | b.keys()}


@cache
def view_paths() -> dict[str, dict[str, Tree]]:
    """type -> {top-level spec member: the tree of paths below it that some reporting view reads}."""
    out: dict[str, dict[str, Tree]] = {}
    for view in reporting.VIEWS:
        kinds = {"": view.kind, **view.joins}
        for column in view.columns:
            for alternative in column.source.split("|"):
                alias, _, rest = ("", "", alternative) if alternative.startswith(("spec.", "label:")) \
                    else alternative.partition(".")
                if not rest.startswith("spec."):
                    continue
                member, *path = rest[5:].split(".")
                # what the column reads at the end of its path: a member of each element, the list's
                # length, or the value
                tree: Tree = {column.member: None} if column.type == reporting.SUM \
                    else {} if column.type == reporting.COUNT else None
                for part in reversed(path):
                    tree = {part: tree}
                members = out.setdefault(catalog.by_name(kinds[alias]).type, {})
                members[member] = _merge(members[member], tree) if member in members else tree
    return out


def shadow(value, tree: Tree):
    """Only what ``tree`` reads of ``value``, in place: the stored spec keeps this much of a member whose
    whole value went to ``blobs``, so every view reads it as before (lists keep their length)."""
    if tree is None:
        return value
    if isinstance(value, list):
        return [shadow(item, tree) for item in value]
    if isinstance(value, dict):
        return {k: shadow(v, tree[k]) for k, v in value.items() if k in tree}
    return value


def split_spec(type_: str, spec_json: str, spec: object = None
               ) -> tuple[str, str | None, dict[str, tuple[str, bytes]]]:
    """(stored spec JSON, spec_blobs JSON or None, {member: (digest, member JSON)}) for one spec.
    ``spec``: the value ``spec_json`` encodes, when the caller has it (the watcher's decoder does): saves
    parsing the text back; it is not changed."""
    if len(spec_json) < BLOB_MIN_BYTES:
        return spec_json, None, {}
    if spec is None:
        spec = json.loads(spec_json)
    if not isinstance(spec, dict):
        return spec_json, None, {}
    read = view_paths().get(type_, {})
    refs: dict[str, str] = {}
    out: dict[str, tuple[str, bytes]] = {}
    placeholders: dict[str, object] = {}
    for member, value in spec.items():
        if isinstance(value, bool | int | float) or value is None:
            continue
        text = _encode(value)
        if len(text) < BLOB_MIN_BYTES:
            continue
        if member in read:  # a view reads part of it: worth a blob only if that part is small
            kept = shadow(value, read[member])
            if len(_encode(kept)) * 2 > len(text):
                continue
            placeholders[member] = kept
        data = text.encode()
        digest = hashlib.sha256(data).hexdigest()[:32]
        refs[member] = digest
        out[member] = (digest, data)
    if not refs:
        return spec_json, None, {}
    stored = {member: placeholders.get(member, refs[member]) if member in refs else value  # key order kept
              for member, value in spec.items()}
    return _encode(stored), _encode(refs), out


def resolve_spec(spec: dict, spec_blobs: dict | None, fetch) -> dict:
    """The spec with every blob member put back; ``fetch(digest)`` returns the member's value."""
    if not spec_blobs:
        return spec
    return {member: fetch(spec_blobs[member]) if member in spec_blobs else value for member, value in spec.items()}


def compress(data: bytes, base: bytes | None = None) -> bytes:
    """zlib; with ``base`` (an earlier value of the same member) as the preset dictionary: a new version
    of a config text costs about its changes (the texts differ little from one version to the next)."""
    packer = zlib.compressobj(6, zdict=base) if base else zlib.compressobj(6)
    return packer.compress(data) + packer.flush()


def inflate(data: bytes, base: bytes | None = None) -> bytes:
    unpacker = zlib.decompressobj(zdict=base) if base else zlib.decompressobj()
    return unpacker.decompress(bytes(data)) + unpacker.flush()


class BlobReader:
    """Fetches blob members, each once (a reader's cache for one query's rows). ``source`` is a SQLAlchemy
    connection, or a function returning a blob's (data, base) row for a digest (the API's driver reads)."""

    def __init__(self, source: sa.Connection | Callable[[str], Sequence | None]) -> None:
        if isinstance(source, sa.Connection):
            self._row = lambda digest: source.execute(
                sa.select(blobs.c.data, blobs.c.base).where(blobs.c.digest == digest)).first()
        else:
            self._row = source
        self._raw: dict[str, bytes] = {}
        self._values: dict[str, object] = {}

    def raw(self, digest: str) -> bytes:
        """The member's JSON text (a blob stored against a base is inflated with the base's text)."""
        if digest not in self._raw:
            row = self._row(digest)
            if row is None:
                raise LookupError(f"blob {digest} is missing from the blobs table")
            data, base = row[0], row[1]
            self._raw[digest] = inflate(data, self.raw(base) if base else None)
        return self._raw[digest]

    def __call__(self, digest: str) -> object:
        if digest not in self._values:
            self._values[digest] = json.loads(self.raw(digest))
        return self._values[digest]


def state_digest(values: Iterable[str | None]) -> bytes:
    return hashlib.sha256("\x00".join("\x01" if v is None else v for v in values).encode()).digest()[:16]


# -- the events view -------------------------------------------------------------------------------------

def events_view_sql(dialect: str, legacy: bool = False) -> str:
    """``CREATE VIEW events``: the log in its old columns, timestamps as the old table held them
    (``legacy``: the view of migrations 0006-0007: text timestamps on SQLite, ``created`` in ``metas``)."""
    def stamp(ref: str) -> str:
        return reporting.stamp_sql(reporting.POSTGRESQL if legacy else dialect, ref)

    return (
        "CREATE VIEW events AS\n"
        "SELECT l.revision, k.namespace, k.type, k.id, l.event, l.version, m.phase, m.owner,\n"
        f"  {stamp('m.created' if legacy else 'l.created')} AS created, {stamp('l.updated')} AS updated, m.labels, m.annotations,\n"
        f"  m.finalizers, s.spec, {stamp('l.observed_at')} AS observed_at, s.spec_blobs\n"
        "FROM event_log l\n"
        "JOIN resource_keys k ON k.key_id = l.key_id\n"
        "JOIN metas m ON m.meta_id = l.meta_id\n"
        "JOIN specs s ON s.spec_id = l.spec_id"
    )


# -- appending -------------------------------------------------------------------------------------------

def _ensure(table: sa.Table, key: str, dialect_name: str) -> sa.sql.ClauseElement:
    """INSERT ... ON CONFLICT (key) DO NOTHING with every column bound."""
    insert = (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)
    return insert.values({c.name: sa.bindparam(c.name) for c in table.c}).on_conflict_do_nothing(
        index_elements=[key])


class _Compiled:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect_name = dialect.name
        self.positional = type(dialect)(paramstyle="format" if dialect.name == "postgresql" else "qmark")

    def __call__(self, stmt: sa.sql.ClauseElement) -> tuple[str, tuple[str, ...]]:
        compiled = stmt.compile(dialect=self.positional)
        return compiled.string, tuple(compiled.positiontup or ())


# The natural keys of resource_keys, metas and specs, with their types as PostgreSQL arrays.
LOOKUP_COLUMNS = {"namespace": "text", "type": "text", "id": "text", "digest": "bytea"}


def _variables_per_statement() -> int:
    """SQLite's limit on a statement's bound parameters (SQLITE_MAX_VARIABLE_NUMBER's default)."""
    return 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


class _Interned:
    """One table whose rows are stored once and named by an id: ``selects`` look up a batch's natural keys
    (``Appender._look_up``: one query for the three tables), ``id_for`` finds (cache) or allocates the id of
    a row; ``ensure`` re-inserts a batch's rows."""

    def __init__(self, table: sa.Table, id_column: str, natural: tuple[str, ...], compiled: _Compiled) -> None:
        self.table, self.id_column, self.natural = table, id_column, natural
        self._postgresql = compiled.dialect_name == "postgresql"
        self._insert = compiled(_ensure(table, id_column, compiled.dialect_name))
        self.reset()

    def reset(self) -> None:
        self._ids: dict = {}
        self.next: int | None = None  # the next id to allocate: max(id) + 1, read once (the only writer)
        self.batch: dict[int, dict] = {}

    def make_room(self, count: int) -> None:
        """Empty the cache if ``count`` more entries would overflow it: before a batch, never during one
        (an id the batch's lookup found must stay cached until it is used)."""
        if len(self._ids) + count > CACHE_ENTRIES:
            self._ids.clear()

    def missing(self, naturals: Iterable[tuple]) -> list[tuple]:
        """``naturals`` not in the cache, each once."""
        return [n for n in dict.fromkeys(naturals) if n not in self._ids]

    def selects(self, tag: int, missing: list[tuple]) -> Iterator[tuple[str, list, int]]:
        """(SELECT, parameters, parameter count) finding the ids of ``missing``, in the columns of
        ``LOOKUP_COLUMNS`` after ``tag``: one on PostgreSQL (the values bound as arrays), on SQLite as few as
        its limit on bound parameters allows."""
        table = self.table.name
        if self._postgresql:
            # Each value probes the unique index (LATERAL ... LIMIT 1): a join could hash the whole table, and
            # "= ANY" of a bootstrap's 2,000 values scans it (the planner's choice at 200,000 rows).
            columns = ", ".join(f"n.{name}" if name in self.natural else "NULL" for name in LOOKUP_COLUMNS)
            arrays = ", ".join(f"%s::{LOOKUP_COLUMNS[name]}[]" for name in self.natural)
            on = " AND ".join(f"t.{name} = n.{name}" for name in self.natural)
            yield (f"SELECT {tag}, t.{self.id_column}, {columns} "  # noqa: S608 - our names; values bound
                   f"FROM unnest({arrays}) AS n({', '.join(self.natural)}) "
                   f"CROSS JOIN LATERAL (SELECT t.{self.id_column} FROM {table} t WHERE {on} LIMIT 1) t",
                   [list(column) for column in zip(*missing, strict=True)], len(self.natural))
            return
        columns = ", ".join(f"t.{name}" if name in self.natural else "NULL" for name in LOOKUP_COLUMNS)
        head = f"SELECT {tag}, t.{self.id_column}, {columns}"
        width = len(self.natural)
        chunk = _variables_per_statement() // width
        for start in range(0, len(missing), chunk):
            part = missing[start:start + chunk]
            if width == 1:
                marks = ", ".join(["?"] * len(part))
                yield f"{head} FROM {table} t WHERE t.{self.natural[0]} IN ({marks})", [n[0] for n in part], len(part)
            else:
                row = f"({', '.join(['?'] * width)})"
                on = " AND ".join(f"t.{name} = n.column{i}" for i, name in enumerate(self.natural, 1))
                yield (f"{head} FROM (VALUES {', '.join([row] * len(part))}) AS n JOIN {table} t ON {on}",
                       [value for natural in part for value in natural], width * len(part))

    def top(self, tag: int) -> str:
        """A SELECT of ``max(id)`` in the lookup's columns."""
        nulls = ", ".join(["NULL"] * len(LOOKUP_COLUMNS))
        return f"SELECT {tag}, coalesce(max({self.id_column}), 0), {nulls} FROM {self.table.name}"  # noqa: S608

    def found(self, row: Sequence) -> None:
        """A row of the lookup (after its tag): the id and ``LOOKUP_COLUMNS``."""
        values = dict(zip(LOOKUP_COLUMNS, row[1:], strict=True))
        self._ids[tuple(bytes(values[n]) if isinstance(values[n], memoryview) else values[n]
                        for n in self.natural)] = int(row[0])

    def id_for(self, natural: tuple, row: dict) -> int:
        """The id of the row named by ``natural``, one of the batch's (``Appender._look_up`` cached those it
        found and read ``next``: one it did not find is new); ``row`` (without the id) is remembered for
        ``ensure``."""
        found = self._ids.get(natural)
        if found is None:
            found, self.next = self.next, self.next + 1
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


class _Bases:
    """What one batch knows of the blobs its members may be stored against (``Appender._bases`` caches only
    each (resource, member)'s base digest): the rows read for it, and the texts of the bases."""

    def __init__(self, rows: dict[str, tuple[str | None, bytes]]) -> None:
        self.rows = rows  # digest -> (base, data), as read from ``blobs`` (with each base chain)
        self.last: dict[tuple[int, str], str] = {}  # (key_id, member) -> its last logged value's chain's root
        self._texts: dict[str, bytes] = {}

    def text(self, digest: str) -> bytes:
        """The blob's JSON text (its base chain is in ``rows``)."""
        if digest not in self._texts:
            base, data = self.rows[digest]
            self._texts[digest] = inflate(data, self.text(base) if base is not None else None)
        return self._texts[digest]

    def add(self, digest: str, text: bytes, data: bytes) -> None:
        """A blob this batch stores whole."""
        self.rows[digest] = (None, data)
        self._texts[digest] = text

    def chain(self, digest: str) -> Iterator[tuple[str, tuple[str | None, bytes]]]:
        """The rows a blob stored against ``digest`` needs: its own and its bases'."""
        while digest is not None:
            row = self.rows[digest]
            yield digest, row
            digest = row[0]

    def root(self, digest: str) -> str | None:
        """The blob at the end of ``digest``'s base chain, None if a blob of the chain is missing."""
        while digest in self.rows:
            base = self.rows[digest][0]
            if base is None:
                return digest
            digest = base
        return None


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
        self._postgresql = dialect.name == "postgresql"
        self._time = _MicrosCache() if not legacy and dialect.name == "sqlite" else _unchanged
        meta_table, log_table = _legacy_tables() if legacy else (metas, event_log)
        self._keys = _Interned(resource_keys, "key_id", ("namespace", "type", "id"), compiled)
        self._metas = _Interned(meta_table, "meta_id", ("digest",), compiled)
        self._specs = _Interned(specs, "spec_id", ("digest",), compiled)
        self._blobs_insert = compiled(_ensure(blobs, "digest", dialect.name))
        self._bases: dict[tuple[int, str], str] = {}  # (key_id, member) -> the digest of its base blob
        self._log_insert = compiled(sa.insert(log_table).values({c.name: sa.bindparam(c.name) for c in log_table.c}))

    def reset(self) -> None:
        """Forget every cached id (after a failed transaction, or another writer's)."""
        for interned in (self._keys, self._metas, self._specs):
            interned.reset()
        self._bases = {}

    @staticmethod
    def _in(column: str, values: list) -> Iterator[tuple[str, list]]:
        """(condition, parameters) of ``column`` in ``values`` on SQLite: as few as its parameter limit allows."""
        chunk = _variables_per_statement()
        for start in range(0, len(values), chunk):
            part = values[start:start + chunk]
            yield f"{column} IN ({', '.join(['?'] * len(part))})", part

    def _look_up(self, cur, naturals: list[list[tuple]]) -> None:
        """Find the ids of the keys, metas and specs (``naturals``, in that order) not cached: one query on
        PostgreSQL (SQLite: as few as its parameter limit allows), with the tables' ``max(id)`` the first time."""
        tables = (self._keys, self._metas, self._specs)
        missing = [table.missing(n) for table, n in zip(tables, naturals, strict=True)]
        selects = [s for tag, (table, m) in enumerate(zip(tables, missing, strict=True)) if m
                   for s in table.selects(tag, m)]
        if not selects:
            return
        selects += [(table.top(len(tables) + tag), [], 0) for tag, table in enumerate(tables) if table.next is None]
        limit = _variables_per_statement()
        statements: list[tuple[list[str], list, int]] = []
        for sql, params, count in selects:
            if statements and (self._postgresql or statements[-1][2] + count <= limit):
                sqls, values, total = statements[-1]
                statements[-1] = ([*sqls, sql], [*values, *params], total + count)
            else:
                statements.append(([sql], list(params), count))
        for sqls, params, _count in statements:
            cur.execute(" UNION ALL ".join(sqls), params)
            for row in cur.fetchall():
                tag = int(row[0])
                if tag < len(tables):
                    tables[tag].found(row[1:])
                else:
                    tables[tag - len(tables)].next = int(row[1]) + 1

    def _load_bases(self, cur, pairs: dict[tuple[int, str], None], first_new: int | None) -> _Bases:
        """Read what the batch's members may be stored against: for each (key_id, member) whose base is not
        cached, the blobs of its resource's last logged spec (one query; not for the batch's new resources),
        then the rows of those blobs and of the cached bases with their base chains (one query, which reads
        two levels of a chain: a value's row and its base's; a longer chain takes one more a level)."""
        wanted: dict[int, list[str]] = {}
        for key_id, member in pairs:
            if (key_id, member) not in self._bases and (first_new is None or key_id < first_new):
                wanted.setdefault(key_id, []).append(member)
        last: dict[tuple[int, str], str] = {}
        newest = ("(SELECT s.spec_blobs FROM event_log l JOIN specs s ON s.spec_id = l.spec_id "
                  "WHERE l.key_id = k.key_id ORDER BY l.revision DESC LIMIT 1)")
        if not wanted:
            queries = []
        elif self._postgresql:
            queries = [(f"SELECT k.key_id, {newest} FROM unnest(%s::bigint[]) AS k(key_id)",  # noqa: S608
                        [list(wanted)])]
        else:
            queries = [(f"SELECT k.key_id, {newest} FROM resource_keys k WHERE {condition}", params)  # noqa: S608
                       for condition, params in self._in("k.key_id", list(wanted))]
        for sql, params in queries:
            cur.execute(sql, params)
            for key_id, refs in cur.fetchall():
                refs = json.loads(refs) if isinstance(refs, str | bytes) else refs
                for member in wanted[int(key_id)]:
                    if refs and refs.get(member) is not None:
                        last[(int(key_id), member)] = refs[member]
        rows: dict[str, tuple[str | None, bytes]] = {}
        level = {self._bases[p] for p in pairs if p in self._bases} | set(last.values())
        asked: set[str] = set()
        while level:  # two levels a query: a value stored against a base, and the base
            if self._postgresql:  # each digest probes the primary key (see _Interned.selects)
                reads = [("SELECT b.digest, b.base, b.data, r.base, r.data FROM unnest(%s::text[]) AS n(digest) "
                          "CROSS JOIN LATERAL (SELECT * FROM blobs b WHERE b.digest = n.digest LIMIT 1) b "
                          "LEFT JOIN LATERAL (SELECT * FROM blobs r WHERE r.digest = b.base LIMIT 1) r ON true",
                          [sorted(level)])]
            else:
                reads = [("SELECT b.digest, b.base, b.data, r.base, r.data FROM blobs b "  # noqa: S608
                          f"LEFT JOIN blobs r ON r.digest = b.base WHERE {condition}", params)
                         for condition, params in self._in("b.digest", sorted(level))]
            for sql, params in reads:
                cur.execute(sql, params)
                for digest, base, data, base_base, base_data in cur.fetchall():
                    rows[digest] = (base, bytes(data))
                    if base_data is not None:
                        rows[base] = (base_base, bytes(base_data))
            asked |= level
            level = {row[0] for row in rows.values() if row[0] is not None} - rows.keys() - asked
        bases = _Bases(rows)
        for pair, digest in last.items():
            root = bases.root(digest)
            if root is not None:
                bases.last[pair] = root
        return bases

    def _base(self, bases: _Bases, key_id: int, member: str) -> str | None:
        """The digest of the blob later values of this resource's member are stored against: the first value
        seen (or, after a restart, the base of the last logged value); None if there is none, or if it is no
        longer in ``blobs`` (retention removed it: the new value is stored whole instead)."""
        digest = self._bases.get((key_id, member))
        if digest is None:
            digest = bases.last.get((key_id, member))
            if digest is None:
                return None
            self._bases[(key_id, sys.intern(member))] = digest
        return digest if bases.root(digest) is not None else None

    def append(self, cur, rows: list[tuple], spec_values: Sequence[object] | None = None) -> None:
        """``spec_values``: each row's spec as the value its JSON text encodes, when the caller has them."""
        if not rows:
            return
        parts = []
        for row, spec_value in zip(rows, [None] * len(rows) if spec_values is None else spec_values, strict=True):
            (revision, namespace, type_, id_, event, version, phase, owner, created, updated, labels, notes,
             finalizers, spec, observed_at) = row
            if self._legacy:
                created_text = created if created is None or isinstance(created, str) else created.isoformat()
                digest = state_digest((phase, owner, created_text, labels, notes, finalizers))
            else:  # without created, a re-created resource (or one back in its earlier place) reuses a meta
                digest = state_digest((phase, owner, labels, notes, finalizers))
            created = self._time(created)
            meta = {"digest": digest, "phase": phase, "owner": owner, "created": created, "labels": labels,
                    "annotations": notes, "finalizers": finalizers}  # each table takes the columns it has
            stored, spec_blobs, members = split_spec(type_, spec, spec_value)
            stored_spec = {"digest": state_digest((stored, spec_blobs)), "spec": stored, "spec_blobs": spec_blobs}
            log = {"revision": revision, "event": event, "version": version, "created": created,
                   "updated": self._time(updated),
                   "observed_at": self._time(observed_at)}
            parts.append(((namespace, type_, id_), meta, stored_spec, members, log))
        for interned in (self._keys, self._metas, self._specs):
            interned.make_room(len(parts))
        self._look_up(cur, [[p[0] for p in parts], [(p[1]["digest"],) for p in parts],
                            [(p[2]["digest"],) for p in parts]])
        first_new = self._keys.next  # keys from here on are this batch's: no logged event names them
        log_rows = []
        pairs: dict[tuple[int, str], None] = {}
        for key, meta, stored_spec, members, log in parts:
            key_id = self._keys.id_for(key, {"namespace": key[0], "type": key[1], "id": key[2]})
            meta_id = self._metas.id_for((meta["digest"],), meta)
            spec_id = self._specs.id_for((stored_spec["digest"],), stored_spec)
            log_rows.append({**log, "key_id": key_id, "meta_id": meta_id, "spec_id": spec_id})
            for member in members:
                pairs[(key_id, sys.intern(member))] = None
        new_blobs: dict[str, tuple[str | None, bytes]] = {}  # digest -> (base, stored data)
        if pairs:
            if len(self._bases) + len(pairs) > BASE_ENTRIES:
                self._bases.clear()  # crude but bounded; before the batch, so its reads stay valid
            bases = self._load_bases(cur, pairs, first_new)
            for (_key, _meta, _spec, members, _log), values in zip(parts, log_rows, strict=True):
                for member, (blob_digest, data) in members.items():
                    if blob_digest in new_blobs:
                        continue
                    key_id = values["key_id"]
                    base = self._base(bases, key_id, member)
                    if base is None:  # stored whole: the base of this member's later values
                        packed = compress(data)
                        new_blobs[blob_digest] = (None, packed)
                        bases.add(blob_digest, data, packed)
                        self._bases[(key_id, sys.intern(member))] = blob_digest
                        continue
                    if base != blob_digest:
                        new_blobs[blob_digest] = (base, compress(data, bases.text(base)))
                    # the base must exist as long as this does (or it is this value: back to its base's value)
                    for digest, row in bases.chain(base):
                        new_blobs.setdefault(digest, row)
        for interned in (self._keys, self._metas, self._specs):
            interned.ensure(cur)
        if new_blobs:
            sql, columns = self._blobs_insert
            cur.executemany(sql, [tuple({"digest": d, "base": base, "data": data}[c] for c in columns)
                                  for d, (base, data) in new_blobs.items()])
        sql, columns = self._log_insert
        cur.executemany(sql, [tuple(values[c] for c in columns) for values in log_rows])


def _legacy_tables() -> tuple[sa.TableClause, sa.TableClause]:
    """``metas`` and ``event_log`` as migrations 0006-0007 made them (the appender only inserts)."""
    meta_columns = [c.name for c in metas.c]
    log_columns = [c.name for c in event_log.c if c.name != "created"]
    return (sa.table("metas", *(sa.column(n) for n in [*meta_columns, "created"])),
            sa.table("event_log", *(sa.column(n) for n in log_columns)))


def _unchanged(value: object) -> object:
    return value


class _MicrosCache:
    """``schema.to_micros`` remembering its last answer (every event of a batch has the same observed_at)."""

    def __init__(self) -> None:
        self._last: tuple[object, int | None] = (None, None)

    def __call__(self, value: datetime | str | int | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        last, micros = self._last
        if value != last:
            micros = to_micros(value)
            self._last = (value, micros)
        return micros


def batches(rows: Iterable[tuple], size: int = 5_000) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
