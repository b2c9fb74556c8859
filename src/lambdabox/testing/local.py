"""Run lambdabox inside a test process, optionally on a manual clock you control.

    with LocalLambdabox(tmp_path, manual_clock=True) as lbx:
        client = lbx.client("lambda")
        ...
        lbx.advance("PT10M")   # ten minutes pass for timeouts, idle reaping, retries ... instantly

The server runs on its own event loop in a background thread and listens on a free loopback
port, so any HTTP client (boto3, the AWS CLI, curl) can talk to it. The clock is moved in place
(`App.clock_control`, what `POST /_lambdabox/clock` does), faults are injected over HTTP.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from lambdabox.admin.clock import ClockControl
from lambdabox.app import App
from lambdabox.clock import Clock, ManualClock
from lambdabox.config import Settings
from lambdabox.durations import parse_duration
from lambdabox.lambda_.runtime_catalog import RuntimeCatalog
from lambdabox.testing.handle import SETTLE_TIMEOUT, Handle

T = TypeVar("T")


class LocalLambdabox(Handle):
    """A lambdabox server in a background thread of this process."""

    def __init__(
        self,
        data_dir: Path,
        *,
        manual_clock: bool = False,
        catalog: RuntimeCatalog | None = None,
        fault_draw: Callable[[], float] | None = None,
        transport_on_clock: bool = False,
        **settings: Any,
    ) -> None:
        """`manual_clock`: the server's clock starts at the current time, paused, and moves only
        through `advance`/`set`; `fault_draw`: numbers in [0, 1) deciding whether a fault with a
        probability hits an invocation (random by default; a fixed sequence makes such tests
        deterministic); `transport_on_clock`: the HTTP front's connection timeouts run on the
        manual clock too (by default on real time, so advancing never cuts a connection); `settings`: any `Settings` field (idle_timeout=…, …)."""
        given = {"data_dir": data_dir, "port": 0, **({"clock": "manual"} if manual_clock else {}), **settings}
        self.settings = Settings.resolve(given, env={})
        self.region = self.settings.region
        root = self.settings.root_key_set().of_account(self.settings.account_id)
        self.admin_key = None if root is None else (root.access_key_id, root.secret_access_key)
        extra: dict[str, Any] = {"transport_on_clock": transport_on_clock}
        if fault_draw is not None:
            extra["fault_draw"] = fault_draw
        self.app = App(self.settings, catalog=catalog, **extra)
        self.clock: Clock = self.app.clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lambdabox", daemon=True)

    @property
    def url(self) -> str:
        return self.app.endpoint_url

    def __enter__(self) -> LocalLambdabox:
        self._thread.start()
        self.call(self.app.start)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def call(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60) -> T:
        """Run a coroutine function on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(timeout)

    def now(self) -> float:
        return self.clock.now()

    def advance(self, duration: float | str) -> float:
        """Move the manual clock forward by seconds or an ISO 8601 duration ("PT2M"); timers,
        retries and reapers that became due are fired before this returns (what
        `POST /_lambdabox/clock` guarantees; `settle()` waits for the work they started)."""
        seconds = parse_duration(duration) if isinstance(duration, str) else float(duration)
        control = self._control()
        self.call(lambda: control.advance(seconds))
        return self.clock.now()

    def set(self, epoch: float) -> float:
        """Move the manual clock forward to `epoch` (never back), firing what became due."""
        control = self._control()
        self.call(lambda: control.set(float(epoch)))
        return self.clock.now()

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        control = self.app.clock_control
        busy = self.call(lambda: control.settle(timeout), timeout=timeout + 30)
        if busy:
            raise TimeoutError(f"{busy} background items still busy after {timeout} s")

    def _control(self) -> ClockControl:
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() and set() need manual_clock=True")
        return self.app.clock_control

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self.call(self.app.close)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(10)
                self._loop.close()
