"""The retention sweep: the background task that deletes log events past their group's retention.

CloudWatch Logs deletes the events of a group with a retention policy once they are older than
`retentionInDays` (reads stop returning them at once; `LogsService` already filters them out). This
engine wakes every `interval` seconds of the injected clock and calls the `expire` callable
`app.py` hands it (`LogsService.expire`), so the manual clock expires events in tests without
waiting. Nothing is kept in memory: after a restart the first sweep catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from lambdabox.clock import Clock

log = logging.getLogger(__name__)

#: seconds between two sweeps (CloudWatch itself takes up to 72 hours)
INTERVAL = 60.0


class RetentionSweep:
    """Calls `expire()` every `interval` seconds of `clock` until closed."""

    def __init__(
        self, expire: Callable[[], Awaitable[int]], clock: Clock, *, interval: float = INTERVAL
    ) -> None:
        self._expire = expire
        self._clock = clock
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sweeping (on the running event loop); the first sweep runs at once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="logs-retention")

    async def close(self) -> None:
        """Stop sweeping; a sweep in progress is cancelled between its transactions."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                deleted = await self._expire()
            except Exception:  # never let the sweep die: the next one tries again
                log.exception("expiring log events failed")
            else:
                if deleted:
                    log.debug("expired %d log events past their group's retention", deleted)
            await self._clock.sleep(self._interval)
