"""The simulator's current state as JSON lines, for comparing with what a client (the watcher) stored.

One line per resource of every catalog kind that lands in the read model, sorted by namespace, type, id:
``{"annotations","id","labels","namespace","phase","spec","type","version"}`` with keys sorted and no
whitespace (:func:`format_record`). ``spec`` is the protobuf JSON with the original field names
(``json_format.MessageToDict(preserving_proto_field_name=True)``); for kinds with compressed fields the
plain text is in the plain field and the compressed field is left out, as the read model stores it.
``version`` is the wire string (EtcdBackups, built fresh per call by Omni, have ``"undefined"``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from google.protobuf import json_format
from google.protobuf.message import Message

from models import catalog
from simulator import compression
from simulator.resource import Res
from simulator.store import Store


def spec_dict(spec: Message, compressed: dict[str, str] | None = None) -> dict:
    """The spec as protobuf JSON (original field names), compressed fields replaced by their text."""
    if compressed and any(getattr(spec, comp) for comp in compressed):
        plain_spec = type(spec)()
        plain_spec.CopyFrom(spec)
        for comp, plain in compressed.items():
            text = compression.plain_text(spec, comp, plain)
            if text is not None:
                plain_spec.ClearField(comp)
                setattr(plain_spec, plain, text)
        spec = plain_spec
    return json_format.MessageToDict(spec, preserving_proto_field_name=True)


def format_record(namespace: str, type_: str, id_: str, version: str, phase: str, labels: dict[str, str],
                  annotations: dict[str, str], spec: dict) -> str:
    """One export line. Anything that exports the same state through this gets identical text."""
    return json.dumps({"namespace": namespace, "type": type_, "id": id_, "version": version, "phase": phase,
                       "labels": labels, "annotations": annotations, "spec": spec},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record(res: Res, kind: catalog.Kind | None = None) -> str:
    message = res.spec_message()
    spec = {} if message is None else spec_dict(message, kind.compressed if kind else None)
    return format_record(res.namespace, res.type, res.id, res.version_string, res.phase, res.labels,
                         res.annotations, spec)


def export_lines(store: Store, kinds: Iterable[catalog.Kind] | None = None) -> Iterator[str]:
    """Lines (without newline) for ``kinds`` (default: every kind the read model stores)."""
    selected = sorted(kinds if kinds is not None else catalog.stored_kinds(), key=lambda k: (k.namespace, k.type))
    for kind in selected:
        coll = store.collections.get((kind.namespace, kind.type))
        if coll is None:
            continue
        for res in coll.sorted_items():
            yield record(res, kind)
