"""The Lambda Runtime API (2018-06-01) over HTTP, one loopback listener per environment.

Every environment gets its own listener, so the listener a request arrives on says which
environment is calling (as on AWS, where each environment has its own endpoint). What each call
means is decided by the environment behind the listener (`RuntimeEndpoint`).

The listener belongs to its environment: with the host's network, a connection is accepted only
when the kernel's socket table says the connecting socket belongs to the environment's own uid
(`owner`); anything else (another environment, a host process) is closed before a byte of it is
read. With ``--function-network none`` the listener was made inside the environment's own
network namespace (`serve`), where nothing else can reach it.

This is the hottest path in lambdabox (two of the three HTTP messages of every invoke), so it is
a small asyncio protocol around httptools' parser (llhttp) rather than a web framework: parsing
is the library's, routing four fixed paths and writing each response as one buffer is ours. The
Extensions API (and the Telemetry/Logs subscriptions) share the listener, as on AWS: requests under
`EXTENSION_PATHS` go to the endpoint's `extension_request`.

A response POSTed with `Lambda-Runtime-Function-Response-Mode: streaming` (chunked, errors in
its trailers `Lambda-Runtime-Function-Error-Type` and `-Body`) is handed on as it arrives: once
its head is in, `begin_stream` gives the invocation's `ResponseStream` (None when its caller
takes the answer whole: the body is then buffered as any other), each piece of the body is fed to
it (reading stops while its reader is behind), and `end_stream` settles the invocation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import httptools

from lambdabox import peers
from lambdabox.lambda_.response_stream import ResponseStream

log = logging.getLogger(__name__)

PREFIX = "/2018-06-01/runtime/"
#: the paths answered by `RuntimeEndpoint.extension_request`: the Extensions API, and the
#: Telemetry and Logs API subscriptions
EXTENSION_PATHS = ("/2020-01-01/extension/", "/2022-07-01/telemetry", "/2020-08-15/logs")
#: the most a request's head (request line and headers) may take, as Lambda's (Go's) server
#: allows: a longer one is refused with 431 and the connection closed, never buffered
MAX_HEAD = 1 << 20
#: what is read (and dropped) after such a refusal before the connection is dropped too
DISCARD_LIMIT = 8 << 20
#: AWS's synchronous response limit, and the largest error body accepted from a runtime
MAX_RESPONSE = 6_291_556

_REASONS = {200: b"OK", 202: b"Accepted", 400: b"Bad Request", 403: b"Forbidden", 404: b"Not Found",
            405: b"Method Not Allowed", 413: b"Request Entity Too Large",
            431: b"Request Header Fields Too Large", 500: b"Internal Server Error"}  # fmt: skip
_ACCEPTED = b'{"status":"OK"}\n'


@dataclass(frozen=True)
class NextEvent:
    """What GET /invocation/next returns."""

    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Reply:
    """An answer to an Extensions API request."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamedResponse:
    """The end of a response in streaming mode: the buffered body (when it was not handed on as
    it came), and the error its trailers reported (type and body, decoded)."""

    body: bytes
    too_large: bool
    error_type: str | None
    error_body: bytes


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
    def begin_stream(self, request_id: str, content_type: str | None) -> ResponseStream | None:
        """A streamed response starts: the stream its caller reads (None: buffer the body)."""
        ...

    def end_stream(self, request_id: str, response: StreamedResponse) -> None:
        """A streamed response ended (its body in `response` when there was no stream)."""
        ...

    def connections_changed(self, delta: int) -> None:
        """A runtime connection opened (+1) or closed (-1): all it sent was handled before -1."""
        ...

    async def extension_request(
        self, method: bytes, path: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        """An Extensions (2020-01-01), Telemetry or Logs API request (`EXTENSION_PATHS`)."""
        ...


def _response(status: int, body: bytes, headers: dict[str, str] | None = None, close: bool = False) -> bytes:
    head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown"))]
    if headers is None or "Content-Type" not in headers:
        head.append(b"Content-Type: application/json\r\n")
    if headers:
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
    head.append(b"Content-Length: %d\r\n" % len(body))
    if close:
        head.append(b"Connection: close\r\n")
    head.append(b"\r\n")
    head.append(body)
    return b"".join(head)


def _error(status: int, error_type: str, message: str, close: bool = False) -> bytes:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return _response(status, body, close=close)


#: decides whether a connecting socket's owner uid may use a listener (None: not found)
OwnerCheck = Callable[[int | None], bool]


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection from a runtime: requests are answered one at a time, in order."""

    def __init__(self, endpoint: RuntimeEndpoint, owner: OwnerCheck | None) -> None:
        self._endpoint = endpoint
        self._owner = owner
        self._counted = False
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._error_type: str | None = None
        self._error_body = b""  # a streamed response's Lambda-Runtime-Function-Error-Body trailer
        self._streaming = False  # the request is a response in streaming mode
        self._content_type: str | None = None
        self._stream: ResponseStream | None = None
        self._stream_refused: RuntimeApiError | None = None
        self._stream_paused = False
        self._headers: dict[str, str] = {}  # Lambda-Extension-* request headers, by lower-case name
        self._body: list[bytes] = []
        self._size = 0
        self._pending: asyncio.Task[None] | None = None
        self._in_head = True  # reading a request line and headers (from its first byte on)
        self._head = 0  # bytes of the current head so far
        self._since_body = 0  # bytes after the head since the last body byte (chunk framing, trailers)
        self._refused = -1  # after a 431: bytes dropped since (-1: not refused)

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        if self._owner is not None and not self._owner(_peer_uid(transport)):
            log.warning("Runtime API: refused a connection from a process outside the environment")
            self._transport = None
            cast(asyncio.Transport, transport).abort()
            return
        self._counted = True
        self._endpoint.connections_changed(+1)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return
        if self._refused >= 0:  # answered 431: what follows is dropped, then the connection
            self._refused += len(data)
            if self._refused > DISCARD_LIMIT:
                self._transport.abort()
            return
        try:
            while data and self._transport is not None and self._refused < 0:
                if not self._in_head:
                    # the body's framing and trailers (all but its bytes) are held to MAX_HEAD too
                    self._since_body += len(data)
                    self._parser.feed_data(data)
                    if self._since_body > MAX_HEAD and not self._in_head:
                        self._refuse_head()
                    break
                room = MAX_HEAD - self._head
                if room <= 0:
                    self._refuse_head()
                    break
                piece, data = data[:room], data[room:]
                self._head += len(piece)
                self._parser.feed_data(piece)
        except httptools.HttpParserUpgrade:
            self._send(
                _error(400, "BadRequest", "protocol upgrades are not supported", close=True), close=True
            )
        except httptools.HttpParserError:
            self._send(_error(400, "BadRequest", "malformed HTTP request", close=True), close=True)

    def _refuse_head(self) -> None:
        """A head over `MAX_HEAD`: 431, no more reading of it (the peer still reads the answer)."""
        transport = self._transport
        if transport is None:
            return
        message = "request header fields too large"
        transport.write(_error(431, "RequestHeaderFieldsTooLarge", message, close=True))
        self._refused = 0
        if transport.can_write_eof():
            transport.write_eof()  # closed once the peer closes, or after DISCARD_LIMIT more bytes
        else:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._pending is not None:
            self._pending.cancel()
        if self._counted:
            self._endpoint.connections_changed(-1)

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._in_head = True
        self._url = b""
        self._error_type = None
        self._error_body = b""
        self._streaming = False
        self._content_type = None
        self._stream = None
        self._stream_refused = None
        self._headers = {}
        self._body = []
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"lambda-runtime-function-error-type":
            self._error_type = value.decode("latin-1")
        elif lower == b"lambda-runtime-function-error-body":  # (a trailer of a streamed response)
            self._error_body += value
        elif lower == b"lambda-runtime-function-response-mode":
            self._streaming = value.strip().lower() == b"streaming"
        elif lower == b"content-type":
            self._content_type = value.decode("latin-1")
        elif lower.startswith(b"lambda-extension-"):
            self._headers[lower.decode("latin-1")] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head = self._since_body = 0
        if self._streaming:
            self._begin_stream()

    def on_body(self, body: bytes) -> None:
        self._since_body = 0
        stream = self._stream
        if stream is not None:
            if stream.feed(body) and self._transport is not None:
                self._stream_paused = True
                self._transport.pause_reading()
            return
        self._size += len(body)
        if self._size <= MAX_RESPONSE:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_head, self._head = True, 0
        # one request at a time: stop reading until this one is answered
        if self._transport is not None:
            self._transport.pause_reading()
        method = self._parser.get_method()
        path = self._url.split(b"?", 1)[0].decode("latin-1")
        keep_alive = self._parser.should_keep_alive()
        body = b"".join(self._body) if self._size <= MAX_RESPONSE else b""
        too_large = self._size > MAX_RESPONSE
        if self._pending is not None:  # a pipelined request behind a waiting /next: not supported
            self._send(_error(400, "BadRequest", "one request at a time, please", close=True), close=True)
            return
        if method == b"GET" and path == PREFIX + "invocation/next":
            self._pending = asyncio.get_running_loop().create_task(self._next(keep_alive))
            return
        if self._streaming and self._parser.get_method() == b"POST":
            self._answer(self._end_stream(path, body, too_large), keep_alive)
            return
        if path.startswith(EXTENSION_PATHS):
            call = self._extension(method, path, dict(self._headers), body, keep_alive)
            self._pending = asyncio.get_running_loop().create_task(call)
            return
        self._answer(self._route(path, body, too_large), keep_alive)

    # -- streamed responses ------------------------------------------------------------------
    def _streamed_id(self, path: str) -> str | None:
        """The request id of a POST .../invocation/<id>/response (None: another path)."""
        if not path.startswith(PREFIX + "invocation/") or not path.endswith("/response"):
            return None
        return path[len(PREFIX + "invocation/") : -len("/response")] or None

    def _begin_stream(self) -> None:
        path = self._url.split(b"?", 1)[0].decode("latin-1")
        request_id = self._streamed_id(path)
        if request_id is None or self._parser.get_method() != b"POST":
            return  # (not a response: the header means nothing there)
        try:
            self._stream = self._endpoint.begin_stream(request_id, self._content_type)
        except RuntimeApiError as exc:
            self._stream_refused = exc
            return
        if self._stream is not None:
            self._stream.on_drain = self._stream_drained

    def _stream_drained(self) -> None:
        if self._stream_paused and self._transport is not None:
            self._stream_paused = False
            self._transport.resume_reading()

    def _end_stream(self, path: str, body: bytes, too_large: bool) -> bytes:
        request_id = self._streamed_id(path)
        if request_id is None:
            return self._route(path, body, too_large)
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.on_drain = None
        self._stream_paused = False
        if self._stream_refused is not None:
            exc = self._stream_refused
            return _error(exc.status, exc.error_type, exc.message)
        try:
            error_body = base64.b64decode(self._error_body, validate=True) if self._error_body else b""
        except (binascii.Error, ValueError):
            error_body = b""
        response = StreamedResponse(body, too_large, self._error_type, error_body)
        try:
            self._endpoint.end_stream(request_id, response)
        except RuntimeApiError as exc:
            return _error(exc.status, exc.error_type, exc.message)
        return _response(202, _ACCEPTED)

    def _route(self, path: str, body: bytes, too_large: bool) -> bytes:
        try:
            return self._dispatch(self._parser.get_method(), path, body, too_large)
        except RuntimeApiError as exc:
            return _error(exc.status, exc.error_type, exc.message)

    # -- routing ---------------------------------------------------------------------------
    def _dispatch(self, method: bytes, path: str, body: bytes, too_large: bool) -> bytes:
        if not path.startswith(PREFIX):
            return _error(404, "NotFound", "not found")
        rest = path[len(PREFIX) :]
        if rest == "invocation/next":
            return _error(405, "MethodNotAllowed", "method not allowed")
        if method != b"POST":
            return _error(405, "MethodNotAllowed", "method not allowed")
        if rest == "init/error":
            self._endpoint.post_init_error(self._error_type, body)
            return _response(202, _ACCEPTED)
        if rest.startswith("invocation/"):
            request_id, _, action = rest[len("invocation/") :].rpartition("/")
            if action == "response":
                self._endpoint.post_response(request_id, body, too_large)
                if too_large:
                    message = f"Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."
                    return _error(413, "RequestEntityTooLarge", message)
                return _response(202, _ACCEPTED)
            if action == "error":
                self._endpoint.post_error(request_id, self._error_type, body)
                return _response(202, _ACCEPTED)
        return _error(404, "NotFound", "not found")

    async def _next(self, keep_alive: bool) -> None:
        async def answer() -> bytes:
            event = await self._endpoint.next_invocation()
            return _response(200, event.body, event.headers)

        await self._answer_when(answer(), keep_alive)

    async def _extension(
        self, method: bytes, path: str, headers: dict[str, str], body: bytes, keep_alive: bool
    ) -> None:
        async def answer() -> bytes:
            got = await self._endpoint.extension_request(method, path, headers, body)
            return _response(got.status, got.body, got.headers)

        await self._answer_when(answer(), keep_alive)

    async def _answer_when(self, reply_of: Coroutine[Any, Any, bytes], keep_alive: bool) -> None:
        """Answer a long-held request (event/next) with what `reply_of` gives, or its API error;
        nothing when it is cancelled (the environment is going away)."""
        try:
            reply = await reply_of
        except RuntimeApiError as exc:
            reply = _error(exc.status, exc.error_type, exc.message)
        except asyncio.CancelledError:
            return
        finally:
            self._pending = None
        self._answer(reply, keep_alive)

    def _answer(self, reply: bytes, keep_alive: bool) -> None:
        self._send(reply, close=not keep_alive)
        if keep_alive and self._transport is not None:
            self._transport.resume_reading()

    def _send(self, data: bytes, close: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.write(data)
        if close:
            transport.close()


class RuntimeApiServer:
    """Hosts the Runtime API listeners of all environments of one server."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._servers: set[asyncio.Server] = set()

    async def close(self) -> None:
        servers, self._servers = self._servers, set()
        for server in servers:
            server.close()

    async def listen(
        self, endpoint: RuntimeEndpoint, owner: OwnerCheck | None = None
    ) -> tuple[str, Callable[[], Awaitable[None]]]:
        """Open a listener for one environment; returns ("host:port", close). `owner`: which
        socket owners may connect (None: anyone, where uids cannot tell environments apart)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        port = sock.getsockname()[1]
        close = await self.serve(sock, endpoint, owner)
        return f"{self.host}:{port}", close

    async def serve(
        self, sock: socket.socket, endpoint: RuntimeEndpoint, owner: OwnerCheck | None = None
    ) -> Callable[[], Awaitable[None]]:
        """Serve the Runtime API of one environment on a listening socket (made inside the
        environment's own network namespace, or by `listen`); returns its close."""
        server = await asyncio.get_running_loop().create_server(
            lambda: _Connection(endpoint, owner), sock=sock
        )
        self._servers.add(server)

        async def close() -> None:
            self._servers.discard(server)
            server.close()

        return close


def _peer_uid(transport: asyncio.BaseTransport) -> int | None:
    """The uid owning the connecting socket (None: not in this network namespace, or gone)."""
    local, remote = transport.get_extra_info("sockname"), transport.get_extra_info("peername")
    if not local or not remote:
        return None
    try:
        return peers.socket_owner_uid((local[0], local[1]), (remote[0], remote[1]))
    except (peers.PeerClosed, OSError):
        return None
