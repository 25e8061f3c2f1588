"""Protobuf spec -> dict, exactly as ``json_format.MessageToDict(msg, preserving_proto_field_name=True)``
returns it, with the per-field decisions taken once per message type instead of once per field value.

``json_format`` re-inspects every field's descriptor (map entry? repeated? which C++ type? enum options?)
for every value of every event; on a bootstrap that was a quarter of decoding. ``converter`` compiles a
message type into one handler per field. It covers the types the spec messages use (strings, bools,
32- and 64-bit integers, bytes, open enums without JSON options, nested messages, repeated fields, maps);
a message type reaching anything else (floats, well-known types such as Timestamp, closed enums) is
converted by ``json_format`` itself, so the output never differs.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

Convert = Callable[[Message], dict]
_Value = Callable[[Any], Any] | None  # None: the value as it is (strings, bools, 32-bit integers)
_INT64 = frozenset((FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64))
_AS_IS = frozenset((FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_BOOL))


class _Unsupported(Exception):
    """A field type this module leaves to json_format."""


def converter(descriptor: Descriptor) -> Convert:
    """A function turning a message of ``descriptor``'s type into MessageToDict's dict."""
    try:
        return _message(descriptor, {})
    except _Unsupported:
        return _json_format


def _json_format(message: Message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _message(descriptor: Descriptor, compiled: dict[str, Convert]) -> Convert:
    name = descriptor.full_name
    if name in compiled:  # recursive types: the function exists before its handlers are filled in
        return compiled[name]
    if name.startswith("google.protobuf."):
        raise _Unsupported(name)  # well-known types and wrappers have their own JSON forms
    handlers: dict[int, _Value] = {}

    def convert(message: Message) -> dict:
        out = {}
        for field, value in message.ListFields():  # set fields in field-number order, as json_format reads them
            handler = handlers[field.number]
            out[field.name] = value if handler is None else handler(value)
        return out

    compiled[name] = convert
    for field in descriptor.fields:
        handlers[field.number] = _field(field, compiled)
    return convert


def _field(field: FieldDescriptor, compiled: dict[str, Convert]) -> _Value:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        value_of = _single(value_field, compiled)
        bool_keys = key_field.cpp_type == FieldDescriptor.CPPTYPE_BOOL

        def to_map(value: Any) -> dict:
            out = {}
            for key in value:
                recorded = ("true" if key else "false") if bool_keys else str(key)
                out[recorded] = value[key] if value_of is None else value_of(value[key])
            return out
        return to_map
    one = _single(field, compiled)
    if field.is_repeated:
        if one is None:
            return list
        return lambda value: [one(item) for item in value]
    return one


def _single(field: FieldDescriptor, compiled: dict[str, Convert]) -> _Value:
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_MESSAGE:
        return _message(field.message_type, compiled)
    if kind == FieldDescriptor.CPPTYPE_STRING:
        if field.type == FieldDescriptor.TYPE_BYTES:
            return lambda value: base64.b64encode(value).decode("utf-8")
        return None
    if kind in _AS_IS:
        return None
    if kind in _INT64:
        return str
    if kind == FieldDescriptor.CPPTYPE_ENUM:
        enum = field.enum_type
        if enum.is_closed or enum.full_name == "google.protobuf.NullValue" or any(
                value.has_options for value in enum.values):
            raise _Unsupported(enum.full_name)  # errors, null, or JSON names from options
        names = {number: value.name for number, value in enum.values_by_number.items()}
        return lambda value: names.get(value, value)  # an unknown number of an open enum stays a number
    raise _Unsupported(field.full_name)  # floats and doubles: json_format's shortest-float rules
