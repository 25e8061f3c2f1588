"""Projections against seed-api.md §5: every document's field names, order, types, omitempty and links.

Specs are built as real protobuf messages and converted the way the watcher stores them
(``MessageToDict(preserving_proto_field_name=True)``), so field names cannot drift from the protos.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from google.protobuf import json_format

from models import catalog, projections
from models.resource import StoredResource
from omni_client.wire import specs_pb2

C = catalog.LABEL_CLUSTER
MS = catalog.LABEL_MACHINE_SET
BASE = "http://h"
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def spec(message_name: str, **fields) -> dict:
    message = getattr(specs_pb2, message_name)(**fields)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def res(kind_name: str, id_: str, spec_: dict | None = None, labels: dict | None = None, **meta) -> StoredResource:
    kind = catalog.by_name(kind_name)
    return StoredResource(kind.namespace, kind.type, id_, meta.pop("version", 1), created=T0, updated=T0,
                          labels=labels or {}, spec=spec_ or {}, **meta)


def rendered(resource: StoredResource, joined: dict | None = None, path_id: str = "p") -> dict:
    joined = joined or {}
    text = projections.render(resource, lambda ns, type_, id_: joined.get((ns, type_, id_)))
    assert text is not None
    text = text.replace(projections.LINK, BASE).replace(projections.PATH_ID, path_id)
    return json.loads(text)


def body(document: dict) -> dict:
    """The seed part of a document: without the metadata object."""
    return {k: v for k, v in document.items() if k != "metadata"}


def assert_doc(document: dict, expected: dict) -> None:
    got = body(document)
    assert list(got) == list(expected), "field order"
    assert got == expected
    if "_links" in got:
        assert list(got["_links"]) == sorted(got["_links"]), "_links keys sorted"
        assert list(document)[-1] == "_links"


# --- clusters -------------------------------------------------------------------------------------

def test_cluster() -> None:
    features = specs_pb2.ClusterSpec.Features(enable_workload_proxy=True)
    doc = rendered(res("Cluster", "c1", spec("ClusterSpec", kubernetes_version="1.31.1", talos_version="1.8.0",
                                             features=features)))
    assert_doc(doc, {
        "id": "c1", "namespace": "default", "kubernetes_version": "1.31.1", "talos_version": "1.8.0",
        "features": {"workload_proxy": True, "disk_encryption": False},
        "_links": {"bootstrap": f"{BASE}/api/v1/clusters/c1/bootstrap",
                   "machines": f"{BASE}/api/v1/machines?cluster=c1",
                   "metrics": f"{BASE}/api/v1/clusters/c1/metrics", "self": f"{BASE}/api/v1/clusters/c1",
                   "status": f"{BASE}/api/v1/clusters/c1/status"},
    })


def test_cluster_empty_spec_keeps_non_omitempty_fields() -> None:
    doc = rendered(res("Cluster", "c1"))
    assert body(doc)["kubernetes_version"] == ""
    assert doc["features"] == {"workload_proxy": False, "disk_encryption": False}


def test_cluster_status() -> None:
    machines = specs_pb2.Machines(total=3, healthy=2)
    doc = rendered(res("ClusterStatus", "c1", spec("ClusterStatusSpec", available=True, phase=3, ready=True,
                                                   kubernetesAPIReady=True, machines=machines)))
    assert_doc(doc, {"available": True, "phase": "RUNNING", "ready": True, "kubernetes_api_ready": True,
                     "controlplane_ready": False, "has_connected_control_planes": False,
                     "machines": {"total": 3, "healthy": 2, "connected": 0, "requested": 0}})
    empty = rendered(res("ClusterStatus", "c1"))
    assert empty["phase"] == "UNKNOWN"
    assert empty["machines"] == {"total": 0, "healthy": 0, "connected": 0, "requested": 0}


def test_cluster_metrics_and_bootstrap() -> None:
    doc = rendered(res("ClusterMetrics", "metrics", spec("ClusterMetricsSpec", features={"b": 2, "a": 1})))
    assert_doc(doc, {"features": {"a": 1, "b": 2}})
    assert list(doc["features"]) == ["a", "b"]
    assert body(rendered(res("ClusterMetrics", "metrics"))) == {"features": None}
    assert_doc(rendered(res("ClusterBootstrapStatus", "c1", spec("ClusterBootstrapStatusSpec", bootstrapped=True))),
               {"bootstrapped": True})


@pytest.mark.parametrize(("kind", "message", "route"), [
    ("KubernetesUpgradeStatus", "KubernetesUpgradeStatusSpec", "kubernetes-upgrade"),
    ("TalosUpgradeStatus", "TalosUpgradeStatusSpec", "talos-upgrade"),
])
def test_upgrade_statuses(kind: str, message: str, route: str) -> None:
    doc = rendered(res(kind, "c1", spec(message, phase=1, step="s", upgrade_versions=["1.2"])))
    assert_doc(doc, {"id": "c1", "namespace": "default", "phase": "Upgrading", "step": "s",
                     "upgrade_versions": ["1.2"],
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "self": f"{BASE}/api/v1/clusters/c1/{route}"}})
    assert body(rendered(res(kind, "c1")))["phase"] == "Unknown"


def test_cluster_endpoint_null_when_empty() -> None:
    assert rendered(res("ClusterEndpoint", "c1"))["management_addresses"] is None
    doc = rendered(res("ClusterEndpoint", "c1", spec("ClusterEndpointSpec", management_addresses=["10.0.0.1"])))
    assert_doc(doc, {"id": "c1", "namespace": "default", "management_addresses": ["10.0.0.1"],
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "self": f"{BASE}/api/v1/clusters/c1/endpoints"}})


def test_kubernetes_status() -> None:
    s = specs_pb2.KubernetesStatusSpec
    doc = rendered(res("KubernetesStatus", "c1", spec(
        "KubernetesStatusSpec",
        nodes=[s.NodeStatus(nodename="n1", kubelet_version="v1.31", ready=True), s.NodeStatus(nodename="n2")],
        static_pods=[s.NodeStaticPods(nodename="n1", static_pods=[s.StaticPodStatus(app="kube-apiserver",
                                                                                    version="v1", ready=True)]),
                     s.NodeStaticPods(nodename="n2")])))
    assert_doc(doc, {
        "id": "c1", "namespace": "default",
        "nodes": [{"nodename": "n1", "ready": True, "kubelet": True}, {"nodename": "n2"}],
        "static_pods": [{"nodename": "n1", "pods": [{"app": "kube-apiserver", "version": "v1", "ready": True}]},
                        {"nodename": "n2"}],
        "_links": {"cluster": f"{BASE}/api/v1/clusters/c1", "self": f"{BASE}/api/v1/clusters/c1/kubernetes-status"},
    })
    assert "nodes" not in rendered(res("KubernetesStatus", "c1"))


def test_kubernetes_nodes_derived_documents() -> None:
    resource = res("ClusterKubernetesNodes", "c1", spec("ClusterKubernetesNodesSpec", nodes=["n1", "n/2"]))
    assert projections.render(resource, lambda *_: None) is None  # derived at query time
    nodes = projections.kubernetes_nodes(resource)
    assert [name for name, _ in nodes] == ["n1", "n/2"]
    doc = json.loads(nodes[1][1].replace(projections.LINK, BASE))
    assert_doc(doc, {"id": "n/2", "namespace": "default", "name": "n/2",
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "self": f"{BASE}/api/v1/clusters/c1/kubernetes-nodes/n%2F2"}})
    assert projections.kubernetes_nodes(res("ClusterKubernetesNodes", "c1")) == []


def test_controlplane_status_links_by_cluster() -> None:
    cond = specs_pb2.ControlPlaneStatusSpec.Condition
    doc = rendered(res("ControlPlaneStatus", "c1-control-planes", spec(
        "ControlPlaneStatusSpec", conditions=[cond(type=1, status=1, reason="ok", severity=2), cond()])))
    assert_doc(doc, {"id": "c1-control-planes", "namespace": "default",
                     "conditions": [{"type": "Etcd", "status": "Ready", "reason": "ok"},
                                    {"type": "UnknownCondition", "status": "Unknown"}],
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "self": f"{BASE}/api/v1/clusters/c1/controlplane-status"}})
    labelled = rendered(res("ControlPlaneStatus", "c2-control-planes", labels={C: "c2"}))
    assert labelled["_links"]["cluster"] == f"{BASE}/api/v1/clusters/c2"


def test_cluster_diagnostics_destroy_workload_proxy() -> None:
    node = specs_pb2.ClusterDiagnosticsSpec.Node
    doc = rendered(res("ClusterDiagnostics", "c1", spec("ClusterDiagnosticsSpec", nodes=[node(id="m1")])))
    assert_doc(doc, {"id": "c1", "namespace": "default", "nodes": [{"id": "m1", "num_diagnostics": 0}],
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "self": f"{BASE}/api/v1/clusters/c1/diagnostics"}})
    assert "nodes" not in rendered(res("ClusterDiagnostics", "c1"))
    destroy = rendered(res("ClusterDestroyStatus", "c1", spec("DestroyStatusSpec", phase="Destroying")))
    assert body(destroy)["phase"] == "Destroying"
    assert "phase" not in body(rendered(res("ClusterDestroyStatus", "c1")))
    proxy = rendered(res("ClusterWorkloadProxyStatus", "c1",
                         spec("ClusterWorkloadProxyStatusSpec", num_exposed_services=4)))
    assert_doc(proxy, {"id": "c1", "namespace": "default", "num_exposed_services": 4,
                       "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                  "self": f"{BASE}/api/v1/clusters/c1/workload-proxy-status"}})


# --- machines -------------------------------------------------------------------------------------

def _machine_status(**fields) -> StoredResource:
    return res("MachineStatus", "m1", spec("MachineStatusSpec", **fields))


def test_machine_joins_machine_status() -> None:
    ms = specs_pb2.MachineStatusSpec
    status = _machine_status(talos_version="v1.8.0", role=1, maintenance=True, last_error="boom",
                             network=ms.NetworkStatus(hostname="node-1"),
                             hardware=ms.HardwareStatus(arch="amd64"),
                             platform_metadata=ms.PlatformMetadata(platform="metal"))
    machine = res("Machine", "m1", spec("MachineSpec", management_address="10.0.0.5", connected=True),
                  labels={"b": "2", "a": "1"})
    doc = rendered(machine, {status.key: status})
    links = {k: f"{BASE}/api/v1/machines/m1{suffix}" for k, suffix in [
        ("extensions", "/extensions"), ("labels", "/labels"), ("metrics", "/metrics"), ("self", ""),
        ("upgrade-status", "/upgrade-status")]}
    assert_doc(doc, {"id": "m1", "namespace": "default", "management_address": "10.0.0.5", "connected": True,
                     "use_grpc_tunnel": False, "labels": {"a": "1", "b": "2"}, "hostname": "node-1",
                     "platform": "metal", "arch": "amd64", "talos_version": "v1.8.0", "role": "CONTROL_PLANE",
                     "maintenance": True, "last_error": "boom", "_links": links})


def test_machine_role_present_iff_status_exists() -> None:
    machine = res("Machine", "m1", labels={C: "c1"})
    status = _machine_status()
    with_status = rendered(machine, {status.key: status})
    assert with_status["role"] == "NONE"
    without = rendered(machine)
    for key in ("role", "hostname", "platform", "arch", "talos_version", "maintenance", "last_error"):
        assert key not in without
    assert without["_links"]["cluster"] == f"{BASE}/api/v1/clusters/c1"
    assert "labels" in without and "cluster" not in rendered(res("Machine", "m2"))["_links"]


def test_dependents() -> None:
    status = _machine_status()
    assert projections.dependents(status) == [("default", catalog.by_name("Machine").type, "m1")]
    assert projections.dependents(res("Machine", "m1")) == []
    assert projections.joined_kinds(catalog.by_name("Machine").type) == [
        ("default", catalog.by_name("MachineStatus").type)]


def test_machine_labels_extensions_upgrade_status() -> None:
    labels = rendered(res("MachineLabels", "m1", labels={"env": "prod", C: "c1"}))
    assert_doc(labels, {"id": "m1", "namespace": "default", "labels": {"env": "prod", C: "c1"},
                        "_links": {"cluster": f"{BASE}/api/v1/clusters/c1", "machine": f"{BASE}/api/v1/machines/m1",
                                   "self": f"{BASE}/api/v1/machines/m1/labels"}})
    ext = rendered(res("MachineExtensions", "m1", spec("MachineExtensionsSpec", extensions=["siderolabs/iscsi"])))
    assert body(ext)["extensions"] == ["siderolabs/iscsi"]
    assert "extensions" not in rendered(res("MachineExtensions", "m1"))
    up = rendered(res("MachineUpgradeStatus", "m1", spec("MachineUpgradeStatusSpec", schematic_id="s1",
                                                         current_schematic_id="s0", phase=2, is_maintenance=True)))
    assert_doc(up, {"id": "m1", "namespace": "default", "schematic_id": "s1", "current_schematic_id": "s0",
                    "phase": "Upgrading", "is_maintenance": True,
                    "_links": {"current_schematic": f"{BASE}/api/v1/schematics/s0",
                               "machine": f"{BASE}/api/v1/machines/m1", "schematic": f"{BASE}/api/v1/schematics/s1",
                               "self": f"{BASE}/api/v1/machines/m1/upgrade-status"}})
    bare = rendered(res("MachineUpgradeStatus", "m1"))
    assert bare["phase"] == "Unknown" and "schematic" not in bare["_links"]


def test_machine_status_metrics_links_follow_path_id() -> None:
    doc = rendered(res("MachineStatusMetrics", "metrics", spec(
        "MachineStatusMetricsSpec", registered_machines_count=5, platforms={"metal": 5}, cores_count=9)),
        path_id="m%2F9")
    assert_doc(doc, {"id": "metrics", "namespace": "ephemeral", "registered_machines_count": 5,
                     "platforms": {"metal": 5},
                     "_links": {"machine": f"{BASE}/api/v1/machines/m%2F9",
                                "self": f"{BASE}/api/v1/machines/m%2F9/metrics"}})


def test_machine_config_diff() -> None:
    doc = rendered(res("MachineConfigDiff", "m1-2025-01-01T00:00:00.000Z", spec("MachineConfigDiffSpec", diff="+a"),
                       labels={catalog.LABEL_MACHINE: "m1"}))
    assert_doc(doc, {"id": "m1-2025-01-01T00:00:00.000Z", "namespace": "default", "diff": "+a",
                     "_links": {"machine": f"{BASE}/api/v1/machines/m1",
                                "self": f"{BASE}/api/v1/machines/m1/config-diff"}})


# --- machine sets, nodes, patches -----------------------------------------------------------------

def test_machine_set() -> None:
    alloc = specs_pb2.MachineSetSpec.MachineAllocation
    doc = rendered(res("MachineSet", "c1-workers", spec("MachineSetSpec", machine_allocation=alloc(name="big"),
                                                        update_strategy=1), labels={C: "c1"}))
    assert_doc(doc, {"id": "c1-workers", "namespace": "default", "machine_class": "big",
                     "update_strategy": "Rolling", "delete_strategy": "Unset",
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "self": f"{BASE}/api/v1/machinesets/c1-workers",
                                "status": f"{BASE}/api/v1/machinesets/c1-workers/status"}})
    legacy = rendered(res("MachineSet", "x", spec("MachineSetSpec", machine_class=alloc(name="old"))))
    assert legacy["machine_class"] == "old"
    assert "machine_class" not in rendered(res("MachineSet", "x"))


def test_machine_set_status() -> None:
    doc = rendered(res("MachineSetStatus", "c1-workers", spec(
        "MachineSetStatusSpec", phase=3, ready=True, machines=specs_pb2.Machines(total=2)), labels={C: "c1"}))
    assert_doc(doc, {"id": "c1-workers", "namespace": "default", "phase": "Running", "ready": True,
                     "machines": {"total": 2},
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "machineset": f"{BASE}/api/v1/machinesets/c1-workers",
                                "self": f"{BASE}/api/v1/machinesets/c1-workers/status"}})
    empty = rendered(res("MachineSetStatus", "x"))
    assert empty["machines"] == {} and empty["phase"] == "Unknown" and empty["ready"] is False


def test_machine_set_destroy_status_and_nodes() -> None:
    doc = rendered(res("MachineSetDestroyStatus", "c1-workers", spec("DestroyStatusSpec", phase="p")))
    assert_doc(doc, {"id": "c1-workers", "namespace": "ephemeral", "phase": "p",
                     "_links": {"machineset": f"{BASE}/api/v1/machinesets/c1-workers",
                                "self": f"{BASE}/api/v1/machinesets/c1-workers/destroy-status"}})
    node = rendered(res("MachineSetNode", "m1", labels={C: "c1", MS: "c1-workers"}))
    assert_doc(node, {"id": "m1", "namespace": "default",
                      "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                 "clustermachine": f"{BASE}/api/v1/clustermachines/m1",
                                 "machineset": f"{BASE}/api/v1/machinesets/c1-workers",
                                 "self": f"{BASE}/api/v1/machinesetnodes/m1"}})


def test_config_patch_data_always_present() -> None:
    doc = rendered(res("ConfigPatch", "400-c1", spec("ConfigPatchSpec", data="machine: {}\n"), labels={C: "c1"}))
    assert_doc(doc, {"id": "400-c1", "namespace": "default", "data": "machine: {}\n",
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1", "self": f"{BASE}/api/v1/configpatches/400-c1"}})
    assert body(rendered(res("ConfigPatch", "p")))["data"] == ""


# --- cluster machines -----------------------------------------------------------------------------

CM_LINKS = {"clustermachine": f"{BASE}/api/v1/clustermachines/m1", "cluster": f"{BASE}/api/v1/clusters/c1",
            "machine": f"{BASE}/api/v1/machines/m1"}


def test_cluster_machine() -> None:
    doc = rendered(res("ClusterMachine", "m1", spec("ClusterMachineSpec", kubernetes_version="1.31"),
                       labels={C: "c1"}))
    assert_doc(doc, {"id": "m1", "namespace": "default", "machine_id": "m1", "kubernetes_version": "1.31",
                     "labels": {C: "c1"},
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "config-status": f"{BASE}/api/v1/clustermachines/m1/config-status",
                                "machine": f"{BASE}/api/v1/machines/m1",
                                "machine-status": f"{BASE}/api/v1/machines/m1/status",
                                "self": f"{BASE}/api/v1/clustermachines/m1",
                                "status": f"{BASE}/api/v1/clustermachines/m1/status",
                                "talos-version": f"{BASE}/api/v1/clustermachines/m1/talos-version"}})


def test_cluster_machine_status() -> None:
    ps = specs_pb2.ClusterMachineStatusSpec.ProvisionStatus
    doc = rendered(res("ClusterMachineStatus", "m1", spec("ClusterMachineStatusSpec", ready=True, stage=4,
                                                          config_apply_status=2, provision_status=ps(provider_id="p")),
                       labels={C: "c1"}))
    assert_doc(doc, {"id": "m1", "namespace": "default", "ready": True, "stage": "RUNNING",
                     "config_up_to_date": False, "config_apply_status": "APPLIED", "is_removed": False,
                     "provision_status": {"provider_id": "p"},
                     "_links": {**CM_LINKS, "self": f"{BASE}/api/v1/clustermachines/m1/status"}})
    empty = rendered(res("ClusterMachineStatus", "m1"))
    assert empty["stage"] == "UNKNOWN" and empty["config_apply_status"] == "UNKNOWN"
    assert "provision_status" not in empty and "cluster" not in empty["_links"]
    set_but_empty = specs_pb2.ClusterMachineStatusSpec()
    set_but_empty.provision_status.SetInParent()
    doc = rendered(res("ClusterMachineStatus", "m1",
                       json_format.MessageToDict(set_but_empty, preserving_proto_field_name=True)))
    assert doc["provision_status"] == {}


def test_cluster_machine_config_status_and_talos_version() -> None:
    doc = rendered(res("ClusterMachineConfigStatus", "m1", spec(
        "ClusterMachineConfigStatusSpec", cluster_machine_config_sha256="abc", schematic_id="s1",
        redacted_current_machine_config="secret: redacted"), labels={C: "c1"}))
    assert_doc(doc, {"id": "m1", "namespace": "default", "cluster_machine_config_sha256": "abc", "schematic_id": "s1",
                     "_links": {**CM_LINKS, "schematic": f"{BASE}/api/v1/schematics/s1",
                                "self": f"{BASE}/api/v1/clustermachines/m1/config-status"}})
    tv = rendered(res("ClusterMachineTalosVersion", "m1", spec("ClusterMachineTalosVersionSpec", talos_version="1.8"),
                      labels={C: "c1"}))
    assert_doc(tv, {"id": "m1", "namespace": "default", "talos_version": "1.8",
                    "_links": {**CM_LINKS, "self": f"{BASE}/api/v1/clustermachines/m1/talos-version"}})


def test_cluster_machine_config_is_size_only() -> None:
    content = "machine:\n  token: ***\n  name: é\n"
    doc = rendered(res("RedactedClusterMachineConfig", "m1", spec("RedactedClusterMachineConfigSpec", data=content),
                       labels={C: "c1"}))
    assert_doc(doc, {"id": "m1", "namespace": "default", "config_size": len(content.encode()),
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "clustermachine": f"{BASE}/api/v1/clustermachines/m1",
                                "self": f"{BASE}/api/v1/clustermachines/m1/config"}})
    assert "token" not in json.dumps(doc)


def test_machine_class() -> None:
    doc = rendered(res("MachineClass", "mc", spec("MachineClassSpec", match_labels=["a=b"],
                                                  auto_provision=specs_pb2.MachineClassSpec.Provision())))
    assert_doc(doc, {"id": "mc", "namespace": "default", "match_labels": ["a=b"], "auto_provision": True,
                     "_links": {"self": f"{BASE}/api/v1/machineclasses/mc"}})
    assert "auto_provision" not in rendered(res("MachineClass", "mc"))


# --- etcd backups ---------------------------------------------------------------------------------

def test_etcd_backup_time_layout_and_uint64() -> None:
    message = specs_pb2.EtcdBackupSpec(snapshot="snap", size=2**40)
    message.created_at.FromDatetime(datetime(2025, 3, 4, 5, 6, 7, 890000))
    doc = rendered(res("EtcdBackup", "c1-1741064767",
                       json_format.MessageToDict(message, preserving_proto_field_name=True), labels={C: "c1"}))
    assert_doc(doc, {"id": "c1-1741064767", "namespace": "external", "snapshot": "snap",
                     "created_at": "2025-03-04T05:06:07Z", "size": 2**40,
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "self": f"{BASE}/api/v1/etcdbackups/c1-1741064767"}})


def test_etcd_backup_status_links_follow_backup_path() -> None:
    doc = rendered(res("EtcdBackupStatus", "c1", spec("EtcdBackupStatusSpec", status=1)), path_id="c1-17")
    assert_doc(doc, {"id": "c1", "namespace": "metrics", "status": "Ok",
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1", "etcdbackup": f"{BASE}/api/v1/etcdbackups/c1-17",
                                "self": f"{BASE}/api/v1/etcdbackups/c1-17/status"}})
    assert rendered(res("EtcdBackupStatus", "c1"))["status"] == "Unknown"


def test_etcd_manual_backup() -> None:
    message = specs_pb2.EtcdManualBackupSpec()
    message.backup_at.FromSeconds(1_700_000_000)
    doc = rendered(res("EtcdManualBackup", "c1", json_format.MessageToDict(message, preserving_proto_field_name=True)))
    assert_doc(doc, {"id": "c1", "namespace": "ephemeral", "backup_at": "2023-11-14T22:13:20Z",
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "self": f"{BASE}/api/v1/etcd-manual-backups/c1"}})


# --- schematics, versions, misc -------------------------------------------------------------------

def test_schematic_derived_document() -> None:
    doc = json.loads(projections.schematic("abc", 3, {"extensions": ["x"], "full_id": "abc"})
                     .replace(projections.LINK, BASE))
    assert_doc(doc, {"id": "abc", "namespace": "default", "extensions": ["x"], "machine_count": 3,
                     "_links": {"self": f"{BASE}/api/v1/schematics/abc"}})
    assert "metadata" not in doc


def test_schematic_configuration() -> None:
    doc = rendered(res("SchematicConfiguration", "m1", spec("SchematicConfigurationSpec", schematic_id="s1")))
    assert_doc(doc, {"id": "m1", "namespace": "default", "schematic_id": "s1",
                     "_links": {"schematic": f"{BASE}/api/v1/schematics/s1",
                                "self": f"{BASE}/api/v1/schematic-configurations/m1"}})


def test_ongoing_task_type_from_details() -> None:
    task = specs_pb2.OngoingTaskSpec(title="Upgrading", resource_id="c1")
    task.talos_upgrade.phase = 1
    doc = rendered(res("OngoingTask", "c1-talos-update",
                       json_format.MessageToDict(task, preserving_proto_field_name=True), labels={C: "c1"}))
    assert_doc(doc, {"id": "c1-talos-update", "namespace": "ephemeral", "title": "Upgrading", "resource_id": "c1",
                     "task_type": "talos_upgrade",
                     "_links": {"cluster": f"{BASE}/api/v1/clusters/c1",
                                "self": f"{BASE}/api/v1/ongoingtasks/c1-talos-update"}})
    bare = rendered(res("OngoingTask", "t", labels={C: "c1"}))
    assert body(bare)["title"] == "" and "task_type" not in bare and "cluster" not in bare["_links"]


@pytest.mark.parametrize(("kind", "message", "fields", "expected", "route"), [
    ("KubernetesVersion", "KubernetesVersionSpec", {"version": "1.31.1"}, {"version": "1.31.1"},
     "/kubernetes-versions/x"),
    ("ExtensionsConfiguration", "ExtensionsConfigurationSpec", {"extensions": ["e"]}, {"extensions": ["e"]},
     "/extensions-configurations/x"),
    ("KernelArgs", "KernelArgsSpec", {"args": ["a=1"]}, {"args": ["a=1"]}, "/kernel-args/x"),
    ("LoadBalancerConfig", "LoadBalancerConfigSpec", {"bind_port": "6443", "endpoints": ["e"]},
     {"bind_port": "6443", "endpoints": ["e"]}, "/loadbalancer-configs/x"),
    ("LoadBalancerStatus", "LoadBalancerStatusSpec", {"healthy": True}, {"healthy": True}, "/loadbalancers/x/status"),
    ("MachineRequestSet", "MachineRequestSetSpec", {"provider_id": "p", "machine_count": 3},
     {"provider_id": "p", "machine_count": 3, "grpc_tunnel": "UNSET"}, "/machine-request-sets/x"),
    ("InstallationMedia", "InstallationMediaSpec", {"name": "ISO", "contentType": "application/x-iso"},
     {"name": "ISO", "content_type": "application/x-iso"}, "/installation-medias/x"),
    ("InfraMachineConfig", "InfraMachineConfigSpec", {"cordoned": True, "acceptance_status": 1},
     {"power_state": "POWER_STATE_DEFAULT", "acceptance_status": "ACCEPTED", "cordoned": True},
     "/infra-machine-configs/x"),
])
def test_simple_documents(kind: str, message: str, fields: dict, expected: dict, route: str) -> None:
    doc = rendered(res(kind, "x", spec(message, **fields)))
    namespace = catalog.by_name(kind).namespace
    extra_links = {"machine": f"{BASE}/api/v1/machines/x"} if kind == "InfraMachineConfig" else {}
    assert_doc(doc, {"id": "x", "namespace": namespace, **expected,
                     "_links": {**extra_links, "self": f"{BASE}/api/v1{route}"}})


def test_exposed_service_id_with_slash_is_encoded() -> None:
    doc = rendered(res("ExposedService", "c1/grafana/3000", spec("ExposedServiceSpec", port=3000, url="https://x",
                                                                  has_explicit_alias=True)))
    assert_doc(doc, {"id": "c1/grafana/3000", "namespace": "default", "port": 3000, "url": "https://x",
                     "has_explicit_alias": True,
                     "_links": {"self": f"{BASE}/api/v1/exposed-services/c1%2Fgrafana%2F3000"}})


def test_image_pull_request_and_status() -> None:
    nil = specs_pb2.ImagePullRequestSpec.NodeImageList
    doc = rendered(res("ImagePullRequest", "c1", spec("ImagePullRequestSpec",
                                                      node_image_list=[nil(node="n1", images=["i"]), nil(node="n2")])))
    assert_doc(doc, {"id": "c1", "namespace": "default",
                     "node_image_list": [{"node": "n1", "images": ["i"]}, {"node": "n2"}],
                     "_links": {"self": f"{BASE}/api/v1/image-pull-requests/c1",
                                "status": f"{BASE}/api/v1/image-pull-requests/c1/status"}})
    st = rendered(res("ImagePullStatus", "c1", spec("ImagePullStatusSpec", processed_count=2, total_count=5)))
    assert_doc(st, {"id": "c1", "namespace": "default", "processed_count": 2, "total_count": 5,
                    "_links": {"request": f"{BASE}/api/v1/image-pull-requests/c1",
                               "self": f"{BASE}/api/v1/image-pull-requests/c1/status"}})


# --- cross-cutting --------------------------------------------------------------------------------

def test_metadata_object() -> None:
    resource = res("Cluster", "c1", labels={"z": "1", "a": "2"}, annotations={"note": "x"}, version=7,
                   phase="tearingDown", owner="ClusterController")
    doc = rendered(resource)
    assert list(doc)[-2:] == ["metadata", "_links"]
    assert doc["metadata"] == {"version": 7, "created": "2025-01-02T03:04:05Z", "updated": "2025-01-02T03:04:05Z",
                               "phase": "tearingDown", "owner": "ClusterController", "labels": {"a": "2", "z": "1"},
                               "annotations": {"note": "x"}}
    assert list(doc["metadata"]["labels"]) == ["a", "z"]


def test_go_escaping_and_control_characters() -> None:
    text = projections.render(res("ConfigPatch", "p", {"data": "<a>&\x01\u2028é"}), lambda *_: None)
    assert "\\u003ca\\u003e\\u0026\\u0001\\u2028é" in text
    # the only raw control characters are link placeholders
    assert text.count("\x01") == 1 and '"self":"\x01/api/v1/configpatches/p"' in text


def test_kinds_without_documents() -> None:
    for name in ("Kubeconfig", "MachineStatus", "ClusterStatusMetrics", "SysVersion", "ClusterKubernetesNodes"):
        assert projections.render(res(name, "x"), lambda *_: None) is None
    unknown = StoredResource("default", "Unknown.omni.sidero.dev", "x", 1)
    assert projections.render(unknown, lambda *_: None) is None


def test_every_routed_kind_renders_or_is_derived() -> None:
    derived = {"Kubeconfig", "MachineStatus", "ClusterKubernetesNodes"}
    for kind in catalog.KINDS:
        if kind.routes and kind.name not in derived:
            assert kind.type in projections.DOCUMENTS, kind.name
            text = projections.render(res(kind.name, "x"), lambda *_: None)
            json.loads(text.replace(projections.LINK, BASE).replace(projections.PATH_ID, "p"))
