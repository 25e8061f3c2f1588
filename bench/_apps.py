"""Baseline ASGI apps for the API benchmarks, run by uvicorn exactly like the API (1 worker, uvloop,
httptools, no access log):

- ``bare``: Falcon returning constant bytes (``BENCH_BODY_SIZE`` bytes of JSON-ish text) at ``/bare`` and
  ``/bare/{anything}`` (so wrk can drive it with the same path-cycling script as the API);
- ``raw``: Falcon whose handler does the same indexed lookup as the API on the DB-API driver (one cursor
  kept, a prepared statement on PostgreSQL) and returns the stored document untouched
  (``BENCH_DATABASE_URL``), at ``/raw/{id}``.
"""

from __future__ import annotations

import os
import sqlite3

import falcon
import falcon.asgi

from models.db import database_url


class Constant:
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = "application/json; charset=utf-8"
        resp.data = self.body


class ConstantAnyPath(Constant):
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, rest: str) -> None:
        resp.content_type = "application/json; charset=utf-8"
        resp.data = self.body


def bare() -> falcon.asgi.App:
    size = int(os.environ.get("BENCH_BODY_SIZE", "1000"))
    app = falcon.asgi.App()
    body = (b'{"k":"' + b"v" * size)[:max(size - 2, 0)] + b'"}'
    app.add_route("/bare", Constant(body))
    app.add_route("/bare/{rest}", ConstantAnyPath(body))  # the same wrk script shape as the API runs
    return app


class RawLookup:
    SQL = "SELECT document FROM resources WHERE namespace = {p} AND type = {p} AND id = {p}"

    def __init__(self, url: str) -> None:
        parsed = database_url(url)
        if parsed.get_backend_name() == "sqlite":
            self.connection = sqlite3.connect(f"file:{parsed.database}?mode=ro", uri=True, isolation_level=None)
            self.sql = self.SQL.format(p="?")
        else:
            import psycopg

            conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.connection = psycopg.connect(conninfo, autocommit=True)
            self.sql = self.SQL.format(p="%s")
        # The fastest way a hand-written handler reads one row: one cursor kept for the process and, on
        # PostgreSQL, a server-side prepared statement from the first call (issue 13: a cursor per request
        # flattered the API's ratio).
        self.cursor = self.connection.cursor()
        self.prepare = {} if parsed.get_backend_name() == "sqlite" else {"prepare": True}

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str) -> None:  # noqa: A002
        row = self.cursor.execute(self.sql, ("default", "Machines.omni.sidero.dev", id), **self.prepare).fetchone()
        if row is None:
            raise falcon.HTTPNotFound()
        resp.content_type = "application/json; charset=utf-8"
        resp.data = row[0].encode()


def raw() -> falcon.asgi.App:
    app = falcon.asgi.App()
    app.add_route("/raw/{id}", RawLookup(os.environ["BENCH_DATABASE_URL"]))
    return app
