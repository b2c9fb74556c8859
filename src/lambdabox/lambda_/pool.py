"""Warm environments of one function revision: reuse the most recently used, start new ones on demand.

A pool belongs to one revision (code + configuration) of one function. When the function
changes, the invoker retires the old pool: idle environments stop at once, busy ones when
their invocation ends. Idle environments are reaped after the configured idle time, or sooner
when their role's credentials would not last through another invocation; such an environment is
never handed out (it is stopped instead), so the next invocation starts one with fresh credentials.

Provisioned environments (provisioned concurrency, `provisioned_engine.py`) are initialised ahead of
traffic for one qualifier (a version or an alias) and added with `add_warm`; they are never reaped,
serve invocations of that qualifier first (`take_warm`) and go back to their qualifier when released.
One that stops, for whatever reason, is gone from the pool: its engine starts another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from lambdabox.clock import Clock
from lambdabox.lambda_.environment import Environment, State


class Pool:
    """The environments of one function revision."""

    def __init__(self, revision: str, factory: Callable[[], Environment], clock: Clock) -> None:
        self.revision = revision
        self._factory = factory
        self._clock = clock
        self._idle: list[Environment] = []
        self._busy: set[Environment] = set()
        self._warm: dict[str, list[Environment]] = {}  # qualifier -> its idle provisioned environments
        self._warm_of: dict[Environment, str] = {}  # every provisioned environment -> its qualifier
        self._keep: dict[str, int] = {}  # qualifier -> how many provisioned environments it keeps
        self.retired = False

    @property
    def size(self) -> int:
        return len(self._idle) + len(self._busy) + sum(len(w) for w in self._warm.values())

    def states(self) -> list[State]:
        return [e.state for e in (*self._idle, *self._busy, *(e for w in self._warm.values() for e in w))]

    # -- provisioned environments ----------------------------------------------------------
    async def add_warm(self, qualifier: str, env: Environment, keep: int) -> None:
        """An initialised (idle) provisioned environment for invocations of `qualifier`, which
        keeps `keep` of them."""
        if self.retired or env.state is not State.IDLE:
            await env.stop()
            return
        self._keep[qualifier] = keep
        self._warm_of[env] = qualifier
        self._warm.setdefault(qualifier, []).append(env)

    def take_warm(self, qualifier: str | None) -> Environment | None:
        """An idle provisioned environment of `qualifier`, now (no await), or None."""
        idle = self._warm.get(qualifier) if qualifier is not None else None
        if not idle:
            return None
        now = self._clock.now()
        for env in reversed(idle):
            if env.state is State.IDLE and env.credentials_outlast(now):
                idle.remove(env)
                self._busy.add(env)
                return env
        return None

    def keeps(self, qualifier: str | None) -> int:
        """How many provisioned environments `qualifier` is configured to keep (0: none)."""
        return self._keep.get(qualifier, 0) if qualifier is not None else 0

    def warm_count(self, qualifier: str) -> int:
        """How many provisioned environments `qualifier` has (idle or busy) that are not stopped."""
        return sum(1 for e, q in self._warm_of.items() if q == qualifier and e.state is not State.STOPPED)

    async def prune_warm(self, qualifier: str, keep: int) -> None:
        """Forget stopped provisioned environments of `qualifier`, stop idle ones whose credentials
        would not last, and stop idle ones beyond `keep` (busy ones over it stop when released)."""
        self._keep[qualifier] = keep
        if keep == 0:
            del self._keep[qualifier]
        idle = self._warm.get(qualifier, [])
        now = self._clock.now()
        for env in [e for e, q in self._warm_of.items() if q == qualifier and e.state is State.STOPPED]:
            self._forget_warm(env)
        stale = [e for e in idle if not e.credentials_outlast(now)]
        alive = self.warm_count(qualifier) - len(stale)
        surplus = [e for e in idle if e not in stale][: max(0, alive - keep)]
        for env in (*stale, *surplus):
            self._forget_warm(env)
        await asyncio.gather(*(e.stop() for e in (*stale, *surplus)))

    def _forget_warm(self, env: Environment) -> None:
        qualifier = self._warm_of.pop(env, None)
        if qualifier is not None:
            idle = self._warm.get(qualifier, [])
            if env in idle:
                idle.remove(env)
            if not idle:
                self._warm.pop(qualifier, None)

    async def acquire(self) -> tuple[Environment, bool]:
        """An idle environment (warm) or a new, not yet started one (cold): (env, cold)."""
        while self._idle:
            env = self._idle.pop()
            if env.state is not State.IDLE:
                continue
            if not env.credentials_outlast(self._clock.now()):
                await env.stop()
                continue
            self._busy.add(env)
            return env, False
        env = self._factory()
        self._busy.add(env)
        return env, True

    async def release(self, env: Environment) -> None:
        self._busy.discard(env)
        if env in self._warm_of:
            qualifier = self._warm_of[env]
            if (
                env.state is State.IDLE
                and not self.retired
                and self.warm_count(qualifier) <= self._keep.get(qualifier, 0)
            ):
                self._warm.setdefault(qualifier, []).append(env)
                return
            self._forget_warm(env)
            if env.state is not State.STOPPED:
                await env.stop()
            return
        if env.state is State.IDLE and not self.retired:
            self._idle.append(env)
        elif env.state is not State.STOPPED:
            await env.stop()

    async def reap(self, idle_timeout: float) -> int:
        """Stop environments idle for at least `idle_timeout` seconds, or whose credentials would not
        last through another invocation; returns how many."""
        now, wall = self._clock.monotonic(), self._clock.now()
        old = [
            e
            for e in self._idle
            if now - e.last_used >= idle_timeout
            or e.state is not State.IDLE
            or not e.credentials_outlast(wall)
        ]
        if not old:
            return 0
        self._idle = [e for e in self._idle if e not in old]
        await asyncio.gather(*(e.stop() for e in old))
        return len(old)

    async def retire(self) -> None:
        """Stop idle environments now; busy ones stop when released."""
        self.retired = True
        idle, self._idle = self._idle, []
        for warm in self._warm.values():
            idle.extend(warm)
            for env in warm:
                self._warm_of.pop(env, None)
        self._warm.clear()
        await asyncio.gather(*(e.stop() for e in idle))

    async def close(self) -> None:
        self.retired = True
        envs = [*self._idle, *self._busy, *(e for w in self._warm.values() for e in w)]
        self._idle, self._busy = [], set()
        self._warm.clear()
        self._warm_of.clear()
        with contextlib.suppress(Exception):
            await asyncio.gather(*(e.stop() for e in envs), return_exceptions=True)
