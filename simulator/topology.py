"""The fleet's model: clusters, machine sets and machines as plain data, plus the hardware and platform
catalogue machines are drawn from. Resources are derived from this model (``builders``); churn changes
the model and re-derives what changed.

All containers are dicts (insertion ordered) so iteration, and therefore every random choice, is
deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field

TALOS_VERSIONS = ("1.9.6", "1.10.7", "1.11.2", "1.11.3")
KUBERNETES_VERSIONS = ("1.31.13", "1.32.9", "1.33.5", "1.34.1")
# What KubernetesVersions lists (every version a cluster may run or upgrade to).
KNOWN_KUBERNETES_VERSIONS = (
    "1.30.14", "1.31.11", "1.31.12", "1.31.13", "1.32.7", "1.32.8", "1.32.9",
    "1.33.3", "1.33.4", "1.33.5", "1.34.0", "1.34.1",
)
BACKEND_VERSION = "v1.10.4"
SIDEROLINK_PREFIX = "fdae:41e4:649b:9303"
OMNI_HOST = "omni.example.org"

EXTENSION_SETS = (
    (),
    ("siderolabs/iscsi-tools", "siderolabs/util-linux-tools"),
    ("siderolabs/qemu-guest-agent",),
    ("siderolabs/nvidia-container-toolkit-production", "siderolabs/nvidia-open-gpu-kernel-modules-production"),
    ("siderolabs/intel-ucode", "siderolabs/i915"),
)
KERNEL_ARG_SETS = ((), ("console=ttyS0",), ("console=ttyS0,115200n8", "net.ifnames=0"), ("talos.platform=metal",))


@dataclass(frozen=True)
class Platform:
    name: str
    weight: int
    arch: str
    cpu_vendor: str
    cpu_model: str
    sockets: int
    cores: int  # per socket
    threads: int  # per socket
    mhz: int
    memory_modules: int
    module_mb: int
    disks: tuple[tuple[str, str, int, str], ...]  # (linux name, model, bytes, transport)
    nic_mbps: int
    regions: tuple[str, ...]
    instance_types: tuple[str, ...]
    cloud: bool

    @property
    def total_cores(self) -> int:
        return self.sockets * self.cores

    @property
    def memory_gib(self) -> int:
        return self.memory_modules * self.module_mb // 1024

    @property
    def storage_gib(self) -> int:
        return sum(size for _, _, size, _ in self.disks) >> 30


GB = 10**9
PLATFORMS = (
    Platform("metal", 30, "amd64", "intel", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", 2, 32, 64, 2000, 16,
             32768, (("nvme0n1", "SAMSUNG MZQL21T9HCJR-00A07", 1920 * GB, "nvme"),
                     ("nvme1n1", "SAMSUNG MZQL21T9HCJR-00A07", 1920 * GB, "nvme")),
             25000, ("fra1", "ams3", "dal2"), ("r650", "r750xs"), False),
    Platform("metal", 6, "arm64", "ampere", "Ampere(R) Altra(R) Processor Q80-30", 1, 80, 80, 3000, 8,
             32768, (("nvme0n1", "Micron_7450_MTFDKCC960TFR", 960 * GB, "nvme"),), 25000,
             ("fra1", "dal2"), ("altra-q80",), False),
    Platform("aws", 22, "amd64", "intel", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 1, 4, 8, 2900, 1,
             32768, (("nvme0n1", "Amazon Elastic Block Store", 100 * GB, "nvme"),), 12500,
             ("us-east-1", "eu-west-1", "ap-southeast-2"), ("m6i.2xlarge", "m6i.xlarge", "c6i.2xlarge"), True),
    Platform("gcp", 12, "amd64", "amd", "AMD EPYC 7B13", 1, 4, 8, 2450, 1, 32768,
             (("sda", "PersistentDisk", 100 * GB, "scsi"),), 16000, ("europe-west4", "us-central1"),
             ("n2d-standard-8",), True),
    Platform("azure", 8, "amd64", "intel", "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz", 1, 4, 8, 2800, 1,
             32768, (("sda", "Virtual Disk", 128 * GB, "scsi"),), 12500, ("westeurope", "eastus2"),
             ("Standard_D8s_v5",), True),
    Platform("vmware", 12, "amd64", "intel", "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", 1, 4, 4, 3000, 2,
             8192, (("sda", "Virtual disk", 120 * GB, "scsi"),), 10000, ("dc-north", "dc-south"),
             ("vm-4c-16g",), False),
    Platform("hcloud", 10, "amd64", "amd", "AMD EPYC Processor", 1, 8, 8, 2400, 1, 16384,
             (("sda", "QEMU HARDDISK", 160 * GB, "scsi"),), 10000, ("fsn1", "nbg1", "hel1"), ("cx42", "cpx41"),
             True),
)
PLATFORM_WEIGHTS = tuple(p.weight for p in PLATFORMS)


@dataclass
class Machine:
    id: str
    hostname: str
    platform: int  # index into PLATFORMS
    region: str
    zone: str
    instance_type: str
    ipv4: str
    siderolink: str
    mac: str
    serial: str
    talos_version: str
    extensions: tuple[str, ...]
    kernel_args: tuple[str, ...]
    secure_boot: bool
    uki: bool
    created: int  # ns
    connected: bool = True
    ready: bool = True
    cluster: str | None = None
    machine_set: str | None = None
    controlplane: bool = False
    user_labels: dict[str, str] = field(default_factory=dict)
    infra_provider: str | None = None
    request_set: str | None = None
    request_id: str | None = None
    accepted: bool = True
    config_version: int = 1

    @property
    def spec_platform(self) -> Platform:
        return PLATFORMS[self.platform]

    @property
    def schematic_id(self) -> str:
        return schematic_id(self.extensions, self.kernel_args)

    @property
    def node_name(self) -> str:
        return self.hostname


@dataclass
class Cluster:
    name: str
    uuid: str
    talos_version: str
    kubernetes_version: str
    created: int
    workload_proxy: bool
    disk_encryption: bool
    embedded_discovery: bool
    backups: bool
    backup_interval_h: int
    bind_port: int
    labels: dict[str, str]
    extensions: tuple[str, ...]
    worker_class: str | None = None  # machine class allocating the workers, if any
    image_pull: bool = False  # an ImagePullRequest left from the last Kubernetes upgrade
    manual_backup: bool = False  # an EtcdManualBackup is pending
    destroying: bool = False
    sets: dict[str, dict[str, None]] = field(default_factory=dict)  # machine set id -> machine ids

    @property
    def control_planes(self) -> str:
        return f"{self.name}-control-planes"

    @property
    def workers(self) -> str:
        return f"{self.name}-workers"

    def machine_ids(self) -> list[str]:
        return [mid for members in self.sets.values() for mid in members]


@dataclass
class Fleet:
    """Everything the generator decided; churn keeps it in step with the store."""

    seed: int
    now: int
    clusters: dict[str, Cluster] = field(default_factory=dict)
    machines: dict[str, Machine] = field(default_factory=dict)
    machine_classes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    request_sets: dict[str, str] = field(default_factory=dict)  # id -> provider
    cluster_serial: int = 0
    machine_serial: int = 0

    def free_machines(self) -> list[Machine]:
        return [m for m in self.machines.values() if m.cluster is None]


def schematic_id(extensions: tuple[str, ...], kernel_args: tuple[str, ...]) -> str:
    """Image Factory schematic ids are the sha256 of the schematic document."""
    doc = "customization:\n"
    if kernel_args:
        doc += "    extraKernelArgs:\n" + "".join(f"        - {a}\n" for a in kernel_args)
    if extensions:
        doc += "    systemExtensions:\n        officialExtensions:\n"
        doc += "".join(f"            - {e}\n" for e in extensions)
    return hashlib.sha256(doc.encode()).hexdigest()


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


_HOST_SYLLABLES = "abcdefghijklmnopqrstuvwxyz0123456789"


def hostname(rng: random.Random) -> str:
    """Talos' default hostname shape: ``talos-xxx-yyy``."""
    pick = rng.choices
    return "talos-" + "".join(pick(_HOST_SYLLABLES, k=3)) + "-" + "".join(pick(_HOST_SYLLABLES, k=3))


_ENVS = ("prod", "staging", "dev", "edge", "ml", "ci", "data", "payments", "web", "iot", "search", "analytics")
_REGIONS = ("eu-west", "us-east", "us-west", "ap-south", "fra", "nyc", "sgp", "syd")


def cluster_name(rng: random.Random, serial: int) -> str:
    return f"{rng.choice(_ENVS)}-{rng.choice(_REGIONS)}-{serial:03d}"
