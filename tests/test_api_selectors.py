"""Label selector parsing (strict) and evaluation, and the shared query parameter parsers."""

from __future__ import annotations

import pytest

from api import params, selectors
from api.problems import Problem
from api.selectors import EQUALS, EXISTS, IN, NOT_EQUALS, NOT_EXISTS, NOT_IN, Requirement


@pytest.mark.parametrize(("text", "expected"), [
    ("", ()),
    ("  ", ()),
    ("a=b", (Requirement("a", EQUALS, ("b",)),)),
    ("a==b", (Requirement("a", EQUALS, ("b",)),)),
    ("a=", (Requirement("a", EQUALS, ("",)),)),
    ("omni.sidero.dev/cluster=c-1,c!=d", (Requirement("omni.sidero.dev/cluster", EQUALS, ("c-1",)),
                                          Requirement("c", NOT_EQUALS, ("d",)))),
    ("e in (x, y),f notin (z)", (Requirement("e", IN, ("x", "y")), Requirement("f", NOT_IN, ("z",)))),
    ("g,!h", (Requirement("g", EXISTS), Requirement("h", NOT_EXISTS))),
    (" a = b , ! h ", (Requirement("a", EQUALS, ("b",)), Requirement("h", NOT_EXISTS))),
    ("a in (x,x)", (Requirement("a", IN, ("x",)),)),
])
def test_parse(text: str, expected: tuple) -> None:
    assert selectors.parse(text) == expected


@pytest.mark.parametrize("text", [
    "a=b,", ",a", "a b", "a=(b)", "a in x", "a in (x", "a in ()", "a notin (x,y", "!", "!a=b", "a=b=c",
    "a>1", "-a=b", "a=b c", "a in (x y)", "a/b/c=d", "a=b/c", "a=(", "=b",
])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(selectors.SelectorError):
        selectors.parse(text)


def test_matches() -> None:
    labels = {"a": "1", "b": "2", "flag": ""}
    assert selectors.matches(selectors.parse("a=1,flag"), labels)
    assert selectors.matches(selectors.parse("a in (0,1),b notin (1),!c,c!=x,d notin (y)"), labels)
    assert not selectors.matches(selectors.parse("a!=1"), labels)
    assert not selectors.matches(selectors.parse("c=1"), labels)
    assert not selectors.matches(selectors.parse("!flag"), labels)
    assert selectors.matches(selectors.parse("flag="), labels)


def test_query_parameters() -> None:
    assert params.limit({"limit": "10"}) == 10
    assert params.sort({}) == "id" and params.sort({"sort": "-updated"}) == "-updated"
    cursor = params.Cursor("created", "2025-01-01 00:00:00.000000", "m/1")
    assert params.cursor({"cursor": cursor.encode()}, "created") == cursor
    assert params.at({"at": "42"}) == 42
    assert params.at({"at": "2025-01-01T00:00:00Z"}).isoformat() == "2025-01-01T00:00:00+00:00"
    assert params.filter_value({"cluster": ""}, "cluster") is None


@pytest.mark.parametrize(("call", "name"), [
    (lambda: params.limit({"limit": "0"}), "limit"),
    (lambda: params.limit({"limit": "1001"}), "limit"),
    (lambda: params.limit({"limit": "x"}), "limit"),
    (lambda: params.limit({"limit": ["1", "2"]}), "limit"),
    (lambda: params.sort({"sort": "name"}), "sort"),
    (lambda: params.cursor({"cursor": "!!"}, "id"), "cursor"),
    (lambda: params.cursor({"cursor": params.Cursor("id", None, "x").encode()}, "-id"), "cursor"),
    (lambda: params.selector({"selector": "a in"}), "selector"),
    (lambda: params.min_revision({"min_revision": "-1"}), "min_revision"),
    (lambda: params.at({"at": "yesterday"}), "at"),
])
def test_bad_parameters_name_the_parameter(call, name: str) -> None:
    with pytest.raises(Problem) as info:
        call()
    assert info.value.status == 400 and info.value.parameter == name and name in info.value.detail
