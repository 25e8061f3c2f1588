"""Label and ID queries as COSI evaluates them (omni-wire.md §2.1).

Queries are ORed, the terms inside one query ANDed. ``NOT_EXISTS`` is ``EXISTS`` inverted. A comparison
(``LT``/``LTE`` and their numeric forms) on a missing label is false even when inverted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from omni_client.wire import resource_pb2

Labels = dict[str, str]
Predicate = Callable[[Labels], bool]

_Op = resource_pb2.LabelTerm.Operation


class QueryError(ValueError):
    """A query the server cannot evaluate."""


class QueryPanic(QueryError):
    """A query that makes Omni's server panic (reported by its recovery middleware as Internal)."""


def _term(term: resource_pb2.LabelTerm) -> Predicate:
    key, op, values, invert = term.key, term.op, list(term.value), term.invert
    if op == _Op.Value("NOT_EXISTS"):
        op, invert = _Op.Value("EXISTS"), not invert
    if op == _Op.Value("EXISTS"):
        return lambda labels: (key in labels) != invert
    if op == _Op.Value("IN"):
        allowed = frozenset(values)
        return lambda labels: (key in labels and labels[key] in allowed) != invert
    if not values:
        # Omni indexes value[0] and panics; its recovery middleware reports it as an error.
        raise QueryPanic("panic: runtime error: index out of range [0] with length 0")
    value = values[0]
    if op == _Op.Value("EQUAL"):
        return lambda labels: (key in labels and labels[key] == value) != invert
    if op in (_Op.Value("LT"), _Op.Value("LTE")):
        strict = op == _Op.Value("LT")

        def compare(labels: Labels) -> bool:
            if key not in labels:
                return False
            have = labels[key]
            return ((have < value) if strict else (have <= value)) != invert

        return compare
    if op in (_Op.Value("LT_NUMERIC"), _Op.Value("LTE_NUMERIC")):
        strict = op == _Op.Value("LT_NUMERIC")
        try:
            limit = int(value)
        except ValueError as exc:
            raise QueryError(f"invalid numeric value {value!r}") from exc

        def compare_numeric(labels: Labels) -> bool:
            if key not in labels:
                return False
            try:
                have = int(labels[key])
            except ValueError:
                return False
            return ((have < limit) if strict else (have <= limit)) != invert

        return compare_numeric
    raise QueryError(f"unsupported label query operation {op}")


def compile_label_queries(queries: Sequence[resource_pb2.LabelQuery]) -> Predicate | None:
    """One predicate for repeated LabelQuery (None: match everything)."""
    compiled = []
    for query in queries:
        terms = [_term(t) for t in query.terms]
        compiled.append(terms)
    if not compiled:
        return None
    if len(compiled) == 1:
        terms = compiled[0]
        return lambda labels: all(t(labels) for t in terms)
    return lambda labels: any(all(t(labels) for t in terms) for terms in compiled)


def compile_id_query(regexp: str) -> Callable[[str], bool] | None:
    """Unanchored search, like Go's ``MatchString``; None for an empty query."""
    if not regexp:
        return None
    try:
        pattern = re.compile(regexp)
    except re.error as exc:
        raise QueryError(f"invalid id query regexp: {exc}") from exc
    return lambda id_: pattern.search(id_) is not None
