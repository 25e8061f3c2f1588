"""Wire resources (``cosi.resource.Resource``) to the read model's shape, once per event.

The decoded spec is ``json_format.MessageToDict(msg, preserving_proto_field_name=True)`` (computed by
``watcher/spec_json.py``, which returns the same dict faster). For kinds with
compressed fields the plain sibling gets the text and the compressed bytes are dropped: the text comes
from ``compressed_*`` through a user-supplied zstd dictionary when one is given, else from ``yaml_spec``
where Omni renders it decompressed (omni-wire.md §5.1, §8). Anything that cannot be decoded raises
PoisonError; the stream records it and goes on.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from google.protobuf.message import DecodeError, Message

from models.catalog import Kind
from models.resource import StoredResource
from omni_client.wire import resource_pb2, specs_pb2
from watcher import spec_json

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
UNDEFINED_VERSION = "undefined"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PoisonError(ValueError):
    """An event whose resource cannot be decoded."""


# Built once: json.dumps with non-default options would build a new encoder on every call.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_encode_sorted = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode


def dumps(value: object) -> str:
    """The JSON text stored in SQL: compact, UTF-8 as is."""
    return _encode(value)


def dumps_sorted(value: dict) -> str:
    """A mapping as JSON with sorted keys (labels, annotations)."""
    return _encode_sorted(value) if value else "{}"


def micros_to_datetime(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


class Decoded:
    """One resource state as the writer stores it: values plus their serialised SQL forms."""

    __slots__ = ("namespace", "type", "id", "version", "phase", "owner", "created", "updated", "labels",
                 "annotations", "finalizers", "spec", "labels_json", "annotations_json", "finalizers_json",
                 "spec_json", "labels_key", "created_text", "updated_text")

    def __init__(self, namespace: str, type_: str, id_: str, version: int, phase: str, owner: str,
                 created: int | None, updated: int | None, labels: dict[str, str],
                 annotations: dict[str, str], finalizers: list[str], spec: dict,
                 spec_json: str | None = None) -> None:
        self.namespace = namespace
        self.type = type_
        self.id = id_
        self.version = version
        self.phase = phase
        self.owner = owner
        self.created = created  # microseconds since the epoch (UTC), None when unset
        self.updated = updated
        self.labels = labels
        self.annotations = annotations
        self.finalizers = finalizers
        self.spec = spec
        self.labels_json = dumps_sorted(labels)
        self.annotations_json = dumps_sorted(annotations)
        self.finalizers_json = _encode(finalizers) if finalizers else "[]"
        self.spec_json = _encode(spec) if spec_json is None else spec_json
        self.labels_key = hash(self.labels_json)
        self.created_text = timestamp_text(created)
        self.updated_text = timestamp_text(updated)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.type, self.id)

    @classmethod
    def metadata_only(cls, res: resource_pb2.Resource) -> Decoded:
        """The identity of a resource whose spec cannot be decoded (``spec`` None): enough to delete it."""
        md = res.metadata
        version = 0 if md.version == UNDEFINED_VERSION or not md.version.isdigit() else int(md.version)
        state = cls(md.namespace, md.type, md.id, version, md.phase, md.owner, None, None, {}, {}, [], {})
        state.spec = None
        return state

    def content_key(self) -> int:
        """A fingerprint of everything but version and timestamps (for versionless resources)."""
        return content_key(self.phase, self.owner, self.labels, self.annotations, self.finalizers, self.spec)

    def stored(self) -> StoredResource:
        return StoredResource(
            self.namespace, self.type, self.id, self.version, self.phase, self.owner,
            micros_to_datetime(self.created), micros_to_datetime(self.updated),
            self.labels, self.annotations, self.finalizers, self.spec,
        )


def labels_key(labels: dict[str, str]) -> int:
    """A compact fingerprint of a label set, to skip rewriting unchanged label rows."""
    return hash(dumps_sorted(labels))


def content_key(phase: str, owner: str, labels: dict, annotations: dict, finalizers: list, spec: dict) -> int:
    return hash(_encode_sorted([phase, owner, labels, annotations, finalizers, spec]))


def timestamp_text(micros: int | None) -> str | None:
    """Naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``: SQLAlchemy's SQLite DATETIME storage format."""
    if micros is None:
        return None
    return (_EPOCH_NAIVE + timedelta(microseconds=micros)).isoformat(" ", "microseconds")


def _micros(ts) -> int:
    return ts.seconds * 1_000_000 + ts.nanos // 1000


def yaml_key(field_name: str) -> str:
    """The key Go's yaml renders for a spec field: the Go field name lowercased, no underscores."""
    return field_name.replace("_", "").lower()


class ZstdDictionary:
    """Decompresses Omni's ``compressed_*`` fields with a user-supplied zstd dictionary file."""

    def __init__(self, path: Path) -> None:
        try:
            import zstandard
        except ImportError:
            raise RuntimeError(
                "--zstd-dictionary needs the optional 'zstandard' package: pip install zstandard"
            ) from None
        data = zstandard.ZstdCompressionDict(Path(path).read_bytes())
        self._decompressor = zstandard.ZstdDecompressor(dict_data=data)
        self._error = zstandard.ZstdError

    def decompress(self, data: bytes) -> str:
        try:
            return self._decompressor.decompress(data, max_output_size=64 << 20).decode("utf-8")
        except (self._error, UnicodeDecodeError) as exc:
            raise PoisonError(f"cannot decompress with the zstd dictionary: {exc}") from None


class Decoder:
    """Decodes resources of one kind."""

    def __init__(self, kind: Kind, zstd: ZstdDictionary | None = None) -> None:
        self.kind = kind
        message = getattr(specs_pb2, kind.spec, None)
        if message is None:
            raise ValueError(f"no spec message specs.{kind.spec} for {kind.type}")
        self._parse = message.FromString
        self._to_dict = spec_json.converter(message.DESCRIPTOR)  # MessageToDict's output, faster
        self._compressed = dict(kind.compressed)
        self._zstd = zstd

    def decode(self, res: resource_pb2.Resource) -> Decoded:
        md = res.metadata
        if md.version == UNDEFINED_VERSION:
            version = 0  # resources Omni builds per call (EtcdBackups): compared by content instead
        else:
            try:
                version = int(md.version)
            except ValueError:
                raise PoisonError(f"version {md.version!r} is not a number") from None
        try:
            spec = self._parse(res.spec.proto_spec)
        except DecodeError as exc:
            raise PoisonError(f"proto_spec is not a valid specs.{self.kind.spec}: {exc}") from None
        if self._compressed:
            self._inflate(spec, res.spec.yaml_spec)
        try:
            spec_dict = self._to_dict(spec)
        except (ValueError, TypeError) as exc:  # e.g. an out-of-range Timestamp
            raise PoisonError(f"spec cannot be rendered as JSON: {exc}") from None
        return Decoded(
            # Interned: a machine's id names a resource of each of ~11 kinds, and the writer's index keeps
            # every id (one string per machine instead of one per resource: ~8 MB less at 10k machines).
            md.namespace, md.type, sys.intern(md.id), version, md.phase, md.owner,
            _micros(md.created) if md.HasField("created") else None,
            _micros(md.updated) if md.HasField("updated") else None,
            dict(md.labels), dict(md.annotations), list(md.finalizers), spec_dict,
        )

    def _inflate(self, spec: Message, yaml_spec: str) -> None:
        """Replace compressed bytes by their text in the plain sibling field."""
        parsed: dict | None = None
        for compressed, plain in self._compressed.items():
            data = getattr(spec, compressed)
            if not data:
                continue
            if self._zstd is not None:
                text = self._zstd.decompress(data)
            else:
                if parsed is None:
                    parsed = _parse_yaml(yaml_spec)
                text = parsed.get(yaml_key(plain))
                if not isinstance(text, str):
                    raise PoisonError(
                        f"{compressed} is compressed and yaml_spec has no text for {plain}; "
                        "pass --zstd-dictionary to decode it"
                    )
            spec.ClearField(compressed)
            if isinstance(getattr(spec, plain), bytes):
                setattr(spec, plain, text.encode("utf-8"))
            else:
                setattr(spec, plain, text)


def _parse_yaml(text: str) -> dict:
    try:
        parsed = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise PoisonError(f"yaml_spec does not parse: {exc}") from None
    if not isinstance(parsed, dict):
        raise PoisonError("yaml_spec is not a mapping")
    return parsed
