"""Precomputed API documents, maintained by the writer as it applies changes.

``models.projections`` (owned by the API side) provides ``render(resource, lookup)``,
``dependents(resource)`` and ``joined_kinds(type)``. While it does not exist, documents stay NULL.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from models.resource import Key, Lookup, StoredResource

Render = Callable[[StoredResource, Lookup], "str | None"]
Dependents = Callable[[StoredResource], "list[Key]"]
Joins = Callable[[str], "list[tuple[str, str]]"]


def _no_joins(type_: str) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True)
class Projections:
    render: Render
    dependents: Dependents
    # (namespace, type) of the resources (same id) a document of a type embeds: the writer reads the
    # stored ones for a whole batch at once instead of one query per document. Only a hint: a lookup
    # outside it still works.
    joins: Joins = _no_joins


def load_projections() -> Projections | None:
    """The product's projections, or None while ``models.projections`` is not there."""
    try:
        projections = importlib.import_module("models.projections")
    except ModuleNotFoundError as exc:
        # Only the module's absence is tolerated; a broken projections module must fail loudly.
        if exc.name != "models.projections":
            raise
        return None
    return Projections(projections.render, projections.dependents, projections.joined_kinds)
