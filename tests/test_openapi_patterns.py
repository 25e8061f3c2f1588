"""The OpenAPI patterns admit exactly what the parsers accept: a schema-valid request is never a 400 and a
schema-invalid one never passes (schemathesis checks both over HTTP; these check the grammars directly,
over a seeded corpus of near-misses)."""

from __future__ import annotations

import random
import re

from api import openapi, selectors
from models import history

SELECTOR_TOKENS = ["a", "b", "in", "notin", "(", ")", ",", "!", "=", "==", "!=", " ", "  ", "\t", "x/y", "-",
                   ".", "a.b", "1", "_", "x/", "/"]


def _accepts_selector(text: str) -> bool:
    try:
        selectors.parse(text)
    except selectors.SelectorError:
        return False
    return True


def test_the_selector_pattern_is_the_selector_grammar() -> None:
    pattern = re.compile(openapi.SELECTOR_PATTERN)
    rng = random.Random(8)
    corpus = ["", " ", "a", "a=b", "a = b", "a==", "a!=b,c", "a in (x,y)", "a in(x)", "ain(x)", "a in (,)",
              "a in ()", "!a", "! a", "!a=b", "a/b/c", "x.y/z", "a=b c", "a in (x)y", "a,", "a,,b", "in",
              "a notin ( x , )", "a\x00", "①=1", "a=é"]
    corpus += ["".join(rng.choice(SELECTOR_TOKENS) for _ in range(rng.randint(0, 9))) for _ in range(50_000)]
    wrong = [text for text in corpus if bool(pattern.match(text)) != _accepts_selector(text)]
    assert wrong == []


def test_the_selector_pattern_has_the_selector_bounds() -> None:
    pattern = re.compile(openapi.SELECTOR_PATTERN)
    most, values = selectors.MAX_REQUIREMENTS, selectors.MAX_VALUES
    key, value = selectors.MAX_KEY_LENGTH, selectors.MAX_VALUE_LENGTH
    for text, accepted in [
        (",".join(["a"] * most), True),
        ("a in (" + ",".join(["x"] * values) + ")", True), ("a in (" + ",".join(["x"] * (values + 1)) + ")", False),
        ("a in (" + "," * (values - 1) + ")", True), ("a in (" + "," * values + ")", False),
        ("k" * key, True), ("k" * (key + 1), False), ("a=" + "v" * value, True), ("a=" + "v" * (value + 1), False),
        ("p" * 253 + "/" + "n" * 63, True), ("p" * 254 + "/" + "n" * 63, False),
    ]:
        assert _accepts_selector(text) is accepted, text[:40]
        assert bool(pattern.match(text)) is accepted, text[:40]
    # The known differences. The pattern holds a prefixed key to Kubernetes' own limits (prefix 253,
    # name 63), the parser only to their sum. The count of requirements is only in the description
    # (with it the pattern compiles too large for jsonschema-rs, which then drops it).
    assert _accepts_selector("p/" + "n" * 64) and not pattern.match("p/" + "n" * 64)
    too_many = ",".join(["a"] * (most + 1))
    assert pattern.match(too_many) and not _accepts_selector(too_many)


def test_every_pattern_compiles_for_the_validators() -> None:
    """schemathesis drops (and then ignores) a pattern jsonschema-rs cannot compile."""
    from schemathesis.core.jsonschema.patterns import enforced_pattern

    patterns = {openapi.SELECTOR_PATTERN, history.REVISION_PATTERN, openapi._FILTER["pattern"]}
    assert {pattern for pattern in patterns if enforced_pattern(pattern) is None} == set()


def _accepts_revision(text: str) -> bool:
    try:
        return isinstance(history.parse_point(text), int)
    except ValueError:
        return False


def test_the_revision_pattern_is_the_revision_grammar() -> None:
    pattern = re.compile(history.REVISION_PATTERN)
    rng = random.Random(9)
    top = history.MAX_REVISION
    corpus = ["0", "00", "①", "١٢", "１２", "-1", "+1", " 1", "1 ", "", str(top), str(top + 1), "0" + str(top)]
    corpus += ["".join(rng.choice("0123456789") for _ in range(rng.randint(1, 21))) for _ in range(20_000)]
    corpus += [str(top + rng.randint(-10**6, 10**6)).zfill(rng.randint(1, 20)) for _ in range(20_000)]
    wrong = [text for text in corpus if bool(pattern.match(text)) != _accepts_revision(text)]
    assert wrong == []
