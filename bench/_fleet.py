"""A synthetic read model for the API benchmarks: N machines with their MachineStatus and ClusterMachine,
written in bulk the way the watcher lays rows out (documents rendered by ``models.projections``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from models import catalog, migrate, projections
from models.db import create_engine
from models.resource import StoredResource
from models.schema import kind_revisions, meta, resource_labels, resources, streams

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def machine_id(index: int) -> str:
    return f"{index:08x}-5b1c-4c1e-9d3a-{index:012x}"


def _resources(machines: int, clusters: int) -> list[StoredResource]:
    out = []
    kind = {name: catalog.by_name(name) for name in ("Machine", "MachineStatus", "ClusterMachine", "Cluster")}
    for c in range(clusters):
        out.append(StoredResource("default", kind["Cluster"].type, f"cluster-{c:03d}", 3, created=T0, updated=T0,
                                  labels={"env": "prod" if c % 2 else "dev"},
                                  spec={"kubernetes_version": "1.31.4", "talos_version": "1.9.2"}))
    for i in range(machines):
        mid, cluster = machine_id(i), f"cluster-{i % clusters:03d}"
        when = T0 + timedelta(seconds=i)
        out.append(StoredResource(
            "default", kind["Machine"].type, mid, 5, owner="SiderolinkController", created=when, updated=when,
            labels={"omni.sidero.dev/machine-request-set": "pool"} if i % 4 == 0 else {},
            spec={"management_address": f"fd00:10::{i:x}", "connected": i % 17 != 0, "use_grpc_tunnel": False}))
        out.append(StoredResource(
            "default", kind["MachineStatus"].type, mid, 9, owner="MachineStatusController", created=when, updated=when,
            labels={catalog.LABEL_CLUSTER: cluster, "omni.sidero.dev/arch": "amd64", "omni.sidero.dev/platform": "metal"},
            spec={"talos_version": "v1.9.2", "network": {"hostname": f"talos-{i:05d}", "addresses": [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}/16"]},
                  "hardware": {"arch": "amd64", "processors": [{"core_count": 8, "frequency": 3000}]},
                  "platform_metadata": {"platform": "metal"}, "role": "WORKER" if i % 5 else "CONTROL_PLANE",
                  "schematic": {"full_id": f"{i % 6:064x}", "extensions": ["siderolabs/iscsi-tools"]},
                  "connected": True}))
        out.append(StoredResource(
            "default", kind["ClusterMachine"].type, mid, 2, created=when, updated=when,
            labels={catalog.LABEL_CLUSTER: cluster, catalog.LABEL_MACHINE_SET: f"{cluster}-workers"},
            spec={"kubernetes_version": "1.31.4"}))
    return out


def build(url: str, machines: int = 10_000, clusters: int = 50) -> int:
    """Create and fill the database at ``url``; returns the head revision."""
    engine = create_engine(url)
    try:
        migrate.upgrade(engine)
        state = {r.key: r for r in _resources(machines, clusters)}
        rows, labels = [], []
        for revision, res in enumerate(state.values(), start=1):
            rows.append({"namespace": res.namespace, "type": res.type, "id": res.id, "version": res.version,
                         "phase": res.phase, "owner": res.owner, "created": res.created, "updated": res.updated,
                         "labels": res.labels, "annotations": res.annotations, "finalizers": res.finalizers,
                         "spec": res.spec, "revision": revision,
                         "document": projections.render(res, lambda ns, t, i: state.get((ns, t, i)))})
            labels += [{"namespace": res.namespace, "type": res.type, "id": res.id, "key": k, "value": v}
                       for k, v in res.labels.items()]
        with engine.begin() as conn:
            for start in range(0, len(rows), 2000):
                conn.execute(sa.insert(resources), rows[start:start + 2000])
            for start in range(0, len(labels), 5000):
                conn.execute(sa.insert(resource_labels), labels[start:start + 5000])
            conn.execute(sa.update(meta).where(meta.c.singleton == 1).values(head_revision=len(rows)))
            kinds: dict[tuple[str, str], int] = {}
            for row in rows:
                kinds[(row["namespace"], row["type"])] = row["revision"]
            conn.execute(sa.insert(kind_revisions), [
                {"namespace": namespace, "type": type_, "revision": revision}
                for (namespace, type_), revision in kinds.items()])
            conn.execute(sa.insert(streams), [
                {"namespace": k.namespace, "type": k.type, "bootstrapped": True, "bootstrapped_at": T0,
                 "last_revision": len(rows), "last_event_at": T0} for k in catalog.watched_kinds()])
        return len(rows)
    finally:
        engine.dispose()
