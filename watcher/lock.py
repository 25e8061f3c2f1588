"""One writer per read model.

PostgreSQL: a session-level advisory lock held on a dedicated connection for the process lifetime. A
second watcher waits for it (a hot standby) and takes over when the holder's session ends. The lock
alone is not enough (a paused writer may wake up after losing it), so the writer also fences every
commit with ``meta.writer_epoch`` (watcher/writer.py).

SQLite: an exclusive ``flock`` on ``<database>.writer.lock`` beside the database file, held for the
process lifetime; a second watcher on the same file exits with an error naming the holder.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine

from models.db import redacted

# pg_advisory_lock key: "omni-readmodel writer" as a stable 63-bit number (per database).
ADVISORY_KEY = 0x6F6D6E6972_6D77


class WriterLockHeld(RuntimeError):
    """Another watcher is the writer (SQLite)."""


class LockLost(RuntimeError):
    """The session holding the PostgreSQL advisory lock is gone."""


class WriterLock(Protocol):
    def acquire(self, stop: threading.Event, waiting: Callable[[], None] = ...) -> bool:
        """Block until this process is the writer; False if ``stop`` was set first."""

    def check(self) -> None:
        """Raise LockLost if the lock is no longer held."""

    def release(self) -> None: ...


def _nothing() -> None:
    pass


class SqliteFileLock:
    def __init__(self, database: str) -> None:
        self.path = Path(f"{database}.writer.lock")
        self._fd: int | None = None

    def acquire(self, stop: threading.Event, waiting: Callable[[], None] = _nothing) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise WriterLockHeld(
                f"another watcher (pid {holder}) is already writing to this SQLite database "
                f"(lock {self.path}); SQLite allows one watcher, use PostgreSQL for a hot standby"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return True

    def check(self) -> None:
        """A flock cannot be lost while the descriptor is open."""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


class PostgresAdvisoryLock:
    def __init__(self, engine: Engine, poll_seconds: float = 0.5) -> None:
        self._engine = engine
        self._poll = poll_seconds
        self._fairy = None
        self._conn = None

    def acquire(self, stop: threading.Event, waiting: Callable[[], None] = _nothing) -> bool:
        fairy = self._engine.raw_connection()
        conn = fairy.dbapi_connection
        fairy.detach()  # this session is the lock: never back into the pool
        conn.autocommit = True
        told = False
        while True:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,))
                if cur.fetchone()[0]:
                    break
            if not told:
                waiting()
                told = True
            if stop.wait(self._poll):
                conn.close()
                return False
        self._fairy, self._conn = fairy, conn
        return True

    def check(self) -> None:
        try:
            with self._conn.cursor() as cur:
                cur.execute("SELECT 1")
        except Exception as exc:
            raise LockLost(f"the session holding the writer lock on {redacted(self._engine.url)} "
                           f"is gone ({type(exc).__name__})") from None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # ends the session, which releases the advisory lock
            finally:
                self._conn = self._fairy = None


def writer_lock(engine: Engine) -> WriterLock | None:
    """The lock for this database; None for an in-memory SQLite database (one process by definition)."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresAdvisoryLock(engine)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        return SqliteFileLock(os.path.abspath(url.database))
    raise ValueError(f"unsupported database {redacted(url)}: SQLite or PostgreSQL")
