"""The recorder: aggregates values per metric and minute in memory and writes them to the store.

A value is added to its minute's aggregate (SampleCount, Sum, Minimum, Maximum) at once, the
minute read from the injected clock (a manual clock's time is respected); gauges are sampled by
the callbacks given to `on_flush`, run before each flush. What was added is
written every `FLUSH_INTERVAL` seconds of real time (an I/O batch, not an AWS-visible delay),
before every query and on close, with `sync=False`: platform data nobody was promised, in the WAL
at once, on disk with the next synced commit. Lifetime totals of the namespaces named in
`counted` are kept in memory too (loaded from the store on start, written with the minutes) for
the Prometheus endpoint.

Minutes older than `RETENTION` (15 days, as CloudWatch keeps one-minute data) on the clock are
dropped at start and by a flush once an hour of the clock has passed since the last drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from lambdabox.clock import Clock
from lambdabox.metrics import store as sql
from lambdabox.metrics.models import MINUTE, Aggregate, Dimensions, MetricKey
from lambdabox.store.db import Store

log = logging.getLogger("lambdabox.metrics")

FLUSH_INTERVAL = 2.0
#: how long a minute is kept, and how often (clock time) older ones are dropped
RETENTION, PRUNE_EVERY = 15 * 86400, 3600


class Recorder:
    """Per-minute aggregates of every metric, durable within a few seconds."""

    def __init__(self, store: Store, clock: Clock, *, counted: Iterable[str] = ()) -> None:
        self._store = store
        self._clock = clock
        self._pending: dict[tuple[MetricKey, int], Aggregate] = {}
        self._counted = frozenset(counted)
        self._totals: dict[MetricKey, Aggregate] = {}
        self._pending_totals: dict[MetricKey, Aggregate] = {}
        self._pruned_at: float | None = None
        self._samplers: list[Callable[[float], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the lifetime totals and start the flusher."""
        for namespace in self._counted:
            for key, agg in await self._store.read(sql.totals(namespace)):
                self._totals[key] = agg
        await self._prune()
        self._task = asyncio.create_task(self._flush_loop(), name="metrics-flush")

    def record(
        self,
        region: str,
        account: str,
        namespace: str,
        name: str,
        dims: Dimensions,
        value: float,
        unit: str = "None",
        at: float | None = None,
    ) -> None:
        """Add one value to the metric's minute (`at`, epoch seconds, default now)."""
        self.add(MetricKey(region, account, namespace, name, dims), Aggregate.of(value, unit), at)

    def minute(self, at: float | None = None) -> int:
        """The minute (its first second) of `at`, default now."""
        return int((self._clock.now() if at is None else at) // MINUTE * MINUTE)

    def add(self, key: MetricKey, agg: Aggregate, at: float | None = None) -> None:
        """Add an aggregate (a statistic set, or one value) to the metric's minute."""
        minute = self.minute(at)
        slot = self._pending.get((key, minute))
        if slot is None:
            self._pending[(key, minute)] = agg.copy()
        else:
            slot.add(agg)
        if key.namespace in self._counted:
            for totals in (self._totals, self._pending_totals):
                total = totals.get(key)
                if total is None:
                    totals[key] = agg.copy()
                else:
                    total.add(agg)

    def on_flush(self, sampler: Callable[[float], None]) -> None:
        """Have `sampler(now)` record what it samples (a gauge) before each flush."""
        self._samplers.append(sampler)

    def totals(self, namespace: str) -> dict[MetricKey, Aggregate]:
        """Every metric of a counted namespace with its lifetime aggregate."""
        return {k: v for k, v in self._totals.items() if k.namespace == namespace}

    async def points(
        self, region: str, account: str, namespace: str, name: str, start: float, end: float
    ) -> list[sql.Point]:
        """Every minute of a metric name (all dimension sets) from `start` to before `end`."""
        await self.flush()
        first = int(start // MINUTE * MINUTE)
        return await self._store.read(sql.points(region, account, namespace, name, first, int(end)))

    async def metrics(self, region: str, account: str, since: float = 0.0) -> list[MetricKey]:
        """Every metric of an account with data at or after `since`."""
        await self.flush()
        return await self._store.read(sql.metrics(region, account, int(since // MINUTE * MINUTE)))

    async def flush(self) -> None:
        """Write what was added so far (and drop old minutes when it is time)."""
        async with self._lock:
            now = self._clock.now()
            for sample in self._samplers:
                sample(now)
            if self._pending or self._pending_totals:
                batch, self._pending = self._pending, {}
                totals, self._pending_totals = self._pending_totals, {}
                try:
                    await self._store.write(
                        sql.merge(
                            ((key, minute, agg) for (key, minute), agg in batch.items()), totals.items()
                        ),
                        sync=False,
                    )
                except Exception:
                    for (key, minute), agg in batch.items():  # kept for the next flush
                        self._pending.setdefault((key, minute), Aggregate.empty()).add(agg)
                    for key, agg in totals.items():
                        self._pending_totals.setdefault(key, Aggregate.empty()).add(agg)
                    raise
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                await self._prune()

    async def _prune(self) -> None:
        now = self._clock.now()
        dropped = await self._store.write(sql.prune(int(now - RETENTION)), sync=False)
        self._pruned_at = now
        if dropped:
            log.info("dropped %d metric minutes older than %d days", dropped, RETENTION // 86400)

    async def close(self) -> None:
        """Stop the flusher and write what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)  # real time: how much a crash may lose
            try:
                await self.flush()
            except Exception:
                log.exception("writing metrics failed (kept for the next try)")
