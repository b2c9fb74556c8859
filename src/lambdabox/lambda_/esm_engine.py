"""The event source mapping engine: pollers that read SQS queues and invoke functions with
batches of their messages, as Lambda's event source mappings do.

Each enabled mapping has its pollers, as many as `esm_scaling.Scaler` says once a second of the
clock (five to start with, more while the queue has a backlog, back down when it is empty, never
more than ScalingConfig's MaximumConcurrency or the function's reserved concurrency), each of which:

1. long-polls the queue (20 s) for up to ten messages, then, with a batching window, keeps
   receiving until the batch has BatchSize messages, the window has passed on the clock, or the
   event would pass the 6 MB invocation payload limit (messages beyond it are made visible again);
2. deletes the messages the mapping's filters let through none of (as Lambda does for SQS);
3. invokes the function synchronously with the rest, in the mapping's account;
4. deletes the batch when the invocation succeeds (with ReportBatchItemFailures, all but the
   items the answer names; an answer that breaks AWS's rules fails the batch), and leaves it to
   come back after the queue's visibility timeout when it fails (function error, timeout,
   throttle), where the queue's redrive policy takes over.

From a FIFO queue, SQS hands a poller each message group's messages in order and none of a group
while one is in flight, so concurrent pollers never reorder a group; a partial batch response
keeps, of each group, the first failed item and everything after it (even items the answer did
not name), so they come back in order after the visibility timeout.

With `MetricsConfig` `EventCount` a mapping counts, per batch, Lambda's event source mapping metrics
(AWS/Lambda, dimension `EventSourceMappingUUID`): PolledEventCount (received), FilteredOutEventCount
(let through by no filter), InvokedEventCount (sent to the function), FailedInvokeEventCount (in
an invocation that failed or could not run, or items a partial batch response names) and
DeletedEventCount (deleted after the invocation succeeded).

Messages a poller holds when it is stopped (an update, a delete, shutdown, `kill -9`) come back
after their visibility timeout: delivery is at least once, as on AWS. Mappings are read from the
store on start; what the Lambda API changes it hands over with `apply` and `remove`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lambdabox.aws.errors import ServiceError
from lambdabox.clock import Clock, sleep_either
from lambdabox.lambda_ import esm_sqs, esm_store
from lambdabox.lambda_.esm_scaling import Scaler
from lambdabox.lambda_.esm_sqs import QueueMessage, QueueSource
from lambdabox.lambda_.esm_store import Mapping
from lambdabox.patterns import Pattern, compile_pattern
from lambdabox.store.db import Store

log = logging.getLogger(__name__)

#: how long one receive waits for a first message (SQS's longest long poll)
LONG_POLL = 20.0
#: the synchronous invocation payload limit a batch must fit in
MAX_EVENT = 6_291_456
#: how long a poller waits after an invocation that could not run (throttled, no function)
BACKOFF = 1.0
#: the longest of those waits
MAX_BACKOFF = 30.0


@dataclass(frozen=True, slots=True)
class Invoked:
    """How a batch's invocation answered: the function's answer, and whether it failed."""

    payload: bytes
    function_error: bool


#: invokes the mapping's function with an event and the X-Ray trace header its messages carry
#: (raises ServiceError when it cannot run)
InvokeBatch = Callable[[Mapping, bytes, str | None], Awaitable[Invoked]]
#: the reserved concurrency of the mapping's function (None: it has none)
ReservedOf = Callable[[Mapping], int | None]
#: adds `n` to one of the mapping's event count metrics (PolledEventCount, …)
CountEvents = Callable[[Mapping, str, int], None]


def _no_counts(m: Mapping, metric: str, n: int) -> None:
    return None


@dataclass
class _Group:
    """One enabled mapping's pollers and what scales them."""

    mapping: Mapping
    patterns: list[Pattern]
    scaler: Scaler
    pollers: list[asyncio.Task[None]] = field(default_factory=list)
    controller: asyncio.Task[None] | None = None


class EventSourceEngine:
    """Runs every enabled mapping's pollers."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        source: QueueSource,
        reserved: ReservedOf = lambda m: None,
        count: CountEvents = _no_counts,
    ) -> None:
        self._store = store
        self._clock = clock
        self.source = source
        self._reserved = reserved
        self._count = count
        self._invoke: InvokeBatch | None = None
        self._groups: dict[str, _Group] = {}
        #: pollers in their first receive of a batch (holding no message: a scale-down stops them)
        self._waiting: set[asyncio.Task[None]] = set()
        #: every mapping, by UUID (the Lambda API's view: read and changed through `apply`/`remove`)
        self.mappings: dict[str, Mapping] = {}
        #: batches being invoked now (for tests and health: 0 when the engine is idle)
        self.in_flight = 0
        #: pollers invoking a batch now: a change of their mapping lets them finish it
        self._busy: set[asyncio.Task[None]] = set()
        #: pollers of a changed or deleted mapping that stop once their batch is settled
        self._retired: set[asyncio.Task[None]] = set()

    async def start(self, invoke: InvokeBatch) -> list[Mapping]:
        """Start the pollers of the stored mappings; returns every stored mapping."""
        self._invoke = invoke
        mappings = await self._store.read(esm_store.load_all)
        for m in mappings:
            self.apply(m)
        return mappings

    def apply(self, m: Mapping) -> None:
        """Keep the mapping as it is now configured and (re)start its pollers (none when disabled)."""
        self.remove(m.uuid)
        self.mappings[m.uuid] = m
        if not m.enabled or self._invoke is None:
            return
        g = _Group(m, [compile_pattern(p) for p in m.filters], Scaler(m.max_concurrency))
        self._groups[m.uuid] = g
        self._resize(g, g.scaler.start(self._reserved(m)))
        g.controller = asyncio.get_running_loop().create_task(self._scale(g), name=f"esm-{m.uuid}-scaler")

    def remove(self, uuid: str) -> None:
        """Forget a mapping and stop its pollers: a waiting one at once, one invoking a batch once
        the batch is settled (so a change never cuts an invocation short)."""
        self.mappings.pop(uuid, None)
        g = self._groups.pop(uuid, None)
        if g is None:
            return
        if g.controller is not None:
            g.controller.cancel()
        for task in g.pollers:
            self._retire(task, at_once=task not in self._busy)
        g.pollers.clear()

    def _retire(self, task: asyncio.Task[None], *, at_once: bool) -> None:
        if at_once:
            task.cancel()
        else:
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)

    def _resize(self, g: _Group, count: int) -> None:
        """Run `count` pollers for the mapping: new ones start, extra ones stop (first those
        waiting for a batch, at once; then the others once their batch is settled)."""
        g.pollers = [t for t in g.pollers if not t.done()]
        while len(g.pollers) < count:
            i = len(g.pollers)
            g.pollers.append(
                asyncio.get_running_loop().create_task(self._poll(g), name=f"esm-{g.mapping.uuid}-{i}")
            )
        extra = len(g.pollers) - count
        if extra <= 0:
            return
        order = sorted(g.pollers, key=lambda t: t not in self._waiting)
        for task in order[:extra]:
            g.pollers.remove(task)
            self._retire(task, at_once=task in self._waiting)

    async def _scale(self, g: _Group) -> None:
        """Once a second of the clock: as many pollers as the scaler says."""
        while True:
            await self._clock.sleep(1.0)
            try:
                waiting = sum(1 for t in g.pollers if t in self._waiting)
                self._resize(g, g.scaler.tick(self._reserved(g.mapping), waiting))
            except Exception:  # a bug: keep the mapping polling as it is
                log.exception("event source mapping %s: scaling failed", g.mapping.uuid)

    async def close(self) -> None:
        tasks = list(self._retired)
        for g in self._groups.values():
            tasks.extend(g.pollers)
            if g.controller is not None:
                tasks.append(g.controller)
        self._groups.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one poller ------------------------------------------------------------------------------
    async def _poll(self, g: _Group) -> None:
        m, patterns = g.mapping, g.patterns
        backoff = 0.0
        me = asyncio.current_task()
        while me not in self._retired:
            try:
                if backoff:
                    await sleep_either(self._clock, backoff)
                batch = await self._collect(m, g.scaler)
                backoff = (
                    0.0
                    if await self._run(m, patterns, batch)
                    else min(max(backoff * 2, BACKOFF), MAX_BACKOFF)
                )
            except asyncio.CancelledError:
                raise
            except LookupError:  # the queue is gone: look again later
                backoff = MAX_BACKOFF
            except Exception:
                log.exception("event source mapping %s: poller failed", m.uuid)
                backoff = min(max(backoff * 2, BACKOFF), MAX_BACKOFF)

    async def _collect(self, m: Mapping, scaler: Scaler) -> list[QueueMessage]:
        me = asyncio.current_task()
        if me is not None:
            self._waiting.add(me)
        try:
            got = await self.source.receive(m.source_arn, min(10, m.batch_size), LONG_POLL)
        finally:
            if me is not None:
                self._waiting.discard(me)
        scaler.received(len(got), len(got) >= min(10, m.batch_size))
        if not got or m.window <= 0:
            return got
        deadline = self._clock.monotonic() + m.window
        size = sum(len(x.body) for x in got)
        while len(got) < m.batch_size and size < MAX_EVENT:
            left = deadline - self._clock.monotonic()
            if left <= 0:
                break
            more = await self.source.receive(
                m.source_arn, min(10, m.batch_size - len(got)), min(left, LONG_POLL)
            )
            got.extend(more)
            size += sum(len(x.body) for x in more)
        return got

    async def _run(self, m: Mapping, patterns: list[Pattern], batch: list[QueueMessage]) -> bool:
        """Filter, invoke and settle one batch; False when the invocation could not run."""
        if not batch:
            return True

        def count(metric: str, n: int) -> None:
            if n and "EventCount" in m.metrics:
                self._count(m, metric, n)

        count("PolledEventCount", len(batch))
        records: list[dict[str, object]] = []
        kept: list[QueueMessage] = []
        dropped: list[str] = []
        over: list[str] = []
        size = len(b'{"Records":[]}')
        for msg in batch:
            rec = esm_sqs.record(msg, m.source_arn, m.region)
            if not esm_sqs.passes(rec, patterns):
                dropped.append(msg.receipt_handle)
                continue
            grown = len(json.dumps(rec, separators=(",", ":")).encode()) + 1
            if records and size + grown > MAX_EVENT:
                over.append(msg.receipt_handle)
                continue
            size += grown
            records.append(rec)
            kept.append(msg)
        if dropped:
            await self.source.delete(m.source_arn, dropped)
            count("FilteredOutEventCount", len(dropped))
        if over:
            await self.source.release(m.source_arn, over)
        if not records:
            return True
        assert self._invoke is not None
        self.in_flight += 1
        task = asyncio.current_task()
        if task is not None:
            self._busy.add(task)
        try:
            count("InvokedEventCount", len(records))
            try:
                out = await self._invoke(m, esm_sqs.event(records), esm_sqs.trace_header(kept))
            except ServiceError as exc:
                log.info("event source mapping %s: invocation refused: %s %s", m.uuid, exc.code, exc.message)
                count("FailedInvokeEventCount", len(records))
                return False
            if out.function_error:
                count("FailedInvokeEventCount", len(records))
                return True  # the batch comes back after the visibility timeout
            done = [x.receipt_handle for x in kept]
            if m.reports_item_failures:
                failed = esm_sqs.failed_items(out.payload, [x.message_id for x in kept])
                if failed is None:
                    count("FailedInvokeEventCount", len(records))
                    return True  # a malformed answer fails the whole batch
                done = [
                    x.receipt_handle for x in esm_sqs.settled(kept, failed, m.source_arn.endswith(".fifo"))
                ]
                count("FailedInvokeEventCount", len(kept) - len(done))
            if done:
                await self.source.delete(m.source_arn, done)
                count("DeletedEventCount", len(done))
            return True
        finally:
            self.in_flight -= 1
            if task is not None:
                self._busy.discard(task)

    @property
    def pollers(self) -> int:
        """How many pollers run (for health and tests)."""
        return sum(len(g.pollers) for g in self._groups.values())

    def pollers_of(self, uuid: str) -> int:
        """How many pollers the mapping runs now (for tests)."""
        g = self._groups.get(uuid)
        return 0 if g is None else len(g.pollers)
