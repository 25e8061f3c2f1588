"""The benchmarks' PostgreSQL server and the throwaway databases they measure in."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

PG_ENVS = ("OMNI_READMODEL_BENCH_PG_URL", "OMNI_READMODEL_TEST_PG_URL")


def server_url() -> str | None:
    """The server the benchmarks may create databases on (None: PostgreSQL runs are skipped)."""
    return next((os.environ[e] for e in PG_ENVS if os.environ.get(e)), None)


@contextmanager
def scratch_database(server: str, prefix: str) -> Iterator[str]:
    """The URL of a new database ``prefix`` + a random suffix on ``server``, dropped afterwards."""
    admin_url = sa.make_url(server).set(drivername="postgresql+psycopg")
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
