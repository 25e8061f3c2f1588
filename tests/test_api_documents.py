"""Every route's answer for a small fixed fleet, checked field by field against expected documents kept in
tests/data/fixed_fleet_documents.json (metadata created/updated/owner included), never against the code that
renders them. The stack is the real one: the simulator (seed 4, 2 clusters, 8 machines, a fixed clock) over
gRPC, ``omni-readmodel watch`` and ``omni-readmodel serve`` on SQLite and PostgreSQL.

The expected file was written once from this stack's answers and then checked by hand against the simulator's
resources and the seed contract. When a change of the product changes a document on purpose, rewrite it with
``OMNI_READMODEL_WRITE_EXPECTED=1 pytest tests/test_api_documents.py -k sqlite`` and review the diff."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from models import migrate
from models.db import create_engine
from tests.api_support import ROOT, serve, stop
from tests.simulator_fixtures import START_NS, SimulatorThread, fake_clock

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = DATA / "fixed_fleet_documents.json"
SEED = json.loads((DATA / "seed_contract.json").read_text())
BASE = "{base}"  # the server's scheme://host:port in the expected documents
WRITE_ENV = "OMNI_READMODEL_WRITE_EXPECTED"
# Where the ids of an item route come from (its own collection unless named here).
ID_SOURCES = {"/loadbalancers": "/loadbalancer-configs"}
# Omni lists etcd backups from the backup store on each poll: their timestamps are the time of that listing.
LISTED_AT = "{listed at}"
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


@pytest.fixture
def fixed_fleet(db_url: str, tmp_path: Path) -> Iterator[str]:
    """The stack on a fixed fleet, settled; yields the API's base URL."""
    sim = SimulatorThread(seed=4, clusters=2, machines=8, now=START_NS, clock=fake_clock()).start()
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    engine.dispose()
    log_path = tmp_path / "watcher.log"
    log = log_path.open("w")
    watcher = subprocess.Popen(
        [sys.executable, "-m", "omni_readmodel", "--log-level", "WARNING", "watch", "--endpoint",
         f"http://{sim.address}", "--database-url", db_url, "--insecure-no-auth", "--poll-interval", "1",
         "--batch-latency-ms", "5"], cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    try:
        with serve(db_url) as base:
            deadline = time.monotonic() + 90
            while httpx.get(base + "/readyz", timeout=10).status_code != 200:
                assert watcher.poll() is None, log_path.read_text()[-2000:]
                assert time.monotonic() < deadline, "the read model never became ready"
                time.sleep(0.1)
            yield base
    finally:
        stop(watcher, timeout=30)
        log.close()
        sim.stop()


_client = httpx.Client(timeout=30)  # one client: a new one per request costs more than the request


def get(base: str, path: str) -> httpx.Response:
    return _client.get(base + "/api/v1" + path)


def concrete_paths(base: str) -> list[str]:
    """Every seed GET route with every id the fleet has for it (collections first, in the contract's order)."""
    paths: list[str] = []
    for route in SEED["routes"]:
        template = route["path"]
        if "{" not in template:
            paths.append(template)
            continue
        collection = "/" + template.split("/")[1]
        ids = [item["id"] for item in get(base, ID_SOURCES.get(collection, collection)).json()]
        for id_ in ids:
            path = template.replace("{id}", quote(id_, safe=""))
            if "{node}" in path:
                nodes = get(base, path.rsplit("/", 1)[0])
                paths += [path.replace("{node}", quote(n["id"], safe="")) for n in
                          (nodes.json() if nodes.status_code == 200 else [])]
            else:
                paths.append(path)
    return paths


def answer(base: str, path: str) -> dict[str, Any]:
    response = get(base, path)
    body = json.loads(response.text.replace(base, BASE))
    if re.fullmatch(r"/etcdbackups(/[^/]+)?", path) and response.status_code == 200:
        for document in body if isinstance(body, list) else [body]:
            for field in ("created", "updated"):
                assert RFC3339_UTC.fullmatch(document["metadata"][field]), (path, document["metadata"])
                document["metadata"][field] = LISTED_AT
    return {"status": response.status_code, "total": response.headers.get("x-total-count"), "body": body}


def differences(expected: Any, actual: Any, where: str) -> list[str]:
    """Field by field: each difference as 'where.field: expected X, got Y'."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                out.append(f"{where}.{key}: missing (expected {expected[key]!r})")
            elif key not in expected:
                out.append(f"{where}.{key}: unexpected {actual[key]!r}")
            else:
                out += differences(expected[key], actual[key], f"{where}.{key}")
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for d in differences(e, a, f"{where}[{i}]")]
    return [] if expected == actual and type(expected) is type(actual) else \
        [f"{where}: expected {expected!r}, got {actual!r}"]


def test_every_route_answers_the_expected_documents(fixed_fleet: str, db_url: str) -> None:
    if os.environ.get(WRITE_ENV) != "1":
        # /readyz covers the watched kinds; the polled EtcdBackups (and what derives from them) may land a
        # poll later on a loaded machine. The comparison below still requires exactly the expected ids.
        wanted = sorted(json.loads(EXPECTED.read_text()))
        deadline = time.monotonic() + 60
        while sorted(concrete_paths(fixed_fleet)) != wanted and time.monotonic() < deadline:
            time.sleep(0.2)
    paths = concrete_paths(fixed_fleet)
    actual = {path: answer(fixed_fleet, path) for path in paths}
    if os.environ.get(WRITE_ENV) == "1" and db_url.startswith("sqlite"):
        EXPECTED.write_text(json.dumps(actual, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        pytest.skip(f"{EXPECTED.name} rewritten: review the diff")
    expected = json.loads(EXPECTED.read_text())
    # The expected documents cover every seed GET route, collections and items, with their sub-routes.
    templates = {route["path"] for route in SEED["routes"]}
    matched = {t for t in templates if any(re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", t), p) for p in expected)}
    assert matched == templates, sorted(templates - matched)
    assert sorted(actual) == sorted(expected), "the fleet's routes and ids differ from the expected ones"
    problems = [d for path in expected for d in differences(expected[path], actual[path], path)]
    assert problems == [], "\n".join(problems[:40])


def test_the_expected_documents_say_what_the_fleet_is() -> None:
    """A few facts of the fixed fleet, written by hand: they pin the expected file to the fleet it claims."""
    expected = json.loads(EXPECTED.read_text())
    clusters = expected["/clusters"]
    assert clusters["status"] == 200 and clusters["total"] == "2"
    machines = expected["/machines"]["body"]
    assert len(machines) == 8
    first = machines[0]
    assert first["id"] == "3491fea1-6193-4295-b42a-41bb8b1add60"
    assert first["_links"]["self"] == f"{BASE}/api/v1/machines/{first['id']}"
    assert (first["hostname"], first["role"], first["talos_version"]) == ("talos-2li-r8d", "CONTROL_PLANE", "v1.11.2")
    assert first["metadata"] == {"annotations": {}, "created": "2025-02-05T04:16:08.072158Z", "labels": {},
                                 "owner": "SiderolinkController", "phase": "running",
                                 "updated": "2025-05-10T22:21:24.269115Z", "version": 29}
    assert [c["id"] for c in clusters["body"]] == ["iot-fra-002", "web-us-east-001"]
    assert expected["/clusters/{id}/kubeconfig".replace("{id}", clusters["body"][0]["id"])]["status"] == 404
