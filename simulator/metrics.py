"""The ``ephemeral`` metrics singletons (id ``metrics``), computed from the store's current contents so
they always agree with the fleet. Recomputed by churn every so often, not per event."""

from __future__ import annotations

from collections import Counter

from models import catalog
from omni_client.wire import specs_pb2 as specs
from simulator import sync
from simulator.builders import LABEL_CLUSTER, LABEL_CONNECTED, Draft
from simulator.resource import Res
from simulator.store import Store

SINGLETON = "metrics"
# Talos releases the simulated Omni considers at or near end of support.
END_OF_SUPPORT = ("v1.7.", "v1.8.")
APPROACHING_END_OF_SUPPORT = ("v1.9.",)


def _items(store: Store, name: str) -> list[Res]:
    kind = catalog.by_name(name)
    return list(store.items(kind.namespace, kind.type))


def _facts(status: Res) -> tuple:
    """What the metrics need from one MachineStatus version (memoised: versions are immutable)."""
    facts = status.memo
    if facts is None:
        spec = status.spec
        facts = status.memo = (
            spec.platform_metadata.platform or "unknown",
            "enabled" if spec.security_state.secure_boot else "disabled",
            "enabled" if spec.security_state.booted_with_uki else "disabled",
            sum(p.core_count for p in spec.hardware.processors),
            spec.talos_version.startswith(END_OF_SUPPORT),
            spec.talos_version.startswith(APPROACHING_END_OF_SUPPORT),
            spec.schematic.invalid,
        )
    return facts


def compute(store: Store) -> list[Draft]:
    statuses = _items(store, "MachineStatus")
    machine_metrics = specs.MachineStatusMetricsSpec(
        registered_machines_count=store.count(catalog.DEFAULT, catalog.by_name("Machine").type),
        connected_machines_count=sum(1 for r in statuses if LABEL_CONNECTED in r.labels),
        allocated_machines_count=sum(1 for r in statuses if LABEL_CLUSTER in r.labels),
        pending_machines_count=sum(1 for r in _items(store, "InfraMachineConfig")
                                   if r.spec.acceptance_status == specs.InfraMachineConfigSpec.PENDING),
    )
    platforms: Counter[str] = Counter()
    secure_boot: Counter[str] = Counter()
    uki: Counter[str] = Counter()
    cores = eos = approaching = invalid = 0
    for r in statuses:
        platform, secure, booted_uki, machine_cores, is_eos, is_approaching, is_invalid = _facts(r)
        platforms[platform] += 1
        secure_boot[secure] += 1
        uki[booted_uki] += 1
        cores += machine_cores
        eos += is_eos
        approaching += is_approaching
        invalid += is_invalid
    machine_metrics.platforms.update(platforms)
    machine_metrics.secure_boot_status.update(secure_boot)
    machine_metrics.uki_status.update(uki)
    machine_metrics.cores_count = cores
    machine_metrics.talos_version_end_of_support_machines_count = eos
    machine_metrics.approaching_talos_version_end_of_support_machines_count = approaching
    machine_metrics.invalid_schematic_machines_count = invalid

    features: Counter[str] = Counter()
    for r in _items(store, "Cluster"):
        f = r.spec.features
        features["workload_proxy"] += f.enable_workload_proxy
        features["disk_encryption"] += f.disk_encryption
        features["embedded_discovery_service"] += f.use_embedded_discovery_service
    cluster_metrics = specs.ClusterMetricsSpec()
    cluster_metrics.features.update(features)

    phases: Counter[int] = Counter()
    not_ready = 0
    for r in _items(store, "ClusterStatus"):
        phases[r.spec.phase] += 1
        not_ready += not r.spec.ready
    status_metrics = specs.ClusterStatusMetricsSpec(not_ready_count=not_ready)
    status_metrics.phases.update(phases)

    owner = "MetricsController"
    return [
        Draft(catalog.by_name("MachineStatusMetrics"), SINGLETON, machine_metrics, owner=owner),
        Draft(catalog.by_name("ClusterMetrics"), SINGLETON, cluster_metrics, owner=owner),
        Draft(catalog.by_name("ClusterStatusMetrics"), SINGLETON, status_metrics, owner=owner),
    ]


def refresh(store: Store, now: int | None = None, load: bool = False) -> None:
    """Bring the singletons up to date (``load``: place them without events, for the initial fleet)."""
    for d in compute(store):
        if load:
            stamp = store.clock() if now is None else now
            store.load(Res(d.kind.namespace, d.kind.type, d.id, 1, d.spec, owner=d.owner, created=stamp,
                           updated=stamp))
        else:
            sync.put(store, d)
