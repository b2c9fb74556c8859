"""HTTP messages as the edge sees them: a parsed request whose body is read on demand, and responses.

A `Request` is handed to the handler as soon as its headers are in; the body arrives behind it and
is read with `await request.read(limit)`, so the handler can decide the limit from the operation
before a byte of the body is kept. A body declared (`Content-Length`) larger than the limit is
refused at once with `BodyTooLarge`; a chunked one as soon as it passes the limit. A body that will
never arrive (the client went away, sent something that is not HTTP, or was too slow) raises
`RequestAborted`: handlers let it pass, the server answers (or not) as the case requires.

Answers are a `Response` (all at once), a `FileResponse` or a `StreamingResponse` (a body sent as
it is produced, which `StreamAborted` cuts off).

The connection that feeds a request implements `BodySource` (`http_server`); nothing else here
knows about sockets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from multidict import CIMultiDictProxy

#: body bytes kept before the handler asks for them; beyond, the connection stops reading
PREREAD = 1 << 20


class BodyTooLarge(Exception):
    """The body is larger than the handler's limit: `size` bytes declared, or received so far."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"request body of {size} bytes is larger than {limit}")
        self.size = size
        self.limit = limit


class RequestAborted(Exception):
    """The body will not arrive. `status`: what the server answers (400 malformed, 408 too slow),
    None when nobody is left to answer (the client closed its connection)."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class BodySource(Protocol):
    """The connection behind a request's body."""

    def body_wanted(self, request: Request) -> None:
        """The handler waits for the body: read on (and answer `Expect: 100-continue`)."""

    def body_buffered(self, request: Request) -> None:
        """PREREAD bytes arrived that nobody asked for yet: stop reading until they are."""

    async def reserve(self, request: Request, size: int) -> None:
        """Wait until `size` more body bytes may be held (the server's budget across connections)."""


class Request:
    """One HTTP request: method, target and headers as received, the body on demand."""

    __slots__ = (
        "_body",
        "_chunks",
        "_complete",
        "_error",
        "_limit",
        "_refused",
        "_size",
        "_source",
        "_waiter",
        "content_length",
        "headers",
        "keep_alive",
        "method",
        "path",
        "query_string",
        "raw_path",
        "transport",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        headers: CIMultiDictProxy[str],
        *,
        version: str = "1.1",
        keep_alive: bool = True,
        content_length: int | None = None,
        transport: asyncio.BaseTransport | None = None,
        source: BodySource | None = None,
    ) -> None:
        self.method = method
        #: the request target as sent: path and query, still percent-encoded
        self.raw_path = target
        raw, _, self.query_string = target.partition("?")
        #: the path, percent-decoded
        self.path = unquote(raw) if "%" in raw else raw
        self.headers = headers
        self.version = version
        #: whether the client lets the connection carry further requests
        self.keep_alive = keep_alive
        #: the declared body size (None: chunked, or no body)
        self.content_length = content_length
        #: the connection's transport (its sockets' addresses); None once it is gone
        self.transport = transport
        self._source = source
        self._chunks: list[bytes] = []
        self._size = 0
        self._complete = source is None
        self._limit: int | None = None
        self._refused = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._body: bytes | None = None

    @property
    def query(self) -> Mapping[str, str]:
        """The query parameters, percent-decoded (the first value of each name)."""
        out: dict[str, str] = {}
        for name, value in parse_qsl(self.query_string, keep_blank_values=True):
            out.setdefault(name, value)
        return out

    @property
    def body_complete(self) -> bool:
        """The whole body has arrived (and was not refused)."""
        return self._complete and not self._refused

    @property
    def refused(self) -> bool:
        """The body was refused (too large) or did not arrive: it was not read to its end."""
        return self._refused

    async def read(self, limit: int) -> bytes:
        """The whole body, if it is at most `limit` bytes; else `BodyTooLarge`, decided from
        `Content-Length` before any of it is read, or as soon as a chunked body passes `limit`."""
        if self._body is not None:
            return self._body
        if self._error is not None:
            raise self._error
        declared = self.content_length
        if declared is not None and declared > limit:
            raise self._refuse(BodyTooLarge(declared, limit))
        if self._size > limit:
            raise self._refuse(BodyTooLarge(self._size, limit))
        self._limit = limit
        if not self._complete:
            assert self._source is not None
            # room for the body in the server's budget first: until there is, nothing more is read
            await self._source.reserve(self, declared if declared is not None else limit)
            self._source.body_wanted(self)
            while not self._complete and self._error is None:
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            if self._error is not None:
                raise self._error
        chunks, self._chunks = self._chunks, []
        self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body

    # -- the connection's side ---------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Body bytes arrived."""
        if self._refused:
            return
        self._size += len(data)
        limit = self._limit
        if limit is not None and self._size > limit:
            self._refuse(BodyTooLarge(self._size, limit))
            self._wake()
            return
        self._chunks.append(data)
        if limit is None and self._size > PREREAD and self._source is not None:
            self._source.body_buffered(self)

    def finish(self) -> None:
        """The body is complete."""
        self._complete = True
        self._wake()

    def abort(self, error: RequestAborted) -> None:
        """The body will not arrive (the connection failed or timed out)."""
        if self._complete and not self._refused:
            return
        self._refused = True
        self._chunks = []
        if self._error is None:
            self._error = error
        self._wake()

    def _refuse(self, error: BodyTooLarge) -> BodyTooLarge:
        self._refused = True
        self._chunks = []
        self._error = error
        return error

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response: status, headers and body (`Content-Length` is added when sent)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class FileResponse:
    """A file sent as the body, read in pieces off the event loop (404 if it is gone)."""

    path: Path
    headers: Mapping[str, str] = field(default_factory=dict)


class StreamAborted(Exception):
    """A streamed body cannot go on (its source failed half-way): the response is cut off where
    it stands (an incomplete chunked body, then the connection closed), which is how HTTP tells a
    client that a response it already started to read is broken."""


@dataclass(frozen=True, slots=True)
class StreamingResponse:
    """A response whose body is sent as it comes (chunked; `Transfer-Encoding` is added when sent):
    each item of `body` goes out as one chunk, a slow reader holds the next back. `body` may raise
    `StreamAborted` to cut the response off; it is closed (`aclose`) when the client goes away."""

    status: int
    headers: Mapping[str, str]
    body: AsyncIterable[bytes]


#: what a handler answers
AnyResponse = Response | FileResponse | StreamingResponse


def json_response(data: Any, status: int = 200) -> Response:
    """`data` as a JSON body."""
    return Response(status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(data).encode())
