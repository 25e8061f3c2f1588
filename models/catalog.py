"""The catalog of Omni kinds the product reads.

One declarative row per kind: its COSI type string, namespace, spec message (in protobuf package
``specs``), how its ids are formed, how the watcher obtains it (watch stream, poll, or never) and which
seed REST routes it serves. Everything per-kind in the watcher, the simulator and the API is driven from
this table; there is no per-kind code.

Facts: Omni's resource table (types, namespaces) and the seed API's routes, kept as data in tests/data/ and
checked by tests/test_catalog.py.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

DEFAULT = "default"
EPHEMERAL = "ephemeral"
METRICS = "metrics"
EXTERNAL = "external"

LABEL_PREFIX = "omni.sidero.dev/"
LABEL_CLUSTER = "omni.sidero.dev/cluster"
LABEL_MACHINE_SET = "omni.sidero.dev/machine-set"
LABEL_MACHINE = "omni.sidero.dev/machine"
LABEL_CLUSTER_MACHINE = "omni.sidero.dev/cluster-machine"
LABEL_ROLE_CONTROLPLANE = "omni.sidero.dev/role-controlplane"
LABEL_ROLE_WORKER = "omni.sidero.dev/role-worker"


class Delivery(enum.Enum):
    """How the watcher obtains a kind."""

    WATCH = "watch"  # one kind-watch stream on cosi.resource.State/Watch
    POLL = "poll"  # listed per cluster on an interval and diffed (no live events, omni-wire.md §2.4)
    LIVE_ONLY = "live-only"  # Omni refuses State reads; obtainable only live (never stored)


@dataclass(frozen=True)
class Kind:
    """One Omni resource kind."""

    name: str
    type: str
    namespace: str
    spec: str
    ids: str
    routes: tuple[str, ...] = ()
    delivery: Delivery = Delivery.WATCH
    # compressed bytes field -> plain text sibling (omni-wire.md §5.1); SQL stores only the text.
    compressed: dict[str, str] = field(default_factory=dict)
    # Omni creates exactly one resource of this kind with this id (metrics singletons).
    singleton_id: str | None = None
    note: str = ""

    @property
    def stream_key(self) -> tuple[str, str]:
        return (self.namespace, self.type)

    @property
    def stored(self) -> bool:
        return self.delivery is not Delivery.LIVE_ONLY


def _k(name: str, type_: str, namespace: str, spec: str, ids: str, *routes: str, **extra) -> Kind:
    return Kind(name, type_, namespace, spec, ids, tuple(routes), **extra)


OMNI = ".omni.sidero.dev"

KINDS: tuple[Kind, ...] = (
    # clusters
    _k("Cluster", "Clusters" + OMNI, DEFAULT, "ClusterSpec", "cluster name", "/clusters", "/clusters/{id}"),
    _k("ClusterStatus", "ClusterStatuses" + OMNI, DEFAULT, "ClusterStatusSpec", "cluster id",
       "/clusters/{id}/status"),
    _k("ClusterMetrics", "ClusterMetrics" + OMNI, EPHEMERAL, "ClusterMetricsSpec", "singleton `metrics`",
       "/clusters/{id}/metrics", singleton_id="metrics"),
    _k("ClusterBootstrapStatus", "ClusterBootstrapStatuses" + OMNI, DEFAULT, "ClusterBootstrapStatusSpec",
       "cluster id", "/clusters/{id}/bootstrap"),
    _k("Kubeconfig", "Kubeconfigs" + OMNI, DEFAULT, "KubeconfigSpec", "cluster id", "/clusters/{id}/kubeconfig",
       delivery=Delivery.LIVE_ONLY,
       note="State reads are refused; only /management.ManagementService/Kubeconfig serves it"),
    _k("KubernetesUpgradeStatus", "KubernetesUpgradeStatuses" + OMNI, DEFAULT, "KubernetesUpgradeStatusSpec",
       "cluster id", "/clusters/{id}/kubernetes-upgrade"),
    _k("TalosUpgradeStatus", "TalosUpgradeStatuses" + OMNI, DEFAULT, "TalosUpgradeStatusSpec", "cluster id",
       "/clusters/{id}/talos-upgrade"),
    _k("ClusterEndpoint", "ClusterEndpoints" + OMNI, DEFAULT, "ClusterEndpointSpec", "cluster id",
       "/clusters/{id}/endpoints"),
    _k("KubernetesStatus", "KubernetesStatuses" + OMNI, DEFAULT, "KubernetesStatusSpec", "cluster id",
       "/clusters/{id}/kubernetes-status"),
    _k("ClusterKubernetesNodes", "ClusterKubernetesNodes" + OMNI, DEFAULT, "ClusterKubernetesNodesSpec",
       "cluster id", "/clusters/{id}/kubernetes-nodes", "/clusters/{id}/kubernetes-nodes/{node}"),
    _k("ControlPlaneStatus", "ControlPlaneStatuses" + OMNI, DEFAULT, "ControlPlaneStatusSpec",
       "`<cluster>-control-planes`", "/clusters/{id}/controlplane-status"),
    _k("ClusterDiagnostics", "ClusterDiagnostics" + OMNI, DEFAULT, "ClusterDiagnosticsSpec", "cluster id",
       "/clusters/{id}/diagnostics"),
    _k("ClusterDestroyStatus", "ClusterDestroyStatuses" + OMNI, DEFAULT, "DestroyStatusSpec", "cluster id",
       "/clusters/{id}/destroy-status"),
    _k("ClusterWorkloadProxyStatus", "ClusterWorkloadProxyStatuses" + OMNI, DEFAULT,
       "ClusterWorkloadProxyStatusSpec", "cluster id", "/clusters/{id}/workload-proxy-status"),
    _k("ClusterStatusMetrics", "ClusterStatusMetrics" + OMNI, EPHEMERAL, "ClusterStatusMetricsSpec",
       "singleton `metrics`", singleton_id="metrics"),
    # machines
    _k("Machine", "Machines" + OMNI, DEFAULT, "MachineSpec", "machine UUID", "/machines", "/machines/{id}",
       "/machines/{id}/status", note="documents join MachineStatus"),
    _k("MachineStatus", "MachineStatuses" + OMNI, DEFAULT, "MachineStatusSpec", "machine UUID", "/schematics",
       "/schematics/{id}", note="joined into Machine documents; /schematics lists the schematics in use"),
    _k("MachineLabels", "MachineLabels" + OMNI, DEFAULT, "MachineLabelsSpec", "machine UUID",
       "/machines/{id}/labels"),
    _k("MachineExtensions", "MachineExtensions" + OMNI, DEFAULT, "MachineExtensionsSpec", "machine UUID",
       "/machines/{id}/extensions"),
    _k("MachineUpgradeStatus", "MachineUpgradeStatuses" + OMNI, DEFAULT, "MachineUpgradeStatusSpec",
       "machine UUID", "/machines/{id}/upgrade-status"),
    _k("MachineStatusMetrics", "MachineStatusMetrics" + OMNI, EPHEMERAL, "MachineStatusMetricsSpec",
       "singleton `metrics`", "/machines/{id}/metrics", singleton_id="metrics"),
    _k("MachineConfigDiff", "MachineConfigDiffs" + OMNI, DEFAULT, "MachineConfigDiffSpec",
       "`<machine>-<modifiedAt>`, label omni.sidero.dev/machine", "/machines/{id}/config-diff",
       compressed={"compressed_diff": "diff"}),
    # machine sets
    _k("MachineSet", "MachineSets" + OMNI, DEFAULT, "MachineSetSpec",
       "`<cluster>-control-planes`, `<cluster>-workers`, `<cluster>-<name>`", "/machinesets", "/machinesets/{id}"),
    _k("MachineSetStatus", "MachineSetStatuses" + OMNI, DEFAULT, "MachineSetStatusSpec", "machine set id",
       "/machinesets/{id}/status"),
    _k("MachineSetDestroyStatus", "MachineSetDestroyStatuses" + OMNI, EPHEMERAL, "DestroyStatusSpec",
       "machine set id", "/machinesets/{id}/destroy-status"),
    _k("MachineSetNode", "MachineSetNodes" + OMNI, DEFAULT, "MachineSetNodeSpec", "machine UUID",
       "/machinesetnodes", "/machinesetnodes/{id}"),
    _k("ConfigPatch", "ConfigPatches" + OMNI, DEFAULT, "ConfigPatchSpec", "free-form", "/configpatches",
       "/configpatches/{id}", compressed={"compressed_data": "data"}),
    # cluster machines
    _k("ClusterMachine", "ClusterMachines" + OMNI, DEFAULT, "ClusterMachineSpec", "machine UUID",
       "/clustermachines", "/clustermachines/{id}"),
    _k("ClusterMachineStatus", "ClusterMachineStatuses" + OMNI, DEFAULT, "ClusterMachineStatusSpec",
       "machine UUID", "/clustermachines/{id}/status"),
    _k("ClusterMachineConfigStatus", "ClusterMachineConfigStatuses" + OMNI, DEFAULT,
       "ClusterMachineConfigStatusSpec", "machine UUID", "/clustermachines/{id}/config-status",
       compressed={"compressed_redacted_machine_config": "redacted_current_machine_config"}),
    _k("ClusterMachineTalosVersion", "ClusterMachineTalosVersions" + OMNI, DEFAULT,
       "ClusterMachineTalosVersionSpec", "machine UUID", "/clustermachines/{id}/talos-version"),
    _k("RedactedClusterMachineConfig", "RedactedClusterMachineConfigs" + OMNI, DEFAULT,
       "RedactedClusterMachineConfigSpec", "machine UUID", "/clustermachines/{id}/config",
       compressed={"compressed_data": "data"},
       note="readable stand-in for ClusterMachineConfigs, which Omni refuses"),
    _k("MachineClass", "MachineClasses" + OMNI, DEFAULT, "MachineClassSpec", "class name", "/machineclasses",
       "/machineclasses/{id}"),
    # etcd backups
    _k("EtcdBackup", "EtcdBackups" + OMNI, EXTERNAL, "EtcdBackupSpec", "`<cluster>-<unix seconds>`",
       "/etcdbackups", "/etcdbackups/{id}", delivery=Delivery.POLL,
       note="listable only per cluster (label term omni.sidero.dev/cluster EQUAL), no live events"),
    _k("EtcdBackupStatus", "EtcdBackupStatuses" + OMNI, METRICS, "EtcdBackupStatusSpec", "cluster id",
       "/etcdbackups/{id}/status"),
    _k("EtcdManualBackup", "EtcdManualBackups" + OMNI, EPHEMERAL, "EtcdManualBackupSpec", "cluster id",
       "/etcd-manual-backups", "/etcd-manual-backups/{id}"),
    # schematics, versions, configuration
    _k("SchematicConfiguration", "SchematicConfigurations" + OMNI, DEFAULT, "SchematicConfigurationSpec",
       "machine UUID", "/schematic-configurations", "/schematic-configurations/{id}"),
    _k("OngoingTask", "OngoingTasks" + OMNI, EPHEMERAL, "OngoingTaskSpec",
       "`<cluster>-talos-update`, `<cluster>-kubernetes-update`, ...", "/ongoingtasks", "/ongoingtasks/{id}"),
    _k("KubernetesVersion", "KubernetesVersions" + OMNI, DEFAULT, "KubernetesVersionSpec", "version string",
       "/kubernetes-versions", "/kubernetes-versions/{id}"),
    _k("ExtensionsConfiguration", "ExtensionsConfigurations" + OMNI, DEFAULT, "ExtensionsConfigurationSpec",
       "free-form", "/extensions-configurations", "/extensions-configurations/{id}"),
    _k("KernelArgs", "KernelArgs" + OMNI, DEFAULT, "KernelArgsSpec", "machine UUID", "/kernel-args",
       "/kernel-args/{id}"),
    _k("LoadBalancerConfig", "LoadBalancerConfigs" + OMNI, DEFAULT, "LoadBalancerConfigSpec", "cluster id",
       "/loadbalancer-configs", "/loadbalancer-configs/{id}"),
    _k("LoadBalancerStatus", "LoadBalancerStatuses" + OMNI, DEFAULT, "LoadBalancerStatusSpec", "cluster id",
       "/loadbalancers/{id}/status"),
    _k("ExposedService", "ExposedServices" + OMNI, DEFAULT, "ExposedServiceSpec",
       "`<cluster>/<service>[/<port>]` (contains `/`)", "/exposed-services", "/exposed-services/{id}"),
    _k("MachineRequestSet", "MachineRequestSets" + OMNI, DEFAULT, "MachineRequestSetSpec", "free-form",
       "/machine-request-sets", "/machine-request-sets/{id}"),
    _k("ImagePullRequest", "ImagePullRequests" + OMNI, DEFAULT, "ImagePullRequestSpec", "cluster id",
       "/image-pull-requests", "/image-pull-requests/{id}"),
    _k("ImagePullStatus", "ImagePullStatuses" + OMNI, DEFAULT, "ImagePullStatusSpec", "= request id",
       "/image-pull-requests/{id}/status"),
    _k("InstallationMedia", "InstallationMedias" + OMNI, EPHEMERAL, "InstallationMediaSpec", "media id",
       "/installation-medias", "/installation-medias/{id}"),
    _k("InfraMachineConfig", "InfraMachineConfigs" + OMNI, DEFAULT, "InfraMachineConfigSpec", "machine UUID",
       "/infra-machine-configs", "/infra-machine-configs/{id}"),
    # Omni itself
    _k("SysVersion", "SysVersions.system.sidero.dev", EPHEMERAL, "SysVersionSpec", "singleton `current`",
       singleton_id="current", note="backend version, shown in /health"),
)

_BY_TYPE: dict[str, Kind] = {kind.type: kind for kind in KINDS}
_BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KINDS}
_BY_ROUTE: dict[str, Kind] = {route: kind for kind in KINDS for route in kind.routes}


def by_type(type_: str) -> Kind:
    """The kind with this COSI type string; KeyError if the catalog does not know it."""
    return _BY_TYPE[type_]


def by_name(name: str) -> Kind:
    return _BY_NAME[name]


def by_route(route: str) -> Kind:
    """The kind that serves a seed route template such as ``/clusters/{id}/status``."""
    return _BY_ROUTE[route]


def stored_kinds() -> Iterator[Kind]:
    """Kinds that land in the read model (watched or polled)."""
    return (kind for kind in KINDS if kind.stored)


def watched_kinds() -> Iterator[Kind]:
    return (kind for kind in KINDS if kind.delivery is Delivery.WATCH)
