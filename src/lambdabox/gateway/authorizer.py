"""Lambda REQUEST authorizers of HTTP APIs: the event an authorizer gets and what its answer
decides, as pure functions (https://docs.aws.amazon.com/apigateway/latest/developerguide/
http-api-lambda-authorizer.html).

The authorizer gets the request (payload format 2.0: the integration's event without its body,
plus `type`, `routeArn` and `identitySource`; 1.0: likewise with `methodArn` and a comma-joined
`identitySource`). With simple responses it answers `{"isAuthorized": bool, "context": {...}}`,
otherwise an IAM policy whose statements must allow `execute-api:Invoke` on the route's ARN (a
Deny wins). A request lacking one of the authorizer's identity sources is refused without calling
it (401); a refusal is 403; an answer that is neither form is the gateway's 500. Answers are
cached as answers: a cached policy is judged again for each request's route ARN, as API Gateway
applies it. Policies are read as IAM reads them: Action/NotAction (case-insensitive),
Resource/NotResource, only `*` and `?` as wildcards, a Deny over any Allow.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Answer:
    """What an authorizer said: a simple verdict, or a policy judged per request; the context."""

    context: dict[str, Any]
    verdict: bool | None = None  # simple responses
    policy: tuple[dict[str, Any], ...] = ()  # its statements (policy responses)

    def allows(self, arn: str) -> bool:
        """Whether the answer lets a request for `arn` through (a cached answer is judged again for
        each request's route, as API Gateway applies a cached policy)."""
        if self.verdict is not None:
            return self.verdict
        allowed = False
        for statement in self.policy:
            if not _applies(statement, arn):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow":
                allowed = True
        return allowed


def read_answer(payload: bytes, simple: bool) -> Answer:
    """The authorizer's answer, or Malformed."""
    try:
        answer = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise Malformed("not JSON") from exc
    if not isinstance(answer, dict):
        raise Malformed("not an object")
    context = answer.get("context")
    context = {} if context is None else context
    if not isinstance(context, dict):
        raise Malformed("context is not an object")
    if simple:
        allowed = answer.get("isAuthorized")
        if not isinstance(allowed, bool):
            raise Malformed("isAuthorized is not a boolean")
        return Answer(context, verdict=allowed)
    document = answer.get("policyDocument")
    if not isinstance(document, dict) or "Statement" not in document:
        raise Malformed("no policyDocument")
    statements = _listed(document["Statement"])
    if not all(isinstance(st, dict) for st in statements):
        raise Malformed("a statement is not an object")
    return Answer(context, policy=tuple(statements))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@functools.lru_cache(maxsize=4096)
def _pattern(glob: str, case_sensitive: bool) -> re.Pattern[str]:
    """An IAM wildcard (only `*` and `?` are special) as a regex."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob]
    return re.compile("".join(parts), 0 if case_sensitive else re.IGNORECASE)


def _matches(value: str, globs: Any, case_sensitive: bool) -> bool:
    return any(_pattern(str(g), case_sensitive).fullmatch(value) for g in _listed(globs))


def _covers(statement: dict[str, Any], element: str, value: str, case_sensitive: bool) -> bool:
    """Whether a statement's `element` (Action, Resource) or its Not-form covers `value`; a
    statement with neither covers nothing."""
    if element in statement:
        return _matches(value, statement[element], case_sensitive)
    if f"Not{element}" in statement:
        return not _matches(value, statement[f"Not{element}"], case_sensitive)
    return False


def _applies(statement: dict[str, Any], arn: str) -> bool:
    """Whether a statement covers invoking `arn` (action names are case-insensitive, ARNs not)."""
    return _covers(statement, "Action", "execute-api:Invoke", False) and _covers(
        statement, "Resource", arn, True
    )
