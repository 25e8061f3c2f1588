"""``at=`` and ``export --at``: one parser and one resolver (models/history.py), the API over real uvicorn,
the export CLI as a real process, on SQLite and PostgreSQL.

The read model here, written by the watcher's Writer: five clusters written by the first bootstrap in two
batches (revisions 1-3, then 4-5), every stream bootstrapped after revision 5, then one update (revision 6).
The writer stamps each batch with the time it applies it (``observed_at``), which times are read back."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from models import catalog, history
from models.schema import events, streams
from tests.api_support import ROOT, T0, ReadModel, resource, serve

BOOTSTRAPPED = 5
HEAD = 6


@pytest.fixture
def model(db_url: str):
    read_model = ReadModel(db_url)
    for batch in ((1, 2, 3), (4, 5)):
        read_model.apply([resource("Cluster", f"c{i}", {"kubernetes_version": "1.31.1"}) for i in batch])
        time.sleep(0.01)  # batches a few ms apart: distinct observed_at
    read_model.bootstrap_streams()
    time.sleep(0.01)
    read_model.apply([resource("Cluster", "c1", {"kubernetes_version": "1.32.0"})])
    assert read_model.revision == HEAD
    yield read_model
    read_model.close()


def observed(model: ReadModel, revision: int) -> datetime:
    with model.engine.connect() as conn:
        value = conn.execute(sa.select(events.c.observed_at).where(events.c.revision == revision)).scalar_one()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def after_bootstrap(model: ReadModel) -> datetime:
    """A time after revision 5 and before revision 6."""
    return observed(model, BOOTSTRAPPED) + (observed(model, HEAD) - observed(model, BOOTSTRAPPED)) / 2


def rfc3339(moment: datetime, hours: int = 2) -> str:
    """The time with a +HH:00 offset, percent-encoded for a query string (a raw + would be a space)."""
    return quote(moment.astimezone(timezone(timedelta(hours=hours))).isoformat(), safe="")


def t0_plus(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- parsing --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0),
    ("000000000000000042", 42),
    ("9223372036854775807", 2**63 - 1),
    ("2025-01-01T00:00:05Z", t0_plus(5)),
    ("2025-01-01t00:00:05z", t0_plus(5)),
    ("2025-01-01T02:00:05+02:00", t0_plus(5)),
    ("2024-12-31T23:00:05.5-01:00", t0_plus(5.5)),
    ("2025-01-01T00:00:05.123456789Z", t0_plus(5.123456)),
    ("0001-01-01T00:00:00+01:00", datetime.min.replace(tzinfo=UTC)),  # before anything: not an overflow
])
def test_points_parse(text: str, expected: int | datetime) -> None:
    assert history.parse_point(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("①", "at most 19 ASCII digits"),
    ("١٢", "at most 19 ASCII digits"),  # Arabic-Indic digits: int() would accept them
    ("１２", "at most 19 ASCII digits"),  # fullwidth digits
    ("2025-01-01T00:00:0٥Z", "neither a revision number nor an RFC 3339 time"),
    ("9" * 19, "at most 9223372036854775807"),  # beyond a BIGINT
    ("1" * 20, "at most 19 ASCII digits"),
    ("2025-01-01T00:00:05 02:00", "write the offset as %2B"),  # what a raw '+' in a query string becomes
    ("2025-01-01T00:00:05", "needs an offset"),
    ("2025-01-01", "neither a revision number nor an RFC 3339 time"),
    ("2025-02-30T00:00:00Z", "not a valid time"),
    ("2025-01-01T00:00:00+24:00", "invalid UTC offset"),
    ("-1", "neither a revision number nor an RFC 3339 time"),
    ("", "neither a revision number nor an RFC 3339 time"),
])
def test_bad_points_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        history.parse_point(text)


# --- resolving ------------------------------------------------------------------------------------

def _resolve(model: ReadModel, point: int | datetime) -> history.Point:
    with model.engine.connect() as conn:
        return history.resolve(conn, point, history.head_revision(conn))


def test_points_resolve(model: ReadModel) -> None:
    assert _resolve(model, HEAD) == history.Point(HEAD, True)
    assert _resolve(model, datetime(2999, 1, 1, tzinfo=UTC)) == history.Point(HEAD, True)
    assert _resolve(model, BOOTSTRAPPED) == history.Point(BOOTSTRAPPED, False)
    assert _resolve(model, after_bootstrap(model)) == history.Point(BOOTSTRAPPED, False)
    for point, error, revision in [
        (HEAD + 1, history.BeyondHead, HEAD), (0, history.BeforeHistory, 1),
        (observed(model, 1) - timedelta(seconds=1), history.BeforeHistory, 1),
        (datetime.min.replace(tzinfo=UTC), history.BeforeHistory, 1),
        (1, history.DuringBootstrap, BOOTSTRAPPED), (observed(model, 3), history.DuringBootstrap, BOOTSTRAPPED),
    ]:
        with pytest.raises(error) as info:
            _resolve(model, point)
        assert info.value.revision == revision, point


def test_an_unfinished_first_bootstrap_has_only_the_head(model: ReadModel) -> None:
    """A stream still bootstrapping (no bootstrapped_at yet) means the first bootstrap has not completed."""
    kind = catalog.by_name("Cluster")
    with model.engine.begin() as conn:
        conn.execute(sa.update(streams).where(streams.c.type == kind.type).values(bootstrapped_at=None))
    with pytest.raises(history.DuringBootstrap, match="has not completed yet") as info:
        _resolve(model, BOOTSTRAPPED)
    assert info.value.revision is None
    with model.engine.begin() as conn:  # a read model written without stream checkpoints: nothing to wait for
        conn.execute(sa.delete(streams))
    assert _resolve(model, 1) == history.Point(1, False)


def test_an_empty_log_has_only_the_head(sqlite_url: str) -> None:
    empty = ReadModel(sqlite_url)
    try:
        assert _resolve(empty, 0) == history.Point(0, True)
        assert _resolve(empty, datetime(2000, 1, 1, tzinfo=UTC)) == history.Point(0, True)
    finally:
        empty.close()


# --- the API --------------------------------------------------------------------------------------

def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["error"] == body["detail"]
    return body


def test_api_at(model: ReadModel) -> None:
    with serve(model.url) as base, httpx.Client(base_url=base, timeout=10) as client:
        future = client.get("/api/v1/clusters?at=2999-01-01T00:00:00%2B02:00")
        assert future.status_code == 200 and future.headers["x-readmodel-at"] == "head"
        assert future.headers["x-readmodel-revision"] == str(HEAD)
        assert future.json()[0]["kubernetes_version"] == "1.32.0"

        past = client.get(f"/api/v1/clusters/c1?at={rfc3339(after_bootstrap(model))}")
        assert past.status_code == 200 and past.headers["x-readmodel-at"] == "past"
        assert past.headers["x-readmodel-revision"] == str(BOOTSTRAPPED)
        assert past.json()["kubernetes_version"] == "1.31.1"
        assert client.get(f"/api/v1/clusters?at={HEAD}").headers["x-readmodel-at"] == "head"
        assert "x-readmodel-at" not in client.get("/api/v1/clusters").headers

        raw_plus = _problem(client.get("/api/v1/clusters?at=" + rfc3339(after_bootstrap(model)).replace("%2B", "+")), 400)
        assert raw_plus["parameter"] == "at" and "%2B" in raw_plus["detail"]
        for value in ("%E2%91%A0", "%D9%A1%D9%A2", "9" * 19):  # ①, Arabic-Indic 12, beyond a BIGINT
            assert _problem(client.get(f"/api/v1/clusters?at={value}"), 400)["parameter"] == "at"

        for path in ("/api/v1/clusters?at=0", "/api/v1/clusters/c1?at=2025-01-01T00:00:00Z"):
            gone = _problem(client.get(path), 410)
            assert gone["revision"] == 1 and "oldest logged revision 1" in gone["detail"]
        for path in ("/api/v1/clusters?at=2", f"/api/v1/clusters/c1?at={rfc3339(observed(model, 3), -5)}"):
            early = _problem(client.get(path), 409)
            assert early["revision"] == BOOTSTRAPPED and "inside the first bootstrap" in early["detail"]
        beyond = _problem(client.get(f"/api/v1/clusters?at={HEAD + 1}"), 409)
        assert beyond["revision"] == HEAD and "beyond the head revision" in beyond["detail"]


# --- export ---------------------------------------------------------------------------------------

def export(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omni_readmodel", "export", "--database-url", url, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_export_at_validates_like_the_api(model: ReadModel) -> None:
    assert len(export(model.url, "--at", "2999-01-01T00:00:00Z").stdout.splitlines()) == 5
    assert '"1.31.1"' in export(model.url, "--at", str(BOOTSTRAPPED), "--type", "Cluster").stdout.splitlines()[0]
    for args, message in [
        (("--at", str(HEAD + 1)), f"revision {HEAD + 1} is beyond the head revision {HEAD}"),
        (("--at", "0"), "before the oldest logged revision 1"),
        (("--at", observed(model, 3).isoformat()),
         f"inside the first bootstrap: the read model is complete from revision {BOOTSTRAPPED}"),
        (("--at", "١٢"), "a revision is at most 19 ASCII digits"),
        (("--type", "Clusters"), "unknown --type 'Clusters': known kinds .* Cluster, ClusterBootstrapStatus"),
    ]:
        result = export(model.url, *args)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.startswith("omni-readmodel export: "), result.stderr
        assert "Traceback" not in result.stderr
        assert re.search(message, result.stderr), result.stderr


def test_export_of_a_missing_sqlite_file_creates_nothing(tmp_path) -> None:
    path = tmp_path / "absent.db"
    result = export(f"sqlite:///{path}")
    assert result.returncode == 2 and f"no database at {path}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_export_into_a_closed_pipe_ends_quietly(sqlite_url: str) -> None:
    many = ReadModel(sqlite_url)
    try:  # far more than a pipe buffer holds
        many.apply([resource("ConfigPatch", f"p{i:05}", {"data": "x" * 200}) for i in range(3000)])
    finally:
        many.close()
    process = subprocess.Popen([sys.executable, "-m", "omni_readmodel", "export", "--database-url", sqlite_url],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().startswith('{"annotations"')
    process.stdout.close()  # what `head -n 1` does after its line
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert stderr == ""
