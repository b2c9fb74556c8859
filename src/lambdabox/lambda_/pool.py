"""Warm environments of one function revision: reuse the most recently used, start new ones on demand.

A pool belongs to one revision (code + configuration) of one function. When the function
changes, the invoker retires the old pool: idle environments stop at once, busy ones when
their invocation ends (after its post-runtime phase, while extensions still work on it).
Environments stop through `Environment.shutdown` (SHUTDOWN to their extensions first). Idle environments are reaped after the configured idle time, or sooner
when their role's credentials would not last through another invocation; such an environment is
never handed out (it is stopped instead), so the next invocation starts one with fresh credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

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
        self.retired = False
        self._tasks: set[asyncio.Task[None]] = set()

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def size(self) -> int:
        return len(self._idle) + len(self._busy)

    def states(self) -> list[State]:
        return [e.state for e in (*self._idle, *self._busy)]

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
        post = env.post_runtime
        if post is not None and not post.done():
            # its extensions are still busy with the invocation: it stays busy until they are done
            post.add_done_callback(lambda _: self._later(self.release(env)))
            return
        self._busy.discard(env)
        if env.state is State.IDLE and not self.retired:
            self._idle.append(env)
        elif env.state is not State.STOPPED:
            await env.shutdown()

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
        await asyncio.gather(*(e.shutdown() for e in old))
        return len(old)

    async def retire(self) -> None:
        """Stop idle environments now; busy ones stop when released."""
        self.retired = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(e.shutdown() for e in idle))

    async def close(self) -> None:
        self.retired = True
        envs = [*self._idle, *self._busy]
        self._idle, self._busy = [], set()
        with contextlib.suppress(Exception):
            await asyncio.gather(*(e.shutdown() for e in envs), return_exceptions=True)
