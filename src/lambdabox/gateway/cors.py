"""CORS for HTTP APIs, as API Gateway applies an API's CorsConfiguration: pure functions.

From https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html: with CORS
configured, API Gateway answers preflight requests itself (OPTIONS with `Origin` and
`Access-Control-Request-Method`), even with no OPTIONS route; to other requests carrying an
`Origin` it adds the configured headers to the integration's response, and it ignores the CORS
headers the integration returned. An origin is allowed when `AllowOrigins` names it, holds `*`,
or holds `https://*` / `http://*` and the origin has that scheme.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lambdabox.gateway.proxy import GatewayResponse

_CORS_PREFIX = "access-control-"


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


def _allowed_origin(cors: Mapping[str, Any], origin: str) -> str | None:
    """The Access-Control-Allow-Origin to send for `origin`, or None when it is not allowed."""
    allowed = [str(o) for o in cors.get("AllowOrigins") or []]
    if origin in allowed:
        return origin
    if "*" in allowed:
        return "*"
    for pattern in ("https://*", "http://*"):
        if pattern in allowed and origin.startswith(pattern[:-1]):
            return origin
    return None


def _listed(values: Any) -> str:
    return ",".join(str(v) for v in values or [])


def is_preflight(method: str, headers: Iterable[tuple[str, str]]) -> bool:
    headers = list(headers)
    return (
        method == "OPTIONS"
        and _header(headers, "origin") is not None
        and _header(headers, "access-control-request-method") is not None
    )


def preflight(cors: Mapping[str, Any], headers: Iterable[tuple[str, str]]) -> GatewayResponse:
    """API Gateway's own answer to a preflight request: 204, with the configured headers when the
    origin and the requested method are allowed (none otherwise)."""
    headers = list(headers)
    origin = _header(headers, "origin") or ""
    method = (_header(headers, "access-control-request-method") or "").upper()
    out: list[tuple[str, str]] = []
    allow_origin = _allowed_origin(cors, origin)
    methods = [str(m).upper() for m in cors.get("AllowMethods") or []]
    if allow_origin is not None and ("*" in methods or method in methods):
        out.append(("Access-Control-Allow-Origin", allow_origin))
        out.append(("Access-Control-Allow-Methods", _listed(cors.get("AllowMethods"))))
        if cors.get("AllowHeaders"):
            out.append(("Access-Control-Allow-Headers", _listed(cors["AllowHeaders"])))
        if cors.get("AllowCredentials"):
            out.append(("Access-Control-Allow-Credentials", "true"))
        if cors.get("MaxAge") is not None:
            out.append(("Access-Control-Max-Age", str(cors["MaxAge"])))
        if cors.get("ExposeHeaders"):
            out.append(("Access-Control-Expose-Headers", _listed(cors["ExposeHeaders"])))
    return GatewayResponse(204, out, b"")


def decorate(
    cors: Mapping[str, Any], headers: Iterable[tuple[str, str]], response: GatewayResponse
) -> GatewayResponse:
    """The integration's response as API Gateway sends it under CORS: its own CORS headers
    dropped, the configured ones added when the request's origin is allowed."""
    kept = [(n, v) for n, v in response.headers if not n.lower().startswith(_CORS_PREFIX)]
    origin = _header(headers, "origin")
    allow_origin = _allowed_origin(cors, origin) if origin is not None else None
    if allow_origin is not None:
        kept.append(("Access-Control-Allow-Origin", allow_origin))
        if cors.get("AllowCredentials"):
            kept.append(("Access-Control-Allow-Credentials", "true"))
        if cors.get("ExposeHeaders"):
            kept.append(("Access-Control-Expose-Headers", _listed(cors["ExposeHeaders"])))
    return GatewayResponse(response.status, kept, response.body)
