"""A scripted fleet history written through the real Writer at known UTC times (reports, views, rebuild).

The story, in UTC (hand-checkable; the expected answers live in tests/test_reporting.py):

- 2026-11-01 10:00  cluster prod (Talos v1.8.0, Kubernetes 1.31.0, RUNNING); machines m1, m2 in prod,
                    m3 free; all connected, Talos v1.8.0. m1/m2 have a ClusterMachine (1.31.0) and a
                    ready ClusterMachineStatus.
- 2026-11-02 08:00  m3 disconnects; 09:00 reconnects; 10:00 disconnects again (3 connected changes)
             11:00  m1 not ready; 11:30 ready again (2 ready changes)
- 2026-11-03 12:00  m1 Talos v1.9.0; 12:10 m2 Talos v1.9.0 (upgrade: 600 s)
             14:00  m1 Kubernetes 1.32.0; 14:05 m2 Kubernetes 1.32.0 (upgrade: 300 s)
- 2026-11-04 09:00  m3 destroyed (Machine and MachineStatus)
- 2026-11-05 10:00  m4 created, connected, free, Talos v1.9.0
"""

from __future__ import annotations

from datetime import UTC, datetime

from models.catalog import LABEL_CLUSTER, LABEL_MACHINE_SET, by_name
from watcher.decode import Decoded
from watcher.documents import load_projections
from watcher.items import Change
from watcher.writer import Writer

PROD = "prod"


class ScriptedWriter(Writer):
    """The real writer, observing changes at the script's times instead of the wall clock."""

    def __init__(self, engine) -> None:
        super().__init__(engine, load_projections())
        self.now = datetime(2026, 11, 1, tzinfo=UTC)

    def _observed_at(self) -> datetime:
        return self.now

    def at(self, when: str, *changes: Change) -> None:
        self.now = datetime.fromisoformat(when).replace(tzinfo=UTC)
        self.apply(list(changes))


class Fleet:
    """Versions per resource, so each change is the next COSI version."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], int] = {}
        self.created: dict[tuple[str, str], int] = {}
        self.now_micros = 0

    def change(self, kind: str, id_: str, spec: dict, labels: dict | None = None, *,
               destroyed: bool = False) -> Change:
        k = by_name(kind)
        key = (kind, id_)
        version = self.versions.get(key, 0) + (0 if destroyed else 1)
        self.versions[key] = version
        created = self.created.setdefault(key, self.now_micros)
        res = Decoded(k.namespace, k.type, id_, version, "running", "", created, self.now_micros,
                      labels or {}, {}, [], spec)
        if destroyed:
            del self.versions[key], self.created[key]
        return Change(k.stream_key, res, destroyed, None, True)


def _hardware() -> dict:
    return {"arch": "amd64", "processors": [{"core_count": 4, "thread_count": 8}, {"core_count": 4, "thread_count": 8}],
            "memory_modules": [{"size_mb": 8192}, {"size_mb": 8192}],
            "blockdevices": [{"size": "1000000000", "name": "sda"}, {"size": "500000000", "name": "sdb"}]}


def machine_status(name: str, talos: str, cluster: str = "") -> dict:
    spec = {"talos_version": talos, "connected": True, "hardware": _hardware(),
            "network": {"hostname": f"host-{name}"}, "platform_metadata": {"platform": "metal"},
            "power_state": "POWER_STATE_ON"}
    if cluster:
        spec.update(cluster=cluster, role="WORKER")
    return spec


def write_history(writer: ScriptedWriter) -> None:
    fleet = Fleet()

    def at(when: str, *changes: Change) -> None:
        fleet.now_micros = int(datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp() * 1_000_000)
        writer.at(when, *changes)

    in_prod = {LABEL_CLUSTER: PROD, LABEL_MACHINE_SET: "prod-workers"}
    first: list[Change] = [
        fleet.change("Cluster", PROD, {"talos_version": "v1.8.0", "kubernetes_version": "1.31.0"}),
        fleet.change("ClusterStatus", PROD, {"phase": "RUNNING", "ready": True, "machines": {"total": 2}}),
    ]
    for name in ("m1", "m2", "m3"):
        cluster = PROD if name != "m3" else ""
        first.append(fleet.change("MachineStatus", name, machine_status(name, "v1.8.0", cluster),
                                  in_prod if cluster else {}))
        first.append(fleet.change("Machine", name, {"connected": True, "management_address": f"fd00::{name[1]}"}))
        if cluster:
            # the status before its ClusterMachine: the first version already shows it ready
            first.append(fleet.change("ClusterMachineStatus", name, {"ready": True, "stage": "RUNNING"}, in_prod))
            first.append(fleet.change("ClusterMachine", name, {"kubernetes_version": "1.31.0"}, in_prod))
    at("2026-11-01T10:00:00", *first)

    def connected(name: str, value: bool) -> Change:
        spec = {"management_address": f"fd00::{name[1]}"}
        if value:
            spec["connected"] = True
        return fleet.change("Machine", name, spec)

    at("2026-11-02T08:00:00", connected("m3", False))
    at("2026-11-02T09:00:00", connected("m3", True))
    at("2026-11-02T10:00:00", connected("m3", False))
    at("2026-11-02T11:00:00", fleet.change("ClusterMachineStatus", "m1", {"stage": "RUNNING"}, in_prod))
    at("2026-11-02T11:30:00", fleet.change("ClusterMachineStatus", "m1", {"ready": True, "stage": "RUNNING"},
                                           in_prod))
    at("2026-11-03T12:00:00", fleet.change("MachineStatus", "m1", machine_status("m1", "v1.9.0", PROD), in_prod))
    at("2026-11-03T12:10:00", fleet.change("MachineStatus", "m2", machine_status("m2", "v1.9.0", PROD), in_prod))
    at("2026-11-03T14:00:00", fleet.change("ClusterMachine", "m1", {"kubernetes_version": "1.32.0"}, in_prod))
    at("2026-11-03T14:05:00", fleet.change("ClusterMachine", "m2", {"kubernetes_version": "1.32.0"}, in_prod))
    at("2026-11-04T09:00:00",
       fleet.change("Machine", "m3", {"management_address": "fd00::3"}, destroyed=True),
       fleet.change("MachineStatus", "m3", machine_status("m3", "v1.8.0"), destroyed=True))
    at("2026-11-05T10:00:00",
       fleet.change("MachineStatus", "m4", machine_status("m4", "v1.9.0")),
       fleet.change("Machine", "m4", {"connected": True, "management_address": "fd00::4"}))
