"""The dispatcher of asynchronous invocations (InvocationType Event).

An event is accepted once its row is committed (fsynced) in the store, and only then answered
202; the dispatcher runs it at least once: on start it loads every row left (a `kill -9` loses
nothing that was acknowledged; an attempt cut short runs again, as AWS may run one twice). Each
attempt runs through `run` (the Lambda service's synchronous path, with the event's own request
id on every attempt, as AWS keeps it). What an attempt ends in decides what follows:

- success: the row is deleted, and an OnSuccess destination's record written in the same commit;
- the function is gone: the row is deleted;
- a function error or timeout: retried after AWS's delays (about 1 minute, then 2 minutes) until
  the retry attempts the function allows (default 2) are used up or the event is older than its
  maximum age (default 6 hours), then given up (RetriesExhausted / EventAgeExceeded), its
  OnFailure destination's record and dead-letter message written in the commit that deletes it;
- stopped as a recursive loop's (its lineage holds the function 16 times: recursion.py): not
  run and not retried; given up at once (RetriesExhausted) to its OnFailure destination and
  dead-letter queue, as AWS sends such an event;
- throttled (no concurrency left): back in the queue without counting as an attempt, with a
  growing delay (1 s doubling to 5 minutes), until the event's maximum age, as AWS keeps a
  throttled event for up to 6 hours.

What a settled event owes other services goes to the outbox (outbox.py), which delivers it.
Every delay is on the one clock, so a manual clock makes the two-minute retry immediate. At most
`concurrency` attempts run at once; the rest wait their turn in due order.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lambdabox.clock import Clock
from lambdabox.dispatch import Activity, Dispatcher
from lambdabox.lambda_ import async_store as sql
from lambdabox.lambda_ import outbox_store
from lambdabox.lambda_.async_store import AsyncEvent
from lambdabox.lambda_.invocation_record import (
    EVENT_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    SUCCESS,
    AttemptResponse,
)
from lambdabox.lambda_.metric_hooks import (
    ASYNC_EVENT_AGE,
    ASYNC_EVENTS_DROPPED,
    ASYNC_EVENTS_RECEIVED,
    NO_METRICS,
    LambdaMetrics,
    Subject,
)
from lambdabox.lambda_.outbox import Outbox
from lambdabox.lambda_.outbox_store import OutboxItem
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
    STOPPED = "stopped"  # not run: a recursive loop's (recursion.py), given up at once


@dataclass(frozen=True)
class AttemptResult:
    """How an attempt ended, and the function's answer when it ran."""

    outcome: Attempt
    response: AttemptResponse | None = None


#: run(event) -> how the attempt ended
Run = Callable[[AsyncEvent], Awaitable[AttemptResult]]
#: limits(event) -> (maximum retry attempts, maximum event age in seconds): the function's
#: EventInvokeConfig (Put/UpdateFunctionEventInvokeConfig), else AWS's defaults
Limits = Callable[[AsyncEvent], tuple[int, float]]
#: settle(event, condition, invoke count) -> what the settled event owes other services (its
#: destination's record, its dead-letter message), not yet stored
Settle = Callable[[AsyncEvent, str, int], list[OutboxItem]]


def default_limits(_ev: AsyncEvent) -> tuple[int, float]:
    return DEFAULT_MAX_RETRIES, DEFAULT_MAX_AGE


def _owes_nothing(_ev: AsyncEvent, _condition: str, _count: int) -> list[OutboxItem]:
    return []


class AsyncEngine:
    """Accepts events durably and runs them at least once."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        outbox: Outbox,
        *,
        concurrency: int = 64,
        metrics: LambdaMetrics = NO_METRICS,
    ) -> None:
        """`metrics`: told of each event accepted, its age when an attempt runs, and each one
        dropped (given up, or its function gone)."""
        self._metrics = metrics
        self._store = store
        self._clock = clock
        self._outbox = outbox
        self._run: Run | None = None
        self._limits: Limits = default_limits
        self._settle: Settle = _owes_nothing
        self._throttled: dict[int, float] = {}  # event id -> its current throttle backoff
        # events accepted in this turn of the event loop, stored together by one write
        self._pending: list[tuple[AsyncEvent, asyncio.Future[None]]] = []
        self._storing: set[asyncio.Task[None]] = set()
        self._queue: Dispatcher[AsyncEvent] = Dispatcher(
            clock, self._attempt, concurrency=concurrency, name="lambda-async"
        )

    async def start(
        self,
        run: Run,
        limits: Limits = default_limits,
        settle: Settle = _owes_nothing,
        *,
        paused: bool = False,
    ) -> None:
        """Load what the store holds and start dispatching (`paused`: accept and store events,
        run none)."""
        self._run, self._limits, self._settle = run, limits, settle
        events = await self._store.read(sql.load_all)
        for ev in events:
            self._queue.push(ev, ev.due)
        if events:
            log.info("%d asynchronous events to run from the store", len(events))
        if not paused:
            self._queue.start()

    async def accept(self, ev: AsyncEvent) -> AsyncEvent:
        """Store the event (committed before this returns) and queue it. Events accepted in the
        same turn of the event loop share one write (one transaction of the group commit)."""
        ev.due = ev.received
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((ev, done))
        if len(self._pending) == 1:
            loop.call_soon(self._store_pending)
        await done
        return ev

    def _store_pending(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._store_batch(batch))
        self._storing.add(task)
        task.add_done_callback(self._storing.discard)

    async def _store_batch(self, batch: list[tuple[AsyncEvent, asyncio.Future[None]]]) -> None:
        events = [ev for ev, _ in batch]
        try:
            ids = await self._store.write(sql.insert_all(events))
        except BaseException as exc:  # none of them is stored: each accept raises it
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("store closed"))
            if not isinstance(exc, Exception):
                raise
            return
        received: collections.Counter[Subject] = collections.Counter()
        for (ev, done), event_id in zip(batch, ids, strict=True):
            ev.id = event_id
            received[_subject(ev)] += 1
            self._queue.push(ev, ev.due)  # stored: it runs even if its caller went away
            if not done.done():
                done.set_result(None)
        for subject, n in received.items():
            self._metrics.count(ASYNC_EVENTS_RECEIVED, subject, times=n)

    @property
    def backlog(self) -> int:
        """Events waiting (not running)."""
        return self._queue.waiting

    @property
    def running(self) -> int:
        """Attempts running now."""
        return self._queue.running

    def activity(self) -> Activity:
        """What its dispatcher is doing now (the clock endpoint waits on it)."""
        return self._queue.activity()

    async def close(self) -> None:
        """Stop dispatching; attempts still running are cancelled (their rows stay: they run again).
        Events being stored are stored first."""
        if self._storing:
            await asyncio.gather(*self._storing, return_exceptions=True)
        await self._queue.close()

    # -- one attempt ----------------------------------------------------------------------------
    async def _attempt(self, ev: AsyncEvent) -> None:
        assert self._run is not None
        max_retries, max_age = self._limits(ev)
        if self._clock.now() - ev.received >= max_age:
            await self._give_up(ev, EVENT_AGE_EXCEEDED)
            return
        age_ms = (self._clock.now() - ev.received) * 1000
        try:
            result = await self._run(ev)
        except Exception:  # a bug of ours: retried like a failed attempt, never lost
            log.exception("asynchronous invocation %s raised", ev.request_id)
            result = AttemptResult(Attempt.FAILED)
        now = self._clock.now()
        if result.outcome is Attempt.GONE:
            self._metrics.count(ASYNC_EVENTS_DROPPED, _subject(ev))
            await self._finish(ev, [])
            return
        if result.outcome is not Attempt.THROTTLED:
            self._metrics.count(ASYNC_EVENT_AGE, _subject(ev), age_ms)
        if result.response is not None:
            ev.last_response = result.response
        if result.outcome is Attempt.SUCCEEDED:
            await self._finish(ev, self._settle(ev, SUCCESS, ev.attempts + 1))
            return
        if result.outcome is Attempt.STOPPED:
            await self._give_up(ev, RETRIES_EXHAUSTED)
            return
        if result.outcome is Attempt.THROTTLED:
            backoff = min(self._throttled.get(ev.id, THROTTLE_FIRST / 2) * 2, THROTTLE_MAX)
            self._throttled[ev.id] = backoff
            await self._requeue(ev, ev.attempts, now + backoff)
            return
        attempts = ev.attempts + 1
        if attempts > max_retries:
            ev.attempts = attempts
            await self._give_up(ev, RETRIES_EXHAUSTED)
            return
        await self._requeue(ev, attempts, now + RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1])

    async def _give_up(self, ev: AsyncEvent, condition: str) -> None:
        log.info("event %s for %s dropped: %s", ev.request_id, ev.function_name, condition)
        self._metrics.count(ASYNC_EVENTS_DROPPED, _subject(ev))
        await self._finish(ev, self._settle(ev, condition, ev.attempts))

    async def _finish(self, ev: AsyncEvent, owed: list[OutboxItem]) -> None:
        """Done with the event (run, or given up): its row goes, what it owes comes, in one commit."""
        self._throttled.pop(ev.id, None)
        now = self._clock.now()
        for item in owed:
            item.due = now

        def settle(conn: Any) -> None:
            sql.delete(ev.id)(conn)
            for item in owed:
                item.id = outbox_store.insert(item)(conn)

        await self._store.write(settle)
        self._outbox.add(owed)

    async def _requeue(self, ev: AsyncEvent, attempts: int, due: float) -> None:
        await self._store.write(sql.reschedule(ev.id, attempts, due, ev.last_response))
        ev.attempts, ev.due = attempts, due
        self._queue.push(ev, due)


def _subject(ev: AsyncEvent) -> Subject:
    return Subject(ev.region, ev.account, ev.function_name, ev.qualifier)
