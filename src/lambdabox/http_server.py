"""The HTTP/1.1 server of the public port (and of the edge's listeners inside environments).

A small asyncio protocol around httptools' parser (llhttp), like the Runtime API's, built so that
bad clients cannot hurt the server or anyone else on it:

- what llhttp refuses (garbage, bad methods, negative or non-numeric `Content-Length`, one together
  with `Transfer-Encoding: chunked`, bad chunk sizes), a target that is not ASCII, header values
  that are not UTF-8, methods we do not serve and HTTP versions but 1.0 and 1.1 are answered with a
  short plain-text 400 (405 for a method) and `Connection: close`: no AWS error body is possible
  before a request is parsed, which is also what AWS's front ends send. Nothing is logged above
  debug level, and never a traceback;
- a request target longer than `HttpLimits.max_target` (`http_limits`) is 414; header fields of more than
  `max_header_bytes` in total (at least API Gateway's 10,240) or more than `max_headers` of them
  are 431;
- the headers must be complete within `header_timeout` of the request's first byte (slowloris),
  a body must not stall for `body_timeout`, a keep-alive connection idles at most
  `keepalive_timeout`, and a client that does not read its response is dropped after
  `send_timeout`; a request that times out is answered 408 and its connection closed;
- the body is not read until the handler asks for it with its limit (`http_messages.Request`), so
  a body over the limit is refused from its `Content-Length` or as soon as it passes it. After
  such a refusal, and after a malformed request, the connection is closed gracefully: the answer
  is sent, then what the client still sends is read and dropped (for `linger_timeout` at most),
  so that the client sees the answer rather than a reset.

Every connection is its own protocol instance on the event loop: a slow or stalled client holds
nothing but its socket. Timeouts run on an injected clock of their own (`timeouts`: real time
when lambdabox runs on a manual clock, so moving that clock never cuts a connection; the manual
clock itself in tests of the timeouts): one sweeper per server wakes every `tick` seconds and
closes the connections whose deadline passed, which keeps the hot path to a few attribute writes
per request and lets tests move time by hand. The Date header reads the one clock.

The handler gets a `Request` as soon as its headers are in and returns a `Response`, a
`FileResponse` or a `StreamingResponse` (those two are sent by `http_bodies`). A `RequestAborted` it lets through is answered by the server (or not, when the
client is gone); any other exception is a bug: logged with its traceback, answered 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import socket
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import cast
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from lambdabox import http_bodies
from lambdabox.clock import Clock
from lambdabox.http_limits import BodyBudget, HttpLimits
from lambdabox.http_messages import (
    AnyResponse,
    FileResponse,
    Request,
    RequestAborted,
    Response,
    StreamingResponse,
)

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[AnyResponse]]

#: methods the edge serves; others are answered 405 before the handler sees them
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
#: requests parsed ahead while one is being answered (pipelining). Reading stops while any are
#: queued, so only what one read brings can queue up; more than this in one read is refused
MAX_PIPELINED = 1024
_NEVER = math.inf


def _origin_form(target: str, headers: CIMultiDict[str]) -> str:
    """An absolute-form target (`GET http://host/path`) as the origin form everything downstream
    reads, its host replacing the Host field (RFC 9112 3.2.2: a server MUST ignore Host then);
    any other form is refused."""
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        raise _Refuse(400, "request target is neither origin- nor absolute-form")
    headers.popall("Host", None)
    headers["Host"] = parts.netloc
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class _Refuse(Exception):
    """Raised in a parser callback: answer `status` and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def plain_response(status: int) -> bytes:
    """A short plain-text answer that closes the connection (malformed requests, timeouts)."""
    phrase = _reason(status)
    body = f"{status} {phrase}\n".encode()
    return (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
_OWN_HEADERS = frozenset({"content-length", "connection", "date", "transfer-encoding", "keep-alive"})


class _Deadline:
    """What a connection waits for, and so what its deadline means."""

    NONE = 0  # its handler runs: no deadline
    IDLE = 1  # the next request (closing without a word when it passes)
    HEAD = 2  # the rest of the request's headers
    BODY = 3  # more of the body
    LINGER = 4  # the client's end of a connection being closed


class HttpServer:
    """Serves `handler` on listening sockets; `close()` stops them and their connections."""

    def __init__(
        self,
        handler: Handler,
        *,
        clock: Clock,
        timeouts: Clock | None = None,
        limits: HttpLimits | None = None,
    ) -> None:
        """`clock`: the one clock (the Date header); `timeouts`: what connection deadlines run on
        (default `clock`)."""
        self.handler = handler
        self.clock = clock
        self.timeouts = timeouts or clock
        self.limits = limits or HttpLimits()
        self._servers: set[asyncio.Server] = set()
        self._connections: set[_Connection] = set()
        self.budget = BodyBudget(self.limits.max_buffered_bytes)
        self._sweeper: asyncio.Task[None] | None = None
        self._date = ("", -1)

    async def serve(self, sock: socket.socket) -> Callable[[], Awaitable[None]]:
        """Serve a listening socket; returns what stops listening on it (connections stay)."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(self), sock=sock)
        self._servers.add(server)
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep())

        async def close() -> None:
            self._servers.discard(server)
            server.close()

        return close

    async def close(self, grace: float = 1.0) -> None:
        """Stop listening, close idle connections, give requests in flight `grace` seconds (of
        real time: a shutdown bound, not a semantic delay), then drop what is left."""
        servers, self._servers = self._servers, set()
        for server in servers:
            server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._connections):
            conn.shutdown()
        busy = [t for conn in self._connections if (t := conn.task) is not None]
        if busy:
            _, pending = await asyncio.wait(busy, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for conn in list(self._connections):
            conn.abort()

    def date(self) -> str:
        """The Date header's value, from the clock (made once a second)."""
        now = self.clock.now()
        second = int(now)
        if second != self._date[1]:
            self._date = (email.utils.formatdate(second, usegmt=True), second)
        return self._date[0]

    def added(self, conn: _Connection) -> None:
        self._connections.add(conn)

    def removed(self, conn: _Connection) -> None:
        self._connections.discard(conn)

    async def _sweep(self) -> None:
        tick = self.limits.tick
        while True:
            await self.timeouts.sleep(tick)
            now = self.timeouts.monotonic()
            for conn in list(self._connections):
                if conn.deadline <= now or conn.send_stalled(now):
                    conn.expire(now)


class _Connection(asyncio.Protocol):
    """One client connection: requests parsed in order, answered in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._limits = server.limits
        self._clock = server.timeouts
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        # the message being parsed
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._header_bytes = 0
        self._head_fed = 0
        self._since_body = 0  # bytes since the head's end or the last body byte: framing, trailers
        self._body_since = 0.0
        self._body_got = 0
        self._in_head = False
        self._incoming: Request | None = None  # its headers are in, its body is arriving
        # the requests being answered
        self._current: Request | None = None
        self.task: asyncio.Task[None] | None = None
        self._queue: deque[Request] = deque()
        self._input_done = False  # nothing more is parsed (malformed, upgraded, closing)
        self._draining = False  # input is read and dropped until the client closes
        self._eof = False  # the client closed its end
        self._pending_error: int | None = None  # to answer once the request in hand is
        self._reading_paused = False
        self._write_paused_at: float | None = None
        self._drained: asyncio.Future[None] | None = None
        self._continued: Request | None = None  # the request a 100 Continue was sent for
        self.deadline = _NEVER
        self._waiting = _Deadline.IDLE

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self._server.added(self)
        self._arm(_Deadline.IDLE, self._limits.header_timeout)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._input_done:
            return  # draining, or parsing stopped: what comes now is not read
        waiting = self._waiting
        if waiting == _Deadline.BODY:
            now = self._clock.monotonic()
            self._body_got += len(data)
            limits = self._limits
            paced = self._body_since + limits.body_timeout + self._body_got / limits.min_body_rate
            self.deadline = min(now + limits.body_timeout, paced)
        elif waiting != _Deadline.NONE:
            self._head_fed += len(data)
        if not self._in_head:
            self._since_body += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # a request asking to switch protocols is answered in HTTP/1.1; nothing after it is read
            self._input_done = True
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refuse):
                self._fail(cause.status, cause.reason)
            else:  # a bug in a callback
                log.error("HTTP parser callback failed: %r", cause)
                self._fail(400, "unparseable request")
        except httptools.HttpParserError as exc:
            self._fail(400, str(exc) or type(exc).__name__)
        else:
            most = self._limits.max_target + self._limits.max_header_bytes
            if self._in_head and self._head_fed > most:
                self._fail(431, "request head too large")
            elif not self._in_head and self._incoming is not None and self._since_body > most:
                self._fail(431, "request trailers too large")  # (held to the head's bound)

    def eof_received(self) -> bool | None:
        # the client will send nothing more: a request in hand is still answered
        self._input_done = True
        self._eof = True
        incoming, self._incoming = self._incoming, None
        if incoming is not None:
            incoming.abort(RequestAborted(None, "the client closed its end before the body"))
        return self._current is not None and not self._draining  # False: nothing to answer, close

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._input_done = True
        self._server.removed(self)
        gone = RequestAborted(None, "the connection closed")
        for req in (self._incoming, self._current, *self._queue):
            if req is not None:
                req.abort(gone)
                req.transport = None
        self._queue.clear()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused_at = self._clock.monotonic()

    def resume_writing(self) -> None:
        self._write_paused_at = None
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- httptools callbacks -------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        self._in_head = True
        self._arm(_Deadline.HEAD, self._limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_target:
            raise _Refuse(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if (
            self._header_bytes > self._limits.max_header_bytes
            or len(self._headers) >= self._limits.max_headers
        ):
            raise _Refuse(431, "header fields too large")
        try:  # a field value's surrounding whitespace is not part of it (RFC 9110 5.5)
            self._headers.append((name.decode("ascii"), value.decode("utf-8").strip(" \t")))
        except UnicodeDecodeError:
            raise _Refuse(400, "header value not UTF-8") from None

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_fed = self._since_body = 0
        parser = self._parser
        method = parser.get_method().decode("ascii")
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise _Refuse(400, f"HTTP/{version} is not served")
        if method not in METHODS:
            raise _Refuse(405, f"method {method} is not served")
        try:
            target = self._url.decode("ascii")
        except UnicodeDecodeError:
            raise _Refuse(400, "request target not ASCII") from None
        if self._current is not None and len(self._queue) >= MAX_PIPELINED:
            raise _Refuse(400, "too many pipelined requests")
        raw_headers = CIMultiDict(self._headers)
        if len(raw_headers.getall("Host", ())) > 1:  # RFC 9112 3.2: one Host, or 400
            raise _Refuse(400, "more than one Host header")
        if not target.startswith("/") and target != "*":
            target = _origin_form(target, raw_headers)
        headers = CIMultiDictProxy(raw_headers)
        length_header = headers.get("Content-Length")
        length = int(length_header) if length_header is not None else None  # llhttp checked it
        has_body = (length is not None and length > 0) or "Transfer-Encoding" in headers
        if has_body and parser.should_upgrade():
            # llhttp would take the body for the new protocol's; we answer in HTTP/1.1 or not at all
            raise _Refuse(400, "a protocol upgrade with a body")
        req = Request(
            method,
            target,
            headers,
            version=version,
            keep_alive=parser.should_keep_alive(),
            content_length=length,
            transport=self._transport,
            source=self if has_body else None,
        )
        if has_body:
            self._incoming = req
            self._arm(_Deadline.BODY, self._limits.body_timeout)
        if self._current is None:
            self._start(req)
        else:
            self._queue.append(req)
            self._pause_reading()

    def on_body(self, body: bytes) -> None:
        self._since_body = 0
        if self._incoming is not None:
            self._incoming.feed(body)

    def on_message_complete(self) -> None:
        req, self._incoming = self._incoming, None
        if req is not None:
            req.finish()
        if self._current is not None:
            self._arm(_Deadline.NONE, 0)

    # -- BodySource ----------------------------------------------------------------------------
    def body_wanted(self, request: Request) -> None:
        if request is not self._current:
            return
        transport = self._transport
        if transport is None:
            return
        if (
            self._continued is not request
            and request.version == "1.1"
            and request.headers.get("Expect", "").lower() == "100-continue"
        ):
            self._continued = request
            transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self._reading_paused and not self._queue:
            self._resume_reading()

    def body_buffered(self, request: Request) -> None:
        self._pause_reading()

    async def reserve(self, request: Request, size: int) -> None:
        await self._server.budget.acquire(request, size)

    # -- answering -----------------------------------------------------------------------------
    def _start(self, req: Request) -> None:
        self._current = req
        self.task = asyncio.get_running_loop().create_task(self._serve(req))

    async def _serve(self, req: Request) -> None:
        status: int | None = None
        response: AnyResponse | None
        try:
            response = await self._server.handler(req)
        except RequestAborted as exc:
            response, status = None, exc.status
        except Exception:
            log.exception("unhandled error serving %s %s", req.method, req.path)
            response = Response(
                500, {"Content-Type": "text/plain; charset=utf-8"}, b"500 Internal Server Error\n"
            )
        finally:
            self._server.budget.release(req)  # the handler is done with the body
        if self._transport is None:
            if isinstance(response, StreamingResponse):  # its source learns nobody reads it
                await http_bodies.close_body(response)
            return
        if response is None:
            if status is not None:
                self._transport.write(plain_response(status))
            self._close(linger=status not in (None, 408))
            return
        # (requests parsed before the input ended are still answered, in order)
        keep = req.keep_alive and req.body_complete and (not self._input_done or bool(self._queue))
        # (a malformed request behind this one is answered after it, closing the connection)
        open_ = keep or (req.keep_alive and req.body_complete and self._pending_error is not None)
        if isinstance(response, FileResponse):
            sent = await http_bodies.send_file(self, req, response, open_)
        elif isinstance(response, StreamingResponse):
            sent = await http_bodies.send_stream(self, req, response, open_)
            keep = keep and sent
        else:
            # no body may follow a 1xx, 204 or 304 (it would read as the start of another response)
            bodiless = response.status < 200 or response.status in (204, 304)
            body = b"" if bodiless or req.method == "HEAD" else response.body
            head = self.head(
                response.status, response.headers, 0 if bodiless else len(response.body), open_, req.version
            )
            if len(body) <= http_bodies.FILE_CHUNK:  # one write, one segment
                self._transport.write(head + body)
            else:  # not copied
                self._transport.write(head)
                self._transport.write(body)
            sent = True
        if self._transport is None:
            return
        if not sent or not keep:
            if sent and self._pending_error is not None:
                self._transport.write(plain_response(self._pending_error))
            # unread input (a refused or unread body, a malformed request behind) is drained first
            self._close(linger=not self._eof and (not req.body_complete or self._input_done))
            return
        self._current = None
        self.task = None
        if self._queue:
            self._start(self._queue.popleft())
            if not self._queue:
                self._resume_reading()
        else:
            if not self._in_head:  # (a next request's head being parsed keeps its own deadline)
                self._arm(_Deadline.IDLE, self._limits.keepalive_timeout)
            self._resume_reading()

    def head(
        self, status: int, headers: Mapping[str, str], length: int | None, keep: bool, version: str = "1.1"
    ) -> bytes:
        """A response's head; `length` None: sent chunked on HTTP/1.1 (on 1.0 the close ends it)."""
        lines = [_STATUS_LINES.get(status) or f"HTTP/1.1 {status} {_reason(status)}\r\n".encode()]
        for name, value in headers.items():
            if name.lower() in _OWN_HEADERS:
                continue
            if "\r" in value or "\n" in value:
                value = value.replace("\r", " ").replace("\n", " ")
            lines.append(f"{name}: {value}\r\n".encode())
        if length is None:
            if version == "1.1":
                lines.append(b"Transfer-Encoding: chunked\r\n")
            keep = keep and version == "1.1"
        elif status >= 200 and status != 204:  # (RFC 9110 8.6: never on a 1xx or 204)
            lines.append(b"Content-Length: %d\r\n" % length)
        lines.append(b"Date: %s\r\n" % self._server.date().encode())
        if not keep:
            lines.append(b"Connection: close\r\n")
        elif version == "1.0":
            lines.append(b"Connection: keep-alive\r\n")
        lines.append(b"\r\n")
        return b"".join(lines)

    # -- http_bodies.Sink ---------------------------------------------------------------------
    @property
    def gone(self) -> bool:
        return self._transport is None

    def write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    async def drained(self) -> None:
        while self._write_paused_at is not None and self._transport is not None:
            self._drained = asyncio.get_running_loop().create_future()
            try:
                await self._drained
            finally:
                self._drained = None

    # -- failing and closing -------------------------------------------------------------------
    def _fail(self, status: int, reason: str) -> None:
        """The input cannot be parsed on: answer `status` to the request it belongs to, then close."""
        if self._input_done:
            return
        self._input_done = True
        peer = self._transport.get_extra_info("peername") if self._transport is not None else None
        log.debug("HTTP %d for %s: %s", status, peer, reason)
        error = RequestAborted(status, reason)
        incoming, self._incoming = self._incoming, None
        if incoming is not None:
            incoming.abort(error)
            if incoming in self._queue:
                self._queue.remove(incoming)
        self._queue.clear()  # requests behind the broken one are not answered
        if self._current is None:
            if self._transport is not None:
                self._transport.write(plain_response(status))
                self._close(linger=status != 408 and not self._eof)
        elif incoming is not self._current:
            self._pending_error = status
        # else: the request being answered is the broken one: its handler sees RequestAborted
        # and the answer is `status`

    def _close(self, *, linger: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        self._input_done = True
        self._current = None
        self.task = None
        self._queue.clear()
        if linger and transport.can_write_eof():
            # the answer goes out, then a FIN; what the client still sends is dropped until it
            # closes too (or `linger_timeout` passes), so that it reads the answer, not a reset
            self._draining = True
            self._resume_reading()
            transport.write_eof()
            self._arm(_Deadline.LINGER, self._limits.linger_timeout)
        else:
            transport.close()
            self._arm(_Deadline.LINGER, self._limits.linger_timeout)

    def shutdown(self) -> None:
        """The server stops: an idle connection closes now, a busy one after its answer."""
        if self._current is None:
            self._close(linger=False)
        else:
            self._input_done = True

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _drop(self) -> None:
        """Close at once with a reset: what the client did not read is thrown away (kernel
        buffers included) instead of being sent on to a client that does not read."""
        transport = self._transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def send_stalled(self, now: float) -> bool:
        paused = self._write_paused_at
        return paused is not None and now - paused > self._limits.send_timeout

    def expire(self, now: float) -> None:
        """The deadline passed (or the client stopped reading): act on what was awaited."""
        transport = self._transport
        if transport is None:
            return
        waiting = self._waiting
        if self.send_stalled(now) or waiting == _Deadline.LINGER:
            self._drop()
        elif waiting == _Deadline.IDLE:
            if transport.get_write_buffer_size():
                self._drop()  # (it did not even read its last answer)
            else:
                self._close(linger=False)
        elif waiting in (_Deadline.HEAD, _Deadline.BODY):
            self._fail(408, "the client was too slow")
            # (a handler still busy with it has `linger_timeout` to answer before the drop)
            self._arm(_Deadline.LINGER, self._limits.linger_timeout)

    # -- helpers -------------------------------------------------------------------------------
    def _arm(self, waiting: int, seconds: float) -> None:
        self._waiting = waiting
        self.deadline = _NEVER if waiting == _Deadline.NONE else self._clock.monotonic() + seconds
        if waiting == _Deadline.BODY:  # the body's pace is measured from here
            self._body_since = self._clock.monotonic()
            self._body_got = 0

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()
            if self._waiting in (_Deadline.HEAD, _Deadline.BODY):
                self._arm(_Deadline.NONE, 0)  # we stopped reading: the client is not late

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
            if self._waiting == _Deadline.NONE:
                if self._in_head:
                    self._arm(_Deadline.HEAD, self._limits.header_timeout)
                elif self._incoming is not None:
                    self._arm(_Deadline.BODY, self._limits.body_timeout)
