"""watcher/spec_json.py returns exactly json_format.MessageToDict's dict (values, key order, types) for every
spec message, every field set: nested messages, repeated fields, maps, enums (an unknown number too),
64-bit integers, bytes, and the types it hands back to json_format."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from models import catalog
from omni_client.wire import specs_pb2
from watcher import spec_json
from watcher.decode import Decoder

F = FieldDescriptor


def _value(field: FieldDescriptor, seed: int):
    kind = field.cpp_type
    if kind == F.CPPTYPE_STRING:
        return bytes([1, 2, seed % 256, 255]) if field.type == F.TYPE_BYTES else f"v{seed} <&>"
    if kind == F.CPPTYPE_BOOL:
        return True
    if kind in (F.CPPTYPE_INT32, F.CPPTYPE_UINT32):
        return seed + 1
    if kind in (F.CPPTYPE_INT64, F.CPPTYPE_UINT64):
        return (1 << 40) + seed
    if kind in (F.CPPTYPE_FLOAT, F.CPPTYPE_DOUBLE):
        return 0.1 + seed
    if kind == F.CPPTYPE_ENUM:
        values = field.enum_type.values
        # an open enum keeps a number it has no name for: json_format prints the number
        return values[-1].number if seed % 2 or field.enum_type.is_closed else 999
    raise AssertionError(kind)


def _fill(message, seed: int = 0, depth: int = 0) -> None:
    """Set every field of ``message`` (well-known types with a valid value, recursion bounded)."""
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds, message.nanos = 1_700_000_000 + seed, 5000
        return
    if name == "google.protobuf.Duration":
        message.seconds = 60 + seed
        return
    for field in message.DESCRIPTOR.fields:
        target = getattr(message, field.name)
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
            for i in (2, 1):
                key = _value(key_field, seed + i)
                if value_field.cpp_type == F.CPPTYPE_MESSAGE:
                    _fill(target[key], seed + i, depth + 1)
                else:
                    target[key] = _value(value_field, seed + i)
        elif field.is_repeated:
            for i in range(2):
                if field.cpp_type == F.CPPTYPE_MESSAGE:
                    if depth < 3:
                        _fill(target.add(), seed + i, depth + 1)
                else:
                    target.append(_value(field, seed + i))
        elif field.cpp_type == F.CPPTYPE_MESSAGE:
            if depth < 3:
                _fill(target, seed + 1, depth + 1)
        elif field.containing_oneof is None or field is field.containing_oneof.fields[-1]:
            setattr(message, field.name, _value(field, seed))


MESSAGES = sorted({kind.spec for kind in catalog.KINDS})


@pytest.mark.parametrize("name", MESSAGES)
def test_every_spec_converts_as_json_format_does(name: str) -> None:
    cls = getattr(specs_pb2, name)
    convert = spec_json.converter(cls.DESCRIPTOR)
    for seed in (0, 1):
        message = cls()
        _fill(message, seed)
        for msg in (message, cls()):  # every field set, and none
            expected = json_format.MessageToDict(msg, preserving_proto_field_name=True)
            got = convert(msg)
            # json.dumps keeps order and distinguishes "1" from 1: the stored text must be the same
            assert json.dumps(got) == json.dumps(expected), name
            assert got == expected


def test_most_specs_take_the_compiled_path() -> None:
    """The fallback is for the few types it does not cover (floats, Timestamps), not the common case."""
    compiled = [name for name in MESSAGES
                if spec_json.converter(getattr(specs_pb2, name).DESCRIPTOR) is not spec_json._json_format]
    assert len(compiled) >= len(MESSAGES) - 6
    assert "MachineStatusSpec" in compiled


def test_decoder_uses_it() -> None:
    kind = catalog.by_name("MachineStatus")
    decoder = Decoder(kind)
    message = getattr(specs_pb2, kind.spec)()
    _fill(message)
    from omni_client.wire import resource_pb2
    res = resource_pb2.Resource()
    res.metadata.namespace, res.metadata.type, res.metadata.id, res.metadata.version = \
        kind.namespace, kind.type, "m1", "3"
    res.spec.proto_spec = message.SerializeToString()
    assert decoder.decode(res).spec == json_format.MessageToDict(message, preserving_proto_field_name=True)
