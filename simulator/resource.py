"""One version of one resource, immutable once committed, serialised at most once."""

from __future__ import annotations

from google.protobuf.message import Message

from models import catalog
from omni_client.wire import resource_pb2
from simulator import yamlspec

RUNNING = "running"
TEARING_DOWN = "tearingDown"
UNDEFINED_VERSION = "undefined"


def _timestamp(ns: int, target) -> None:
    target.seconds, target.nanos = divmod(ns, 1_000_000_000)


class Res:
    """A resource version. ``spec`` is a protobuf message (never mutated after commit) or raw bytes for
    a type the catalog does not know; a superseded version keeps only its serialised form.
    ``version`` is an int, or None for the ``"undefined"`` version."""

    __slots__ = ("namespace", "type", "id", "version", "owner", "phase", "created", "updated",
                 "finalizers", "labels", "annotations", "spec", "yaml", "memo", "_wire", "_superseded")

    def __init__(self, namespace: str, type_: str, id_: str, version: int | None, spec: Message | bytes,
                 *, owner: str = "", phase: str = RUNNING, created: int = 0, updated: int = 0,
                 finalizers: tuple[str, ...] = (), labels: dict[str, str] | None = None,
                 annotations: dict[str, str] | None = None, yaml: str | None = None) -> None:
        self.namespace = namespace
        self.type = type_
        self.id = id_
        self.version = version
        self.owner = owner
        self.phase = phase
        self.created = created
        self.updated = updated
        self.finalizers = finalizers
        self.labels = labels if labels is not None else {}
        self.annotations = annotations if annotations is not None else {}
        self.spec = spec
        self.yaml = yaml  # only for raw-bytes specs, where it cannot be rendered here
        self.memo: object = None  # facts derived from this (immutable) version, computed once by their user
        self._wire: bytes | None = None
        self._superseded = False

    def supersede(self) -> None:
        """This version is no longer current: once serialised, only its bytes are needed (history
        replays them), so the spec message can go."""
        self._superseded = True
        if self._wire is not None:
            self.spec = b""

    @property
    def version_string(self) -> str:
        return UNDEFINED_VERSION if self.version is None else str(self.version)

    def spec_message(self) -> Message | None:
        return None if isinstance(self.spec, bytes) else self.spec

    def yaml_spec(self) -> str:
        if isinstance(self.spec, bytes):
            return self.yaml or ""
        kind = _kind(self.type)
        return yamlspec.render(self.spec, kind.compressed if kind else None)

    def to_proto(self) -> resource_pb2.Resource:
        res = resource_pb2.Resource()
        md = res.metadata
        md.namespace = self.namespace
        md.type = self.type
        md.id = self.id
        md.version = self.version_string
        md.owner = self.owner
        md.phase = self.phase
        _timestamp(self.created, md.created)
        _timestamp(self.updated, md.updated)
        md.finalizers.extend(self.finalizers)
        md.labels.update(self.labels)
        md.annotations.update(self.annotations)
        res.spec.proto_spec = self.spec if isinstance(self.spec, bytes) else self.spec.SerializeToString()
        res.spec.yaml_spec = self.yaml_spec()
        return res

    @property
    def wire(self) -> bytes:
        """The serialised ``cosi.resource.Resource``, computed once."""
        data = self._wire
        if data is None:
            data = self._wire = self.to_proto().SerializeToString()
            if self._superseded:
                self.spec = b""
        return data


def tombstone(namespace: str, type_: str, id_: str, now_ns: int) -> bytes:
    """A "does not exist" placeholder: version undefined, phase running, an empty but present spec."""
    res = resource_pb2.Resource()
    md = res.metadata
    md.namespace, md.type, md.id = namespace, type_, id_
    md.version = UNDEFINED_VERSION
    md.phase = RUNNING
    _timestamp(now_ns, md.created)
    _timestamp(now_ns, md.updated)
    res.spec.SetInParent()
    return res.SerializeToString()


_KIND_CACHE: dict[str, catalog.Kind | None] = {}


def _kind(type_: str) -> catalog.Kind | None:
    try:
        return _KIND_CACHE[type_]
    except KeyError:
        try:
            kind = catalog.by_type(type_)
        except KeyError:
            kind = None
        _KIND_CACHE[type_] = kind
        return kind
