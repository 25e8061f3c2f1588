"""Precomputed API documents, maintained by the writer as it applies changes.

``models.projections`` (owned by the API side) provides ``render(resource, lookup)`` and
``dependents(resource)``. While it does not exist, documents stay NULL.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from models.resource import Key, Lookup, StoredResource

Render = Callable[[StoredResource, Lookup], "str | None"]
Dependents = Callable[[StoredResource], "list[Key]"]


@dataclass(frozen=True)
class Projections:
    render: Render
    dependents: Dependents


def load_projections() -> Projections | None:
    """The product's projections, or None while ``models.projections`` is not there."""
    try:
        projections = importlib.import_module("models.projections")
    except ModuleNotFoundError as exc:
        # Only the module's absence is tolerated; a broken projections module must fail loudly.
        if exc.name != "models.projections":
            raise
        return None
    return Projections(projections.render, projections.dependents)
