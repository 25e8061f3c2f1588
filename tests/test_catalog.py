"""The kind catalog against the facts, kept as data in tests/data/: ``omni_kinds.json`` (every COSI type
string of Omni's resource table and its namespace) and ``seed_contract.json`` (every GET route of the seed
API with its response members, and the namespaces the seed got wrong). Both were transcribed once from the
project's background documents; the repository never reads anything outside itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import catalog

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def omni_kinds() -> dict[str, str]:
    """COSI type string -> namespace."""
    return json.loads((DATA / "omni_kinds.json").read_text())


@pytest.fixture(scope="module")
def seed() -> dict:
    return json.loads((DATA / "seed_contract.json").read_text())


def test_type_strings_and_namespaces_match_omni(omni_kinds: dict[str, str]) -> None:
    assert len(omni_kinds) == 53
    for kind in catalog.KINDS:
        if kind.name == "MachineSetDestroyStatus":
            continue  # not in Omni's resource table; the seed contract's namespace fixes place it
        assert kind.type in omni_kinds, f"{kind.name}: {kind.type} is not an Omni type"
        assert kind.namespace == omni_kinds[kind.type], f"{kind.name}: {kind.namespace} != {omni_kinds[kind.type]}"


def test_namespaces_the_seed_got_wrong(seed: dict) -> None:
    fixes = {route: ns for route, ns in seed["namespace_fixes"].items() if route.startswith("/")}
    assert len(fixes) == 8
    for route, namespace in fixes.items():
        assert catalog.by_route(route).namespace == namespace, route
    assert catalog.by_name("MachineSetDestroyStatus").namespace == catalog.EPHEMERAL


def test_every_seed_get_route_maps_to_a_kind(seed: dict) -> None:
    routes = [route["path"] for route in seed["routes"]]
    assert len(routes) + len(seed["stubs"]) == 75
    assert all(stub.startswith(("/auth/", "/oidc/")) for stub in seed["stubs"])  # seed-api.md §6: stubs
    assert len(routes) == 71
    for route in routes:
        kind = catalog.by_route(route)
        assert route in kind.routes
    assert {r for k in catalog.KINDS for r in k.routes} == set(routes)


def test_refused_kinds_are_never_stored() -> None:
    refused = {"Kubeconfigs", "ClusterSecrets", "ClusterMachineConfigs", "TalosConfigs"}
    for kind in catalog.KINDS:
        if kind.type.split(".")[0] in refused:
            assert not kind.stored, kind.name
    assert catalog.by_route("/clustermachines/{id}/config").type == "RedactedClusterMachineConfigs.omni.sidero.dev"


def test_seed_namespace_bugs_are_fixed() -> None:
    expected = {
        "/clusters/{id}/metrics": ("ephemeral", "ClusterMetrics.omni.sidero.dev"),
        "/machines/{id}/metrics": ("ephemeral", "MachineStatusMetrics.omni.sidero.dev"),
        "/etcdbackups": ("external", "EtcdBackups.omni.sidero.dev"),
        "/etcdbackups/{id}/status": ("metrics", "EtcdBackupStatuses.omni.sidero.dev"),
        "/etcd-manual-backups": ("ephemeral", "EtcdManualBackups.omni.sidero.dev"),
        "/ongoingtasks": ("ephemeral", "OngoingTasks.omni.sidero.dev"),
        "/installation-medias": ("ephemeral", "InstallationMedias.omni.sidero.dev"),
        "/clusters/{id}/controlplane-status": ("default", "ControlPlaneStatuses.omni.sidero.dev"),
    }
    for route, (namespace, type_) in expected.items():
        kind = catalog.by_route(route)
        assert (kind.namespace, kind.type) == (namespace, type_), route


def test_catalog_is_consistent() -> None:
    assert len({k.type for k in catalog.KINDS}) == len(catalog.KINDS)
    assert len({k.name for k in catalog.KINDS}) == len(catalog.KINDS)
    assert [k.name for k in catalog.KINDS if k.delivery is catalog.Delivery.POLL] == ["EtcdBackup"]
    singletons = {k.name for k in catalog.KINDS if k.singleton_id == "metrics"}
    assert singletons == {"ClusterMetrics", "MachineStatusMetrics", "ClusterStatusMetrics"}
    for kind in catalog.KINDS:
        assert kind.spec.endswith("Spec"), kind.name
