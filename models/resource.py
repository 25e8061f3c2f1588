"""A resource as the read model stores it: COSI metadata plus the decoded spec.

The watcher builds these from wire messages, the projections render API documents from them, and
history reads rebuild them from event rows. ``spec`` is protobuf JSON with the original proto field
names (``json_format.MessageToDict(..., preserving_proto_field_name=True)``): enums as names, 64-bit
integers as strings, zero values omitted, compressed fields replaced by their plain text sibling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

Key = tuple[str, str, str]  # (namespace, type, id)


@dataclass(frozen=True, slots=True)
class StoredResource:
    namespace: str
    type: str
    id: str
    version: int
    phase: str = "running"
    owner: str = ""
    created: datetime | None = None
    updated: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    finalizers: list[str] = field(default_factory=list)
    spec: dict = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.namespace, self.type, self.id)


# Reads another current resource while a document is rendered (joined documents).
Lookup = Callable[[str, str, str], "StoredResource | None"]
