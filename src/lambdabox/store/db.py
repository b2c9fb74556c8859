"""The durable store: SQLite in WAL mode, one writer thread, group commit.

Every write is a function `fn(conn) -> T` handed to `Store.write`. The writer thread takes all
writes queued at that moment, runs each inside its own savepoint of one transaction, commits
once (one fsync for the whole group) and only then resolves the callers' futures: a write that
returned is durable. Reads run on a separate connection in a reader thread and see committed
data only. Services declare their schema as numbered migrations applied by `migrate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

_STOP = object()


class Store:
    """SQLite-backed durable store with a single group-committing writer."""

    def __init__(self, path: Path, *, sync: str = "FULL") -> None:
        self.path = path
        self._sync = sync if sync in ("FULL", "NORMAL", "OFF", "EXTRA") else "FULL"
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._wconn: sqlite3.Connection | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-read")
        self._rlocal = threading.local()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._sync}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.row_factory = sqlite3.Row
        return conn

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wconn = self._connect()
        self._wconn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._writer.start()

    def migrate(self, component: str, steps: Sequence[str]) -> None:
        """Apply the not-yet-applied schema steps of one component (synchronously, at start-up)."""
        conn = self._wconn
        assert conn is not None, "open() first"
        row = conn.execute("SELECT version FROM schema_migrations WHERE component=?", (component,)).fetchone()
        have = row[0] if row else 0
        for version, sql in enumerate(steps, start=1):
            if version <= have:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _split_sql(sql):
                    conn.execute(stmt)
                conn.execute(
                    "INSERT INTO schema_migrations(component, version) VALUES(?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                    (component, version),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Finish queued writes, then close both connections."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join()
        self._reader.shutdown(wait=True)
        if self._wconn is not None:
            self._wconn.close()

    # -- writes ----------------------------------------------------------------------------
    async def write(self, fn: Callable[[sqlite3.Connection], T], *, sync: bool = True) -> T:
        """Run `fn` in the next group commit; returns once its transaction is committed.

        With `sync` (the default: everything a client is told succeeded) the commit is fsynced at the
        configured level and survives power loss. `sync=False` is for high-volume data nobody was
        promised (invocation log lines): committed to the WAL, so it survives a crash or kill -9 of
        the process, and on disk at the next synced commit or checkpoint; it skips the fsync, which
        on some virtual disks stalls the whole machine for milliseconds.
        """
        if self._closed:
            raise RuntimeError("store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, loop, fut, sync))
        return await fut

    def write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Blocking variant for threads that are not the event loop (and start-up code)."""
        done = threading.Event()
        box: dict[str, Any] = {}

        def settle(ok: bool, value: Any) -> None:
            box["ok"], box["value"] = ok, value
            done.set()

        self._queue.put((fn, None, settle, True))
        done.wait()
        if box["ok"]:
            return box["value"]  # type: ignore[no-any-return]
        raise box["value"]

    def _write_loop(self) -> None:
        conn = self._wconn
        assert conn is not None
        current_sync = self._sync
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            results: list[tuple[bool, Any]] = []
            want = self._sync if any(item[3] for item in batch) else "NORMAL"
            try:
                if want != current_sync:
                    conn.execute(f"PRAGMA synchronous={want}")
                    current_sync = want
                conn.execute("BEGIN IMMEDIATE")
                for fn, _, _, _ in batch:
                    conn.execute("SAVEPOINT w")
                    try:
                        results.append((True, fn(conn)))
                        conn.execute("RELEASE w")
                    except Exception as exc:
                        conn.execute("ROLLBACK TO w")
                        conn.execute("RELEASE w")
                        results.append((False, exc))
                conn.execute("COMMIT")
            except Exception as exc:  # the commit itself failed: nothing in the group is durable
                log.exception("store commit failed")
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                results = [(False, exc)] * len(batch)
            # one wake-up per event loop for the whole group, not one per write
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, bool, Any]]] = {}
            for (_, loop, fut, _), (ok, value) in zip(batch, results, strict=True):
                if loop is None:
                    fut(ok, value)
                else:
                    by_loop.setdefault(loop, []).append((fut, ok, value))
            for loop, settled in by_loop.items():
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(_settle_all, settled)
            if stop:
                return

    # -- reads -----------------------------------------------------------------------------
    def _rconn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._rlocal, "conn", None)
        if conn is None:
            conn = self._connect()
            self._rlocal.conn = conn
        return conn

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the reader connection, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, lambda: fn(self._rconn()))

    def read_inline(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the calling thread's own reader connection, at once: only for a lookup of
        a row by its key (microseconds, WAL readers never wait for the writer), where a hop to
        the reader thread would cost more than the read (a queue per SQS request)."""
        return fn(self._rconn())

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Blocking read (start-up code, tests)."""
        return self._reader.submit(lambda: fn(self._rconn())).result()


def _settle_all(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in settled:
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (our schemas contain no ';' inside literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]
