"""HTTP API route selection, by the rules and examples of AWS's routing page
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdabox.gateway.routing import RouteMatch, match_route, parse_route_key, route_key_error

# The example API of AWS's page.
DOC_ROUTES = ["GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default"]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/pets/dog/1", RouteMatch("GET /pets/dog/1", {})),
        ("GET", "/pets/dog/2", RouteMatch("GET /pets/dog/{id}", {"id": "2"})),
        ("GET", "/pets/cat/1", RouteMatch("GET /pets/{proxy+}", {"proxy": "cat/1"})),
        ("POST", "/test/5", RouteMatch("ANY /{proxy+}", {"proxy": "test/5"})),
        ("POST", "/", RouteMatch("$default", {})),
    ],
)
def test_the_doc_examples(method: str, path: str, expected: RouteMatch) -> None:
    assert match_route(DOC_ROUTES, method, path) == expected


def test_order_of_route_keys_does_not_matter() -> None:
    for rotation in range(len(DOC_ROUTES)):
        keys = DOC_ROUTES[rotation:] + DOC_ROUTES[:rotation]
        assert match_route(keys, "GET", "/pets/dog/2") == RouteMatch("GET /pets/dog/{id}", {"id": "2"})


def test_nothing_matches_without_default() -> None:
    assert match_route(["GET /pets"], "GET", "/cats") is None
    assert match_route(["GET /pets"], "POST", "/pets") is None
    assert match_route([], "GET", "/") is None


def test_default_catches_everything_else() -> None:
    assert match_route(["GET /pets", "$default"], "DELETE", "/anything/at/all") == RouteMatch("$default", {})


def test_a_method_of_its_own_beats_any() -> None:
    keys = ["ANY /pets/{id}", "GET /pets/{id}"]
    assert match_route(keys, "GET", "/pets/1") == RouteMatch("GET /pets/{id}", {"id": "1"})
    assert match_route(keys, "PUT", "/pets/1") == RouteMatch("ANY /pets/{id}", {"id": "1"})


def test_a_full_match_with_any_beats_a_greedy_match_with_the_method() -> None:
    keys = ["GET /pets/{proxy+}", "ANY /pets/{id}"]
    assert match_route(keys, "GET", "/pets/1") == RouteMatch("ANY /pets/{id}", {"id": "1"})


def test_static_beats_variable_beats_greedy() -> None:
    keys = ["GET /a/{x}", "GET /a/b", "GET /{proxy+}"]
    assert match_route(keys, "GET", "/a/b") == RouteMatch("GET /a/b", {})
    assert match_route(keys, "GET", "/a/c") == RouteMatch("GET /a/{x}", {"x": "c"})
    assert match_route(keys, "GET", "/a/c/d") == RouteMatch("GET /{proxy+}", {"proxy": "a/c/d"})


def test_a_literal_segment_earlier_wins_among_variable_routes() -> None:
    keys = ["GET /{a}/b", "GET /a/{b}"]
    assert match_route(keys, "GET", "/a/b") == RouteMatch("GET /a/{b}", {"b": "b"})


def test_a_variable_route_beats_a_greedy_one_whatever_the_prefix() -> None:
    keys = ["GET /a/{proxy+}", "GET /{x}/b"]
    assert match_route(keys, "GET", "/a/b") == RouteMatch("GET /{x}/b", {"x": "a"})


def test_the_longer_greedy_prefix_wins() -> None:
    keys = ["ANY /{proxy+}", "ANY /api/{proxy+}", "ANY /api/v1/{rest+}"]
    assert match_route(keys, "GET", "/api/v1/x/y") == RouteMatch("ANY /api/v1/{rest+}", {"rest": "x/y"})
    assert match_route(keys, "GET", "/api/v2/x") == RouteMatch("ANY /api/{proxy+}", {"proxy": "v2/x"})
    assert match_route(keys, "GET", "/other") == RouteMatch("ANY /{proxy+}", {"proxy": "other"})


def test_greedy_needs_at_least_one_segment() -> None:
    assert match_route(["ANY /{proxy+}"], "GET", "/") is None
    assert match_route(["ANY /pets/{proxy+}"], "GET", "/pets") is None
    assert match_route(["ANY /pets/{proxy+}"], "GET", "/pets/") is None
    assert match_route(["ANY /pets/{proxy+}"], "GET", "/pets/a/") == RouteMatch(
        "ANY /pets/{proxy+}", {"proxy": "a/"}
    )


def test_root_route() -> None:
    assert match_route(["GET /", "ANY /{proxy+}"], "GET", "/") == RouteMatch("GET /", {})


def test_matching_is_case_sensitive() -> None:
    assert match_route(["GET /Pets"], "GET", "/pets") is None
    assert match_route(["GET /pets"], "get", "/pets") is None


def test_a_trailing_slash_is_part_of_the_path() -> None:
    assert match_route(["GET /pets"], "GET", "/pets/") is None
    assert match_route(["GET /pets/"], "GET", "/pets") is None
    assert match_route(["GET /pets/"], "GET", "/pets/") == RouteMatch("GET /pets/", {})
    assert match_route(["GET /pets/{id}"], "GET", "/pets/") is None  # a variable is never empty
    assert match_route(["GET /pets/{id}"], "GET", "/pets/1/") is None


def test_path_parameters_are_the_decoded_values_given() -> None:
    assert match_route(["GET /files/{name}"], "GET", "/files/a b é") == RouteMatch(
        "GET /files/{name}", {"name": "a b é"}
    )


def test_invalid_keys_never_match() -> None:
    assert match_route(["GET pets", "GET /{proxy+}/x", "GET /a{b}"], "GET", "/pets") is None


def test_parse_route_key() -> None:
    assert parse_route_key("GET /pets/{id}") == ("GET", "/pets/{id}")
    assert parse_route_key("ANY /") == ("ANY", "/")
    assert parse_route_key("$default") is None
    assert parse_route_key("GET") is None
    assert parse_route_key("GET pets") is None
    assert parse_route_key("GET /a /b") is None


@pytest.mark.parametrize(
    "key",
    ["$default", "GET /", "ANY /{proxy+}", "POST /pets/{id}/toys/{toy}", "GET /pets/", "PATCH /a.b/{c-d}"],
)
def test_valid_keys(key: str) -> None:
    assert route_key_error(key) is None


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("$DEFAULT", "expected"),
        ("GET", "expected"),
        ("GET pets", "expected"),
        ("FETCH /pets", "HTTP method"),
        ("get /pets", "HTTP method"),
        ("GET /{proxy+}/toys", "greedy path variable must be the last"),
        ("GET /pets/{id}.json", "whole segment"),
        ("GET /pets/{}", "whole segment"),
        ("GET /pets/{a}/{a}", "more than once"),
        ("GET //pets", "empty path segment"),
    ],
)
def test_invalid_keys(key: str, reason: str) -> None:
    error = route_key_error(key)
    assert error is not None and reason in error


segment = st.text(alphabet="abcXYZ019-._~ %", min_size=1, max_size=6).filter(lambda s: "/" not in s)


@given(st.lists(segment, min_size=1, max_size=5))
def test_proxy_gets_the_whole_path_and_a_static_route_only_itself(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    assert match_route(["ANY /{proxy+}"], "GET", path) == RouteMatch("ANY /{proxy+}", {"proxy": path[1:]})
    static = f"GET {path}"
    if "{" not in path and route_key_error(static) is None:
        assert match_route([static, "ANY /{proxy+}"], "GET", path) == RouteMatch(static, {})


@given(st.lists(segment, min_size=1, max_size=5))
def test_one_variable_per_segment(parts: list[str]) -> None:
    key = "GET /" + "/".join(f"{{v{i}}}" for i in range(len(parts)))
    match = match_route([key], "GET", "/" + "/".join(parts))
    assert match == RouteMatch(key, {f"v{i}": p for i, p in enumerate(parts)})
