"""HTTP API route selection: which of an API's route keys a request's method and path select.

Rules from https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html:
a route key is "METHOD /path" or "$default"; ``ANY`` matches the methods a path has no route of its
own for; ``{name}`` matches one path segment and a greedy ``{name+}``, only as the last segment, one or
more; the most specific route wins (a full match, static before one with variables, then a greedy
match, longer greedy prefixes first), and ``$default`` catches the rest. Matching is case-sensitive and
exact: a trailing slash is a segment of its own (empty), which no variable matches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_ROUTE = "$default"
# The methods CreateRoute accepts in a route key (ANY meaning all of them).
METHODS = frozenset({"ANY", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})

_VARIABLE = re.compile(r"\{([A-Za-z0-9._-]+)(\+?)\}")
_BRACES = re.compile(r"[{}]")

_LITERAL, _VAR, _GREEDY = 0, 1, 2


@dataclass(frozen=True)
class RouteMatch:
    route_key: str
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class _Segment:
    kind: int
    text: str  # the literal, or the variable's name


def parse_route_key(key: str) -> tuple[str, str] | None:
    """("GET", "/pets/{id}") for a "METHOD /path" key; None for "$default" or anything unparseable."""
    method, sep, path = key.partition(" ")
    if not sep or not method or not path.startswith("/") or " " in path:
        return None
    return method, path


def _segments(path: str) -> list[_Segment] | None:
    if path == "/":
        return []
    out: list[_Segment] = []
    for part in path[1:].split("/"):
        var = _VARIABLE.fullmatch(part)
        if var:
            out.append(_Segment(_GREEDY if var.group(2) else _VAR, var.group(1)))
        elif _BRACES.search(part):
            return None
        else:
            out.append(_Segment(_LITERAL, part))
    return out


def route_key_error(key: str) -> str | None:
    """Why ``key`` is not a route key API Gateway would accept, or None when it is."""
    if key == DEFAULT_ROUTE:
        return None
    parsed = parse_route_key(key)
    if parsed is None:
        return f'Invalid route key: {key!r}; expected "$default" or "METHOD /path"'
    method, path = parsed
    if method not in METHODS:
        return f"Invalid HTTP method {method!r} in route key {key!r}; expected one of {', '.join(sorted(METHODS))}"
    segments = _segments(path)
    if segments is None:
        return f"Invalid path {path!r} in route key {key!r}: a path variable must be a whole segment {{name}} or {{name+}}"
    names = [s.text for s in segments if s.kind != _LITERAL]
    if len(names) != len(set(names)):
        return f"Invalid path {path!r} in route key {key!r}: a path variable name appears more than once"
    for i, seg in enumerate(segments):
        if seg.kind == _GREEDY and i != len(segments) - 1:
            return (
                f"Invalid path {path!r} in route key {key!r}: a greedy path variable must be the last segment"
            )
        # An empty segment is allowed only as the trailing slash ("/pets/"), never as "//".
        if seg.kind == _LITERAL and not seg.text and i != len(segments) - 1:
            return f"Invalid path {path!r} in route key {key!r}: empty path segment"
    return None


def _match(segments: list[_Segment], parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, seg in enumerate(segments):
        if seg.kind == _GREEDY:
            rest = "/".join(parts[i:])
            if not rest:
                return None
            params[seg.text] = rest
            return params
        if i >= len(parts):
            return None
        if seg.kind == _LITERAL:
            if parts[i] != seg.text:
                return None
        elif not parts[i]:
            return None
        else:
            params[seg.text] = parts[i]
    return params if len(segments) == len(parts) else None


def _rank(method: str, segments: list[_Segment]) -> tuple[int, tuple[int, ...], int]:
    """Smaller is more specific: static, then variables, then greedy; within those a literal beats a
    variable at the first segment where two routes differ (so a longer greedy prefix wins); and a
    route's own method beats ANY."""
    kinds = tuple(s.kind for s in segments)
    tier = _GREEDY if _GREEDY in kinds else (_VAR if _VAR in kinds else _LITERAL)
    return tier, kinds, 1 if method == "ANY" else 0


@functools.lru_cache(maxsize=4096)
def _compiled(key: str) -> tuple[str, list[_Segment]] | None:
    """A valid "METHOD /path" key's method and segments (read once per key), else None."""
    parsed = parse_route_key(key)
    if parsed is None or route_key_error(key) is not None:
        return None  # the control plane never stores such a key; never let one match
    return parsed[0], _segments(parsed[1]) or []


def match_route(route_keys: Iterable[str], method: str, path: str) -> RouteMatch | None:
    """The route a request selects, or None (API Gateway then answers 404 {"message":"Not Found"}).

    ``path`` is the request path after the stage: starts with "/", percent-decoded."""
    parts = [] if path == "/" else path[1:].split("/")
    best: tuple[tuple[int, tuple[int, ...], int], str, dict[str, str]] | None = None
    has_default = False
    for key in route_keys:
        if key == DEFAULT_ROUTE:
            has_default = True
            continue
        compiled = _compiled(key)
        if compiled is None:
            continue
        route_method, segments = compiled
        if route_method not in (method, "ANY"):
            continue
        params = _match(segments, parts)
        if params is None:
            continue
        rank = _rank(route_method, segments)
        if best is None or rank < best[0]:
            best = (rank, key, params)
    if best is not None:
        return RouteMatch(best[1], best[2])
    if has_default:
        return RouteMatch(DEFAULT_ROUTE, {})
    return None
