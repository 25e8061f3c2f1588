"""Reports: one SQL query each over the reporting views (models/reporting.py), shared by
``omni-readmodel report`` and ``GET /api/v1/reports/{name}``.

The SQL text is the same on SQLite and PostgreSQL (the dialect differences live in the views); only the
bound values differ in type (timestamps bind as SQLite's stored text or as aware datetimes). Every value
is bound, none is formatted in. Results come back normalised (days ``YYYY-MM-DD``, times RFC 3339 UTC,
booleans, integers, floats) so both databases answer byte for byte the same.

Parameters: ``since``/``until`` (a UTC time, a date, or an age such as ``90d``), ``cluster`` and
``limit``. Daily reports include the days whose end lies in ``(since, until]``; event reports count
changes observed in ``[since, until)``; ``inventory`` shows the machines as they were at ``until``.
"""

# ruff: noqa: S608 - SQL text is composed only from the declarations in this module; values are bound
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import rollup
from models.reporting import daily_values_sql

DAY, TIME, INT, FLOAT, BOOL, TEXT = "day", "time", "int", "float", "bool", "text"
SINCE, UNTIL, CLUSTER = "since", "until", "cluster"
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000
FORMATS = ("table", "csv", "json")
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
_END = datetime(9999, 12, 31, tzinfo=UTC)

_DAYS = "day_end > :since AND day_end <= :until"
_IN_CLUSTER = "(:cluster = '' OR h.cluster = :cluster)"


@dataclass(frozen=True)
class Report:
    name: str
    description: str
    sql: str
    columns: tuple[tuple[str, str], ...]  # (name, type)
    takes: frozenset[str] = field(default_factory=lambda: frozenset({SINCE, UNTIL, CLUSTER}))


def _distribution(values: str, column: str, counted: str) -> str:
    return f"""
SELECT day, value AS {column}, count AS {counted} FROM (
{values}
) AS s
WHERE {_DAYS}
ORDER BY day, value
LIMIT :limit"""


def _log_distribution(view: str, column: str, counted: str) -> str:
    return _distribution(daily_values_sql(view, column, "(:cluster = '' OR cluster = :cluster)"), column, counted)


def _rollup_distribution(dimension: str, counted: str) -> str:
    return _distribution(rollup.values_sql("machines", dimension, "(:cluster = '' OR grp = :cluster)"),
                         dimension, counted)


_CHANGES = """
  SELECT id, cluster, revision, observed_at, observed_ms, {column} AS value,
         LAG({column}) OVER (PARTITION BY id ORDER BY revision) AS previous
  FROM {view}"""

# The daily reports computed from the log itself (linear in the history): what the rollup-backed SQL in
# REPORTS must answer, row for row (tests/test_rollup.py checks it).
FROM_LOG: dict[str, str] = {
    "machine-count": f"""
WITH h AS (
  SELECT id, revision, observed_day AS day,
         CASE WHEN event <> 'destroyed' AND {_IN_CLUSTER} THEN 1 ELSE 0 END AS m,
         CASE WHEN event <> 'destroyed' AND {_IN_CLUSTER} AND connected THEN 1 ELSE 0 END AS k
  FROM history_machines h
), per_day AS (
  SELECT day, SUM(m - COALESCE(pm, 0)) AS dm, SUM(k - COALESCE(pk, 0)) AS dk FROM (
    SELECT day, m, k, LAG(m) OVER w AS pm, LAG(k) OVER w AS pk
    FROM h WINDOW w AS (PARTITION BY id ORDER BY revision)) AS c
  GROUP BY day
)
SELECT day, machines, connected FROM (
  SELECT d.day, d.day_end, SUM(COALESCE(p.dm, 0)) OVER (ORDER BY d.day) AS machines,
         SUM(COALESCE(p.dk, 0)) OVER (ORDER BY d.day) AS connected
  FROM calendar d LEFT JOIN per_day p ON p.day = d.day) AS s
WHERE {_DAYS}
ORDER BY day
LIMIT :limit""",
    "talos-versions": _log_distribution("history_machines", "talos_version", "machines"),
    "kubernetes-versions": _log_distribution("history_machines", "kubernetes_version", "machines"),
}

REPORTS: dict[str, Report] = {r.name: r for r in (
    Report("machine-count", "machines and connected machines at the end of each UTC day", f"""
WITH per_day AS (
  SELECT day, SUM(CASE WHEN dimension = 'total' THEN n ELSE 0 END) AS dm,
         SUM(CASE WHEN dimension = 'connected' THEN n ELSE 0 END) AS dk
  FROM daily_counts
  WHERE subject = 'machines' AND dimension IN ('total', 'connected') AND (:cluster = '' OR grp = :cluster)
  GROUP BY day
)
SELECT day, machines, connected FROM (
  SELECT d.day, d.day_end, SUM(COALESCE(p.dm, 0)) OVER (ORDER BY d.day) AS machines,
         SUM(COALESCE(p.dk, 0)) OVER (ORDER BY d.day) AS connected
  FROM report_calendar d LEFT JOIN per_day p ON p.day = d.day) AS s
WHERE {_DAYS}
ORDER BY day
LIMIT :limit""", (("day", DAY), ("machines", INT), ("connected", INT))),
    Report("talos-versions", "machines per Talos version at the end of each UTC day",
           _rollup_distribution("talos_version", "machines"),
           (("day", DAY), ("talos_version", TEXT), ("machines", INT))),
    Report("kubernetes-versions",
           "machines per Kubernetes version (of their ClusterMachine; '' when free) at the end of each UTC day",
           _rollup_distribution("kubernetes_version", "machines"),
           (("day", DAY), ("kubernetes_version", TEXT), ("machines", INT))),
    Report("flapping", "machines whose connected (Machine) or ready (ClusterMachineStatus) changed most", f"""
WITH connected AS ({_CHANGES.format(column="connected", view="history_machines")}
), ready AS ({_CHANGES.format(column="ready", view="history_clustermachines")}
), flips AS (
  SELECT id, cluster, observed_at, 1 AS connected_changes, 0 AS ready_changes FROM connected
  WHERE value <> previous
  UNION ALL
  SELECT id, cluster, observed_at, 0, 1 FROM ready WHERE value <> previous
)
SELECT h.id AS machine, COALESCE(m.hostname, '') AS hostname, MAX(h.cluster) AS cluster,
       SUM(h.connected_changes) AS connected_changes, SUM(h.ready_changes) AS ready_changes,
       COUNT(*) AS changes, MAX(h.observed_at) AS last_change
FROM flips h LEFT JOIN current_machines m ON m.id = h.id
WHERE h.observed_at >= :since AND h.observed_at < :until AND {_IN_CLUSTER}
GROUP BY h.id, m.hostname
ORDER BY COUNT(*) DESC, h.id
LIMIT :limit""", (("machine", TEXT), ("hostname", TEXT), ("cluster", TEXT), ("connected_changes", INT),
                  ("ready_changes", INT), ("changes", INT), ("last_change", TIME))),
    Report("upgrades", "per cluster, each Talos and Kubernetes version change: first to last machine", f"""
WITH talos AS ({_CHANGES.format(column="talos_version", view="history_machines")}
), kubernetes AS ({_CHANGES.format(column="kubernetes_version", view="history_clustermachines")}
), changes AS (
  SELECT 'talos' AS component, id, cluster, observed_at, observed_ms, previous, value FROM talos
  WHERE previous <> '' AND value <> '' AND value <> previous
  UNION ALL
  SELECT 'kubernetes', id, cluster, observed_at, observed_ms, previous, value FROM kubernetes
  WHERE previous <> '' AND value <> '' AND value <> previous
)
SELECT h.cluster, h.component, h.previous AS from_version, h.value AS to_version,
       COUNT(DISTINCT h.id) AS machines, MIN(h.observed_at) AS started, MAX(h.observed_at) AS finished,
       (MAX(h.observed_ms) - MIN(h.observed_ms)) / 1000.0 AS duration_seconds
FROM changes h
WHERE h.cluster <> '' AND h.observed_at >= :since AND h.observed_at < :until AND {_IN_CLUSTER}
GROUP BY h.cluster, h.component, h.previous, h.value
ORDER BY MIN(h.observed_ms), h.cluster, h.component
LIMIT :limit""", (("cluster", TEXT), ("component", TEXT), ("from_version", TEXT), ("to_version", TEXT),
                  ("machines", INT), ("started", TIME), ("finished", TIME), ("duration_seconds", FLOAT))),
    Report("inventory", "machines with their hardware, as they were at --until (default: now)", f"""
SELECT h.id AS machine, h.hostname, h.cluster, h.machine_set, h.role, h.talos_version, h.kubernetes_version,
       h.platform, h.arch, h.cpu_cores, h.memory_mb, h.disks, h.disk_bytes, h.connected, h.power_state
FROM history_machines h
WHERE h.valid_from <= :until AND (h.valid_to IS NULL OR h.valid_to > :until) AND {_IN_CLUSTER}
ORDER BY h.id
LIMIT :limit""", (("machine", TEXT), ("hostname", TEXT), ("cluster", TEXT), ("machine_set", TEXT),
                  ("role", TEXT), ("talos_version", TEXT), ("kubernetes_version", TEXT), ("platform", TEXT),
                  ("arch", TEXT), ("cpu_cores", INT), ("memory_mb", INT), ("disks", INT), ("disk_bytes", INT),
                  ("connected", BOOL), ("power_state", TEXT)),
           takes=frozenset({UNTIL, CLUSTER})),
)}


class ReportError(ValueError):
    """A bad report name or parameter; ``parameter`` names it (None for the name)."""

    def __init__(self, parameter: str | None, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Params:
    since: datetime | None = None
    until: datetime | None = None
    cluster: str = ""
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class Result:
    report: Report
    rows: list[dict[str, Any]]
    truncated: bool


_AGE = re.compile(r"([0-9]{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def is_age(text: str) -> bool:
    """``90d``, ``12h``, ``2w``, ``30m``."""
    return _AGE.fullmatch(text.strip()) is not None


def parse_time(parameter: str, text: str, now: datetime | None = None) -> datetime:
    """An age (``90d``, ``12h``, ``2w``, ``30m``: that long before now), a date (midnight UTC) or an
    RFC 3339 time; ASCII only, naive times are UTC."""
    value = text.strip()
    if not value.isascii():
        raise ReportError(parameter, f"{parameter} must be ASCII: an age like 90d, a date or an RFC 3339 time")
    age = _AGE.fullmatch(value)
    if age:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ReportError(parameter, f"{parameter}={text!r} is not an age (90d, 12h, 2w, 30m), a date "
                                     "(2026-11-30) or an RFC 3339 time (2026-11-30T12:00:00Z)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_params(report: Report, values: Mapping[str, str | None], now: datetime | None = None) -> Params:
    """Validate raw ``since``/``until``/``cluster``/``limit`` strings for ``report`` (None: not given)."""
    given = {k: v for k, v in values.items() if v is not None}
    for name in (SINCE, UNTIL, CLUSTER):
        if name in given and name not in report.takes:
            raise ReportError(name, f"report {report.name} does not take {name} "
                                    f"(it takes {', '.join(sorted(report.takes)) or 'nothing'})")
    since = parse_time(SINCE, given[SINCE], now) if SINCE in given else None
    until = parse_time(UNTIL, given[UNTIL], now) if UNTIL in given else None
    # since at or after until is an empty interval: no rows, not an error
    limit = DEFAULT_LIMIT
    if "limit" in given:
        text = given["limit"]
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
            raise ReportError("limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(text)
    cluster = given.get(CLUSTER, "")
    if len(cluster) > 256 or "\x00" in cluster:
        raise ReportError(CLUSTER, "cluster must be an id of at most 256 characters, without NUL")
    return Params(since, until, cluster, limit)


def get(name: str) -> Report:
    try:
        return REPORTS[name]
    except KeyError:
        raise ReportError(None, f"unknown report {name!r}; known: {', '.join(REPORTS)}") from None


def _bind_time(dialect: str, value: datetime) -> Any:
    if dialect != "sqlite":
        return value
    # SQLite stores SQLAlchemy's naive UTC text; compare with the same text.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def run(conn: Connection, report: Report, params: Params) -> Result:
    """Run ``report`` (one statement) and return normalised rows; at most ``params.limit`` of them."""
    dialect = conn.dialect.name
    bound = {
        "since": _bind_time(dialect, params.since or _BEGINNING),
        "until": _bind_time(dialect, params.until or _END),
        "cluster": params.cluster,
        "limit": params.limit + 1,  # one more tells whether the cap cut the answer
    }
    rows = conn.execute(sa.text(report.sql), bound).fetchall()
    truncated = len(rows) > params.limit
    names = [name for name, _ in report.columns]
    types = [kind for _, kind in report.columns]
    out = [{n: _normalise(t, v) for n, t, v in zip(names, types, row, strict=True)}
           for row in rows[: params.limit]]
    return Result(report, out, truncated)


def _normalise(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == DAY:
        return value.isoformat() if isinstance(value, date) else str(value)[:10]
    if kind == TIME:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return moment.isoformat().replace("+00:00", "Z")
    if kind == INT:
        return int(value)
    if kind == FLOAT:
        return round(float(value), 3)
    if kind == BOOL:
        return bool(value)
    return str(value)


# --- output ------------------------------------------------------------------------------------------

def to_json(result: Result) -> str:
    return json.dumps(result.rows, separators=(",", ":"), ensure_ascii=False) + "\n"


def to_csv(result: Result) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([name for name, _ in result.report.columns])
    for row in result.rows:
        writer.writerow(["" if v is None else ("true" if v is True else "false" if v is False else v)
                         for v in row.values()])
    return out.getvalue()


def to_table(result: Result) -> str:
    names = [name for name, _ in result.report.columns]
    cells = [[_cell(row[n]) for n in names] for row in result.rows]
    widths = [max([len(n), *(len(r[i]) for r in cells)]) for i, n in enumerate(names)]
    numeric = [kind in (INT, FLOAT) for _, kind in result.report.columns]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for row in cells:
        lines.append("  ".join((c.rjust(w) if num else c.ljust(w))
                               for c, w, num in zip(row, widths, numeric, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(result: Result, output: str) -> str:
    return {"json": to_json, "csv": to_csv, "table": to_table}[output](result)


def describe() -> list[dict[str, Any]]:
    """The report list (``report --list``, ``GET /api/v1/reports``)."""
    return [{"name": r.name, "description": r.description, "parameters": sorted([*r.takes, "limit"]),
             "columns": [{"name": n, "type": t} for n, t in r.columns]} for r in REPORTS.values()]


def describe_text(reports: Sequence[dict[str, Any]] | None = None) -> str:
    reports = reports or describe()
    width = max(len(r["name"]) for r in reports)
    return "".join(f"{r['name'].ljust(width)}  {r['description']}\n" for r in reports)
