"""Churn: a realistic stream of changes that keeps the fleet consistent and roughly stable in size.

Each :meth:`Churn.step` either advances one in-flight process (an upgrade, a cluster being created or
destroyed, a machine joining or leaving a cluster) or starts a new action, picked by weight: connection
and readiness flaps, label edits, config patch changes, etcd backups, Talos and Kubernetes upgrades,
machines registering and leaving, clusters scaled, created and destroyed. Weights pull the fleet back
toward its initial size and allocation ratio. Driven step-wise (``step``/``apply_n``) it is
deterministic for a seed, given a deterministic store clock (timestamps, and the ids Omni derives from
them such as ``<cluster>-<unix seconds>`` backups, come from the clock); each step commits all its
events at once. :meth:`run` commits events at a rate in events per second, evenly: a step's events are
decided at once but committed one by one as a token bucket allows (as Omni's controllers spread a
cluster teardown over time), each stamped at its actual commit.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator

from models import catalog
from omni_client.wire import specs_pb2 as specs
from simulator import builders, compression, metrics, sync, topology
from simulator import fleet as fleetgen
from simulator.builders import Draft, K
from simulator.pacing import PacedStore
from simulator.store import Store
from simulator.topology import Cluster, Fleet, Machine

METRICS_EVERY = 1000  # events between recomputations of the metrics singletons
TARGET_DISCONNECTED = 0.03
TARGET_NOT_READY = 0.03
MAX_DIFFS_PER_MACHINE = 2
MAX_BACKUPS_PER_CLUSTER = 5

Process = Iterator[None]


class Bag:
    """An ordered set with O(1) add, remove and random pick (deterministic for a seeded rng)."""

    def __init__(self, items: list[str] | None = None) -> None:
        self._items: list[str] = []
        self._index: dict[str, int] = {}
        for item in items or ():
            self.add(item)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: str) -> bool:
        return item in self._index

    def add(self, item: str) -> None:
        if item not in self._index:
            self._index[item] = len(self._items)
            self._items.append(item)

    def discard(self, item: str) -> None:
        i = self._index.pop(item, None)
        if i is None:
            return
        last = self._items.pop()
        if i < len(self._items):
            self._items[i] = last
            self._index[last] = i

    def pick(self, rng: random.Random) -> str | None:
        return self._items[rng.randrange(len(self._items))] if self._items else None


class Churn:
    """The change generator. All calls must happen on the thread that owns the store."""

    def __init__(self, store: Store, fleet: Fleet, seed: int | None = None) -> None:
        self.store = PacedStore(store)  # writes straight through unless run() holds them
        self.fleet = fleet
        self.rng = random.Random(f"{fleet.seed if seed is None else seed}:churn")
        self.target_machines = max(1, len(fleet.machines))
        self.target_clusters = sum(1 for c in fleet.clusters.values() if not c.destroying)
        self.target_free = max(0.02, 1 - fleetgen.ALLOCATED_FRACTION)
        allocated = sum(1 for m in fleet.machines.values() if m.cluster is not None)
        self.mean_cluster_size = max(2.0, allocated / max(1, self.target_clusters))
        self.machines = Bag(list(fleet.machines))
        self.free = Bag([m.id for m in fleet.machines.values() if m.cluster is None])
        self.allocated = Bag([m.id for m in fleet.machines.values() if m.cluster is not None])
        self.disconnected = Bag([m.id for m in fleet.machines.values() if not m.connected])
        self.not_ready = Bag([m.id for m in fleet.machines.values() if m.cluster and not m.ready])
        self.busy_clusters: dict[str, str] = {}
        self.busy_machines: dict[str, str] = {}
        self.processes: list[Process] = []
        self.diffs: dict[str, list[str]] = {}
        kind = K("MachineConfigDiff")
        for res in sorted(store.items(kind.namespace, kind.type), key=lambda r: r.id):
            self.diffs.setdefault(res.labels.get(catalog.LABEL_MACHINE, ""), []).append(res.id)
        self.steps = 0
        self._since_metrics = 0
        self.metrics_every = 1.0  # seconds between metrics refreshes while churning (see refresh_metrics)
        self._actions: list[tuple[Callable[[], float], Callable[[], None]]] = [
            (lambda: 20, self._disconnect),
            (lambda: 20 * len(self.disconnected) / max(1, TARGET_DISCONNECTED * len(self.machines)), self._reconnect),
            (lambda: 10, self._not_ready),
            (lambda: 10 * len(self.not_ready) / max(1, TARGET_NOT_READY * len(self.allocated)), self._ready),
            (lambda: 4, self._edit_labels),
            (lambda: 3, self._change_patch),
            (lambda: 4, self._etcd_backup),
            (lambda: 1, self._manual_backup),
            (lambda: 0.5, self._accept_machine),
            (lambda: 1, self._start_talos_upgrade),
            (lambda: 1, self._start_kubernetes_upgrade),
            (lambda: 3 * self._ratio(self.target_machines, len(self.machines)), self._register_machine),
            (lambda: 3 * self._ratio(len(self.machines), self.target_machines), self._remove_machine),
            (lambda: 3 * self._ratio(self._free_fraction(), self.target_free), self._start_scale_up),
            (lambda: 3 * self._ratio(self.target_free, self._free_fraction()), self._start_scale_down),
            (lambda: 0.4 * self._ratio(self.target_clusters, self._live_clusters()), self._start_cluster_create),
            (lambda: 0.4 * self._ratio(self._live_clusters(), self.target_clusters), self._start_cluster_destroy),
        ]
        for c in list(fleet.clusters.values()):
            if c.destroying:
                self._spawn(self._destroy_cluster(c, torn_down=True), cluster=c.name, what="destroy")

    # -- driving -------------------------------------------------------------------------------------

    def step(self) -> int:
        """One action or one process step; returns the number of events it produced."""
        before = self.store.position
        if self.processes and self.rng.random() < 0.5:
            i = self.rng.randrange(len(self.processes))
            try:
                next(self.processes[i])
            except StopIteration:
                self.processes[i] = self.processes[-1]
                self.processes.pop()
        else:
            weights = [max(0.0, weight()) for weight, _ in self._actions]
            _, action = self.rng.choices(self._actions, weights)[0]
            action()
        self.steps += 1
        emitted = self.store.position - before
        self._since_metrics += emitted
        if self._since_metrics >= METRICS_EVERY:
            self.refresh_metrics()
        return self.store.position - before

    def apply_n(self, n: int) -> int:
        """Run steps until at least ``n`` events were produced; returns how many were."""
        start = self.store.position
        idle = 0
        while self.store.position - start < n and idle < 10_000:
            idle = 0 if self.step() else idle + 1
        self.refresh_metrics()
        return self.store.position - start

    def refresh_metrics(self) -> None:
        self._since_metrics = 0
        started = time.monotonic()
        metrics.refresh(self.store)
        # The refresh scans every MachineStatus (~0.25 s at 50k machines on a busy host): keep it under
        # ~5 % of the loop, or the paced churn loses that time's events.
        self.metrics_every = max(1.0, 20 * (time.monotonic() - started))

    async def run(self, rate: Callable[[], float], burst: float = 0.05) -> None:
        """Commit about ``rate()`` events per second, evenly, until cancelled (rate 0 pauses).

        A token bucket (holding at most ``burst`` seconds of events, at least one) releases the queued
        events of the current step one by one; the next step is decided when the queue is empty. Pausing
        or stopping commits the rest of the current step at once, so a paused fleet is at a step
        boundary. When the loop cannot keep up, the rate drops rather than bursting to catch up."""
        view = self.store
        tokens = 0.0
        last = last_metrics = time.monotonic()
        try:
            while True:
                per_second = rate()
                now = time.monotonic()
                if per_second <= 0:
                    view.flush()
                    tokens, last = 0.0, now
                    await asyncio.sleep(0.01)
                    continue
                tokens = min(max(1.0, per_second * burst), tokens + (now - last) * per_second)
                last = now
                idle = 0
                while tokens >= 1 and idle < 1000:
                    if not view.pending:
                        if now - last_metrics >= self.metrics_every:
                            last_metrics = now
                            self._held(self.refresh_metrics)
                        else:
                            self._held(self.step)
                        if not view.pending:
                            idle += 1
                            continue
                    tokens -= view.release(1)
                await asyncio.sleep(min(0.05, max(0.001, (1 - tokens) / per_second)))
        finally:
            view.flush()

    def _held(self, action: Callable[[], object]) -> None:
        self.store.hold = True
        try:
            action()
        finally:
            self.store.hold = False

    # -- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def _ratio(a: float, b: float) -> float:
        return min(25.0, (a / b) ** 4) if b > 0 else 25.0

    def _free_fraction(self) -> float:
        return len(self.free) / max(1, len(self.machines))

    def _live_clusters(self) -> int:
        return sum(1 for c in self.fleet.clusters.values() if not c.destroying)

    def _spawn(self, process: Process, cluster: str | None = None, what: str = "",
               machines: tuple[str, ...] = ()) -> None:
        if cluster is not None:
            self.busy_clusters[cluster] = what
        for mid in machines:
            self.busy_machines[mid] = what

        def guarded() -> Process:
            try:
                yield from process
            finally:
                if cluster is not None:
                    self.busy_clusters.pop(cluster, None)
                for mid in machines:
                    self.busy_machines.pop(mid, None)

        self.processes.append(guarded())

    def _idle_cluster(self, need_machines: bool = True) -> Cluster | None:
        candidates = [c for name, c in self.fleet.clusters.items()
                      if name not in self.busy_clusters and not c.destroying
                      and (not need_machines or c.machine_ids())]
        return self.rng.choice(candidates) if candidates else None

    def _idle_machine(self, bag: Bag) -> Machine | None:
        for _ in range(4):
            mid = bag.pick(self.rng)
            if mid is None:
                return None
            if mid not in self.busy_machines:
                return self.fleet.machines[mid]
        return None

    def _put(self, *drafts: Draft) -> None:
        for d in drafts:
            sync.put(self.store, d)

    def _sync_machine(self, m: Machine) -> None:
        """Machine, MachineStatus and (when allocated) ClusterMachineStatus from the model."""
        self._put(builders.machine(m), builders.machine_status(m))
        if m.cluster is not None:
            self._put(builders.cluster_machine_status(m))

    def _sync_cluster(self, c: Cluster, control_planes: bool = True, nodes: bool = True) -> None:
        self._put(builders.cluster_status(c, self.fleet))
        self._put(*(builders.machine_set_status(c, set_id, self.fleet) for set_id in c.sets))
        if control_planes:
            self._put(*builders.control_plane_drafts(c, self.fleet))
        if nodes:
            self._put(*builders.node_drafts(c, self.fleet))

    def _remove(self, name: str, id_: str) -> None:
        sync.remove(self.store, K(name), id_)

    # -- flaps ---------------------------------------------------------------------------------------

    def _set_connected(self, m: Machine, connected: bool) -> None:
        m.connected = connected
        (self.disconnected.discard if connected else self.disconnected.add)(m.id)
        self._sync_machine(m)
        if m.cluster is not None:
            self._sync_cluster(self.fleet.clusters[m.cluster], control_planes=m.controlplane)

    def _disconnect(self) -> None:
        m = self._idle_machine(self.machines)
        if m is not None and m.connected:
            self._set_connected(m, False)

    def _reconnect(self) -> None:
        m = self._idle_machine(self.disconnected)
        if m is not None:
            self._set_connected(m, True)

    def _set_ready(self, m: Machine, ready: bool) -> None:
        m.ready = ready
        (self.not_ready.discard if ready else self.not_ready.add)(m.id)
        self._sync_machine(m)
        self._sync_cluster(self.fleet.clusters[m.cluster or ""], control_planes=m.controlplane)

    def _not_ready(self) -> None:
        m = self._idle_machine(self.allocated)
        if m is not None and m.ready:
            self._set_ready(m, False)

    def _ready(self) -> None:
        m = self._idle_machine(self.not_ready)
        if m is not None and m.cluster is not None:
            self._set_ready(m, True)

    # -- small user and controller actions -------------------------------------------------------------

    def _edit_labels(self) -> None:
        m = self._idle_machine(self.machines)
        if m is None:
            return
        if m.user_labels and self.rng.random() < 0.3:
            m.user_labels = {}
            self._remove("MachineLabels", m.id)
        else:
            labels = dict(m.user_labels)
            labels["rack"] = f"r{self.rng.randrange(1, 40):02d}"
            if self.rng.random() < 0.5:
                labels["owner"] = self.rng.choice(("platform", "data", "ml", "web"))
            m.user_labels = labels
            self._put(Draft(K("MachineLabels"), m.id, specs.MachineLabelsSpec(), dict(labels)))
        self._put(builders.machine_status(m))

    def _change_patch(self) -> None:
        c = self._idle_cluster()
        if c is None:
            return
        kind = K("ConfigPatch")
        existing = sorted(r.id for r in self.store.items(kind.namespace, kind.type)
                          if r.labels.get(catalog.LABEL_CLUSTER) == c.name
                          and catalog.LABEL_CLUSTER_MACHINE not in r.labels
                          and builders.LABEL_SYSTEM_PATCH not in r.labels)
        roll = self.rng.random()
        if existing and roll < (0.25 if len(existing) < 4 else 0.6):
            self._remove("ConfigPatch", self.rng.choice(existing))
        elif existing and roll < 0.7:
            current = self.store.get(kind.namespace, kind.type, self.rng.choice(existing))
            text = compression.plain_text(current.spec, "compressed_data", "data") or ""
            self._put(builders.config_patch(current.id, text + f"# revision {current.version + 1}\n",
                                      dict(current.labels), current.annotations.get("name", "")))
        else:
            name, data = self.rng.choice(builders.PATCH_SAMPLES)
            self._put(builders.config_patch(f"400-{c.name}-{name}-{self.steps}", data, {catalog.LABEL_CLUSTER: c.name},
                                      name))
        now = self.store.clock()
        for i, mid in enumerate(c.machine_ids()):
            m = self.fleet.machines[mid]
            m.config_version += 1
            self._put(*builders.machine_config(m, c))
            if i < 3:
                self._add_diff(m, now)

    def _add_diff(self, m: Machine, now: int) -> None:
        draft = builders.machine_config_diff(m, now)
        if self.store.get(draft.kind.namespace, draft.kind.type, draft.id) is not None:
            return
        self._put(draft)
        ids = self.diffs.setdefault(m.id, [])
        ids.append(draft.id)
        while len(ids) > MAX_DIFFS_PER_MACHINE:
            self._remove("MachineConfigDiff", ids.pop(0))

    def _etcd_backup(self) -> None:
        c = self._idle_cluster(need_machines=False)
        if c is None or not c.backups:
            return
        now = self.store.clock()
        self._put(builders.etcd_backup_status(c, now, exact=True), builders.etcd_backup(c, now, self.rng))
        backups = sorted(r.id for r in self.store.items(catalog.EXTERNAL, K("EtcdBackup").type)
                         if r.labels.get(catalog.LABEL_CLUSTER) == c.name)
        for id_ in backups[:-MAX_BACKUPS_PER_CLUSTER]:
            self._remove("EtcdBackup", id_)

    def _manual_backup(self) -> None:
        c = self._idle_cluster(need_machines=False)
        if c is None:
            return
        kind = K("EtcdManualBackup")
        if self.store.get(kind.namespace, kind.type, c.name) is not None:
            self._remove("EtcdManualBackup", c.name)
        else:
            self._put(Draft(kind, c.name, specs.EtcdManualBackupSpec(backup_at=builders.timestamp(self.store.clock()))))

    def _accept_machine(self) -> None:
        kind = K("InfraMachineConfig")
        pending = sorted(r.id for r in self.store.items(kind.namespace, kind.type)
                         if r.spec.acceptance_status == specs.InfraMachineConfigSpec.PENDING)
        if pending:
            mid = self.rng.choice(pending)
            self.fleet.machines[mid].accepted = True
            self.store.modify(kind.namespace, kind.type, mid,
                              lambda s: setattr(s, "acceptance_status", specs.InfraMachineConfigSpec.ACCEPTED))

    # -- machines registering and leaving ----------------------------------------------------------------

    def _register_machine(self) -> None:
        m = fleetgen.new_machine(self.fleet, self.rng, created=self.store.clock())
        m.connected = m.ready = True
        self.machines.add(m.id)
        self.free.add(m.id)
        self._put(*builders.machine_drafts(m))

    def _remove_machine(self) -> None:
        m = self._idle_machine(self.free)
        if m is None or m.cluster is not None:
            return
        self._forget_machine(m)
        for name in ("MachineLabels", "InfraMachineConfig", "MachineStatus", "Machine"):
            self._remove(name, m.id)
        self._remove("ConfigPatch", f"200-{m.id}-install")
        for diff in self.diffs.pop(m.id, []):
            self._remove("MachineConfigDiff", diff)

    def _forget_machine(self, m: Machine) -> None:
        for bag in (self.machines, self.free, self.allocated, self.disconnected, self.not_ready):
            bag.discard(m.id)
        del self.fleet.machines[m.id]

    # -- machines joining and leaving clusters --------------------------------------------------------

    def _batch_size(self, excess_fraction: float) -> int:
        """How many machines one scaling action moves: more when the fleet is far from its target."""
        return 1 + min(24, int(max(0.0, excess_fraction) * len(self.machines) / 20))

    def _start_scale_up(self) -> None:
        c = self._idle_cluster(need_machines=False)
        if c is None:
            return
        wanted = self._batch_size(self._free_fraction() - self.target_free)
        picked = self._pick_free(wanted)
        if picked:
            self._spawn(self._join_all(picked, c), cluster=c.name, what="scale-up", machines=tuple(picked))

    def _pick_free(self, wanted: int) -> list[str]:
        candidates = (self.free.pick(self.rng) for _ in range(wanted * 3))
        usable = (mid for mid in candidates
                  if mid is not None and mid not in self.busy_machines and self.fleet.machines[mid].connected)
        return list(dict.fromkeys(usable))[:wanted]

    def _join_all(self, picked: list[str], c: Cluster) -> Process:
        for mid in picked:
            yield from self._join(self.fleet.machines[mid], c, controlplane=False)

    def _join(self, m: Machine, c: Cluster, controlplane: bool) -> Process:
        fleetgen.allocate(self.fleet, m, c, controlplane)
        self.free.discard(m.id)
        self.allocated.add(m.id)
        if not m.ready:
            self.not_ready.add(m.id)
        self._put(*builders.allocation_drafts(m, c, self.fleet, stage="INSTALLING"), builders.machine_status(m))
        self._put(builders.machine_set(c, m.machine_set or "", self.fleet))
        self._sync_cluster(c, control_planes=controlplane)
        yield
        self._put(builders.cluster_machine_status(m, "BOOTING"))
        yield
        self._put(builders.cluster_machine_status(m, "RUNNING"))
        self._sync_cluster(c, control_planes=controlplane)

    def _start_scale_down(self) -> None:
        c = self._idle_cluster()
        if c is None or len(c.sets.get(c.workers, ())) < 2:
            return
        workers = list(c.sets[c.workers])
        wanted = min(len(workers) - 1, self._batch_size(self.target_free - self._free_fraction()))
        picked = [mid for mid in self.rng.sample(workers, wanted) if mid not in self.busy_machines]
        if picked:
            self._spawn(self._leave_all(picked, c), cluster=c.name, what="scale-down", machines=tuple(picked))

    def _leave_all(self, picked: list[str], c: Cluster) -> Process:
        for mid in picked:
            yield from self._leave(self.fleet.machines[mid], c)

    def _leave(self, m: Machine, c: Cluster) -> Process:
        self._put(builders.cluster_machine_status(m, "BEFORE_DESTROY"))
        self.store.teardown(catalog.DEFAULT, K("MachineSetNode").type, m.id)
        yield
        self._put(builders.cluster_machine_status(m, "DESTROYING"))
        yield
        self._deallocate(m, c)
        self._put(builders.machine_set(c, c.workers, self.fleet))
        self._sync_cluster(c, control_planes=False)

    def _deallocate(self, m: Machine, c: Cluster) -> None:
        for name in builders.ALLOCATION_KINDS:
            self._remove(name, m.id)
        self._remove("ConfigPatch", f"300-{m.id}-install")
        fleetgen.release(self.fleet, m)
        self.allocated.discard(m.id)
        self.not_ready.discard(m.id)
        self.free.add(m.id)
        m.ready = True
        self._put(builders.machine_status(m))

    # -- upgrades ------------------------------------------------------------------------------------

    def _start_talos_upgrade(self) -> None:
        c = self._idle_cluster()
        if c is None:
            return
        newer = [v for v in topology.TALOS_VERSIONS if builders.version_key(v) > builders.version_key(c.talos_version)]
        if newer:
            self._spawn(self._talos_upgrade(c, newer[0]), cluster=c.name, what="talos-upgrade")

    def _batches(self, c: Cluster) -> list[list[Machine]]:
        machines = sorted((self.fleet.machines[mid] for mid in c.machine_ids()), key=lambda m: not m.controlplane)
        size = max(1, len(machines) // 8)
        return [machines[i:i + size] for i in range(0, len(machines), size)]

    def _talos_upgrade(self, c: Cluster, target: str) -> Process:
        previous, c.talos_version = c.talos_version, target
        task_id = f"{c.name}-talos-update"
        total = len(c.machine_ids())

        def progress(done: int) -> Draft:
            status = builders.talos_upgrade_status(c, "Upgrading", step="upgrading machines",
                                                   status=f"updating machines {done}/{total}", current=target,
                                                   last=previous)
            task = specs.OngoingTaskSpec(title=f"Upgrading Talos on cluster {c.name}", resource_id=c.name)
            task.talos_upgrade.CopyFrom(status.spec)
            self._put(Draft(K("OngoingTask"), task_id, task, owner="TalosUpgradeStatusController"))
            return status

        self._put(builders.cluster(c), progress(0))
        self._put(*(builders.machine_set_status(c, s, self.fleet, upgrading=True) for s in c.sets))
        yield
        done = 0
        for batch in self._batches(c):
            for m in batch:
                self._put(builders.machine_upgrade_status(m, c, "Upgrading", target),
                          builders.cluster_machine_status(m, "UPGRADING"),
                          builders.cluster_machine_talos_version(m, c, target))
            yield
            for m in batch:
                if m.cluster != c.name:
                    continue
                m.talos_version = target
                self._put(builders.machine_status(m), builders.cluster_machine_status(m),
                          builders.machine_upgrade_status(m, c), builders.schematic_configuration(m, c),
                          *builders.machine_config(m, c))
            done += len(batch)
            self._put(progress(done))
            yield
        self._put(builders.talos_upgrade_status(c, last=target))
        self._remove("OngoingTask", task_id)
        self._sync_cluster(c)

    def _start_kubernetes_upgrade(self) -> None:
        c = self._idle_cluster()
        if c is None:
            return
        newer = [v for v in topology.KUBERNETES_VERSIONS
                 if builders.version_key(v) > builders.version_key(c.kubernetes_version)]
        if newer:
            self._spawn(self._kubernetes_upgrade(c, newer[0]), cluster=c.name, what="kubernetes-upgrade")

    def _kubernetes_upgrade(self, c: Cluster, target: str) -> Process:
        previous, c.kubernetes_version = c.kubernetes_version, target
        task_id = f"{c.name}-kubernetes-update"
        machines = c.machine_ids()

        def progress(step: str, status: str) -> Draft:
            upgrade = builders.kubernetes_upgrade_status(c, "Upgrading", step=step, status=status, current=target,
                                                         last=previous)
            task = specs.OngoingTaskSpec(title=f"Upgrading Kubernetes on cluster {c.name}", resource_id=c.name)
            task.kubernetes_upgrade.CopyFrom(upgrade.spec)
            self._put(Draft(K("OngoingTask"), task_id, task, owner="KubernetesUpgradeStatusController"))
            return upgrade

        pull = builders.image_pull(c, self.fleet)
        pull[1].spec.processed_count = 0
        pull[1].spec.request_version = str(int(self._version_of("ImagePullRequest", c.name)) + 1)
        self._put(builders.cluster(c), progress("pulling images", "pulling images"), *pull)
        yield
        self._put(*builders.image_pull(c, self.fleet)[1:])
        pending = {mid: previous for mid in machines}
        yield
        for batch in self._batches(c):
            for m in batch:
                pending.pop(m.id, None)
                if m.cluster == c.name:
                    self._put(builders.cluster_machine(m, c))
            self._put(builders.kubernetes_status(c, self.fleet, pending),
                      progress("updating kubelets", f"{len(machines) - len(pending)}/{len(machines)}"))
            yield
        self._put(builders.kubernetes_upgrade_status(c, last=target))
        self._remove("OngoingTask", task_id)
        self._sync_cluster(c)

    def _version_of(self, name: str, id_: str) -> int:
        kind = K(name)
        res = self.store.get(kind.namespace, kind.type, id_)
        return 0 if res is None or res.version is None else res.version

    # -- clusters ----------------------------------------------------------------------------------

    def _start_cluster_create(self) -> None:
        cps = self.rng.choice((1, 3)) if self.mean_cluster_size >= 6 else 1
        wanted = cps + self.rng.randint(1, max(1, round(2 * self.mean_cluster_size) - cps))
        picked = self._pick_free(wanted)
        if len(picked) < cps + 1:
            return
        c = fleetgen.new_cluster(self.fleet, self.rng, created=self.store.clock())
        self._spawn(self._create_cluster(c, picked, cps), cluster=c.name, what="create", machines=tuple(picked))

    def _create_cluster(self, c: Cluster, picked: list[str], cps: int) -> Process:
        # The user's Cluster and MachineSets first, then (same step, so no reader sees a cluster
        # without its statuses) what the controllers derive; machines join one by one afterwards.
        drafts = builders.cluster_drafts(c, self.fleet)
        bootstrap = next(d for d in drafts if d.kind.name == "ClusterBootstrapStatus")
        bootstrap.spec.bootstrapped = False
        self._put(*drafts)
        self._sync_cluster(c)
        yield
        for i, mid in enumerate(picked):
            yield from self._join(self.fleet.machines[mid], c, controlplane=i < cps)
        self._put(Draft(bootstrap.kind, c.name, specs.ClusterBootstrapStatusSpec(bootstrapped=True),
                        owner=bootstrap.owner))
        self._sync_cluster(c)

    def _start_cluster_destroy(self) -> None:
        if self._live_clusters() <= 1:
            return
        c = self._idle_cluster(need_machines=False)
        if c is not None:
            self._spawn(self._destroy_cluster(c), cluster=c.name, what="destroy")

    def _destroy_cluster(self, c: Cluster, torn_down: bool = False) -> Process:
        if not torn_down:
            c.destroying = True
            self._put(builders.cluster(c), *(builders.machine_set(c, s, self.fleet) for s in c.sets),
                      *builders.destroy_statuses(c, self.fleet))
            for mid in c.machine_ids():
                m = self.fleet.machines[mid]
                self._put(builders.cluster_machine(m, c), *builders.allocation_drafts(m, c, self.fleet)[:1])
            self._sync_cluster(c)
            yield
        for batch in self._batches(c):
            for m in batch:
                self._deallocate(m, c)
            self._put(*builders.destroy_statuses(c, self.fleet))
            self._sync_cluster(c)
            yield
        self._remove_cluster_resources(c)
        del self.fleet.clusters[c.name]

    def _remove_cluster_resources(self, c: Cluster) -> None:
        for name in ("ConfigPatch", "ExposedService", "ExtensionsConfiguration", "MachineConfigDiff", "EtcdBackup"):
            kind = K(name)
            for id_ in sorted(r.id for r in self.store.items(kind.namespace, kind.type)
                              if r.labels.get(catalog.LABEL_CLUSTER) == c.name):
                self._remove(name, id_)
        for name in ("ClusterStatus", "ClusterBootstrapStatus", "ClusterEndpoint", "KubernetesStatus",
                     "ClusterKubernetesNodes", "ClusterDiagnostics", "ClusterWorkloadProxyStatus",
                     "KubernetesUpgradeStatus", "TalosUpgradeStatus", "LoadBalancerConfig", "LoadBalancerStatus",
                     "EtcdBackupStatus", "ImagePullRequest", "ImagePullStatus", "EtcdManualBackup"):
            self._remove(name, c.name)
        self._remove("ControlPlaneStatus", c.control_planes)
        for set_id in c.sets:
            self._remove("MachineSetStatus", set_id)
            self._remove("MachineSetDestroyStatus", set_id)
            self._remove("MachineSet", set_id)
        for suffix in ("talos-update", "kubernetes-update", "destroy"):
            self._remove("OngoingTask", f"{c.name}-{suffix}")
        self._remove("ClusterDestroyStatus", c.name)
        self._remove("Cluster", c.name)
