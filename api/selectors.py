"""Kubernetes-style label selectors: ``a=b,c!=d,e in (x,y),f notin (z),g,!h``.

Parsed strictly (any syntax error is a ``SelectorError``); evaluated in SQL against
``resource_labels`` (``api.queries``) or in Python against a label dict (derived collections and
point-in-time reads).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Kubernetes label key: optional DNS-subdomain prefix and '/', then a name segment.
_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_KEY = re.compile(rf"(?:{_NAME}/)?{_NAME}")
_VALUE = re.compile(rf"(?:{_NAME})?")
_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|[^\s!=(),]+)")

# Bounds that keep every selector query cheap to plan and run (one label subquery per requirement).
MAX_REQUIREMENTS = 32
MAX_VALUES = 64  # per in/notin set
MAX_VALUE_LENGTH = 256  # Kubernetes allows 63; Omni's own labels stay well below this
MAX_KEY_LENGTH = 317  # a 253-character DNS prefix, '/', a 63-character name

EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, NOT_EXISTS = "=", "!=", "in", "notin", "exists", "!"


class SelectorError(ValueError):
    """The selector text is not a valid label selector; the message says where."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # one of EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, NOT_EXISTS
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == EXISTS:
            return self.key in labels
        if self.op == NOT_EXISTS:
            return self.key not in labels
        value = labels.get(self.key)
        if self.op in (EQUALS, IN):
            return value is not None and value in self.values
        return value is None or value not in self.values  # != and notin match a missing key too


def parse(text: str) -> tuple[Requirement, ...]:
    """Parse a selector; an empty or blank text selects everything."""
    tokens = _tokenize(text)
    if not tokens:
        return ()
    requirements = []
    position = 0
    while True:
        requirement, position = _requirement(tokens, position)
        requirements.append(requirement)
        if len(requirements) > MAX_REQUIREMENTS:
            raise SelectorError(f"more than {MAX_REQUIREMENTS} requirements")
        if position == len(tokens):
            return tuple(requirements)
        if tokens[position] != ",":
            raise SelectorError(f"expected ',' before {tokens[position]!r}")
        position += 1
        if position == len(tokens):
            raise SelectorError("trailing ','")


def matches(requirements: tuple[Requirement, ...], labels: Mapping[str, str]) -> bool:
    return all(requirement.matches(labels) for requirement in requirements)


def _tokenize(text: str) -> list[str]:
    tokens = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise SelectorError(f"unexpected character at offset {position}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _key(token: str | None) -> str:
    if token is not None and len(token) > MAX_KEY_LENGTH:
        raise SelectorError(f"a label key is longer than {MAX_KEY_LENGTH} characters")
    if token is None or not _KEY.fullmatch(token):
        raise SelectorError(f"invalid label key {token!r}" if token else "missing label key")
    return token


def _value(token: str | None) -> str:
    if token is not None and len(token) > MAX_VALUE_LENGTH:
        raise SelectorError(f"a label value is longer than {MAX_VALUE_LENGTH} characters")
    if token is None or token in ("(", ")", ",", "!", "=", "==", "!=") or not _VALUE.fullmatch(token):
        raise SelectorError(f"invalid label value {token!r}")
    return token


def _requirement(tokens: list[str], i: int) -> tuple[Requirement, int]:
    at = tokens.__getitem__
    if at(i) == "!":
        return Requirement(_key(tokens[i + 1] if i + 1 < len(tokens) else None), NOT_EXISTS), i + 2
    key = _key(at(i))
    i += 1
    if i == len(tokens) or at(i) == ",":
        return Requirement(key, EXISTS), i
    op = at(i)
    if op in ("=", "=="):
        value, i = _optional_value(tokens, i + 1)
        return Requirement(key, EQUALS, (value,)), i
    if op == "!=":
        value, i = _optional_value(tokens, i + 1)
        return Requirement(key, NOT_EQUALS, (value,)), i
    if op in ("in", "notin"):
        values, i = _value_set(tokens, i + 1)
        return Requirement(key, IN if op == "in" else NOT_IN, values), i
    raise SelectorError(f"unknown operator {op!r} after {key!r}")


def _optional_value(tokens: list[str], i: int) -> tuple[str, int]:
    """`a=` selects an empty value, as in Kubernetes."""
    if i == len(tokens) or tokens[i] == ",":
        return "", i
    return _value(tokens[i]), i + 1


def _value_set(tokens: list[str], i: int) -> tuple[tuple[str, ...], int]:
    if i >= len(tokens) or tokens[i] != "(":
        raise SelectorError("expected '(' after in/notin")
    values = []
    i += 1
    if i < len(tokens) and tokens[i] == ")":
        raise SelectorError("empty value set")
    while True:
        if i >= len(tokens):
            raise SelectorError("unterminated value set")
        if tokens[i] in (",", ")"):
            values.append("")  # an empty member, as in `in (a,)`
        else:
            values.append(_value(tokens[i]))
            i += 1
        if len(values) > MAX_VALUES:
            raise SelectorError(f"more than {MAX_VALUES} values in one set")
        if i >= len(tokens):
            raise SelectorError("unterminated value set")
        if tokens[i] == ")":
            return tuple(dict.fromkeys(values)), i + 1
        if tokens[i] != ",":
            raise SelectorError(f"expected ',' or ')' in value set, got {tokens[i]!r}")
        i += 1
