"""Read-only access to the read model on the DB-API driver itself (sqlite3 or psycopg 3).

SQLAlchemy builds and compiles each statement once (``Database.compile``); requests then run the
compiled text on one driver connection per worker process. The connection is opened read-only
(SQLite ``mode=ro``; PostgreSQL ``default_transaction_read_only``) in autocommit mode, so every
statement sees the latest committed state. A driver error drops the connection and surfaces as
``DatabaseUnavailable`` (503); the next request reconnects.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
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
DRIVER_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error,) + ((psycopg.Error,) if psycopg else ())


class DatabaseUnavailable(RuntimeError):
    """The database did not answer; the message is safe to show to clients."""


@dataclass(frozen=True, slots=True)
class Statement:
    """Compiled SQL plus the values of the parameters SQLAlchemy bound itself (JSON paths, literals)."""

    sql: str
    defaults: Mapping[str, Any]


class Database:
    """One worker's read-only connection and compiled statements."""

    def __init__(self, url: str | URL | None, *, head_ttl: float = 0.005) -> None:
        self.url = database_url(str(url) if url is not None else None)
        self.backend = self.url.get_backend_name()
        if self.backend == "sqlite":
            if not self.url.database or self.url.database == ":memory:":
                raise SchemaError("the API needs a SQLite database file, not an in-memory database")
            self.dialect = sqlite.dialect(paramstyle="named")
        elif self.backend == "postgresql":
            if psycopg is None:  # pragma: no cover
                raise SchemaError("PostgreSQL needs psycopg 3 (pip install 'psycopg[binary]')")
            self.dialect = postgresql.psycopg.dialect(paramstyle="pyformat")
        else:
            raise SchemaError(f"unsupported database {self.backend!r}: use SQLite or PostgreSQL")
        self._connection: Any = None
        self._executor_: Any = None  # see _executor
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
                                         timeout=2.0)
            connection.execute("PRAGMA query_only=ON")
            return connection
        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=5,
                               options="-c default_transaction_read_only=on -c statement_timeout=15000")

    def connection(self) -> Any:
        if self._connection is None:
            try:
                self._connection = self._connect()
            except DRIVER_ERRORS as exc:
                raise DatabaseUnavailable(f"cannot connect to the database: {type(exc).__name__}") from exc
        return self._connection

    def close(self) -> None:
        self.dispose_history_engine()
        connection, self._connection, self._executor_ = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except DRIVER_ERRORS:
                pass

    def engine(self) -> sa.Engine:
        """A SQLAlchemy engine over read-only connections (schema checks, tests); dispose after use."""
        return sa.create_engine(self.url, creator=self._connect, poolclass=sa.pool.NullPool)

    def history_engine(self) -> sa.Engine:
        """A small pooled engine for the SQLAlchemy-based reads of ``models.history`` (``at=``)."""
        if self._history_engine is None:
            self._history_engine = sa.create_engine(self.url, creator=self._connect, pool_size=1, max_overflow=1,
                                                    pool_pre_ping=True)
        return self._history_engine

    def history(self, read: Callable[[sa.Connection], T]) -> T:
        """Run ``read`` (a ``models.history`` query) on a read-only SQLAlchemy connection."""
        try:
            with self.history_engine().connect() as connection:
                return read(connection)
        except sa.exc.DBAPIError as exc:
            self.dispose_history_engine()
            raise DatabaseUnavailable(f"the database did not answer: {type(exc.orig).__name__}") from exc

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

    def _executor(self) -> Any:
        """What runs statements: the connection itself on SQLite (each ``execute`` gets a fresh cursor, which
        is cheap there and releases the read snapshot as soon as it is dropped), one reused cursor on
        PostgreSQL (psycopg cursors are costly to create; a fetched result holds no server state)."""
        if self._executor_ is None:
            connection = self.connection()
            self._executor_ = connection if self.backend == "sqlite" else connection.cursor()
        return self._executor_

    def one(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Any] | None:
        bound = {**statement.defaults, **params} if statement.defaults else params
        try:
            return (self._executor_ or self._executor()).execute(statement.sql, bound).fetchone()
        except DRIVER_ERRORS as exc:
            self.close()
            raise DatabaseUnavailable(f"the database did not answer: {type(exc).__name__}") from exc

    def all(self, statement: Statement, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        bound = {**statement.defaults, **params} if statement.defaults else params
        try:
            return (self._executor_ or self._executor()).execute(statement.sql, bound).fetchall()
        except DRIVER_ERRORS as exc:
            self.close()
            raise DatabaseUnavailable(f"the database did not answer: {type(exc).__name__}") from exc

    # -- head revision -------------------------------------------------------------------------

    def head(self, *, fresh: bool = False) -> int:
        """The head revision, re-read at most every ``head_ttl`` seconds unless ``fresh``."""
        now = time.monotonic()
        if fresh or now - self._head_read_at > self._head_ttl:
            row = self.one(self._select_head, {})
            self._head = int(row[0]) if row else 0
            self._head_read_at = now
        return self._head

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
