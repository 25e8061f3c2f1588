"""``GET /api/v1/timeline``'s aggregation over a long history: 10k machines, 30 days.

The log is generated as bench/reports_history.py does (Machine, MachineStatus, ClusterMachine per
machine; connection flaps, status updates, a Talos upgrade; ~5.4 changes per machine and day) and
bulk-inserted, the ``resources`` projection filled from each resource's last event; then
``models.timeline.compute`` (plus the JSON the endpoint serialises) runs for the page's requests on SQLite
and, with ``BENCH_PG_URL`` (an empty database), on PostgreSQL. Target (issue 11): the page's first
request (30 days, 200 buckets, the first 40 rows by name) within 1 s. Baseline, same run: one pass over
the log (``SELECT COUNT(*) FROM events``), i.e. what reading the raw history would cost at least.
``BENCH_TIMELINE_MACHINES`` (default 10000) sizes the fleet.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench import Result, setting
from bench import reports_history as history
from models import timeline
from models.db import create_engine

MACHINES = int(setting("BENCH_TIMELINE_MACHINES", 10000, 500))
DAYS = 30
TARGET_S = 1.0
RUNS = 3
PAGE = 40  # rows per request of the page (api/ui/timeline.js)

_PROJECT = """INSERT INTO resources (namespace, type, id, version, phase, owner, created, updated, labels,
  annotations, finalizers, spec, revision, document)
SELECT e.namespace, e.type, e.id, e.version, e.phase, e.owner, e.created, e.updated, e.labels, e.annotations,
  e.finalizers, e.spec, e.revision, NULL
FROM events e JOIN (SELECT MAX(revision) AS revision FROM events GROUP BY namespace, type, id) AS l
  ON l.revision = e.revision
WHERE e.event <> 'destroyed'"""


def _project(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(_PROJECT))
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def _timed(work) -> float:
    """The median of RUNS runs after one warm-up, in seconds."""
    work()
    runs = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def measure(url: str, now: datetime) -> list[tuple[str, float, int]]:
    """(case, seconds, rows answered) per case, and ("baseline", seconds, events)."""
    engine = create_engine(url)
    start = now - timedelta(days=DAYS)
    cases = {  # the page asks for PAGE rows at a time
        f"first page (sort name, {PAGE} rows)": {},
        "first page (sort name, 100 rows)": {"limit": 100},
        f"page at offset 5,000 ({PAGE} rows)": {"offset": min(5000, MACHINES - PAGE)},
        f"name filter q=0000 ({PAGE} rows)": {"text": "0000"},
        f"sort=changes ({PAGE} rows; counts every machine's events)": {"sort": "changes"},
    }
    out = []
    try:
        with engine.connect() as conn:
            events = conn.execute(sa.text("SELECT COUNT(*) FROM events")).scalar()
            out.append(("baseline", _timed(lambda: conn.execute(sa.text("SELECT COUNT(*) FROM events")).scalar()),
                        events))
            for name, options in cases.items():
                options = {"limit": PAGE, **options}
                query = timeline.Query("machines", start, now, buckets=200, **options)
                answer: dict = {}

                def work(query=query, answer=answer) -> None:
                    answer["doc"] = timeline.compute(conn, query).document()
                    json.dumps(answer["doc"], separators=(",", ":"))

                out.append((name, _timed(work), len(answer["doc"]["rows"])))
    finally:
        engine.dispose()
    return out


def run() -> list[Result]:
    now = datetime.now(UTC)
    rows = history.generate(now, machines=MACHINES, days=DAYS)
    results = []
    targets = [("SQLite", None)]
    if os.environ.get("BENCH_PG_URL"):
        targets.append(("PostgreSQL", os.environ["BENCH_PG_URL"]))
    with tempfile.TemporaryDirectory(prefix="bench-timeline-") as tmp:
        for backend, url in targets:
            url = url or f"sqlite:///{Path(tmp) / 'timeline.db'}"
            history.load(url, rows)
            _project(url)
            measured = measure(url, now)
            _, baseline, events = measured[0]
            note = f"{events:,} events, {MACHINES:,} machines, {DAYS} days"
            for name, seconds, answered in measured[1:]:
                first = name.startswith("first page") and f"{PAGE} rows" in name
                results.append(Result(
                    f"timeline {name} ({backend})", seconds * 1000, "ms", baseline=baseline * 1000,
                    baseline_unit="ms (COUNT(*) over the log)", target=f"<= {TARGET_S * 1000:g} ms" if first else "",
                    passed=(seconds <= TARGET_S) if first else None, note=f"{answered} rows; {note}"))
    return results
