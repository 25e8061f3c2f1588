"""``GET /api/v1/reports[/{name}]`` over real uvicorn, and ``omni-readmodel report``, on the scripted history."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from models import reports
from tests.api_support import ROOT, serve
from tests.test_reporting import scripted_engine

UPGRADES = [
    {"cluster": "prod", "component": "talos", "from_version": "v1.8.0", "to_version": "v1.9.0", "machines": 2,
     "started": "2026-11-03T12:00:00Z", "finished": "2026-11-03T12:10:00Z", "duration_seconds": 600.0},
    {"cluster": "prod", "component": "kubernetes", "from_version": "1.31.0", "to_version": "1.32.0", "machines": 2,
     "started": "2026-11-03T14:00:00Z", "finished": "2026-11-03T14:05:00Z", "duration_seconds": 300.0},
]


@pytest.fixture
def scripted(db_url: str) -> Iterator[str]:
    scripted_engine(db_url).dispose()
    yield db_url


@pytest.fixture
def server(scripted: str) -> Iterator[str]:
    with serve(scripted) as base:
        yield base


def test_reports_over_http(server) -> None:
    listed = httpx.get(server + "/api/v1/reports").json()
    assert [r["name"] for r in listed] == list(reports.REPORTS)
    answer = httpx.get(server + "/api/v1/reports/upgrades")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == UPGRADES and answer.headers["x-report-truncated"] == "false"
    as_csv = httpx.get(server + "/api/v1/reports/machine-count",
                       params={"since": "2026-11-03", "until": "2026-11-05", "cluster": "prod"},
                       headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert list(csv.reader(io.StringIO(as_csv.text))) == [
        ["day", "machines", "connected"], ["2026-11-03", "2", "2"], ["2026-11-04", "2", "2"]]
    capped = httpx.get(server + "/api/v1/reports/upgrades", params={"limit": "1"})
    assert len(capped.json()) == 1 and capped.headers["x-report-truncated"] == "true"
    assert httpx.head(server + "/api/v1/reports/upgrades").status_code == 200
    check_bad_requests(server)
    check_openapi(server)


BAD_REQUESTS = [
    ("/api/v1/reports/nope", {}, 404, None, "unknown report 'nope'; known: machine-count"),
    ("/api/v1/reports/flapping", {"since": "last week"}, 400, "since", "is not an age"),
    ("/api/v1/reports/flapping", {"until": "2026-13-01"}, 400, "until", "is not an age"),
    ("/api/v1/reports/flapping", {"limit": "100001"}, 400, "limit", "from 1 to 100000"),
    ("/api/v1/reports/inventory", {"since": "1d"}, 400, "since", "does not take since"),
    ("/api/v1/reports/flapping", {"clusters": "prod"}, 400, "clusters", "not a parameter of reports"),
    ("/api/v1/reports/flapping", {"since": ["1d", "2d"]}, 400, "since", "given more than once"),
]


def check_bad_requests(server: str) -> None:
    for path, params, status, parameter, detail in BAD_REQUESTS:
        answer = httpx.get(server + path, params=params)
        assert answer.status_code == status, (path, params)
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert detail in body["detail"] and body["error"] == body["detail"]
        assert body.get("parameter") == parameter
    assert httpx.post(server + "/api/v1/reports/flapping").status_code == 405


def check_openapi(server: str) -> None:
    paths = httpx.get(server + "/openapi.json").json()["paths"]
    for report in reports.REPORTS.values():  # one path per report, with exactly the parameters it takes
        operation = paths[f"/api/v1/reports/{report.name}"]["get"]
        assert {p["name"] for p in operation["parameters"]} == {*report.takes, "limit"}
        assert {"200", "400", "429", "503"} <= set(operation["responses"])
    assert "/api/v1/reports" in paths


def _cli(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omni_readmodel", "report", *args, "--database-url", url],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cli_answers_like_the_api(scripted, tmp_path) -> None:
    done = _cli(scripted, "upgrades", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == UPGRADES
    table = _cli(scripted, "machine-count", "--since", "2026-11-04", "--until", "2026-11-06").stdout
    assert table.splitlines() == ["day         machines  connected", "----------  --------  ---------",
                                  "2026-11-04         2          2", "2026-11-05         3          3"]
    listed = _cli(scripted, "--list").stdout
    assert [line.split()[0] for line in listed.splitlines()] == list(reports.REPORTS)
    bad = _cli(scripted, "inventory", "--since", "1d")
    assert bad.returncode == 2 and "report inventory does not take since" in bad.stderr
    missing = _cli(f"sqlite:///{tmp_path / 'absent.db'}", "flapping")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert not (tmp_path / "absent.db").exists()


def test_a_report_past_the_query_timeout_is_stopped(sqlite_url) -> None:
    """Reports are bounded like every read: SQLite has no statement timeout, the deadline interrupts them."""
    from datetime import UTC, datetime

    from api import reports as report_routes
    from api.database import Database, QueryTimeout
    from bench import reports_history

    # 10 machines, ~5,000 events: far more than one check interval
    reports_history.load(sqlite_url, reports_history.generate(datetime.now(UTC), machines=10))
    chosen = reports.get("machine-count")
    roomy = Database(sqlite_url)
    assert len(report_routes.ReportRunner(roomy).run(chosen, reports.Params()).rows) > 5
    roomy.close()
    tight = Database(sqlite_url, query_timeout=1e-6)
    with pytest.raises(QueryTimeout, match="took longer than the 1e-06 s limit"):
        report_routes.ReportRunner(tight).run(chosen, reports.Params())
    tight.close()


def test_livez_answers_while_a_heavy_report_runs(sqlite_url) -> None:
    """The report runs off the event loop: /livez on the same single worker finishes first."""
    from datetime import UTC, datetime

    from bench import reports_history

    reports_history.load(sqlite_url, reports_history.generate(datetime.now(UTC), machines=150))
    finished: list[str] = []
    with serve(sqlite_url) as base:
        def heavy() -> None:
            answer = httpx.get(base + "/api/v1/reports/flapping", timeout=120)
            finished.append(f"report {answer.status_code}")

        worker = threading.Thread(target=heavy)
        worker.start()
        time.sleep(0.5)  # let the report start; not a measurement
        assert httpx.get(base + "/livez", timeout=60).status_code == 200
        finished.append("livez")
        worker.join()
    assert finished == ["livez", "report 200"]
