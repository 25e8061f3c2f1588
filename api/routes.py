"""The route table: every GET route of seed-api.md §4.2 as data.

A route names the catalog kind it reads, whether it answers one document or a collection, how the id
in its path maps to a stored resource (the seed's wrong namespaces and ids are fixed here, §8), which
query filters it takes, and, for the few routes not served from a stored document, which derivation
computes the answer. ``api.resources`` turns each row into a responder; ``api.openapi`` documents them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from models import catalog
from models.catalog import LABEL_CLUSTER, LABEL_MACHINE, LABEL_MACHINE_SET
from models.tokens import READ, SENSITIVE

API = "/api/v1"


class Shape(enum.Enum):
    ITEM = "item"
    COLLECTION = "collection"


class KeyMap(enum.Enum):
    """How the path's ``{id}`` finds the stored resource."""

    SAME = "same"  # stored id = path id
    SINGLETON = "singleton"  # the kind's singleton id (metrics); the path id only shapes links
    SUFFIX = "suffix"  # stored id = path id + suffix (`<cluster>-control-planes`)
    VIA_LABEL = "via-label"  # stored id = a label of another resource with the path id
    NEWEST_WITH_LABEL = "newest-with-label"  # the newest resource carrying label = path id


class Derived(enum.Enum):
    """Answers computed at query time from stored rows instead of a stored document."""

    KUBERNETES_NODES = "kubernetes-nodes"
    KUBERNETES_NODE = "kubernetes-node"
    SCHEMATICS = "schematics"
    SCHEMATIC = "schematic"
    LIVE_ONLY = "live-only"  # not in the read model: fetched from Omni per request (kubeconfig)


class Match(enum.Enum):
    """What a query filter compares with its value."""

    LABEL = "label"  # a label of the listed resource
    LABEL_OF = "label-of"  # a label of another kind's resource with the same id
    ID = "id"  # the resource id
    SPEC = "spec"  # a top-level string field of the spec


@dataclass(frozen=True)
class Filter:
    param: str
    match: Match
    target: str = ""  # label key or spec field
    kind: str = ""  # LABEL_OF: the kind whose label is compared
    description: str = ""


@dataclass(frozen=True)
class Route:
    path: str  # Falcon template under API, seed names ({id}, {node})
    kind: str  # catalog kind name
    shape: Shape = Shape.ITEM
    key: KeyMap = KeyMap.SAME
    key_arg: str = ""  # SUFFIX: the suffix; VIA_LABEL/NEWEST_WITH_LABEL: the label key
    via: str = ""  # VIA_LABEL: the kind carrying the label; also the parent that must exist
    parent: str = ""  # a kind that must exist with the path id (else 404)
    filters: tuple[Filter, ...] = ()
    derived: Derived | None = None
    summary: str = ""
    deprecated: bool = False
    scope: str = READ  # the bearer-token scope it needs (serve --auth tokens)

    @property
    def template(self) -> str:
        return API + self.path

    @property
    def catalog_kind(self) -> catalog.Kind:
        return catalog.by_name(self.kind)

    @property
    def not_found(self) -> str:
        return f"{self.kind} not found"


CLUSTER_FILTER = Filter("cluster", Match.LABEL, LABEL_CLUSTER, description="only resources of this cluster")


def _item(path: str, kind: str, summary: str, **extra) -> Route:
    return Route(path, kind, Shape.ITEM, summary=summary, **extra)


def _list(path: str, kind: str, summary: str, *filters: Filter, **extra) -> Route:
    return Route(path, kind, Shape.COLLECTION, filters=filters, summary=summary, **extra)


ROUTES: tuple[Route, ...] = (
    # clusters
    _list("/clusters", "Cluster", "List clusters"),
    _item("/clusters/{id}", "Cluster", "Get a cluster"),
    _item("/clusters/{id}/status", "ClusterStatus", "Get a cluster's status"),
    _item("/clusters/{id}/metrics", "ClusterMetrics", "Cluster feature metrics (global singleton)",
          key=KeyMap.SINGLETON, parent="Cluster"),
    _item("/clusters/{id}/bootstrap", "ClusterBootstrapStatus", "Get a cluster's bootstrap status"),
    _item("/clusters/{id}/kubeconfig", "Kubeconfig", "A cluster's kubeconfig, fetched live from Omni (scope sensitive)",
          derived=Derived.LIVE_ONLY, parent="Cluster", scope=SENSITIVE),
    _item("/clusters/{id}/kubernetes-upgrade", "KubernetesUpgradeStatus", "Get a Kubernetes upgrade status"),
    _item("/clusters/{id}/talos-upgrade", "TalosUpgradeStatus", "Get a Talos upgrade status"),
    _item("/clusters/{id}/endpoints", "ClusterEndpoint", "Get a cluster's endpoints"),
    _item("/clusters/{id}/kubernetes-status", "KubernetesStatus", "Get a cluster's Kubernetes status"),
    _list("/clusters/{id}/kubernetes-nodes", "ClusterKubernetesNodes", "List a cluster's Kubernetes nodes",
          derived=Derived.KUBERNETES_NODES),
    _item("/clusters/{id}/kubernetes-nodes/{node}", "ClusterKubernetesNodes", "Get one Kubernetes node",
          derived=Derived.KUBERNETES_NODE),
    _item("/clusters/{id}/controlplane-status", "ControlPlaneStatus", "Get a cluster's control plane status",
          key=KeyMap.SUFFIX, key_arg="-control-planes"),
    _item("/clusters/{id}/diagnostics", "ClusterDiagnostics", "Get a cluster's diagnostics"),
    _item("/clusters/{id}/destroy-status", "ClusterDestroyStatus", "Get a cluster's destroy status"),
    _item("/clusters/{id}/workload-proxy-status", "ClusterWorkloadProxyStatus",
          "Get a cluster's workload proxy status"),
    # machines
    _list("/machines", "Machine", "List machines (with their MachineStatus fields)",
          Filter("cluster", Match.LABEL_OF, LABEL_CLUSTER, "ClusterMachine",
                 "only machines allocated to this cluster")),
    _item("/machines/{id}", "Machine", "Get a machine (with its MachineStatus fields)"),
    _item("/machines/{id}/status", "Machine", "Get a machine (deprecated alias of /machines/{id})",
          deprecated=True),
    _item("/machines/{id}/labels", "MachineLabels", "Get a machine's user labels"),
    _item("/machines/{id}/extensions", "MachineExtensions", "Get a machine's extensions"),
    _item("/machines/{id}/upgrade-status", "MachineUpgradeStatus", "Get a machine's upgrade status"),
    _item("/machines/{id}/metrics", "MachineStatusMetrics", "Machine status metrics (global singleton)",
          key=KeyMap.SINGLETON, parent="Machine"),
    _item("/machines/{id}/config-diff", "MachineConfigDiff", "Get the newest config diff of a machine",
          key=KeyMap.NEWEST_WITH_LABEL, key_arg=LABEL_MACHINE),
    # machine sets
    _list("/machinesets", "MachineSet", "List machine sets", CLUSTER_FILTER),
    _item("/machinesets/{id}", "MachineSet", "Get a machine set"),
    _item("/machinesets/{id}/status", "MachineSetStatus", "Get a machine set's status"),
    _item("/machinesets/{id}/destroy-status", "MachineSetDestroyStatus", "Get a machine set's destroy status"),
    _list("/machinesetnodes", "MachineSetNode", "List machine set nodes",
          Filter("machineset", Match.LABEL, LABEL_MACHINE_SET, description="only nodes of this machine set"),
          CLUSTER_FILTER),
    _item("/machinesetnodes/{id}", "MachineSetNode", "Get a machine set node"),
    _list("/configpatches", "ConfigPatch", "List config patches", CLUSTER_FILTER),
    _item("/configpatches/{id}", "ConfigPatch", "Get a config patch"),
    # cluster machines
    _list("/clustermachines", "ClusterMachine", "List cluster machines", CLUSTER_FILTER),
    _item("/clustermachines/{id}", "ClusterMachine", "Get a cluster machine"),
    _item("/clustermachines/{id}/status", "ClusterMachineStatus", "Get a cluster machine's status"),
    _item("/clustermachines/{id}/config-status", "ClusterMachineConfigStatus",
          "Get a cluster machine's config status"),
    _item("/clustermachines/{id}/talos-version", "ClusterMachineTalosVersion",
          "Get a cluster machine's Talos version"),
    _item("/clustermachines/{id}/config", "RedactedClusterMachineConfig",
          "Get the size of a cluster machine's config (never its content)"),
    _list("/machineclasses", "MachineClass", "List machine classes"),
    _item("/machineclasses/{id}", "MachineClass", "Get a machine class"),
    # etcd backups
    _list("/etcdbackups", "EtcdBackup", "List etcd backups", CLUSTER_FILTER),
    _item("/etcdbackups/{id}", "EtcdBackup", "Get an etcd backup"),
    _item("/etcdbackups/{id}/status", "EtcdBackupStatus", "Get the backup status of a backup's cluster",
          key=KeyMap.VIA_LABEL, key_arg=LABEL_CLUSTER, via="EtcdBackup"),
    # manual backups carry no labels in Omni: their id is the cluster.
    _list("/etcd-manual-backups", "EtcdManualBackup", "List manual etcd backups",
          Filter("cluster", Match.ID, description="only the manual backup of this cluster")),
    _item("/etcd-manual-backups/{id}", "EtcdManualBackup", "Get a manual etcd backup"),
    # schematics, configuration
    _list("/schematics", "MachineStatus", "List the schematics machines use", derived=Derived.SCHEMATICS),
    _item("/schematics/{id}", "MachineStatus", "Get a schematic in use", derived=Derived.SCHEMATIC),
    _list("/schematic-configurations", "SchematicConfiguration", "List schematic configurations"),
    _item("/schematic-configurations/{id}", "SchematicConfiguration", "Get a schematic configuration"),
    _list("/ongoingtasks", "OngoingTask", "List ongoing tasks",
          Filter("resource", Match.SPEC, "resource_id", description="only tasks about this resource id")),
    _item("/ongoingtasks/{id}", "OngoingTask", "Get an ongoing task"),
    _list("/kubernetes-versions", "KubernetesVersion", "List Kubernetes versions"),
    _item("/kubernetes-versions/{id}", "KubernetesVersion", "Get a Kubernetes version"),
    _list("/extensions-configurations", "ExtensionsConfiguration", "List extensions configurations"),
    _item("/extensions-configurations/{id}", "ExtensionsConfiguration", "Get an extensions configuration"),
    _list("/kernel-args", "KernelArgs", "List kernel args"),
    _item("/kernel-args/{id}", "KernelArgs", "Get kernel args"),
    _list("/loadbalancer-configs", "LoadBalancerConfig", "List load balancer configs"),
    _item("/loadbalancer-configs/{id}", "LoadBalancerConfig", "Get a load balancer config"),
    _item("/loadbalancers/{id}/status", "LoadBalancerStatus", "Get a load balancer's status"),
    _list("/exposed-services", "ExposedService", "List exposed services"),
    # ids are `<cluster>/<service>[/<port>]`: the rest of the path, `/` raw or as %2F.
    _item("/exposed-services/{id:path}", "ExposedService", "Get an exposed service"),
    _list("/machine-request-sets", "MachineRequestSet", "List machine request sets"),
    _item("/machine-request-sets/{id}", "MachineRequestSet", "Get a machine request set"),
    _list("/image-pull-requests", "ImagePullRequest", "List image pull requests"),
    _item("/image-pull-requests/{id}", "ImagePullRequest", "Get an image pull request"),
    _item("/image-pull-requests/{id}/status", "ImagePullStatus", "Get an image pull status"),
    _list("/installation-medias", "InstallationMedia", "List installation media"),
    _item("/installation-medias/{id}", "InstallationMedia", "Get an installation media"),
    _list("/infra-machine-configs", "InfraMachineConfig", "List infrastructure machine configs",
          Filter("machine", Match.ID, description="only the config of this machine")),
    _item("/infra-machine-configs/{id}", "InfraMachineConfig", "Get an infrastructure machine config"),
)
