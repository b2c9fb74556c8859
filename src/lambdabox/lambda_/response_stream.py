"""One invocation's streamed response, between the runtime writing it and the caller reading it.

A caller that can take a streamed answer (InvokeWithResponseStream, a RESPONSE_STREAM function
URL) hands a `ResponseStream` to the invocation. When the runtime answers in the Runtime API's
streaming mode, its listener `begin`s the stream (with the Content-Type the runtime declared),
`feed`s the body's pieces as they arrive and `finish`es it (with the error its trailers reported,
if any). The caller waits for the start (`wait_started`), then reads `chunks()` as they come;
`close()` ends them when the invocation ended some other way (timeout, exit), `abandon()` says
nobody reads any more (the client went away: the function runs on, what it writes is dropped).

Backpressure: `feed` says when more than `HIGH_WATER` bytes wait unread, and the listener stops
reading the runtime's connection until the reader has taken them (`on_drain`). A stream longer
than `MAX_BYTES` (Lambda's 20 MB soft limit for streamed responses) is cut there and ends with
Function.ResponseSizeTooLarge.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

#: Lambda's limit for a streamed response's size
MAX_BYTES = 20 * 1024 * 1024
#: unread bytes beyond which the runtime's connection is no longer read
HIGH_WATER = 1 << 20
TOO_LARGE = "Function.ResponseSizeTooLarge"


@dataclass(frozen=True)
class StreamError:
    """How a stream ended badly: the error type and Lambda's message for it."""

    error_type: str
    message: str


class ResponseStream:
    """The bytes of one streamed response, in order, as the runtime writes them."""

    def __init__(self) -> None:
        self.content_type = "application/octet-stream"
        self.started = False
        self.ended = False
        self.error: StreamError | None = None
        self.size = 0  # bytes the runtime wrote
        #: called when the unread bytes fall back under HIGH_WATER (the listener reads on)
        self.on_drain: Callable[[], None] | None = None
        self._chunks: deque[bytes] = deque()
        self._unread = 0
        self._abandoned = False
        self._changed = asyncio.Event()
        self._start = asyncio.Event()

    # -- the runtime's side (its Runtime API listener) ---------------------------------------
    def begin(self, content_type: str | None) -> None:
        """The runtime started a streamed response."""
        if content_type:
            self.content_type = content_type
        self.started = True
        self._start.set()

    def feed(self, data: bytes) -> bool:
        """Body bytes arrived; True when the reader is behind by more than HIGH_WATER."""
        if self.ended or not data:
            return False
        self.size += len(data)
        if self.size > MAX_BYTES:
            message = f"Response payload size exceeded maximum allowed payload size ({MAX_BYTES} bytes)."
            self.finish(StreamError(TOO_LARGE, message))
            return False
        if self._abandoned:
            return False
        self._chunks.append(data)
        self._unread += len(data)
        self._changed.set()
        return self._unread > HIGH_WATER

    def finish(self, error: StreamError | None = None) -> None:
        """The runtime ended the response (`error`: what its trailers reported)."""
        if self.ended:
            return
        self.ended = True
        self.error = error
        self._start.set()
        self._changed.set()
        self._drained()

    # -- the invoker's side ------------------------------------------------------------------
    def close(self, error: StreamError | None = None) -> None:
        """The invocation is over: the stream ends (with `error` unless it had ended already)."""
        self.finish(error)

    # -- the reader's side -------------------------------------------------------------------
    async def wait_started(self) -> None:
        """Until the runtime started streaming (or the stream ended without starting)."""
        await self._start.wait()

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The bytes as they come, until the stream ends."""
        while True:
            while self._chunks:
                data = self._chunks.popleft()
                self._unread -= len(data)
                if self._unread <= HIGH_WATER // 2:
                    self._drained()
                yield data
            if self.ended:
                return
            self._changed.clear()
            await self._changed.wait()

    @property
    def unread(self) -> int:
        """Bytes written and not read yet."""
        return self._unread

    def abandon(self) -> None:
        """Nobody reads on: what is buffered and what the runtime still writes is dropped."""
        self._abandoned = True
        self._chunks.clear()
        self._unread = 0
        self._drained()

    def _drained(self) -> None:
        if self.on_drain is not None:
            self.on_drain()


T = TypeVar("T")


class Abandoning(Generic[T]):
    """A reader's async generator over a stream, whose closing abandons the stream even when it
    was never iterated (a HEAD request, a bodiless status, a client gone before the head)."""

    def __init__(self, items: AsyncGenerator[T, None], stream: ResponseStream) -> None:
        self._items = items
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items

    async def aclose(self) -> None:
        try:
            await self._items.aclose()
        finally:
            self._stream.abandon()
