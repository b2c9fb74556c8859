"""The dispatcher of asynchronous invocations (InvocationType Event).

An event is accepted once its row is committed (fsynced) in the store, and only then answered
202; the dispatcher runs it at least once: on start it loads every row left (a `kill -9` loses
nothing that was acknowledged; an attempt cut short runs again, as AWS may run one twice). Each
attempt runs through `run` (the Lambda service's synchronous path, with the event's own request
id on every attempt, as AWS keeps it). What an attempt ends in decides what follows:

- success, or the function is gone: the row is deleted;
- a function error or timeout: retried after AWS's delays (about 1 minute, then 2 minutes) until
  the retry attempts the function allows (default 2) are used up or the event is older than its
  maximum age (default 6 hours), then given up (RetriesExhausted / EventAgeExceeded);
- throttled (no concurrency left): back in the queue without counting as an attempt, with a
  growing delay (1 s doubling to 5 minutes), until the event's maximum age, as AWS keeps a
  throttled event for up to 6 hours.

Every delay is on the one clock, so a manual clock makes the two-minute retry immediate. At most
`concurrency` attempts run at once; the rest wait their turn in due order.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import logging
from collections.abc import Awaitable, Callable

from lambdabox.clock import Cancellable, Clock
from lambdabox.lambda_ import async_store as sql
from lambdabox.lambda_.async_store import AsyncEvent
from lambdabox.store.db import Store

log = logging.getLogger("lambdabox.lambda.async")

#: AWS: "Lambda retries ... with a delay of one minute before the first retry and two minutes
#: between the first and second" (Lambda developer guide, asynchronous invocation)
RETRY_DELAYS = (60.0, 120.0)
#: AWS's defaults for an invocation whose qualifier has no EventInvokeConfig (or leaves one out)
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_AGE = 21600
THROTTLE_FIRST, THROTTLE_MAX = 1.0, 300.0


class Attempt(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a function error or timeout: a retry is due
    THROTTLED = "throttled"  # not run: no concurrency
    GONE = "gone"  # the function (or qualifier) no longer exists


#: run(event) -> how the attempt ended
Run = Callable[[AsyncEvent], Awaitable[Attempt]]
#: limits(event) -> (maximum retry attempts, maximum event age in seconds): the function's
#: EventInvokeConfig (Put/UpdateFunctionEventInvokeConfig), else AWS's defaults
Limits = Callable[[AsyncEvent], tuple[int, float]]


def default_limits(_ev: AsyncEvent) -> tuple[int, float]:
    return DEFAULT_MAX_RETRIES, DEFAULT_MAX_AGE


class AsyncEngine:
    """Accepts events durably and runs them at least once."""

    def __init__(self, store: Store, clock: Clock, *, concurrency: int = 64) -> None:
        self._store = store
        self._clock = clock
        self._concurrency = concurrency
        self._run: Run | None = None
        self._limits: Limits = default_limits
        self._heap: list[tuple[float, int, AsyncEvent]] = []
        self._throttled: dict[int, float] = {}  # event id -> its current throttle backoff
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._timer: Cancellable | None = None
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self, run: Run, limits: Limits = default_limits) -> None:
        """Load what the store holds and start dispatching."""
        self._run, self._limits = run, limits
        for ev in await self._store.read(sql.load_all):
            heapq.heappush(self._heap, (ev.due, ev.id, ev))
        if self._heap:
            log.info("%d asynchronous events to run from the store", len(self._heap))
        self._loop_task = asyncio.get_running_loop().create_task(self._dispatch())

    async def accept(self, ev: AsyncEvent) -> AsyncEvent:
        """Store the event (committed before this returns) and queue it."""
        ev.due = ev.received
        ev.id = await self._store.write(sql.insert(ev))
        heapq.heappush(self._heap, (ev.due, ev.id, ev))
        self._wake.set()
        return ev

    @property
    def backlog(self) -> int:
        """Events waiting (not running)."""
        return len(self._heap)

    @property
    def running(self) -> int:
        """Attempts running now."""
        return len(self._running)

    async def close(self) -> None:
        """Stop dispatching; attempts still running are cancelled (their rows stay: they run again)."""
        if self._timer is not None:
            self._timer.cancel()
        for task in [self._loop_task, *self._running]:
            if task is not None:
                task.cancel()
        for task in [self._loop_task, *self._running]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._running.clear()

    # -- dispatching ----------------------------------------------------------------------------
    async def _dispatch(self) -> None:
        while True:
            now = self._clock.now()
            while self._heap and self._heap[0][0] <= now and len(self._running) < self._concurrency:
                _, _, ev = heapq.heappop(self._heap)
                task = asyncio.get_running_loop().create_task(self._attempt(ev))
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
            log.error("asynchronous attempt failed", exc_info=task.exception())

    async def _attempt(self, ev: AsyncEvent) -> None:
        assert self._run is not None
        max_retries, max_age = self._limits(ev)
        if self._clock.now() - ev.received >= max_age:
            log.info("event %s for %s dropped: EventAgeExceeded", ev.request_id, ev.function_name)
            await self._finish(ev)
            return
        try:
            outcome = await self._run(ev)
        except Exception:  # a bug of ours: retried like a failed attempt, never lost
            log.exception("asynchronous invocation %s raised", ev.request_id)
            outcome = Attempt.FAILED
        now = self._clock.now()
        if outcome in (Attempt.SUCCEEDED, Attempt.GONE):
            await self._finish(ev)
            return
        if outcome is Attempt.THROTTLED:
            backoff = min(self._throttled.get(ev.id, THROTTLE_FIRST / 2) * 2, THROTTLE_MAX)
            self._throttled[ev.id] = backoff
            await self._requeue(ev, ev.attempts, now + backoff)
            return
        attempts = ev.attempts + 1
        if attempts > max_retries:
            log.info("event %s for %s dropped: RetriesExhausted", ev.request_id, ev.function_name)
            await self._finish(ev)
            return
        await self._requeue(ev, attempts, now + RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1])

    async def _finish(self, ev: AsyncEvent) -> None:
        """Done with the event (run, or given up): its row goes."""
        self._throttled.pop(ev.id, None)
        await self._store.write(sql.delete(ev.id))

    async def _requeue(self, ev: AsyncEvent, attempts: int, due: float) -> None:
        await self._store.write(sql.reschedule(ev.id, attempts, due))
        ev.attempts, ev.due = attempts, due
        heapq.heappush(self._heap, (due, ev.id, ev))
