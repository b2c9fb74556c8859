"""The batched log writer the Lambda side delivers function output through.

`append` only buffers, on the event loop thread; one background task writes whatever has
accumulated in a single store transaction (group commit), so a handler printing megabytes costs a
few large inserts rather than one commit per line. `flush` waits until everything appended so far
is durable, `close` drains and stops the task. Groups and streams are created on first use and
remembered, so a warm function pays nothing for them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from lambdabox.clock import Clock
from lambdabox.logs import store as sql
from lambdabox.logs.models import MAX_MESSAGE_BYTES, truncate_message
from lambdabox.store.db import Store

log = logging.getLogger(__name__)

#: events per store transaction when the writer flushes a large backlog
_FLUSH_CHUNK = 50_000
#: how long the writer waits after being woken, to batch more events into one commit (not a semantic delay)
#: characters of log text allowed to wait for the disk before environments' output is paused
MAX_BACKLOG = 16 * 1024 * 1024
_COALESCE_SECONDS = 0.02
_FAST_LEN = MAX_MESSAGE_BYTES // 4  # a str this long or shorter cannot exceed the byte limit

Batch = dict[sql.StreamKey, list[tuple[int, str]]]


class LogWriter:
    """Buffers (timestamp ms, message) events per stream and commits them in the background."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        # all state below belongs to the event-loop thread
        self._buf: Batch = {}
        self._appended = 0  # events handed to append() so far
        self._buffered = 0  # characters appended and not yet committed (backpressure)
        self._room: asyncio.Event | None = None  # set while the backlog is below the limit
        self._durable = 0  # of those, how many are committed (or were dropped)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._known: set[sql.StreamKey] = set()  # groups ("" stream) and streams that exist

    def _now_ms(self) -> int:
        return int(self._clock.now() * 1000)

    async def ensure_group(self, region: str, account: str, group: str) -> None:
        """Create the log group if it does not exist (idempotent, cached)."""
        key = (region, account, group, "")
        if key in self._known:
            return
        now = self._now_ms()
        await self._store.write(lambda c: sql.ensure_group_row(c, region, account, group, now), sync=False)
        self._remember(key)

    async def ensure_stream(self, region: str, account: str, group: str, stream: str) -> None:
        """Create the log group and stream if they do not exist (idempotent, cached)."""
        key = (region, account, group, stream)
        if key in self._known:
            return
        now = self._now_ms()

        def fn(c: Any) -> None:
            gid = sql.ensure_group_row(c, region, account, group, now)
            sql.ensure_stream_row(c, gid, stream, now)

        await self._store.write(fn, sync=False)  # made by the platform, not promised to a client
        self._remember((region, account, group, ""))
        self._remember(key)

    def _remember(self, key: sql.StreamKey) -> None:
        if len(self._known) > 100_000:
            self._known.clear()
        self._known.add(key)

    def forget(self, region: str, account: str, group: str, stream: str | None) -> None:
        """Drop cache entries and unflushed events of a deleted group (stream=None) or stream."""
        if stream is None:
            self._known = {k for k in self._known if k[:3] != (region, account, group)}
            for key in [k for k in self._buf if k[:3] == (region, account, group)]:
                del self._buf[key]
        else:
            self._known.discard((region, account, group, stream))
            self._buf.pop((region, account, group, stream), None)

    def append(
        self, region: str, account: str, group: str, stream: str, events: list[tuple[int, str]]
    ) -> None:
        """Queue events (timestamp ms, message) for the stream; never blocks, never waits for disk.

        Must be called on the event loop thread. Messages longer than CloudWatch's event limit are
        cut to 256 KB minus the 26-byte event overhead. Missing groups and streams are created.
        """
        if self._closing:
            raise RuntimeError("the logs service is closed")
        if not events:
            return
        key = (region, account, group, stream)
        buf = self._buf.get(key)
        if buf is None:
            buf = self._buf[key] = []
        buf.extend(events)
        for i in range(len(buf) - len(events), len(buf)):
            if len(buf[i][1]) > _FAST_LEN:
                ts, message = buf[i]
                buf[i] = (ts, truncate_message(message))
        self._appended += len(events)
        self._buffered += sum(len(message) for _, message in events)
        self._kick()

    @property
    def congested(self) -> bool:
        """True while more than MAX_BACKLOG characters wait for the disk: producers should pause."""
        return self._buffered > MAX_BACKLOG

    async def wait_for_room(self) -> None:
        """Wait until the backlog is down to half the limit."""
        while self._buffered > MAX_BACKLOG // 2:
            if self._room is None or self._room.is_set():
                self._room = asyncio.Event()
            self._kick()
            await self._room.wait()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_loop(), name="logs-writer")
        self._wake.set()

    async def flush(self) -> None:
        """Wait until every event appended so far is durable."""
        target = self._appended
        if self._durable >= target:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, fut))
        self._kick()
        await fut

    async def close(self) -> None:
        """Flush what is buffered and stop the background writer; `append` is refused afterwards."""
        self._closing = True
        if self._task is not None and not self._task.done():
            self._wake.set()
            await self._task
        self._task = None

    async def _flush_loop(self) -> None:
        while True:
            if not self._buf:
                self._durable = self._appended  # everything was written (or dropped with its group)
                self._buffered = 0
                if self._room is not None:
                    self._room.set()
                self._release_waiters()
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                if not self._closing:
                    # a short window lets the events of many concurrent invocations share one commit
                    await asyncio.sleep(_COALESCE_SECONDS)
                continue
            batch, self._buf = self._buf, {}
            target = self._appended
            now = self._now_ms()
            for chunk in _chunks(batch, _FLUSH_CHUNK):
                try:
                    # invocation log lines: crash-safe without an fsync each (see Store.write)
                    await self._store.write(
                        functools.partial(sql.write_appended, batch=chunk, now_ms=now), sync=False
                    )
                except Exception:
                    n = sum(len(v) for v in chunk.values())
                    log.exception("could not store %d log events; they are dropped", n)
            self._durable = target
            self._buffered = max(
                0, self._buffered - sum(len(m) for events in batch.values() for _, m in events)
            )
            if self._room is not None and self._buffered <= MAX_BACKLOG // 2:
                self._room.set()
            self._release_waiters()

    def _release_waiters(self) -> None:
        if not self._waiters:
            return
        still: list[tuple[int, asyncio.Future[None]]] = []
        for target, fut in self._waiters:
            if target <= self._durable:
                if not fut.done():
                    fut.set_result(None)
            else:
                still.append((target, fut))
        self._waiters = still


def _chunks(batch: Batch, size: int) -> list[Batch]:
    """Split a writer batch into pieces of at most `size` events (one store transaction each)."""
    out: list[Batch] = []
    cur: Batch = {}
    n = 0
    for key, events in batch.items():
        for i in range(0, len(events), size):
            part = events[i : i + size]
            if n + len(part) > size and cur:
                out.append(cur)
                cur, n = {}, 0
            if key in cur:
                cur[key].extend(part)
            else:
                cur[key] = part
            n += len(part)
    if cur:
        out.append(cur)
    return out
