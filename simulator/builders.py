"""Resources derived from the fleet model: one function per kind (or per group of kinds that share an
input), each returning :class:`Draft` values, which the generator loads and churn upserts.

Labels follow omni-wire.md §4; controller-managed resources carry their controller as owner, user
resources (Cluster, MachineSet, ConfigPatch, MachineLabels, ...) an empty owner.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
from dataclasses import dataclass, field

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from models import catalog
from models.catalog import (
    LABEL_CLUSTER,
    LABEL_CLUSTER_MACHINE,
    LABEL_MACHINE,
    LABEL_MACHINE_SET,
    LABEL_ROLE_CONTROLPLANE,
    LABEL_ROLE_WORKER,
)
from omni_client.wire import meta_pb2
from omni_client.wire import specs_pb2 as specs
from simulator import compression, topology
from simulator.resource import RUNNING, TEARING_DOWN
from simulator.topology import Cluster, Fleet, Machine

P = "omni.sidero.dev/"
LABEL_HOSTNAME = P + "hostname"
LABEL_NODE_NAME = P + "node-name"
LABEL_CONNECTED = P + "connected"
LABEL_DISCONNECTED = P + "disconnected"
LABEL_AVAILABLE = P + "available"
LABEL_READY_TO_USE = P + "ready-to-use"
LABEL_REPORTING_EVENTS = P + "reporting-events"
LABEL_INSTALLED = P + "installed"
LABEL_MANAGED_BY_MSN = P + "managed-by-machine-set-node-controller"
LABEL_SYSTEM_PATCH = P + "system-patch"
LABEL_ROOT_CONFIGURATION = P + "root-configuration"
LABEL_EXPOSED_SERVICE_ALIAS = P + "exposed-service-alias"
LABEL_CLUSTER_UUID = P + "cluster-uuid"
LABEL_MACHINE_REQUEST = P + "machine-request"
LABEL_MACHINE_REQUEST_SET = P + "machine-request-set"
LABEL_INFRA_PROVIDER_ID = P + "infra-provider-id"

S = 1_000_000_000  # ns per second


@dataclass(slots=True)
class Draft:
    """A resource to exist: identity, spec and metadata the controllers would write."""

    kind: catalog.Kind
    id: str
    spec: Message
    labels: dict[str, str] = field(default_factory=dict)
    owner: str = ""
    finalizers: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    phase: str = RUNNING


K = catalog.by_name


def rng_for(fleet: Fleet, *parts: object) -> random.Random:
    """A generator private to one object, so re-deriving it later gives the same answers."""
    return random.Random(":".join(map(str, (fleet.seed, *parts))))


def _phase(destroying: bool) -> str:
    return TEARING_DOWN if destroying else RUNNING


# -- global ----------------------------------------------------------------------------------------

def globals_(fleet: Fleet) -> list[Draft]:
    drafts = [Draft(K("SysVersion"), "current", specs.SysVersionSpec(
        backend_version=topology.BACKEND_VERSION, instance_name="omni-simulator", backend_api_version=1))]
    drafts += [Draft(K("KubernetesVersion"), v, specs.KubernetesVersionSpec(version=v),
                     owner="KubernetesVersionsController") for v in topology.KNOWN_KUBERNETES_VERSIONS]
    for name, matches in fleet.machine_classes.items():
        drafts.append(Draft(K("MachineClass"), name, specs.MachineClassSpec(match_labels=list(matches))))
    for set_id, provider in fleet.request_sets.items():
        count = sum(1 for m in fleet.machines.values() if m.request_set == set_id)
        drafts.append(Draft(K("MachineRequestSet"), set_id, specs.MachineRequestSetSpec(
            provider_id=provider, machine_count=count, talos_version=topology.TALOS_VERSIONS[-1],
            extensions=["siderolabs/qemu-guest-agent"], grpc_tunnel=specs.GrpcTunnelMode.Value("DISABLED"))))
    drafts += installation_medias()
    return drafts


def installation_medias() -> list[Draft]:
    medias = []
    entries = [
        ("iso-amd64", "ISO (amd64)", "amd64", "metal", "iso", "metal-amd64.iso", ""),
        ("iso-arm64", "ISO (arm64)", "arm64", "metal", "iso", "metal-arm64.iso", ""),
        ("iso-secureboot-amd64", "ISO SecureBoot (amd64)", "amd64", "metal", "iso", "metal-amd64-secureboot.iso", ""),
        ("raw-amd64", "Raw disk image (amd64)", "amd64", "metal", "raw.zst", "metal-amd64.raw.zst", ""),
        ("aws-amd64", "AWS AMI (amd64)", "amd64", "aws", "raw.xz", "aws-amd64.raw.xz", ""),
        ("gcp-amd64", "GCP (amd64)", "amd64", "gcp", "raw.tar.gz", "gcp-amd64.raw.tar.gz", ""),
        ("azure-amd64", "Azure (amd64)", "amd64", "azure", "vhd.xz", "azure-amd64.vhd.xz", ""),
        ("vmware-amd64", "VMWare (amd64)", "amd64", "vmware", "ova", "vmware-amd64.ova", ""),
        ("hcloud-amd64", "Hetzner (amd64)", "amd64", "hcloud", "raw.xz", "hcloud-amd64.raw.xz", ""),
        ("rpi-generic", "Raspberry Pi Series", "arm64", "metal", "raw.xz", "metal-arm64.raw.xz", "rpi_generic"),
        ("jetson-nano", "Jetson Nano", "arm64", "metal", "raw.xz", "metal-arm64.raw.xz", "jetson_nano"),
    ]
    for id_, name, arch, profile, ext, dest, overlay in entries:
        medias.append(Draft(K("InstallationMedia"), id_, specs.InstallationMediaSpec(
            name=name, architecture=arch, profile=profile, contentType="application/octet-stream",
            src_file_prefix=f"{profile}-{arch}", dest_file_prefix=dest.rsplit(".", 1)[0], extension=ext,
            no_secure_boot="secureboot" not in id_, overlay=overlay,
            min_talos_version="1.7.0" if overlay else "")))
    return medias


def meta(kinds: tuple[catalog.Kind, ...]) -> list[Draft]:
    """``meta`` namespace: Namespaces and one ResourceDefinition per type, as omnictl looks them up."""
    drafts: list[Draft] = []
    ns_kind = catalog.Kind("Namespace", "Namespaces.meta.cosi.dev", "meta", "NamespaceSpec", "name")
    rd_kind = catalog.Kind("ResourceDefinition", "ResourceDefinitions.meta.cosi.dev", "meta",
                           "ResourceDefinitionSpec", "type")
    for ns, description in (("default", "Default namespace"), ("ephemeral", "Ephemeral namespace"),
                            ("external", "External resources"), ("meta", "Metadata namespace"),
                            ("metrics", "Metrics namespace")):
        drafts.append(Draft(ns_kind, ns, meta_pb2.NamespaceSpec(description=description)))
    for kind in kinds:
        plural = kind.type.split(".", 1)[0]
        alias = kind.name.lower()
        sensitivity = meta_pb2.ResourceDefinitionSpec.Sensitivity.Value(
            "SENSITIVE" if kind.delivery is catalog.Delivery.LIVE_ONLY else "NON_SENSITIVE")
        drafts.append(Draft(rd_kind, kind.type, meta_pb2.ResourceDefinitionSpec(
            resource_type=kind.type, display_type=kind.name, default_namespace=kind.namespace,
            aliases=[alias], all_aliases=[alias, plural.lower(), kind.type.lower()], sensitivity=sensitivity)))
    return drafts


# -- machines --------------------------------------------------------------------------------------

@functools.cache
def _hardware(platform_index: int) -> specs.MachineStatusSpec.HardwareStatus:
    p = topology.PLATFORMS[platform_index]
    hw = specs.MachineStatusSpec.HardwareStatus(arch=p.arch)
    for _ in range(p.sockets):
        hw.processors.add(core_count=p.cores, thread_count=p.threads, frequency=p.mhz, description=p.cpu_model,
                          manufacturer={"intel": "Intel(R) Corporation", "amd": "Advanced Micro Devices, Inc.",
                                        "ampere": "Ampere(R)"}[p.cpu_vendor])
    for _ in range(p.memory_modules):
        hw.memory_modules.add(size_mb=p.module_mb, description="DDR4" if not p.cloud else "")
    for i, (name, model, size, transport) in enumerate(p.disks):
        hw.blockdevices.add(size=size, model=model, linux_name=f"/dev/{name}", name=name, transport=transport,
                            type="nvme" if transport == "nvme" else "ssd", dev_path=f"/dev/{name}",
                            sub_system="/sys/class/block", system_disk=i == 0, io_size=4096,
                            sector_size=512, pretty_size=f"{size // 10**9} GB",
                            bus_path=f"/pci0000:00/0000:00:{3 + i:02x}.0/nvme/{name}")
    return hw


def _machine_status_labels(m: Machine) -> dict[str, str]:
    p = m.spec_platform
    labels = dict(m.user_labels)
    if m.cluster is not None:
        labels[LABEL_CLUSTER] = m.cluster
        labels[LABEL_MACHINE_SET] = m.machine_set or ""
        labels[LABEL_ROLE_CONTROLPLANE if m.controlplane else LABEL_ROLE_WORKER] = ""
        labels[LABEL_INSTALLED] = ""
    else:
        labels[LABEL_AVAILABLE] = ""
        if m.connected:
            labels[LABEL_READY_TO_USE] = ""
    if m.connected:
        labels[LABEL_CONNECTED] = ""
        labels[LABEL_REPORTING_EVENTS] = ""
    else:
        labels[LABEL_DISCONNECTED] = ""
    labels.update({
        P + "arch": p.arch, P + "cpu": p.cpu_vendor, P + "cores": str(p.total_cores),
        P + "mem": f"{p.memory_gib}GiB", P + "storage": f"{p.storage_gib}GiB",
        P + "net": f"{p.nic_mbps // 1000}Gbps", P + "platform": p.name, P + "region": m.region,
        P + "zone": m.zone, P + "instance": m.instance_type, P + "talos-version": "v" + m.talos_version,
    })
    return labels


def machine_status(m: Machine) -> Draft:
    p = m.spec_platform
    spec = specs.MachineStatusSpec(
        talos_version="v" + m.talos_version, management_address=m.siderolink, connected=m.connected,
        maintenance=m.cluster is None, cluster=m.cluster or "",
        role=(1 if m.controlplane else 2) if m.cluster else 0,
        initial_talos_version="v" + m.talos_version,
        power_state=specs.MachineStatusSpec.PowerState.Value(
            "POWER_STATE_ON" if m.infra_provider else "POWER_STATE_UNSUPPORTED"),
        kernel_cmdline=" ".join((f"talos.platform={p.name}", "console=tty0", "init_on_alloc=1",
                                 "slab_nomerge", "pti=on", "consoleblank=0", "nvme_core.io_timeout=4294967295",
                                 "printk.devkmsg=on", "ima_template=ima-ng", "ima_appraise=fix",
                                 "ima_hash=sha512", *m.kernel_args)),
    )
    spec.hardware.CopyFrom(_hardware(m.platform))
    net = spec.network
    net.hostname = m.hostname
    net.addresses.extend((f"{m.ipv4}/24", f"{m.siderolink}/64"))
    net.default_gateways.append(m.ipv4.rsplit(".", 1)[0] + ".1")
    net.network_links.add(linux_name="eth0", hardware_address=m.mac, speed_mbps=p.nic_mbps, link_up=True,
                          description="Ethernet Controller")
    pm = spec.platform_metadata
    pm.platform, pm.hostname, pm.region, pm.zone = p.name, m.hostname, m.region, m.zone
    pm.instance_type = m.instance_type
    if p.cloud:
        pm.instance_id = "i-" + m.serial[:17]
        pm.provider_id = f"{p.name}:///{m.zone}/i-{m.serial[:17]}"
    sch = spec.schematic
    sch.full_id = m.schematic_id
    sch.extensions.extend(m.extensions)
    sch.kernel_args.extend(m.kernel_args)
    sch.initial_schematic = sch.full_id
    sch.initial_state.extensions.extend(m.extensions)
    spec.security_state.secure_boot = m.secure_boot
    spec.security_state.booted_with_uki = m.uki
    if not m.ready and m.cluster is not None:
        spec.diagnostics.add(id="kubelet-not-ready", message="kubelet is not ready",
                             details=["node condition Ready is False"])
    return Draft(K("MachineStatus"), m.id, spec, _machine_status_labels(m), owner="MachineStatusController")


def machine(m: Machine) -> Draft:
    labels = {}
    if m.request_set:
        labels = {LABEL_MACHINE_REQUEST: m.request_id or "", LABEL_MACHINE_REQUEST_SET: m.request_set,
                  LABEL_INFRA_PROVIDER_ID: m.infra_provider or ""}
    return Draft(K("Machine"), m.id, specs.MachineSpec(management_address=m.siderolink, connected=m.connected),
                 labels, owner="SiderolinkController")


def machine_drafts(m: Machine) -> list[Draft]:
    """The resources every registered machine has, allocated or not."""
    drafts = [machine(m), machine_status(m)]
    if m.user_labels:
        drafts.append(Draft(K("MachineLabels"), m.id, specs.MachineLabelsSpec(), dict(m.user_labels)))
    if m.infra_provider and not m.request_set:
        acceptance = "ACCEPTED" if m.accepted else "PENDING"
        drafts.append(Draft(K("InfraMachineConfig"), m.id, specs.InfraMachineConfigSpec(
            power_state=specs.InfraMachineConfigSpec.MachinePowerState.Value("POWER_STATE_ON"),
            acceptance_status=specs.InfraMachineConfigSpec.AcceptanceStatus.Value(acceptance))))
    return drafts


# -- allocated machines ------------------------------------------------------------------------------

def _role_labels(m: Machine) -> dict[str, str]:
    return {LABEL_CLUSTER: m.cluster or "", LABEL_MACHINE_SET: m.machine_set or "",
            LABEL_ROLE_CONTROLPLANE if m.controlplane else LABEL_ROLE_WORKER: ""}


_CONFIG_TEMPLATE = """version: v1alpha1
debug: false
persist: true
machine:
    type: {role}
    token: '******'
    ca:
        crt: {machine_ca}
        key: '******'
    certSANs: []
    kubelet:
        image: ghcr.io/siderolabs/kubelet:v{k8s}
        defaultRuntimeSeccompProfileEnabled: true
        disableManifestsDirectory: true
    network:
        hostname: {hostname}
    install:
        disk: /dev/{disk}
        image: factory.talos.dev/{platform}-installer/{schematic}:v{talos}
        wipe: false
    features:
        rbac: true
        stableHostname: true
        apidCheckExtKeyUsage: true
        diskQuotaSupport: true
        kubePrism:
            enabled: true
            port: 7445
        hostDNS:
            enabled: true
            forwardKubeDNSToHost: true
    nodeLabels:
        node.kubernetes.io/exclude-from-external-load-balancers: ""
    nodeAnnotations:
        omni.sidero.dev/config-version: "{config_version}"
cluster:
    id: {cluster_id}
    secret: '******'
    controlPlane:
        endpoint: https://{cluster}.kubernetes.omni.internal:6443
    clusterName: {cluster}
    network:
        dnsDomain: cluster.local
        podSubnets:
            - 10.244.0.0/16
        serviceSubnets:
            - 10.96.0.0/12
    token: '******'
    secretboxEncryptionSecret: '******'
    ca:
        crt: {cluster_ca}
        key: '******'
    aggregatorCA:
        crt: {aggregator_ca}
        key: '******'
    serviceAccount:
        key: '******'
    apiServer:
        image: registry.k8s.io/kube-apiserver:v{k8s}
        certSANs:
            - {cluster}.kubernetes.omni.internal
        disablePodSecurityPolicy: true
    controllerManager:
        image: registry.k8s.io/kube-controller-manager:v{k8s}
    proxy:
        image: registry.k8s.io/kube-proxy:v{k8s}
    scheduler:
        image: registry.k8s.io/kube-scheduler:v{k8s}
    discovery:
        enabled: true
        registries:
            kubernetes:
                disabled: true
            service: {{}}
    etcd:
        ca:
            crt: {etcd_ca}
            key: '******'
---
apiVersion: v1alpha1
kind: SideroLinkConfig
apiUrl: https://{omni}:8090?jointoken=******
---
apiVersion: v1alpha1
kind: EventSinkConfig
endpoint: '[{prefix}::1]:8090'
---
apiVersion: v1alpha1
kind: KmsgLogConfig
name: omni-kmsg
url: tcp://[{prefix}::1]:8092
"""


@functools.cache
def _ca(seed: str) -> str:
    """A base64 blob the size of a PEM certificate, stable per seed string."""
    blob = b"".join(hashlib.sha512(f"{seed}:{i}".encode()).digest() for i in range(9))
    return base64.b64encode(b"-----BEGIN CERTIFICATE-----\n" + blob + b"\n-----END CERTIFICATE-----\n").decode()


def redacted_config(m: Machine, c: Cluster) -> str:
    p = m.spec_platform
    return _CONFIG_TEMPLATE.format(
        role="controlplane" if m.controlplane else "worker", machine_ca=_ca(c.uuid + ":os"),
        k8s=c.kubernetes_version, talos=m.talos_version, hostname=m.hostname, disk=p.disks[0][0],
        platform=p.name, schematic=m.schematic_id, cluster_id=_ca(c.uuid)[:44], cluster=c.name,
        cluster_ca=_ca(c.uuid + ":k8s"), aggregator_ca=_ca(c.uuid + ":aggregator")[:600],
        etcd_ca=_ca(c.uuid + ":etcd")[:600], config_version=m.config_version, omni=topology.OMNI_HOST, prefix=topology.SIDEROLINK_PREFIX)


def allocation_drafts(m: Machine, c: Cluster, fleet: Fleet, stage: str = "RUNNING") -> list[Draft]:
    """What a machine gets while it belongs to a cluster (keyed by the machine id)."""
    phase = _phase(c.destroying)
    msn_labels = _role_labels(m)
    if c.worker_class is not None and not m.controlplane:
        msn_labels[LABEL_MANAGED_BY_MSN] = ""
    drafts = [
        Draft(K("MachineSetNode"), m.id, specs.MachineSetNodeSpec(), msn_labels,
              owner="MachineSetNodeController" if LABEL_MANAGED_BY_MSN in msn_labels else "", phase=phase),
        cluster_machine(m, c),
        cluster_machine_status(m, stage),
        *machine_config(m, c),
        cluster_machine_talos_version(m, c),
        schematic_configuration(m, c),
        Draft(K("KernelArgs"), m.id, specs.KernelArgsSpec(args=list(m.kernel_args))),
        machine_upgrade_status(m, c),
    ]
    if c.extensions:
        drafts.append(Draft(K("MachineExtensions"), m.id, specs.MachineExtensionsSpec(extensions=list(c.extensions)),
                            {LABEL_CLUSTER: c.name, LABEL_ROOT_CONFIGURATION: f"{c.name}-extensions"},
                            owner="ExtensionsConfigurationController"))
    return drafts


ALLOCATION_KINDS = ("MachineSetNode", "ClusterMachine", "ClusterMachineStatus", "ClusterMachineConfigStatus",
                    "RedactedClusterMachineConfig", "ClusterMachineTalosVersion", "SchematicConfiguration",
                    "KernelArgs", "MachineUpgradeStatus", "MachineExtensions")


def machine_config(m: Machine, c: Cluster) -> list[Draft]:
    """ClusterMachineConfigStatus and RedactedClusterMachineConfig: the (redacted) config in effect."""
    role = _role_labels(m)
    config = redacted_config(m, c)
    redacted = specs.RedactedClusterMachineConfigSpec(data=config)
    compression.pack(redacted, K("RedactedClusterMachineConfig").compressed)
    config_status = specs.ClusterMachineConfigStatusSpec(
        cluster_machine_config_version=str(m.config_version),
        cluster_machine_config_sha256=hashlib.sha256(config.encode()).hexdigest(),
        talos_version=m.talos_version, schematic_id=m.schematic_id, redacted_current_machine_config=config,
        image_factory_host="factory.talos.dev")
    compression.pack(config_status, K("ClusterMachineConfigStatus").compressed)
    return [
        Draft(K("ClusterMachineConfigStatus"), m.id, config_status, dict(role),
              owner="ClusterMachineConfigStatusController"),
        Draft(K("RedactedClusterMachineConfig"), m.id, redacted, dict(role),
              owner="RedactedClusterMachineConfigController"),
    ]


def schematic_configuration(m: Machine, c: Cluster) -> Draft:
    return Draft(K("SchematicConfiguration"), m.id, specs.SchematicConfigurationSpec(
        schematic_id=m.schematic_id, talos_version=m.talos_version),
        {LABEL_CLUSTER: c.name, LABEL_MACHINE_SET: m.machine_set or ""}, owner="SchematicConfigurationController")


def cluster_machine_talos_version(m: Machine, c: Cluster, target: str | None = None) -> Draft:
    return Draft(K("ClusterMachineTalosVersion"), m.id, specs.ClusterMachineTalosVersionSpec(
        talos_version=target or m.talos_version, schematic_id=m.schematic_id), {LABEL_CLUSTER: c.name},
        owner="ClusterMachineTalosVersionController")


def cluster_machine(m: Machine, c: Cluster) -> Draft:
    return Draft(K("ClusterMachine"), m.id, specs.ClusterMachineSpec(kubernetes_version=c.kubernetes_version),
                 _role_labels(m), owner="MachineSetController", phase=_phase(c.destroying),
                 finalizers=("ClusterMachineConfigController", "ClusterMachineStatusController"))


def cluster_machine_status(m: Machine, stage: str = "RUNNING") -> Draft:
    labels = _role_labels(m)
    labels[LABEL_HOSTNAME] = m.hostname
    labels[LABEL_NODE_NAME] = m.node_name
    if m.connected:
        labels[LABEL_CONNECTED] = ""
    spec = specs.ClusterMachineStatusSpec(
        ready=m.ready and m.connected and stage == "RUNNING",
        stage=specs.ClusterMachineStatusSpec.Stage.Value(stage),
        config_up_to_date=stage == "RUNNING", management_address=m.siderolink,
        config_apply_status=specs.ConfigApplyStatus.Value("APPLIED" if stage == "RUNNING" else "PENDING"))
    if m.request_set:
        spec.provision_status.provider_id = m.infra_provider or ""
        spec.provision_status.request_id = m.request_id or ""
    return Draft(K("ClusterMachineStatus"), m.id, spec, labels, owner="ClusterMachineStatusController")


def machine_upgrade_status(m: Machine, c: Cluster, phase: str = "UpToDate", target: str | None = None) -> Draft:
    """Upgrade state of one machine; ``phase`` Upgrading with ``target`` while a Talos upgrade runs."""
    target = target or m.talos_version
    return Draft(K("MachineUpgradeStatus"), m.id, specs.MachineUpgradeStatusSpec(
        schematic_id=m.schematic_id, talos_version=target, current_schematic_id=m.schematic_id,
        current_talos_version=m.talos_version, phase=specs.MachineUpgradeStatusSpec.Phase.Value(phase),
        status="" if phase == "UpToDate" else f"upgrading to {target}"),
        {LABEL_CLUSTER: c.name, LABEL_MACHINE_SET: m.machine_set or ""}, owner="MachineUpgradeStatusController")


# -- clusters ----------------------------------------------------------------------------------------

def cluster(c: Cluster) -> Draft:
    spec = specs.ClusterSpec(kubernetes_version=c.kubernetes_version, talos_version=c.talos_version)
    spec.features.enable_workload_proxy = c.workload_proxy
    spec.features.disk_encryption = c.disk_encryption
    spec.features.use_embedded_discovery_service = c.embedded_discovery
    if c.backups:
        spec.backup_configuration.enabled = True
        spec.backup_configuration.interval.seconds = c.backup_interval_h * 3600
    return Draft(K("Cluster"), c.name, spec, dict(c.labels),
                 finalizers=("ClusterController", "ClusterDestroyStatusController"), phase=_phase(c.destroying))


def machine_set(c: Cluster, set_id: str, fleet: Fleet) -> Draft:
    controlplane = set_id == c.control_planes
    spec = specs.MachineSetSpec(update_strategy=1, delete_strategy=1)
    spec.update_strategy_config.rolling.max_parallelism = 1
    if controlplane:
        spec.bootstrap_spec.SetInParent()
    if not controlplane and c.worker_class:
        spec.machine_allocation.name = c.worker_class
        spec.machine_allocation.machine_count = len(c.sets.get(set_id, ()))
    labels = {LABEL_CLUSTER: c.name, LABEL_ROLE_CONTROLPLANE if controlplane else LABEL_ROLE_WORKER: ""}
    return Draft(K("MachineSet"), set_id, spec, labels, finalizers=("MachineSetStatusController",),
                 phase=_phase(c.destroying))


def _members(c: Cluster, set_id: str, fleet: Fleet) -> list[Machine]:
    return [fleet.machines[mid] for mid in c.sets.get(set_id, ())]


def _counts(machines: list[Machine], requested: int | None = None) -> specs.Machines:
    connected = sum(1 for m in machines if m.connected)
    healthy = sum(1 for m in machines if m.connected and m.ready)
    return specs.Machines(total=len(machines), healthy=healthy, connected=connected,
                          requested=len(machines) if requested is None else requested)


def machine_set_status(c: Cluster, set_id: str, fleet: Fleet, upgrading: bool = False) -> Draft:
    members = _members(c, set_id, fleet)
    counts = _counts(members)
    if c.destroying:
        phase = "Destroying"
    elif upgrading:
        phase = "Upgrading"
    else:
        phase = "Running"
    spec = specs.MachineSetStatusSpec(
        phase=specs.MachineSetPhase.Value(phase), ready=phase == "Running" and counts.healthy == counts.total,
        config_hash=hashlib.sha256(",".join(c.sets.get(set_id, ())).encode()).hexdigest())
    spec.machines.CopyFrom(counts)
    if set_id == c.workers and c.worker_class:
        spec.machine_allocation.name = c.worker_class
        spec.machine_allocation.machine_count = counts.total
    labels = {LABEL_CLUSTER: c.name,
              LABEL_ROLE_CONTROLPLANE if set_id == c.control_planes else LABEL_ROLE_WORKER: ""}
    return Draft(K("MachineSetStatus"), set_id, spec, labels, owner="MachineSetStatusController")


def cluster_status(c: Cluster, fleet: Fleet) -> Draft:
    machines = [fleet.machines[mid] for mid in c.machine_ids()]
    cps = [m for m in machines if m.controlplane]
    counts = _counts(machines)
    cp_ready = bool(cps) and all(m.connected and m.ready for m in cps)
    if c.destroying:
        phase = "DESTROYING"
    elif not machines:
        phase = "SCALING_UP"
    else:
        phase = "RUNNING"
    spec = specs.ClusterStatusSpec(
        available=any(m.connected for m in cps), phase=specs.ClusterStatusSpec.Phase.Value(phase),
        ready=phase == "RUNNING" and counts.healthy == counts.total, kubernetesAPIReady=cp_ready,
        controlplaneReady=cp_ready, has_connected_control_planes=any(m.connected for m in cps),
        use_embedded_discovery_service=c.embedded_discovery, talos_version=c.talos_version,
        kubernetes_version=c.kubernetes_version, initial_talos_version=c.talos_version)
    spec.machines.CopyFrom(counts)
    return Draft(K("ClusterStatus"), c.name, spec, dict(c.labels), owner="ClusterStatusController")


def cluster_runtime_drafts(c: Cluster, fleet: Fleet) -> list[Draft]:
    """The per-cluster statuses that follow the machines' state (re-derived by churn)."""
    drafts = [cluster_status(c, fleet)]
    drafts += [machine_set_status(c, set_id, fleet) for set_id in c.sets]
    drafts += control_plane_drafts(c, fleet)
    drafts += node_drafts(c, fleet)
    return drafts


def control_plane_drafts(c: Cluster, fleet: Fleet) -> list[Draft]:
    """ClusterEndpoint, LoadBalancerConfig/Status, ControlPlaneStatus: they follow the control planes."""
    cps = _members(c, c.control_planes, fleet)
    return [
        Draft(K("ClusterEndpoint"), c.name, specs.ClusterEndpointSpec(
            management_addresses=[m.siderolink for m in cps]), owner="ClusterEndpointController"),
        Draft(K("LoadBalancerConfig"), c.name, specs.LoadBalancerConfigSpec(
            bind_port=str(c.bind_port), endpoints=[f"https://[{m.siderolink}]:6443" for m in cps],
            siderolink_endpoint=f"https://[{topology.SIDEROLINK_PREFIX}::1]:{c.bind_port}"),
            owner="ClusterLoadBalancerController"),
        Draft(K("LoadBalancerStatus"), c.name, specs.LoadBalancerStatusSpec(
            healthy=any(m.connected and m.ready for m in cps), stopped=c.destroying),
            owner="LoadBalancerController"),
        Draft(K("ControlPlaneStatus"), c.control_planes, _control_plane_spec(cps),
              {LABEL_CLUSTER: c.name}, owner="ControlPlaneStatusController"),
    ]


def node_drafts(c: Cluster, fleet: Fleet, kubelet_versions: dict[str, str] | None = None) -> list[Draft]:
    """KubernetesStatus, ClusterKubernetesNodes, ClusterDiagnostics: they follow every node."""
    machines = [fleet.machines[mid] for mid in c.machine_ids()]
    return [
        kubernetes_status(c, fleet, kubelet_versions),
        Draft(K("ClusterKubernetesNodes"), c.name, specs.ClusterKubernetesNodesSpec(
            nodes=sorted(m.node_name for m in machines)), owner="ClusterKubernetesNodesController"),
        Draft(K("ClusterDiagnostics"), c.name, specs.ClusterDiagnosticsSpec(
            nodes=[specs.ClusterDiagnosticsSpec.Node(id=m.id, num_diagnostics=1) for m in machines
                   if not m.ready]), owner="ClusterDiagnosticsController"),
    ]


def _control_plane_spec(cps: list[Machine]) -> specs.ControlPlaneStatusSpec:
    cond = specs.ControlPlaneStatusSpec.Condition
    healthy = bool(cps) and all(m.connected and m.ready for m in cps)
    wireguard = bool(cps) and all(m.connected for m in cps)
    return specs.ControlPlaneStatusSpec(conditions=[
        cond(type=specs.ConditionType.Value("Etcd"), reason="" if healthy else "etcd member is unhealthy",
             status=cond.Status.Value("Ready" if healthy else "NotReady"),
             severity=cond.Severity.Value("Info" if healthy else "Error")),
        cond(type=specs.ConditionType.Value("WireguardConnection"),
             reason="" if wireguard else "some control plane machines are not connected",
             status=cond.Status.Value("Ready" if wireguard else "NotReady"),
             severity=cond.Severity.Value("Info" if wireguard else "Warning")),
    ])


def kubernetes_status(c: Cluster, fleet: Fleet, kubelet_versions: dict[str, str] | None = None) -> Draft:
    spec = specs.KubernetesStatusSpec()
    machines = sorted((fleet.machines[mid] for mid in c.machine_ids()), key=lambda m: m.node_name)
    for m in machines:
        version = (kubelet_versions or {}).get(m.id, c.kubernetes_version)
        spec.nodes.add(nodename=m.node_name, kubelet_version="v" + version, ready=m.ready and m.connected)
    for m in machines:
        if m.controlplane:
            pods = spec.static_pods.add(nodename=m.node_name)
            for app in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                pods.static_pods.add(app=app, version="v" + c.kubernetes_version, ready=m.ready and m.connected)
    return Draft(K("KubernetesStatus"), c.name, spec, owner="KubernetesStatusController")


def talos_upgrade_status(c: Cluster, phase: str = "Done", step: str = "", status: str = "",
                         current: str = "", last: str | None = None) -> Draft:
    newer = [v for v in topology.TALOS_VERSIONS if version_key(v) > version_key(c.talos_version)]
    return Draft(K("TalosUpgradeStatus"), c.name, specs.TalosUpgradeStatusSpec(
        phase=specs.TalosUpgradeStatusSpec.Phase.Value(phase), step=step, status=status,
        last_upgrade_version=c.talos_version if last is None else last, current_upgrade_version=current,
        upgrade_versions=newer), owner="TalosUpgradeStatusController")


def kubernetes_upgrade_status(c: Cluster, phase: str = "Done", step: str = "", status: str = "",
                              current: str = "", last: str | None = None) -> Draft:
    newer = [v for v in topology.KNOWN_KUBERNETES_VERSIONS if version_key(v) > version_key(c.kubernetes_version)]
    return Draft(K("KubernetesUpgradeStatus"), c.name, specs.KubernetesUpgradeStatusSpec(
        phase=specs.KubernetesUpgradeStatusSpec.Phase.Value(phase), step=step, status=status,
        last_upgrade_version=c.kubernetes_version if last is None else last, current_upgrade_version=current,
        upgrade_versions=newer), {LABEL_CLUSTER: c.name}, owner="KubernetesUpgradeStatusController")


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def cluster_drafts(c: Cluster, fleet: Fleet) -> list[Draft]:
    """Everything a cluster has besides its machines' resources and the runtime statuses."""
    rng = rng_for(fleet, "cluster", c.name)
    drafts = [cluster(c)]
    drafts += [machine_set(c, set_id, fleet) for set_id in c.sets]
    drafts.append(Draft(K("ClusterBootstrapStatus"), c.name, specs.ClusterBootstrapStatusSpec(bootstrapped=True),
                        owner="ClusterBootstrapStatusController"))
    drafts.append(talos_upgrade_status(c))
    drafts.append(kubernetes_upgrade_status(c))
    services = exposed_services(c, fleet) if c.workload_proxy else []
    drafts += services
    drafts.append(Draft(K("ClusterWorkloadProxyStatus"), c.name, specs.ClusterWorkloadProxyStatusSpec(
        num_exposed_services=len(services)), owner="ClusterWorkloadProxyStatusController"))
    if c.backups:
        drafts.append(etcd_backup_status(c, fleet.now))
        drafts += etcd_backups(c, fleet.now, rng)
    if c.extensions:
        drafts.append(Draft(K("ExtensionsConfiguration"), f"{c.name}-extensions",
                            specs.ExtensionsConfigurationSpec(extensions=list(c.extensions)), {LABEL_CLUSTER: c.name}))
    drafts += config_patches(c, fleet, rng)
    if c.disk_encryption:
        drafts.append(config_patch(f"950-{c.name}-disk-encryption", _ENCRYPTION_PATCH,
                                   {LABEL_CLUSTER: c.name, LABEL_SYSTEM_PATCH: ""}, "disk encryption"))
    if c.image_pull:
        drafts += image_pull(c, fleet)
    if c.manual_backup:
        drafts.append(Draft(K("EtcdManualBackup"), c.name, specs.EtcdManualBackupSpec(
            backup_at=timestamp(fleet.now - rng.randrange(600, 86_400) * S))))
    if c.destroying:
        drafts += destroy_statuses(c, fleet)
    return drafts


def destroy_statuses(c: Cluster, fleet: Fleet) -> list[Draft]:
    total = len(c.machine_ids())
    drafts = [Draft(K("ClusterDestroyStatus"), c.name, specs.DestroyStatusSpec(
        phase=f"Destroying: {len(c.sets)} machine sets, {total} machines"), owner="ClusterDestroyStatusController")]
    for set_id, members in c.sets.items():
        drafts.append(Draft(K("MachineSetDestroyStatus"), set_id, specs.DestroyStatusSpec(
            phase=f"Destroying: {len(members)} machines"), owner="MachineSetDestroyStatusController"))
    task = specs.OngoingTaskSpec(title=f"Destroying cluster {c.name}", resource_id=c.name)
    task.destroy.phase = drafts[0].spec.phase
    drafts.append(Draft(K("OngoingTask"), f"{c.name}-destroy", task, owner="ClusterDestroyStatusController"))
    return drafts


def timestamp(ns: int) -> Timestamp:
    seconds, nanos = divmod(ns, S)
    return Timestamp(seconds=seconds, nanos=nanos)


def etcd_backup_status(c: Cluster, now: int, error: str = "", exact: bool = False) -> Draft:
    interval = c.backup_interval_h * 3600 * S
    last = now if exact else now - now % interval
    spec = specs.EtcdBackupStatusSpec(status=specs.EtcdBackupStatusSpec.Status.Value("Error" if error else "Ok"),
                                      error=error, last_backup_time=timestamp(last), last_backup_attempt=timestamp(last))
    return Draft(K("EtcdBackupStatus"), c.name, spec, owner="EtcdBackupController")


def etcd_backup(c: Cluster, taken_ns: int, rng: random.Random) -> Draft:
    seconds = taken_ns // S
    return Draft(K("EtcdBackup"), f"{c.name}-{seconds}", specs.EtcdBackupSpec(
        created_at=timestamp(seconds * S), snapshot=f"{0xFFFFFFFF - seconds:X}.snapshot",
        size=rng.randrange(8 << 20, 96 << 20)), {LABEL_CLUSTER: c.name, LABEL_CLUSTER_UUID: c.uuid})


def etcd_backups(c: Cluster, now: int, rng: random.Random) -> list[Draft]:
    interval = c.backup_interval_h * 3600 * S
    last = now - now % interval
    return [etcd_backup(c, last - i * interval, rng) for i in range(rng.randrange(2, 6))]


_SERVICES = (("grafana", 3000, "Grafana"), ("argocd", 8080, "Argo CD"), ("prometheus", 9090, "Prometheus"),
             ("kibana", 5601, "Kibana"), ("hubble", 12000, "Hubble UI"))


def exposed_services(c: Cluster, fleet: Fleet) -> list[Draft]:
    rng = rng_for(fleet, "services", c.name)
    drafts = []
    for name, port, label in rng.sample(_SERVICES, rng.randrange(1, 4)):
        alias = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=6))
        id_ = f"{c.name}/{name}" if rng.random() < 0.6 else f"{c.name}/{name}/{port}"
        drafts.append(Draft(K("ExposedService"), id_, specs.ExposedServiceSpec(
            port=port, label=label, url=f"https://{alias}-simulated.proxy-eu.{topology.OMNI_HOST}",
            has_explicit_alias=rng.random() < 0.3),
            {LABEL_CLUSTER: c.name, LABEL_EXPOSED_SERVICE_ALIAS: alias}, owner="ExposedServiceController"))
    return drafts


PATCH_SAMPLES = (
    ("cluster-network", "machine:\n    network:\n        nameservers:\n            - 1.1.1.1\n            - 9.9.9.9\n"),
    ("kubelet-args", "machine:\n    kubelet:\n        extraArgs:\n            rotate-server-certificates: \"true\"\n"),
    ("sysctls", "machine:\n    sysctls:\n        net.core.somaxconn: \"65535\"\n        vm.max_map_count: \"262144\"\n"),
    ("time-servers", "machine:\n    time:\n        servers:\n            - time.cloudflare.com\n"),
    ("cni-none", "cluster:\n    network:\n        cni:\n            name: none\n    proxy:\n        disabled: true\n"),
)


_ENCRYPTION_PATCH = """machine:
    systemDiskEncryption:
        ephemeral:
            provider: luks2
            keys:
                - kms:
                    endpoint: https://omni.example.org:8090
                  slot: 0
        state:
            provider: luks2
            keys:
                - kms:
                    endpoint: https://omni.example.org:8090
                  slot: 0
"""


def config_patches(c: Cluster, fleet: Fleet, rng: random.Random) -> list[Draft]:
    drafts = []
    for name, data in rng.sample(PATCH_SAMPLES, rng.randrange(1, 4)):
        drafts.append(config_patch(f"400-{c.name}-{name}", data, {LABEL_CLUSTER: c.name}, name))
    if rng.random() < 0.5 and c.sets:
        set_id = rng.choice(list(c.sets))
        drafts.append(config_patch(f"500-{set_id}-labels", "machine:\n    nodeLabels:\n        pool: " + set_id + "\n",
                             {LABEL_CLUSTER: c.name, LABEL_MACHINE_SET: set_id}, "node labels"))
    for mid in c.machine_ids():
        if rng_for(fleet, "patch", mid).random() < 0.05:
            drafts.append(machine_patch(c.name, fleet.machines[mid]))
    return drafts


def machine_patch(cluster_name: str | None, m: Machine) -> Draft:
    data = f"machine:\n    network:\n        hostname: {m.hostname}\n    install:\n        disk: /dev/{m.spec_platform.disks[0][0]}\n"
    if cluster_name is None:
        return config_patch(f"200-{m.id}-install", data, {LABEL_MACHINE: m.id}, "install disk")
    return config_patch(f"300-{m.id}-install", data, {LABEL_CLUSTER: cluster_name, LABEL_CLUSTER_MACHINE: m.id},
                  "install disk")


def config_patch(id_: str, data: str, labels: dict[str, str], name: str) -> Draft:
    spec = specs.ConfigPatchSpec(data=data)
    compression.pack(spec, K("ConfigPatch").compressed)
    return Draft(K("ConfigPatch"), id_, spec, labels, annotations={"name": name, "description": ""})


def image_pull(c: Cluster, fleet: Fleet) -> list[Draft]:
    request = specs.ImagePullRequestSpec()
    images = [f"ghcr.io/siderolabs/kubelet:v{c.kubernetes_version}",
              f"registry.k8s.io/kube-proxy:v{c.kubernetes_version}"]
    machines = [fleet.machines[mid] for mid in c.machine_ids()]
    for m in machines:
        request.node_image_list.add(node=m.node_name, images=images)
    total = len(machines) * len(images)
    last = machines[-1].node_name if machines else ""
    labels = {LABEL_CLUSTER: c.name}
    return [
        Draft(K("ImagePullRequest"), c.name, request, labels, owner="KubernetesUpgradeStatusController"),
        Draft(K("ImagePullStatus"), c.name, specs.ImagePullStatusSpec(
            last_processed_node=last, last_processed_image=images[-1], processed_count=total,
            total_count=total, request_version="1"), dict(labels), owner="ImagePullStatusController"),
    ]


def machine_config_diff(m: Machine, modified_ns: int) -> Draft:
    seconds = modified_ns // S
    diff = (f"--- a/machine.yaml\n+++ b/machine.yaml\n@@ -12,7 +12,7 @@\n     kubelet:\n"
            f"-        image: ghcr.io/siderolabs/kubelet:v1.33.5\n+        image: ghcr.io/siderolabs/kubelet:v1.34.1\n"
            f"     network:\n         hostname: {m.hostname}\n")
    spec = specs.MachineConfigDiffSpec(diff=diff)
    compression.pack(spec, K("MachineConfigDiff").compressed)
    labels = {LABEL_MACHINE: m.id}
    if m.cluster:
        labels[LABEL_CLUSTER] = m.cluster
        labels[LABEL_MACHINE_SET] = m.machine_set or ""
    return Draft(K("MachineConfigDiff"), f"{m.id}-{seconds}", spec, labels, owner="MachineConfigDiffController")
