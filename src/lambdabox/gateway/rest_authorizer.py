"""Lambda authorizers of REST APIs (TOKEN and REQUEST): the identity a request offers, the event
the authorizer gets, and what its answer decides, as pure functions
(https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html,
api-gateway-lambda-authorizer-input.html, api-gateway-lambda-authorizer-output.html).

A TOKEN authorizer gets `{"type":"TOKEN","authorizationToken":…,"methodArn":…}`; the token is its
one identity source header, refused (401) without calling it when missing or when it does not
match the `identityValidationExpression`. A REQUEST authorizer gets the proxy event's request
fields with `type` and `methodArn`; a request lacking one of its identity sources is refused (401).
The answer is an IAM policy (read and judged as `authorizer` reads HTTP APIs' answers: a Deny
over any Allow), a `principalId` and a `context` of strings, numbers and booleans, which the
function sees stringified in `requestContext.authorizer` (observed on AWS, unverified here).
Failures, as API Gateway's default gateway responses word them (https://docs.aws.amazon.com/
apigateway/latest/developerguide/supported-gateway-response-types.html; bodies as observed on AWS,
https://dev.to/marcogrcr/api-gateway-lambda-authorizer-lambda-proxy-integration-failure-modes-52bc):
the authorizer fails with the error "Unauthorized" → 401 `{"message":"Unauthorized"}`; an explicit
Deny → 403 `{"Message":"User is not authorized to access this resource with an explicit deny"}`;
no Allow → 403 `{"Message":"User is not authorized to access this resource"}`; any other failure
or a malformed answer → 500 `{"message":null}` (AuthorizerConfigurationException).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lambdabox.gateway.authorizer import Answer, Malformed, read_answer
from lambdabox.gateway.proxy import GatewayResponse, _query
from lambdabox.gateway.rest_models import RestAuthorizer
from lambdabox.gateway.rest_proxy import RestRequest, error, request_parts

UNAUTHORIZED = error(401, "Unauthorized", "UnauthorizedException")
EXPLICIT_DENY = error(
    403,
    "User is not authorized to access this resource with an explicit deny",
    "AccessDeniedException",
    key="Message",
)
NOT_ALLOWED = error(
    403, "User is not authorized to access this resource", "AccessDeniedException", key="Message"
)
FAILED = error(500, None, "AuthorizerConfigurationException")


@dataclass(frozen=True)
class Grant:
    """A cached authorizer answer: its policy and context (judged per request), its principal."""

    principal_id: str
    answer: Answer
    usage_key: str | None = None  # usageIdentifierKey: the API key, for apiKeySource AUTHORIZER

    def judge(self, method_arn: str) -> dict[str, Any] | GatewayResponse:
        """`requestContext.authorizer` for a request allowed, else the 403 API Gateway sends."""
        if _explicitly_denied(self.answer, method_arn):
            return EXPLICIT_DENY
        if not self.answer.allows(method_arn):
            return NOT_ALLOWED
        return {"principalId": self.principal_id, **self.answer.context, "integrationLatency": 0}


def _explicitly_denied(answer: Answer, arn: str) -> bool:
    """Whether a Deny statement covers `arn` (its Deny statements, read as Allows, allow it)."""
    denies = tuple({**s, "Effect": "Allow"} for s in answer.policy if s.get("Effect") == "Deny")
    return bool(denies) and Answer({}, policy=denies).allows(arn)


def identity(req: RestRequest, authorizer: RestAuthorizer) -> list[str] | None:
    """The identity source values a request offers, None when it lacks one (or a TOKEN fails
    the validation expression): the request is then refused with 401."""
    query = _query(req.raw_query)
    values: list[str] = []
    for source in authorizer.sources:
        kind, _, rest = source.partition(".")
        found: list[str] = []
        if kind == "method":
            where, _, name = rest.removeprefix("request.").partition(".")
            if where in ("header", "multivalueheader"):
                found = [v for n, v in req.headers if n.lower() == name.lower()]
            elif where in ("querystring", "multivaluequerystring"):
                found = query.get(name, [])
            if where in ("header", "querystring"):
                found = found[-1:]
        elif kind == "stageVariables":
            found = [req.stage_variables[rest]] if rest in req.stage_variables else []
        elif kind == "context":
            known = {"stage": req.stage, "requestId": req.request_id, "httpMethod": req.method}
            found = [known[rest]] if rest in known else []
        if not found or not all(found):
            return None
        values.append(",".join(found))
    if authorizer.type == "TOKEN" and authorizer.identity_validation_expression:
        try:
            if not re.fullmatch(authorizer.identity_validation_expression, values[0]):
                return None
        except re.error:
            return None
    return values


def event(req: RestRequest, authorizer: RestAuthorizer, method_arn: str, values: list[str]) -> dict[str, Any]:
    if authorizer.type == "TOKEN":
        return {"type": "TOKEN", "methodArn": method_arn, "authorizationToken": values[0]}
    return {"type": "REQUEST", "methodArn": method_arn, **request_parts(req)}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise Malformed("a context value is not a string, number or boolean")


def read(payload: bytes, function_error: bool) -> Grant | GatewayResponse:
    """What the authorizer's invocation said: a grant to judge, or API Gateway's answer."""
    if function_error:
        try:
            message = json.loads(payload).get("errorMessage")
        except (ValueError, AttributeError, RecursionError):
            message = None
        return UNAUTHORIZED if message == "Unauthorized" else FAILED
    try:
        answer = read_answer(payload, simple=False)
        principal = json.loads(payload).get("principalId")
        if not isinstance(principal, str | int | float) or isinstance(principal, bool):
            raise Malformed("principalId missing")
        context = {str(k): _text(v) for k, v in answer.context.items()}
    except Malformed:
        return FAILED
    usage_key = json.loads(payload).get("usageIdentifierKey")
    return Grant(
        str(principal),
        Answer(context, policy=answer.policy),
        usage_key if isinstance(usage_key, str) else None,
    )
