"""The API when things go wrong that no client caused: an unexpected error in a handler (500 problem+json,
no stack trace to the client, logged) and a database that is gone (/readyz 503, /health degraded, logged).
A real ``omni-readmodel serve`` over HTTP on a real SQLite file or PostgreSQL database."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from models import catalog
from tests.api_support import ReadModel, resource, serve


@pytest.fixture
def model(db_url: str):
    read_model = ReadModel(db_url)
    read_model.apply([resource("Cluster", "c1", {"kubernetes_version": "1.31.1"}),
                      resource("SysVersion", "current", {"backend_version": "1.4.6"})])
    read_model.bootstrap_streams()
    yield read_model
    read_model.close()


def read_log(path: Path, text: str) -> str:
    """The server log once it holds ``text`` (a bounded wait: the log is written by another process)."""
    deadline = time.monotonic() + 30
    while text not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.read_text()


def test_an_unexpected_error_is_a_500_problem_without_internals_and_logged(model: ReadModel,
                                                                           tmp_path: Path) -> None:
    # A stored spec of the wrong JSON type (an array where an object belongs) trips the /health handler.
    with model.engine.begin() as conn:
        conn.execute(sa.text("UPDATE resources SET spec = :spec WHERE type = :t"),
                     {"spec": "[1]", "t": catalog.by_name("SysVersion").type})
    log = tmp_path / "serve.log"
    with serve(model.url, log=log) as base:
        response = httpx.get(base + "/health", timeout=10)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 500 and body["title"] == "Internal Server Error"
        assert body["error"] == "internal error; see the server log"
        assert "Traceback" not in response.text and "AttributeError" not in response.text
        assert httpx.get(base + "/api/v1/clusters/c1", timeout=10).status_code == 200  # the worker goes on
        text = read_log(log, "AttributeError")
    assert "unhandled error on GET /health" in text and "AttributeError" in text, text


def _take_the_database_away(model: ReadModel) -> None:
    """PostgreSQL: the database is dropped (its sessions terminated). SQLite: an open connection keeps reading
    a removed or overwritten file from its cache, so the database is made unusable the way a bad restore
    would: its tables are gone."""
    url = model.engine.url
    if url.get_backend_name() == "sqlite":
        with model.engine.begin() as conn:
            for table in sa.inspect(conn).get_table_names():
                conn.execute(sa.text(f'DROP TABLE "{table}"'))
        model.close()
    else:
        model.close()
        admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
        admin.dispose()


def test_readyz_and_health_with_the_database_down(model: ReadModel, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serve(model.url, log=log) as base:
        assert httpx.get(base + "/readyz", timeout=10).status_code == 200
        assert httpx.get(base + "/health", timeout=10).json()["status"] == "healthy"
        _take_the_database_away(model)
        ready = httpx.get(base + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.headers["retry-after"] == "1"
        assert ready.json()["ready"] is False and ready.json()["database"]
        health = httpx.get(base + "/health", timeout=10)
        assert health.status_code == 200  # the seed's /health always answers; it says what is wrong
        assert health.json()["status"] == "degraded"
        assert health.json()["omni"]["connected"] is False
        item = httpx.get(base + "/api/v1/clusters/c1", timeout=10)
        assert item.status_code == 503
        assert item.headers["content-type"] == "application/problem+json"
        assert httpx.get(base + "/livez", timeout=10).status_code == 200  # alive, only not ready
        text = read_log(log, "database unavailable on GET /api/v1/clusters/c1")
    for path in ("/readyz", "/health", "/api/v1/clusters/c1"):
        assert f"database unavailable on GET {path}: " in text, text
    assert "Traceback" not in text, text
