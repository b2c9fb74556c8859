"""The `curl` commands printed after a deploy, one per route of an API stage, to try it at once:
an HTTP API's routes (GetRoutes) or a REST API's methods (GetResources with the methods embedded),
read through the public API as any client would. A method that needs an API key gets an
`x-api-key` header and one behind a Lambda TOKEN authorizer its identity header, each with a
placeholder to fill in; CORS preflights (OPTIONS) and `$default` routes get none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import botocore.session

from lambdabox.target import Target


def try_lines(target: Target, by_path: str, session: botocore.session.Session | None = None) -> list[str]:
    """A curl command per route of the API stage at `by_path` (`<server>/_apis/<id>/[<stage>/]`),
    HTTP or REST; nothing when the API cannot be read (the deploy stands all the same)."""
    api_id = by_path.split("/_apis/", 1)[1].split("/", 1)[0] if "/_apis/" in by_path else ""
    if not api_id:
        return []
    session = session or botocore.session.get_session()
    base = by_path.rstrip("/")
    try:
        v2 = session.create_client("apigatewayv2", **target.client_args())
        return _http_api(v2, api_id, base)
    except Exception:  # (not an HTTP API: a REST API, or the server went away)
        pass
    try:
        v1 = session.create_client("apigateway", **target.client_args())
        return _rest_api(v1, api_id, base)
    except Exception:
        return []


def _curl(method: str, url: str, headers: Sequence[str] = ()) -> str:
    flag = "" if method in ("GET", "ANY") else f"-X {method} "
    extra = "".join(f"-H '{h}' " for h in headers)
    return f"curl -s {extra}{flag}{url}"


def _http_api(v2: Any, api_id: str, base: str) -> list[str]:
    routes: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ApiId": api_id}
    while True:
        page = v2.get_routes(**kwargs)
        routes += page.get("Items", [])
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    out = []
    for key in sorted(r["RouteKey"] for r in routes):
        method, _, path = key.partition(" ")
        if path and method != "OPTIONS":
            out.append(_curl(method, f"{base}{path}"))
    return out


def _rest_api(v1: Any, api_id: str, base: str) -> list[str]:
    resources: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"restApiId": api_id, "embed": ["methods"]}
    while True:
        page = v1.get_resources(**kwargs)
        resources += page.get("items", [])
        if not page.get("position"):
            break
        kwargs["position"] = page["position"]
    headers_of = _token_headers(v1, api_id)
    rows = []
    for r in resources:
        for verb, m in (r.get("resourceMethods") or {}).items():
            if verb == "OPTIONS":
                continue
            headers = []
            if m.get("apiKeyRequired"):
                headers.append("x-api-key: <api key>")
            if m.get("authorizationType") == "CUSTOM" and m.get("authorizerId") in headers_of:
                headers.append(f"{headers_of[m['authorizerId']]}: <token>")
            rows.append((r["path"], verb, _curl(verb, f"{base}{r['path']}", headers)))
    return [line for _, _, line in sorted(rows)]


def _token_headers(v1: Any, api_id: str) -> dict[str, str]:
    """Authorizer id -> the header a TOKEN authorizer reads its token from."""
    out = {}
    for a in v1.get_authorizers(restApiId=api_id).get("items", []):
        source = str(a.get("identitySource") or "")
        if a.get("type") == "TOKEN" and source.startswith("method.request.header."):
            out[a["id"]] = source.removeprefix("method.request.header.")
    return out
