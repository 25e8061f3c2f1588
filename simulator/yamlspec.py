"""``yaml_spec`` rendering the way Go's yaml.v3 renders Omni's generated spec structs.

Those structs have no yaml tags, so every field appears (zero values too), keyed by its Go field name in
lowercase (``kubernetes_version`` -> ``kubernetesversion``), in declaration order, with 4-space
indentation; enums are integers, unset messages ``null``, map keys sorted, a oneof is one key named
after the oneof holding ``{field: value}``. Specs with compressed fields render the plain text in the
plain field and leave the compressed one out (omni-wire.md §5.1). The output is valid YAML that parses
back to the same strings.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from simulator import compression

INDENT = 4
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./@+=()-]*(?: [A-Za-z0-9_./@+=()-]+)*\Z")
_UNPRINTABLE = re.compile("[^\t\n\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n"})
# ClusterMachineSpec overrides its rendering (omni-wire.md §5.1).
_KEY_OVERRIDES = {("specs.ClusterMachineSpec", "kubernetes_version"): "kubernetes_version"}

# value shapes
_SCALAR, _MESSAGE, _REPEATED, _REPEATED_MESSAGE, _MAP, _ONEOF = range(6)
# scalar kinds
_STRING, _BOOL, _BYTES, _FLOAT, _INT = range(5)

# Rendering dominates the cost of a new resource version, and most values repeat (the same hardware
# block, the same strings), so rendered pieces are memoised in bounded caches.
_CACHE_LIMIT = 50_000
_strings: dict[str, str] = {}
_blocks: dict[tuple[str, int, bytes], tuple[str, ...]] = {}


def _scalar_kind(field: FieldDescriptor) -> int:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return _STRING
    if kind == FieldDescriptor.TYPE_BOOL:
        return _BOOL
    if kind == FieldDescriptor.TYPE_BYTES:
        return _BYTES
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return _FLOAT
    return _INT  # integers and enums (enums render as their numbers)


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    name: str  # field name (oneof name for _ONEOF)
    shape: int
    scalar: int = _INT  # scalar kind of the field, the repeated item or the map value
    choices: tuple[tuple[str, str, FieldDescriptor], ...] = ()  # oneof: (field name, key, field)


_PLANS: dict[str, tuple[_Entry, ...]] = {}


def _plan(descriptor: Descriptor) -> tuple[_Entry, ...]:
    plan = _PLANS.get(descriptor.full_name)
    if plan is not None:
        return plan
    entries: list[_Entry] = []
    seen_oneofs: set[str] = set()
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and not oneof.name.startswith("_"):  # "_x" oneofs are proto3 optionals
            if oneof.name not in seen_oneofs:
                seen_oneofs.add(oneof.name)
                choices = tuple((f.name, _key(descriptor, f), f) for f in oneof.fields)
                entries.append(_Entry(oneof.name.replace("_", "").lower(), oneof.name, _ONEOF, choices=choices))
            continue
        key = _key(descriptor, field)
        if field.is_repeated and field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            entries.append(_Entry(key, field.name, _MAP, _scalar_kind(value)))
        elif field.is_repeated and field.message_type is not None:
            entries.append(_Entry(key, field.name, _REPEATED_MESSAGE))
        elif field.is_repeated:
            entries.append(_Entry(key, field.name, _REPEATED, _scalar_kind(field)))
        elif field.message_type is not None:
            entries.append(_Entry(key, field.name, _MESSAGE))
        else:
            entries.append(_Entry(key, field.name, _SCALAR, _scalar_kind(field)))
    plan = _PLANS[descriptor.full_name] = tuple(entries)
    return plan


def _key(descriptor: Descriptor, field: FieldDescriptor) -> str:
    return _KEY_OVERRIDES.get((descriptor.full_name, field.name)) or field.name.replace("_", "").lower()


def render(spec: Message, compressed: dict[str, str] | None = None) -> str:
    """The YAML text for one spec message; ``compressed`` maps compressed field -> plain field."""
    texts: dict[str, str] = {}
    skip: frozenset[str] = frozenset()
    if compressed:
        for comp, plain in compressed.items():
            text = compression.plain_text(spec, comp, plain)
            if text is not None:
                texts[plain] = text
        skip = frozenset(comp for comp, plain in compressed.items() if plain in texts)
    lines: list[str] = []
    _emit_message(spec, 0, lines, texts, skip)
    if not lines:
        return "{}\n"
    return "\n".join(lines) + "\n"


def _emit_message(msg: Message, indent: int, lines: list[str], texts: dict[str, str] | None = None,
                  skip: frozenset[str] = frozenset()) -> None:
    pad = " " * indent
    for entry in _plan(msg.DESCRIPTOR):
        shape, name = entry.shape, entry.name
        if shape == _SCALAR:
            if name in skip:
                continue
            value = texts[name] if texts and name in texts else getattr(msg, name)
            _emit_scalar(f"{pad}{entry.key}:", entry.scalar, value, indent, lines)
        elif shape == _MESSAGE:
            if not msg.HasField(name):
                lines.append(f"{pad}{entry.key}: null")
                continue
            _emit_nested(f"{pad}{entry.key}:", getattr(msg, name), indent, lines)
        elif shape == _ONEOF:
            chosen = msg.WhichOneof(name)
            if chosen is None:
                lines.append(f"{pad}{entry.key}: null")
                continue
            lines.append(f"{pad}{entry.key}:")
            for choice, key, field in entry.choices:
                if choice == chosen:
                    inner_pad = " " * (indent + INDENT)
                    if field.message_type is not None:
                        _emit_nested(f"{inner_pad}{key}:", getattr(msg, choice), indent + INDENT, lines)
                    else:
                        _emit_scalar(f"{inner_pad}{key}:", _scalar_kind(field), getattr(msg, choice),
                                     indent + INDENT, lines)
        elif shape == _MAP:
            value = getattr(msg, name)
            if not value:
                lines.append(f"{pad}{entry.key}: {{}}")
                continue
            lines.append(f"{pad}{entry.key}:")
            inner_pad = " " * (indent + INDENT)
            for map_key in sorted(value):
                _emit_scalar(f"{inner_pad}{_scalar_key(map_key)}:", entry.scalar, value[map_key],
                             indent + INDENT, lines)
        else:
            items = getattr(msg, name)
            if not len(items):
                lines.append(f"{pad}{entry.key}: []")
                continue
            lines.append(f"{pad}{entry.key}:")
            dash = " " * (indent + INDENT) + "-"
            if shape == _REPEATED:
                for item in items:
                    _emit_scalar(dash, entry.scalar, item, indent + INDENT, lines)
                continue
            for item in items:
                block = _block(item, indent + INDENT + 2)
                if not block:
                    lines.append(dash + " {}")
                else:
                    lines.append(dash + " " + block[0].lstrip(" "))
                    lines.extend(block[1:])


def _block(msg: Message, indent: int) -> tuple[str, ...]:
    """The lines of a nested message at ``indent``, memoised by content."""
    key = (msg.DESCRIPTOR.full_name, indent, msg.SerializeToString(deterministic=True))
    block = _blocks.get(key)
    if block is None:
        lines: list[str] = []
        _emit_message(msg, indent, lines)
        block = tuple(lines)
        if len(_blocks) >= _CACHE_LIMIT:
            _blocks.clear()
        _blocks[key] = block
    return block


def _emit_nested(prefix: str, msg: Message, indent: int, lines: list[str]) -> None:
    block = _block(msg, indent + INDENT)
    if block:
        lines.append(prefix)
        lines.extend(block)
    else:
        lines.append(prefix + " {}")


def _emit_scalar(prefix: str, kind: int, value, indent: int, lines: list[str]) -> None:
    if kind == _STRING:
        _emit_string(prefix, value, indent, lines)
    elif kind == _BOOL:
        lines.append(f"{prefix} {'true' if value else 'false'}")
    elif kind == _BYTES:
        if not value:
            lines.append(f"{prefix} []")
            return
        try:
            text = value.decode()
        except UnicodeDecodeError:
            lines.append(f"{prefix} !!binary {base64.b64encode(value).decode()}")
            return
        _emit_string(prefix, text, indent, lines)
    elif kind == _FLOAT:
        lines.append(f"{prefix} {float(value)!r}")
    else:
        lines.append(f"{prefix} {int(value)}")


def _scalar_key(key) -> str:
    if isinstance(key, str):
        return key if _plain_ok(key) else json.dumps(key, ensure_ascii=False)
    return str(key)


def _plain_ok(text: str) -> bool:
    return bool(_PLAIN.match(text)) and text.lower() not in _RESERVED


def _emit_string(prefix: str, text: str, indent: int, lines: list[str]) -> None:
    if "\n" not in text:
        rendered = _strings.get(text)
        if rendered is None:
            if not text:
                rendered = '""'
            elif _plain_ok(text):
                rendered = text
            else:
                rendered = json.dumps(text, ensure_ascii=False)
            if len(_strings) >= _CACHE_LIMIT:
                _strings.clear()
            _strings[text] = rendered
        lines.append(f"{prefix} {rendered}")
    elif _literal_ok(text):
        body = text.rstrip("\n")
        trailing = len(text) - len(body)
        chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
        lines.append(f"{prefix} |{chomp}")
        content_pad = " " * (indent + INDENT)
        lines.extend(content_pad + line if line else "" for line in body.split("\n"))
        lines.extend("" for _ in range(trailing - 1))
    else:
        lines.append(f"{prefix} {json.dumps(text, ensure_ascii=False)}")


def _literal_ok(text: str) -> bool:
    if text[0] in " \n\t":
        return False
    if text.isascii():
        return _ASCII_CONTROL.search(text) is None
    return _UNPRINTABLE.search(text) is None
