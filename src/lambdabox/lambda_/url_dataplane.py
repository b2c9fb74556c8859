"""The data plane of function URLs: an HTTP request to a URL becomes the function's event, the
function's answer the HTTP response, with Lambda's own answers when something fails.

Requests reach a URL by host (`<url-id>.lambda-url.<region>.localhost[:port]`) or by the path form
(`/_urls/<url-id>/…`, the rest being the function's path). In order, as Lambda does:
- an unknown url-id (or one of another region) is 403 `{"Message":"Forbidden"}`;
- with CORS configured, a preflight (OPTIONS with Origin and Access-Control-Request-Method) is
  answered by the URL itself (`gateway/cors.py`), and the CORS headers are set on answers;
- AuthType AWS_IAM: the request must be SigV4-signed for `lambda` with a key the server knows
  (`gateway/iam_auth.py`), else 403 with the reason;
- with `--enforce-resource-policies` the function's policy must allow the caller
  `lambda:InvokeFunctionUrl` (condition key `lambda:FunctionUrlAuthType`) and, since October
  2025, `lambda:InvokeFunction` (condition key `lambda:InvokedViaFunctionUrl`); for AuthType NONE
  only statements for `*` match; an AWS_IAM caller of the function's own account is governed by
  its identity policies (not evaluated here) and let through;
- a body over 6 MB is 413, a throttled invoke 429, a function error, a timeout or a malformed
  response 502 `{"Message":"Internal Server Error"}`.
A function's response is read as HTTP API's format 2.0 (`gateway/proxy.response_v2`); with
InvokeMode RESPONSE_STREAM a streamed one is sent as the function writes it (`url_streaming.py`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from multidict import CIMultiDict

from lambdabox.aws import ids
from lambdabox.aws.arns import function_arn
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
from lambdabox.clock import Clock
from lambdabox.gateway import cors
from lambdabox.gateway.dataplane import forwarded
from lambdabox.gateway.iam_auth import IamAuthorizer
from lambdabox.gateway.proxy import GatewayResponse, MalformedResult, read_v2
from lambdabox.http_messages import BodyTooLarge, Request, RequestAborted, Response, StreamingResponse
from lambdabox.lambda_ import url_streaming
from lambdabox.lambda_.invoke_stream import Streamed
from lambdabox.lambda_.resource_access import FunctionUrlCaller, InvokeSource
from lambdabox.lambda_.url_event import UrlRequest, url_event
from lambdabox.lambda_.url_index import FunctionUrls
from lambdabox.lambda_.url_store import UrlConfig
from lambdabox.lambda_.url_streaming import StreamedHttp

log = logging.getLogger(__name__)

#: Lambda's limit of a synchronous request's payload
MAX_BODY = 6 * 1024 * 1024
_HOST = re.compile(
    r"(?P<id>[a-z0-9]{32})\.lambda-url\.(?P<region>[a-z0-9-]+)\.localhost\.?(?::\d+)?", re.I | re.A
)
_PATH_FORM = re.compile(r"/_urls/(?P<id>[^/?]*)(?P<rest>/.*|)", re.A)


class UrlTarget(Protocol):
    """What the data plane needs of Lambda (the LambdaService)."""

    def authorize_service(self, function_arn: str, source: InvokeSource) -> None: ...

    def invoke_event(
        self, ctx: RequestContext, function_name: str, event: bytes
    ) -> Coroutine[Any, Any, dict[str, Any]]: ...

    def invoke_streamed(
        self, ctx: RequestContext, function_name: str, event: bytes
    ) -> Coroutine[Any, Any, Streamed]: ...


@dataclass(frozen=True)
class Addressed:
    """A request addressed to a function URL: its url-id, the region the host names (None for
    the path form) and the path after the URL's part, percent-encoded."""

    url_id: str
    region: str | None
    raw_rest: str


def addressed(request: Request) -> Addressed | None:
    """Whether (and how) the request is for a function URL: by host first, then the path form."""
    raw_path = request.raw_path.split("?", 1)[0]
    m = _HOST.fullmatch(request.headers.get("Host", ""))
    if m is not None:
        return Addressed(m.group("id").lower(), m.group("region").lower(), raw_path or "/")
    p = _PATH_FORM.fullmatch(raw_path)
    if p is not None:
        return Addressed(p.group("id"), None, p.group("rest") or "/")
    return None


def _message(status: int, message: str, request_id: str) -> Response:
    resp = _error(status, message)
    return Response(
        resp.status, {"Content-Type": "application/json", "x-amzn-RequestId": request_id}, resp.body
    )


def _http(resp: GatewayResponse | StreamedHttp, request_id: str) -> Response | StreamingResponse:
    headers: CIMultiDict[str] = CIMultiDict(resp.headers)
    headers["x-amzn-RequestId"] = request_id
    if isinstance(resp, StreamedHttp):
        return StreamingResponse(resp.status, headers, resp.body)
    return Response(resp.status, headers, resp.body)


def _forbidden(request_id: str) -> Response:
    return _message(403, "Forbidden", request_id)


class UrlDataPlane:
    """Serves function URLs through Lambda."""

    def __init__(
        self, urls: FunctionUrls, lambda_: UrlTarget, clock: Clock, iam: IamAuthorizer, *, enforce: bool
    ) -> None:
        self._urls = urls
        self._lambda = lambda_
        self._clock = clock
        self._iam = iam
        self._enforce = enforce

    def route(self, request: Request) -> Awaitable[Response | StreamingResponse] | None:
        """The answer to a request addressed to a function URL (the edge's `DataPlane`), else None."""
        where = addressed(request)
        return None if where is None else self._guarded(request, where)

    async def _guarded(self, request: Request, where: Addressed) -> Response | StreamingResponse:
        try:
            return await self.handle(request, where)
        except RequestAborted:
            raise
        except Exception:  # a bug: Lambda's 500, never a traceback
            log.exception("function URL %s: internal error", where.url_id)
            return _message(500, "Internal Server Error", ids.request_id())

    async def handle(self, request: Request, where: Addressed) -> Response | StreamingResponse:
        request_id = ids.request_id()
        cfg = self._urls.by_id(where.url_id)
        if cfg is None or (where.region is not None and where.region != cfg.region):
            return _forbidden(request_id)
        headers = list(request.headers.items())
        if cfg.cors is not None and cors.is_preflight(request.method, headers):
            return _http(cors.preflight(cfg.cors, headers), request_id)
        try:
            body = await request.read(MAX_BODY)
        except BodyTooLarge:
            return _message(413, "Request Entity Too Large", request_id)
        iam: dict[str, Any] | None = None
        if cfg.auth_type == "AWS_IAM":
            verdict = await self._iam.check(
                request.method, request.raw_path, request.headers, body, cfg.region, service="lambda"
            )
            if isinstance(verdict, GatewayResponse):
                return _message(403, _reason(verdict), request_id)
            iam = verdict
        arn = function_arn(cfg.region, cfg.account, cfg.function, cfg.qualifier or None)
        if not self._allowed(cfg, arn, iam):
            return _forbidden(request_id)
        answer = await self._invoke(cfg, arn, request, where, body, iam, request_id)
        if cfg.cors is not None:
            if isinstance(answer, StreamedHttp):
                decorated = cors.decorate(
                    cfg.cors, headers, GatewayResponse(answer.status, answer.headers, b"")
                )
                answer = StreamedHttp(answer.status, decorated.headers, answer.body)
            else:
                answer = cors.decorate(cfg.cors, headers, answer)
        return _http(answer, request_id)

    def _allowed(self, cfg: UrlConfig, arn: str, iam: dict[str, Any] | None) -> bool:
        """Whether the function's policy lets the caller in (always, unless policies are enforced)."""
        if not self._enforce:
            return True
        if iam is not None and iam["accountId"] == cfg.account:
            return True  # the function's own account: its identity policies decide (not evaluated)
        caller = iam["userArn"] if iam is not None else None
        try:
            for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction"):
                self._lambda.authorize_service(arn, FunctionUrlCaller(cfg.auth_type, caller, action))
        except ServiceError:
            return False
        return True

    async def _invoke(
        self,
        cfg: UrlConfig,
        arn: str,
        request: Request,
        where: Addressed,
        body: bytes,
        iam: dict[str, Any] | None,
        request_id: str,
    ) -> GatewayResponse | StreamedHttp:
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        source_ip = str(peer[0]) if isinstance(peer, tuple) else "127.0.0.1"
        sock = transport.get_extra_info("sockname") if transport is not None else None
        port = str(sock[1]) if isinstance(sock, tuple) else "80"
        now = self._clock.now()
        event = url_event(
            UrlRequest(
                method=request.method,
                raw_path=where.raw_rest,
                raw_query=request.query_string,
                headers=forwarded(list(request.headers.items()), source_ip, port, now),
                body=body,
                source_ip=source_ip,
                url_id=cfg.url_id,
                region=cfg.region,
                account_id=cfg.account,
                request_id=request_id,
                time_epoch_ms=int(now * 1000),
                iam=iam,
            )
        )
        ctx = RequestContext(request_id, cfg.region, cfg.account, "lambda", "Invoke")
        payload = json.dumps(event).encode()
        try:
            if cfg.invoke_mode == "RESPONSE_STREAM":
                return await url_streaming.answer(await self._lambda.invoke_streamed(ctx, arn, payload))
            out = await self._lambda.invoke_event(ctx, arn, payload)
        except ServiceError as exc:
            if exc.code == "TooManyRequestsException":
                return _error(429, "Too Many Requests")
            if exc.code == "RequestTooLargeException":
                return _error(413, "Request Entity Too Large")
            log.info("function URL %s: invoke refused: %s %s", cfg.url_id, exc.code, exc.message)
            return _error(502, "Internal Server Error")
        if "FunctionError" in out:
            return _error(502, "Internal Server Error")
        try:
            return read_v2(bytes(out["Payload"]))
        except MalformedResult:  # a response Lambda cannot read
            return _error(502, "Internal Server Error")


def _error(status: int, message: str) -> GatewayResponse:
    body = json.dumps({"Message": message}, separators=(",", ":")).encode()
    return GatewayResponse(status, [("Content-Type", "application/json")], body)


def _reason(refusal: GatewayResponse) -> str:
    """The message of an IAM refusal (API Gateway's shape, {"message": …})."""
    try:
        return str(json.loads(refusal.body)["message"])
    except (ValueError, KeyError, TypeError):
        return "Forbidden"
