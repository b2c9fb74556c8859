"""Lambda REQUEST authorizers of HTTP APIs: the event an authorizer gets and what its answer
decides, as pure functions (https://docs.aws.amazon.com/apigateway/latest/developerguide/
http-api-lambda-authorizer.html).

The authorizer gets the request (payload format 2.0: the integration's event without its body,
plus `type`, `routeArn` and `identitySource`; 1.0: likewise with `methodArn` and a comma-joined
`identitySource`). With simple responses it answers `{"isAuthorized": bool, "context": {...}}`,
otherwise an IAM policy whose statements must allow `execute-api:Invoke` on the route's ARN (a
Deny wins). A request lacking one of the authorizer's identity sources is refused without calling
it (401); a refusal is 403; an answer that is neither form is the gateway's 500.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from lambdabox.gateway.proxy import GatewayRequest, event_v1, event_v2


class Malformed(ValueError):
    """The authorizer's answer is not one API Gateway reads."""


def route_arn(region: str, account: str, api_id: str, stage: str, method: str, path: str) -> str:
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}{path}"


def identity(req: GatewayRequest, sources: tuple[str, ...]) -> list[str] | None:
    """The values of the identity sources, or None when the request lacks one."""
    headers: dict[str, list[str]] = {}
    for name, value in req.headers:
        headers.setdefault(name.lower(), []).append(value)
    query: dict[str, list[str]] = {}
    for part in req.raw_query.split("&") if req.raw_query else []:
        name, _, value = part.partition("=")
        query.setdefault(name, []).append(value)
    out: list[str] = []
    for source in sources:
        kind, _, name = source.removeprefix("$").partition(".")
        if kind == "request":
            where, _, key = name.partition(".")
            values = headers.get(key.lower()) if where == "header" else query.get(key)
        elif kind == "stageVariables":
            found = req.stage_variables.get(name)
            values = [found] if found is not None else None
        else:  # $context.*: what lambdabox knows of its context
            known = {"stage": req.stage, "requestId": req.request_id, "routeKey": req.route_key}
            found = known.get(name)
            values = [found] if found is not None else None
        if not values or not any(values):
            return None
        out.append(",".join(values))
    return out


def request_event(req: GatewayRequest, arn: str, values: list[str], version: str) -> dict[str, Any]:
    if version == "2.0":
        event = event_v2(req)
        event.pop("body", None)
        event.pop("isBase64Encoded", None)
        return {"version": "2.0", "type": "REQUEST", "routeArn": arn, "identitySource": values, **event}
    event = event_v1(req)
    event.pop("body", None)
    event.pop("isBase64Encoded", None)
    return {
        "version": "1.0",
        "type": "REQUEST",
        "methodArn": arn,
        "identitySource": ",".join(values),
        **event,
    }


def decision(payload: bytes, simple: bool, arn: str) -> tuple[bool, dict[str, Any]]:
    """(allowed, the context the integration's event carries) from the authorizer's answer."""
    try:
        answer = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise Malformed("not JSON") from exc
    if not isinstance(answer, dict):
        raise Malformed("not an object")
    context = answer.get("context") or {}
    if not isinstance(context, dict):
        raise Malformed("context is not an object")
    if simple:
        allowed = answer.get("isAuthorized")
        if not isinstance(allowed, bool):
            raise Malformed("isAuthorized is not a boolean")
        return allowed, context
    return _policy_allows(answer.get("policyDocument"), arn), context


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_allows(document: Any, arn: str) -> bool:
    if not isinstance(document, dict) or "Statement" not in document:
        raise Malformed("no policyDocument")
    allowed = False
    for statement in _listed(document["Statement"]):
        if not isinstance(statement, dict):
            raise Malformed("a statement is not an object")
        actions = [str(a) for a in _listed(statement.get("Action", []))]
        resources = [str(r) for r in _listed(statement.get("Resource", []))]
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(arn, r) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed
