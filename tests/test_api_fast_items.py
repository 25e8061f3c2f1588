"""The item fast path (``api.fast_items``) answers exactly as the Falcon path does, and leaves to Falcon every
request it does not answer itself (errors included, each answered and counted once).

The application is called in-process over ASGI (the same callable uvicorn calls), on a real database:
two applications over the same read model, one with the fast path and one without, must send the same
status, headers and body for every request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api import metrics as api_metrics
from api.app import Entry, create_app
from api.settings import Settings
from models import tokens
from tests.api_support import ReadModel
from tests.test_api_http import fleet


@pytest.fixture
def model(db_url: str):
    read_model = ReadModel(db_url)
    read_model.apply(fleet())
    read_model.bootstrap_streams()
    yield read_model
    read_model.close()


def _apps(url: str, **settings: Any) -> tuple[Entry, Entry]:
    fast = create_app(Settings(url, **settings))
    slow = create_app(Settings(url, **settings))
    assert isinstance(fast, Entry) and fast.fast is not None
    slow.fast = None  # the Falcon path for every request
    return fast, slow


def call(app: Any, path: str, headers: dict[str, str] | None = None, method: str = "GET",
         query: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
             "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8080),
             "headers": [(b"host", b"127.0.0.1:8080")] + [(k.lower().encode(), v.encode())
                                                           for k, v in (headers or {}).items()]}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


class _NoFalcon:
    """Stands in for Falcon where the fast path must answer alone."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        raise AssertionError(f"Falcon was called for {scope['path']}")


ANSWERED = ["/api/v1/machines/m0", "/api/v1/clusters/c1", "/api/v1/machinesets/c1-control-planes",
            "/api/v1/configpatches/400-c1", "/api/v1/clusters/c1/status"]


def test_the_fast_path_answers_like_falcon(model: ReadModel) -> None:
    fast, slow = _apps(model.url)
    falcon_app, fast.app = fast.app, _NoFalcon()
    for path in ANSWERED:
        ours, theirs = call(fast, path), call(slow, path)
        assert ours == theirs and ours[0] == 200, path
        etag = ours[1][b"etag"].decode()
        for header in (etag, f"W/{etag}", f'"0-0", {etag}', "*"):
            ours, theirs = call(fast, path, {"If-None-Match": header}), call(slow, path, {"If-None-Match": header})
            assert ours == theirs and ours[0] == 304, (path, header)
        stale = call(fast, path, {"If-None-Match": '"1-00000000"'})
        assert stale == call(slow, path, {"If-None-Match": '"1-00000000"'}) and stale[0] == 200
    fast.app = falcon_app
    # the same answers for unknown ids (the fast path's 404 is raised by the Falcon responder), encoded ids and,
    # left to Falcon,
    # a trailing slash, a query string, HEAD, routes that are not a plain stored item, a bad Host
    for path, extra in [("/api/v1/machines/nope", {}), ("/api/v1/machines/m%30", {}), ("/api/v1/machines/m0/", {}),
                        ("/api/v1/machines/m0/metrics", {}), ("/api/v1/schematics/x", {}),
                        ("/api/v1/machines/m0", {"Host": "bad host"})]:
        headers = dict(extra)
        ours = call(fast, path, headers)
        assert ours == call(slow, path, headers), path
    assert call(fast, "/api/v1/machines/nope")[0] == 404
    assert call(fast, "/api/v1/machines/m%30")[0] == 200
    assert call(fast, "/api/v1/machines/m0", query=b"at=1") == call(slow, "/api/v1/machines/m0", query=b"at=1")
    assert call(fast, "/api/v1/machines/m0", method="HEAD") == call(slow, "/api/v1/machines/m0", method="HEAD")


def test_the_fast_path_checks_bearer_tokens(model: ReadModel) -> None:
    with model.engine.begin() as connection:
        read = tokens.create(connection, "reader", [tokens.READ], None)
    fast, slow = _apps(model.url, auth="tokens")
    for headers in ({"Authorization": f"Bearer {read}"}, {}, {"Authorization": "Bearer wrong"},
                    {"Authorization": read}):
        ours = call(fast, "/api/v1/machines/m0", headers)
        assert ours == call(slow, "/api/v1/machines/m0", headers), headers
        assert ours[0] == (200 if headers.get("Authorization", "").startswith(f"Bearer {read}") else 401)


def test_a_database_failure_on_the_fast_path_is_answered_once(model: ReadModel, sqlite_url: str) -> None:
    if model.url != sqlite_url:
        pytest.skip("a corrupt file is a SQLite outage; PostgreSQL's is tested over HTTP in test_api_http")
    fast, _ = _apps(model.url)
    with model.engine.connect() as conn:  # page 1 may still be in the WAL, where readers would find it
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    model.engine.dispose()
    path = model.engine.url.database
    with open(path, "rb") as f:
        original = f.read(256)
    unreachable = api_metrics.DATABASE_ERRORS.labels("unreachable")
    before = unreachable._value.get()
    with open(path, "r+b") as f:  # the worker has not connected yet: its first connection meets garbage
        f.write(b"garbage!" * 32)
    try:
        status, headers, body = call(fast, "/api/v1/machines/m0")
    finally:
        with open(path, "r+b") as f:
            f.write(original)
    assert status == 503 and headers[b"content-type"] == b"application/problem+json" and b"unavailable" in body
    assert headers[b"retry-after"] == b"1"
    assert unreachable._value.get() == before + 1  # one query, one error: Falcon did not read again
    assert call(fast, "/api/v1/machines/m0")[0] == 200
