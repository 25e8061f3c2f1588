import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConfigApplyStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNKNOWN: _ClassVar[ConfigApplyStatus]
    PENDING: _ClassVar[ConfigApplyStatus]
    APPLIED: _ClassVar[ConfigApplyStatus]
    FAILED: _ClassVar[ConfigApplyStatus]

class MachineSetPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    Unknown: _ClassVar[MachineSetPhase]
    ScalingUp: _ClassVar[MachineSetPhase]
    ScalingDown: _ClassVar[MachineSetPhase]
    Running: _ClassVar[MachineSetPhase]
    Destroying: _ClassVar[MachineSetPhase]
    Failed: _ClassVar[MachineSetPhase]
    Reconfiguring: _ClassVar[MachineSetPhase]
    Upgrading: _ClassVar[MachineSetPhase]

class GrpcTunnelMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNSET: _ClassVar[GrpcTunnelMode]
    ENABLED: _ClassVar[GrpcTunnelMode]
    DISABLED: _ClassVar[GrpcTunnelMode]

class ConditionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UnknownCondition: _ClassVar[ConditionType]
    Etcd: _ClassVar[ConditionType]
    WireguardConnection: _ClassVar[ConditionType]
UNKNOWN: ConfigApplyStatus
PENDING: ConfigApplyStatus
APPLIED: ConfigApplyStatus
FAILED: ConfigApplyStatus
Unknown: MachineSetPhase
ScalingUp: MachineSetPhase
ScalingDown: MachineSetPhase
Running: MachineSetPhase
Destroying: MachineSetPhase
Failed: MachineSetPhase
Reconfiguring: MachineSetPhase
Upgrading: MachineSetPhase
UNSET: GrpcTunnelMode
ENABLED: GrpcTunnelMode
DISABLED: GrpcTunnelMode
UnknownCondition: ConditionType
Etcd: ConditionType
WireguardConnection: ConditionType

class ClusterSpec(_message.Message):
    __slots__ = ("kubernetes_version", "talos_version", "features", "backup_configuration")
    class Features(_message.Message):
        __slots__ = ("enable_workload_proxy", "disk_encryption", "use_embedded_discovery_service", "enable_node_audit_skip", "disable_public_discovery_service")
        ENABLE_WORKLOAD_PROXY_FIELD_NUMBER: _ClassVar[int]
        DISK_ENCRYPTION_FIELD_NUMBER: _ClassVar[int]
        USE_EMBEDDED_DISCOVERY_SERVICE_FIELD_NUMBER: _ClassVar[int]
        ENABLE_NODE_AUDIT_SKIP_FIELD_NUMBER: _ClassVar[int]
        DISABLE_PUBLIC_DISCOVERY_SERVICE_FIELD_NUMBER: _ClassVar[int]
        enable_workload_proxy: bool
        disk_encryption: bool
        use_embedded_discovery_service: bool
        enable_node_audit_skip: bool
        disable_public_discovery_service: bool
        def __init__(self, enable_workload_proxy: _Optional[bool] = ..., disk_encryption: _Optional[bool] = ..., use_embedded_discovery_service: _Optional[bool] = ..., enable_node_audit_skip: _Optional[bool] = ..., disable_public_discovery_service: _Optional[bool] = ...) -> None: ...
    KUBERNETES_VERSION_FIELD_NUMBER: _ClassVar[int]
    TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    BACKUP_CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    kubernetes_version: str
    talos_version: str
    features: ClusterSpec.Features
    backup_configuration: EtcdBackupConf
    def __init__(self, kubernetes_version: _Optional[str] = ..., talos_version: _Optional[str] = ..., features: _Optional[_Union[ClusterSpec.Features, _Mapping]] = ..., backup_configuration: _Optional[_Union[EtcdBackupConf, _Mapping]] = ...) -> None: ...

class EtcdBackupConf(_message.Message):
    __slots__ = ("interval", "enabled")
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    interval: _duration_pb2.Duration
    enabled: bool
    def __init__(self, interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., enabled: _Optional[bool] = ...) -> None: ...

class ClusterStatusSpec(_message.Message):
    __slots__ = ("available", "machines", "phase", "ready", "kubernetesAPIReady", "controlplaneReady", "has_connected_control_planes", "use_embedded_discovery_service", "talos_version", "kubernetes_version", "disable_public_discovery_service", "initial_talos_version")
    class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[ClusterStatusSpec.Phase]
        SCALING_UP: _ClassVar[ClusterStatusSpec.Phase]
        SCALING_DOWN: _ClassVar[ClusterStatusSpec.Phase]
        RUNNING: _ClassVar[ClusterStatusSpec.Phase]
        DESTROYING: _ClassVar[ClusterStatusSpec.Phase]
    UNKNOWN: ClusterStatusSpec.Phase
    SCALING_UP: ClusterStatusSpec.Phase
    SCALING_DOWN: ClusterStatusSpec.Phase
    RUNNING: ClusterStatusSpec.Phase
    DESTROYING: ClusterStatusSpec.Phase
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    MACHINES_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    KUBERNETESAPIREADY_FIELD_NUMBER: _ClassVar[int]
    CONTROLPLANEREADY_FIELD_NUMBER: _ClassVar[int]
    HAS_CONNECTED_CONTROL_PLANES_FIELD_NUMBER: _ClassVar[int]
    USE_EMBEDDED_DISCOVERY_SERVICE_FIELD_NUMBER: _ClassVar[int]
    TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    KUBERNETES_VERSION_FIELD_NUMBER: _ClassVar[int]
    DISABLE_PUBLIC_DISCOVERY_SERVICE_FIELD_NUMBER: _ClassVar[int]
    INITIAL_TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    available: bool
    machines: Machines
    phase: ClusterStatusSpec.Phase
    ready: bool
    kubernetesAPIReady: bool
    controlplaneReady: bool
    has_connected_control_planes: bool
    use_embedded_discovery_service: bool
    talos_version: str
    kubernetes_version: str
    disable_public_discovery_service: bool
    initial_talos_version: str
    def __init__(self, available: _Optional[bool] = ..., machines: _Optional[_Union[Machines, _Mapping]] = ..., phase: _Optional[_Union[ClusterStatusSpec.Phase, str]] = ..., ready: _Optional[bool] = ..., kubernetesAPIReady: _Optional[bool] = ..., controlplaneReady: _Optional[bool] = ..., has_connected_control_planes: _Optional[bool] = ..., use_embedded_discovery_service: _Optional[bool] = ..., talos_version: _Optional[str] = ..., kubernetes_version: _Optional[str] = ..., disable_public_discovery_service: _Optional[bool] = ..., initial_talos_version: _Optional[str] = ...) -> None: ...

class Machines(_message.Message):
    __slots__ = ("total", "healthy", "connected", "requested")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    total: int
    healthy: int
    connected: int
    requested: int
    def __init__(self, total: _Optional[int] = ..., healthy: _Optional[int] = ..., connected: _Optional[int] = ..., requested: _Optional[int] = ...) -> None: ...

class ClusterMachineSpec(_message.Message):
    __slots__ = ("kubernetes_version",)
    KUBERNETES_VERSION_FIELD_NUMBER: _ClassVar[int]
    kubernetes_version: str
    def __init__(self, kubernetes_version: _Optional[str] = ...) -> None: ...

class ClusterMachineStatusSpec(_message.Message):
    __slots__ = ("ready", "stage", "config_up_to_date", "last_config_error", "management_address", "config_apply_status", "is_removed", "provision_status")
    class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[ClusterMachineStatusSpec.Stage]
        BOOTING: _ClassVar[ClusterMachineStatusSpec.Stage]
        INSTALLING: _ClassVar[ClusterMachineStatusSpec.Stage]
        UPGRADING: _ClassVar[ClusterMachineStatusSpec.Stage]
        CONFIGURING: _ClassVar[ClusterMachineStatusSpec.Stage]
        RUNNING: _ClassVar[ClusterMachineStatusSpec.Stage]
        REBOOTING: _ClassVar[ClusterMachineStatusSpec.Stage]
        SHUTTING_DOWN: _ClassVar[ClusterMachineStatusSpec.Stage]
        BEFORE_DESTROY: _ClassVar[ClusterMachineStatusSpec.Stage]
        DESTROYING: _ClassVar[ClusterMachineStatusSpec.Stage]
        POWERING_ON: _ClassVar[ClusterMachineStatusSpec.Stage]
        POWERED_OFF: _ClassVar[ClusterMachineStatusSpec.Stage]
    UNKNOWN: ClusterMachineStatusSpec.Stage
    BOOTING: ClusterMachineStatusSpec.Stage
    INSTALLING: ClusterMachineStatusSpec.Stage
    UPGRADING: ClusterMachineStatusSpec.Stage
    CONFIGURING: ClusterMachineStatusSpec.Stage
    RUNNING: ClusterMachineStatusSpec.Stage
    REBOOTING: ClusterMachineStatusSpec.Stage
    SHUTTING_DOWN: ClusterMachineStatusSpec.Stage
    BEFORE_DESTROY: ClusterMachineStatusSpec.Stage
    DESTROYING: ClusterMachineStatusSpec.Stage
    POWERING_ON: ClusterMachineStatusSpec.Stage
    POWERED_OFF: ClusterMachineStatusSpec.Stage
    class ProvisionStatus(_message.Message):
        __slots__ = ("provider_id", "request_id")
        PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
        REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
        provider_id: str
        request_id: str
        def __init__(self, provider_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...
    READY_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_UP_TO_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_CONFIG_ERROR_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_APPLY_STATUS_FIELD_NUMBER: _ClassVar[int]
    IS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    PROVISION_STATUS_FIELD_NUMBER: _ClassVar[int]
    ready: bool
    stage: ClusterMachineStatusSpec.Stage
    config_up_to_date: bool
    last_config_error: str
    management_address: str
    config_apply_status: ConfigApplyStatus
    is_removed: bool
    provision_status: ClusterMachineStatusSpec.ProvisionStatus
    def __init__(self, ready: _Optional[bool] = ..., stage: _Optional[_Union[ClusterMachineStatusSpec.Stage, str]] = ..., config_up_to_date: _Optional[bool] = ..., last_config_error: _Optional[str] = ..., management_address: _Optional[str] = ..., config_apply_status: _Optional[_Union[ConfigApplyStatus, str]] = ..., is_removed: _Optional[bool] = ..., provision_status: _Optional[_Union[ClusterMachineStatusSpec.ProvisionStatus, _Mapping]] = ...) -> None: ...

class ClusterMachineConfigStatusSpec(_message.Message):
    __slots__ = ("cluster_machine_config_version", "cluster_machine_config_sha256", "last_config_error", "talos_version", "schematic_id", "redacted_current_machine_config", "compressed_redacted_machine_config", "pre_reboot_boot_id", "applied_high_priority_config_hash", "image_factory_host")
    CLUSTER_MACHINE_CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_MACHINE_CONFIG_SHA256_FIELD_NUMBER: _ClassVar[int]
    LAST_CONFIG_ERROR_FIELD_NUMBER: _ClassVar[int]
    TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMATIC_ID_FIELD_NUMBER: _ClassVar[int]
    REDACTED_CURRENT_MACHINE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_REDACTED_MACHINE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    PRE_REBOOT_BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_HIGH_PRIORITY_CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FACTORY_HOST_FIELD_NUMBER: _ClassVar[int]
    cluster_machine_config_version: str
    cluster_machine_config_sha256: str
    last_config_error: str
    talos_version: str
    schematic_id: str
    redacted_current_machine_config: str
    compressed_redacted_machine_config: bytes
    pre_reboot_boot_id: str
    applied_high_priority_config_hash: str
    image_factory_host: str
    def __init__(self, cluster_machine_config_version: _Optional[str] = ..., cluster_machine_config_sha256: _Optional[str] = ..., last_config_error: _Optional[str] = ..., talos_version: _Optional[str] = ..., schematic_id: _Optional[str] = ..., redacted_current_machine_config: _Optional[str] = ..., compressed_redacted_machine_config: _Optional[bytes] = ..., pre_reboot_boot_id: _Optional[str] = ..., applied_high_priority_config_hash: _Optional[str] = ..., image_factory_host: _Optional[str] = ...) -> None: ...

class ClusterMachineTalosVersionSpec(_message.Message):
    __slots__ = ("talos_version", "schematic_id")
    TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMATIC_ID_FIELD_NUMBER: _ClassVar[int]
    talos_version: str
    schematic_id: str
    def __init__(self, talos_version: _Optional[str] = ..., schematic_id: _Optional[str] = ...) -> None: ...

class ClusterMachineConfigSpec(_message.Message):
    __slots__ = ("data", "generation_error", "compressed_data", "without_comments", "grub_use_uki_cmdline", "install_disk")
    DATA_FIELD_NUMBER: _ClassVar[int]
    GENERATION_ERROR_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_DATA_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_COMMENTS_FIELD_NUMBER: _ClassVar[int]
    GRUB_USE_UKI_CMDLINE_FIELD_NUMBER: _ClassVar[int]
    INSTALL_DISK_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    generation_error: str
    compressed_data: bytes
    without_comments: bool
    grub_use_uki_cmdline: bool
    install_disk: str
    def __init__(self, data: _Optional[bytes] = ..., generation_error: _Optional[str] = ..., compressed_data: _Optional[bytes] = ..., without_comments: _Optional[bool] = ..., grub_use_uki_cmdline: _Optional[bool] = ..., install_disk: _Optional[str] = ...) -> None: ...

class RedactedClusterMachineConfigSpec(_message.Message):
    __slots__ = ("data", "compressed_data")
    DATA_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_DATA_FIELD_NUMBER: _ClassVar[int]
    data: str
    compressed_data: bytes
    def __init__(self, data: _Optional[str] = ..., compressed_data: _Optional[bytes] = ...) -> None: ...

class MachineSpec(_message.Message):
    __slots__ = ("management_address", "connected", "use_grpc_tunnel")
    MANAGEMENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    USE_GRPC_TUNNEL_FIELD_NUMBER: _ClassVar[int]
    management_address: str
    connected: bool
    use_grpc_tunnel: bool
    def __init__(self, management_address: _Optional[str] = ..., connected: _Optional[bool] = ..., use_grpc_tunnel: _Optional[bool] = ...) -> None: ...

class MachineStatusSpec(_message.Message):
    __slots__ = ("talos_version", "hardware", "network", "last_error", "management_address", "connected", "maintenance", "cluster", "role", "platform_metadata", "image_labels", "schematic", "initial_talos_version", "diagnostics", "power_state", "security_state", "kernel_cmdline", "talos_version_name")
    class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NONE: _ClassVar[MachineStatusSpec.Role]
        CONTROL_PLANE: _ClassVar[MachineStatusSpec.Role]
        WORKER: _ClassVar[MachineStatusSpec.Role]
    NONE: MachineStatusSpec.Role
    CONTROL_PLANE: MachineStatusSpec.Role
    WORKER: MachineStatusSpec.Role
    class PowerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        POWER_STATE_UNKNOWN: _ClassVar[MachineStatusSpec.PowerState]
        POWER_STATE_UNSUPPORTED: _ClassVar[MachineStatusSpec.PowerState]
        POWER_STATE_ON: _ClassVar[MachineStatusSpec.PowerState]
        POWER_STATE_OFF: _ClassVar[MachineStatusSpec.PowerState]
    POWER_STATE_UNKNOWN: MachineStatusSpec.PowerState
    POWER_STATE_UNSUPPORTED: MachineStatusSpec.PowerState
    POWER_STATE_ON: MachineStatusSpec.PowerState
    POWER_STATE_OFF: MachineStatusSpec.PowerState
    class HardwareStatus(_message.Message):
        __slots__ = ("processors", "memory_modules", "blockdevices", "arch")
        class Processor(_message.Message):
            __slots__ = ("core_count", "thread_count", "frequency", "description", "manufacturer")
            CORE_COUNT_FIELD_NUMBER: _ClassVar[int]
            THREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
            FREQUENCY_FIELD_NUMBER: _ClassVar[int]
            DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
            MANUFACTURER_FIELD_NUMBER: _ClassVar[int]
            core_count: int
            thread_count: int
            frequency: int
            description: str
            manufacturer: str
            def __init__(self, core_count: _Optional[int] = ..., thread_count: _Optional[int] = ..., frequency: _Optional[int] = ..., description: _Optional[str] = ..., manufacturer: _Optional[str] = ...) -> None: ...
        class MemoryModule(_message.Message):
            __slots__ = ("size_mb", "description")
            SIZE_MB_FIELD_NUMBER: _ClassVar[int]
            DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
            size_mb: int
            description: str
            def __init__(self, size_mb: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...
        class BlockDevice(_message.Message):
            __slots__ = ("size", "model", "linux_name", "name", "serial", "uuid", "wwid", "type", "bus_path", "system_disk", "readonly", "transport", "dev_path", "io_size", "sector_size", "modalias", "sub_system", "rotational", "cdrom", "pretty_size", "secondary_disks", "symlinks", "firmware_version")
            SIZE_FIELD_NUMBER: _ClassVar[int]
            MODEL_FIELD_NUMBER: _ClassVar[int]
            LINUX_NAME_FIELD_NUMBER: _ClassVar[int]
            NAME_FIELD_NUMBER: _ClassVar[int]
            SERIAL_FIELD_NUMBER: _ClassVar[int]
            UUID_FIELD_NUMBER: _ClassVar[int]
            WWID_FIELD_NUMBER: _ClassVar[int]
            TYPE_FIELD_NUMBER: _ClassVar[int]
            BUS_PATH_FIELD_NUMBER: _ClassVar[int]
            SYSTEM_DISK_FIELD_NUMBER: _ClassVar[int]
            READONLY_FIELD_NUMBER: _ClassVar[int]
            TRANSPORT_FIELD_NUMBER: _ClassVar[int]
            DEV_PATH_FIELD_NUMBER: _ClassVar[int]
            IO_SIZE_FIELD_NUMBER: _ClassVar[int]
            SECTOR_SIZE_FIELD_NUMBER: _ClassVar[int]
            MODALIAS_FIELD_NUMBER: _ClassVar[int]
            SUB_SYSTEM_FIELD_NUMBER: _ClassVar[int]
            ROTATIONAL_FIELD_NUMBER: _ClassVar[int]
            CDROM_FIELD_NUMBER: _ClassVar[int]
            PRETTY_SIZE_FIELD_NUMBER: _ClassVar[int]
            SECONDARY_DISKS_FIELD_NUMBER: _ClassVar[int]
            SYMLINKS_FIELD_NUMBER: _ClassVar[int]
            FIRMWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
            size: int
            model: str
            linux_name: str
            name: str
            serial: str
            uuid: str
            wwid: str
            type: str
            bus_path: str
            system_disk: bool
            readonly: bool
            transport: str
            dev_path: str
            io_size: int
            sector_size: int
            modalias: str
            sub_system: str
            rotational: bool
            cdrom: bool
            pretty_size: str
            secondary_disks: _containers.RepeatedScalarFieldContainer[str]
            symlinks: _containers.RepeatedScalarFieldContainer[str]
            firmware_version: str
            def __init__(self, size: _Optional[int] = ..., model: _Optional[str] = ..., linux_name: _Optional[str] = ..., name: _Optional[str] = ..., serial: _Optional[str] = ..., uuid: _Optional[str] = ..., wwid: _Optional[str] = ..., type: _Optional[str] = ..., bus_path: _Optional[str] = ..., system_disk: _Optional[bool] = ..., readonly: _Optional[bool] = ..., transport: _Optional[str] = ..., dev_path: _Optional[str] = ..., io_size: _Optional[int] = ..., sector_size: _Optional[int] = ..., modalias: _Optional[str] = ..., sub_system: _Optional[str] = ..., rotational: _Optional[bool] = ..., cdrom: _Optional[bool] = ..., pretty_size: _Optional[str] = ..., secondary_disks: _Optional[_Iterable[str]] = ..., symlinks: _Optional[_Iterable[str]] = ..., firmware_version: _Optional[str] = ...) -> None: ...
        PROCESSORS_FIELD_NUMBER: _ClassVar[int]
        MEMORY_MODULES_FIELD_NUMBER: _ClassVar[int]
        BLOCKDEVICES_FIELD_NUMBER: _ClassVar[int]
        ARCH_FIELD_NUMBER: _ClassVar[int]
        processors: _containers.RepeatedCompositeFieldContainer[MachineStatusSpec.HardwareStatus.Processor]
        memory_modules: _containers.RepeatedCompositeFieldContainer[MachineStatusSpec.HardwareStatus.MemoryModule]
        blockdevices: _containers.RepeatedCompositeFieldContainer[MachineStatusSpec.HardwareStatus.BlockDevice]
        arch: str
        def __init__(self, processors: _Optional[_Iterable[_Union[MachineStatusSpec.HardwareStatus.Processor, _Mapping]]] = ..., memory_modules: _Optional[_Iterable[_Union[MachineStatusSpec.HardwareStatus.MemoryModule, _Mapping]]] = ..., blockdevices: _Optional[_Iterable[_Union[MachineStatusSpec.HardwareStatus.BlockDevice, _Mapping]]] = ..., arch: _Optional[str] = ...) -> None: ...
    class NetworkStatus(_message.Message):
        __slots__ = ("hostname", "domainname", "addresses", "default_gateways", "network_links")
        class NetworkLinkStatus(_message.Message):
            __slots__ = ("linux_name", "hardware_address", "speed_mbps", "link_up", "description")
            LINUX_NAME_FIELD_NUMBER: _ClassVar[int]
            HARDWARE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
            SPEED_MBPS_FIELD_NUMBER: _ClassVar[int]
            LINK_UP_FIELD_NUMBER: _ClassVar[int]
            DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
            linux_name: str
            hardware_address: str
            speed_mbps: int
            link_up: bool
            description: str
            def __init__(self, linux_name: _Optional[str] = ..., hardware_address: _Optional[str] = ..., speed_mbps: _Optional[int] = ..., link_up: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...
        HOSTNAME_FIELD_NUMBER: _ClassVar[int]
        DOMAINNAME_FIELD_NUMBER: _ClassVar[int]
        ADDRESSES_FIELD_NUMBER: _ClassVar[int]
        DEFAULT_GATEWAYS_FIELD_NUMBER: _ClassVar[int]
        NETWORK_LINKS_FIELD_NUMBER: _ClassVar[int]
        hostname: str
        domainname: str
        addresses: _containers.RepeatedScalarFieldContainer[str]
        default_gateways: _containers.RepeatedScalarFieldContainer[str]
        network_links: _containers.RepeatedCompositeFieldContainer[MachineStatusSpec.NetworkStatus.NetworkLinkStatus]
        def __init__(self, hostname: _Optional[str] = ..., domainname: _Optional[str] = ..., addresses: _Optional[_Iterable[str]] = ..., default_gateways: _Optional[_Iterable[str]] = ..., network_links: _Optional[_Iterable[_Union[MachineStatusSpec.NetworkStatus.NetworkLinkStatus, _Mapping]]] = ...) -> None: ...
    class PlatformMetadata(_message.Message):
        __slots__ = ("platform", "hostname", "region", "zone", "instance_type", "instance_id", "provider_id", "spot", "tags")
        class TagsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        PLATFORM_FIELD_NUMBER: _ClassVar[int]
        HOSTNAME_FIELD_NUMBER: _ClassVar[int]
        REGION_FIELD_NUMBER: _ClassVar[int]
        ZONE_FIELD_NUMBER: _ClassVar[int]
        INSTANCE_TYPE_FIELD_NUMBER: _ClassVar[int]
        INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
        PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
        SPOT_FIELD_NUMBER: _ClassVar[int]
        TAGS_FIELD_NUMBER: _ClassVar[int]
        platform: str
        hostname: str
        region: str
        zone: str
        instance_type: str
        instance_id: str
        provider_id: str
        spot: bool
        tags: _containers.ScalarMap[str, str]
        def __init__(self, platform: _Optional[str] = ..., hostname: _Optional[str] = ..., region: _Optional[str] = ..., zone: _Optional[str] = ..., instance_type: _Optional[str] = ..., instance_id: _Optional[str] = ..., provider_id: _Optional[str] = ..., spot: _Optional[bool] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...
    class Schematic(_message.Message):
        __slots__ = ("invalid", "extensions", "initial_schematic", "kernel_args", "full_id", "in_agent_mode", "raw", "initial_state")
        class InitialState(_message.Message):
            __slots__ = ("extensions",)
            EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
            extensions: _containers.RepeatedScalarFieldContainer[str]
            def __init__(self, extensions: _Optional[_Iterable[str]] = ...) -> None: ...
        INVALID_FIELD_NUMBER: _ClassVar[int]
        EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
        INITIAL_SCHEMATIC_FIELD_NUMBER: _ClassVar[int]
        KERNEL_ARGS_FIELD_NUMBER: _ClassVar[int]
        FULL_ID_FIELD_NUMBER: _ClassVar[int]
        IN_AGENT_MODE_FIELD_NUMBER: _ClassVar[int]
        RAW_FIELD_NUMBER: _ClassVar[int]
        INITIAL_STATE_FIELD_NUMBER: _ClassVar[int]
        invalid: bool
        extensions: _containers.RepeatedScalarFieldContainer[str]
        initial_schematic: str
        kernel_args: _containers.RepeatedScalarFieldContainer[str]
        full_id: str
        in_agent_mode: bool
        raw: str
        initial_state: MachineStatusSpec.Schematic.InitialState
        def __init__(self, invalid: _Optional[bool] = ..., extensions: _Optional[_Iterable[str]] = ..., initial_schematic: _Optional[str] = ..., kernel_args: _Optional[_Iterable[str]] = ..., full_id: _Optional[str] = ..., in_agent_mode: _Optional[bool] = ..., raw: _Optional[str] = ..., initial_state: _Optional[_Union[MachineStatusSpec.Schematic.InitialState, _Mapping]] = ...) -> None: ...
    class Diagnostic(_message.Message):
        __slots__ = ("id", "message", "details")
        ID_FIELD_NUMBER: _ClassVar[int]
        MESSAGE_FIELD_NUMBER: _ClassVar[int]
        DETAILS_FIELD_NUMBER: _ClassVar[int]
        id: str
        message: str
        details: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, id: _Optional[str] = ..., message: _Optional[str] = ..., details: _Optional[_Iterable[str]] = ...) -> None: ...
    class ImageLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    MAINTENANCE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_METADATA_FIELD_NUMBER: _ClassVar[int]
    IMAGE_LABELS_FIELD_NUMBER: _ClassVar[int]
    SCHEMATIC_FIELD_NUMBER: _ClassVar[int]
    INITIAL_TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_STATE_FIELD_NUMBER: _ClassVar[int]
    KERNEL_CMDLINE_FIELD_NUMBER: _ClassVar[int]
    TALOS_VERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    talos_version: str
    hardware: MachineStatusSpec.HardwareStatus
    network: MachineStatusSpec.NetworkStatus
    last_error: str
    management_address: str
    connected: bool
    maintenance: bool
    cluster: str
    role: MachineStatusSpec.Role
    platform_metadata: MachineStatusSpec.PlatformMetadata
    image_labels: _containers.ScalarMap[str, str]
    schematic: MachineStatusSpec.Schematic
    initial_talos_version: str
    diagnostics: _containers.RepeatedCompositeFieldContainer[MachineStatusSpec.Diagnostic]
    power_state: MachineStatusSpec.PowerState
    security_state: SecurityState
    kernel_cmdline: str
    talos_version_name: str
    def __init__(self, talos_version: _Optional[str] = ..., hardware: _Optional[_Union[MachineStatusSpec.HardwareStatus, _Mapping]] = ..., network: _Optional[_Union[MachineStatusSpec.NetworkStatus, _Mapping]] = ..., last_error: _Optional[str] = ..., management_address: _Optional[str] = ..., connected: _Optional[bool] = ..., maintenance: _Optional[bool] = ..., cluster: _Optional[str] = ..., role: _Optional[_Union[MachineStatusSpec.Role, str]] = ..., platform_metadata: _Optional[_Union[MachineStatusSpec.PlatformMetadata, _Mapping]] = ..., image_labels: _Optional[_Mapping[str, str]] = ..., schematic: _Optional[_Union[MachineStatusSpec.Schematic, _Mapping]] = ..., initial_talos_version: _Optional[str] = ..., diagnostics: _Optional[_Iterable[_Union[MachineStatusSpec.Diagnostic, _Mapping]]] = ..., power_state: _Optional[_Union[MachineStatusSpec.PowerState, str]] = ..., security_state: _Optional[_Union[SecurityState, _Mapping]] = ..., kernel_cmdline: _Optional[str] = ..., talos_version_name: _Optional[str] = ...) -> None: ...

class SecurityState(_message.Message):
    __slots__ = ("secure_boot", "booted_with_uki", "fips_state")
    class FIPSState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        FIPS_STATE_DISABLED: _ClassVar[SecurityState.FIPSState]
        FIPS_STATE_ENABLED: _ClassVar[SecurityState.FIPSState]
        FIPS_STATE_STRICT: _ClassVar[SecurityState.FIPSState]
    FIPS_STATE_DISABLED: SecurityState.FIPSState
    FIPS_STATE_ENABLED: SecurityState.FIPSState
    FIPS_STATE_STRICT: SecurityState.FIPSState
    SECURE_BOOT_FIELD_NUMBER: _ClassVar[int]
    BOOTED_WITH_UKI_FIELD_NUMBER: _ClassVar[int]
    FIPS_STATE_FIELD_NUMBER: _ClassVar[int]
    secure_boot: bool
    booted_with_uki: bool
    fips_state: SecurityState.FIPSState
    def __init__(self, secure_boot: _Optional[bool] = ..., booted_with_uki: _Optional[bool] = ..., fips_state: _Optional[_Union[SecurityState.FIPSState, str]] = ...) -> None: ...

class MachineLabelsSpec(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MachineExtensionsSpec(_message.Message):
    __slots__ = ("extensions",)
    EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
    extensions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, extensions: _Optional[_Iterable[str]] = ...) -> None: ...

class MachineUpgradeStatusSpec(_message.Message):
    __slots__ = ("schematic_id", "talos_version", "current_schematic_id", "current_talos_version", "phase", "status", "error", "is_maintenance")
    class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        Unknown: _ClassVar[MachineUpgradeStatusSpec.Phase]
        Pending: _ClassVar[MachineUpgradeStatusSpec.Phase]
        Upgrading: _ClassVar[MachineUpgradeStatusSpec.Phase]
        UpToDate: _ClassVar[MachineUpgradeStatusSpec.Phase]
    Unknown: MachineUpgradeStatusSpec.Phase
    Pending: MachineUpgradeStatusSpec.Phase
    Upgrading: MachineUpgradeStatusSpec.Phase
    UpToDate: MachineUpgradeStatusSpec.Phase
    SCHEMATIC_ID_FIELD_NUMBER: _ClassVar[int]
    TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_SCHEMATIC_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    IS_MAINTENANCE_FIELD_NUMBER: _ClassVar[int]
    schematic_id: str
    talos_version: str
    current_schematic_id: str
    current_talos_version: str
    phase: MachineUpgradeStatusSpec.Phase
    status: str
    error: str
    is_maintenance: bool
    def __init__(self, schematic_id: _Optional[str] = ..., talos_version: _Optional[str] = ..., current_schematic_id: _Optional[str] = ..., current_talos_version: _Optional[str] = ..., phase: _Optional[_Union[MachineUpgradeStatusSpec.Phase, str]] = ..., status: _Optional[str] = ..., error: _Optional[str] = ..., is_maintenance: _Optional[bool] = ...) -> None: ...

class MachineSetSpec(_message.Message):
    __slots__ = ("update_strategy", "machine_class", "bootstrap_spec", "delete_strategy", "update_strategy_config", "delete_strategy_config", "machine_allocation", "upgrade_strategy", "upgrade_strategy_config")
    class UpdateStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        Unset: _ClassVar[MachineSetSpec.UpdateStrategy]
        Rolling: _ClassVar[MachineSetSpec.UpdateStrategy]
    Unset: MachineSetSpec.UpdateStrategy
    Rolling: MachineSetSpec.UpdateStrategy
    class MachineAllocation(_message.Message):
        __slots__ = ("name", "machine_count", "allocation_type")
        class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            Static: _ClassVar[MachineSetSpec.MachineAllocation.Type]
            Unlimited: _ClassVar[MachineSetSpec.MachineAllocation.Type]
        Static: MachineSetSpec.MachineAllocation.Type
        Unlimited: MachineSetSpec.MachineAllocation.Type
        NAME_FIELD_NUMBER: _ClassVar[int]
        MACHINE_COUNT_FIELD_NUMBER: _ClassVar[int]
        ALLOCATION_TYPE_FIELD_NUMBER: _ClassVar[int]
        name: str
        machine_count: int
        allocation_type: MachineSetSpec.MachineAllocation.Type
        def __init__(self, name: _Optional[str] = ..., machine_count: _Optional[int] = ..., allocation_type: _Optional[_Union[MachineSetSpec.MachineAllocation.Type, str]] = ...) -> None: ...
    class BootstrapSpec(_message.Message):
        __slots__ = ("cluster_uuid", "snapshot")
        CLUSTER_UUID_FIELD_NUMBER: _ClassVar[int]
        SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
        cluster_uuid: str
        snapshot: str
        def __init__(self, cluster_uuid: _Optional[str] = ..., snapshot: _Optional[str] = ...) -> None: ...
    class RollingUpdateStrategyConfig(_message.Message):
        __slots__ = ("max_parallelism",)
        MAX_PARALLELISM_FIELD_NUMBER: _ClassVar[int]
        max_parallelism: int
        def __init__(self, max_parallelism: _Optional[int] = ...) -> None: ...
    class UpdateStrategyConfig(_message.Message):
        __slots__ = ("rolling",)
        ROLLING_FIELD_NUMBER: _ClassVar[int]
        rolling: MachineSetSpec.RollingUpdateStrategyConfig
        def __init__(self, rolling: _Optional[_Union[MachineSetSpec.RollingUpdateStrategyConfig, _Mapping]] = ...) -> None: ...
    UPDATE_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    MACHINE_CLASS_FIELD_NUMBER: _ClassVar[int]
    BOOTSTRAP_SPEC_FIELD_NUMBER: _ClassVar[int]
    DELETE_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_STRATEGY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    DELETE_STRATEGY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    MACHINE_ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    UPGRADE_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    UPGRADE_STRATEGY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    update_strategy: MachineSetSpec.UpdateStrategy
    machine_class: MachineSetSpec.MachineAllocation
    bootstrap_spec: MachineSetSpec.BootstrapSpec
    delete_strategy: MachineSetSpec.UpdateStrategy
    update_strategy_config: MachineSetSpec.UpdateStrategyConfig
    delete_strategy_config: MachineSetSpec.UpdateStrategyConfig
    machine_allocation: MachineSetSpec.MachineAllocation
    upgrade_strategy: MachineSetSpec.UpdateStrategy
    upgrade_strategy_config: MachineSetSpec.UpdateStrategyConfig
    def __init__(self, update_strategy: _Optional[_Union[MachineSetSpec.UpdateStrategy, str]] = ..., machine_class: _Optional[_Union[MachineSetSpec.MachineAllocation, _Mapping]] = ..., bootstrap_spec: _Optional[_Union[MachineSetSpec.BootstrapSpec, _Mapping]] = ..., delete_strategy: _Optional[_Union[MachineSetSpec.UpdateStrategy, str]] = ..., update_strategy_config: _Optional[_Union[MachineSetSpec.UpdateStrategyConfig, _Mapping]] = ..., delete_strategy_config: _Optional[_Union[MachineSetSpec.UpdateStrategyConfig, _Mapping]] = ..., machine_allocation: _Optional[_Union[MachineSetSpec.MachineAllocation, _Mapping]] = ..., upgrade_strategy: _Optional[_Union[MachineSetSpec.UpdateStrategy, str]] = ..., upgrade_strategy_config: _Optional[_Union[MachineSetSpec.UpdateStrategyConfig, _Mapping]] = ...) -> None: ...

class MachineSetStatusSpec(_message.Message):
    __slots__ = ("phase", "ready", "error", "machines", "config_hash", "machine_allocation", "locked_updates")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MACHINES_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    MACHINE_ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    LOCKED_UPDATES_FIELD_NUMBER: _ClassVar[int]
    phase: MachineSetPhase
    ready: bool
    error: str
    machines: Machines
    config_hash: str
    machine_allocation: MachineSetSpec.MachineAllocation
    locked_updates: int
    def __init__(self, phase: _Optional[_Union[MachineSetPhase, str]] = ..., ready: _Optional[bool] = ..., error: _Optional[str] = ..., machines: _Optional[_Union[Machines, _Mapping]] = ..., config_hash: _Optional[str] = ..., machine_allocation: _Optional[_Union[MachineSetSpec.MachineAllocation, _Mapping]] = ..., locked_updates: _Optional[int] = ...) -> None: ...

class MachineSetNodeSpec(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MachineClassSpec(_message.Message):
    __slots__ = ("match_labels", "auto_provision")
    class Provision(_message.Message):
        __slots__ = ("provider_id", "kernel_args", "meta_values", "provider_data", "grpc_tunnel")
        PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
        KERNEL_ARGS_FIELD_NUMBER: _ClassVar[int]
        META_VALUES_FIELD_NUMBER: _ClassVar[int]
        PROVIDER_DATA_FIELD_NUMBER: _ClassVar[int]
        GRPC_TUNNEL_FIELD_NUMBER: _ClassVar[int]
        provider_id: str
        kernel_args: _containers.RepeatedScalarFieldContainer[str]
        meta_values: _containers.RepeatedCompositeFieldContainer[MetaValue]
        provider_data: str
        grpc_tunnel: GrpcTunnelMode
        def __init__(self, provider_id: _Optional[str] = ..., kernel_args: _Optional[_Iterable[str]] = ..., meta_values: _Optional[_Iterable[_Union[MetaValue, _Mapping]]] = ..., provider_data: _Optional[str] = ..., grpc_tunnel: _Optional[_Union[GrpcTunnelMode, str]] = ...) -> None: ...
    MATCH_LABELS_FIELD_NUMBER: _ClassVar[int]
    AUTO_PROVISION_FIELD_NUMBER: _ClassVar[int]
    match_labels: _containers.RepeatedScalarFieldContainer[str]
    auto_provision: MachineClassSpec.Provision
    def __init__(self, match_labels: _Optional[_Iterable[str]] = ..., auto_provision: _Optional[_Union[MachineClassSpec.Provision, _Mapping]] = ...) -> None: ...

class MetaValue(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: int
    value: str
    def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...

class ConfigPatchSpec(_message.Message):
    __slots__ = ("data", "compressed_data")
    DATA_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_DATA_FIELD_NUMBER: _ClassVar[int]
    data: str
    compressed_data: bytes
    def __init__(self, data: _Optional[str] = ..., compressed_data: _Optional[bytes] = ...) -> None: ...

class KubeconfigSpec(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class KubernetesUpgradeStatusSpec(_message.Message):
    __slots__ = ("phase", "error", "step", "status", "last_upgrade_version", "upgrade_versions", "current_upgrade_version")
    class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        Unknown: _ClassVar[KubernetesUpgradeStatusSpec.Phase]
        Upgrading: _ClassVar[KubernetesUpgradeStatusSpec.Phase]
        Done: _ClassVar[KubernetesUpgradeStatusSpec.Phase]
        Failed: _ClassVar[KubernetesUpgradeStatusSpec.Phase]
        Reverting: _ClassVar[KubernetesUpgradeStatusSpec.Phase]
    Unknown: KubernetesUpgradeStatusSpec.Phase
    Upgrading: KubernetesUpgradeStatusSpec.Phase
    Done: KubernetesUpgradeStatusSpec.Phase
    Failed: KubernetesUpgradeStatusSpec.Phase
    Reverting: KubernetesUpgradeStatusSpec.Phase
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_UPGRADE_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPGRADE_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_UPGRADE_VERSION_FIELD_NUMBER: _ClassVar[int]
    phase: KubernetesUpgradeStatusSpec.Phase
    error: str
    step: str
    status: str
    last_upgrade_version: str
    upgrade_versions: _containers.RepeatedScalarFieldContainer[str]
    current_upgrade_version: str
    def __init__(self, phase: _Optional[_Union[KubernetesUpgradeStatusSpec.Phase, str]] = ..., error: _Optional[str] = ..., step: _Optional[str] = ..., status: _Optional[str] = ..., last_upgrade_version: _Optional[str] = ..., upgrade_versions: _Optional[_Iterable[str]] = ..., current_upgrade_version: _Optional[str] = ...) -> None: ...

class TalosUpgradeStatusSpec(_message.Message):
    __slots__ = ("phase", "error", "step", "status", "last_upgrade_version", "current_upgrade_version", "upgrade_versions")
    class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        Unknown: _ClassVar[TalosUpgradeStatusSpec.Phase]
        Upgrading: _ClassVar[TalosUpgradeStatusSpec.Phase]
        Done: _ClassVar[TalosUpgradeStatusSpec.Phase]
        Failed: _ClassVar[TalosUpgradeStatusSpec.Phase]
        Reverting: _ClassVar[TalosUpgradeStatusSpec.Phase]
        UpdatingMachineSchematics: _ClassVar[TalosUpgradeStatusSpec.Phase]
    Unknown: TalosUpgradeStatusSpec.Phase
    Upgrading: TalosUpgradeStatusSpec.Phase
    Done: TalosUpgradeStatusSpec.Phase
    Failed: TalosUpgradeStatusSpec.Phase
    Reverting: TalosUpgradeStatusSpec.Phase
    UpdatingMachineSchematics: TalosUpgradeStatusSpec.Phase
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_UPGRADE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_UPGRADE_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPGRADE_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    phase: TalosUpgradeStatusSpec.Phase
    error: str
    step: str
    status: str
    last_upgrade_version: str
    current_upgrade_version: str
    upgrade_versions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, phase: _Optional[_Union[TalosUpgradeStatusSpec.Phase, str]] = ..., error: _Optional[str] = ..., step: _Optional[str] = ..., status: _Optional[str] = ..., last_upgrade_version: _Optional[str] = ..., current_upgrade_version: _Optional[str] = ..., upgrade_versions: _Optional[_Iterable[str]] = ...) -> None: ...

class KubernetesStatusSpec(_message.Message):
    __slots__ = ("nodes", "static_pods")
    class NodeStatus(_message.Message):
        __slots__ = ("nodename", "kubelet_version", "ready", "skip_audit")
        NODENAME_FIELD_NUMBER: _ClassVar[int]
        KUBELET_VERSION_FIELD_NUMBER: _ClassVar[int]
        READY_FIELD_NUMBER: _ClassVar[int]
        SKIP_AUDIT_FIELD_NUMBER: _ClassVar[int]
        nodename: str
        kubelet_version: str
        ready: bool
        skip_audit: bool
        def __init__(self, nodename: _Optional[str] = ..., kubelet_version: _Optional[str] = ..., ready: _Optional[bool] = ..., skip_audit: _Optional[bool] = ...) -> None: ...
    class StaticPodStatus(_message.Message):
        __slots__ = ("app", "version", "ready")
        APP_FIELD_NUMBER: _ClassVar[int]
        VERSION_FIELD_NUMBER: _ClassVar[int]
        READY_FIELD_NUMBER: _ClassVar[int]
        app: str
        version: str
        ready: bool
        def __init__(self, app: _Optional[str] = ..., version: _Optional[str] = ..., ready: _Optional[bool] = ...) -> None: ...
    class NodeStaticPods(_message.Message):
        __slots__ = ("nodename", "static_pods")
        NODENAME_FIELD_NUMBER: _ClassVar[int]
        STATIC_PODS_FIELD_NUMBER: _ClassVar[int]
        nodename: str
        static_pods: _containers.RepeatedCompositeFieldContainer[KubernetesStatusSpec.StaticPodStatus]
        def __init__(self, nodename: _Optional[str] = ..., static_pods: _Optional[_Iterable[_Union[KubernetesStatusSpec.StaticPodStatus, _Mapping]]] = ...) -> None: ...
    NODES_FIELD_NUMBER: _ClassVar[int]
    STATIC_PODS_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[KubernetesStatusSpec.NodeStatus]
    static_pods: _containers.RepeatedCompositeFieldContainer[KubernetesStatusSpec.NodeStaticPods]
    def __init__(self, nodes: _Optional[_Iterable[_Union[KubernetesStatusSpec.NodeStatus, _Mapping]]] = ..., static_pods: _Optional[_Iterable[_Union[KubernetesStatusSpec.NodeStaticPods, _Mapping]]] = ...) -> None: ...

class ClusterKubernetesNodesSpec(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, nodes: _Optional[_Iterable[str]] = ...) -> None: ...

class KubernetesVersionSpec(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class ClusterEndpointSpec(_message.Message):
    __slots__ = ("management_addresses",)
    MANAGEMENT_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    management_addresses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, management_addresses: _Optional[_Iterable[str]] = ...) -> None: ...

class ControlPlaneStatusSpec(_message.Message):
    __slots__ = ("conditions",)
    class Condition(_message.Message):
        __slots__ = ("type", "reason", "status", "severity")
        class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            Unknown: _ClassVar[ControlPlaneStatusSpec.Condition.Status]
            Ready: _ClassVar[ControlPlaneStatusSpec.Condition.Status]
            NotReady: _ClassVar[ControlPlaneStatusSpec.Condition.Status]
        Unknown: ControlPlaneStatusSpec.Condition.Status
        Ready: ControlPlaneStatusSpec.Condition.Status
        NotReady: ControlPlaneStatusSpec.Condition.Status
        class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            Info: _ClassVar[ControlPlaneStatusSpec.Condition.Severity]
            Warning: _ClassVar[ControlPlaneStatusSpec.Condition.Severity]
            Error: _ClassVar[ControlPlaneStatusSpec.Condition.Severity]
        Info: ControlPlaneStatusSpec.Condition.Severity
        Warning: ControlPlaneStatusSpec.Condition.Severity
        Error: ControlPlaneStatusSpec.Condition.Severity
        TYPE_FIELD_NUMBER: _ClassVar[int]
        REASON_FIELD_NUMBER: _ClassVar[int]
        STATUS_FIELD_NUMBER: _ClassVar[int]
        SEVERITY_FIELD_NUMBER: _ClassVar[int]
        type: ConditionType
        reason: str
        status: ControlPlaneStatusSpec.Condition.Status
        severity: ControlPlaneStatusSpec.Condition.Severity
        def __init__(self, type: _Optional[_Union[ConditionType, str]] = ..., reason: _Optional[str] = ..., status: _Optional[_Union[ControlPlaneStatusSpec.Condition.Status, str]] = ..., severity: _Optional[_Union[ControlPlaneStatusSpec.Condition.Severity, str]] = ...) -> None: ...
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    conditions: _containers.RepeatedCompositeFieldContainer[ControlPlaneStatusSpec.Condition]
    def __init__(self, conditions: _Optional[_Iterable[_Union[ControlPlaneStatusSpec.Condition, _Mapping]]] = ...) -> None: ...

class ClusterDiagnosticsSpec(_message.Message):
    __slots__ = ("nodes",)
    class Node(_message.Message):
        __slots__ = ("id", "num_diagnostics")
        ID_FIELD_NUMBER: _ClassVar[int]
        NUM_DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
        id: str
        num_diagnostics: int
        def __init__(self, id: _Optional[str] = ..., num_diagnostics: _Optional[int] = ...) -> None: ...
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[ClusterDiagnosticsSpec.Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[ClusterDiagnosticsSpec.Node, _Mapping]]] = ...) -> None: ...

class DestroyStatusSpec(_message.Message):
    __slots__ = ("phase",)
    PHASE_FIELD_NUMBER: _ClassVar[int]
    phase: str
    def __init__(self, phase: _Optional[str] = ...) -> None: ...

class ClusterWorkloadProxyStatusSpec(_message.Message):
    __slots__ = ("num_exposed_services",)
    NUM_EXPOSED_SERVICES_FIELD_NUMBER: _ClassVar[int]
    num_exposed_services: int
    def __init__(self, num_exposed_services: _Optional[int] = ...) -> None: ...

class EtcdBackupSpec(_message.Message):
    __slots__ = ("created_at", "snapshot", "size")
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    created_at: _timestamp_pb2.Timestamp
    snapshot: str
    size: int
    def __init__(self, created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., snapshot: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class EtcdBackupStatusSpec(_message.Message):
    __slots__ = ("status", "error", "last_backup_time", "last_backup_attempt")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        Unknown: _ClassVar[EtcdBackupStatusSpec.Status]
        Ok: _ClassVar[EtcdBackupStatusSpec.Status]
        Error: _ClassVar[EtcdBackupStatusSpec.Status]
        Running: _ClassVar[EtcdBackupStatusSpec.Status]
    Unknown: EtcdBackupStatusSpec.Status
    Ok: EtcdBackupStatusSpec.Status
    Error: EtcdBackupStatusSpec.Status
    Running: EtcdBackupStatusSpec.Status
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_BACKUP_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_BACKUP_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    status: EtcdBackupStatusSpec.Status
    error: str
    last_backup_time: _timestamp_pb2.Timestamp
    last_backup_attempt: _timestamp_pb2.Timestamp
    def __init__(self, status: _Optional[_Union[EtcdBackupStatusSpec.Status, str]] = ..., error: _Optional[str] = ..., last_backup_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_backup_attempt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EtcdManualBackupSpec(_message.Message):
    __slots__ = ("backup_at",)
    BACKUP_AT_FIELD_NUMBER: _ClassVar[int]
    backup_at: _timestamp_pb2.Timestamp
    def __init__(self, backup_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SchematicConfigurationSpec(_message.Message):
    __slots__ = ("schematic_id", "talos_version")
    SCHEMATIC_ID_FIELD_NUMBER: _ClassVar[int]
    TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    schematic_id: str
    talos_version: str
    def __init__(self, schematic_id: _Optional[str] = ..., talos_version: _Optional[str] = ...) -> None: ...

class OngoingTaskSpec(_message.Message):
    __slots__ = ("title", "resource_id", "talos_upgrade", "kubernetes_upgrade", "destroy", "machine_upgrade", "secrets_rotation")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    TALOS_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    KUBERNETES_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    DESTROY_FIELD_NUMBER: _ClassVar[int]
    MACHINE_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    SECRETS_ROTATION_FIELD_NUMBER: _ClassVar[int]
    title: str
    resource_id: str
    talos_upgrade: TalosUpgradeStatusSpec
    kubernetes_upgrade: KubernetesUpgradeStatusSpec
    destroy: DestroyStatusSpec
    machine_upgrade: MachineUpgradeStatusSpec
    secrets_rotation: ClusterSecretsRotationStatusSpec
    def __init__(self, title: _Optional[str] = ..., resource_id: _Optional[str] = ..., talos_upgrade: _Optional[_Union[TalosUpgradeStatusSpec, _Mapping]] = ..., kubernetes_upgrade: _Optional[_Union[KubernetesUpgradeStatusSpec, _Mapping]] = ..., destroy: _Optional[_Union[DestroyStatusSpec, _Mapping]] = ..., machine_upgrade: _Optional[_Union[MachineUpgradeStatusSpec, _Mapping]] = ..., secrets_rotation: _Optional[_Union[ClusterSecretsRotationStatusSpec, _Mapping]] = ...) -> None: ...

class ClusterSecretsRotationStatusSpec(_message.Message):
    __slots__ = ("phase", "component", "error", "step", "status")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    phase: SecretRotationSpec.Phase
    component: SecretRotationSpec.Component
    error: str
    step: str
    status: str
    def __init__(self, phase: _Optional[_Union[SecretRotationSpec.Phase, str]] = ..., component: _Optional[_Union[SecretRotationSpec.Component, str]] = ..., error: _Optional[str] = ..., step: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class SecretRotationSpec(_message.Message):
    __slots__ = ()
    class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OK: _ClassVar[SecretRotationSpec.Phase]
        PRE_ROTATE: _ClassVar[SecretRotationSpec.Phase]
        ROTATE: _ClassVar[SecretRotationSpec.Phase]
        POST_ROTATE: _ClassVar[SecretRotationSpec.Phase]
    OK: SecretRotationSpec.Phase
    PRE_ROTATE: SecretRotationSpec.Phase
    ROTATE: SecretRotationSpec.Phase
    POST_ROTATE: SecretRotationSpec.Phase
    class Component(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NONE: _ClassVar[SecretRotationSpec.Component]
        TALOS_CA: _ClassVar[SecretRotationSpec.Component]
        KUBERNETES_CA: _ClassVar[SecretRotationSpec.Component]
    NONE: SecretRotationSpec.Component
    TALOS_CA: SecretRotationSpec.Component
    KUBERNETES_CA: SecretRotationSpec.Component
    def __init__(self) -> None: ...

class ExtensionsConfigurationSpec(_message.Message):
    __slots__ = ("extensions",)
    EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
    extensions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, extensions: _Optional[_Iterable[str]] = ...) -> None: ...

class KernelArgsSpec(_message.Message):
    __slots__ = ("args",)
    ARGS_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, args: _Optional[_Iterable[str]] = ...) -> None: ...

class LoadBalancerConfigSpec(_message.Message):
    __slots__ = ("bind_port", "endpoints", "siderolink_endpoint")
    BIND_PORT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    SIDEROLINK_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    bind_port: str
    endpoints: _containers.RepeatedScalarFieldContainer[str]
    siderolink_endpoint: str
    def __init__(self, bind_port: _Optional[str] = ..., endpoints: _Optional[_Iterable[str]] = ..., siderolink_endpoint: _Optional[str] = ...) -> None: ...

class LoadBalancerStatusSpec(_message.Message):
    __slots__ = ("healthy", "stopped")
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    healthy: bool
    stopped: bool
    def __init__(self, healthy: _Optional[bool] = ..., stopped: _Optional[bool] = ...) -> None: ...

class ExposedServiceSpec(_message.Message):
    __slots__ = ("port", "label", "icon_base64", "url", "error", "has_explicit_alias")
    PORT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ICON_BASE64_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HAS_EXPLICIT_ALIAS_FIELD_NUMBER: _ClassVar[int]
    port: int
    label: str
    icon_base64: str
    url: str
    error: str
    has_explicit_alias: bool
    def __init__(self, port: _Optional[int] = ..., label: _Optional[str] = ..., icon_base64: _Optional[str] = ..., url: _Optional[str] = ..., error: _Optional[str] = ..., has_explicit_alias: _Optional[bool] = ...) -> None: ...

class MachineRequestSetSpec(_message.Message):
    __slots__ = ("provider_id", "machine_count", "talos_version", "extensions", "kernel_args", "meta_values", "provider_data", "grpc_tunnel")
    PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    MACHINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
    KERNEL_ARGS_FIELD_NUMBER: _ClassVar[int]
    META_VALUES_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_DATA_FIELD_NUMBER: _ClassVar[int]
    GRPC_TUNNEL_FIELD_NUMBER: _ClassVar[int]
    provider_id: str
    machine_count: int
    talos_version: str
    extensions: _containers.RepeatedScalarFieldContainer[str]
    kernel_args: _containers.RepeatedScalarFieldContainer[str]
    meta_values: _containers.RepeatedCompositeFieldContainer[MetaValue]
    provider_data: str
    grpc_tunnel: GrpcTunnelMode
    def __init__(self, provider_id: _Optional[str] = ..., machine_count: _Optional[int] = ..., talos_version: _Optional[str] = ..., extensions: _Optional[_Iterable[str]] = ..., kernel_args: _Optional[_Iterable[str]] = ..., meta_values: _Optional[_Iterable[_Union[MetaValue, _Mapping]]] = ..., provider_data: _Optional[str] = ..., grpc_tunnel: _Optional[_Union[GrpcTunnelMode, str]] = ...) -> None: ...

class ImagePullRequestSpec(_message.Message):
    __slots__ = ("node_image_list",)
    class NodeImageList(_message.Message):
        __slots__ = ("node", "images")
        NODE_FIELD_NUMBER: _ClassVar[int]
        IMAGES_FIELD_NUMBER: _ClassVar[int]
        node: str
        images: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, node: _Optional[str] = ..., images: _Optional[_Iterable[str]] = ...) -> None: ...
    NODE_IMAGE_LIST_FIELD_NUMBER: _ClassVar[int]
    node_image_list: _containers.RepeatedCompositeFieldContainer[ImagePullRequestSpec.NodeImageList]
    def __init__(self, node_image_list: _Optional[_Iterable[_Union[ImagePullRequestSpec.NodeImageList, _Mapping]]] = ...) -> None: ...

class ImagePullStatusSpec(_message.Message):
    __slots__ = ("last_processed_node", "last_processed_image", "last_processed_error", "processed_count", "total_count", "request_version")
    LAST_PROCESSED_NODE_FIELD_NUMBER: _ClassVar[int]
    LAST_PROCESSED_IMAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_PROCESSED_ERROR_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    last_processed_node: str
    last_processed_image: str
    last_processed_error: str
    processed_count: int
    total_count: int
    request_version: str
    def __init__(self, last_processed_node: _Optional[str] = ..., last_processed_image: _Optional[str] = ..., last_processed_error: _Optional[str] = ..., processed_count: _Optional[int] = ..., total_count: _Optional[int] = ..., request_version: _Optional[str] = ...) -> None: ...

class InstallationMediaSpec(_message.Message):
    __slots__ = ("name", "architecture", "profile", "contentType", "src_file_prefix", "dest_file_prefix", "extension", "no_secure_boot", "overlay", "min_talos_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    CONTENTTYPE_FIELD_NUMBER: _ClassVar[int]
    SRC_FILE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    DEST_FILE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    EXTENSION_FIELD_NUMBER: _ClassVar[int]
    NO_SECURE_BOOT_FIELD_NUMBER: _ClassVar[int]
    OVERLAY_FIELD_NUMBER: _ClassVar[int]
    MIN_TALOS_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    architecture: str
    profile: str
    contentType: str
    src_file_prefix: str
    dest_file_prefix: str
    extension: str
    no_secure_boot: bool
    overlay: str
    min_talos_version: str
    def __init__(self, name: _Optional[str] = ..., architecture: _Optional[str] = ..., profile: _Optional[str] = ..., contentType: _Optional[str] = ..., src_file_prefix: _Optional[str] = ..., dest_file_prefix: _Optional[str] = ..., extension: _Optional[str] = ..., no_secure_boot: _Optional[bool] = ..., overlay: _Optional[str] = ..., min_talos_version: _Optional[str] = ...) -> None: ...

class InfraMachineConfigSpec(_message.Message):
    __slots__ = ("power_state", "acceptance_status", "extra_kernel_args", "requested_reboot_id", "cordoned", "power_off_request_id")
    class MachinePowerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        POWER_STATE_DEFAULT: _ClassVar[InfraMachineConfigSpec.MachinePowerState]
        POWER_STATE_OFF: _ClassVar[InfraMachineConfigSpec.MachinePowerState]
        POWER_STATE_ON: _ClassVar[InfraMachineConfigSpec.MachinePowerState]
    POWER_STATE_DEFAULT: InfraMachineConfigSpec.MachinePowerState
    POWER_STATE_OFF: InfraMachineConfigSpec.MachinePowerState
    POWER_STATE_ON: InfraMachineConfigSpec.MachinePowerState
    class AcceptanceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PENDING: _ClassVar[InfraMachineConfigSpec.AcceptanceStatus]
        ACCEPTED: _ClassVar[InfraMachineConfigSpec.AcceptanceStatus]
        REJECTED: _ClassVar[InfraMachineConfigSpec.AcceptanceStatus]
    PENDING: InfraMachineConfigSpec.AcceptanceStatus
    ACCEPTED: InfraMachineConfigSpec.AcceptanceStatus
    REJECTED: InfraMachineConfigSpec.AcceptanceStatus
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCE_STATUS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_KERNEL_ARGS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_REBOOT_ID_FIELD_NUMBER: _ClassVar[int]
    CORDONED_FIELD_NUMBER: _ClassVar[int]
    POWER_OFF_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    power_state: InfraMachineConfigSpec.MachinePowerState
    acceptance_status: InfraMachineConfigSpec.AcceptanceStatus
    extra_kernel_args: str
    requested_reboot_id: str
    cordoned: bool
    power_off_request_id: str
    def __init__(self, power_state: _Optional[_Union[InfraMachineConfigSpec.MachinePowerState, str]] = ..., acceptance_status: _Optional[_Union[InfraMachineConfigSpec.AcceptanceStatus, str]] = ..., extra_kernel_args: _Optional[str] = ..., requested_reboot_id: _Optional[str] = ..., cordoned: _Optional[bool] = ..., power_off_request_id: _Optional[str] = ...) -> None: ...

class MachineConfigDiffSpec(_message.Message):
    __slots__ = ("diff", "compressed_diff")
    DIFF_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_DIFF_FIELD_NUMBER: _ClassVar[int]
    diff: str
    compressed_diff: bytes
    def __init__(self, diff: _Optional[str] = ..., compressed_diff: _Optional[bytes] = ...) -> None: ...

class ClusterSecretsSpec(_message.Message):
    __slots__ = ("data", "imported", "extra_certs")
    class Certs(_message.Message):
        __slots__ = ("os", "k8s")
        class CA(_message.Message):
            __slots__ = ("crt", "key")
            CRT_FIELD_NUMBER: _ClassVar[int]
            KEY_FIELD_NUMBER: _ClassVar[int]
            crt: bytes
            key: bytes
            def __init__(self, crt: _Optional[bytes] = ..., key: _Optional[bytes] = ...) -> None: ...
        OS_FIELD_NUMBER: _ClassVar[int]
        K8S_FIELD_NUMBER: _ClassVar[int]
        os: ClusterSecretsSpec.Certs.CA
        k8s: ClusterSecretsSpec.Certs.CA
        def __init__(self, os: _Optional[_Union[ClusterSecretsSpec.Certs.CA, _Mapping]] = ..., k8s: _Optional[_Union[ClusterSecretsSpec.Certs.CA, _Mapping]] = ...) -> None: ...
    DATA_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    EXTRA_CERTS_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    imported: bool
    extra_certs: ClusterSecretsSpec.Certs
    def __init__(self, data: _Optional[bytes] = ..., imported: _Optional[bool] = ..., extra_certs: _Optional[_Union[ClusterSecretsSpec.Certs, _Mapping]] = ...) -> None: ...

class ClusterBootstrapStatusSpec(_message.Message):
    __slots__ = ("bootstrapped",)
    BOOTSTRAPPED_FIELD_NUMBER: _ClassVar[int]
    bootstrapped: bool
    def __init__(self, bootstrapped: _Optional[bool] = ...) -> None: ...

class MachineStatusMetricsSpec(_message.Message):
    __slots__ = ("registered_machines_count", "connected_machines_count", "allocated_machines_count", "pending_machines_count", "platforms", "secure_boot_status", "uki_status", "registered_machines_limit", "registration_limit_reached", "invalid_schematic_machines_count", "approaching_talos_version_end_of_support_machines_count", "talos_version_end_of_support_machines_count", "cores_count")
    class PlatformsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class SecureBootStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class UkiStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REGISTERED_MACHINES_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_MACHINES_COUNT_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_MACHINES_COUNT_FIELD_NUMBER: _ClassVar[int]
    PENDING_MACHINES_COUNT_FIELD_NUMBER: _ClassVar[int]
    PLATFORMS_FIELD_NUMBER: _ClassVar[int]
    SECURE_BOOT_STATUS_FIELD_NUMBER: _ClassVar[int]
    UKI_STATUS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MACHINES_LIMIT_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_LIMIT_REACHED_FIELD_NUMBER: _ClassVar[int]
    INVALID_SCHEMATIC_MACHINES_COUNT_FIELD_NUMBER: _ClassVar[int]
    APPROACHING_TALOS_VERSION_END_OF_SUPPORT_MACHINES_COUNT_FIELD_NUMBER: _ClassVar[int]
    TALOS_VERSION_END_OF_SUPPORT_MACHINES_COUNT_FIELD_NUMBER: _ClassVar[int]
    CORES_COUNT_FIELD_NUMBER: _ClassVar[int]
    registered_machines_count: int
    connected_machines_count: int
    allocated_machines_count: int
    pending_machines_count: int
    platforms: _containers.ScalarMap[str, int]
    secure_boot_status: _containers.ScalarMap[str, int]
    uki_status: _containers.ScalarMap[str, int]
    registered_machines_limit: int
    registration_limit_reached: bool
    invalid_schematic_machines_count: int
    approaching_talos_version_end_of_support_machines_count: int
    talos_version_end_of_support_machines_count: int
    cores_count: int
    def __init__(self, registered_machines_count: _Optional[int] = ..., connected_machines_count: _Optional[int] = ..., allocated_machines_count: _Optional[int] = ..., pending_machines_count: _Optional[int] = ..., platforms: _Optional[_Mapping[str, int]] = ..., secure_boot_status: _Optional[_Mapping[str, int]] = ..., uki_status: _Optional[_Mapping[str, int]] = ..., registered_machines_limit: _Optional[int] = ..., registration_limit_reached: _Optional[bool] = ..., invalid_schematic_machines_count: _Optional[int] = ..., approaching_talos_version_end_of_support_machines_count: _Optional[int] = ..., talos_version_end_of_support_machines_count: _Optional[int] = ..., cores_count: _Optional[int] = ...) -> None: ...

class ClusterMetricsSpec(_message.Message):
    __slots__ = ("features",)
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.ScalarMap[str, int]
    def __init__(self, features: _Optional[_Mapping[str, int]] = ...) -> None: ...

class ClusterStatusMetricsSpec(_message.Message):
    __slots__ = ("not_ready_count", "phases")
    class PhasesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    NOT_READY_COUNT_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    not_ready_count: int
    phases: _containers.ScalarMap[int, int]
    def __init__(self, not_ready_count: _Optional[int] = ..., phases: _Optional[_Mapping[int, int]] = ...) -> None: ...

class SysVersionSpec(_message.Message):
    __slots__ = ("backend_version", "instance_name", "backend_api_version")
    BACKEND_VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_NAME_FIELD_NUMBER: _ClassVar[int]
    BACKEND_API_VERSION_FIELD_NUMBER: _ClassVar[int]
    backend_version: str
    instance_name: str
    backend_api_version: int
    def __init__(self, backend_version: _Optional[str] = ..., instance_name: _Optional[str] = ..., backend_api_version: _Optional[int] = ...) -> None: ...
