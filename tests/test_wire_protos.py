"""Checks on omni_client/wire: generated code is fresh and matches the facts of the Omni wire protocol."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor

from omni_client.wire import meta_pb2, resource_pb2, specs_pb2, state_pb2, state_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parent.parent
WIRE_DIR = REPO_ROOT / "omni_client" / "wire"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _generated_files(root: Path) -> dict[str, bytes]:
    wire = root / "omni_client" / "wire"
    return {
        p.name: p.read_bytes()
        for p in sorted(wire.iterdir())
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    }


# --- (a) staleness ---------------------------------------------------------------------------


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        cwd=tmp_path,  # the script must not depend on the working directory
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    fresh = _generated_files(tmp_path)
    committed = _generated_files(REPO_ROOT)
    expected_names = {
        proto.stem + suffix for proto in WIRE_DIR.glob("*.proto") for suffix in GENERATED_SUFFIXES
    }
    assert set(fresh) == expected_names
    assert set(committed) == set(fresh), "generated file set differs; run `make protos`"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, f"stale generated code {stale}; run `make protos`"


# --- (b) the State service -------------------------------------------------------------------

# (method, input, output, server_streaming)
STATE_METHODS = (
    ("Get", "GetRequest", "GetResponse", False),
    ("List", "ListRequest", "ListResponse", True),
    ("Create", "CreateRequest", "CreateResponse", False),
    ("Update", "UpdateRequest", "UpdateResponse", False),
    ("Destroy", "DestroyRequest", "DestroyResponse", False),
    ("Watch", "WatchRequest", "WatchResponse", True),
    ("Teardown", "TeardownRequest", "TeardownResponse", False),
    ("TeardownAndDestroy", "TeardownAndDestroyRequest", "TeardownAndDestroyResponse", False),
)


def test_state_service_shape() -> None:
    service = state_pb2.DESCRIPTOR.services_by_name["State"]
    assert service.full_name == "cosi.resource.State"
    assert [m.name for m in service.methods] == [m[0] for m in STATE_METHODS]
    for name, req, resp, server_streaming in STATE_METHODS:
        method = service.methods_by_name[name]
        assert method.input_type.full_name == f"cosi.resource.{req}"
        assert method.output_type.full_name == f"cosi.resource.{resp}"
        assert method.client_streaming is False
        assert method.server_streaming is server_streaming, name


class _RecordingChannel:
    """Just enough of grpc.Channel to see which paths and call kinds the stub registers."""

    def __init__(self) -> None:
        self.calls: dict[str, str] = {}

    def __getattr__(self, kind: str) -> Callable[..., object]:
        def register(path: str, *args: object, **kwargs: object) -> object:
            self.calls[path] = kind
            return object()

        return register


def test_state_stub_method_paths() -> None:
    channel = _RecordingChannel()
    state_pb2_grpc.StateStub(channel)
    assert channel.calls == {
        f"/cosi.resource.State/{name}": ("unary_stream" if streaming else "unary_unary")
        for name, _, _, streaming in STATE_METHODS
    }


# --- (c) field numbers straight from omni-wire.md ---------------------------------------------

# (message full name, field name, field number)
FIELD_NUMBERS = (
    ("cosi.resource.Metadata", "namespace", 1),
    ("cosi.resource.Metadata", "version", 4),
    ("cosi.resource.Metadata", "created", 7),
    ("cosi.resource.Metadata", "finalizers", 9),
    ("cosi.resource.Metadata", "labels", 10),
    ("cosi.resource.Metadata", "annotations", 11),
    ("cosi.resource.Spec", "proto_spec", 1),
    ("cosi.resource.Spec", "yaml_spec", 2),
    ("cosi.resource.Resource", "spec", 2),
    ("cosi.resource.LabelTerm", "value", 3),
    ("cosi.resource.LabelTerm", "invert", 5),
    ("cosi.resource.Event", "event_type", 2),
    ("cosi.resource.Event", "old", 3),
    ("cosi.resource.Event", "error", 4),
    ("cosi.resource.Event", "bookmark", 5),
    ("cosi.resource.UpdateRequest", "new_resource", 2),
    ("cosi.resource.UpdateOptions", "expected_phase", 2),
    ("cosi.resource.WatchRequest", "id", 3),
    ("cosi.resource.WatchRequest", "options", 4),
    ("cosi.resource.WatchRequest", "api_version", 5),
    ("cosi.resource.WatchOptions", "bootstrap_contents", 1),
    ("cosi.resource.WatchOptions", "tail_events", 2),
    ("cosi.resource.WatchOptions", "aggregated", 5),
    ("cosi.resource.WatchOptions", "start_from_bookmark", 6),
    ("cosi.resource.WatchOptions", "bootstrap_bookmark", 7),
    ("cosi.resource.TeardownResponse", "destroy_ready", 1),
    ("cosi.resource.meta.ResourceDefinitionSpec", "print_columns", 6),
    ("cosi.resource.meta.ResourceDefinitionSpec", "sensitivity", 7),
    ("specs.ClusterSpec", "features", 4),
    ("specs.ClusterSpec", "backup_configuration", 5),
    ("specs.ClusterStatusSpec", "kubernetesAPIReady", 5),
    ("specs.ClusterStatusSpec", "controlplaneReady", 6),
    ("specs.ClusterStatusSpec", "initial_talos_version", 12),
    ("specs.ClusterMachineStatusSpec", "config_up_to_date", 4),
    ("specs.ClusterMachineStatusSpec", "provision_status", 9),
    ("specs.ClusterMachineConfigStatusSpec", "compressed_redacted_machine_config", 10),
    ("specs.MachineStatusSpec", "image_labels", 13),
    ("specs.MachineStatusSpec", "security_state", 21),
    ("specs.MachineStatusSpec", "talos_version_name", 23),
    ("specs.MachineStatusSpec.HardwareStatus.BlockDevice", "uuid", 7),
    ("specs.MachineStatusSpec.HardwareStatus.BlockDevice", "firmware_version", 24),
    ("specs.MachineStatusSpec.Schematic", "initial_state", 12),
    ("specs.MachineSetSpec", "machine_allocation", 7),
    ("specs.MachineSetStatusSpec", "locked_updates", 7),
    ("specs.InstallationMediaSpec", "contentType", 6),
    ("specs.LoadBalancerStatusSpec", "healthy", 3),
    ("specs.MachineStatusMetricsSpec", "cores_count", 14),
    ("specs.ClusterMetricsSpec", "features", 3),
    ("specs.OngoingTaskSpec", "secrets_rotation", 7),
    ("specs.RedactedClusterMachineConfigSpec", "compressed_data", 2),
    ("specs.SysVersionSpec", "backend_api_version", 3),
)


@pytest.mark.parametrize(("message", "field", "number"), FIELD_NUMBERS)
def test_field_numbers(message: str, field: str, number: int) -> None:
    desc = descriptor_pool.Default().FindMessageTypeByName(message)
    assert desc.fields_by_name[field].number == number


# Explicit presence (proto3 `optional`) exactly where the document says so.
PRESENCE = (
    ("cosi.resource.WatchRequest", "id", True),
    ("cosi.resource.WatchRequest", "namespace", False),
    ("cosi.resource.WatchOptions", "start_from_bookmark", True),
    ("cosi.resource.WatchOptions", "bootstrap_contents", False),
    ("cosi.resource.Event", "error", True),
    ("cosi.resource.Event", "bookmark", True),
    ("cosi.resource.UpdateOptions", "expected_phase", True),
    ("cosi.resource.UpdateOptions", "owner", False),
)


@pytest.mark.parametrize(("message", "field", "presence"), PRESENCE)
def test_optional_fields(message: str, field: str, presence: bool) -> None:
    desc = descriptor_pool.Default().FindMessageTypeByName(message)
    assert desc.fields_by_name[field].has_presence is presence


def _reserved_numbers(desc: Descriptor) -> set[int]:
    proto = descriptor_pb2.DescriptorProto()
    desc.CopyToProto(proto)
    return {n for r in proto.reserved_range for n in range(r.start, r.end)}


def test_reserved_and_absent_fields() -> None:
    update = state_pb2.UpdateRequest.DESCRIPTOR
    assert sorted(update.fields_by_number) == [2, 3]
    # Reserved, not merely unused, so a later edit cannot reuse the number by accident.
    assert _reserved_numbers(update) == {1}
    term = resource_pb2.LabelTerm.DESCRIPTOR
    assert sorted(term.fields_by_number) == [1, 2, 3, 5]
    assert _reserved_numbers(term) == {4}


def test_enum_values() -> None:
    assert {v.name: v.number for v in state_pb2.EventType.DESCRIPTOR.values} == {
        "CREATED": 0,
        "UPDATED": 1,
        "DESTROYED": 2,
        "BOOTSTRAPPED": 3,
        "ERRORED": 4,
        "NOOP": 5,
    }
    assert resource_pb2.LabelTerm.Operation.Value("LTE_NUMERIC") == 7
    assert resource_pb2.LabelTerm.NOT_EXISTS == 2
    assert specs_pb2.ClusterMachineStatusSpec.Stage.Value("POWERED_OFF") == 11
    assert specs_pb2.ClusterMachineStatusSpec.UPGRADING == 6
    assert specs_pb2.ClusterStatusSpec.Phase.Value("DESTROYING") == 4
    assert specs_pb2.MachineSetPhase.Value("Upgrading") == 7
    assert specs_pb2.SecurityState.FIPSState.Value("FIPS_STATE_STRICT") == 2
    assert specs_pb2.TalosUpgradeStatusSpec.Phase.Value("UpdatingMachineSchematics") == 5
    assert meta_pb2.ResourceDefinitionSpec.Sensitivity.Value("SENSITIVE") == 1


def test_ongoing_task_details_oneof() -> None:
    oneof = specs_pb2.OngoingTaskSpec.DESCRIPTOR.oneofs_by_name["details"]
    assert sorted(f.number for f in oneof.fields) == [2, 3, 4, 5, 7]
    task = specs_pb2.OngoingTaskSpec(title="t", destroy=specs_pb2.DestroyStatusSpec(phase="x"))
    assert task.WhichOneof("details") == "destroy"


# --- (d) round trips --------------------------------------------------------------------------


def test_kind_watch_request_leaves_id_unset() -> None:
    req = state_pb2.WatchRequest(
        namespace="default",
        type="Clusters.omni.sidero.dev",
        api_version=1,
        options=state_pb2.WatchOptions(bootstrap_contents=True),
    )
    decoded = state_pb2.WatchRequest.FromString(req.SerializeToString())
    assert not decoded.HasField("id")
    assert not decoded.options.HasField("start_from_bookmark")

    single = state_pb2.WatchRequest(namespace="default", type="Clusters.omni.sidero.dev", id="")
    # Set-but-empty must survive the wire: it selects a single-resource watch.
    assert state_pb2.WatchRequest.FromString(single.SerializeToString()).HasField("id")


def test_empty_spec_is_serialised() -> None:
    res = resource_pb2.Resource()
    res.metadata.namespace = "default"
    res.metadata.version = "undefined"
    res.spec.SetInParent()
    data = res.SerializeToString()
    assert b"\x12\x00" in data  # field 2, length-delimited, zero length
    assert resource_pb2.Resource.FromString(data).HasField("spec")
    assert b"\x12" not in resource_pb2.Resource(metadata=res.metadata).SerializeToString()


def test_spec_round_trip_through_proto_spec() -> None:
    spec = specs_pb2.MachineStatusSpec(talos_version="v1.10.0", talos_version_name="v1.10.0")
    spec.hardware.blockdevices.add(firmware_version="1.2", size=1 << 40)
    res = resource_pb2.Resource(spec=resource_pb2.Spec(proto_spec=spec.SerializeToString()))
    back = specs_pb2.MachineStatusSpec.FromString(res.spec.proto_spec)
    assert back == spec


# --- every spec message of the §4 resource table exists -----------------------------------------

# (COSI type string, spec message in package specs); cosi.resource.meta specs are checked below.
RESOURCE_SPECS = (
    ("Clusters.omni.sidero.dev", "ClusterSpec"),
    ("ClusterStatuses.omni.sidero.dev", "ClusterStatusSpec"),
    ("ClusterMachines.omni.sidero.dev", "ClusterMachineSpec"),
    ("ClusterMachineStatuses.omni.sidero.dev", "ClusterMachineStatusSpec"),
    ("ClusterMachineConfigStatuses.omni.sidero.dev", "ClusterMachineConfigStatusSpec"),
    ("ClusterMachineTalosVersions.omni.sidero.dev", "ClusterMachineTalosVersionSpec"),
    ("ClusterMachineConfigs.omni.sidero.dev", "ClusterMachineConfigSpec"),
    ("RedactedClusterMachineConfigs.omni.sidero.dev", "RedactedClusterMachineConfigSpec"),
    ("Machines.omni.sidero.dev", "MachineSpec"),
    ("MachineStatuses.omni.sidero.dev", "MachineStatusSpec"),
    ("MachineLabels.omni.sidero.dev", "MachineLabelsSpec"),
    ("MachineExtensions.omni.sidero.dev", "MachineExtensionsSpec"),
    ("MachineUpgradeStatuses.omni.sidero.dev", "MachineUpgradeStatusSpec"),
    ("MachineSets.omni.sidero.dev", "MachineSetSpec"),
    ("MachineSetStatuses.omni.sidero.dev", "MachineSetStatusSpec"),
    ("MachineSetNodes.omni.sidero.dev", "MachineSetNodeSpec"),
    ("MachineClasses.omni.sidero.dev", "MachineClassSpec"),
    ("ConfigPatches.omni.sidero.dev", "ConfigPatchSpec"),
    ("Kubeconfigs.omni.sidero.dev", "KubeconfigSpec"),
    ("KubernetesUpgradeStatuses.omni.sidero.dev", "KubernetesUpgradeStatusSpec"),
    ("TalosUpgradeStatuses.omni.sidero.dev", "TalosUpgradeStatusSpec"),
    ("KubernetesStatuses.omni.sidero.dev", "KubernetesStatusSpec"),
    ("ClusterKubernetesNodes.omni.sidero.dev", "ClusterKubernetesNodesSpec"),
    ("KubernetesVersions.omni.sidero.dev", "KubernetesVersionSpec"),
    ("ClusterEndpoints.omni.sidero.dev", "ClusterEndpointSpec"),
    ("ControlPlaneStatuses.omni.sidero.dev", "ControlPlaneStatusSpec"),
    ("ClusterDiagnostics.omni.sidero.dev", "ClusterDiagnosticsSpec"),
    ("ClusterDestroyStatuses.omni.sidero.dev", "DestroyStatusSpec"),
    ("ClusterWorkloadProxyStatuses.omni.sidero.dev", "ClusterWorkloadProxyStatusSpec"),
    ("EtcdBackups.omni.sidero.dev", "EtcdBackupSpec"),
    ("EtcdBackupStatuses.omni.sidero.dev", "EtcdBackupStatusSpec"),
    ("EtcdManualBackups.omni.sidero.dev", "EtcdManualBackupSpec"),
    ("SchematicConfigurations.omni.sidero.dev", "SchematicConfigurationSpec"),
    ("OngoingTasks.omni.sidero.dev", "OngoingTaskSpec"),
    ("ExtensionsConfigurations.omni.sidero.dev", "ExtensionsConfigurationSpec"),
    ("KernelArgs.omni.sidero.dev", "KernelArgsSpec"),
    ("LoadBalancerConfigs.omni.sidero.dev", "LoadBalancerConfigSpec"),
    ("LoadBalancerStatuses.omni.sidero.dev", "LoadBalancerStatusSpec"),
    ("ExposedServices.omni.sidero.dev", "ExposedServiceSpec"),
    ("MachineRequestSets.omni.sidero.dev", "MachineRequestSetSpec"),
    ("ImagePullRequests.omni.sidero.dev", "ImagePullRequestSpec"),
    ("ImagePullStatuses.omni.sidero.dev", "ImagePullStatusSpec"),
    ("InstallationMedias.omni.sidero.dev", "InstallationMediaSpec"),
    ("InfraMachineConfigs.omni.sidero.dev", "InfraMachineConfigSpec"),
    ("MachineConfigDiffs.omni.sidero.dev", "MachineConfigDiffSpec"),
    ("ClusterSecrets.omni.sidero.dev", "ClusterSecretsSpec"),
    ("ClusterBootstrapStatuses.omni.sidero.dev", "ClusterBootstrapStatusSpec"),
    ("MachineStatusMetrics.omni.sidero.dev", "MachineStatusMetricsSpec"),
    ("ClusterMetrics.omni.sidero.dev", "ClusterMetricsSpec"),
    ("ClusterStatusMetrics.omni.sidero.dev", "ClusterStatusMetricsSpec"),
    ("SysVersions.system.sidero.dev", "SysVersionSpec"),
)


@pytest.mark.parametrize(("cosi_type", "spec_name"), RESOURCE_SPECS, ids=[t for t, _ in RESOURCE_SPECS])
def test_resource_spec_message_exists(cosi_type: str, spec_name: str) -> None:
    cls = getattr(specs_pb2, spec_name)
    assert cls.DESCRIPTOR.full_name == f"specs.{spec_name}"
    assert cls.FromString(cls().SerializeToString()) == cls()


def test_meta_spec_messages_exist() -> None:
    assert meta_pb2.NamespaceSpec.DESCRIPTOR.full_name == "cosi.resource.meta.NamespaceSpec"
    assert meta_pb2.ResourceDefinitionSpec.DESCRIPTOR.full_name == "cosi.resource.meta.ResourceDefinitionSpec"
    col = meta_pb2.ResourceDefinitionSpec.PrintColumn(name="Ready", json_path="{.ready}")
    assert col.DESCRIPTOR.fields_by_name["json_path"].number == 2


def test_field_less_specs_have_no_fields() -> None:
    for cls in (specs_pb2.MachineLabelsSpec, specs_pb2.MachineSetNodeSpec):
        assert not cls.DESCRIPTOR.fields


def test_stub_and_servicer_talk_over_a_real_channel() -> None:
    class Servicer(state_pb2_grpc.StateServicer):
        def Watch(self, request, context):  # name fixed by the generated servicer
            yield state_pb2.WatchResponse()
            res = resource_pb2.Resource(metadata=resource_pb2.Metadata(id="", type=request.type))
            res.spec.SetInParent()
            yield state_pb2.WatchResponse(
                event=[state_pb2.Event(resource=res, event_type=state_pb2.BOOTSTRAPPED, bookmark=b"\0" * 8)]
            )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    state_pb2_grpc.add_StateServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = state_pb2_grpc.StateStub(channel)
            replies = list(
                stub.Watch(state_pb2.WatchRequest(type="Clusters.omni.sidero.dev", api_version=1), timeout=10)
            )
    finally:
        server.stop(None)
    assert replies[0] == state_pb2.WatchResponse()
    (event,) = replies[1].event
    assert event.event_type == state_pb2.BOOTSTRAPPED
    assert event.HasField("bookmark") and not event.HasField("error")
    assert event.resource.HasField("spec")
    assert event.resource.metadata.type == "Clusters.omni.sidero.dev"
