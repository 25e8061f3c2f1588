"""The history routes over a long log: ``/machines?limit=100&at=<30 days ago>`` and
``/machines/{id}/history?limit=50`` against the same current-state list ``/machines?limit=100``.

Issue 9's target: within 5x the time of the current-state list, on SQLite and PostgreSQL, over >= 5M events
(90 days of churn over a 10k-machine fleet). Give an already generated log with ``BENCH_HISTORY_URL`` (its
``resources`` projection rebuilt, e.g. ``omni-readmodel rebuild``); without it, a log of
``BENCH_HISTORY_MACHINES`` machines (default 2000, ~1M events; 10000 gives ~5M events; 50 with ``--quick``) is generated with
``bench/reports_history.py``'s generator into SQLite and, with ``BENCH_PG_URL``, PostgreSQL, and the projection
rebuilt from it. Each request runs in-process on the API app (no HTTP: the ratio is the server's work), a
warm-up first, then ``BENCH_HISTORY_REQUESTS`` requests per route, distinct machines for the history (each
replayed from the log), then one machine again and again (the worker's replay cache); the figure is the
median. The current-state list runs with the page cache off (each request reads its page).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import sqlalchemy as sa

from api.app import create_app
from api.settings import Settings
from bench import Result, reports_history, setting
from models.db import create_engine
from models.schema import events
from omni_readmodel import rebuild_command

REQUESTS = int(setting("BENCH_HISTORY_REQUESTS", 30, 5))
TARGET = 5.0


def _generated(url: str, machines: int) -> None:
    reports_history.load(url, reports_history.generate(datetime.now(UTC), machines=machines))
    engine = create_engine(url)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            rebuild_command.write(engine, 10.0)
    finally:
        engine.dispose()


def _facts(url: str) -> tuple[int, list[str], datetime]:
    """(events, machine ids, the newest observed_at) of the log."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            count = int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar())
            ids = [row[0] for row in conn.execute(sa.text(
                "SELECT id FROM resources WHERE type = 'Machines.omni.sidero.dev' ORDER BY id LIMIT :n"),
                {"n": REQUESTS + 1})]
            newest = conn.execute(sa.select(sa.func.max(events.c.observed_at))).scalar()
    finally:
        engine.dispose()
    newest = newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest
    return count, ids, newest


async def _median(client: httpx.AsyncClient, paths: list[str]) -> float:
    """Median milliseconds of GETs of ``paths`` (the first, a warm-up, not counted)."""
    times = []
    for index, path in enumerate(paths):
        started = time.perf_counter()
        answer = await client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:300]}")
        if index:
            times.append(elapsed)
    return statistics.median(times)


async def _measure(url: str, ids: list[str], at: datetime) -> tuple[float, float, float, float]:
    app = create_app(Settings(database_url=url, page_cache_bytes=0, query_timeout_seconds=120.0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        point = quote(at.isoformat().replace("+00:00", "Z"), safe="")
        current = await _median(client, ["/api/v1/machines?limit=100"] * (REQUESTS + 1))
        past = await _median(client, [f"/api/v1/machines?limit=100&at={point}"] * min(REQUESTS + 1, 6))
        history = await _median(client, [f"/api/v1/machines/{quote(i, safe='')}/history?limit=50" for i in ids])
        again = await _median(client, [f"/api/v1/machines/{quote(ids[-1], safe='')}/history?limit=50"] * (REQUESTS + 1))
    return current, past, history, again


def _results(name: str, url: str) -> list[Result]:
    count, ids, newest = _facts(url)
    current, past, history, again = asyncio.run(_measure(url, ids, newest - timedelta(days=30)))
    note = f"{count:,} events; median of {REQUESTS} (at=: of {min(REQUESTS, 5)})"
    return [
        Result(f"/machines?limit=100&at=<30 days ago> ({name})", past, "ms", current, target=f"<= {TARGET:g}x",
               passed=past <= TARGET * current, note=note),
        Result(f"/machines/{{id}}/history?limit=50 ({name})", history, "ms", current, target=f"<= {TARGET:g}x",
               passed=history <= TARGET * current, note=note + "; each machine asked once (cold)"),
        Result(f"/machines/{{id}}/history?limit=50, the same machine again ({name})", again, "ms", current,
               target=f"<= {TARGET:g}x", passed=again <= TARGET * current,
               note=note + "; the worker's replay cache (unchanged inputs)"),
    ]


def run() -> list[Result]:
    given = os.environ.get("BENCH_HISTORY_URL")
    if given:
        return _results(create_engine(given).dialect.name, given)
    machines = int(setting("BENCH_HISTORY_MACHINES", 2000, 50))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        targets = [("SQLite", f"sqlite:///{Path(tmp) / 'history.db'}")]
        if os.environ.get("BENCH_PG_URL"):
            targets.append(("PostgreSQL", os.environ["BENCH_PG_URL"]))
        for name, url in targets:
            _generated(url, machines)
            results += _results(name, url)
    return results
