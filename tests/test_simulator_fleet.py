"""The generated fleet and its churn: complete, internally consistent, deterministic for a seed."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from models import catalog
from omni_client.wire import specs_pb2
from simulator import compression, export, fleet, metrics, yamlspec
from simulator.churn import Churn
from simulator.store import Store
from tests.simulator_fixtures import START_NS, fake_clock

L = "omni.sidero.dev/"
CLUSTER, MACHINE_SET = L + "cluster", L + "machine-set"
ROLE_CP, ROLE_WORKER = L + "role-controlplane", L + "role-worker"


def build(seed: int = 5, clusters: int = 12, machines: int = 300) -> tuple[Store, fleet.Fleet]:
    store = Store(clock=fake_clock())
    return store, fleet.build(store, seed=seed, clusters=clusters, machines=machines, now=START_NS)


def items(store: Store, name: str) -> dict:
    kind = catalog.by_name(name)
    return {r.id: r for r in store.items(kind.namespace, kind.type)}


def check_consistency(store: Store) -> None:
    machines, statuses = items(store, "Machine"), items(store, "MachineStatus")
    clusters, sets = items(store, "Cluster"), items(store, "MachineSet")
    set_nodes, cluster_machines = items(store, "MachineSetNode"), items(store, "ClusterMachine")
    assert set(machines) == set(statuses)
    for name in ("ClusterMachineStatus", "ClusterMachineConfigStatus", "ClusterMachineTalosVersion",
                 "RedactedClusterMachineConfig", "MachineUpgradeStatus", "SchematicConfiguration"):
        assert set(items(store, name)) == set(cluster_machines), name
    for id_, cm in cluster_machines.items():
        cluster, machine_set = cm.labels[CLUSTER], cm.labels[MACHINE_SET]
        assert id_ in machines
        assert statuses[id_].labels.get(CLUSTER) == cluster
        assert statuses[id_].spec.cluster == cluster
        assert set_nodes[id_].labels[MACHINE_SET] == machine_set
        assert machine_set in sets and sets[machine_set].labels[CLUSTER] == cluster
        assert cluster in clusters
        assert (ROLE_CP in cm.labels) != (ROLE_WORKER in cm.labels)
        assert (ROLE_CP in cm.labels) == machine_set.endswith("-control-planes")
    for id_, status in statuses.items():
        allocated = id_ in cluster_machines
        assert (CLUSTER in status.labels) == allocated
        assert (L + "available" in status.labels) == (not allocated)
        assert (L + "connected" in status.labels) == status.spec.connected
        assert status.labels[L + "talos-version"] == status.spec.talos_version
    for name, cluster in clusters.items():
        assert {f"{name}-control-planes", f"{name}-workers"} <= set(sets)
        for per_cluster in ("ClusterStatus", "ClusterBootstrapStatus", "ClusterEndpoint", "KubernetesStatus",
                            "TalosUpgradeStatus", "KubernetesUpgradeStatus", "LoadBalancerConfig"):
            assert name in items(store, per_cluster), (per_cluster, name)
        assert f"{name}-control-planes" in items(store, "ControlPlaneStatus")
        expected_phase = "tearingDown" if name in items(store, "ClusterDestroyStatus") else "running"
        assert cluster.phase == expected_phase
    assert set(items(store, "MachineSetStatus")) == set(sets)
    for set_id, status in items(store, "MachineSetStatus").items():
        members = [i for i, n in set_nodes.items() if n.labels[MACHINE_SET] == set_id]
        assert status.spec.machines.total == len(members), set_id
    for name, status in items(store, "ClusterStatus").items():
        members = [i for i, cm in cluster_machines.items() if cm.labels[CLUSTER] == name]
        assert status.spec.machines.total == len(members)
        assert status.spec.machines.connected == sum(statuses[i].spec.connected for i in members)
    for id_, service in items(store, "ExposedService").items():
        assert "/" in id_ and service.labels[CLUSTER] in clusters
    for patch in items(store, "ConfigPatch").values():
        assert patch.owner == "" and (CLUSTER in patch.labels or L + "machine" in patch.labels)
    check_metrics(store)


def check_metrics(store: Store) -> None:
    statuses = list(items(store, "MachineStatus").values())
    machine_metrics = items(store, "MachineStatusMetrics")["metrics"].spec
    assert machine_metrics.registered_machines_count == len(items(store, "Machine"))
    assert machine_metrics.allocated_machines_count == len(items(store, "ClusterMachine"))
    assert machine_metrics.connected_machines_count == sum(s.spec.connected for s in statuses)
    assert dict(machine_metrics.platforms) == dict(Counter(s.spec.platform_metadata.platform for s in statuses))
    cluster_statuses = list(items(store, "ClusterStatus").values())
    status_metrics = items(store, "ClusterStatusMetrics")["metrics"].spec
    assert status_metrics.not_ready_count == sum(not s.spec.ready for s in cluster_statuses)
    assert dict(status_metrics.phases) == dict(Counter(s.spec.phase for s in cluster_statuses))
    features = items(store, "ClusterMetrics")["metrics"].spec.features
    assert features["workload_proxy"] == sum(c.spec.features.enable_workload_proxy
                                             for c in items(store, "Cluster").values())


def test_every_stored_kind_is_populated():
    store, _ = build()
    empty = [kind.name for kind in catalog.stored_kinds() if not store.count(kind.namespace, kind.type)]
    assert empty == []
    for kind in catalog.KINDS:
        if kind.singleton_id:
            assert list(items(store, kind.name)) == [kind.singleton_id]


def test_fleet_is_consistent_and_sized_as_asked():
    store, generated = build()
    assert len(items(store, "Machine")) == 300 and len(items(store, "Cluster")) == 12
    allocated = len(items(store, "ClusterMachine"))
    assert 0.75 * 300 <= allocated < 300  # most machines allocated, some free
    control_planes = Counter(len(c.sets[c.control_planes]) for c in generated.clusters.values())
    assert control_planes[1] and control_planes[3]  # small and HA clusters both occur
    check_consistency(store)


def test_owners_and_labels_follow_omni():
    store, _ = build()
    for name in ("Cluster", "MachineSet", "MachineLabels", "ConfigPatch", "KernelArgs"):
        assert {r.owner for r in items(store, name).values()} <= {""}, name
    for name in ("ClusterStatus", "MachineStatus", "ClusterMachineStatus", "MachineSetStatus"):
        assert all(r.owner.endswith("Controller") for r in items(store, name).values()), name
    for machine_set in items(store, "MachineSet").values():
        roles = [k for k in (ROLE_CP, ROLE_WORKER) if k in machine_set.labels]
        assert len(roles) == 1 and machine_set.labels[roles[0]] == ""
    cms = next(iter(items(store, "ClusterMachineStatus").values()))
    assert {CLUSTER, MACHINE_SET, L + "hostname", L + "node-name"} <= set(cms.labels)


def test_same_seed_same_fleet_other_seed_other_fleet():
    first = list(export.export_lines(build(seed=9)[0]))
    second = list(export.export_lines(build(seed=9)[0]))
    other = list(export.export_lines(build(seed=10)[0]))
    assert first == second
    assert first != other


def test_export_format():
    store, _ = build(clusters=3, machines=20)
    lines = list(export.export_lines(store))
    records = [json.loads(line) for line in lines]
    assert [(r["namespace"], r["type"], r["id"]) for r in records] == sorted(
        (r["namespace"], r["type"], r["id"]) for r in records)
    assert set(records[0]) == {"namespace", "type", "id", "version", "phase", "labels", "annotations", "spec"}
    redacted = next(r for r in records if r["type"] == catalog.by_name("RedactedClusterMachineConfig").type)
    assert redacted["spec"]["data"].startswith("version: v1alpha1")
    assert "compressed_data" not in redacted["spec"]
    # Specs carry the proto's field names (snake_case where the proto says so), proto3 defaults omitted.
    proto_names = {field.name for field in specs_pb2.ClusterStatusSpec.DESCRIPTOR.fields}
    statuses = [r["spec"] for r in records if r["type"] == catalog.by_name("ClusterStatus").type]
    assert len(statuses) == 3
    for spec in statuses:
        assert {"available", "machines", "phase", "kubernetesAPIReady", "has_connected_control_planes"} <= set(spec)
        assert set(spec) <= proto_names, set(spec) - proto_names


def test_churn_keeps_the_fleet_consistent_and_is_deterministic():
    runs = []
    for _ in range(2):
        store, generated = build(seed=3, clusters=10, machines=250)
        churn = Churn(store, generated)
        produced = churn.apply_n(6000)
        assert produced >= 6000 and store.position == produced
        check_consistency(store)
        runs.append(list(export.export_lines(store)))
        counts = Counter(change.res.type for coll in store.collections.values() for change in coll.log)
        assert counts[catalog.by_name("OngoingTask").type]  # upgrades ran
        assert counts[catalog.by_name("Machine").type]  # machines joined, left or flapped
    assert runs[0] == runs[1]
    assert 200 <= len(items(store, "Machine")) <= 300  # roughly stable in size


def test_teardown_precedes_destroy_in_churn():
    store, generated = build(seed=4, clusters=6, machines=120)
    Churn(store, generated).apply_n(4000)
    for coll in store.collections.values():
        if coll.namespace == catalog.EXTERNAL:
            continue
        for change in coll.log:
            if change.event_type == 2:
                assert change.res.phase == "tearingDown", (coll.type, change.res.id)


def test_metrics_refresh_tracks_changes():
    store, generated = build(clusters=4, machines=60)
    machine_status = items(store, "MachineStatus")
    target = next(iter(machine_status.values()))
    store.update(target, labels={k: v for k, v in target.labels.items() if k != L + "connected"})
    metrics.refresh(store)
    count = items(store, "MachineStatusMetrics")["metrics"].spec.connected_machines_count
    assert count == sum(L + "connected" in r.labels for r in items(store, "MachineStatus").values())


def test_churn_spaces_metrics_refreshes_by_their_cost(monkeypatch):
    store, generated = build(clusters=4, machines=60)
    churn = Churn(store, generated)
    assert churn.metrics_every == 1.0
    ticks = iter([100.0, 100.2])  # a refresh that took 0.2 s
    monkeypatch.setattr("simulator.churn.time.monotonic", lambda: next(ticks))
    churn.refresh_metrics()
    assert churn.metrics_every == pytest.approx(4.0)  # at most ~5 % of the loop


def test_yaml_spec_is_go_style_and_parses_back():
    yaml = pytest.importorskip("yaml")
    store, _ = build(clusters=3, machines=20)
    for res in store.all_resources():
        text = res.yaml_spec()
        parsed = yaml.safe_load(text)
        assert isinstance(parsed, dict), res.type
        assert all("_" not in key for key in parsed if res.type != catalog.by_name("ClusterMachine").type)
    redacted = next(iter(items(store, "RedactedClusterMachineConfig").values()))
    text = compression.plain_text(redacted.spec, "compressed_data", "data")
    assert text.startswith("version: v1alpha1") and yaml.safe_load(redacted.yaml_spec())["data"] == text
    status = specs_pb2.ClusterStatusSpec(kubernetesAPIReady=True, phase=3)
    parsed = yaml.safe_load(yamlspec.render(status))
    assert parsed["kubernetesapiready"] is True and parsed["phase"] == 3 and parsed["machines"] is None
    tricky = specs_pb2.ConfigPatchSpec(data=" leading\n\ttabs: \"x\"\n\n\n")
    assert yaml.safe_load(yamlspec.render(tricky))["data"] == tricky.data
    for text in ("yes", "1.34", "123", "a: b", "#x", "", "x\r\ny", "trailing\n\n"):
        assert yaml.safe_load(yamlspec.render(specs_pb2.ConfigPatchSpec(data=text)))["data"] == text
