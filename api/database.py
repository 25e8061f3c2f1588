"""Read-only access to the read model on the DB-API driver itself (sqlite3 or psycopg 3).

SQLAlchemy builds and compiles each statement once (``Database.compile``); requests then run the
compiled text on a driver connection of the calling thread: the event loop's own for cheap lookups, and
one per thread of a small pool (``Database.run``) for queries whose cost grows with the data (lists,
``at=`` reads), so a heavy request never stalls the worker. Connections are read-only (SQLite
``mode=ro``; PostgreSQL ``default_transaction_read_only``) in autocommit mode, so every statement sees
the latest committed state.

Every statement is bounded by the query timeout: PostgreSQL's ``statement_timeout``, and on SQLite a
progress handler that interrupts a statement past its deadline. A timed-out statement is a
``QueryTimeout``; a database that cannot be reached (or a corrupt file) a ``DatabaseUnavailable``,
after which the connection is dropped and the next request reconnects. Both answer 503. Any other
driver error is a bug, not an outage, and propagates (500, logged).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from models import migrate
from models.db import SchemaError, database_url, redacted
from models.schema import meta

try:  # psycopg is a dependency, but a SQLite-only deployment need not import it.
    import psycopg
except ImportError:  # pragma: no cover
    psycopg = None

T = TypeVar("T")


class Observer(Protocol):
    """What the database reports to the metrics (``api.metrics.DatabaseMetrics``)."""

    def error(self, kind: str) -> None: ...

    def busy(self, delta: int) -> None: ...

DRIVER_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error,) + ((psycopg.Error,) if psycopg else ())
DEFAULT_QUERY_TIMEOUT = 5.0
DEFAULT_QUERY_THREADS = 4
PROGRESS_STEPS = 10_000  # SQLite VM instructions between deadline checks (a few per ms)


class DatabaseUnavailable(RuntimeError):
    """The database did not answer; the message is safe to show to clients."""

    kind = "unreachable"


class QueryTimeout(DatabaseUnavailable):
    """A statement ran past the query timeout and was cancelled; the database itself is fine."""

    kind = "timeout"


class _TimedConnection(sqlite3.Connection):
    """A SQLite connection whose statements stop (``interrupted``) once ``deadline`` (monotonic) passes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = math.inf
        self.set_progress_handler(self._expired, PROGRESS_STEPS)

    def _expired(self) -> bool:
        return time.monotonic() > self.deadline


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return str(exc) == "interrupted"
    return psycopg is not None and isinstance(exc, psycopg.errors.QueryCanceled)


def _is_outage(exc: BaseException) -> bool:
    """A connection that failed or a database file that cannot be read, as opposed to a bad statement."""
    if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
        return True
    return psycopg is not None and (isinstance(exc, psycopg.OperationalError) or type(exc) is psycopg.DatabaseError)


@dataclass(frozen=True, slots=True)
class Statement:
    """Compiled SQL plus the values of the parameters SQLAlchemy bound itself (JSON paths, literals)."""

    sql: str
    defaults: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Positional:
    """Compiled SQL whose parameters are passed by position, in ``names`` order (``Database.compile_positional``)."""

    sql: str
    names: tuple[str, ...]


class Database:
    """One worker's read-only connections (one per thread: the event loop's and each query thread's) and
    compiled statements."""

    def __init__(self, url: str | URL | None, *, head_ttl: float = 0.005,
                 query_timeout: float = DEFAULT_QUERY_TIMEOUT, query_threads: int = DEFAULT_QUERY_THREADS,
                 observer: Observer | None = None) -> None:
        self.url = database_url(str(url) if url is not None else None)
        self.backend = self.url.get_backend_name()
        if self.backend == "sqlite":
            if not self.url.database or self.url.database == ":memory:":
                raise SchemaError("the API needs a SQLite database file, not an in-memory database")
            self.dialect = sqlite.dialect(paramstyle="named")
            self._positional = sqlite.dialect(paramstyle="qmark")
        elif self.backend == "postgresql":
            if psycopg is None:  # pragma: no cover
                raise SchemaError("PostgreSQL needs psycopg 3 (pip install 'psycopg[binary]')")
            self.dialect = postgresql.psycopg.dialect(paramstyle="pyformat")
            self._positional = postgresql.psycopg.dialect(paramstyle="format")
        else:
            raise SchemaError(f"unsupported database {self.backend!r}: use SQLite or PostgreSQL")
        self.query_timeout = query_timeout
        self.query_threads = max(1, query_threads)
        self._observer = observer
        self._deadlines = self.backend == "sqlite"  # PostgreSQL enforces statement_timeout itself
        # psycopg keeps at most prepared_max (100) statements per connection, evicting the least used
        self._prepare = self.backend == "postgresql"
        self._local = threading.local()  # per thread: connection, executor
        self._connections: list[Any] = []  # every thread's, to close them all
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._head_ttl = head_ttl
        self._head = 0
        self._head_read_at = float("-inf")
        self._history_engine: sa.Engine | None = None
        self._select_head = self.compile(
            sa.select(meta.c.head_revision).where(meta.c.singleton == sa.literal_column("1")))

    @property
    def where(self) -> str:
        return redacted(self.url)

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self.backend == "sqlite":
            uri = f"file:{quote(self.url.database)}?mode=ro"
            connection = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                                         timeout=min(2.0, self.query_timeout), factory=_TimedConnection)
            connection.execute("PRAGMA query_only=ON")
            return connection
        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        timeout_ms = max(1, round(self.query_timeout * 1000))
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=5,
                               options=f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}")

    def connection(self) -> Any:
        """The calling thread's connection, opened on first use."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                connection = self._connect()
            except DRIVER_ERRORS as exc:
                self._observe("unreachable")
                raise DatabaseUnavailable(f"cannot connect to the database: {type(exc).__name__}") from exc
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _drop(self) -> None:
        """Forget the calling thread's connection (after an outage): the next statement reconnects."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = self._local.executor = self._local.cursor = None
        if connection is not None:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
            _quietly_close(connection)

    def close(self) -> None:
        """Close every thread's connection and stop the query threads."""
        self.dispose_history_engine()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            connections, self._connections = self._connections, []
        self._local = threading.local()
        for connection in connections:
            _quietly_close(connection)

    # -- query threads -------------------------------------------------------------------------

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(*args)`` (which reads the database) on a query thread, so the event loop keeps
        answering other requests meanwhile; each query thread has its own connection."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.query_threads, thread_name_prefix="readmodel-query")
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._working, work, args)

    def _working(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        observer = self._observer
        if observer is None:
            return work(*args)
        observer.busy(1)
        try:
            return work(*args)
        finally:
            observer.busy(-1)

    def engine(self) -> sa.Engine:
        """A SQLAlchemy engine over read-only connections (schema checks, tests); dispose after use."""
        return sa.create_engine(self.url, creator=self._connect, poolclass=sa.pool.NullPool)

    def history_engine(self) -> sa.Engine:
        """A small pooled engine for the SQLAlchemy-based reads of ``models.history`` (``at=``)."""
        if self._history_engine is None:
            self._history_engine = sa.create_engine(self.url, creator=self._connect, pool_size=self.query_threads,
                                                    max_overflow=1, pool_pre_ping=True)
        return self._history_engine

    def history(self, read: Callable[[sa.Connection], T]) -> T:
        """Run ``read`` (a ``models.history`` query) on a read-only SQLAlchemy connection, all of its
        statements together within the query timeout. Blocking: call it on a query thread."""
        try:
            with self.history_engine().connect() as connection:
                driver = connection.connection.dbapi_connection
                if self._deadlines:
                    driver.deadline = time.monotonic() + self.query_timeout
                try:
                    return read(connection)
                finally:
                    if self._deadlines:
                        driver.deadline = math.inf
        except sa.exc.DBAPIError as exc:
            failure = self._failure(exc.orig)
            if failure is None:
                raise
            if not isinstance(failure, QueryTimeout):
                self.dispose_history_engine()
            raise failure from exc

    def dispose_history_engine(self) -> None:
        engine, self._history_engine = self._history_engine, None
        if engine is not None:
            engine.dispose()

    def check_schema(self) -> None:
        """SchemaError (naming ``omni-readmodel migrate``) unless the schema is this release's."""
        if self.backend == "sqlite":
            from pathlib import Path

            if not Path(self.url.database).exists():
                raise SchemaError(f"database {self.where} does not exist: {migrate.MIGRATE_HINT}")
        engine = self.engine()
        try:
            migrate.check_schema(engine)
        except sa.exc.DBAPIError as exc:
            raise SchemaError(f"cannot read the schema version of {self.where}: {exc.orig}") from exc
        finally:
            engine.dispose()

    # -- statements ----------------------------------------------------------------------------

    def compile(self, statement: sa.sql.ClauseElement) -> Statement:
        compiled = statement.compile(dialect=self.dialect)
        # only the values SQLAlchemy bound itself; request parameters always arrive with the call
        return Statement(compiled.string, {k: v for k, v in compiled.params.items() if v is not None})

    def compile_positional(self, statement: sa.sql.ClauseElement) -> Positional:
        """For the hottest lookups: binding by position costs the driver less than by name. Every parameter
        must come with the call (no values bound by SQLAlchemy itself)."""
        compiled = statement.compile(dialect=self._positional)
        if any(value is not None for value in compiled.params.values()):
            raise ValueError("a positional statement takes every value from its caller")
        return Positional(compiled.string, tuple(compiled.positiontup))

    def _executor(self) -> Any:
        """What runs the calling thread's statements: the connection itself on SQLite (each ``execute`` gets
        a fresh cursor, which is cheap there and releases the read snapshot as soon as it is dropped), one
        reused cursor on PostgreSQL (psycopg cursors are costly to create; a fetched result holds no
        server state)."""
        executor = getattr(self._local, "executor", None)
        if executor is None:
            connection = self.connection()
            executor = self._local.executor = connection if self.backend == "sqlite" else connection.cursor()
        return executor

    def one(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Any] | None:
        bound = {**statement.defaults, **params} if statement.defaults else params
        executor = getattr(self._local, "executor", None) or self._executor()
        if self._deadlines:
            executor.deadline = time.monotonic() + self.query_timeout
        try:
            if self._prepare:  # a server-side prepared statement from the first call: parse and plan once
                return executor.execute(statement.sql, bound, prepare=True).fetchone()
            return executor.execute(statement.sql, bound).fetchone()
        except DRIVER_ERRORS as exc:
            failure = self._failure(exc)
            if failure is None:
                raise
            raise failure from exc

    def first(self, statement: Positional, args: Sequence[Any]) -> Sequence[Any] | None:
        """The row of a lookup by unique key (``compile_positional``; ``args`` in its ``names`` order), on a
        cursor kept per thread. SQLite: read to the end (``fetchall``), which resets the statement and so
        releases the read snapshot, as dropping a fresh cursor does (``one``)."""
        local = self._local
        cursor = getattr(local, "cursor", None) or self._cursor()
        try:
            if self._deadlines:
                local.connection.deadline = time.monotonic() + self.query_timeout
                rows = cursor.execute(statement.sql, args).fetchall()
                return rows[0] if rows else None
            if self._prepare:
                return cursor.execute(statement.sql, args, prepare=True).fetchone()
            return cursor.execute(statement.sql, args).fetchone()
        except DRIVER_ERRORS as exc:
            failure = self._failure(exc)
            if failure is None:
                raise
            raise failure from exc

    def _cursor(self) -> Any:
        executor = self._executor()
        cursor = self._local.cursor = executor.cursor() if self.backend == "sqlite" else executor
        return cursor

    def all(self, statement: Statement, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        bound = {**statement.defaults, **params} if statement.defaults else params
        executor = getattr(self._local, "executor", None) or self._executor()
        if self._deadlines:
            executor.deadline = time.monotonic() + self.query_timeout
        try:
            if self._prepare:
                return executor.execute(statement.sql, bound, prepare=True).fetchall()
            return executor.execute(statement.sql, bound).fetchall()
        except DRIVER_ERRORS as exc:
            failure = self._failure(exc)
            if failure is None:
                raise
            raise failure from exc

    def _failure(self, exc: BaseException) -> DatabaseUnavailable | None:
        """What a driver error means for the client: a timeout, an outage (the connection is dropped),
        or None for anything else (a bug: the caller re-raises it)."""
        if _is_timeout(exc):
            self._observe(QueryTimeout.kind)
            return QueryTimeout(f"the query took longer than the {self.query_timeout:g} s limit and was "
                                "cancelled; narrow the request (limit, selector, filters) or retry later")
        if _is_outage(exc):
            self._observe(DatabaseUnavailable.kind)
            self._drop()
            return DatabaseUnavailable(f"the database did not answer: {type(exc).__name__}")
        self._observe("error")
        return None

    def _observe(self, kind: str) -> None:
        if self._observer is not None:
            self._observer.error(kind)

    # -- head revision -------------------------------------------------------------------------

    def head(self, *, fresh: bool = False) -> int:
        """The head revision, re-read at most every ``head_ttl`` seconds unless ``fresh``."""
        now = time.monotonic()
        if fresh or now - self._head_read_at > self._head_ttl:
            row = self.one(self._select_head, {})
            self._head = int(row[0]) if row else 0
            self._head_read_at = now
        return self._head

    @property
    def head_ttl(self) -> float:
        return self._head_ttl

    def note_head(self, head: int, read_at: float) -> None:
        """A head revision read with something else (``api.freshness`` reads it with the kind revisions,
        saving a round trip); ``read_at`` is its time.monotonic()."""
        self._head = head
        self._head_read_at = read_at

    # -- replication ---------------------------------------------------------------------------

    # On a streaming-replication standby: how far replay is behind, 0 once it has replayed all it received
    # (an idle primary sends nothing, so "time since the last replayed commit" alone would grow forever).
    _REPLICA_LAG = Statement(
        "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0 "
        "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0.0)::float8 END", {})

    def replica_lag(self) -> float | None:
        """Seconds this standby's replay is behind its primary; None on a primary or on SQLite."""
        if self.backend != "postgresql":
            return None
        row = self.one(self._REPLICA_LAG, {})
        return float(row[1]) if row and row[0] else None

def _quietly_close(connection: Any) -> None:
    try:
        connection.close()
    except DRIVER_ERRORS:
        pass
