"""The data plane of HTTP APIs: an HTTP request for an API becomes a Lambda proxy event, the
function's answer becomes the HTTP response, with API Gateway's answers when something fails.

Requests reach an API by host (`<api-id>.execute-api.localhost:<port>`) or by the path form
`/_apis/<api-id>/<stage>/<path>` for clients that cannot resolve subdomains. The first path
segment names a stage when the API has one of that name; otherwise the `$default` stage (if any)
serves the whole path. A stage serves the routes and integrations of its deployment.

API Gateway's answers for HTTP APIs (https://docs.aws.amazon.com/apigateway/latest/developerguide/
http-api-troubleshooting-lambda.html and http-api-develop-integrations-lambda.html): no API, stage
or route → 404 `{"message":"Not Found"}`; a body over 10 MB → 413 `{"message":"Request Entity Too
Large"}`; an invoke that fails, a function error or a malformed response → 500 `{"message":"Internal
Server Error"}`; no answer within the integration's timeout (30 s at most) → 503
`{"message":"Service Unavailable"}` (the invocation itself runs on, as on AWS).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from multidict import CIMultiDict

from lambdabox.aws import ids
from lambdabox.clock import Clock
from lambdabox.gateway import authorizer, cors, throttle
from lambdabox.gateway.lambda_run import Failed, Invoked, LambdaRunner, source_arn
from lambdabox.gateway.models import DEFAULT_STAGE, Authorizer, HttpApi, Route, Stage
from lambdabox.gateway.proxy import (
    GatewayRequest,
    GatewayResponse,
    error_response,
    event_v1,
    event_v2,
    response_v1,
    response_v2,
)
from lambdabox.gateway.route_auth import Grant, RouteAuth
from lambdabox.gateway.routing import match_route
from lambdabox.gateway.v2_api import ApiLookup, lambda_target, with_stage_variables
from lambdabox.http_messages import BodyTooLarge, Request, RequestAborted, Response

log = logging.getLogger(__name__)

#: HTTP APIs' payload quota
MAX_BODY = 10 * 1024 * 1024
#: how long API Gateway waits for a Lambda authorizer
_AUTHORIZER_TIMEOUT = 10.0
_HOST = re.compile(r"(?P<id>[a-z0-9]{10})\.execute-api(?:\.[a-z0-9-]+)?\.localhost\.?(?::\d+)?", re.I | re.A)
_PATH_FORM = re.compile(r"/_apis/(?P<id>[a-z0-9]{10})(?P<rest>/.*|)", re.A)


@dataclass(frozen=True)
class Addressed:
    """An HTTP request addressed to an API: its id, and its target after the API's part."""

    api_id: str
    raw_rest: str  # the request target's path after the API's part, percent-encoded, "/…"
    domain_name: str


def addressed(request: Request) -> Addressed | None:
    """Whether (and how) the request is for an HTTP API, by host first, then by the path form."""
    host = request.headers.get("Host", "")
    raw_path = request.raw_path.split("?", 1)[0]
    m = _HOST.fullmatch(host)
    if m is not None:
        api_id = m.group("id").lower()
        return Addressed(api_id, raw_path or "/", f"{api_id}.execute-api.localhost")
    p = _PATH_FORM.fullmatch(raw_path)
    if p is not None:  # the event names the API's own domain, as if it had been called by host
        api_id = p.group("id")
        return Addressed(api_id, p.group("rest") or "/", f"{api_id}.execute-api.localhost")
    return None


def _http(resp: GatewayResponse, request_id: str) -> Response:
    headers: CIMultiDict[str] = CIMultiDict(resp.headers)
    headers["Apigw-Requestid"] = request_id
    return Response(resp.status, headers, resp.body)


class HttpApiDataPlane:
    """Serves the HTTP APIs of the control plane through Lambda."""

    def __init__(
        self,
        apis: ApiLookup,
        runner: LambdaRunner,
        clock: Clock,
        route_auth: RouteAuth | None = None,
    ) -> None:
        self._apis = apis
        self._route_auth = route_auth or RouteAuth(clock, None)  # JWT and AWS_IAM routes
        self._runner = runner
        self._clock = clock
        self._throttle = throttle.Throttle(clock)
        #: cached authorizer answers: (api, stage, authorizer, identity) -> (expiry, answer)
        self._verdicts: dict[
            tuple[str, str, Authorizer, tuple[str, ...]], tuple[float, authorizer.Answer]
        ] = {}

    def route(self, request: Request) -> Awaitable[Response] | None:
        """The answer to a request addressed to an HTTP API (the edge's `DataPlane`), else None."""
        where = addressed(request)
        return None if where is None else self._guarded(request, where)

    async def _guarded(self, request: Request, where: Addressed) -> Response:
        try:
            return await self.handle(request, where)
        except RequestAborted:  # the server answers (or not) as the case requires
            raise
        except Exception:  # a bug: API Gateway's 500, never a traceback
            log.exception("HTTP API %s: internal error", where.api_id)
            return _http(error_response(500, "Internal Server Error"), ids.hex_id()[:16])

    async def handle(self, request: Request, where: Addressed) -> Response:
        request_id = ids.hex_id()[:16]
        api = self._apis(where.api_id)
        if api is None:
            return _http(error_response(404, "Not Found"), request_id)
        if api.disable_execute_api_endpoint:  # its default endpoint turned off: AWS answers 403
            return _http(error_response(403, "Forbidden"), request_id)
        stage_name, raw_path = _stage_of(api, where.raw_rest)
        stage = api.stages.get(stage_name) if stage_name is not None else None
        deployment = api.deployments.get(stage.deployment_id or "") if stage is not None else None
        if stage is None or deployment is None:
            return _http(error_response(404, "Not Found"), request_id)
        path = _decoded(raw_path)
        if api.cors is not None and cors.is_preflight(request.method, request.headers.items()):
            return _http(cors.preflight(api.cors, request.headers.items()), request_id)
        match = match_route([r.route_key for r in deployment.routes], request.method, path or "/")
        if match is None:
            return _http(error_response(404, "Not Found"), request_id)
        route = next(r for r in deployment.routes if r.route_key == match.route_key)
        limit = throttle.limits(stage.default_route_settings, stage.route_settings.get(route.route_key))
        if limit is not None and not self._throttle.admit((api.api_id, stage.name, route.route_key), *limit):
            return _http(error_response(429, "Too Many Requests"), request_id)
        integration = next(
            (i for i in deployment.integrations if route.target == f"integrations/{i.integration_id}"), None
        )
        if integration is None or integration.integration_uri is None:
            return _http(error_response(500, "Internal Server Error"), request_id)
        try:
            body = await request.read(MAX_BODY)
        except BodyTooLarge:
            return _http(error_response(413, "Request Entity Too Large"), request_id)
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        source_ip = str(peer[0]) if isinstance(peer, tuple) else "127.0.0.1"
        sock = request.transport.get_extra_info("sockname") if request.transport is not None else None
        port = str(sock[1]) if isinstance(sock, tuple) else "80"
        greq = GatewayRequest(  # the translators put a named stage's prefix back, as AWS's events have it
            method=request.method,
            raw_path=raw_path,
            path=path,
            raw_query=request.query_string,
            headers=forwarded(list(request.headers.items()), source_ip, port, self._clock.now()),
            body=body,
            source_ip=source_ip,
            api_id=api.api_id,
            account_id=api.account,
            stage=stage.name,
            domain_name=where.domain_name,
            request_id=request_id,
            time_epoch_ms=int(self._clock.now() * 1000),
            route_key=match.route_key,
            path_parameters=match.path_parameters,
            stage_variables=dict(stage.variables),
        )
        granted: dict[str, Any] | None = None
        if route.authorization_type == "CUSTOM":
            verdict = await self._authorize(api, stage, route, greq)
            if isinstance(verdict, GatewayResponse):
                return _http(verdict, request_id)
            granted = verdict
        grant: Grant | None = None
        if route.authorization_type in ("JWT", "AWS_IAM"):
            checked = await self._route_auth.check(api, route, greq, request.raw_path, request.headers)
            if isinstance(checked, GatewayResponse):
                return _http(checked, request_id)
            grant = checked
        v1 = integration.payload_format_version == "1.0"
        event = event_v1(greq) if v1 else event_v2(greq)
        if granted is not None:  # what the authorizer said, for the function
            event["requestContext"]["authorizer"] = {"lambda": granted}
        if grant is not None:
            grant.apply(event, v1)
        target = lambda_target(with_stage_variables(integration.integration_uri, stage.variables))
        if target is None:  # a stage variable made it name no function
            return _http(error_response(500, "Internal Server Error"), request_id)
        source = source_arn(
            api.region, api.account, api.api_id, _route_source(stage.name, greq.method, route)
        )
        outcome = await self._run(api, target, event, integration.timeout_ms / 1000, source)
        if isinstance(outcome, GatewayResponse):
            return _http(outcome, request_id)
        if outcome.function_error:
            return _http(error_response(500, "Internal Server Error"), request_id)
        answer = response_v1(outcome.payload) if v1 else response_v2(outcome.payload)
        if api.cors is not None:
            answer = cors.decorate(api.cors, request.headers.items(), answer)
        return _http(answer, request_id)

    async def _run(
        self, api: HttpApi, target: str, event: object, timeout: float, source: str
    ) -> Invoked | GatewayResponse:
        outcome = await self._runner.run(api.region, api.account, target, event, timeout, source)
        if outcome is Failed.TIMED_OUT:
            return error_response(503, "Service Unavailable")
        if outcome is Failed.REFUSED:
            return error_response(500, "Internal Server Error")
        return outcome

    async def _authorize(
        self, api: HttpApi, stage: Stage, route: Route, greq: GatewayRequest
    ) -> dict[str, Any] | GatewayResponse:
        """The route's Lambda authorizer's verdict: the context it grants, or API Gateway's answer
        (401 without the identity sources, 403 refused, 500 when the authorizer fails)."""
        found = api.authorizers.get(route.authorizer_id or "")
        if found is None:
            return error_response(500, "Internal Server Error")
        values = authorizer.identity(greq, found.identity_source)
        if values is None:
            return error_response(401, "Unauthorized")
        arn = authorizer.route_arn(
            api.region, api.account, api.api_id, stage.name, greq.method, greq.path or "/"
        )
        # answers are cached per stage and authorizer (as configured now) and identity; a cached
        # policy is judged again against each request's own route
        key = (api.api_id, stage.name, found, tuple(values))
        cached = self._verdicts.get(key) if found.ttl > 0 and values else None
        if cached is not None and cached[0] > self._clock.monotonic():
            answer = cached[1]
        else:
            target = lambda_target(with_stage_variables(found.authorizer_uri, stage.variables))
            if target is None:
                return error_response(500, "Internal Server Error")
            event = authorizer.request_event(greq, arn, values, found.payload_format_version)
            source = source_arn(api.region, api.account, api.api_id, f"authorizers/{found.authorizer_id}")
            outcome = await self._run(api, target, event, _AUTHORIZER_TIMEOUT, source)
            if isinstance(outcome, GatewayResponse) or outcome.function_error:
                return error_response(500, "Internal Server Error")
            try:
                answer = authorizer.read_answer(outcome.payload, found.simple_responses)
            except authorizer.Malformed:
                return error_response(500, "Internal Server Error")
            if found.ttl > 0 and values:
                if len(self._verdicts) > 100_000:
                    self._verdicts.clear()
                self._verdicts[key] = (self._clock.monotonic() + found.ttl, answer)
        allowed, context = answer.allows(arn), answer.context
        if not allowed:
            return error_response(403, "Forbidden")
        return context


def forwarded(headers: list[tuple[str, str]], source_ip: str, port: str, now: float) -> list[tuple[str, str]]:
    """The headers API Gateway adds: the client's address appended to X-Forwarded-For, the port
    and scheme it was called on, and a trace id when the caller sent none."""
    own = {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"}
    chain = [v for n, v in headers if n.lower() == "x-forwarded-for"]
    out = [(n, v) for n, v in headers if n.lower() not in own]
    out.append(("X-Forwarded-For", ", ".join([*chain, source_ip])))
    out.append(("X-Forwarded-Port", port))
    out.append(("X-Forwarded-Proto", "http"))
    if not any(n.lower() == "x-amzn-trace-id" for n, _ in headers):
        out.append(("X-Amzn-Trace-Id", ids.trace_id(now).split(";", 1)[0]))
    return out


def _route_source(stage: str, method: str, route: Route) -> str:
    """The route's part of the source ARN a function is invoked with: `stage/METHOD/path` (the
    route's path as defined, `/pets/{id}`; the request's method), `stage/$default` for `$default`."""
    if route.route_key == "$default":
        return f"{stage}/$default"
    return f"{stage}/{method}{route.route_key.split(' ', 1)[-1]}"


def _stage_of(api: HttpApi, raw_rest: str) -> tuple[str | None, str]:
    """(stage name, the path after it): a first segment naming a stage, else `$default`."""
    first, slash, rest = raw_rest[1:].partition("/")
    name = _decoded(first)
    if name and name != DEFAULT_STAGE and name in api.stages:
        return name, slash + rest  # "" for the stage itself: its events' path is "/<stage>"
    if DEFAULT_STAGE in api.stages:
        return DEFAULT_STAGE, raw_rest or "/"
    return None, raw_rest


def _decoded(raw: str) -> str:
    return unquote(raw) if "%" in raw else raw
