"""Bounds of the API, over real HTTP (``omni-readmodel serve``) on SQLite and PostgreSQL: every bad input is a
4xx problem+json, request heads are capped, a heavy request neither stalls the worker nor runs past the
query timeout, HEAD/OPTIONS/If-None-Match behave, and /metrics carries the API's own figures."""

from __future__ import annotations

import base64
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, multiprocess

from api import selectors
from api.http_limits import MAX_HEAD_BYTES, MAX_URL_BYTES
from api.params import MAX_QUERY_STRING
from bench._fleet import build, machine_id
from models.schema import meta
from tests.api_support import ReadModel, serve
from tests.test_api_http import fleet

PROBLEM = "application/problem+json"
# a lone surrogate inside a cursor that is otherwise well formed
SURROGATE_CURSOR = base64.urlsafe_b64encode(b'["id",null,"\\ud800"]').rstrip(b"=").decode()
HEAVY_MACHINES = 5000
# the worst selector the caps allow in spirit: every requirement a negative set, so no row is excluded early
HEAVY_SELECTOR = ",".join(f"k{i} notin (" + ",".join(f"v{j}" for j in range(8)) + ")"
                          for i in range(selectors.MAX_REQUIREMENTS))
HEAVY_PATH = "/api/v1/machines?limit=1&sort=-updated&selector=" + quote(HEAVY_SELECTOR)  # the cost is in SQL


@pytest.fixture
def model(db_url: str):
    read_model = ReadModel(db_url)
    read_model.apply(fleet())
    read_model.bootstrap_streams()
    yield read_model
    read_model.close()


@pytest.fixture
def server(model: ReadModel):
    with serve(model.url) as base:
        yield base


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["error"] == body["detail"]
    return body


# --- every bad input is a 4xx problem ---------------------------------------------------------------

BAD_INPUTS = [
    # (path, status, the parameter named, words of the detail)
    ("/api/v1/machines?limit=%E2%91%A0", 400, "limit", "integer"),  # ① passes str.isdigit
    ("/api/v1/machines?at=%E2%91%A0", 400, "at", "ASCII"),
    ("/api/v1/machines/m0?min_revision=%E2%91%A0", 400, "min_revision", "ASCII"),
    ("/api/v1/machines?limit=" + "9" * 4000, 400, "limit", "integer"),
    ("/api/v1/machines?limit=" + "9" * 5000, 400, "query string", "longer than"),
    ("/api/v1/machines?at=" + "9" * 4000, 400, "at", "19 ASCII digits"),
    ("/api/v1/machines/m0?min_revision=" + "9" * 4000, 400, "min_revision", "19 ASCII digits"),
    ("/api/v1/machines/m0?at=99999999999999999999", 400, "at", "19 ASCII digits"),  # beyond 64 bits
    ("/api/v1/machines/m0?at=0001-01-01T00:00:00%2B01:00", 400, "at", "RFC 3339"),  # before year 1 in UTC
    ("/api/v1/machines?cursor=" + SURROGATE_CURSOR, 400, "cursor", "not a cursor"),
    ("/api/v1/machines?cursor=" + "W1tb" * 1000, 400, "cursor", "not a cursor"),  # [[[[... nested too deep
    ("/api/v1/clustermachines?cluster=c1%00", 400, "cluster", "NUL"),
    ("/api/v1/ongoingtasks?resource=" + "x" * 300, 400, "resource", "256"),
    ("/api/v1/machines?selector=" + ",".join(["a"] * 1000), 400, "selector", "more than 32 requirements"),
    ("/api/v1/machines?selector=" + quote("a in (" + ",".join(f"v{i}" for i in range(65)) + ")"), 400,
     "selector", "more than 64 values"),
    ("/api/v1/machines?selector=a%3D" + "v" * 300, 400, "selector", "longer than 256"),
    ("/api/v1/machines?selector=" + "k" * 400, 400, "selector", "longer than 317"),
    ("/api/v1/machines?x=" + "y" * MAX_QUERY_STRING, 400, "query string", f"longer than {MAX_QUERY_STRING}"),
    ("/api/v1/machines/m%00x", 404, None, "not found"),
    ("/api/v1/clusters/c1%00/status", 404, None, "not found"),
]


def test_bad_inputs_are_4xx_problems(server: str) -> None:
    """Each of these answered 500 or 503 before (or 404 on one database and 503 on the other)."""
    for path, status, parameter, words in BAD_INPUTS:
        response = httpx.get(server + path, timeout=30)
        body = problem(response, status)
        assert body.get("parameter") == parameter, path[:80]
        assert words in body["detail"], (path[:80], body["detail"])
    assert httpx.get(server + "/api/v1/machines/m0", timeout=10).status_code == 200  # the worker is fine


def _raw(base: str, request: bytes) -> bytes:
    """Send raw bytes, read the answer until the server closes the connection."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    with socket.create_connection((host, port), timeout=30) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):  # the server answered and closed before reading it all
            pass
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_request_heads_are_capped_with_problems(sqlite_url: str) -> None:
    """The HTTP layer is the same on both databases: SQLite only."""
    model = ReadModel(sqlite_url)
    model.apply(fleet())
    try:
        with serve(sqlite_url) as base:
            long_url = httpx.get(base + "/api/v1/machines?x=" + "y" * MAX_URL_BYTES, timeout=10)
            assert problem(long_url, 414)["detail"] == f"the request target is longer than {MAX_URL_BYTES} bytes"
            many_headers = {f"x-h{i}": "v" * 100 for i in range(MAX_HEAD_BYTES // 100)}
            assert "larger than" in problem(httpx.get(base + "/livez", headers=many_headers, timeout=10), 431)["detail"]
            # one header that never ends: refused once it is too large, not buffered without bound
            answer = _raw(base, b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + MAX_URL_BYTES + 1000))
            assert answer.startswith(b"HTTP/1.1 431 ") and b"content-type: application/problem+json" in answer
            garbage = _raw(base, b"NOT HTTP AT ALL\r\n\r\n")
            assert garbage.startswith(b"HTTP/1.1 400 ") and b"content-type: application/problem+json" in garbage
            assert httpx.get(base + "/livez", headers={"x-h": "v" * 1000}, timeout=10).text == "ok\n"
    finally:
        model.close()


# --- HEAD, OPTIONS, If-None-Match -----------------------------------------------------------------

def test_head_options_and_if_none_match_star(server: str) -> None:
    for path in ("/livez", "/readyz", "/health", "/metrics", "/openapi.json", "/docs", "/api/v1/machines",
                 "/api/v1/machines/m0", "/api/v1/clusters/c1/kubernetes-nodes"):
        got = httpx.get(server + path, timeout=10)
        head = httpx.head(server + path, timeout=10)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == got.headers["content-type"], path
        if path not in ("/readyz", "/health", "/metrics"):  # these carry times or counters of their own
            assert head.headers["content-length"] == str(len(got.content)), path
        options = httpx.options(server + path, timeout=10)
        assert options.status_code < 300 and options.headers["allow"] == "GET, HEAD", path
    assert httpx.head(server + "/api/v1/machines/nope", timeout=10).status_code == 404

    star = {"If-None-Match": "*"}
    assert httpx.get(server + "/api/v1/machines/m0", headers=star, timeout=10).status_code == 304
    assert httpx.get(server + "/api/v1/machines?limit=2", headers=star, timeout=10).status_code == 304
    problem(httpx.get(server + "/api/v1/machines/nope", headers=star, timeout=10), 404)
    problem(httpx.get(server + "/api/v1/machines?limit=0", headers=star, timeout=10), 400)
    problem(httpx.get(server + "/api/v1/clusters/c9/kubernetes-nodes", headers=star, timeout=10), 404)


# --- heavy requests -------------------------------------------------------------------------------

@pytest.fixture
def heavy_db(db_url: str) -> str:
    """A read model large enough that a list with the worst selector takes a while."""
    build(db_url, HEAVY_MACHINES)
    return db_url


def _query_threads_busy(metrics_dir: Path) -> float:
    """What the server's worker wrote to its multiprocess metrics files (read without asking the server)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
    return registry.get_sample_value("omni_readmodel_api_query_threads_busy") or 0.0


def test_livez_answers_while_a_heavy_request_runs(heavy_db: str, tmp_path: Path) -> None:
    """One worker: a worst-case list request runs (the server itself says a query thread is busy with it),
    then /livez is sent and must complete before it. (Before the query threads, the event loop ran the
    query itself and /livez waited for it.)"""
    finished: list[str] = []
    lock = threading.Lock()

    def fetch(client: httpx.Client, path: str, name: str) -> None:
        response = client.get(path)
        assert response.status_code == 200, response.text[:300]
        with lock:
            finished.append(name)

    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    with serve(heavy_db, "--workers", "1", "--query-timeout", "120",
               env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}) as base:
        # connected clients, so /livez costs the client nothing but the request itself
        with httpx.Client(base_url=base, timeout=120) as heavy_client, \
                httpx.Client(base_url=base, timeout=120) as livez_client:
            assert livez_client.get("/livez").status_code == 200
            assert heavy_client.get("/api/v1/machines/" + machine_id(0)).status_code == 200
            heavy = threading.Thread(target=fetch, args=(heavy_client, HEAVY_PATH, "heavy"))
            heavy.start()
            while _query_threads_busy(metrics_dir) < 1 and heavy.is_alive():
                time.sleep(0.005)
            assert heavy.is_alive(), "the server never reported the heavy request running"
            fetch(livez_client, "/livez", "livez")
            heavy.join()
    assert finished == ["livez", "heavy"]


def test_a_query_past_the_timeout_is_a_503_that_says_so(heavy_db: str) -> None:
    # 5 ms: the heavy statements take tens of ms; the head and /metrics reads take a fraction of one
    with serve(heavy_db, "--query-timeout", "0.005") as base:
        response = httpx.get(base + HEAVY_PATH, timeout=60)
        body = problem(response, 503)
        assert "the query took longer than the 0.005 s limit" in body["detail"]
        assert response.headers["retry-after"] == "2"
        assert httpx.get(base + "/livez", timeout=10).status_code == 200
        text = httpx.get(base + "/metrics", timeout=10).text
        assert _sample(text, 'omni_readmodel_api_database_errors_total{kind="timeout"}') >= 1
        assert _sample(text, 'omni_readmodel_api_database_errors_total{kind="unreachable"}') == 0


# --- the API's own metrics ------------------------------------------------------------------------

def _sample(text: str, name: str) -> float:
    match = re.search("^" + re.escape(name) + r" ([-+\d.e]+)$", text, re.MULTILINE)
    assert match, f"{name} not exported"
    return float(match.group(1))


def test_metrics_expose_head_lag_in_flight_errors_and_process(model: ReadModel) -> None:
    committed = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    with model.engine.begin() as conn:
        conn.execute(sa.update(meta).where(meta.c.singleton == 1).values(writer_heartbeat=committed))
    with serve(model.url) as base:
        assert httpx.get(base + "/api/v1/machines/m0", timeout=10).status_code == 200
        text = httpx.get(base + "/metrics", timeout=10).text
    assert _sample(text, "omni_readmodel_api_head_revision") == model.revision
    assert _sample(text, "omni_readmodel_api_last_commit_timestamp_seconds") == committed.timestamp()
    assert _sample(text, "omni_readmodel_api_commit_lag_seconds") >= 600
    assert _sample(text, "omni_readmodel_api_requests_in_flight") == 1  # the scrape itself
    assert _sample(text, "omni_readmodel_api_query_threads_busy") == 0
    for kind in ("unreachable", "timeout", "error"):
        assert _sample(text, f'omni_readmodel_api_database_errors_total{{kind="{kind}"}}') == 0
    rss = re.search(r'^process_resident_memory_bytes\{pid="\d+"\} ([\d.e+]+)$', text, re.MULTILINE)
    assert rss and float(rss.group(1)) > 10 << 20
    assert re.search(r'^process_cpu_seconds_total\{pid="\d+"\} [\d.e+]+$', text, re.MULTILINE)
