"""Database URLs, engines and the schema-version gate shared by every process."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

DEFAULT_DATABASE_URL = "sqlite:///omni-readmodel.db"
DATABASE_URL_ENV = "OMNI_READMODEL_DATABASE_URL"


class SchemaError(RuntimeError):
    """The database schema does not match this release; the message names the command to run."""


def database_url(value: str | None = None) -> URL:
    """Resolve the database URL: explicit value, then the environment, then the default SQLite file.

    ``postgresql://`` and ``postgres://`` mean psycopg 3, the driver this project ships with.
    """
    url = make_url(value or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def redacted(url: URL | str) -> str:
    """The URL for logs and messages: never the password."""
    return make_url(url).render_as_string(hide_password=True)


WAL_SIZE_LIMIT = 64 << 20


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # When a commit starts the WAL file over, cut it back to this size (watcher/checkpoint.py).
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


def create_engine(url: URL | str | None = None, **kwargs) -> Engine:
    """An engine with this project's connection settings (WAL and a busy timeout on SQLite)."""
    url = database_url(str(url) if url is not None else None)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def sqlite_page_cache(engine: Engine, mib: int) -> None:
    """Give every SQLite connection of ``engine`` a page cache of ``mib`` MiB (SQLite's default is 2 MiB).
    The watcher's inserts land on random pages of the log's key and digest indexes: once those outgrow
    the cache, each batch re-reads its pages and commit-to-visible p99 went from 79 to 706 ms (500 events/s
    over a 500k-event log). The cache grows only with the pages actually touched."""
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", lambda dbapi_conn, _record: dbapi_conn.execute(
            f"PRAGMA cache_size = -{int(mib) * 1024}"))


def as_utc(value: Any) -> datetime | None:
    """A timestamp as the drivers return it (aware on PostgreSQL, naive UTC or ISO text on SQLite), aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def missing_sqlite_file(url: URL | str | None) -> str | None:
    """The path of a SQLite file ``url`` names that does not exist (None for other databases, in-memory ones
    and existing files): commands that only read or repair must refuse it, not create an empty database."""
    parsed = database_url(str(url) if url is not None else None)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return None if Path(parsed.database).is_file() else parsed.database
