"""The per-day rollup of the fleet history: what the daily reports and ``daily_fleet`` read.

Computing "machines per Talos version at the end of each day" from the ``history_machines`` view is linear
in the whole history (a window over every version of every machine). The rollup folds the log once, as it
is written: for each version of a machine (or cluster) it adds +1 to the (day, dimension, group, value)
the version enters and -1 to the one its predecessor leaves, exactly the deltas the view-based query
(``models.reporting.daily_values_sql``) sums. A running sum over ``report_calendar`` then gives the
end-of-day counts, so a report reads a few rows per day instead of the history.

It is computed from the log, never sampled: the writer calls ``Folder.fold`` in each batch's transaction
after appending the batch's events (``rollup_progress.revision`` is the last revision folded, so a batch
is folded exactly once, and a rolled-back batch leaves nothing behind). Folding reads the appended events
through the same typed-column declarations as the views (``models.reporting``) and keeps, per resource,
the last values of each kind it joins in ``rollup_members``: it never reads older history. Pruning the
log (models/retention.py) leaves the rollup alone, so daily counts outlive the events they came from.

The version rules are the history views': a version is any event of the listed kind or of a joined kind
(same id) while the listed resource exists, plus its destroy; joined values come from the joined kind's
latest event unless that was a destroy (then the proto3 defaults).
"""

# ruff: noqa: S608 - SQL text is composed only from the declarations in this module; values are bound
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from models import catalog, reporting, schema
from models.reporting import Column, View, _source, _Sql

BASE = "b"


@dataclass(frozen=True)
class Dimension:
    """One counted series: ``value`` names the view column counted by (None: one series, value '');
    ``member`` a boolean column a version must have to be counted (None: every live version)."""

    name: str
    value: str | None = None
    member: str | None = None


@dataclass(frozen=True)
class Rollup:
    subject: str
    view: View
    group: str | None  # the column a report filters on (a machine's cluster); None: always ''
    dimensions: tuple[Dimension, ...]

    @property
    def columns(self) -> list[Column]:
        names = [self.group, *(d.value for d in self.dimensions), *(d.member for d in self.dimensions)]
        wanted = {n for n in names if n}
        return [c for c in self.view.columns if c.name in wanted]

    def kinds(self) -> dict[str, str]:
        """alias -> catalog kind name, the listed kind first."""
        return {BASE: self.view.kind, **self.view.joins}


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("machines", reporting.by_collection("machines"), "cluster", (
        Dimension("total"),
        Dimension("connected", member="connected"),
        Dimension("talos_version", value="talos_version"),
        Dimension("kubernetes_version", value="kubernetes_version"),
    )),
    Rollup("clusters", reporting.by_collection("clusters"), None, (
        Dimension("total"),
        Dimension("phase", value="status_phase"),
    )),
)


def _alias_of(column: Column) -> tuple[str, Column]:
    """The kind alias a column reads from, and the column re-rooted on that kind's own row."""
    aliases, sources = set(), []
    for alternative in column.source.split("|"):
        if alternative.startswith(("spec.", "label:")):
            aliases.add(BASE)
            sources.append(alternative)
        else:
            alias, _, rest = alternative.partition(".")
            aliases.add(alias)
            sources.append(rest)
    if len(aliases) != 1:
        raise ValueError(f"column {column.name}: a rolled-up column reads one kind")
    return aliases.pop(), replace(column, source="|".join(sources))


def _default(column: Column) -> Any:
    return bool(column.proto3_default) if column.type in (reporting.BOOL, reporting.EXISTS) \
        else column.proto3_default


# --- folding ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Extract:
    rollup: Rollup
    alias: str
    kind: tuple[str, str]  # (namespace, type) of the events it reads
    columns: tuple[str, ...]  # the names of the values this kind's query returns, in order
    sql: str
    params: tuple[str, ...]


class Folder:
    """Folds appended events into ``daily_counts``; runs on a DB-API cursor inside the caller's transaction."""

    def __init__(self, dialect: Dialect) -> None:
        name = dialect.name
        positional = type(dialect)(paramstyle="qmark" if name == "sqlite" else "format")
        sql = _Sql(name)

        def compiled(text: str) -> tuple[str, tuple[str, ...]]:
            out = sa.text(text).compile(dialect=positional)
            return out.string, tuple(out.positiontup or ())

        # SQLite: a unary "+" makes the kind terms unindexable, so the planner reads the batch's few rows by
        # revision instead of starting at the kind's keys and seeking the log once per resource of the kind
        # (0.35 ms per statement at 2,000 machines, growing with the fleet). PostgreSQL's planner gets this
        # right from its statistics (the watcher analyzes after a bootstrap: watcher/service.py).
        unindexed = "+" if name == "sqlite" else ""
        self.extracts: list[_Extract] = []
        # per rollup, column name -> (the alias of the kind it is read from, its proto3 default)
        self.readers = {r.subject: {c.name: (_alias_of(c)[0], _default(c)) for c in r.columns} for r in ROLLUPS}
        for rollup in ROLLUPS:
            by_alias: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for column in rollup.columns:
                alias, rooted = _alias_of(column)
                by_alias[alias].append((column.name, _source(rooted, sql, "e", {})))
            for alias, kind_name in rollup.kinds().items():
                kind = catalog.by_name(kind_name)
                values = by_alias.get(alias, [])
                text = ("SELECT e.revision, e.id, e.event, " + sql.day_of("e.observed_at") + " AS day"
                        + "".join(f", {expr}" for _, expr in values)
                        + f" FROM events e WHERE {unindexed}e.namespace = {reporting._literal(kind.namespace)}"
                        + f" AND {unindexed}e.type = {reporting._literal(kind.type)}"
                        + " AND e.revision > :low AND e.revision <= :high")
                self.extracts.append(_Extract(rollup, alias, (kind.namespace, kind.type),
                                              tuple(n for n, _ in values), *compiled(text)))
        self.select_progress = compiled("SELECT revision FROM rollup_progress WHERE singleton = 1")
        self.update_progress = compiled("UPDATE rollup_progress SET revision = :revision WHERE singleton = 1")
        # From the log and its keys, not the ``events`` view: its joins to every meta and spec cost a scan.
        self.select_members = compiled(
            "SELECT id, state FROM rollup_members WHERE subject = :subject AND id IN "
            "(SELECT k.id FROM event_log l JOIN resource_keys k ON k.key_id = l.key_id "
            "WHERE l.revision > :low AND l.revision <= :high)")
        conflict = "ON CONFLICT (subject, id) DO UPDATE SET state = excluded.state"
        self.upsert_member = compiled(
            f"INSERT INTO rollup_members (subject, id, state) VALUES (:subject, :id, :state) {conflict}")
        self.add_count = compiled(
            "INSERT INTO daily_counts (subject, dimension, day, grp, value, n) "
            "VALUES (:subject, :dimension, :day, :grp, :value, :n) "
            "ON CONFLICT (subject, dimension, day, grp, value) DO UPDATE SET n = daily_counts.n + excluded.n")

    @staticmethod
    def _run(cur, statement: tuple[str, tuple[str, ...]], **values: Any) -> None:
        sql, names = statement
        cur.execute(sql, tuple(values[n] for n in names))

    def progress(self, cur):
        """The progress read, sent now and answered to ``fold`` (its ``progress``): sent before the caller's
        own reads, it costs the writer's pipeline no round trip of its own."""
        return self._read(cur, self.select_progress)

    def fold(self, cur, high: int, batch: tuple[int, Collection[tuple[str, str]]] | None = None,
             progress=None) -> int:
        """Fold the events after ``rollup_progress`` up to ``high``; returns how many versions changed counts.

        ``batch`` is what the caller knows of the range: (the revision before its events, the (namespace,
        type) of every event after it up to ``high``). When the progress is that revision, the kinds absent
        from the batch are not read: a live batch holds one to three kinds, and each read of the seven
        costs a statement's planning and execution (most of a small PostgreSQL batch's server time).

        After the progress, every read is sent before any answer is read: in the writer's pipeline
        (PostgreSQL) the fold's reads cost two round trips, not one each."""
        reader = progress or self.progress(cur)
        low = int(reader.fetchone()[0])
        reader.close()
        if high <= low:
            return 0
        extracts = self.extracts
        if batch is not None and batch[0] == low:
            extracts = [extract for extract in extracts if extract.kind in batch[1]]
        reads = [(extract, self._read(cur, (extract.sql, extract.params), low=low, high=high))
                 for extract in extracts]
        subjects = {extract.rollup.subject for extract in extracts}
        members = {rollup.subject: self._read(cur, self.select_members, subject=rollup.subject, low=low, high=high)
                   for rollup in ROLLUPS if rollup.subject in subjects}
        points: dict[str, list[tuple]] = defaultdict(list)  # subject -> (revision, id, alias, event, day, values)
        for extract, reader in reads:
            for revision, id_, event, day, *values in reader.fetchall():
                points[extract.rollup.subject].append(
                    (revision, id_, extract.alias, event, day, dict(zip(extract.columns, values, strict=True))))
            reader.close()
        states = {}
        for subject, reader in members.items():
            states[subject] = {id_: _Member.load(state) for id_, state in reader.fetchall()}
            reader.close()
        changed = 0
        deltas: dict[tuple, int] = defaultdict(int)
        for rollup in ROLLUPS:
            if rollup.subject in states:
                changed += self._fold_rollup(cur, rollup, points[rollup.subject], states[rollup.subject], deltas)
        rows = [(*key, n) for key, n in deltas.items() if n]
        if rows:
            sql, names = self.add_count
            order = ("subject", "dimension", "day", "grp", "value", "n")
            cur.executemany(sql, [tuple(row[order.index(n)] for n in names) for row in rows])
        self._run(cur, self.update_progress, revision=high)
        return changed

    def _read(self, cur, statement: tuple[str, tuple[str, ...]], **values: Any):
        """``statement`` executed on a cursor of its own (its rows are fetched later)."""
        reader = cur.connection.cursor()
        self._run(reader, statement, **values)
        return reader

    def _fold_rollup(self, cur, rollup: Rollup, points: list[tuple], members: dict[str, _Member],
                     deltas: dict[tuple, int]) -> int:
        if not points:
            return 0
        points.sort(key=lambda p: p[0])
        readers = self.readers[rollup.subject]
        changed = 0
        for _revision, id_, alias, event, day, values in points:
            member = members.get(id_)
            if member is None:
                member = members[id_] = _Member()
            if member.apply(rollup, alias, event, values, readers, day, deltas):
                changed += 1
        sql, names = self.upsert_member
        touched = {p[1] for p in points}
        cur.executemany(sql, [tuple({"subject": rollup.subject, "id": id_, "state": members[id_].dump()}[n]
                                    for n in names) for id_ in sorted(touched)])
        return changed


class _Member:
    """One resource's fold state: the last values read from each kind, whether the listed resource exists,
    and what its last version counted (per dimension: [group, value] or None)."""

    __slots__ = ("base", "values", "last")

    def __init__(self) -> None:
        self.base = "absent"  # absent | alive | gone
        self.values: dict[str, dict[str, Any] | None] = {}
        self.last: list | None = None

    @classmethod
    def load(cls, text: str) -> _Member:
        state = json.loads(text)
        member = cls()
        member.base, member.values, member.last = state["base"], state["values"], state["last"]
        return member

    def dump(self) -> str:
        return json.dumps({"base": self.base, "values": self.values, "last": self.last}, separators=(",", ":"))

    def _value(self, name: str, readers: dict[str, tuple[str, Any]]) -> Any:
        alias, default = readers[name]
        values = self.values.get(alias)
        found = None if values is None else values.get(name)
        if found is None:
            return default
        return bool(found) if isinstance(default, bool) else found

    def apply(self, rollup: Rollup, alias: str, event: str, values: dict[str, Any],
              readers: dict[str, tuple[str, Any]], day: Any, deltas: dict[tuple, int]) -> bool:
        destroyed = event == "destroyed"
        if alias == BASE:
            self.base = "gone" if destroyed else "alive"
            self.values[alias] = values  # the listed kind's row is read even at its destroy
        else:
            self.values[alias] = None if destroyed else values
        if self.base == "absent" or (self.base == "gone" and alias != BASE):
            return False  # not a version: the listed resource does not exist
        live = alias != BASE or not destroyed
        value = self._value
        group = str(value(rollup.group, readers)) if rollup.group else ""
        counted = [[group, "" if d.value is None else str(value(d.value, readers))]
                   if live and (d.member is None or value(d.member, readers)) else None for d in rollup.dimensions]
        previous = self.last or [None] * len(rollup.dimensions)
        if counted == previous:
            self.last = counted
            return False
        for dimension, now, before in zip(rollup.dimensions, counted, previous, strict=True):
            if now == before:
                continue
            if now is not None:
                deltas[(rollup.subject, dimension.name, day, now[0], now[1])] += 1
            if before is not None:
                deltas[(rollup.subject, dimension.name, day, before[0], before[1])] -= 1
        self.last = counted
        return True


def fold(conn: Connection, high: int | None = None, step: int = 2_000) -> int:
    """Fold the log up to ``high`` (default: the head) in writer-sized steps, in ``conn``'s transaction
    (the migration's backfill, the benchmarks' bulk loads)."""
    if high is None:
        high = int(conn.execute(sa.text("SELECT head_revision FROM meta WHERE singleton = 1")).scalar() or 0)
    cur = conn.connection.dbapi_connection.cursor()
    try:
        low = int(conn.execute(sa.text("SELECT revision FROM rollup_progress WHERE singleton = 1")).scalar())
        return _fold_steps(Folder(conn.dialect), cur, low, high, step)
    finally:
        cur.close()


def _fold_steps(folder: Folder, cur, low: int, high: int, step: int) -> int:
    changed, upto = 0, low
    while upto < high:
        upto = min(upto + step, high)
        changed += folder.fold(cur, upto)
    return changed


# --- checking and re-folding (omni-readmodel rebuild) ----------------------------------------------
#
# The rollup outlives pruning: once history has been pruned, the days before the horizon exist only in
# ``daily_counts``, so it can be recomputed (and compared) only while the whole log is there.

Count = tuple  # (subject, dimension, day, grp, value, n), as the driver returns them


def recomputable(conn: Connection) -> bool:
    """Whether the log still holds every event the rollup was folded from (nothing was pruned)."""
    return int(conn.execute(sa.text("SELECT horizon_revision FROM meta WHERE singleton = 1")).scalar() or 0) == 0


_COUNTS = "SELECT subject, dimension, day, grp, value, n FROM daily_counts WHERE n <> 0"


def stored_counts(conn: Connection) -> tuple[int, set[Count]]:
    """The stored rollup: (the revision it is folded up to, its non-zero counts). One statement, so a
    running watcher's commit cannot fall between the two."""
    rows = conn.execute(sa.text(
        "SELECT p.revision, d.subject, d.dimension, d.day, d.grp, d.value, d.n FROM rollup_progress p "
        "LEFT JOIN daily_counts d ON d.n <> 0 WHERE p.singleton = 1")).all()
    return (int(rows[0][0]) if rows else 0), {tuple(r[1:]) for r in rows if r[1] is not None}


def _scratch_tables() -> list[sa.Table]:
    """Temporary twins of the rollup's tables. They shadow the stored ones for unqualified names (SQLite
    looks in ``temp`` first, PostgreSQL in ``pg_temp``), so the Folder's own statements fold into them."""
    scratch = sa.MetaData()
    return [sa.Table(t.name, scratch, *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                        for c in t.columns), prefixes=["TEMPORARY"])
            for t in (schema.daily_counts, schema.rollup_members, schema.rollup_progress)]


def recomputed_counts(engine: sa.Engine, high: int, step: int = 2_000) -> set[Count]:
    """The non-zero counts a fold of the log up to ``high`` gives, computed in temporary tables on a
    connection of its own that is then discarded: the stored rollup is neither written nor locked."""
    conn = engine.connect()
    try:
        for table in _scratch_tables():
            table.create(conn)
        conn.execute(sa.text("INSERT INTO rollup_progress (singleton, revision) VALUES (1, 0)"))
        fold(conn, high, step)
        return {tuple(r) for r in conn.execute(sa.text(_COUNTS))}
    finally:
        conn.invalidate()  # closes the DB-API connection: the temporary tables go with it
        conn.close()


def count_differences(stored: set[Count], recomputed: set[Count]) -> list[str]:
    """Human-readable differences of the stored rollup from the recomputed one."""
    stored_n = {row[:5]: row[5] for row in stored}
    right_n = {row[:5]: row[5] for row in recomputed}
    out = []
    for key in sorted(stored_n.keys() | right_n.keys(), key=lambda k: tuple(str(v) for v in k)):
        subject, dimension, day, grp, value = key
        if stored_n.get(key, 0) != right_n.get(key, 0):
            out.append(f"rollup {subject}/{dimension} {day} {grp or '-'} {value!r}: {stored_n.get(key, 0)}, "
                       f"log says {right_n.get(key, 0)}")
    return out


def refold(cur, dialect: Dialect, high: int, step: int = 2_000) -> None:
    """Empty the rollup and fold the log again up to ``high``, in ``cur``'s transaction (a rollup whose
    declaration changed, or a corrupted one). Only while ``recomputable``."""
    cur.execute("DELETE FROM daily_counts")
    cur.execute("DELETE FROM rollup_members")
    cur.execute("UPDATE rollup_progress SET revision = 0 WHERE singleton = 1")
    _fold_steps(Folder(dialect), cur, 0, high, step)


# --- reading ---------------------------------------------------------------------------------------

_GROUP = "(:cluster = '' OR grp = :cluster)"


def deltas_sql(subject: str, dimension: str, group: str = "") -> str:
    """(day, value, n): the day's change of each value's count, summed over the groups ``group`` admits."""
    where = f" AND {group}" if group else ""
    return (f"SELECT day, value, SUM(n) AS n FROM daily_counts WHERE subject = '{subject}' "
            f"AND dimension = '{dimension}'{where} GROUP BY day, value")


def values_sql(subject: str, dimension: str, group: str = "", *, keep_zero: bool = False) -> str:
    """(day, day_end, value, count): per day of ``report_calendar``, the count of each value at its end;
    the rollup's answer to ``models.reporting.daily_values_sql``."""
    _check(subject, dimension)
    return f"""WITH deltas AS (
  {deltas_sql(subject, dimension, group)}
), {reporting.running_counts_sql("report_calendar", keep_zero=keep_zero)}"""


def _check(subject: str, dimension: str) -> None:
    rollup = next((r for r in ROLLUPS if r.subject == subject), None)
    if rollup is None or dimension not in {d.name for d in rollup.dimensions}:
        raise ValueError(f"no rollup of {subject} by {dimension}")


def daily_fleet_sql() -> str:
    """``daily_fleet`` from the rollup: the same long format as ``models.reporting.daily_fleet_sql``."""
    parts = [("machines", "total", True), ("machines", "connected", True), ("machines", "talos_version", False),
             ("clusters", "total", True), ("clusters", "phase", False)]
    return "\nUNION ALL\n".join(
        f"SELECT day, '{subject}' AS subject, '{dimension}' AS dimension, value, count FROM (\n"
        f"{values_sql(subject, dimension, keep_zero=keep)}\n) AS s"
        for subject, dimension, keep in parts)


def view_statements(dialect: str, legacy: bool = False) -> list[str]:
    """``report_calendar`` (``calendar`` reaching back to the rollup's first day) and ``daily_fleet`` over the
    rollup; ``daily_fleet`` must be dropped first. ``legacy``: see ``reporting.statements``."""
    also = "SELECT MIN(day) FROM daily_counts"
    return [f"CREATE VIEW report_calendar AS\n{_Sql(dialect, legacy).calendar(also_from=also)}",
            f"CREATE VIEW daily_fleet AS\n{daily_fleet_sql()}"]


def drop_statements() -> list[str]:
    return ["DROP VIEW IF EXISTS daily_fleet", "DROP VIEW IF EXISTS report_calendar"]
