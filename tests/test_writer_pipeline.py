"""The writer's statements in psycopg's pipeline mode: each on a cursor of its own (watcher/writer.py)."""

from __future__ import annotations

import time

import psycopg
import pytest

from watcher.writer import FreshCursors

pytestmark = pytest.mark.postgres

# Slow enough on the server that its answers are still arriving while the client runs the next statement.
SLOW_INSERT = "INSERT INTO t SELECT %s FROM pg_sleep(0.0005)"


def _late_answers_then_read(cur) -> tuple:
    cur.executemany(SLOW_INSERT, [(n,) for n in range(1_000)])
    time.sleep(1.0)  # the server flushes answers to the INSERTs it has run meanwhile (8 KB at a time)
    cur.execute("SELECT count(*) >= 0, 42 FROM t")
    return cur.fetchone()


def test_a_read_after_a_long_executemany_gets_its_own_rows(pg_url: str) -> None:
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("CREATE TABLE t (a int)")
        conn.commit()
        with conn.pipeline():
            row = _late_answers_then_read(FreshCursors(conn))
        assert row == (True, 42)
        conn.commit()
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1_000,)


def test_one_psycopg_cursor_takes_the_late_answers_for_its_rows(pg_url: str) -> None:
    """Why FreshCursors: the same sequence on one cursor reads an INSERT's answer as its rows."""
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("CREATE TABLE t (a int)")
        conn.commit()
        with pytest.raises(psycopg.ProgrammingError, match="didn't produce records"), conn.pipeline():
            _late_answers_then_read(conn.cursor())
