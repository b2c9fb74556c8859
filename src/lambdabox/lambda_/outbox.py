"""Delivers what asynchronous invocations owe other services: destination records and
dead-letter messages, each held in the store (outbox_store.py) until its target took it.

`deliver(item)` (handed in by app.py, routing by the target's service) either delivers, or says
the service is not served by this lambdabox yet (the row stays, parked, and is tried again on the
next start: a record for an EventBridge bus waits for that service), or raises:
a failed delivery (the queue is gone, the function refuses it) is counted through `on_failure`
(Lambda's DestinationDeliveryFailures and DeadLetterErrors metrics) and retried, 1 s doubling to
at most 5 minutes apart, for as long as it takes: a record is never dropped.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Iterable

from lambdabox.clock import Clock
from lambdabox.dispatch import Activity, Dispatcher
from lambdabox.lambda_ import outbox_store as sql
from lambdabox.lambda_.outbox_store import OutboxItem
from lambdabox.store.db import Store

log = logging.getLogger("lambdabox.lambda.outbox")

RETRY_FIRST, RETRY_MAX = 1.0, 300.0


class Delivery(enum.Enum):
    DELIVERED = "delivered"
    PARKED = "parked"  # the target's service is not one this lambdabox serves (yet)


Deliver = Callable[[OutboxItem], Awaitable[Delivery]]
#: on_failure(item, error): a delivery failed (it is retried)
OnFailure = Callable[[OutboxItem, Exception], None]


def _no_failure_hook(item: OutboxItem, error: Exception) -> None:
    return None


class Outbox:
    """Delivers outbox rows at least once, in the order they became due."""

    def __init__(self, store: Store, clock: Clock, *, concurrency: int = 16) -> None:
        self._store = store
        self._clock = clock
        self._deliver: Deliver | None = None
        self._on_failure: OnFailure = _no_failure_hook
        self._queue: Dispatcher[OutboxItem] = Dispatcher(
            clock, self._attempt, concurrency=concurrency, name="lambda-outbox"
        )
        self.parked = 0

    async def start(self, deliver: Deliver, on_failure: OnFailure | None = None) -> None:
        """Load every row the store holds (parked ones too: a service may exist now) and start."""
        self._deliver = deliver
        self._on_failure = on_failure or _no_failure_hook
        items = await self._store.read(sql.load_all)
        if items:
            log.info("%d destination records and dead-letter messages to deliver", len(items))
        self.add(items)
        self._queue.start()

    def add(self, items: Iterable[OutboxItem]) -> None:
        """Queue rows already committed in the store."""
        for item in items:
            self._queue.push(item, item.due)

    @property
    def backlog(self) -> int:
        """Rows waiting for delivery or being delivered (parked ones not counted)."""
        return self._queue.waiting + self._queue.running

    def activity(self) -> Activity:
        """What its dispatcher is doing now (the clock endpoint waits on it)."""
        return self._queue.activity()

    async def close(self) -> None:
        await self._queue.close()

    async def _attempt(self, item: OutboxItem) -> None:
        assert self._deliver is not None
        try:
            outcome = await self._deliver(item)
        except Exception as exc:  # a failed delivery: counted, retried, never dropped
            self._on_failure(item, exc)
            delay = min(RETRY_FIRST * 2**item.attempts, RETRY_MAX)
            item.attempts += 1
            item.due = self._clock.now() + delay
            log.warning(
                "delivery of a %s of %s to %s failed (attempt %d, next in %.0f s): %s",
                item.kind, item.function_arn, item.target_arn, item.attempts, delay, exc,
            )  # fmt: skip
            await self._store.write(sql.reschedule(item.id, item.attempts, item.due))
            self._queue.push(item, item.due)
            return
        if outcome is Delivery.PARKED:
            self.parked += 1
            log.info(
                "%s of %s for %s kept: lambdabox does not serve %s yet",
                item.kind, item.function_arn, item.target_arn, item.service,
            )  # fmt: skip
            return
        await self._store.write(sql.delete(item.id))
