"""The deterministic fleet generator: a seed, a cluster count and a machine count give the same fleet
every time, timestamps included: they are offsets drawn from the seed before a fixed epoch
(:data:`EPOCH_NS`, or ``now`` when given), never the wall clock, so a restarted simulator serves the same
resources with the same ``created`` and ``updated`` and a watcher sees no change. Churn uses the store's clock.

Clusters get 1, 3 or (rarely) 5 control planes; about a fifth are small (1 control plane, up to three
workers), the rest have a heavy-tailed number of workers; each draws mostly from one platform; ~85 % of machines are allocated, the rest are free (MachineStatus label ``available``). When
there are at least two clusters the last one is caught mid-destruction, so the kinds that exist only
while tearing down (ClusterDestroyStatus, MachineSetDestroyStatus, an OngoingTask) are present too;
the first cluster uses every optional feature, so every stored kind has resources.
"""

from __future__ import annotations

import random

from models import catalog
from simulator import builders, metrics, topology
from simulator.builders import Draft
from simulator.resource import Res
from simulator.store import Store
from simulator.topology import Cluster, Fleet, Machine

ALLOCATED_FRACTION = 0.85
S = 1_000_000_000
DAY = 86_400 * S
EPOCH_NS = 1_735_689_600 * S  # 2025-01-01T00:00:00Z: "now" for the initial fleet, whenever it is generated

_MACHINE_CLASSES = {
    "bare-metal-large": ("omni.sidero.dev/platform = metal", "omni.sidero.dev/cores > 32"),
    "aws-workers": ("omni.sidero.dev/platform = aws",),
    "hcloud-small": ("omni.sidero.dev/platform = hcloud", "omni.sidero.dev/mem < 32GiB"),
    "arm64": ("omni.sidero.dev/arch = arm64",),
}
_REQUEST_SETS = {"aws-autoscale": "aws", "hcloud-pool": "hcloud"}


def new_machine(fleet: Fleet, rng: random.Random, created: int | None = None) -> Machine:
    """A freshly registered (free, maintenance-mode) machine; added to ``fleet``."""
    serial = fleet.machine_serial
    fleet.machine_serial += 1
    index = rng.choices(range(len(topology.PLATFORMS)), topology.PLATFORM_WEIGHTS)[0]
    platform = topology.PLATFORMS[index]
    region = rng.choice(platform.regions)
    groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(4))
    m = Machine(
        id=topology.new_uuid(rng), hostname=topology.hostname(rng), platform=index, region=region,
        zone=f"{region}-{rng.choice('abc')}", instance_type=rng.choice(platform.instance_types),
        ipv4=f"10.{serial // 62_500 % 250}.{serial // 250 % 250}.{2 + serial % 250}",
        siderolink=f"{topology.SIDEROLINK_PREFIX}:{groups}",
        mac="02:" + ":".join(f"{rng.getrandbits(8):02x}" for _ in range(5)),
        serial=f"{rng.getrandbits(80):020x}",
        talos_version=rng.choices(topology.TALOS_VERSIONS, (1, 3, 5, 8))[0],
        extensions=rng.choices(topology.EXTENSION_SETS, (10, 3, 3, 1, 1))[0],
        kernel_args=rng.choices(topology.KERNEL_ARG_SETS, (8, 2, 1, 1))[0],
        secure_boot=rng.random() < (0.1 if platform.cloud else 0.3),
        uki=False,
        created=(created if created is not None else fleet.now - rng.randrange(1, 400) * DAY
                 - rng.randrange(DAY)),
        connected=rng.random() < 0.97,
        ready=rng.random() < 0.97,
    )
    m.uki = m.secure_boot or rng.random() < 0.2
    if rng.random() < 0.4:
        m.user_labels = {"rack": f"r{rng.randrange(1, 40):02d}", "owner": rng.choice(("platform", "data", "ml"))}
    if platform.name == "metal" and rng.random() < 0.25:
        m.infra_provider = "bare-metal"
        m.accepted = rng.random() < 0.9
    elif platform.name in ("aws", "hcloud") and rng.random() < 0.4:
        set_id = "aws-autoscale" if platform.name == "aws" else "hcloud-pool"
        m.infra_provider, m.request_set = platform.name, set_id
        m.request_id = f"{set_id}-{serial:05d}"
    fleet.machines[m.id] = m
    return m


def new_cluster(fleet: Fleet, rng: random.Random, created: int | None = None) -> Cluster:
    """A cluster without machines; added to ``fleet``."""
    fleet.cluster_serial += 1
    name = topology.cluster_name(rng, fleet.cluster_serial)
    env = name.split("-", 1)[0]
    c = Cluster(
        name=name, uuid=topology.new_uuid(rng),
        talos_version=rng.choices(topology.TALOS_VERSIONS, (1, 3, 5, 8))[0],
        kubernetes_version=rng.choices(topology.KUBERNETES_VERSIONS, (1, 3, 5, 6))[0],
        created=created if created is not None else fleet.now - rng.randrange(5, 700) * DAY,
        workload_proxy=rng.random() < 0.4, disk_encryption=rng.random() < 0.3,
        embedded_discovery=rng.random() < 0.5, backups=rng.random() < 0.6,
        backup_interval_h=rng.choice((1, 6, 24)), bind_port=10_000 + fleet.cluster_serial,
        labels={"env": env, "team": rng.choice(("platform", "payments", "data", "ml", "web"))},
        extensions=rng.choices(topology.EXTENSION_SETS, (6, 2, 1, 1, 1))[0],
        worker_class=rng.choice(tuple(fleet.machine_classes)) if rng.random() < 0.2 else None,
        image_pull=rng.random() < 0.3, manual_backup=rng.random() < 0.1,
    )
    c.sets = {c.control_planes: {}, c.workers: {}}
    fleet.clusters[c.name] = c
    return c


def allocate(fleet: Fleet, m: Machine, c: Cluster, controlplane: bool) -> None:
    """Put a free machine into one of the cluster's machine sets (it gets the cluster's schematic)."""
    set_id = c.control_planes if controlplane else c.workers
    c.sets[set_id][m.id] = None
    m.cluster, m.machine_set, m.controlplane = c.name, set_id, controlplane
    m.talos_version = c.talos_version
    if c.extensions:
        m.extensions = c.extensions


def release(fleet: Fleet, m: Machine) -> None:
    """Take a machine out of its cluster (back to the free pool, in maintenance mode)."""
    c = fleet.clusters.get(m.cluster or "")
    if c is not None and m.machine_set in c.sets:
        c.sets[m.machine_set].pop(m.id, None)
    m.cluster, m.machine_set, m.controlplane = None, None, False


def _plan_sizes(rng: random.Random, clusters: int, budget: int) -> list[tuple[int, int]]:
    """(control planes, workers) per cluster: about a fifth are small (1 control plane, 0-3 workers),
    the rest share the remaining machines with heavy-tailed weights."""
    small = [rng.random() < 0.2 for _ in range(clusters)]
    cps = [1 if is_small else rng.choices((1, 3, 5), (25, 67, 8))[0] for is_small in small]
    while sum(cps) > budget and any(cp > 1 for cp in cps):
        i = max(range(clusters), key=lambda k: cps[k])
        cps[i] -= 2
    if sum(cps) > budget:
        cps = [1 if i < budget else 0 for i in range(clusters)]
    remaining = budget - sum(cps)
    workers = [0] * clusters
    for k in range(clusters):
        if small[k] and cps[k] and remaining:
            workers[k] = min(remaining, rng.randint(0, 3))
            remaining -= workers[k]
    weights = [rng.paretovariate(1.6) if cp and not is_small else 0.0 for cp, is_small in zip(cps, small, strict=True)]
    if not any(weights):
        weights = [1.0 if cp else 0.0 for cp in cps]
    total = sum(weights) or 1.0
    shares = [remaining * w / total for w in weights]
    extra = [int(share) for share in shares]
    leftovers = sorted(range(clusters), key=lambda k: shares[k] - extra[k], reverse=True)
    for k in leftovers[: remaining - sum(extra)]:
        extra[k] += 1
    return [(cp, w + e) for cp, w, e in zip(cps, workers, extra, strict=True)]


def generate(seed: int = 0, clusters: int = 50, machines: int = 1000, now: int | None = None) -> Fleet:
    """Decide the fleet (the model only; :func:`populate` turns it into resources); ``now`` defaults to
    :data:`EPOCH_NS`."""
    rng = random.Random(seed)
    fleet = Fleet(seed=seed, now=EPOCH_NS if now is None else now)
    fleet.machine_classes = dict(_MACHINE_CLASSES)
    fleet.request_sets = dict(_REQUEST_SETS)
    for _ in range(machines):
        new_machine(fleet, rng)
    pools: dict[int, list[Machine]] = {}
    for m in fleet.machines.values():
        pools.setdefault(m.platform, []).append(m)
    budget = min(machines, round(machines * ALLOCATED_FRACTION)) if clusters else 0
    for cps, workers in _plan_sizes(rng, clusters, budget) if clusters else ():
        c = new_cluster(fleet, rng)
        if len(fleet.clusters) == 1:
            _showcase(c)
        wanted = cps + workers
        if not wanted:
            continue
        candidates = [p for p, pool in pools.items() if pool]
        home = rng.choices(candidates, [len(pools[p]) for p in candidates])[0]
        picked: list[Machine] = []
        for p in [home, *(p for p in pools if p != home)]:
            pool = pools[p]
            take = min(len(pool), wanted - len(picked))
            picked += pool[len(pool) - take:]
            del pool[len(pool) - take:]
            if len(picked) == wanted:
                break
        for i, m in enumerate(picked):
            allocate(fleet, m, c, controlplane=i < cps)
    if len(fleet.clusters) >= 2:
        list(fleet.clusters.values())[-1].destroying = True
    _ensure_machine_kinds(fleet)
    return fleet


def _showcase(c: Cluster) -> None:
    """The first cluster uses every optional feature, so every kind exists in any fleet."""
    c.workload_proxy = c.backups = c.image_pull = c.manual_backup = True
    if not c.extensions:
        c.extensions = topology.EXTENSION_SETS[1]


def _ensure_machine_kinds(fleet: Fleet) -> None:
    """At least one machine with user labels and one managed by the bare-metal infra provider."""
    machines = list(fleet.machines.values())
    if machines and not any(m.user_labels for m in machines):
        machines[0].user_labels = {"rack": "r01"}
    if machines and not any(m.infra_provider and not m.request_set for m in machines):
        m = next((m for m in machines if not m.request_set), machines[0])
        m.infra_provider, m.request_set, m.request_id = "bare-metal", None, None


def drafts(fleet: Fleet) -> list[Draft]:
    """Every resource of the fleet, as drafts."""
    out: list[Draft] = builders.globals_(fleet)
    out += builders.meta(tuple(k for k in catalog.KINDS))
    for m in fleet.machines.values():
        out += builders.machine_drafts(m)
        if m.cluster is None and builders.rng_for(fleet, "patch", m.id).random() < 0.03:
            out.append(builders.machine_patch(None, m))
    first_allocated = next((m.id for m in fleet.machines.values() if m.cluster), None)
    for c in fleet.clusters.values():
        out += builders.cluster_drafts(c, fleet)
        for mid in c.machine_ids():
            m = fleet.machines[mid]
            out += builders.allocation_drafts(m, c, fleet)
            diff_rng = builders.rng_for(fleet, "diff", mid)
            if diff_rng.random() < 0.1 or mid == first_allocated:
                out.append(builders.machine_config_diff(m, fleet.now - diff_rng.randrange(1, 30) * DAY))
        out += builders.cluster_runtime_drafts(c, fleet)
    return out


def populate(store: Store, fleet: Fleet) -> int:
    """Load the fleet's resources into an empty store, without events; returns the number loaded.

    Resources look lived-in: controller-managed ones have been updated a number of times, user ones a
    few, timestamps lie between the owner's creation and now.
    """
    rng = random.Random(f"{fleet.seed}:populate")
    now = fleet.now
    count = 0
    for d in drafts(fleet):
        kind = d.kind
        born = _born(fleet, d)
        version = rng.randrange(1, 4) if not d.owner else rng.randrange(1, 30)
        if kind.namespace == catalog.EXTERNAL:
            version = None  # built per call by Omni, never stored: see simulator.external
        updated = born if version in (1, None) else born + rng.randrange(max(1, now - born))
        store.load(Res(kind.namespace, kind.type, d.id, version, d.spec, owner=d.owner, phase=d.phase,
                       created=born, updated=updated, finalizers=d.finalizers, labels=d.labels,
                       annotations=d.annotations))
        count += 1
    metrics.refresh(store, now=now, load=True)
    return count


def _born(fleet: Fleet, d: Draft) -> int:
    m = fleet.machines.get(d.id)
    if m is not None:
        return m.created
    cluster = fleet.clusters.get(d.labels.get(catalog.LABEL_CLUSTER) or d.id)
    if cluster is not None:
        return cluster.created
    return fleet.now - 800 * DAY


def build(store: Store, seed: int = 0, clusters: int = 50, machines: int = 1000, now: int | None = None) -> Fleet:
    """Generate and load a fleet."""
    fleet = generate(seed, clusters, machines, now)
    populate(store, fleet)
    return fleet
