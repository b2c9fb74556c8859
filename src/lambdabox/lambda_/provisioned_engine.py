"""Provisioned concurrency, run: each configuration's environments initialised ahead of traffic and
kept so.

A configuration (a version or an alias of a function, and how many environments it asks for) is
committed in the store (`provisioned_store.py`) and counted against the account's concurrency
(`concurrency.py`) before it is answered; then a background task of its own, on the one clock,
initialises that many provisioned environments of the version it names (an alias: its version)
in the invoker's pool, off the request path. Its Status is IN_PROGRESS until they are all ready
(READY), or FAILED with AWS's StatusReason when an init fails (it is not retried until the
configuration is put again). A provisioned environment that stops (it died, its credentials ran
out) wakes the task, which initialises another (after a pause on the clock, growing from 1 s to
60 s, while they keep dying within 10 s); an alias moved to another version moves its
environments. On start the configurations are read back and their environments initialised
again (IN_PROGRESS, then READY), as after any restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from lambdabox.aws.arns import function_arn
from lambdabox.clock import Clock
from lambdabox.lambda_ import provisioned_store as sql
from lambdabox.lambda_.concurrency import Concurrency
from lambdabox.lambda_.models import FunctionConfig, Outcome
from lambdabox.store.db import Store

log = logging.getLogger(__name__)

IN_PROGRESS, READY, FAILED = "IN_PROGRESS", "READY", "FAILED"
#: AWS's StatusReason when an environment's init fails
INIT_FAILURE = "FUNCTION_ERROR_INIT_FAILURE"
#: how many environments of one configuration are initialised at once
_AT_ONCE = 4
#: how often (clock seconds) a task looks again without being woken (credentials running out)
_LOOK_EVERY = 60.0
#: an environment that stops within this many clock seconds of its task's last round is replaced
#: only after a pause, doubling from 1 s to 60 s while they keep dying that fast
_QUICK = 10.0
_PAUSE_MIN, _PAUSE_MAX = 1.0, 60.0

#: the version a qualifier of a function names now (an alias: its version), or None
Resolve = Callable[[str, str, str, str], FunctionConfig | None]


class Provisioner(Protocol):
    """What the engine needs of the invoker."""

    async def provision(
        self, fn: FunctionConfig, qualifier: str, keep: int, on_stopped: Callable[[], None]
    ) -> Outcome | None: ...
    def provisioned(self, fn: FunctionConfig, qualifier: str) -> int: ...
    async def keep_provisioned(
        self, function_arn: str, qualifier: str, fn: FunctionConfig | None, keep: int
    ) -> None: ...


Key = tuple[str, str, str, str]  # region, account, function name, qualifier


@dataclass
class ProvisionedConfig:
    """One configuration and how far it is."""

    region: str
    account: str
    function: str
    qualifier: str
    requested: int
    last_modified: float
    status: str = IN_PROGRESS
    reason: str | None = None
    version: str | None = None  # the version its environments run
    wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    died: bool = False  # one of its environments stopped since the task's last round

    def stopped(self) -> None:
        """One of its environments stopped (it died, its credentials ran out, it was pruned)."""
        self.died = True
        self.wake.set()

    @property
    def key(self) -> Key:
        return (self.region, self.account, self.function, self.qualifier)

    @property
    def function_arn(self) -> str:
        return function_arn(self.region, self.account, self.function)

    @property
    def arn(self) -> str:
        return function_arn(self.region, self.account, self.function, self.qualifier)

    def stored(self) -> sql.StoredConfig:
        return sql.StoredConfig(
            self.region, self.account, self.function, self.qualifier, self.requested, self.last_modified
        )


class ProvisionedEngine:
    """Keeps every provisioned concurrency configuration's environments initialised."""

    def __init__(self, store: Store, clock: Clock, invoker: Provisioner, concurrency: Concurrency) -> None:
        self._store = store
        self._clock = clock
        self._invoker = invoker
        self._concurrency = concurrency
        self._configs: dict[Key, ProvisionedConfig] = {}
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._resolve: Resolve = lambda *_: None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, resolve: Resolve) -> None:
        """Read the configurations back and initialise their environments again (in the background)."""
        self._resolve = resolve
        for stored in await self._store.read(sql.load_all):
            key = (stored.region, stored.account, stored.function, stored.qualifier)
            if resolve(*key) is None:  # its function, version or alias is gone
                await self._store.write(sql.delete(*key))
                continue
            cfg = ProvisionedConfig(*key, stored.requested, stored.last_modified)
            self._configs[key] = cfg
            self._concurrency.set_provisioned(
                cfg.region, cfg.account, cfg.function, cfg.qualifier, cfg.requested
            )
            self._run(cfg)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- the configurations ----------------------------------------------------------------
    def get(self, region: str, account: str, function: str, qualifier: str) -> ProvisionedConfig | None:
        return self._configs.get((region, account, function, qualifier))

    def of_function(self, region: str, account: str, function: str) -> list[ProvisionedConfig]:
        return [c for (r, a, f, _), c in self._configs.items() if (r, a, f) == (region, account, function)]

    def allocated(self, cfg: ProvisionedConfig) -> int:
        """How many of its environments are initialised now."""
        fn = self._resolve(*cfg.key)
        return 0 if fn is None else min(cfg.requested, self._invoker.provisioned(fn, cfg.qualifier))

    async def put(self, cfg: ProvisionedConfig) -> ProvisionedConfig:
        """Commit a configuration (new, or replacing one of its qualifier) and start on it; the
        caller has checked it against the account's concurrency (under the function's lock)."""
        before = self._concurrency.provisioned_for(cfg.region, cfg.account, cfg.function, cfg.qualifier)
        # counted before the write (no await in between): two made at once cannot both pass the check
        self._concurrency.set_provisioned(cfg.region, cfg.account, cfg.function, cfg.qualifier, cfg.requested)
        try:
            await self._store.write(sql.put(cfg.stored()))
        except BaseException:
            self._concurrency.set_provisioned(cfg.region, cfg.account, cfg.function, cfg.qualifier, before)
            raise
        old = self._configs.get(cfg.key)
        if old is not None:
            cfg.version = old.version
        self._configs[cfg.key] = cfg
        await self._stop(cfg.key)
        self._run(cfg)
        return cfg

    async def delete(self, region: str, account: str, function: str, qualifier: str | None = None) -> None:
        """Remove one qualifier's configuration (None: every one of the function) and stop its
        environments (busy ones when their invocation ends)."""
        await self._store.write(sql.delete(region, account, function, qualifier))
        gone = [c for c in self.of_function(region, account, function) if qualifier in (None, c.qualifier)]
        for cfg in gone:
            self._configs.pop(cfg.key, None)
            self._concurrency.set_provisioned(region, account, function, cfg.qualifier, None)
            await self._stop(cfg.key)
            await self._invoker.keep_provisioned(cfg.function_arn, cfg.qualifier, None, 0)

    def moved(self, region: str, account: str, function: str, qualifier: str) -> None:
        """The alias `qualifier` may name another version now: its task looks again."""
        cfg = self._configs.get((region, account, function, qualifier))
        if cfg is not None:
            cfg.wake.set()

    # -- the tasks -------------------------------------------------------------------------
    def _run(self, cfg: ProvisionedConfig) -> None:
        self._tasks[cfg.key] = asyncio.get_running_loop().create_task(self._keep(cfg))

    async def _stop(self, key: Key) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _keep(self, cfg: ProvisionedConfig) -> None:
        """Bring the configuration's environments to what it asks for, then keep them so.
        Environments that keep dying soon after they were initialised are replaced after a
        growing pause on the clock, not at once (no respawn loop)."""
        pause = 0.0
        while self._configs.get(cfg.key) is cfg:
            cfg.wake.clear()
            cfg.died = False
            began = self._clock.monotonic()
            try:
                await self._converge(cfg)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let a configuration's task die
                log.exception("provisioned concurrency of %s", cfg.arn)
            await self._woken(cfg.wake)
            if cfg.died and self._clock.monotonic() - began < _QUICK:
                pause = min(_PAUSE_MAX, max(_PAUSE_MIN, pause * 2))
                await self._clock.sleep(pause)
            else:
                pause = 0.0

    async def _woken(self, wake: asyncio.Event) -> None:
        """Until `wake` is set or a while has passed on the clock."""
        waiter = asyncio.ensure_future(wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(_LOOK_EVERY))
        try:
            await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (waiter, sleeper):
                t.cancel()

    async def _converge(self, cfg: ProvisionedConfig) -> None:
        fn = self._resolve(*cfg.key)
        if fn is None:
            return
        if cfg.version != fn.version:  # new, or an alias moved: its environments move with it
            if cfg.version is not None:
                cfg.status, cfg.reason = IN_PROGRESS, None
            cfg.version = fn.version
        await self._invoker.keep_provisioned(cfg.function_arn, cfg.qualifier, fn, cfg.requested)
        if cfg.status == FAILED:
            return
        while (missing := cfg.requested - self._invoker.provisioned(fn, cfg.qualifier)) > 0:
            failures = await asyncio.gather(
                *(
                    self._invoker.provision(fn, cfg.qualifier, cfg.requested, cfg.stopped)
                    for _ in range(min(missing, _AT_ONCE))
                )
            )
            if any(f is not None for f in failures):
                cfg.status, cfg.reason = FAILED, INIT_FAILURE
                await self._invoker.keep_provisioned(cfg.function_arn, cfg.qualifier, fn, cfg.requested)
                return
        cfg.status, cfg.reason = READY, None
