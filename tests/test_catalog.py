"""The kind catalog against the facts: omni-wire.md §4 (type strings, namespaces) and seed-api.md §4.2
(every GET route). Both documents lie in ../shared beside the project root."""

from __future__ import annotations

import re

import pytest

from models import catalog
from tests.conftest import SHARED

# Routes the catalog deliberately does not serve: the seed's stubs (seed-api.md §6).
STUB_PREFIXES = ("/auth/", "/oidc/")


def _table_rows(text: str, heading: str) -> list[list[str]]:
    section = text[text.index(heading):]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not set(line) <= set("|- "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.fixture(scope="module")
def wire_doc() -> str:
    return (SHARED / "omni-wire.md").read_text()


@pytest.fixture(scope="module")
def seed_doc() -> str:
    return (SHARED / "seed-api.md").read_text()


def _wire_kinds(wire_doc: str) -> dict[str, str]:
    """COSI type string -> namespace, from the resource types table of omni-wire.md §4."""
    kinds = {}
    for row in _table_rows(wire_doc, "| Resource | COSI type string |"):
        if len(row) < 3:
            continue
        # A row may name a readable stand-in in its access column (RedactedClusterMachineConfigs).
        types = re.findall(r"`([A-Za-z]+\.[a-z.]+\.dev)`", " ".join(row))
        namespace = row[2].strip("*")
        if namespace not in ("—", "NS"):
            kinds.update(dict.fromkeys(types, namespace))
    return kinds


def _seed_get_routes(seed_doc: str) -> list[str]:
    routes = []
    for row in _table_rows(seed_doc, "### 4.2 Read routes under `/api/v1`"):
        if row[0] == "GET":
            path = re.match(r"`([^`]+)`", row[1]).group(1)
            routes.append(re.sub(r":(\w+)", r"{\1}", path))
    return routes


def test_type_strings_and_namespaces_match_omni(wire_doc: str) -> None:
    wire = _wire_kinds(wire_doc)
    assert len(wire) > 40
    for kind in catalog.KINDS:
        if kind.name == "MachineSetDestroyStatus":
            continue  # not in omni-wire.md's table; seed-api.md §8 places it in `ephemeral`
        assert kind.type in wire, f"{kind.name}: {kind.type} is not an Omni type"
        assert kind.namespace == wire[kind.type], f"{kind.name}: namespace {kind.namespace} != {wire[kind.type]}"


def test_machine_set_destroy_status_namespace(seed_doc: str) -> None:
    assert "| `/machinesets/:id/destroy-status` | `default` | `ephemeral` |" in seed_doc
    assert catalog.by_name("MachineSetDestroyStatus").namespace == catalog.EPHEMERAL


def test_every_seed_get_route_maps_to_a_kind(seed_doc: str) -> None:
    routes = _seed_get_routes(seed_doc)
    assert len(routes) == 75
    served = [route for route in routes if not route.startswith(STUB_PREFIXES)]
    assert len(served) == 71
    for route in served:
        kind = catalog.by_route(route)
        assert route in kind.routes
    assert {r for k in catalog.KINDS for r in k.routes} == set(served)


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
