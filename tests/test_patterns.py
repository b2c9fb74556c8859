"""Event patterns (Lambda's event filtering, SNS filter policies, EventBridge rules): each matcher
as AWS documents it, and the patterns AWS refuses."""

from __future__ import annotations

import pytest

from lambdabox.patterns import PatternError, compile_pattern

EVENT = {
    "source": "shop",
    "detail": {
        "state": "running",
        "price": 12.5,
        "count": 3,
        "tags": ["red", "big"],
        "ip": "10.0.3.7",
        "name": "Widget-Pro",
        "empty": None,
        "items": [{"sku": "a1"}, {"sku": "b2"}],
    },
}


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ({"source": ["shop"]}, True),
        ({"source": ["other", "shop"]}, True),
        ({"source": ["Shop"]}, False),
        ({"detail": {"state": ["running"], "count": [3]}}, True),
        ({"detail": {"count": [3.0]}}, True),
        ({"detail": {"tags": ["big"]}}, True),  # any element of a list
        ({"detail": {"tags": ["small"]}}, False),
        ({"detail": {"empty": [None]}}, True),
        ({"detail": {"state": [{"prefix": "run"}]}}, True),
        ({"detail": {"state": [{"suffix": "ing"}]}}, True),
        ({"detail": {"name": [{"prefix": {"equals-ignore-case": "WIDGET"}}]}}, True),
        ({"detail": {"name": [{"equals-ignore-case": "widget-pro"}]}}, True),
        ({"detail": {"name": [{"wildcard": "Wid*Pro"}]}}, True),
        ({"detail": {"name": [{"wildcard": "Wid*Max"}]}}, False),
        ({"detail": {"state": [{"anything-but": ["stopped", "pending"]}]}}, True),
        ({"detail": {"state": [{"anything-but": "running"}]}}, False),
        ({"detail": {"state": [{"anything-but": {"prefix": "run"}}]}}, False),
        ({"detail": {"count": [{"anything-but": [1, 2]}]}}, True),
        ({"detail": {"price": [{"numeric": [">", 10, "<=", 12.5]}]}}, True),
        ({"detail": {"price": [{"numeric": ["<", 10]}]}}, False),
        ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),  # not a number
        ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
        ({"detail": {"ip": [{"cidr": "192.168.0.0/16"}]}}, False),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"detail": {"state": [{"exists": True}]}}, True),
        ({"detail": {"state": [{"exists": False}]}}, False),
        ({"detail": {"missing": ["x"]}}, False),
        ({"detail": {"missing": [{"anything-but": "x"}]}}, False),  # anything-but needs the field
        ({"absent": {"deep": [{"exists": False}]}}, True),
        ({"detail": {"items": {"sku": ["b2"]}}}, True),  # a list of objects: any of them
        ({"$or": [{"source": ["nope"]}, {"detail": {"count": [3]}}]}, True),
        ({"$or": [{"source": ["nope"]}, {"detail": {"count": [4]}}]}, False),
        ({"source": ["shop"], "detail": {"state": ["stopped"]}}, False),  # every key must match
    ],
)
def test_a_pattern_matches_as_aws_documents(pattern: dict[str, object], matches: bool) -> None:
    assert compile_pattern(pattern).matches(EVENT) is matches


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        "{}",
        '{"a": "x"}',  # a leaf must be a list of matchers
        '{"a": []}',
        '{"a": [{"prefix": 1}]}',
        '{"a": [{"numeric": [">", "x"]}]}',
        '{"a": [{"numeric": ["<", 5, ">", 1]}]}',
        '{"a": [{"exists": "yes"}]}',
        '{"a": [{"bogus": 1}]}',
        '{"a": [{"prefix": "x", "suffix": "y"}]}',
        '{"a": [{"wildcard": "a**b"}]}',
        '{"a": [{"cidr": "300.0.0.0/8"}]}',
        '{"$or": [{"a": ["x"]}]}',
    ],
)
def test_patterns_aws_refuses_are_refused(text: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(text)


@pytest.mark.parametrize(
    ("wildcard", "value", "matches"),
    [
        ("a*b*c", "abc", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "acb", False),
        ("ab*ba", "aba", False),  # the prefix and the suffix may not overlap
        ("*", "", True),
        ("*x*", "yxy", True),
        ("x", "x", True),
        ("x", "xx", False),
        ("a*a*a*a*a*a*b", "a" * 5000, False),  # linear: no backtracking
    ],
)
def test_wildcards_match_in_linear_time(wildcard: str, value: str, matches: bool) -> None:
    assert compile_pattern({"k": [{"wildcard": wildcard}]}).matches({"k": value}) is matches


def test_a_pattern_nested_too_deeply_is_refused() -> None:
    with pytest.raises(PatternError):
        compile_pattern('{"a":' * 300 + '["x"]' + "}" * 300)
