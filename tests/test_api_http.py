"""The API end to end: a real ``omni-readmodel serve`` (uvicorn) over HTTP, on SQLite and PostgreSQL,
against a read model written the way the watcher writes it (tests/api_support.py)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from api import reports as report_routes
from api.routes import ROUTES
from models import catalog
from tests.api_support import ReadModel, resource, serve

C = catalog.LABEL_CLUSTER
MS = catalog.LABEL_MACHINE_SET
M = catalog.LABEL_MACHINE
MACHINES = [f"m{i}" for i in range(6)]


def fleet() -> list:
    """Two clusters, six machines (m0-m3 in c1, m4 in c2, m5 free) and one resource of every routed kind."""
    out = [
        resource("Cluster", "c1", {"kubernetes_version": "1.31.1", "talos_version": "1.8.0",
                                   "features": {"enable_workload_proxy": True}}, {"env": "prod"}),
        resource("Cluster", "c2", {"kubernetes_version": "1.30.0"}, {"env": "dev"}),
        resource("ClusterStatus", "c1", {"available": True, "phase": "RUNNING", "machines": {"total": 4}}),
        resource("ClusterMetrics", "metrics", {"features": {"workload_proxy": 1}}),
        resource("ClusterBootstrapStatus", "c1", {"bootstrapped": True}),
        resource("KubernetesUpgradeStatus", "c1", {"phase": "Done", "last_upgrade_version": "1.31.1"}),
        resource("TalosUpgradeStatus", "c1", {"phase": "Upgrading", "step": "s"}),
        resource("ClusterEndpoint", "c1", {"management_addresses": ["10.0.0.1"]}),
        resource("KubernetesStatus", "c1", {"nodes": [{"nodename": "n0", "kubelet_version": "v1", "ready": True}]}),
        resource("ClusterKubernetesNodes", "c1", {"nodes": ["n0", "n1"]}),
        resource("ControlPlaneStatus", "c1-control-planes", {"conditions": [{"type": "Etcd", "status": "Ready"}]},
                 {C: "c1"}),
        resource("ClusterDiagnostics", "c1", {"nodes": [{"id": "m0", "num_diagnostics": 2}]}),
        resource("ClusterDestroyStatus", "c1", {"phase": "Destroying"}),
        resource("ClusterWorkloadProxyStatus", "c1", {"num_exposed_services": 1}),
        resource("MachineStatusMetrics", "metrics", {"registered_machines_count": 6, "platforms": {"metal": 6}}),
        resource("MachineSet", "c1-control-planes", {"update_strategy": "Rolling",
                                                     "machine_allocation": {"name": "cp"}}, {C: "c1"}),
        resource("MachineSet", "c2-workers", {}, {C: "c2"}),
        resource("MachineSetStatus", "c1-control-planes", {"phase": "Running", "ready": True}, {C: "c1"}),
        resource("MachineSetDestroyStatus", "c1-control-planes", {"phase": "none"}),
        resource("ConfigPatch", "400-c1", {"data": "machine: {}\n"}, {C: "c1"}),
        resource("ConfigPatch", "400-c2", {"data": "cluster: {}\n"}, {C: "c2"}),
        resource("MachineClass", "big", {"match_labels": ["size=big"]}),
        resource("EtcdBackup", "c1-1735689600", {"snapshot": "snap", "size": "1024",
                                                 "created_at": "2025-01-01T00:00:00Z"}, {C: "c1"}),
        resource("EtcdBackupStatus", "c1", {"status": "Ok"}),
        resource("EtcdManualBackup", "c1", {"backup_at": "2025-01-02T00:00:00Z"}),
        resource("SchematicConfiguration", "m0", {"schematic_id": "s1", "talos_version": "1.8.0"}),
        resource("OngoingTask", "c1-talos-update", {"title": "Upgrading", "resource_id": "c1",
                                                    "talos_upgrade": {"phase": "Upgrading"}}, {C: "c1"}),
        resource("OngoingTask", "c2-destroy", {"title": "Destroying", "resource_id": "c2", "destroy": {}}),
        resource("KubernetesVersion", "1.31.1", {"version": "1.31.1"}),
        resource("ExtensionsConfiguration", "ext", {"extensions": ["siderolabs/iscsi-tools"]}, {C: "c1"}),
        resource("KernelArgs", "m0", {"args": ["console=ttyS0"]}),
        resource("LoadBalancerConfig", "c1", {"bind_port": "6443", "endpoints": ["10.0.0.1"]}),
        resource("LoadBalancerStatus", "c1", {"healthy": True}),
        resource("ExposedService", "c1/grafana", {"port": 3000, "label": "Grafana"}, {C: "c1"}),
        resource("MachineRequestSet", "pool", {"provider_id": "kvm", "machine_count": 2}),
        resource("ImagePullRequest", "c1", {"node_image_list": [{"node": "n0", "images": ["i"]}]}),
        resource("ImagePullStatus", "c1", {"processed_count": 1, "total_count": 2}),
        resource("InstallationMedia", "iso-amd64", {"name": "ISO", "architecture": "amd64"}),
        resource("InfraMachineConfig", "m5", {"cordoned": True}),
        resource("SysVersion", "current", {"backend_version": "1.4.6"}),
    ]
    for i, mid in enumerate(MACHINES):
        cluster = "c1" if i < 4 else ("c2" if i == 4 else None)
        status_labels = {"omni.sidero.dev/arch": "amd64" if i % 2 == 0 else "arm64"}
        out.append(resource("Machine", mid, {"management_address": f"10.0.0.{i}", "connected": i != 3},
                            {"rack": f"r{i % 2}"} | ({"zone": "a"} if i < 2 else {})))
        out.append(resource("MachineStatus", mid, {
            "talos_version": "v1.8.0", "network": {"hostname": f"host-{i}"}, "hardware": {"arch": "amd64"},
            "platform_metadata": {"platform": "metal"}, "role": "CONTROL_PLANE" if i == 0 else "WORKER",
            "schematic": {"full_id": "s1" if i < 4 else "s2", "extensions": ["e1"] if i < 4 else []}},
            status_labels))
        out.append(resource("MachineLabels", mid, {}, {"user": f"u{i}"}))
        out.append(resource("MachineExtensions", mid, {"extensions": ["e1"]}))
        out.append(resource("MachineUpgradeStatus", mid, {"phase": "UpToDate", "schematic_id": "s1"}))
        if cluster:
            labels = {C: cluster, MS: f"{cluster}-control-planes" if i == 0 else f"{cluster}-workers"}
            out.append(resource("ClusterMachine", mid, {"kubernetes_version": "1.31.1"}, labels))
            out.append(resource("ClusterMachineStatus", mid, {"ready": True, "stage": "RUNNING"}, labels))
            out.append(resource("ClusterMachineConfigStatus", mid, {"schematic_id": "s1"}, labels))
            out.append(resource("ClusterMachineTalosVersion", mid, {"talos_version": "1.8.0"}, labels))
            out.append(resource("RedactedClusterMachineConfig", mid, {"data": "x" * (100 + i)}, labels))
            out.append(resource("MachineSetNode", mid, {}, labels))
    out.append(resource("MachineConfigDiff", "m0-2025-01-01T00:00:00.000Z", {"diff": "old"}, {M: "m0"},
                        created=datetime(2025, 1, 1, tzinfo=UTC)))
    out.append(resource("MachineConfigDiff", "m0-2025-02-01T00:00:00.000Z", {"diff": "new"}, {M: "m0"},
                        created=datetime(2025, 2, 1, tzinfo=UTC)))
    return out


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


_client = httpx.Client(timeout=10)  # one client: a new one per request costs more than the request


def get(base: str, path: str, **kwargs) -> httpx.Response:
    return _client.get(base + path, **kwargs)


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


# --- every route ----------------------------------------------------------------------------------

def _concrete(path: str) -> str:
    values = {"id": "c1", "node": "n1"}
    prefix = path.split("/")[1]
    if prefix in ("machines", "clustermachines", "machinesetnodes", "schematic-configurations", "kernel-args",
                  "infra-machine-configs"):
        values["id"] = "m0" if prefix != "infra-machine-configs" else "m5"
    special = {"machinesets": "c1-control-planes", "configpatches": "400-c1", "machineclasses": "big",
               "etcdbackups": "c1-1735689600", "schematics": "s1", "ongoingtasks": "c1-talos-update",
               "kubernetes-versions": "1.31.1", "extensions-configurations": "ext",
               "exposed-services": quote("c1/grafana", safe=""), "machine-request-sets": "pool",
               "installation-medias": "iso-amd64"}
    values["id"] = special.get(prefix, values["id"])
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], path)


SEED = json.loads((Path(__file__).resolve().parent / "data" / "seed_contract.json").read_text())
# Members this API adds to the seed's shapes, each on purpose (documented in the OpenAPI description).
EXTENSIONS: dict[str, set[str]] = {
    "*": {"metadata"},  # version, labels, created, updated, owner of the stored resource
    "SchematicResponse": {"machine_count", "extensions"},  # derived from the machines that run it
}


def test_every_route_answers_with_seed_fields(server: str) -> None:
    """Every GET route of the seed contract (tests/data/seed_contract.json) answers with the seed's members."""
    served = {route.path.replace(":path}", "}") for route in ROUTES}
    assert {route["path"] for route in SEED["routes"]} == served
    for route in SEED["routes"]:
        path = "/api/v1" + _concrete(route["path"])
        response = get(server, path)
        if route["response"] == "KubeconfigResponse":
            # live from Omni (tests/test_kubeconfig.py); this server has no --endpoint
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"
            assert "--endpoint" in response.json()["detail"]
            continue
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        body = response.json()
        assert isinstance(body, list) is route["collection"], path
        items = body if route["collection"] else [body]
        assert items, path
        shape = SEED["responses"][route["response"]]
        allowed = set(shape["always"]) | set(shape["omitempty"]) | EXTENSIONS.get(route["response"], set()) \
            | EXTENSIONS.get("*", set())
        for item in items:
            assert set(shape["always"]) <= set(item), (path, set(shape["always"]) - set(item))
            assert set(item) <= allowed, (path, set(item) - allowed)
            for link in item.get("_links", {}).values():
                assert link.startswith(server + "/api/v1/"), link


def test_values_come_from_the_resources(server: str) -> None:
    machine = get(server, "/api/v1/machines/m0").json()
    assert machine["management_address"] == "10.0.0.0" and machine["connected"] is True
    assert machine["hostname"] == "host-0" and machine["role"] == "CONTROL_PLANE" and machine["arch"] == "amd64"
    assert machine["labels"] == {"rack": "r0", "zone": "a"}
    assert machine["metadata"]["version"] == 1 and machine["metadata"]["labels"] == {"rack": "r0", "zone": "a"}
    assert get(server, "/api/v1/machines/m0/status").json() == machine  # deprecated alias
    assert get(server, "/api/v1/machines/m3").json()["connected"] is False
    cluster = get(server, "/api/v1/clusters/c1").json()
    assert cluster["features"] == {"workload_proxy": True, "disk_encryption": False}
    assert cluster["_links"]["machines"] == f"{server}/api/v1/machines?cluster=c1"
    assert get(server, "/api/v1/clusters/c1/status").json()["machines"]["total"] == 4
    # the seed's wrong ids and namespaces, fixed
    assert get(server, "/api/v1/clusters/c1/controlplane-status").json()["id"] == "c1-control-planes"
    assert get(server, "/api/v1/machines/m0/config-diff").json()["diff"] == "new"
    status = get(server, "/api/v1/etcdbackups/c1-1735689600/status").json()
    assert status["status"] == "Ok" and status["namespace"] == "metrics"
    assert status["_links"]["self"] == f"{server}/api/v1/etcdbackups/c1-1735689600/status"
    backup = get(server, "/api/v1/etcdbackups/c1-1735689600").json()
    assert backup["namespace"] == "external" and backup["size"] == 1024 and backup["created_at"] == "2025-01-01T00:00:00Z"
    metrics = get(server, "/api/v1/machines/m4/metrics").json()
    assert metrics["registered_machines_count"] == 6
    assert metrics["_links"] == {"machine": f"{server}/api/v1/machines/m4", "self": f"{server}/api/v1/machines/m4/metrics"}
    assert get(server, "/api/v1/clusters/c2/metrics").json()["features"] == {"workload_proxy": 1}
    assert get(server, "/api/v1/clustermachines/m1/config").json()["config_size"] == 101
    assert "x" * 100 not in get(server, "/api/v1/clustermachines/m1/config").text
    assert ids(get(server, "/api/v1/clusters/c1/kubernetes-nodes")) == ["n0", "n1"]
    assert get(server, "/api/v1/clusters/c1/kubernetes-nodes/n1").json()["name"] == "n1"
    schematics = get(server, "/api/v1/schematics").json()
    assert [(s["id"], s["machine_count"]) for s in schematics] == [("s1", 4), ("s2", 2)]
    assert schematics[0]["extensions"] == ["e1"]
    assert get(server, "/api/v1/ongoingtasks/c1-talos-update").json()["task_type"] == "talos_upgrade"
    service = get(server, "/api/v1/exposed-services/c1%2Fgrafana").json()
    assert service["id"] == "c1/grafana" and service["_links"]["self"] == f"{server}/api/v1/exposed-services/c1%2Fgrafana"
    assert get(server, "/api/v1/exposed-services/c1/grafana").json() == service


def test_empty_collections_are_arrays_not_null(server: str) -> None:
    response = get(server, "/api/v1/clustermachines?cluster=nope")
    assert response.text == "[]" and response.headers["x-total-count"] == "0"


# --- filters, selectors, sorting, pagination ------------------------------------------------------

def test_seed_filters_and_new_ones(server: str) -> None:
    assert ids(get(server, "/api/v1/clustermachines?cluster=c1")) == ["m0", "m1", "m2", "m3"]
    assert ids(get(server, "/api/v1/clustermachines?cluster=")) == MACHINES[:5]  # empty = no filter
    assert ids(get(server, "/api/v1/machines?cluster=c2")) == ["m4"]
    assert ids(get(server, "/api/v1/machinesets?cluster=c1")) == ["c1-control-planes"]
    assert ids(get(server, "/api/v1/configpatches?cluster=c2")) == ["400-c2"]
    assert ids(get(server, "/api/v1/etcdbackups?cluster=c1")) == ["c1-1735689600"]
    assert ids(get(server, "/api/v1/etcd-manual-backups?cluster=c2")) == []
    assert ids(get(server, "/api/v1/machinesetnodes?machineset=c1-workers")) == ["m1", "m2", "m3"]
    assert ids(get(server, "/api/v1/ongoingtasks?resource=c2")) == ["c2-destroy"]
    assert ids(get(server, "/api/v1/infra-machine-configs?machine=m5")) == ["m5"]
    assert ids(get(server, "/api/v1/machines?cluster=c1&selector=rack%3Dr1")) == ["m1", "m3"]


@pytest.mark.parametrize(("selector", "expected"), [
    ("rack=r0", ["m0", "m2", "m4"]),
    ("rack!=r0", ["m1", "m3", "m5"]),
    ("rack in (r0,r1),zone", ["m0", "m1"]),
    ("rack notin (r1),!zone", ["m2", "m4"]),
    ("zone!=b", MACHINES),
    ("nope", []),
])
def test_label_selectors(server: str, selector: str, expected: list[str]) -> None:
    assert ids(get(server, "/api/v1/machines", params={"selector": selector})) == expected


def test_sorting(server: str) -> None:
    assert ids(get(server, "/api/v1/machines?sort=-id")) == MACHINES[::-1]
    created = ids(get(server, "/api/v1/clusters?sort=created"))
    assert created == ["c1", "c2"] and ids(get(server, "/api/v1/clusters?sort=-created")) == ["c2", "c1"]
    assert ids(get(server, "/api/v1/schematics?sort=-id")) == ["s2", "s1"]


def _walk(base: str, url: str) -> tuple[list[str], int]:
    seen, pages = [], 0
    while url:
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200, response.text
        seen += [item["id"] for item in response.json()]
        pages += 1
        link = response.headers.get("link")
        url = re.match(r'<([^>]+)>; rel="next"', link).group(1) if link else None
        if url:
            assert url.startswith(base + "/api/v1/")
    return seen, pages


@pytest.mark.parametrize("sort", ["id", "-id", "created", "-updated"])
def test_pagination_walk(server: str, sort: str) -> None:
    seen, pages = _walk(server, f"{server}/api/v1/machines?limit=4&sort={sort}&selector=rack")
    assert sorted(seen) == MACHINES and len(set(seen)) == 6 and pages == 2
    response = get(server, f"/api/v1/machines?limit=4&sort={sort}")
    assert response.headers["x-total-count"] == "6"
    assert ids(get(server, "/api/v1/clusters/c1/kubernetes-nodes?limit=1")) == ["n0"]


def test_pagination_during_churn_has_no_gaps_or_duplicates(model: ReadModel, server: str) -> None:
    stable = [f"z{i:03d}" for i in range(40)]
    model.apply([resource("KubernetesVersion", name, {"version": name}) for name in stable])
    url, seen, churn = f"{server}/api/v1/kubernetes-versions?limit=7", [], 0
    while url:
        response = httpx.get(url, timeout=10)
        seen += [item["id"] for item in response.json()]
        # between pages: add before and after the cursor, update and delete others
        churn += 1
        model.apply([resource("KubernetesVersion", f"a-new-{churn}", {}), resource("KubernetesVersion", f"zz-{churn}", {}),
                     resource("KubernetesVersion", stable[(churn * 5) % 40], {"version": f"v{churn}"}),
                     ("default", catalog.by_name("KubernetesVersion").type, "1.31.1")
                     if churn == 1 else resource("KubernetesVersion", f"zz-{churn}", {"version": "u"})])
        link = response.headers.get("link")
        url = re.match(r'<([^>]+)>; rel="next"', link).group(1) if link else None
    assert len(seen) == len(set(seen))
    assert set(stable) <= set(seen)


# --- conditional requests, revisions, point in time -----------------------------------------------

def test_etag_304_and_revision(model: ReadModel, server: str) -> None:
    first = get(server, "/api/v1/machines/m0")
    etag, revision = first.headers["etag"], int(first.headers["x-readmodel-revision"])
    assert re.fullmatch(r'"\d+-[0-9a-f]{8}"', etag) and revision == model.revision
    again = get(server, "/api/v1/machines/m0", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert get(server, "/api/v1/machines/m0", headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304
    assert get(server, "/api/v1/machines/m1", headers={"If-None-Match": etag}).status_code == 200
    assert get(server, "/api/v1/machines", headers={"If-None-Match": etag}).status_code == 200
    model.apply([resource("MachineStatus", "m0", {"network": {"hostname": "renamed"}})])
    changed = get(server, "/api/v1/machines/m0", headers={"If-None-Match": etag, }, params={"min_revision": model.revision})
    assert changed.status_code == 200 and changed.json()["hostname"] == "renamed"
    assert changed.headers["etag"] != etag and int(changed.headers["x-readmodel-revision"]) == model.revision


def test_min_revision(model: ReadModel, server: str) -> None:
    response = get(server, f"/api/v1/clusters?min_revision={model.revision}")
    assert response.status_code == 200
    late = get(server, f"/api/v1/clusters?min_revision={model.revision + 100}")
    assert late.status_code == 503 and late.headers["retry-after"] == "1"
    assert late.headers["content-type"] == "application/problem+json"


def test_point_in_time_reads(model: ReadModel, server: str) -> None:
    before = model.revision
    before_time = datetime.now(UTC)  # the writer stamps each batch with the time it applies it
    model.apply([resource("Cluster", "c1", {"kubernetes_version": "1.32.0"}), ("default", catalog.by_name("Cluster").type, "c2"),
                 resource("MachineStatus", "m1", {"network": {"hostname": "later"}})])
    assert get(server, f"/api/v1/clusters?min_revision={model.revision}").json()[0]["kubernetes_version"] == "1.32.0"
    assert ids(get(server, "/api/v1/clusters")) == ["c1"]
    past = get(server, f"/api/v1/clusters?at={before}")
    assert ids(past) == ["c1", "c2"] and past.json()[0]["kubernetes_version"] == "1.31.1"
    assert past.headers["x-readmodel-revision"] == str(before)
    assert ids(get(server, "/api/v1/clusters", params={"at": before_time.isoformat()})) == ["c1", "c2"]
    assert get(server, f"/api/v1/clusters/c2?at={before}").json()["id"] == "c2"
    assert get(server, "/api/v1/clusters/c2").status_code == 404
    assert get(server, f"/api/v1/machines/m1?at={before}").json()["hostname"] == "host-1"
    assert get(server, f"/api/v1/machines?at={before}&cluster=c1&limit=2").json()[1]["hostname"] == "host-1"
    assert get(server, "/api/v1/machines/m1").json()["hostname"] == "later"
    # Revision 1 is inside the first bootstrap (the fleet's revisions), so no complete state: 409 naming the
    # revision the bootstrap completed at; beyond the head is a 409 too (tests/test_point_in_time.py).
    assert get(server, "/api/v1/clusters?at=1").json()["revision"] == before
    assert get(server, f"/api/v1/clusters?at={model.revision + 5}").status_code == 409


# --- errors ---------------------------------------------------------------------------------------

def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    assert body["error"] == body["detail"] and "Traceback" not in response.text
    return body


@pytest.mark.parametrize(("path", "parameter"), [
    ("/api/v1/machines?limit=0", "limit"), ("/api/v1/machines?sort=name", "sort"),
    ("/api/v1/machines?cursor=zzz", "cursor"), ("/api/v1/machines?selector=a%20in", "selector"),
    ("/api/v1/machines/m0?at=soon", "at"), ("/api/v1/machines/m0?min_revision=x", "min_revision"),
])
def test_bad_parameters(server: str, path: str, parameter: str) -> None:
    assert _problem(get(server, path), 400)["parameter"] == parameter


def test_not_found_and_method_not_allowed(server: str) -> None:
    for path in ("/api/v1/clusters/nope", "/api/v1/machines/nope/metrics", "/api/v1/nothing", "/nothing",
                 "/api/v1/clusters/c2/kubernetes-nodes", "/api/v1/clusters/c1/kubernetes-nodes/n9",
                 "/api/v1/etcdbackups/nope/status", "/api/v1/schematics/nope", "/api/v1/clusters/nope/kubeconfig",
                 "/api/v1/machines/m1/config-diff"):
        _problem(get(server, path), 404)
    for method, path in [("POST", "/api/v1/clusters"), ("PUT", "/api/v1/machinesets/c1-workers"),
                         ("PATCH", "/api/v1/machines/m0"), ("DELETE", "/api/v1/configpatches/400-c1"),
                         ("POST", "/api/v1/clusters/c1/actions/destroy"), ("POST", "/api/v1/etcdbackups")]:
        response = httpx.request(method, server + path, json={}, timeout=10)
        _problem(response, 405)
        assert response.headers["allow"] == "GET, HEAD"
    head = httpx.head(server + "/api/v1/machines/m0", timeout=10)
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"]


def test_database_unavailable_is_503_then_recovers(model: ReadModel, server: str) -> None:
    url = model.engine.url
    if url.get_backend_name() == "postgresql":
        assert get(server, "/api/v1/clusters/c1").status_code == 200  # the worker's connection is open
        import sqlalchemy as sa
        with model.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            conn.commit()
        _problem(get(server, "/api/v1/clusters/c1?min_revision=0"), 503)
    else:
        # the worker has not connected yet: the first connection meets a corrupt file, the next a good one
        path = url.database
        with model.engine.connect() as conn:  # page 1 may still be in the WAL, where readers would find it
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        model.engine.dispose()
        with open(path, "rb") as f:
            original = f.read()
        with open(path, "r+b") as f:  # a corrupt header: every statement fails until it is restored
            f.write(b"garbage!" * 32)
        try:
            _problem(get(server, "/api/v1/clusters/c1?min_revision=0"), 503)
        finally:
            with open(path, "r+b") as f:
                f.write(original[:256])
    assert get(server, "/api/v1/clusters/c1?min_revision=0").status_code == 200


# --- links ----------------------------------------------------------------------------------------

def test_links_behind_a_proxy(model: ReadModel) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "omni.example.com",
               "X-Forwarded-Prefix": "/readmodel", "Host": "internal:8080"}
    with serve(model.url, "--trust-proxy-headers") as base:
        machine = get(base, "/api/v1/machines/m0", headers=headers).json()
        assert machine["_links"]["self"] == "https://omni.example.com/readmodel/api/v1/machines/m0"
        page = get(base, "/api/v1/machines?limit=2", headers=headers)
        assert page.headers["link"].startswith("<https://omni.example.com/readmodel/api/v1/machines?limit=2&cursor=")
        assert get(base, "/health", headers=headers).json()["_links"]["self"] == "https://omni.example.com/readmodel/health"
        assert get(base, "/api/v1/machines/m0", headers={"X-Forwarded-Host": 'a"b'}).status_code == 400
    with serve(model.url) as base:
        untrusted = get(base, "/api/v1/machines/m0", headers=headers).json()
        assert untrusted["_links"]["self"] == "http://internal:8080/api/v1/machines/m0"
        etag_a = get(base, "/api/v1/machines/m0", headers={"Host": "a:1"}).headers["etag"]
        assert etag_a != get(base, "/api/v1/machines/m0", headers={"Host": "b:1"}).headers["etag"]


# --- operational endpoints ------------------------------------------------------------------------

def test_operational_endpoints(model: ReadModel, server: str) -> None:
    assert get(server, "/livez").text == "ok\n"
    ready = get(server, "/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    health = get(server, "/health").json()
    assert list(health)[:4] == ["status", "timestamp", "version", "omni"] and health["status"] == "healthy"
    assert health["omni"] == {"connected": True, "backend_version": "1.4.6"}
    assert health["watcher"]["head_revision"] == model.revision
    assert health["_links"] == {"metrics": f"{server}/metrics", "self": f"{server}/health"}
    redirect = httpx.get(server + "/", timeout=10)
    assert redirect.status_code in (301, 302, 303, 307, 308) and redirect.headers["location"].endswith("docs")
    docs = get(server, "/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    for asset in re.findall(r'(?:src|href)="([^"]+)"', docs.text):
        assert get(server, "/" + asset).status_code == 200, asset
    spec = get(server, "/openapi.json").json()
    api_paths = [p for p in spec["paths"] if p.startswith("/api/v1")]
    assert spec["openapi"].startswith("3.1") and len(api_paths) == len(ROUTES) + len(report_routes.openapi_paths())
    get(server, "/api/v1/machines/m0")
    text = get(server, "/metrics").text
    assert 'omni_readmodel_api_request_duration_seconds_count{method="GET",route="/api/v1/machines/{id}"}' in text
    assert re.search(r'omni_readmodel_api_responses_total\{method="GET",route="/api/v1/machines/\{id\}",status="200"\} [1-9]', text)


def test_readyz_until_every_stream_bootstrapped(model: ReadModel, server: str) -> None:
    kinds = list(catalog.watched_kinds())
    model.bootstrap_streams(kinds[1:])
    response = get(server, "/readyz")
    assert response.status_code == 503
    assert response.json()["missing"] == [f"{kinds[0].namespace}/{kinds[0].type}"]
    model.bootstrap_streams(error="stream reset")
    assert get(server, "/readyz").status_code == 200
    health = get(server, "/health").json()
    assert health["omni"]["connected"] is False and health["omni"]["error"] == "stream reset"


def test_metrics_add_up_across_workers(model: ReadModel) -> None:
    with serve(model.url, "--workers", "2") as base:
        with httpx.Client(base_url=base, timeout=10) as client:  # new connections spread over workers
            for _ in range(40):
                assert client.get("/api/v1/clusters/c1", headers={"Connection": "close"}).status_code == 200

        def counted() -> float:
            match = re.search(r'omni_readmodel_api_responses_total\{method="GET",route="/api/v1/clusters/\{id\}",'
                              r'status="200"\} ([\d.]+)', get(base, "/metrics").text)
            return float(match.group(1)) if match else 0.0

        deadline = time.monotonic() + 30  # each worker folds its tallies in once a second
        while counted() < 40 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert counted() == 40
        json.loads(get(base, "/openapi.json").text)
