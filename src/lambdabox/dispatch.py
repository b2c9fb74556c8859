"""A due-time work queue on the one clock: items pushed with the time they are due, handled by an
async handler once due, at most `concurrency` at a time, earliest first.

The background engines (asynchronous invocations, the outbox of destination records) keep their
durable state in the store and use this for what is in memory: which item runs next, and when. A
manual clock makes every delay immediate once advanced; nothing here polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lambdabox.clock import Cancellable, Clock

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Activity:
    """What a dispatcher is doing at one moment: items being handled, items due on the clock but
    not handled yet, and whether any of those could start now (a free slot: it is only waiting
    for the event loop to take its turn)."""

    running: int
    due: int
    behind: bool


class Dispatcher(Generic[T]):
    """Runs `handle(item)` for each pushed item once its due time has come on `clock`."""

    def __init__(
        self, clock: Clock, handle: Callable[[T], Coroutine[Any, Any, None]], *, concurrency: int, name: str
    ) -> None:
        self._clock = clock
        self._handle = handle
        self._concurrency = concurrency
        self._name = name
        self._heap: list[tuple[float, int, T]] = []
        self._seq = itertools.count()
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._timer: Cancellable | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self._name)

    def push(self, item: T, due: float) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), item))
        self._wake.set()

    @property
    def waiting(self) -> int:
        """Items not yet handled (due or not)."""
        return len(self._heap)

    @property
    def running(self) -> int:
        """Items being handled now."""
        return len(self._running)

    def activity(self) -> Activity:
        """Running and due items now (counting the due ones walks the queue: not for hot paths)."""
        now = self._clock.now()
        due = sum(1 for at, _, _ in self._heap if at <= now)
        return Activity(len(self._running), due, due > 0 and len(self._running) < self._concurrency)

    async def close(self) -> None:
        """Stop; handlers still running are cancelled (their items' durable state decides what
        happens to them on the next start)."""
        if self._timer is not None:
            self._timer.cancel()
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._running.clear()

    async def _loop(self) -> None:
        while True:
            now = self._clock.now()
            while self._heap and self._heap[0][0] <= now and len(self._running) < self._concurrency:
                _, _, item = heapq.heappop(self._heap)
                task = asyncio.get_running_loop().create_task(self._handle(item))
                self._running.add(task)
                task.add_done_callback(self._done)
            self._wake.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._heap and len(self._running) < self._concurrency:
                self._timer = self._clock.call_later(max(self._heap[0][0] - now, 0.0), self._wake.set)
            await self._wake.wait()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: a handler raised", self._name, exc_info=task.exception())
