"""How many requests each API key made under each usage plan: per UTC day, durable in the store,
with UpdateUsage's changes of a quota period's remaining requests.

The data plane counts a request in memory at once (the quota check of the next request sees it)
and the counts reach the store in batches: one write carries every request counted while the
previous write was in flight. Those writes skip the fsync (`sync=False`, as invocation log lines
do): they are in SQLite's WAL when committed, so a crash or `kill -9` of the server loses at
most the requests of the write in flight, and a restart never resets a key's usage. A request
per fsync would cap a key's rate at the disk's; usage is metering, not acknowledged customer data.
`close()` writes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from lambdabox.gateway import usage_store as sql
from lambdabox.store.db import Store

log = logging.getLogger(__name__)


class Ledger:
    """Requests counted per (plan, key, day), and the quota adjustments per (plan, key, period)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        #: requests of (plan, key) in the period starting on a day: (plan, key, period start) -> n
        self._periods: dict[tuple[str, str, str], int] = {}
        self._adjustments: dict[tuple[str, str, str], int] = {}
        self._pending: dict[tuple[str, str, str], int] = {}
        self._flushing: asyncio.Task[None] | None = None

    async def used(self, plan_id: str, key_id: str, start: dt.date, end: dt.date) -> int:
        """Requests of the key in the quota period [start, end) (counted ones included)."""
        slot = (plan_id, key_id, start.isoformat())
        if slot not in self._periods:
            await self.flush()  # (counts of this period not in memory any more are in the store)
            last = (end - dt.timedelta(days=1)).isoformat()
            stored = await self._store.read(sql.usage(plan_id, start.isoformat(), last))
            if slot not in self._periods:  # (another request may have read it meanwhile)
                if len(self._periods) > 100_000:
                    self._periods.clear()
                self._periods[slot] = sum(n for (k, _), n in stored.items() if k == key_id)
        return self._periods[slot]

    def count(self, plan_id: str, key_id: str, period_start: dt.date, day: dt.date) -> None:
        """Count one request (after `used` read its period); it is stored with the next batch."""
        slot = (plan_id, key_id, period_start.isoformat())
        self._periods[slot] = self._periods.get(slot, 0) + 1
        day_slot = (plan_id, key_id, day.isoformat())
        self._pending[day_slot] = self._pending.get(day_slot, 0) + 1
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                await self._store.write(sql.count(batch), sync=False)
            except Exception:
                log.exception("storing API key usage failed")
                for slot, n in batch.items():  # kept for the next write
                    self._pending[slot] = self._pending.get(slot, 0) + n
                return

    async def flush(self) -> None:
        """Store every counted request (GetUsage reads the store)."""
        while self._flushing is not None and not self._flushing.done():
            await asyncio.shield(self._flushing)
        if self._pending:
            batch, self._pending = self._pending, {}
            await self._store.write(sql.count(batch), sync=False)

    async def adjustment(self, plan_id: str, key_id: str, period_start: dt.date) -> int:
        slot = (plan_id, key_id, period_start.isoformat())
        if slot not in self._adjustments:
            stored = await self._store.read(sql.adjustments(plan_id))
            for (k, period), n in stored.items():
                self._adjustments.setdefault((plan_id, k, period), n)
            self._adjustments.setdefault(slot, 0)
        return self._adjustments[slot]

    async def adjustments(self, plan_id: str) -> dict[tuple[str, str], int]:
        """(key, period start) -> requests UpdateUsage added to that period's quota."""
        return await self._store.read(sql.adjustments(plan_id))

    async def usage(self, plan_id: str, first: dt.date, last: dt.date) -> dict[tuple[str, str], int]:
        await self.flush()
        return await self._store.read(sql.usage(plan_id, first.isoformat(), last.isoformat()))

    async def set_adjustment(self, plan_id: str, key_id: str, period_start: dt.date, adjustment: int) -> None:
        await self._store.write(sql.adjust(plan_id, key_id, period_start.isoformat(), adjustment))
        self._adjustments[(plan_id, key_id, period_start.isoformat())] = adjustment

    def forget(self, plan_id: str, key_id: str | None = None) -> None:
        """Drop what is known of a plan (or one of its keys) that is gone from the store."""
        for table in (self._periods, self._adjustments, self._pending):
            for slot in [s for s in table if s[0] == plan_id and (key_id is None or s[1] == key_id)]:
                del table[slot]

    def forget_key(self, key_id: str) -> None:
        for table in (self._periods, self._adjustments, self._pending):
            for slot in [s for s in table if s[1] == key_id]:
                del table[slot]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.flush()
