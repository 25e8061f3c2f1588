"""schemathesis over every operation of ``/openapi.json``, served by a real uvicorn on a populated read
model, with all its checks: no 5xx, every answer conforms to the document (status, content type,
schema, headers), schema-valid requests are accepted and schema-invalid ones rejected.

The run is bounded (examples per operation, a fixed seed, deterministic generation, which keeps no example database)
so CI is reproducible. The numbers come from schemathesis's JSON report. tests/schemathesis_hooks.py
supplies issued-form cursors and keeps min_revision at or below the head in schema-valid cases.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from api.route_documents import HISTORY_ROUTES
from tests.api_support import ReadModel, serve
from tests.test_api_http import fleet

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# 410 (at= before the log) and 409 (at= inside the first bootstrap or beyond the head) answer valid
# requests about points with no complete state; 5xx is never acceptable here.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "304", "404", "409", "410"]

[phases.stateful]
enabled = false
"""


# Every <item>/history and <item>/diff is the same responder over the route table: these representatives (a
# join, a singleton behind a parent, a suffixed id, a plain item) are fuzzed, the others left out to keep the
# run within its time (tests/test_api_history.py covers the responders; the OpenAPI of all comes from one table).
HISTORY_SAMPLE = ("/machines/{id}", "/clusters/{id}/metrics", "/clusters/{id}/controlplane-status",
                  "/configpatches/{id}")
HISTORY_SKIPPED = [route.template + end for route in HISTORY_ROUTES if route.path not in HISTORY_SAMPLE
                   for end in ("/history", "/diff")]


def run_schemathesis(base: str, head: int, tmp_path: Path, max_examples: int, phases: str) -> dict:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
               "--config-file", str(config), "--no-color", "run", base + "/openapi.json",
               "--checks", "all", "--phases", phases, "--max-examples", str(max_examples),
               "--generation-deterministic", "--workers", "1", "--request-timeout", "30",
               "--exclude-path-regex", "^(?:" + "|".join(re.escape(path) for path in HISTORY_SKIPPED) + ")$",
               "--report", "json", "--report-json-path", str(tmp_path / "report.json")]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "OMNI_READMODEL_TEST_HEAD": str(head)}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    (tmp_path / "schemathesis.txt").write_text(result.stdout + result.stderr)  # the failures, in full
    assert (tmp_path / "report.json").exists(), result.stdout[-5000:] + result.stderr[-5000:]
    report = json.loads((tmp_path / "report.json").read_text())
    summary = {
        "exit_code": result.returncode, "seconds": round(report["running_time"], 1),
        "operations": report["operations"]["tested"], "test_cases": report["test_cases"]["generated"],
        "failures": {failure["code"] + " " + failure["title"]: failure["count"] for failure in report["failures"]},
        "errors": len(report["errors"]),
    }
    print("schemathesis:", json.dumps(summary))  # the figures, with -s
    return summary | {"stdout": result.stdout}


# SQLite: every phase that applies (coverage: boundaries and near-misses of every parameter; fuzzing).
# PostgreSQL: the same phases with fewer fuzzing examples, to stay within the time budget.
@pytest.mark.parametrize(("backend", "phases", "max_examples"), [
    ("sqlite", "examples,coverage,fuzzing", 10),
    pytest.param("postgresql", "examples,coverage,fuzzing", 5, marks=pytest.mark.postgres),
])
def test_schemathesis_finds_nothing(request: pytest.FixtureRequest, tmp_path: Path, backend: str, phases: str,
                                    max_examples: int) -> None:
    model = ReadModel(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))
    try:
        model.apply(fleet())
        model.bootstrap_streams()
        with serve(model.url) as base:
            document = httpx.get(base + "/openapi.json", timeout=10).json()
            summary = run_schemathesis(base, model.revision, tmp_path, max_examples, phases)
    finally:
        model.close()
    # every operation except GET /openapi.json itself, which schemathesis leaves out of the run it loads from
    operations = sum(len(methods) for path, methods in document["paths"].items()
                     if path != "/openapi.json" and path not in HISTORY_SKIPPED)
    assert summary["operations"] == operations and summary["test_cases"] > 0, summary
    assert summary["failures"] == {} and summary["errors"] == 0, summary["stdout"][-20000:]
    assert summary["exit_code"] == 0, summary["stdout"][-20000:]
