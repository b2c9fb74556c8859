"""The data plane of REST APIs: a request for a REST API's stage reaches its method through the
deployed resource tree, becomes a Lambda proxy event, and the function's answer becomes the HTTP
response, with API Gateway's own answers when something fails.

Requests reach a REST API the way they reach HTTP APIs (`dataplane.addressed`: the host
`<api-id>.execute-api.localhost:<port>`, or `/_apis/<api-id>/…`), always with the stage as the
first path segment. Only REST APIs are answered here: another id goes on to the HTTP API data
plane, which answers ids nobody has (404). Resource selection is the HTTP API route selection
(`routing.match_route`, the most specific resource first, `{proxy+}` greedy, a method of its own
before ANY) over the deployment's resources.

API Gateway's answers for REST APIs (its default gateway responses:
https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html,
and https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html):
no such resource or method → 403 `{"message":"Missing Authentication Token"}` (MISSING_AUTHENTICATION_TOKEN);
no such stage or a disabled default endpoint → 403 `{"message":"Forbidden"}`; a method that needs
an API key without a valid one → 403 `{"message":"Forbidden"}`; throttled → 429
`{"message":"Too Many Requests"}`; a body over 10 MB → 413 `HTTP content length exceeded 10485760
bytes.` (text, as observed on AWS); a function error or a malformed result → 502
`{"message":"Internal server error"}`; a refused invoke → 500 `{"message":"Internal server error"}`; no answer
within the integration's timeout → 504 `{"message":"Endpoint request timed out"}` (the
invocation runs on, as on AWS). AWS_IAM methods need a request SigV4-signed for `execute-api` with
a key the server knows (checked as HTTP APIs' AWS_IAM routes are, gateway/iam_auth.py); the caller
reaches the function in `requestContext.identity`. IAM policies are not evaluated.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from multidict import CIMultiDict

from lambdabox.aws import ids
from lambdabox.clock import Clock
from lambdabox.gateway import rest_authorizer, throttle
from lambdabox.gateway.authorizer import route_arn
from lambdabox.gateway.dataplane import MAX_BODY, Addressed, addressed, forwarded
from lambdabox.gateway.iam_auth import IamAuthorizer
from lambdabox.gateway.lambda_run import Failed, Invoked, LambdaRunner, source_arn
from lambdabox.gateway.proxy import GatewayResponse, MalformedResult
from lambdabox.gateway.rest_models import (
    METHOD_SETTING_DEFAULTS,
    RestApi,
    RestAuthorizer,
    RestDeployment,
    RestIntegration,
    RestMethod,
    RestResource,
    RestStage,
)
from lambdabox.gateway.rest_proxy import RestRequest, error, event, response
from lambdabox.gateway.routing import match_route
from lambdabox.gateway.v2_api import lambda_target, with_stage_variables
from lambdabox.http_messages import BodyTooLarge, Request, RequestAborted, Response

log = logging.getLogger(__name__)

_AUTHORIZER_TIMEOUT = 10.0
FORBIDDEN = error(403, "Forbidden", "ForbiddenException")
MISSING_TOKEN = error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
INTERNAL = error(500, "Internal server error", "InternalServerErrorException")
BAD_GATEWAY = error(502, "Internal server error", "InternalServerErrorException")
TIMED_OUT = error(504, "Endpoint request timed out", "InternalServerErrorException")
THROTTLED = error(429, "Too Many Requests", "ThrottlingException")
TOO_LARGE = GatewayResponse(
    413, [("Content-Type", "text/plain")], b"HTTP content length exceeded 10485760 bytes."
)


@dataclass(frozen=True)
class ApiKeyCheck:
    """What the API key check of a method that requires one is asked about."""

    api: RestApi
    stage: RestStage
    method: RestMethod
    resource_path: str
    headers: list[tuple[str, str]]
    #: the `usageIdentifierKey` a Lambda authorizer answered (apiKeySource AUTHORIZER)
    authorizer_key: str | None


@dataclass(frozen=True)
class ApiKeyUsed:
    """The key a request was let through with: requestContext.identity's apiKey and apiKeyId."""

    value: str
    key_id: str


#: the API key check: the key that lets the request through, else the answer it gets
ApiKeys = Callable[[ApiKeyCheck], Awaitable[GatewayResponse | ApiKeyUsed]]


async def refuse_api_keys(check: ApiKeyCheck) -> GatewayResponse | ApiKeyUsed:
    """Without API keys served, a method that requires one refuses every request, as AWS refuses
    a request without a valid key: 403 Forbidden."""
    return FORBIDDEN


#: what the data plane reads of the control plane
RestApiLookup = Callable[[str], RestApi | None]


def _http(resp: GatewayResponse, request_id: str, extended_id: str) -> Response:
    headers: CIMultiDict[str] = CIMultiDict(resp.headers)
    headers["x-amzn-RequestId"] = request_id
    headers["x-amz-apigw-id"] = extended_id
    return Response(resp.status, headers, resp.body)


def _setting_key(resource_path: str, method: str) -> str:
    return f"{resource_path.replace('~', '~0').replace('/', '~1')}/{method}"


def _limits(stage: RestStage, resource_path: str, method: str) -> tuple[str, float, float] | None:
    """(settings key, rate, burst) of a method's throttling: its own settings, else the stage's
    `*/*`; None when neither sets any."""
    for key in (_setting_key(resource_path, method), "*/*"):
        given = stage.method_settings.get(key)
        if given and ("throttlingRateLimit" in given or "throttlingBurstLimit" in given):
            merged = {**METHOD_SETTING_DEFAULTS, **given}
            return key, float(merged["throttlingRateLimit"]), float(merged["throttlingBurstLimit"])
    return None


class RestApiDataPlane:
    """Serves the REST APIs of the control plane through Lambda."""

    def __init__(
        self,
        apis: RestApiLookup,
        runner: LambdaRunner,
        clock: Clock,
        api_keys: ApiKeys = refuse_api_keys,
        iam: IamAuthorizer | None = None,
    ) -> None:
        """`iam`: checks AWS_IAM methods' signatures (without it they refuse every request)."""
        self._iam = iam
        self._apis = apis
        self._runner = runner
        self._clock = clock
        self._api_keys = api_keys
        self._throttle = throttle.Throttle(clock)
        #: cached authorizer answers: (api, stage, authorizer, identity) -> (expiry, grant)
        self._grants: dict[
            tuple[str, str, RestAuthorizer, tuple[str, ...]], tuple[float, rest_authorizer.Grant]
        ] = {}

    def route(self, request: Request) -> Awaitable[Response] | None:
        """The answer to a request addressed to a REST API (the edge's `DataPlane`), else None."""
        where = addressed(request)
        api = self._apis(where.api_id) if where is not None else None
        if where is None or api is None:
            return None
        return self._guarded(request, where, api)

    async def _guarded(self, request: Request, where: Addressed, api: RestApi) -> Response:
        request_id, extended_id = ids.request_id(), base64.b64encode(secrets.token_bytes(10)).decode()
        try:
            answer = await self._handle(request, where, api, request_id, extended_id)
        except RequestAborted:
            raise
        except Exception:  # a bug: API Gateway's 500, never a traceback
            log.exception("REST API %s: internal error", api.api_id)
            answer = INTERNAL
        return _http(answer, request_id, extended_id)

    async def _handle(
        self, request: Request, where: Addressed, api: RestApi, request_id: str, extended_id: str
    ) -> GatewayResponse:
        if api.disable_execute_api_endpoint:
            return FORBIDDEN
        first, _, rest = where.raw_rest[1:].partition("/")
        stage = api.stages.get(unquote(first))
        deployment = api.deployments.get(stage.deployment_id) if stage is not None else None
        if stage is None or deployment is None:
            return FORBIDDEN
        path = "/" + unquote(rest)
        # a trailing slash selects the resource without it (the event keeps the path as sent)
        found = _select(
            deployment, request.method, path[:-1] if len(path) > 1 and path.endswith("/") else path
        )
        if found is None:
            return MISSING_TOKEN
        resource, method, path_parameters = found
        limit = _limits(stage, resource.path, method.http_method)
        if limit is not None and not self._throttle.admit(
            (api.api_id, stage.name, limit[0]), limit[1], limit[2]
        ):
            return THROTTLED
        try:
            body = await request.read(MAX_BODY)
        except BodyTooLarge:
            return TOO_LARGE
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        source_ip = str(peer[0]) if isinstance(peer, tuple) else "127.0.0.1"
        sock = request.transport.get_extra_info("sockname") if request.transport is not None else None
        port = str(sock[1]) if isinstance(sock, tuple) else "80"
        req = RestRequest(
            method=request.method, path=path, raw_query=request.query_string,
            headers=forwarded(list(request.headers.items()), source_ip, port, self._clock.now()),
            body=body, source_ip=source_ip, api_id=api.api_id, account_id=api.account, stage=stage.name,
            domain_name=where.domain_name, request_id=request_id, time_epoch_ms=int(self._clock.now() * 1000),
            resource_id=resource.resource_id, resource_path=resource.path, path_parameters=path_parameters,
            stage_variables=dict(stage.variables), binary_media_types=tuple(api.binary_media_types),
            extended_request_id=extended_id,
        )  # fmt: skip
        granted: dict[str, Any] | None = None
        usage_key: str | None = None
        caller: dict[str, Any] | None = None
        if method.authorization_type == "AWS_IAM":
            if self._iam is None:
                return MISSING_TOKEN
            checked = await self._iam.check(
                request.method, request.raw_path, request.headers, body, api.region
            )
            if isinstance(checked, GatewayResponse):
                return checked
            caller = checked
        if method.authorization_type == "CUSTOM":
            verdict = await self._authorize(api, stage, deployment, method, req)
            if isinstance(verdict, GatewayResponse):
                return verdict
            granted, usage_key = verdict
        key_used: ApiKeyUsed | None = None
        if method.api_key_required:  # the API key check (API keys and usage plans hook in here)
            check = ApiKeyCheck(api, stage, method, resource.path, req.headers, usage_key)
            checked_key = await self._api_keys(check)
            if isinstance(checked_key, GatewayResponse):
                return checked_key
            key_used = checked_key
        integration = method.integration
        if integration is None:
            return INTERNAL
        if integration.type == "MOCK":
            return _mock(integration)
        target = lambda_target(with_stage_variables(integration.uri or "", stage.variables))
        if target is None:  # a stage variable made it name no function
            return INTERNAL
        ev = event(req, granted)
        if key_used is not None:
            ev["requestContext"]["identity"].update(apiKey=key_used.value, apiKeyId=key_used.key_id)
        if caller is not None:  # who signed, as REST APIs put it in the event
            ev["requestContext"]["identity"].update(
                accessKey=caller["accessKey"], accountId=caller["accountId"], caller=caller["callerId"],
                user=caller["userId"], userArn=caller["userArn"],
            )  # fmt: skip
        source = source_arn(api.region, api.account, api.api_id, f"{stage.name}/{req.method}{resource.path}")
        outcome = await self._run(api, target, ev, integration.timeout_ms / 1000, source)
        if isinstance(outcome, GatewayResponse):
            return outcome
        if outcome.function_error:
            return BAD_GATEWAY
        try:
            return response(outcome.payload, req)
        except MalformedResult:
            return BAD_GATEWAY

    async def _authorize(
        self, api: RestApi, stage: RestStage, deployment: RestDeployment, method: RestMethod, req: RestRequest
    ) -> tuple[dict[str, Any], str | None] | GatewayResponse:
        """The method's Lambda authorizer's grant (`requestContext.authorizer`, and the API key it
        names), or API Gateway's answer."""
        found = next((a for a in deployment.authorizers if a.authorizer_id == method.authorizer_id), None)
        if found is None:
            return rest_authorizer.FAILED
        values = rest_authorizer.identity(req, found)
        if values is None:
            return rest_authorizer.UNAUTHORIZED
        arn = route_arn(api.region, api.account, api.api_id, stage.name, req.method, req.path)
        key = (api.api_id, stage.name, found, tuple(values))
        cached = self._grants.get(key) if found.ttl > 0 else None
        if cached is not None and cached[0] > self._clock.monotonic():
            grant = cached[1]
        else:
            target = lambda_target(with_stage_variables(found.authorizer_uri, stage.variables))
            if target is None:
                return rest_authorizer.FAILED
            source = source_arn(api.region, api.account, api.api_id, f"authorizers/{found.authorizer_id}")
            outcome = await self._run(
                api, target, rest_authorizer.event(req, found, arn, values), _AUTHORIZER_TIMEOUT, source
            )
            if isinstance(outcome, GatewayResponse):
                return rest_authorizer.FAILED
            read = rest_authorizer.read(outcome.payload, outcome.function_error)
            if isinstance(read, GatewayResponse):
                return read
            grant = read
            if found.ttl > 0:
                if len(self._grants) > 100_000:
                    self._grants.clear()
                self._grants[key] = (self._clock.monotonic() + found.ttl, grant)
        judged = grant.judge(arn)
        return judged if isinstance(judged, GatewayResponse) else (judged, grant.usage_key)

    async def _run(
        self, api: RestApi, target: str, body: object, timeout: float, source: str
    ) -> Invoked | GatewayResponse:
        outcome = await self._runner.run(api.region, api.account, target, body, timeout, source)
        if outcome is Failed.TIMED_OUT:
            return TIMED_OUT
        if outcome is Failed.REFUSED:
            return INTERNAL
        return outcome


def _select(
    deployment: RestDeployment, method: str, path: str
) -> tuple[RestResource, RestMethod, dict[str, str]] | None:
    """The deployed resource and method a request selects, with its path parameters."""
    by_key = {f"{name} {r.path}": (r, m) for r in deployment.resources for name, m in r.methods.items()}
    match = match_route(by_key, method, path)
    if match is None:
        return None
    resource, chosen = by_key[match.route_key]
    return resource, chosen, match.path_parameters


def _mock(integration: RestIntegration) -> GatewayResponse:
    """A MOCK integration's answer: the status its request template names (200 by default), with
    the static headers (`'value'`) and the body template of that status's integration response."""
    template = integration.request_templates.get("application/json", "")
    status = 200
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        status = int(json.loads(template).get("statusCode", 200))
    chosen = integration.responses.get(str(status)) or {}
    headers = [("Content-Type", "application/json")]
    for name, value in (chosen.get("responseParameters") or {}).items():
        if name.startswith("method.response.header.") and len(value) >= 2 and value[0] == value[-1] == "'":
            headers.append((name.removeprefix("method.response.header."), value[1:-1]))
    body = (chosen.get("responseTemplates") or {}).get("application/json") or ""
    return GatewayResponse(status if 200 <= status <= 599 else 500, headers, body.encode())
