"""The HTTP entry on the one public port: which service, which operation, errors mapped once.

A request is routed the way AWS endpoints tell services apart: `X-Amz-Target` (json protocol),
the SigV4 credential scope's service name, the REST path templates of each service, and last
the query protocol's `Action` and `Version` (unsigned query calls such as STS's
AssumeRoleWithWebIdentity name no service otherwise). The caller is parsed once (`sigv4`) and
handed on in the `RequestContext`.
Before the request is parsed its credentials are checked (`verify.Authenticator`: always the
session and expiry of STS's keys, the signature itself with `--verify-signatures`); the account
is the key's, the configured one for unsigned requests and keys nobody issued.
Once a request's headers are in, its service and operation are known (but for query calls that
name their Action in the body) and the service's `limits` say how large its body may be: a larger
one is refused with the service's own error (Lambda's RequestEntityTooLargeException, 413) before
it is read (`aws.limits`). HTTP itself, and bad clients, are `http_server`'s.
The protocol layer turns it into `(operation, params)`; the service method named after the
operation runs; its result or `ServiceError` is serialized by the same protocol. Anything else
raised is a bug: it is logged with the request id and answered as AWS's ServiceException (500).

lambdabox's own endpoints (`/_lambdabox/*`) but health refuse execution environments: the owner
uid of the connecting socket is looked up (`peers`) and asked of the injected `is_environment`;
listeners inside an environment's own network namespace use `handle_from_environment`, which
refuses them without a lookup. The AWS API itself stays open to environments, like to any client.
With `--verify-signatures` the admin endpoints (the clock, faults, metrics) also need a request
SigV4-signed with a root key of the server's own account (`--account-id`), checked by the same
`Authenticator` as the AWS API: unsigned, badly signed or other keys (another account's root key,
IAM users, STS sessions) get 403. Health stays open; code downloads carry their presigned URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from lambdabox import __version__
from lambdabox.aws import ids
from lambdabox.aws.compression import decoded_body
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import InternalError, ServiceError, client_error
from lambdabox.aws.keys import KnownKey
from lambdabox.aws.limits import Limits, default_limit
from lambdabox.aws.protocol import ServiceProtocol, WireRequest, WireResponse
from lambdabox.aws.sigv4 import Caller, parse_caller
from lambdabox.aws.verify import Authenticator, AuthFailure, SignedRequest
from lambdabox.http_messages import (
    AnyResponse,
    BodyTooLarge,
    FileResponse,
    Request,
    Response,
    StreamingResponse,
    json_response,
)
from lambdabox.lambda_.code_url import CodeUrlDenied, CodeUrls
from lambdabox.peers import PeerClosed, socket_owner_uid

log = logging.getLogger(__name__)

_HEALTH = "/_lambdabox/health"
#: signing names that are not the botocore service's name
_SIGNING_ALIASES = {"monitoring": "cloudwatch", "states": "stepfunctions", "execute-api": "apigateway"}
#: bodies larger than this are hashed and parsed in a worker thread (a 70 MB CreateFunction's
#: base64 and JSON take the event loop for most of a second otherwise)
_LARGE_BODY = 256 * 1024
_CODE = re.compile(r"/_lambdabox/code/([0-9a-f]{64})\.zip")
_CODE_URL_PARAMS = ("X-Amz-Algorithm", "X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature")
REFUSED_MESSAGE = "lambdabox's internal endpoints are not reachable from execution environments"
ADMIN_SIGNED_MESSAGE = (
    "with --verify-signatures, lambdabox's admin endpoints need a request SigV4-signed with a root key "
    "of the server's account"
)
#: the largest body an admin endpoint is sent (read whole to check its signature)
ADMIN_BODY_LIMIT = 64 * 1024


def _no_environments(uid: int) -> bool:
    return False


async def _no_keys(access_key_id: str) -> KnownKey | None:
    return None


#: a data plane (an API's endpoint, a function URL): the answer to a request addressed to it, None
#: for other requests (routed by host first, before the AWS APIs)
DataPlane = Callable[[Request], Awaitable[Response | StreamingResponse] | None]
#: one of lambdabox's own endpoints, `/_lambdabox/<name>[/...]` (the clock, faults, metrics): the
#: answer to any request under its name (it checks the method and the rest of the path itself)
AdminEndpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Service:
    """One AWS service served at the edge: its wire protocol, the object holding its operations and
    the body limits of its requests."""

    name: str
    protocol: ServiceProtocol
    api: object
    limits: Limits = default_limit
    #: the code of its 500 for a bug on our side (the service's model's, e.g. SNS's InternalError)
    internal_error_code: str = "ServiceException"


class Edge:
    """Routes AWS API requests to services; serves lambdabox's own /_lambdabox/ endpoints."""

    def __init__(
        self,
        services: list[Service],
        *,
        region: str,
        account_id: str,
        code_dir: Path,
        code_urls: CodeUrls,
        is_environment: Callable[[int], bool] = _no_environments,
        stats: Callable[[], dict[str, Any]] | None = None,
        authenticator: Authenticator | None = None,
        data_planes: Sequence[DataPlane] = (),
        admin: Mapping[str, AdminEndpoint] | None = None,
    ) -> None:
        """`is_environment(uid)`: whether that uid runs an execution environment (the sandbox knows);
        `authenticator`: checks each request's credentials (default: none known, none verified);
        `admin`: lambdabox's own endpoints by name (`/_lambdabox/<name>`), refused to environments."""
        self._services = services
        self._by_signing: dict[str, list[Service]] = {}
        self._by_target: dict[str, Service] = {}
        self._query = [s for s in services if "query" in s.protocol.protocols]
        self._rest = [s for s in services if s.protocol.protocol == "rest-json"]
        for svc in services:
            for name in {svc.protocol.signing_name, svc.protocol.endpoint_prefix}:
                self._by_signing.setdefault(name, []).append(svc)
            if svc.protocol.target_prefix:
                self._by_target[svc.protocol.target_prefix] = svc
        self._region = region
        self._account = account_id
        self._code_dir = code_dir
        self._code_urls = code_urls
        self._is_environment = is_environment
        self._stats = stats
        self._auth = authenticator or Authenticator(_no_keys, verify=False, now=time.time, wall=time.time)
        self._unserved: dict[str, ServiceProtocol | None] = {}
        self._data_planes = tuple(data_planes)
        self._admin = dict(admin or {})

    async def handle(self, request: Request) -> AnyResponse:
        """Serve a request from any client (the connecting socket's owner decides internal access)."""
        if (served := self._data_plane(request)) is not None:
            return await served
        if request.path.startswith("/_lambdabox/"):
            if request.path != _HEALTH and await self._from_environment(request):
                return _refused()
            return await self._internal(request)
        return await self._aws(request)

    async def handle_from_environment(self, request: Request) -> AnyResponse:
        """Serve a request known to come from an execution environment (a listener in its namespace)."""
        if (served := self._data_plane(request)) is not None:
            return await served
        if request.path.startswith("/_lambdabox/"):
            if request.path != _HEALTH:
                return _refused()
            return await self._internal(request)
        return await self._aws(request)

    def _data_plane(self, request: Request) -> Awaitable[Response | StreamingResponse] | None:
        """The answer of the data plane the request is addressed to (by host, then path), if any."""
        for plane in self._data_planes:
            if (served := plane(request)) is not None:
                return served
        return None

    async def _from_environment(self, request: Request) -> bool:
        """Whether the client's socket belongs to an environment (one closed before it is identified does)."""
        transport = request.transport
        if transport is None:  # the connection is gone
            return True
        sockname = transport.get_extra_info("sockname")
        peername = transport.get_extra_info("peername")
        if not isinstance(sockname, tuple) or not isinstance(peername, tuple):
            return False  # not TCP (a Unix socket): no environment reaches those
        local = (str(sockname[0]), int(sockname[1]))
        remote = (str(peername[0]), int(peername[1]))
        try:
            uid = await asyncio.to_thread(socket_owner_uid, local, remote)
        except PeerClosed:
            # the client closed its socket before it could be identified: it cannot read an
            # answer, but an internal endpoint could still act on its request
            return True
        return uid is not None and self._is_environment(uid)

    async def _aws(self, request: Request) -> Response | StreamingResponse:
        request_id = ids.request_id()
        headers = request.headers
        query = parse_qs(request.query_string, keep_blank_values=True)
        caller = parse_caller(headers, query)
        head = WireRequest(
            method=request.method,
            path=request.raw_path.split("?", 1)[0],
            query=query,
            headers=headers,
            body=b"",
        )
        # the service and operation as far as the headers tell (a query Action may be in the body)
        unsigned = caller.service is None
        svc = self._route(headers, caller) or self._match(head, fallback=unsigned)
        named = svc.protocol.match(head) if svc is not None else None
        limit = svc.limits(named, headers) if svc is not None else default_limit(None, headers)
        try:
            body = await request.read(limit.size)
            # signed as sent, parsed as meant (a service whose operations clients may gzip)
            decoded = decoded_body(headers, body, limit) if svc and svc.protocol.compressed_requests else body
        except (BodyTooLarge, ServiceError) as exc:
            err = limit.error(exc.size) if isinstance(exc, BodyTooLarge) else exc
            if svc is None:
                return _plain_error(request_id, err)
            return _to_response(svc.protocol.serialize_error(err, request_id, named, req=head))
        wire = WireRequest(method=head.method, path=head.path, query=query, headers=headers, body=decoded)
        if svc is None:
            svc = self._match(wire, fallback=unsigned)
        if svc is None:
            return await self._not_served(caller, wire, request_id)
        operation: str | None = None
        try:
            if named is None:
                named = svc.protocol.match(wire)
            large = (
                max(len(body), len(wire.body)) > _LARGE_BODY
            )  # hashed and parsed in a thread: the loop serves others
            digest = await asyncio.to_thread(_sha256, body) if large and caller.signed else None
            signed = SignedRequest(request.method, wire.path, _raw_query(request), headers, body, digest)
            unsigned_ok = named is not None and svc.protocol.unsigned(named)
            names = (svc.protocol.signing_name, svc.protocol.endpoint_prefix)
            key = await self._auth.authenticate(caller, signed, unsigned_ok=unsigned_ok, services=names)
            parsed = await asyncio.to_thread(svc.protocol.parse, wire) if large else svc.protocol.parse(wire)
            operation, params = parsed
            ctx = RequestContext(
                request_id=request_id,
                region=caller.region or self._region,
                account_id=key.account if key is not None else self._account,
                service=svc.name,
                operation=operation,
                caller=caller,
                trace_header=headers.get("X-Amzn-Trace-Id"),
                host=headers.get("Host"),
                principal_arn=key.principal_arn if key is not None else None,
            )
            method = getattr(svc.api, operation, None)
            if method is None:
                raise client_error(
                    "InvalidAction" if svc.protocol.protocol == "query" else "UnknownOperationException",
                    f"lambdabox does not implement {svc.name} {operation} yet",
                    501,
                )
            result = await method(ctx, params)
            return _to_response(svc.protocol.serialize(operation, result, request_id, req=wire))
        except AuthFailure as failure:
            err = failure.error(svc.protocol.protocol)
            return _to_response(svc.protocol.serialize_error(err, request_id, operation, req=wire))
        except ServiceError as err:
            return _to_response(svc.protocol.serialize_error(err, request_id, operation, req=wire))
        except Exception:
            log.exception("internal error in %s %s (request id %s)", svc.name, operation, request_id)
            internal = InternalError(
                "An internal error occurred. Request id: " + request_id, code=svc.internal_error_code
            )
            return _to_response(svc.protocol.serialize_error(internal, request_id, operation, req=wire))

    async def _not_served(
        self, caller: Caller, wire: WireRequest, request_id: str
    ) -> Response | StreamingResponse:
        """A request for an AWS service lambdabox does not serve (yet): 501, in that service's own
        protocol when botocore knows it (a CloudWatch or SQS client reads a real error), else a
        bare 404."""
        proto = await self._unserved_protocol(caller.service) if caller.service else None
        if proto is None:
            return _plain_not_found(request_id)
        name = proto.service_name
        op = proto.match(wire)
        err = client_error(
            "InvalidAction" if proto.protocol == "query" else "UnknownOperationException",
            f"lambdabox does not serve {name}{' ' + op if op else ''} yet",
            501,
        )
        return _to_response(proto.serialize_error(err, request_id, op, req=wire))

    async def _unserved_protocol(self, signing_name: str) -> ServiceProtocol | None:
        """botocore's model of the service signed for, if it has one in a protocol we speak."""
        if signing_name in self._unserved:
            return self._unserved[signing_name]
        proto: ServiceProtocol | None
        try:
            # (a worker thread: some models take a while to load)
            proto = await asyncio.to_thread(ServiceProtocol, _SIGNING_ALIASES.get(signing_name, signing_name))
        except Exception:  # no such model, or a protocol we do not speak (rest-xml, ec2)
            proto = None
        if len(self._unserved) < 64:  # (a client naming endless services is not remembered)
            self._unserved[signing_name] = proto
        return proto

    def _route(self, headers: Mapping[str, str], caller: Caller) -> Service | None:
        target = headers.get("X-Amz-Target")
        if target:
            svc = self._by_target.get(target.split(".", 1)[0])
            if svc is not None:
                return svc
        if caller.service is not None:
            # one signing name can stand for several services (apigateway: v1 and v2), told
            # apart by their REST paths then
            named = self._by_signing.get(caller.service) or []
            return named[0] if len(named) == 1 else None
        return None

    def _match(self, wire: WireRequest, *, fallback: bool = True) -> Service | None:
        """The service of an unsigned request: its REST path, else its query Action and Version;
        a query Action no service knows goes to the first query service, which answers AWS's
        InvalidAction ("Could not find operation X for version Y", 400) — unless `fallback` is off
        (a request signed for a service lambdabox does not serve gets that service's 501)."""
        for svc in self._rest:
            if svc.protocol.match(wire) is not None:
                return svc
        for svc in self._query:
            if svc.protocol.match(wire) is not None:
                return svc
        if not fallback:
            return None
        for svc in self._query:
            if svc.protocol.speaks(wire):
                return svc
        return None

    async def _internal(self, request: Request) -> AnyResponse:
        path = request.path
        if path == _HEALTH:
            body: dict[str, Any] = {
                "status": "running",
                "version": __version__,
                "services": {s.name: "running" for s in self._services},
            }
            if self._stats is not None:
                body.update(self._stats())
            return json_response(body)
        endpoint = self._admin.get(path[len("/_lambdabox/") :].split("/", 1)[0])
        if endpoint is not None:
            if self._auth.verify and (refusal := await self._admin_refusal(request)) is not None:
                return refusal
            return await endpoint(request)
        m = _CODE.fullmatch(path)
        if m and request.method == "GET":
            code_key = m.group(1)
            query = {k: v for k in _CODE_URL_PARAMS if (v := request.query.get(k)) is not None}
            try:
                self._code_urls.verify(code_key, query)
            except CodeUrlDenied as denied:
                return _s3_error(denied)
            # streamed in pieces read off the event loop (404 if it is gone)
            return FileResponse(
                self._code_dir / f"{code_key}.zip", headers={"Content-Type": "application/zip"}
            )
        return json_response({"message": "not found"}, status=404)

    async def _admin_refusal(self, request: Request) -> Response | None:
        """With `--verify-signatures`, why a request to an admin endpoint is refused (403), None
        when it is SigV4-signed (any service in its scope) with a root key of the server's account."""
        headers = request.headers
        caller = parse_caller(headers, parse_qs(request.query_string, keep_blank_values=True))
        if caller.access_key_id is None:
            return _admin_refused(caller.problem or "the request is not signed")
        try:
            body = await request.read(ADMIN_BODY_LIMIT)
        except BodyTooLarge as exc:
            return json_response({"message": f"the body is over {exc.limit} bytes"}, status=413)
        signed = SignedRequest(
            request.method, request.raw_path.split("?", 1)[0], _raw_query(request), headers, body
        )
        try:
            key = await self._auth.authenticate(caller, signed, unsigned_ok=False)
        except AuthFailure as failure:
            return _admin_refused(failure.message)
        if key is None or key.account != self._account or key.principal_arn is not None:
            return _admin_refused(f"{caller.access_key_id} is not a root key of account {self._account}")
        return None


def _admin_refused(why: str) -> Response:
    return json_response({"message": f"{ADMIN_SIGNED_MESSAGE} ({why})"}, status=403)


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _raw_query(request: Request) -> str:
    """The query string as sent (still percent-encoded)."""
    return request.raw_path.partition("?")[2]


def _refused() -> Response:
    return json_response({"message": REFUSED_MESSAGE}, status=403)


def _s3_error(denied: CodeUrlDenied) -> Response:
    """An error as S3 words it for a presigned GET: XML, with S3's code and message."""
    request_id = ids.request_id()
    elements = [
        ("Code", denied.code),
        ("Message", denied.message),
        *denied.details,
        ("RequestId", request_id),
    ]
    body = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in elements)
    return Response(
        denied.status,
        {"Content-Type": "application/xml", "x-amz-request-id": request_id},
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{body}</Error>'.encode(),
    )


def _to_response(resp: WireResponse) -> Response | StreamingResponse:
    if resp.stream is not None:
        return StreamingResponse(resp.status, resp.headers, resp.stream)
    return Response(resp.status, resp.headers, resp.body)


def _plain_error(request_id: str, err: ServiceError) -> Response:
    """An error of a request no service claims, in Lambda's JSON shape."""
    body: dict[str, Any] = {"message": err.message, "Type": err.type}
    return Response(
        err.status,
        {"Content-Type": "application/json", "x-amzn-RequestId": request_id, "x-amzn-ErrorType": err.code},
        json.dumps(body).encode(),
    )


def _plain_not_found(request_id: str) -> Response:
    return _plain_error(request_id, client_error("UnknownOperationException", "Not Found", 404))
