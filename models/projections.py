"""Projections: a stored resource -> the JSON document the API serves for it (seed-api.md §5).

One table, one mechanism. ``DOCUMENTS`` maps each COSI type to a ``Document``: an ordered tuple of
``Field`` declarations (JSON key, where the value comes from, how it is converted, Go ``omitempty``)
and a tuple of ``_links``. ``render`` walks that table; there is no per-kind code.

Conventions of the rendered text:

- keys in Go struct declaration order, map keys sorted, ``_links`` last with its keys sorted; Go's
  ``encoding/json`` string escaping (``<``, ``>``, ``&``, U+2028/9 as ``\\uXXXX``, UTF-8 otherwise);
- every resource document carries a ``metadata`` object (COSI version, created, updated, phase, owner,
  labels, annotations) just before ``_links``; the seed never exposed them;
- a ``_links`` value is ``LINK`` (``\\x01``) followed by the percent-encoded path. The API swaps ``LINK``
  for the request's base URL in one replace. ``json.dumps`` escapes every control character found in
  data, so a raw ``\\x01`` can only be a placeholder. ``PATH_ID`` (``\\x02``) stands for the id from the
  request path, for singletons whose links depend on the path they are read through (metrics).

Specs arrive as protobuf JSON with proto field names (``models/resource.py``): enums as names, zero
values omitted, 64-bit integers as strings. Fields convert back to what the seed printed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from models import catalog
from models.catalog import LABEL_CLUSTER, LABEL_MACHINE, LABEL_MACHINE_SET
from models.resource import Key, Lookup, StoredResource

LINK = "\x01"
PATH_ID = "\x02"
API = "/api/v1"

# Pseudo types for documents derived from another resource at query time (not COSI types).
KUBERNETES_NODE = "kubernetes-node"
SCHEMATIC = "schematic"

_MISSING = object()


@dataclass(frozen=True)
class Field:
    """One JSON member. ``source`` is a path into the render context (see ``_resolve``)."""

    name: str
    source: str
    type: str = "str"  # str bool int enum strings map object array present nonempty size time oneof
    omitempty: bool = False
    zero: str = ""  # enum: the name of value 0, which protobuf JSON leaves out
    members: tuple[Field, ...] = ()  # object / array element members
    choices: tuple[str, ...] = ()  # oneof: the member names of the protobuf oneof
    optional: bool = False  # object: a Go pointer, present only when the source is set
    requires: str = ""  # a join name: the field exists only when the joined resource does
    description: str = ""


@dataclass(frozen=True)
class Document:
    """How one kind renders: fields in order, links, joined kinds (same id), metadata or not."""

    fields: tuple[Field, ...]
    links: tuple[tuple[str, str], ...] = ()
    joins: Mapping[str, str] = field(default_factory=dict)  # join name -> catalog kind name
    metadata: bool = True
    title: str = ""


# --- field constructors: keep the table below readable -------------------------------------------

def string(name: str, source: str | None = None, *, omitempty: bool = False, requires: str = "") -> Field:
    return Field(name, source or f"spec.{name}", "str", omitempty, requires=requires)


def boolean(name: str, source: str | None = None, *, omitempty: bool = False, requires: str = "") -> Field:
    return Field(name, source or f"spec.{name}", "bool", omitempty, requires=requires)


def number(name: str, source: str | None = None, *, omitempty: bool = False) -> Field:
    return Field(name, source or f"spec.{name}", "int", omitempty)


def enum(name: str, zero: str, source: str | None = None, *, omitempty: bool = False,
         requires: str = "") -> Field:
    return Field(name, source or f"spec.{name}", "enum", omitempty, zero=zero, requires=requires)


def strings(name: str, source: str | None = None, *, omitempty: bool = False) -> Field:
    return Field(name, source or f"spec.{name}", "strings", omitempty)


def mapping(name: str, source: str | None = None, *, omitempty: bool = False) -> Field:
    return Field(name, source or f"spec.{name}", "map", omitempty)


def obj(name: str, source: str, *members: Field, optional: bool = False) -> Field:
    return Field(name, source, "object", members=members, optional=optional)


def array(name: str, source: str, *members: Field, omitempty: bool = False) -> Field:
    return Field(name, source, "array", omitempty, members=members)


def derived(name: str, type_: str, source: str, *, omitempty: bool = False, choices: Iterable[str] = (),
            description: str = "") -> Field:
    return Field(name, source, type_, omitempty, choices=tuple(choices), description=description)


ID = string("id", "id")
NAMESPACE = string("namespace", "namespace")
IDENT = (ID, NAMESPACE)


def _links(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs))


# Link templates: "{source}" placeholders resolve like field sources and are percent-encoded; a link
# whose placeholder resolves empty is left out (the seed's conditional `cluster?` links).
CLUSTER_LABEL = ("cluster", API + "/clusters/{label:" + LABEL_CLUSTER + "}")
CLUSTER_OF_ID = ("cluster", API + "/clusters/{id}")
MACHINE_OF_ID = ("machine", API + "/machines/{id}")
CLUSTERMACHINE_OF_ID = ("clustermachine", API + "/clustermachines/{id}")
SCHEMATIC_LINK = ("schematic", API + "/schematics/{spec.schematic_id}")


def _self(path: str) -> tuple[str, str]:
    return ("self", API + path)


_UPGRADE_FIELDS = (
    *IDENT,
    enum("phase", "Unknown"),
    string("error", omitempty=True),
    string("step", omitempty=True),
    string("status", omitempty=True),
    string("last_upgrade_version", omitempty=True),
    string("current_upgrade_version", omitempty=True),
    strings("upgrade_versions", omitempty=True),
)

_MACHINES = (
    number("total", "total"),
    number("healthy", "healthy"),
    number("connected", "connected"),
    number("requested", "requested"),
)

_SPECS: dict[str, Document] = {
    # 5.1 clusters
    "Cluster": Document(
        (*IDENT, string("kubernetes_version"), string("talos_version"),
         obj("features", "spec.features",
             boolean("workload_proxy", "enable_workload_proxy"),
             boolean("disk_encryption", "disk_encryption"))),
        _links(_self("/clusters/{id}"), ("status", API + "/clusters/{id}/status"),
               ("metrics", API + "/clusters/{id}/metrics"), ("bootstrap", API + "/clusters/{id}/bootstrap"),
               ("machines", API + "/machines?cluster={id}")),
        title="ClusterResponse",
    ),
    "ClusterStatus": Document(
        (boolean("available"), enum("phase", "UNKNOWN"), boolean("ready"),
         boolean("kubernetes_api_ready", "spec.kubernetesAPIReady"),
         boolean("controlplane_ready", "spec.controlplaneReady"),
         boolean("has_connected_control_planes"),
         obj("machines", "spec.machines", *_MACHINES)),
        title="ClusterStatusResponse",
    ),
    "ClusterMetrics": Document((mapping("features"),), title="ClusterMetricsResponse"),
    "ClusterBootstrapStatus": Document((boolean("bootstrapped"),), title="ClusterBootstrapResponse"),
    "KubernetesUpgradeStatus": Document(
        _UPGRADE_FIELDS, _links(_self("/clusters/{id}/kubernetes-upgrade"), CLUSTER_OF_ID),
        title="KubernetesUpgradeStatusResponse"),
    "TalosUpgradeStatus": Document(
        _UPGRADE_FIELDS, _links(_self("/clusters/{id}/talos-upgrade"), CLUSTER_OF_ID),
        title="TalosUpgradeStatusResponse"),
    "ClusterEndpoint": Document(
        (*IDENT, strings("management_addresses")),
        _links(_self("/clusters/{id}/endpoints"), CLUSTER_OF_ID), title="ClusterEndpointResponse"),
    "KubernetesStatus": Document(
        (*IDENT,
         array("nodes", "spec.nodes",
               string("nodename", "nodename", omitempty=True),
               boolean("ready", "ready", omitempty=True),
               derived("kubelet", "nonempty", "kubelet_version", omitempty=True,
                       description="true when the node reports a kubelet version"),
               # the seed's `api_server` is always false with omitempty: never present, not declared.
               omitempty=True),
         array("static_pods", "spec.static_pods",
               string("nodename", "nodename", omitempty=True),
               array("pods", "static_pods",
                     string("app", "app", omitempty=True),
                     string("version", "version", omitempty=True),
                     boolean("ready", "ready", omitempty=True),
                     omitempty=True),
               omitempty=True)),
        _links(_self("/clusters/{id}/kubernetes-status"), CLUSTER_OF_ID), title="KubernetesStatusResponse"),
    "ControlPlaneStatus": Document(
        (*IDENT,
         # the seed's `message` is always "" with omitempty: never present, not declared.
         array("conditions", "spec.conditions",
               enum("type", "UnknownCondition", "type", omitempty=True),
               enum("status", "Unknown", "status", omitempty=True),
               string("reason", "reason", omitempty=True),
               omitempty=True)),
        # ids are `<cluster>-control-planes`; the route is addressed by the cluster.
        _links(_self("/clusters/{label:" + LABEL_CLUSTER + "|strip:-control-planes}/controlplane-status"),
               ("cluster", API + "/clusters/{label:" + LABEL_CLUSTER + "|strip:-control-planes}")),
        title="ControlPlaneStatusResponse"),
    "ClusterDiagnostics": Document(
        (*IDENT, array("nodes", "spec.nodes", string("id", "id"), number("num_diagnostics", "num_diagnostics"),
                       omitempty=True)),
        _links(_self("/clusters/{id}/diagnostics"), CLUSTER_OF_ID), title="ClusterDiagnosticsResponse"),
    "ClusterDestroyStatus": Document(
        (*IDENT, string("phase", omitempty=True)),
        _links(_self("/clusters/{id}/destroy-status"), CLUSTER_OF_ID), title="ClusterDestroyStatusResponse"),
    "ClusterWorkloadProxyStatus": Document(
        (*IDENT, number("num_exposed_services", omitempty=True)),
        _links(_self("/clusters/{id}/workload-proxy-status"), CLUSTER_OF_ID),
        title="ClusterWorkloadProxyStatusResponse"),
    # 5.2 machines
    "Machine": Document(
        (*IDENT, string("management_address"), boolean("connected"), boolean("use_grpc_tunnel"),
         mapping("labels", "labels", omitempty=True),
         string("hostname", "status.spec.network.hostname", omitempty=True),
         string("platform", "status.spec.platform_metadata.platform", omitempty=True),
         string("arch", "status.spec.hardware.arch", omitempty=True),
         string("talos_version", "status.spec.talos_version", omitempty=True),
         enum("role", "NONE", "status.spec.role", omitempty=True, requires="status"),
         boolean("maintenance", "status.spec.maintenance", omitempty=True),
         string("last_error", "status.spec.last_error", omitempty=True)),
        _links(_self("/machines/{id}"), CLUSTER_LABEL, ("labels", API + "/machines/{id}/labels"),
               ("extensions", API + "/machines/{id}/extensions"),
               ("upgrade-status", API + "/machines/{id}/upgrade-status"),
               ("metrics", API + "/machines/{id}/metrics")),
        joins={"status": "MachineStatus"}, title="MachineResponse"),
    "MachineLabels": Document(
        (*IDENT, mapping("labels", "labels", omitempty=True)),
        _links(_self("/machines/{id}/labels"), MACHINE_OF_ID, CLUSTER_LABEL), title="MachineLabelsResponse"),
    "MachineExtensions": Document(
        (*IDENT, strings("extensions", omitempty=True)),
        _links(_self("/machines/{id}/extensions"), MACHINE_OF_ID, CLUSTER_LABEL),
        title="MachineExtensionsResponse"),
    "MachineUpgradeStatus": Document(
        (*IDENT, string("schematic_id", omitempty=True), string("talos_version", omitempty=True),
         string("current_schematic_id", omitempty=True), string("current_talos_version", omitempty=True),
         enum("phase", "Unknown"), string("status", omitempty=True), string("error", omitempty=True),
         boolean("is_maintenance", omitempty=True)),
        _links(_self("/machines/{id}/upgrade-status"), MACHINE_OF_ID, SCHEMATIC_LINK,
               ("current_schematic", API + "/schematics/{spec.current_schematic_id}"), CLUSTER_LABEL),
        title="MachineUpgradeStatusResponse"),
    "MachineStatusMetrics": Document(
        (*IDENT, number("registered_machines_count", omitempty=True),
         number("connected_machines_count", omitempty=True), number("allocated_machines_count", omitempty=True),
         number("pending_machines_count", omitempty=True), mapping("platforms", omitempty=True),
         mapping("secure_boot_status", omitempty=True), mapping("uki_status", omitempty=True)),
        # a global singleton read through /machines/{id}/metrics: links name the machine of the path.
        _links(_self("/machines/{path}/metrics"), ("machine", API + "/machines/{path}")),
        title="MachineStatusMetricsResponse"),
    "MachineConfigDiff": Document(
        (*IDENT, string("diff", omitempty=True)),
        _links(_self("/machines/{label:" + LABEL_MACHINE + "}/config-diff"),
               ("machine", API + "/machines/{label:" + LABEL_MACHINE + "}"), CLUSTER_LABEL),
        title="MachineConfigDiffResponse"),
    # 5.3 machine sets
    "MachineSet": Document(
        (*IDENT, string("machine_class", "spec.machine_allocation.name|spec.machine_class.name", omitempty=True),
         enum("update_strategy", "Unset", omitempty=True), enum("delete_strategy", "Unset", omitempty=True)),
        _links(_self("/machinesets/{id}"), ("status", API + "/machinesets/{id}/status"), CLUSTER_LABEL),
        title="MachineSetResponse"),
    "MachineSetStatus": Document(
        (*IDENT, enum("phase", "Unknown"), boolean("ready"), string("error", omitempty=True),
         string("config_hash", omitempty=True), number("locked_updates", omitempty=True),
         obj("machines", "spec.machines", *(Field(f.name, f.source, f.type, True) for f in _MACHINES))),
        _links(_self("/machinesets/{id}/status"), ("machineset", API + "/machinesets/{id}"), CLUSTER_LABEL),
        title="MachineSetStatusResponse"),
    "MachineSetDestroyStatus": Document(
        (*IDENT, string("phase", omitempty=True)),
        _links(_self("/machinesets/{id}/destroy-status"), ("machineset", API + "/machinesets/{id}"),
               CLUSTER_LABEL),
        title="MachineSetDestroyStatusResponse"),
    "MachineSetNode": Document(
        IDENT,
        _links(_self("/machinesetnodes/{id}"), ("machineset", API + "/machinesets/{label:" + LABEL_MACHINE_SET + "}"),
               CLUSTERMACHINE_OF_ID, CLUSTER_LABEL),
        title="MachineSetNodeResponse"),
    "ConfigPatch": Document(
        (*IDENT, string("data")), _links(_self("/configpatches/{id}"), CLUSTER_LABEL), title="ConfigPatchResponse"),
    # 5.4 cluster machines
    "ClusterMachine": Document(
        (*IDENT, string("machine_id", "id", omitempty=True), string("kubernetes_version", omitempty=True),
         mapping("labels", "labels", omitempty=True)),
        _links(_self("/clustermachines/{id}"), MACHINE_OF_ID, CLUSTER_LABEL,
               ("status", API + "/clustermachines/{id}/status"),
               ("config-status", API + "/clustermachines/{id}/config-status"),
               ("talos-version", API + "/clustermachines/{id}/talos-version"),
               ("machine-status", API + "/machines/{id}/status")),
        title="ClusterMachineResponse"),
    "ClusterMachineStatus": Document(
        # the seed's `apid_available` has no source in the spec (always false, omitempty): not declared.
        (*IDENT, boolean("ready"), enum("stage", "UNKNOWN"), boolean("config_up_to_date"),
         string("last_config_error", omitempty=True), string("management_address", omitempty=True),
         enum("config_apply_status", "UNKNOWN", omitempty=True), boolean("is_removed"),
         obj("provision_status", "spec.provision_status",
             string("provider_id", "provider_id", omitempty=True),
             string("request_id", "request_id", omitempty=True), optional=True)),
        _links(_self("/clustermachines/{id}/status"), CLUSTERMACHINE_OF_ID, CLUSTER_LABEL, MACHINE_OF_ID),
        title="ClusterMachineStatusResponse"),
    "ClusterMachineConfigStatus": Document(
        (*IDENT, string("cluster_machine_config_version", omitempty=True),
         string("cluster_machine_config_sha256", omitempty=True), string("last_config_error", omitempty=True),
         string("talos_version", omitempty=True), string("schematic_id", omitempty=True)),
        _links(_self("/clustermachines/{id}/config-status"), CLUSTERMACHINE_OF_ID, SCHEMATIC_LINK,
               CLUSTER_LABEL, MACHINE_OF_ID),
        title="ClusterMachineConfigStatusResponse"),
    "ClusterMachineTalosVersion": Document(
        (*IDENT, string("talos_version", omitempty=True), string("schematic_id", omitempty=True)),
        _links(_self("/clustermachines/{id}/talos-version"), CLUSTERMACHINE_OF_ID, SCHEMATIC_LINK,
               CLUSTER_LABEL, MACHINE_OF_ID),
        title="ClusterMachineTalosVersionResponse"),
    "RedactedClusterMachineConfig": Document(
        # Only the size of the (redacted) config is exposed, never its content.
        (*IDENT, derived("config_size", "size", "spec.data", omitempty=True,
                         description="length in bytes of the redacted machine config")),
        _links(_self("/clustermachines/{id}/config"), CLUSTERMACHINE_OF_ID, CLUSTER_LABEL),
        title="ClusterMachineConfigResponse"),
    "MachineClass": Document(
        (*IDENT, strings("match_labels", omitempty=True),
         derived("auto_provision", "present", "spec.auto_provision", omitempty=True,
                 description="true when the class provisions machines automatically")),
        _links(_self("/machineclasses/{id}")), title="MachineClassResponse"),
    # 5.6 etcd backups
    "EtcdBackup": Document(
        (*IDENT, string("snapshot", omitempty=True), derived("created_at", "time", "spec.created_at", omitempty=True),
         number("size", omitempty=True)),
        _links(_self("/etcdbackups/{id}"), CLUSTER_LABEL), title="EtcdBackupResponse"),
    "EtcdBackupStatus": Document(
        # stored per cluster (id = cluster) and read through /etcdbackups/{backup id}/status.
        (*IDENT, enum("status", "Unknown", omitempty=True), string("error", omitempty=True)),
        _links(_self("/etcdbackups/{path}/status"), ("etcdbackup", API + "/etcdbackups/{path}"), CLUSTER_OF_ID),
        title="EtcdBackupStatusResponse"),
    "EtcdManualBackup": Document(
        (*IDENT, derived("backup_at", "time", "spec.backup_at", omitempty=True)),
        _links(_self("/etcd-manual-backups/{id}"), CLUSTER_OF_ID), title="EtcdManualBackupResponse"),
    # 5.5 / 5.7 configuration, versions, tasks, infra
    "SchematicConfiguration": Document(
        (*IDENT, string("schematic_id", omitempty=True), string("talos_version", omitempty=True)),
        _links(_self("/schematic-configurations/{id}"), SCHEMATIC_LINK), title="SchematicConfigurationResponse"),
    "OngoingTask": Document(
        (*IDENT, string("title"), string("resource_id", omitempty=True),
         # The seed meant the name of the set details member but always printed "unknown"; fixed.
         derived("task_type", "oneof", "spec", omitempty=True,
                 choices=("talos_upgrade", "kubernetes_upgrade", "destroy", "machine_upgrade", "secrets_rotation"))),
        _links(_self("/ongoingtasks/{id}"),
               ("cluster", API + "/clusters/{spec.resource_id&label:" + LABEL_CLUSTER + "}")),
        title="OngoingTaskResponse"),
    "KubernetesVersion": Document(
        (*IDENT, string("version", omitempty=True)), _links(_self("/kubernetes-versions/{id}")),
        title="KubernetesVersionResponse"),
    "ExtensionsConfiguration": Document(
        (*IDENT, strings("extensions", omitempty=True)), _links(_self("/extensions-configurations/{id}")),
        title="ExtensionsConfigurationResponse"),
    "KernelArgs": Document(
        (*IDENT, strings("args", omitempty=True)), _links(_self("/kernel-args/{id}")), title="KernelArgsResponse"),
    "LoadBalancerConfig": Document(
        (*IDENT, string("bind_port", omitempty=True), string("siderolink_endpoint", omitempty=True),
         strings("endpoints", omitempty=True)),
        _links(_self("/loadbalancer-configs/{id}")), title="LoadBalancerConfigResponse"),
    "LoadBalancerStatus": Document(
        (*IDENT, boolean("healthy", omitempty=True), boolean("stopped", omitempty=True)),
        _links(_self("/loadbalancers/{id}/status")), title="LoadBalancerStatusResponse"),
    "ExposedService": Document(
        (*IDENT, number("port", omitempty=True), string("label", omitempty=True),
         string("icon_base64", omitempty=True), string("url", omitempty=True), string("error", omitempty=True),
         boolean("has_explicit_alias", omitempty=True)),
        _links(_self("/exposed-services/{id}")), title="ExposedServiceResponse"),
    "MachineRequestSet": Document(
        (*IDENT, string("provider_id", omitempty=True), number("machine_count", omitempty=True),
         string("talos_version", omitempty=True), strings("extensions", omitempty=True),
         strings("kernel_args", omitempty=True), string("provider_data", omitempty=True),
         enum("grpc_tunnel", "UNSET", omitempty=True)),
        _links(_self("/machine-request-sets/{id}")), title="MachineRequestSetResponse"),
    "ImagePullRequest": Document(
        (*IDENT, array("node_image_list", "spec.node_image_list", string("node", "node"),
                       strings("images", "images", omitempty=True), omitempty=True)),
        _links(_self("/image-pull-requests/{id}"), ("status", API + "/image-pull-requests/{id}/status")),
        title="ImagePullRequestResponse"),
    "ImagePullStatus": Document(
        (*IDENT, string("last_processed_node", omitempty=True), string("last_processed_image", omitempty=True),
         string("last_processed_error", omitempty=True), number("processed_count", omitempty=True),
         number("total_count", omitempty=True), string("request_version", omitempty=True)),
        _links(_self("/image-pull-requests/{id}/status"), ("request", API + "/image-pull-requests/{id}")),
        title="ImagePullStatusResponse"),
    "InstallationMedia": Document(
        (*IDENT, string("name", omitempty=True), string("architecture", omitempty=True),
         string("profile", omitempty=True), string("content_type", "spec.contentType", omitempty=True),
         string("src_file_prefix", omitempty=True), string("dest_file_prefix", omitempty=True),
         string("extension", omitempty=True), boolean("no_secure_boot", omitempty=True),
         string("overlay", omitempty=True), string("min_talos_version", omitempty=True)),
        _links(_self("/installation-medias/{id}")), title="InstallationMediaResponse"),
    "InfraMachineConfig": Document(
        (*IDENT, enum("power_state", "POWER_STATE_DEFAULT", omitempty=True),
         enum("acceptance_status", "PENDING", omitempty=True), string("extra_kernel_args", omitempty=True),
         string("requested_reboot_id", omitempty=True), boolean("cordoned", omitempty=True)),
        _links(_self("/infra-machine-configs/{id}"), MACHINE_OF_ID), title="InfraMachineConfigResponse"),
}

# Documents of things derived at query time: one per Kubernetes node name of a ClusterKubernetesNodes
# resource, one per distinct schematic id in MachineStatus specs. Rendered through the same table from a
# synthetic StoredResource (see kubernetes_nodes() and schematic()).
_DERIVED: dict[str, Document] = {
    KUBERNETES_NODE: Document(
        # the seed's `labels` is always an empty map with omitempty: never present, not declared.
        (*IDENT, string("name", omitempty=True)),
        _links(_self("/clusters/{label:" + LABEL_CLUSTER + "}/kubernetes-nodes/{id}"), CLUSTER_LABEL),
        metadata=False, title="ClusterKubernetesNodeResponse"),
    SCHEMATIC: Document(
        (*IDENT, strings("extensions", omitempty=True), strings("kernel_args", omitempty=True),
         number("machine_count")),
        _links(_self("/schematics/{id}")), metadata=False, title="SchematicResponse"),
}

DOCUMENTS: dict[str, Document] = {catalog.by_name(name).type: doc for name, doc in _SPECS.items()}
DOCUMENTS.update(_DERIVED)



def _embedding() -> dict[str, list[tuple[str, str]]]:
    """joined kind type -> (namespace, type) of the kinds whose documents embed it (same id)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for name, doc in _SPECS.items():
        for joined in doc.joins.values():
            out.setdefault(catalog.by_name(joined).type, []).append(catalog.by_name(name).stream_key)
    return out


_EMBEDDED_IN = _embedding()


# --- rendering -----------------------------------------------------------------------------------

def render(resource: StoredResource, lookup: Lookup) -> str | None:
    """The JSON text of ``resource``'s API document, or None for a kind that has no document."""
    doc = DOCUMENTS.get(resource.type)
    if doc is None:
        return None
    context = _context(resource)
    for join_name, kind_name in doc.joins.items():
        kind = catalog.by_name(kind_name)
        joined = lookup(kind.namespace, kind.type, resource.id)
        context[join_name] = None if joined is None else {"spec": joined.spec or {}, **_context(joined)}
    return _document_text(doc, context, resource)


def dependents(resource: StoredResource) -> list[Key]:
    """Keys of other resources whose documents embed ``resource`` (MachineStatus m -> Machine m)."""
    return [(namespace, type_, resource.id) for namespace, type_ in _EMBEDDED_IN.get(resource.type, ())]


def joined_kinds(type_: str) -> list[tuple[str, str]]:
    """(namespace, type) of the resources a document of ``type_`` embeds, for point-in-time renders."""
    doc = DOCUMENTS.get(type_)
    if doc is None:
        return []
    return [catalog.by_name(name).stream_key for name in doc.joins.values()]


def kubernetes_nodes(resource: StoredResource) -> list[tuple[str, str]]:
    """(node name, document) for each node of a ClusterKubernetesNodes resource, in spec order."""
    cluster = resource.id
    out = []
    for node in (resource.spec or {}).get("nodes") or ():
        synthetic = StoredResource(resource.namespace, KUBERNETES_NODE, node, resource.version,
                                   labels={LABEL_CLUSTER: cluster}, spec={"name": node})
        out.append((node, _document_text(DOCUMENTS[KUBERNETES_NODE], _context(synthetic), synthetic)))
    return out


def schematic(full_id: str, machine_count: int, schematic_spec: Mapping[str, Any] | None) -> str:
    """The document of one schematic in use: ``schematic_spec`` is a MachineStatus ``spec.schematic``."""
    spec = dict(schematic_spec or {})
    synthetic = StoredResource(catalog.DEFAULT, SCHEMATIC, full_id, 0, spec={
        "extensions": spec.get("extensions"), "kernel_args": spec.get("kernel_args"),
        "machine_count": machine_count})
    return _document_text(DOCUMENTS[SCHEMATIC], _context(synthetic), synthetic)


def link_path(template: str, resource: StoredResource) -> str | None:
    """A link template resolved against ``resource`` (without LINK), or None when it does not apply."""
    return _link(template, _context(resource))


def _context(resource: StoredResource) -> dict[str, Any]:
    return {"id": resource.id, "namespace": resource.namespace, "labels": resource.labels,
            "spec": resource.spec or {}}


def _document_text(doc: Document, context: dict[str, Any], resource: StoredResource) -> str:
    body = _members(doc.fields, context)
    if doc.metadata:
        body["metadata"] = metadata(resource)
    text = go_json(body)
    links = []
    for key, template in doc.links:
        path = _link(template, context)
        if path is not None:
            links.append(f'"{key}":"{LINK}{path}"')
    if links:
        text = text[:-1] + ("," if len(text) > 2 else "") + '"_links":{' + ",".join(links) + "}}"
    return text


def metadata(resource: StoredResource) -> dict[str, Any]:
    """The COSI metadata every document carries under ``metadata``."""
    return {
        "version": resource.version,
        "created": rfc3339(resource.created),
        "updated": rfc3339(resource.updated),
        "phase": resource.phase,
        "owner": resource.owner,
        "labels": dict(sorted((resource.labels or {}).items())),
        "annotations": dict(sorted((resource.annotations or {}).items())),
    }


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _members(fields: Iterable[Field], context: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        if f.requires and context.get(f.requires) is None:
            continue
        value = _convert(f, _resolve(f.source, context))
        if value is _MISSING or (f.omitempty and _empty(value)):
            continue
        out[f.name] = value
    return out


def _empty(value: Any) -> bool:
    return value is None or value is False or value == 0 or value == "" or value == [] or value == {}


def _convert(f: Field, value: Any) -> Any:
    kind = f.type
    if kind == "str":
        return value if isinstance(value, str) else ""
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value) if value not in (None, "") else 0
    if kind == "enum":
        return value if isinstance(value, str) and value else f.zero
    if kind == "strings":
        return list(value) if value else None
    if kind == "map":
        return dict(sorted(value.items())) if value else None
    if kind == "object":
        if f.optional and value is None:
            return _MISSING
        return _members(f.members, value if isinstance(value, dict) else {})
    if kind == "array":
        if not value:
            return None
        return [_members(f.members, item if isinstance(item, dict) else {}) for item in value]
    if kind == "present":
        return value is not None
    if kind == "nonempty":
        return bool(value)
    if kind == "size":
        return len(value.encode()) if isinstance(value, str) else 0
    if kind == "time":
        return _go_time(value)
    if kind == "oneof":
        present = [name for name in f.choices if isinstance(value, dict) and name in value]
        return present[0] if present else ""
    raise ValueError(f"unknown field type {kind!r}")


def _go_time(value: Any) -> str:
    """A protobuf JSON Timestamp in the seed's Go layout ``2006-01-02T15:04:05Z`` (UTC, seconds)."""
    if not isinstance(value, str) or not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resolve(source: str, context: Any) -> Any:
    """A source expression: alternatives ``a|b`` (first non-empty), ``a&b`` (b only if a is set),
    ``label:KEY``, ``strip:SUFFIX`` (the id without that suffix), ``path`` (PATH_ID), dotted paths."""
    return _resolver(source)(context)


@functools.cache
def _resolver(source: str) -> Callable[[Any], Any]:
    """``source`` parsed once into a function of the context (every document renders the same few
    hundred sources, and parsing them per render was a fifth of the bootstrap's rendering time)."""
    if "|" in source:
        alternatives = tuple(_resolver(alternative) for alternative in source.split("|"))

        def first(context: Any) -> Any:
            for resolve in alternatives:
                value = resolve(context)
                if value not in (None, "", _MISSING):
                    return value
            return None
        return first
    if "&" in source:
        guard_source, _, rest = source.partition("&")
        guard, then = _resolver(guard_source), _resolver(rest)
        return lambda context: None if guard(context) in (None, "") else then(context)
    if source.startswith("label:"):
        label = source[6:]
        return lambda context: (context.get("labels") or {}).get(label)
    if source.startswith("strip:"):
        suffix = source[6:]

        def strip(context: Any) -> Any:
            ident = context.get("id") or ""
            return ident[: -len(suffix)] if ident.endswith(suffix) and len(ident) > len(suffix) else None
        return strip
    if source == "path":
        return lambda context: PATH_ID
    parts = tuple(source.split("."))
    if len(parts) == 1:
        name = parts[0]
        return lambda context: context.get(name) if isinstance(context, dict) else None

    def path(context: Any) -> Any:
        value = context
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value
    return path


@functools.cache
def _template(template: str) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """A link template as (literal text, resolver of the placeholder after it) pairs; the last resolver
    is None (the template's tail)."""
    out = []
    rest = template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        expression, _, rest = tail.partition("}")
        out.append((head, _resolver(expression)))
    out.append((rest, None))
    return tuple(out)


@functools.lru_cache(maxsize=8192)
def _quote(text: str) -> str:
    return quote(text, safe="")


def _link(template: str, context: dict[str, Any]) -> str | None:
    out = []
    for head, resolve in _template(template):
        out.append(head)
        if resolve is None:
            break
        value = resolve(context)
        if value in (None, ""):
            return None
        out.append(value if value == PATH_ID else _quote(str(value)))
    return "".join(out)


# Built once: json.dumps with these options would build a new encoder on every call.
_go_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value: Any) -> str:
    """Compact JSON escaped the way Go's encoding/json escapes strings (keys keep their order)."""
    text = _go_encode(value)
    # These characters can only occur inside JSON strings, so a blanket replace is exact.
    for char, escape in _GO_ESCAPES.items():
        if char in text:
            text = text.replace(char, escape)
    return text


# --- what a join contributes (the history's replay, api/versions.py) -------------------------------

def _reads(source: str, join_name: str) -> bool:
    parts = source.replace("&", "|").split("|")
    return any(part.split(".", 1)[0] == join_name for part in parts)


def joined_part(resource: StoredResource, lookup: Lookup, join_name: str) -> Any:
    """The members and links of ``resource``'s document that read its join ``join_name``, as rendered: two
    states of the joined resource give the same document (the rest unchanged) exactly when this is equal,
    so a replay tells whether a joined change is a new version without rendering whole documents."""
    doc = DOCUMENTS[resource.type]
    fields, templates = _join_readers(resource.type, join_name)
    context = _context(resource)
    for name, kind_name in doc.joins.items():
        kind = catalog.by_name(kind_name)
        joined = lookup(kind.namespace, kind.type, resource.id)
        context[name] = None if joined is None else {"spec": joined.spec or {}, **_context(joined)}
    return context[join_name] is None, _members(fields, context), [_link(t, context) for t in templates]


@functools.cache
def _join_readers(type_: str, join_name: str) -> tuple[tuple[Field, ...], tuple[str, ...]]:
    """The fields and link templates of ``type_``'s document that read its join ``join_name``."""
    doc = DOCUMENTS[type_]
    return (tuple(f for f in doc.fields if f.requires == join_name or _reads(f.source, join_name)),
            tuple(template for _, template in doc.links if _reads_template(template, join_name)))


def _reads_template(template: str, join_name: str) -> bool:
    return any(_reads(part.partition("}")[0], join_name) for part in template.split("{")[1:])
