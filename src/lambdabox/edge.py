"""The HTTP entry on the one public port: which service, which operation, errors mapped once.

A request is routed the way AWS endpoints tell services apart: `X-Amz-Target` (json protocol),
the SigV4 credential scope's service name, and finally the REST path templates of each service.
The protocol layer turns it into `(operation, params)`; the service method named after the
operation runs; its result or `ServiceError` is serialized by the same protocol. Anything else
raised is a bug: it is logged with the request id and answered as AWS's ServiceException (500).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from lambdabox import __version__
from lambdabox.aws import ids
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import InternalError, ServiceError, client_error
from lambdabox.aws.protocol import ServiceProtocol, WireRequest, WireResponse

log = logging.getLogger(__name__)

#: the largest request body accepted (CreateFunction with a 50 MB zip, base64-encoded)
MAX_BODY = 69_905_067
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request")


@dataclass(frozen=True)
class Service:
    """One AWS service served at the edge: its wire protocol and the object holding its operations."""

    name: str
    protocol: ServiceProtocol
    api: object


class Edge:
    """Routes AWS API requests to services; serves lambdabox's own /_lambdabox/ endpoints."""

    def __init__(
        self,
        services: list[Service],
        *,
        region: str,
        account_id: str,
        code_dir: Path,
        stats: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self._services = services
        self._by_signing: dict[str, Service] = {}
        self._by_target: dict[str, Service] = {}
        for svc in services:
            self._by_signing[svc.protocol.signing_name] = svc
            self._by_signing[svc.protocol.endpoint_prefix] = svc
            if svc.protocol.target_prefix:
                self._by_target[svc.protocol.target_prefix] = svc
        self._region = region
        self._account = account_id
        self._code_dir = code_dir
        self._stats = stats

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path.startswith("/_lambdabox/"):
            return await self._internal(request)
        request_id = ids.request_id()
        headers = request.headers
        svc, region = self._route(headers)
        body, too_large = await read_limited(request, MAX_BODY)
        wire = WireRequest(
            method=request.method,
            path=request.raw_path.split("?", 1)[0],
            query=parse_qs(request.query_string, keep_blank_values=True),
            headers=headers,
            body=body,
        )
        if svc is None:
            svc = self._match_rest(wire)
        if svc is None:
            return _plain_not_found(request_id)
        operation: str | None = None
        try:
            if too_large:
                raise client_error(
                    "RequestEntityTooLargeException",
                    f"Request must be smaller than {MAX_BODY} bytes for the operation",
                    413,
                )
            operation, params = svc.protocol.parse(wire)
            ctx = RequestContext(
                request_id=request_id,
                region=region or self._region,
                account_id=self._account,
                service=svc.name,
                operation=operation,
            )
            method = getattr(svc.api, operation, None)
            if method is None:
                raise client_error(
                    "InvalidAction" if svc.protocol.protocol == "query" else "UnknownOperationException",
                    f"lambdabox does not implement {svc.name} {operation} yet",
                    501,
                )
            result = await method(ctx, params)
            return _to_aiohttp(svc.protocol.serialize(operation, result, request_id))
        except ServiceError as err:
            return _to_aiohttp(svc.protocol.serialize_error(err, request_id, operation))
        except Exception:
            log.exception("internal error in %s %s (request id %s)", svc.name, operation, request_id)
            internal = InternalError("An internal error occurred. Request id: " + request_id)
            return _to_aiohttp(svc.protocol.serialize_error(internal, request_id, operation))

    def _route(self, headers: Mapping[str, str]) -> tuple[Service | None, str | None]:
        m = _SCOPE.search(headers.get("Authorization", ""))
        region = m.group("region") if m else None
        target = headers.get("X-Amz-Target")
        if target:
            svc = self._by_target.get(target.split(".", 1)[0])
            if svc is not None:
                return svc, region
        if m:
            return self._by_signing.get(m.group("service")), region
        return None, region

    def _match_rest(self, wire: WireRequest) -> Service | None:
        for svc in self._services:
            if svc.protocol.protocol == "rest-json" and svc.protocol.match(wire) is not None:
                return svc
        return None

    async def _internal(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path == "/_lambdabox/health":
            body: dict[str, Any] = {
                "status": "running",
                "version": __version__,
                "services": {s.name: "running" for s in self._services},
            }
            if self._stats is not None:
                body.update(self._stats())
            return web.json_response(body)
        m = re.fullmatch(r"/_lambdabox/code/([0-9a-f]{64})\.zip", path)
        if m and request.method == "GET":
            f = self._code_dir / f"{m.group(1)}.zip"
            if f.is_file():
                return web.Response(body=f.read_bytes(), content_type="application/zip")
        return web.json_response({"message": "not found"}, status=404)


async def read_limited(request: web.BaseRequest, limit: int) -> tuple[bytes, bool]:
    """Read the body up to `limit` bytes; (b"", True) if it was larger (the rest is read and dropped)."""
    length = request.content_length
    if length is not None and length <= limit:
        return (await request.content.readexactly(length) if length else b""), False
    chunks: list[bytes] = []
    size = 0
    too_large = False
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            too_large = True
            chunks.clear()
            continue
        chunks.append(chunk)
    return (b"" if too_large else b"".join(chunks)), too_large


def _to_aiohttp(resp: WireResponse) -> web.Response:
    return web.Response(status=resp.status, headers=resp.headers, body=resp.body)


def _plain_not_found(request_id: str) -> web.Response:
    body: dict[str, Any] = {"message": "Not Found", "Type": "User"}
    return web.Response(
        status=404,
        body=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": "UnknownOperationException",
        },
    )
