"""How much and how slowly clients may send the HTTP server: its limits, and the budget of body
bytes it holds at once across all connections."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from lambdabox.http_messages import Request


@dataclass(frozen=True)
class HttpLimits:
    """How much and how slowly a client may send (sizes in bytes, times in seconds of the clock)."""

    #: the request target (path and query); longer is 414
    max_target: int = 16_384
    #: header fields in total, counted as "Name: value\r\n"; more is 431
    max_header_bytes: int = 32_768
    #: header fields; more is 431
    max_headers: int = 256
    #: from a request's first byte to the end of its headers (and from connect to the first byte)
    header_timeout: float = 30.0
    #: the longest pause inside a body
    body_timeout: float = 30.0
    #: the slowest a body may arrive on average (bytes/s), after `body_timeout` of grace: a client
    #: dripping a byte now and then is cut off instead of holding its connection (and budget)
    min_body_rate: float = 16_384.0
    #: the longest idle time between two requests of one connection
    keepalive_timeout: float = 120.0
    #: the longest wait for a client to read its response
    send_timeout: float = 60.0
    #: the longest time unread input is drained after a refusal before the connection is dropped
    linger_timeout: float = 10.0
    #: request bodies held at once, all connections together (declared sizes, or the operation's
    #: limit for chunked ones); a body that does not fit waits, unread, for room
    max_buffered_bytes: int = 512 * 1024 * 1024

    @property
    def tick(self) -> float:
        """How often deadlines are checked: a fraction of the shortest timeout, at most 1 s."""
        shortest = min(self.header_timeout, self.body_timeout, self.keepalive_timeout, self.send_timeout)
        return min(1.0, shortest / 4)


class BodyBudget:
    """The body bytes a server holds at once across its connections, handed out in arrival order:
    without it many clients each declaring a large body could hold the server's memory between them."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self._held: dict[Request, int] = {}
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def acquire(self, request: Request, size: int) -> None:
        size = min(size, self.total)  # one body larger than the whole budget waits for all of it
        if size <= 0:
            return
        if self.free >= size and not self._waiting:
            self.free -= size
        else:
            future = asyncio.get_running_loop().create_future()
            self._waiting.append((size, future))
            try:
                await future  # `release` took the size off `free` for us
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self.free += size  # granted just as we were cancelled: pass it on
                self._waiting = deque(w for w in self._waiting if w[1] is not future)
                self._grant()
                raise
        self._held[request] = self._held.get(request, 0) + size

    @property
    def waiting(self) -> int:
        """How many bodies wait for room."""
        return len(self._waiting)

    def release(self, request: Request) -> None:
        """The handler of `request` is done with its body."""
        self.free += self._held.pop(request, 0)
        self._grant()

    def _grant(self) -> None:
        while self._waiting and self._waiting[0][0] <= self.free:
            size, future = self._waiting.popleft()
            if not future.done():
                self.free -= size
                future.set_result(None)
