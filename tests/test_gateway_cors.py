"""CORS as API Gateway applies an HTTP API's CorsConfiguration (pure functions)."""

from __future__ import annotations

from lambdabox.gateway.cors import decorate, is_preflight, preflight
from lambdabox.gateway.proxy import GatewayResponse

CORS = {"AllowOrigins": ["*"], "AllowMethods": ["*"]}


def test_the_functions_own_cors_headers_are_ignored() -> None:
    response = GatewayResponse(200, [("Access-Control-Allow-Origin", "https://evil"), ("X-Keep", "1")], b"ok")
    out = decorate(CORS, [("Origin", "https://site")], response)
    assert out.headers == [("X-Keep", "1"), ("Access-Control-Allow-Origin", "*")]
    # without an Origin the request is no CORS request: nothing added, the function's still dropped
    assert decorate(CORS, [], response).headers == [("X-Keep", "1")]


def test_preflight_needs_origin_and_requested_method() -> None:
    assert is_preflight("OPTIONS", [("Origin", "x"), ("Access-Control-Request-Method", "GET")])
    assert not is_preflight("OPTIONS", [("Origin", "x")])
    assert not is_preflight("GET", [("Origin", "x"), ("Access-Control-Request-Method", "GET")])
    out = preflight(CORS, [("origin", "https://a"), ("access-control-request-method", "patch")])
    assert out.status == 204 and ("Access-Control-Allow-Origin", "*") in out.headers
    assert ("Access-Control-Allow-Methods", "*") in out.headers


def test_scheme_wildcards() -> None:
    cors = {"AllowOrigins": ["https://*"], "AllowMethods": ["GET"]}
    allowed = preflight(cors, [("Origin", "https://a.b"), ("Access-Control-Request-Method", "GET")])
    assert ("Access-Control-Allow-Origin", "https://a.b") in allowed.headers
    refused = preflight(cors, [("Origin", "http://a.b"), ("Access-Control-Request-Method", "GET")])
    assert refused.headers == []
