"""The whole product end to end: the simulator (an Omni-compatible gRPC server), the real watcher and
``omni-readmodel serve`` on uvicorn, on SQLite and PostgreSQL, on a 120-machine fleet. Every route's ids,
counts and metadata are checked against the simulator's own state (its ``/export``; the documents field by
field are tests/test_api_documents.py's), then filters, selectors, a pagination walk under churn, and
conditional requests after changes. Waits are bounded polls, never timed assertions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from models import catalog, migrate
from models.db import create_engine
from models.resource import StoredResource
from omni_readmodel import cli as omni_cli
from tests.api_support import ROOT, serve, stop
from tests.simulator_fixtures import SimulatorProcess

C = catalog.LABEL_CLUSTER
WAIT = 90.0


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    """Poll ``condition`` until it returns something truthy; fail (naming ``what``) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def watcher_command(endpoint: str, url: str) -> list[str]:
    args = ["--endpoint", endpoint, "--database-url", url, "--insecure-no-auth", "--poll-interval", "1",
            "--batch-latency-ms", "5"]
    if "watch" in omni_cli.SUBCOMMANDS:
        return [sys.executable, "-m", "omni_readmodel", "--log-level", "WARNING", "watch", *args]
    # until the watch subcommand is registered: the same module, driven directly
    script = ("import argparse, sys\nfrom watcher import cli\np = argparse.ArgumentParser()\n"
              "cli.add_arguments(p)\nsys.exit(cli.run(p.parse_args(sys.argv[1:])))")
    return [sys.executable, "-c", script, *args]


class Pipeline:
    def __init__(self, simulator: SimulatorProcess, base: str) -> None:
        self.simulator = simulator
        self.base = base
        self.client = httpx.Client(timeout=30)  # one client: a new one per request costs more than the request

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.client.get(self.base + path, **kwargs)

    def export(self) -> dict[tuple[str, str, str], StoredResource]:
        """The simulator's current state as the read model stores it."""
        out = {}
        for record in self.simulator.control("GET", "/export"):
            version = int(record["version"]) if record["version"].isdigit() else -1
            resource = StoredResource(record["namespace"], record["type"], record["id"], version, record["phase"],
                                      labels=record["labels"], annotations=record["annotations"], spec=record["spec"])
            out[resource.key] = resource
        return out

    def head(self) -> int:
        return int(self.get("/api/v1/kubernetes-versions?limit=1").headers["x-readmodel-revision"])

    def settle(self) -> dict[tuple[str, str, str], StoredResource]:
        """Wait until the read model holds exactly the simulator's state (no churn running)."""
        def same() -> dict | None:
            state = self.export()
            machines = {k[2] for k in state if k[1] == catalog.by_name("ClusterMachine").type}
            served = {item["id"] for item in self.get("/api/v1/clustermachines").json()}
            head = self.head()
            time.sleep(0.3)
            return state if served == machines and self.head() == head else None
        return wait_until(same, "the read model to settle")


@pytest.fixture
def pipeline(db_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    simulator = SimulatorProcess("--no-auth", "--machines", "120", "--clusters", "5", "--seed", "11")
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    engine.dispose()
    log = (tmp_path / "watcher.log").open("w")  # a file, not a pipe nobody drains
    watcher = subprocess.Popen(watcher_command(f"http://{simulator.address}", db_url), cwd=ROOT,
                               env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        with serve(db_url) as base:
            pipe = Pipeline(simulator, base)

            def ready() -> bool:
                if watcher.poll() is not None:
                    pytest.fail(f"the watcher exited with {watcher.returncode}: "
                                f"{(tmp_path / 'watcher.log').read_text()[-2000:]}")
                return pipe.get("/readyz").status_code == 200
            wait_until(ready, "/readyz")
            yield pipe
    finally:
        stop(watcher, timeout=30)
        simulator.terminate()
        log.close()


def _matches_metadata(document: dict, resource: StoredResource) -> None:
    """The item's identity and metadata are the simulator's (the documents themselves are checked field by
    field against hand-checked expected files in tests/test_api_documents.py)."""
    if "id" in document:  # the seed's status shapes carry no id
        assert document["id"] == resource.id
    meta = document["metadata"]
    assert (meta["labels"], meta["annotations"], meta["phase"]) == (resource.labels, resource.annotations,
                                                                   resource.phase), resource.key
    if resource.version >= 0:  # EtcdBackups have the undefined version
        assert meta["version"] == resource.version, resource.key


def _of(state: dict, name: str) -> list[StoredResource]:
    type_ = catalog.by_name(name).type
    return sorted((r for k, r in state.items() if k[1] == type_), key=lambda r: r.id)


def test_every_route_matches_the_simulator(pipeline: Pipeline) -> None:
    state = pipeline.settle()
    simple = {
        "/clusters/{id}": "Cluster", "/clusters/{id}/status": "ClusterStatus",
        "/clusters/{id}/bootstrap": "ClusterBootstrapStatus", "/clusters/{id}/kubernetes-upgrade": "KubernetesUpgradeStatus",
        "/clusters/{id}/talos-upgrade": "TalosUpgradeStatus", "/clusters/{id}/endpoints": "ClusterEndpoint",
        "/clusters/{id}/kubernetes-status": "KubernetesStatus", "/clusters/{id}/diagnostics": "ClusterDiagnostics",
        "/clusters/{id}/destroy-status": "ClusterDestroyStatus",
        "/clusters/{id}/workload-proxy-status": "ClusterWorkloadProxyStatus",
        "/machines/{id}": "Machine", "/machines/{id}/status": "Machine", "/machines/{id}/labels": "MachineLabels",
        "/machines/{id}/extensions": "MachineExtensions", "/machines/{id}/upgrade-status": "MachineUpgradeStatus",
        "/machinesets/{id}": "MachineSet", "/machinesets/{id}/status": "MachineSetStatus",
        "/machinesets/{id}/destroy-status": "MachineSetDestroyStatus", "/machinesetnodes/{id}": "MachineSetNode",
        "/configpatches/{id}": "ConfigPatch", "/clustermachines/{id}": "ClusterMachine",
        "/clustermachines/{id}/status": "ClusterMachineStatus",
        "/clustermachines/{id}/config-status": "ClusterMachineConfigStatus",
        "/clustermachines/{id}/talos-version": "ClusterMachineTalosVersion",
        "/clustermachines/{id}/config": "RedactedClusterMachineConfig", "/machineclasses/{id}": "MachineClass",
        "/etcdbackups/{id}": "EtcdBackup", "/etcd-manual-backups/{id}": "EtcdManualBackup",
        "/schematic-configurations/{id}": "SchematicConfiguration", "/ongoingtasks/{id}": "OngoingTask",
        "/kubernetes-versions/{id}": "KubernetesVersion", "/extensions-configurations/{id}": "ExtensionsConfiguration",
        "/kernel-args/{id}": "KernelArgs", "/loadbalancer-configs/{id}": "LoadBalancerConfig",
        "/loadbalancers/{id}/status": "LoadBalancerStatus", "/exposed-services/{id}": "ExposedService",
        "/machine-request-sets/{id}": "MachineRequestSet", "/image-pull-requests/{id}": "ImagePullRequest",
        "/image-pull-requests/{id}/status": "ImagePullStatus", "/installation-medias/{id}": "InstallationMedia",
        "/infra-machine-configs/{id}": "InfraMachineConfig",
    }
    checked = Counter()
    for template, name in simple.items():
        resources = _of(state, name)
        collection = template.rsplit("/{id}", 1)[0] if template.endswith("/{id}") else None
        if collection and collection.count("/") == 1:  # the kind's list route, in id order
            listed = pipeline.get("/api/v1" + collection)
            assert [i["id"] for i in listed.json()] == [r.id for r in resources], collection
            assert listed.headers["x-total-count"] == str(len(resources))
        for res in resources[:25]:  # every kind, a bounded number of each
            response = pipeline.get("/api/v1" + template.replace("{id}", quote(res.id, safe="")))
            assert response.status_code == 200, (template, res.id, response.text)
            document = response.json()
            if template.startswith("/machines/{id}/status"):  # the deprecated alias answers the machine
                assert document == pipeline.get(f"/api/v1/machines/{quote(res.id, safe='')}").json()
            elif "metadata" in document:
                _matches_metadata(document, res)
            checked[name] += 1
    populated = {name for name in simple.values() if _of(state, name)}
    assert set(checked) == populated and len(populated) >= 25, sorted(set(simple.values()) - populated)

    for cluster in _of(state, "Cluster"):
        cid = cluster.id
        nodes = state.get(("default", catalog.by_name("ClusterKubernetesNodes").type, cid))
        served = pipeline.get(f"/api/v1/clusters/{cid}/kubernetes-nodes")
        if nodes is None:
            assert served.status_code == 404
        else:
            assert [n["id"] for n in served.json()] == sorted(nodes.spec.get("nodes", []))
        cp = state.get(("default", catalog.by_name("ControlPlaneStatus").type, f"{cid}-control-planes"))
        response = pipeline.get(f"/api/v1/clusters/{cid}/controlplane-status")
        assert response.status_code == (200 if cp else 404)
        if cp:
            _matches_metadata(response.json(), cp)
        metrics = _of(state, "ClusterMetrics")
        if metrics:
            _matches_metadata(pipeline.get(f"/api/v1/clusters/{cid}/metrics").json(), metrics[0])
    machine_metrics = _of(state, "MachineStatusMetrics")
    for machine in _of(state, "Machine")[:5]:
        response = pipeline.get(f"/api/v1/machines/{machine.id}/metrics")
        if machine_metrics:
            _matches_metadata(response.json(), machine_metrics[0])
        diffs = [d.id for d in _of(state, "MachineConfigDiff") if d.labels.get(catalog.LABEL_MACHINE) == machine.id]
        diff = pipeline.get(f"/api/v1/machines/{machine.id}/config-diff")
        assert (diff.json()["id"] in diffs) if diffs else diff.status_code == 404
    for backup in _of(state, "EtcdBackup")[:5]:
        cluster = backup.labels.get(C) or backup.id.rpartition("-")[0]
        status = state.get(("metrics", catalog.by_name("EtcdBackupStatus").type, cluster))
        response = pipeline.get(f"/api/v1/etcdbackups/{backup.id}/status")
        assert response.status_code == (200 if status else 404)
        if status:
            _matches_metadata(response.json(), status)
    in_use = Counter(s.spec.get("schematic", {}).get("full_id") for s in _of(state, "MachineStatus"))
    in_use.pop(None, None)
    schematics = pipeline.get("/api/v1/schematics").json()
    assert {s["id"]: s["machine_count"] for s in schematics} == dict(in_use)


def test_filters_and_selectors_match_the_simulator(pipeline: Pipeline) -> None:
    state = pipeline.settle()
    cluster_machines = _of(state, "ClusterMachine")
    for cluster in _of(state, "Cluster")[:3]:
        members = sorted(r.id for r in cluster_machines if r.labels.get(C) == cluster.id)
        assert [i["id"] for i in pipeline.get(f"/api/v1/clustermachines?cluster={cluster.id}").json()] == members
        assert [i["id"] for i in pipeline.get(f"/api/v1/machines?cluster={cluster.id}").json()] == members
        sets = sorted(r.id for r in _of(state, "MachineSet") if r.labels.get(C) == cluster.id)
        assert [i["id"] for i in pipeline.get(f"/api/v1/machinesets?cluster={cluster.id}").json()] == sets
    controlplanes = sorted(r.id for r in cluster_machines if catalog.LABEL_ROLE_CONTROLPLANE in r.labels)
    response = pipeline.get("/api/v1/clustermachines", params={"selector": catalog.LABEL_ROLE_CONTROLPLANE})
    assert [i["id"] for i in response.json()] == controlplanes
    response = pipeline.get("/api/v1/clustermachines", params={"selector": "!" + catalog.LABEL_ROLE_CONTROLPLANE})
    assert len(response.json()) == len(cluster_machines) - len(controlplanes)
    assert pipeline.get("/api/v1/clustermachines", params={"selector": "a in b"}).status_code == 400


def test_pagination_walk_under_churn(pipeline: Pipeline) -> None:
    before = {k[2] for k in pipeline.settle() if k[1] == catalog.by_name("MachineStatus").type}
    pipeline.simulator.control("POST", "/churn?rate=300")
    try:
        url, seen, pages = pipeline.base + "/api/v1/machines?limit=9", [], 0
        while url:
            response = httpx.get(url, timeout=30)
            assert response.status_code == 200
            seen += [item["id"] for item in response.json()]
            pages += 1
            link = response.headers.get("link")
            url = re.match(r'<([^>]+)>; rel="next"', link).group(1) if link else None
            time.sleep(0.05)  # let churn land between pages
    finally:
        pipeline.simulator.control("POST", "/churn?rate=0")
    after = {k[2] for k in pipeline.export() if k[1] == catalog.by_name("Machine").type}
    assert pages > 5 and len(seen) == len(set(seen)), "no duplicates"
    assert (before & after) <= set(seen), "no gaps: every machine present throughout was listed"


def test_conditional_requests_follow_changes(pipeline: Pipeline) -> None:
    pipeline.settle()
    first = pipeline.get("/api/v1/machines")
    etag, revision = first.headers["etag"], int(first.headers["x-readmodel-revision"])
    assert pipeline.get("/api/v1/machines", headers={"If-None-Match": etag}).status_code == 304
    pipeline.simulator.control("POST", "/churn/apply?events=30")
    wait_until(lambda: pipeline.head() > revision, "the watcher to apply the churn")
    # the churn's first batches may touch no machine: the old ETag stays valid until one does
    def changed():
        answer = pipeline.get("/api/v1/machines", headers={"If-None-Match": etag})
        return None if answer.status_code == 304 else answer

    later = wait_until(changed, "a machine change to reach the collection")
    assert later.status_code == 200 and later.headers["etag"] != etag
    past = pipeline.get(f"/api/v1/machines?at={revision}")
    assert past.status_code == 200 and past.json() == first.json()
