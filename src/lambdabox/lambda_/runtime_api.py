"""The Lambda Runtime API (2018-06-01) over HTTP, one loopback listener per environment.

Every environment gets its own port, so a request's local port says which environment is calling
(as on AWS, where each environment has its own endpoint). The HTTP side is aiohttp's low-level
server; what each call means is decided by the environment behind the port (`RuntimeEndpoint`).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from lambdabox.httpio import read_limited

PREFIX = "/2018-06-01/runtime/"
#: AWS's synchronous response limit, and the largest error body accepted from a runtime
MAX_RESPONSE = 6_291_556


@dataclass(frozen=True)
class NextEvent:
    """What GET /invocation/next returns."""

    body: bytes
    headers: dict[str, str]


class RuntimeApiError(Exception):
    """A Runtime API refusal: HTTP status plus AWS's {errorMessage, errorType} body."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


class RuntimeEndpoint(Protocol):
    """The environment side of the Runtime API."""

    async def next_invocation(self) -> NextEvent: ...
    def post_response(self, request_id: str, body: bytes, too_large: bool) -> None: ...
    def post_error(self, request_id: str, error_type: str | None, body: bytes) -> None: ...
    def post_init_error(self, error_type: str | None, body: bytes) -> None: ...


def _json_error(status: int, error_type: str, message: str) -> web.Response:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return web.Response(status=status, body=body, content_type="application/json")


_ACCEPTED = b'{"status":"OK"}\n'


class RuntimeApiServer:
    """Hosts the Runtime API listeners of all environments of one server."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._endpoints: dict[int, RuntimeEndpoint] = {}
        self._server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(self._server, handle_signals=False, shutdown_timeout=0.1)
        self._started = False

    async def start(self) -> None:
        await self._runner.setup()
        self._started = True

    async def close(self) -> None:
        if self._started:
            await self._runner.cleanup()
            self._started = False

    async def listen(self, endpoint: RuntimeEndpoint) -> tuple[str, Callable[[], Awaitable[None]]]:
        """Open a listener for one environment; returns ("host:port", close)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._endpoints[port] = endpoint

        async def close() -> None:
            self._endpoints.pop(port, None)
            await site.stop()

        return f"{self.host}:{port}", close

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        transport = request.transport
        port = transport.get_extra_info("sockname")[1] if transport is not None else None
        ep = self._endpoints.get(port) if port is not None else None
        path = request.path
        if ep is None or not path.startswith(PREFIX):
            return _json_error(404, "NotFound", "not found")
        rest = path[len(PREFIX) :]
        try:
            if rest == "invocation/next":
                if request.method != "GET":
                    return _json_error(405, "MethodNotAllowed", "method not allowed")
                ev = await ep.next_invocation()
                return web.Response(status=200, body=ev.body, headers=ev.headers)
            if request.method != "POST":
                return _json_error(405, "MethodNotAllowed", "method not allowed")
            if rest == "init/error":
                body, _ = await read_limited(request, MAX_RESPONSE)
                ep.post_init_error(request.headers.get("Lambda-Runtime-Function-Error-Type"), body)
                return web.Response(status=202, body=_ACCEPTED, content_type="application/json")
            if rest.startswith("invocation/"):
                request_id, _, action = rest[len("invocation/") :].rpartition("/")
                if action == "response":
                    body, too_large = await read_limited(request, MAX_RESPONSE)
                    ep.post_response(request_id, body, too_large)
                    if too_large:
                        return _json_error(
                            413,
                            "RequestEntityTooLarge",
                            f"Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).",
                        )
                    return web.Response(status=202, body=_ACCEPTED, content_type="application/json")
                if action == "error":
                    body, _ = await read_limited(request, MAX_RESPONSE)
                    ep.post_error(request_id, request.headers.get("Lambda-Runtime-Function-Error-Type"), body)
                    return web.Response(status=202, body=_ACCEPTED, content_type="application/json")
            return _json_error(404, "NotFound", "not found")
        except RuntimeApiError as exc:
            return _json_error(exc.status, exc.error_type, exc.message)
