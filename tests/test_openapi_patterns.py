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
