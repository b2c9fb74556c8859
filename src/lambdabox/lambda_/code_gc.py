"""Reclaiming function code: a stored zip and its unpacked tree go once nothing uses them.

Code is stored by content (`code.py`), so one key may serve several functions, of any region and
account. A key is in use while

- a function row names it (the store is the truth: `lambda_.store.code_keys`), or
- something holds it in memory: an operation between saving code and committing the row that
  names it (`holding()`), an invocation on its way to an environment, a running environment
  (which may still read its `/var/task`) — the invoker's `hold`/`release`.

`collect(keys)` removes the keys among `keys` that are in use by neither; a key that is only held
is remembered and collected when its last hold is released. `collect()` without keys sweeps the
whole code directory, and removes the leftovers of interrupted writes and removals of keys still
in use too: the server runs it at start, so what a crash left between two steps (a zip saved for
a function whose row was never committed, a row deleted before its code was, half a tree being
unpacked or removed) never outlives the next start.

Holds are counted on the event loop thread. Deciding to remove a key and marking it as being
removed happen with no await between them, after the store was read; a hold taken meanwhile
either came first (the key is kept) or waits, in `Holds.add`, until the removal is over (and the
code is then written again). Removal first renames the tree away (`code.py`'s `remove`), so a
crash never leaves half a tree under its real name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from lambdabox.lambda_.code import CodeStore

log = logging.getLogger(__name__)

#: the code keys function rows name, read from the store
Referenced = Callable[[], Awaitable[set[str]]]


class Holds:
    """The keys one operation holds until it ends (see `CodeCollector.holding`)."""

    def __init__(self, collector: CodeCollector) -> None:
        self._collector = collector
        self.keys: list[str] = []

    async def add(self, key: str) -> None:
        """Hold `key` until the operation ends; waits while it is being removed, so that code saved
        after this returns stays."""
        self._collector.hold(key)
        self.keys.append(key)
        await self._collector.removed(key)


class CodeCollector:
    """Removes stored code that no function row names and nothing in memory holds."""

    def __init__(self, code: CodeStore, referenced: Referenced) -> None:
        self._code = code
        self._referenced = referenced
        self._holds: Counter[str] = Counter()
        self._wanted: set[str] = set()  # unreferenced but held: collect when released
        self._removing: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()  # one collection at a time
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- holds -----------------------------------------------------------------------------
    def hold(self, key: str) -> None:
        """Keep `key` (on the event loop thread; pair with `release`)."""
        self._holds[key] += 1

    def release(self, key: str) -> None:
        """Drop one hold of `key`; when it was the last and the key was found unreferenced while
        held, collect it in the background."""
        self._holds[key] -= 1
        if self._holds[key] > 0:
            return
        del self._holds[key]
        if key in self._wanted and not self._closed:
            self._wanted.discard(key)
            task = asyncio.get_running_loop().create_task(self._collect_logged([key]), name="code-gc")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def held(self, key: str) -> bool:
        return self._holds[key] > 0

    async def removed(self, key: str) -> None:
        """Return once `key` is not being removed."""
        while (pending := self._removing.get(key)) is not None:
            await asyncio.shield(pending)

    @contextlib.asynccontextmanager
    async def holding(self) -> AsyncIterator[Holds]:
        """Hold keys for the length of an operation (`await holds.add(key)`); when it ends, they are
        released and collected unless a function names them (the code of a failed CreateFunction
        goes, the code an UpdateFunctionCode replaced goes once no environment runs it)."""
        holds = Holds(self)
        try:
            yield holds
        finally:
            for key in holds.keys:
                self.release(key)
            if holds.keys:
                await self._collect_logged(holds.keys)

    # -- collection ------------------------------------------------------------------------
    async def collect(self, keys: Iterable[str] | None = None) -> list[str]:
        """Remove the keys of `keys` (None: every key with something under the code directory)
        that no function row names and nothing holds; returns the keys removed."""
        async with self._lock:
            leftovers: set[str] = set()
            if keys is None:
                candidates = await asyncio.to_thread(self._code.stored_keys)
                leftovers = await asyncio.to_thread(self._code.stored_keys, leftovers_only=True)
            else:
                candidates = set(keys)
            if not candidates:
                return []
            referenced = await self._referenced()
            # from here to the marking below: no await, so no hold can slip in between
            doomed: list[str] = []
            for key in sorted(candidates - referenced):
                if self.held(key):
                    self._wanted.add(key)
                else:
                    self._wanted.discard(key)
                    doomed.append(key)
            # leftovers of keys in use, when nothing is writing them
            tidy = sorted(k for k in leftovers & referenced if not self.held(k))
            if not doomed and not tidy:
                return []
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            for key in (*doomed, *tidy):
                self._removing[key] = done
            try:
                await asyncio.to_thread(self._remove_all, doomed, tidy)
            finally:
                for key in (*doomed, *tidy):
                    self._removing.pop(key, None)
                done.set_result(None)
            return doomed

    def _remove_all(self, doomed: list[str], tidy: list[str]) -> None:
        for key in doomed:
            try:
                self._code.remove(key)
            except OSError:
                log.exception("could not remove the code %s (the next start tries again)", key)
            else:
                log.debug("removed code %s: no function uses it", key)
        for key in tidy:
            try:
                self._code.remove_leftovers(key)
            except OSError:
                log.exception("could not remove leftovers of the code %s", key)

    async def _collect_logged(self, keys: list[str]) -> None:
        try:
            await self.collect(keys)
        except Exception:  # the code stays; the next start's sweep removes it
            log.exception("collecting unused code failed")

    async def settled(self) -> None:
        """Wait for the collections started by releases (tests; close)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Start no more collections and wait for those running."""
        self._closed = True
        await self.settled()
