"""The watcher's small parts: endpoints, backoff, decoding (compressed fields), kinds, export lines, the
inbox's batching, log lines."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging

import pytest

from models import catalog
from models.logs import JsonFormatter
from omni_client.endpoint import EndpointError, parse_endpoint
from omni_client.wire import resource_pb2, specs_pb2
from simulator import yamlspec
from simulator.export import format_record
from watcher.backoff import Backoff, BackoffPolicy
from watcher.cli import select_kinds
from watcher.decode import Decoder, PoisonError, ZstdDictionary, yaml_key
from watcher.export_cli import export_line
from watcher.inbox import Inbox
from watcher.items import StreamNote

# -- endpoints -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "target", "tls"), [
    ("https://omni.example.com", "omni.example.com:443", True),
    ("https://omni.example.com:8443/some/path", "omni.example.com:8443", True),
    ("http://127.0.0.1", "127.0.0.1:80", False),
    ("grpc://omni.local:8090", "omni.local:8090", False),
    ("HTTPS://Omni.Example.com", "omni.example.com:443", True),
    ("http://[::1]:50051", "[::1]:50051", False),
])
def test_endpoints_follow_omnictl(url, target, tls) -> None:
    endpoint = parse_endpoint(url)
    assert (endpoint.target, endpoint.tls) == (target, tls)


@pytest.mark.parametrize("url", ["", None, "omni.example.com:443", "https://", "https://host:99999"])
def test_bad_endpoints_are_explained(url) -> None:
    with pytest.raises(EndpointError):
        parse_endpoint(url)


# -- backoff ---------------------------------------------------------------------------------------------

def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets_when_healthy() -> None:
    now = [0.0]
    backoff = Backoff(BackoffPolicy(initial=0.5, maximum=4, healthy_after=10), rand=lambda: 1.0,
                      clock=lambda: now[0])
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    backoff.connected()
    now[0] += 11
    assert backoff.next_delay() == 0.5
    low = Backoff(BackoffPolicy(initial=1), rand=lambda: 0.0)
    assert low.next_delay() == 0.5  # jitter draws from [50 %, 100 %] of the step


# -- decoding --------------------------------------------------------------------------------------------

def wire_resource(kind: catalog.Kind, spec, *, version: str = "3", yaml_spec: str | None = None,
                  proto_spec: bytes | None = None) -> resource_pb2.Resource:
    res = resource_pb2.Resource()
    md = res.metadata
    md.namespace, md.type, md.id, md.version, md.phase = kind.namespace, kind.type, "x1", version, "running"
    md.created.seconds, md.updated.seconds = 1_700_000_000, 1_700_000_100
    md.labels["omni.sidero.dev/cluster"] = "c1"
    res.spec.proto_spec = spec.SerializeToString() if proto_spec is None else proto_spec
    res.spec.yaml_spec = yamlspec.render(spec, kind.compressed) if yaml_spec is None else yaml_spec
    return res


@pytest.mark.parametrize(("name", "message", "compressed", "plain"), [
    ("ConfigPatch", "ConfigPatchSpec", "compressed_data", "data"),
    ("RedactedClusterMachineConfig", "RedactedClusterMachineConfigSpec", "compressed_data", "data"),
    ("MachineConfigDiff", "MachineConfigDiffSpec", "compressed_diff", "diff"),
    ("ClusterMachineConfigStatus", "ClusterMachineConfigStatusSpec", "compressed_redacted_machine_config",
     "redacted_current_machine_config"),
])
def test_compressed_fields_take_their_text_from_yaml_spec(name, message, compressed, plain) -> None:
    kind = catalog.by_name(name)
    text = "machine:\n  install:\n    disk: /dev/sda\n" + "# padding\n" * 300
    spec = getattr(specs_pb2, message)()
    setattr(spec, plain, text)
    yaml_text = yamlspec.render(spec)  # Omni renders the decompressed text
    assert f"{yaml_key(plain)}: |" in yaml_text
    spec.ClearField(plain)
    setattr(spec, compressed, b"\x28\xb5\x2f\xfd-not-really-zstd")  # what travels in proto_spec
    decoded = Decoder(kind).decode(wire_resource(kind, spec, yaml_spec=yaml_text))
    assert decoded.spec[plain] == text
    assert compressed not in decoded.spec and compressed not in decoded.spec_json


def test_compressed_field_without_text_is_poison() -> None:
    kind = catalog.by_name("ConfigPatch")
    spec = specs_pb2.ConfigPatchSpec(compressed_data=b"\x28\xb5\x2f\xfd...")
    with pytest.raises(PoisonError, match="--zstd-dictionary"):
        Decoder(kind).decode(wire_resource(kind, spec, yaml_spec="{}\n"))


def test_decoded_spec_is_protobuf_json_with_proto_names() -> None:
    kind = catalog.by_name("ClusterStatus")
    spec = specs_pb2.ClusterStatusSpec(available=True, phase=specs_pb2.ClusterStatusSpec.RUNNING,
                                       kubernetesAPIReady=True, talos_version="1.9.0")
    spec.machines.total = 3
    decoded = Decoder(kind).decode(wire_resource(kind, spec))
    assert decoded.spec == {"available": True, "machines": {"total": 3}, "phase": "RUNNING",
                            "kubernetesAPIReady": True, "talos_version": "1.9.0"}
    assert json.loads(decoded.spec_json) == decoded.spec
    assert (decoded.version, decoded.created, decoded.labels) == (3, 1_700_000_000_000_000, {
        "omni.sidero.dev/cluster": "c1"})
    assert decoded.created_text == "2023-11-14 22:13:20.000000"


def test_decoded_ids_are_one_string_per_machine() -> None:
    """A machine's id names a resource of each of ~11 kinds: the decoder interns it, so the writer's index
    holds one string per machine, not one per resource."""
    machine, status = catalog.by_name("Machine"), catalog.by_name("MachineStatus")
    first = Decoder(machine).decode(wire_resource(machine, specs_pb2.MachineSpec()))
    second = Decoder(status).decode(wire_resource(status, specs_pb2.MachineStatusSpec()))
    assert first.id == "x1" and first.id is second.id


def test_undecodable_specs_and_versions_are_poison() -> None:
    kind = catalog.by_name("Machine")
    with pytest.raises(PoisonError, match="MachineSpec"):
        Decoder(kind).decode(wire_resource(kind, specs_pb2.MachineSpec(), proto_spec=b"\x0a\x64abc"))
    with pytest.raises(PoisonError, match="version"):
        Decoder(kind).decode(wire_resource(kind, specs_pb2.MachineSpec(), version="v2"))
    versionless = Decoder(kind).decode(wire_resource(kind, specs_pb2.MachineSpec(), version="undefined"))
    assert versionless.version == 0


def test_zstd_dictionary_needs_the_optional_package(tmp_path) -> None:
    path = tmp_path / "config.zdict"
    if importlib.util.find_spec("zstandard") is None:
        path.write_bytes(b"dictionary")
        with pytest.raises(RuntimeError, match="pip install zstandard"):
            ZstdDictionary(path)
        return
    import zstandard

    samples = [f"machine:\n  id: {i}\n  install: /dev/sda\n".encode() * 20 for i in range(200)]
    dictionary = zstandard.train_dictionary(2048, samples)
    path.write_bytes(dictionary.as_bytes())
    text = "machine:\n  id: 7\n  install: /dev/sda\n" * 20
    packed = zstandard.ZstdCompressor(dict_data=dictionary).compress(text.encode())
    kind = catalog.by_name("ConfigPatch")
    decoded = Decoder(kind, ZstdDictionary(path)).decode(
        wire_resource(kind, specs_pb2.ConfigPatchSpec(compressed_data=packed), yaml_spec="{}\n"))
    assert decoded.spec == {"data": text}


# -- kinds, export lines ------------------------------------------------------------------------------------

def test_kind_selection() -> None:
    every = select_kinds(None)
    assert {k.delivery for k in every} == {catalog.Delivery.WATCH, catalog.Delivery.POLL}
    assert catalog.by_name("Kubeconfig") not in every
    assert [k.name for k in select_kinds(["Machine,ClusterStatuses.omni.sidero.dev", "Machine"])] == [
        "Machine", "ClusterStatus"]
    assert [k.name for k in select_kinds(["EtcdBackup"])] == ["EtcdBackup", "Cluster"]
    with pytest.raises(ValueError, match="unknown kind"):
        select_kinds(["Nope"])
    with pytest.raises(ValueError, match="not readable"):
        select_kinds(["Kubeconfig"])


def test_export_lines_are_the_simulator_format() -> None:
    from models.resource import StoredResource

    res = StoredResource("external", "EtcdBackups.omni.sidero.dev", "c1-1700000000", 0,
                         labels={"omni.sidero.dev/cluster": "c1", "a": "é"}, spec={"size": "10"})
    assert export_line(res) == format_record(res.namespace, res.type, res.id, "undefined", "running",
                                             res.labels, {}, res.spec)
    versioned = StoredResource("default", "Machines.omni.sidero.dev", "m", 12)
    assert '"version":"12"' in export_line(versioned)


# -- inbox ---------------------------------------------------------------------------------------------------

def test_inbox_batches_by_size_and_latency_and_applies_backpressure() -> None:
    async def scenario() -> None:
        inbox = Inbox(limit=5)
        note = StreamNote(("default", "X"))
        assert await inbox.take(10, 0.01, idle_timeout=0.01) == []
        for _ in range(3):
            inbox.put_nowait(note)
        assert len(await inbox.take(2, 10.0, idle_timeout=1)) == 2  # size bound: no waiting
        assert len(await inbox.take(10, 0.01, idle_timeout=1)) == 1  # latency bound
        for _ in range(5):
            await inbox.put(note)
        blocked = asyncio.ensure_future(inbox.put(note))
        await asyncio.sleep(0.01)
        assert not blocked.done() and inbox.full  # producers wait for room
        assert len(await inbox.take(3, 0.0, idle_timeout=1)) == 3
        await asyncio.wait_for(blocked, 5)
        assert len(inbox.take_all()) == 3

    asyncio.run(scenario())


def test_json_log_lines() -> None:
    record = logging.LogRecord("watcher", logging.INFO, __file__, 1, "writer for %s", ("db",), None)
    record.fields = {"epoch": 3}
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "writer for db" and line["epoch"] == 3 and line["level"] == "INFO"


# -- the writer's index entries ---------------------------------------------------------------------------

@pytest.mark.parametrize("entry", [
    (1, 1_733_300_000_000_000, hash('{"k":"v"}'), 0),
    (7, None, -1, 0),
    (2**40, 0, 2**63 - 1, 0),
    (0, None, -2**63, hash("content")),
    (0, None, 0, 2**63 - 1),
    (3, -1, 5, 0),  # created before 1970: kept as the tuple
    (-2, 10, 5, 0),  # a negative version: kept as the tuple
    (0, 10, 5, 0),  # versionless with a created (the first pass of the writer's index load)
    (4, 2**64, 5, 0),  # past the 64-bit field
])
def test_index_entries_round_trip(entry) -> None:
    from watcher.state import entry_created, entry_labels, entry_version, pack, unpack

    packed = pack(*entry)
    assert unpack(packed) == entry
    assert (entry_version(packed), entry_created(packed), entry_labels(packed)) == entry[:3]
    assert packed == pack(*entry)  # the same state, the same form: equality is still exact


def test_index_entries_are_equal_exactly_when_their_values_are() -> None:
    from watcher.state import pack

    values = [(v, c, lab, 0) for v in (1, 2, 2**40) for c in (None, 0, 1, 1_733_300_000_000_000, -1)
              for lab in (0, 1, -1, 2**63 - 1, -2**63)]
    values += [(0, None, lab, content) for lab in (0, 1, -1) for content in (0, 1, -1, 2**63 - 1, -2**63)]
    packed = [pack(*v) for v in values]
    assert len(set(packed)) == len(set(values))
    for a, pa in zip(values, packed, strict=True):
        for b, pb in zip(values, packed, strict=True):
            assert (pa == pb) == (a == b)


def test_decoded_states_give_int_entries() -> None:
    from watcher.decode import Decoded
    from watcher.state import entry_of, unpack

    versioned = Decoded("default", "Machines.omni.sidero.dev", "m1", 5, "running", "", 1_733_300_000_000_000,
                        1_733_300_000_000_001, {"a": "1"}, {}, [], {"x": 1})
    versionless = Decoded("external", "EtcdBackups.omni.sidero.dev", "b1", 0, "running", "", 5, 6, {}, {}, [],
                          {"size": "10"})
    assert type(entry_of(versioned)) is int and type(entry_of(versionless)) is int
    assert unpack(entry_of(versioned)) == (5, 1_733_300_000_000_000, versioned.labels_key, 0)
    assert unpack(entry_of(versionless)) == (0, None, versionless.labels_key, versionless.content_key())


def test_the_inbox_holds_two_batches_unless_told() -> None:
    """A full inbox of decoded items is most of a PostgreSQL bootstrap's memory (watcher/service.py)."""
    from watcher.service import WatchConfig, Watcher

    assert Watcher(None, None, WatchConfig(kinds=[])).inbox.limit == 4_000
    assert Watcher(None, None, WatchConfig(kinds=[], batch_items=500)).inbox.limit == 1_000
    assert Watcher(None, None, WatchConfig(kinds=[], inbox_items=123)).inbox.limit == 123
