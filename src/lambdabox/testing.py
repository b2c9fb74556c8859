"""Run lambdabox inside a test process, optionally on a manual clock you control.

    with LocalLambdabox(tmp_path, manual_clock=True) as lbx:
        client = boto3.client("lambda", endpoint_url=lbx.url, region_name="us-east-1", ...)
        ...
        lbx.advance(600)   # ten minutes pass for timeouts, idle reaping, ... instantly

The server runs on its own event loop in a background thread and listens on a free loopback
port, so any HTTP client (boto3, the AWS CLI, curl) can talk to it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from lambdabox.app import App
from lambdabox.clock import Clock, ManualClock, SystemClock
from lambdabox.config import Settings
from lambdabox.lambda_.runtime_catalog import RuntimeCatalog

T = TypeVar("T")


class LocalLambdabox:
    """A lambdabox server in a background thread of this process."""

    def __init__(
        self,
        data_dir: Path,
        *,
        manual_clock: bool = False,
        catalog: RuntimeCatalog | None = None,
        fault_draw: Callable[[], float] | None = None,
        **settings: Any,
    ) -> None:
        """`fault_draw`: numbers in [0, 1) deciding whether a fault with a probability hits an
        invocation (random by default; a fixed sequence makes such tests deterministic)."""
        self.clock: Clock = ManualClock(start=time.time()) if manual_clock else SystemClock()
        self.settings = Settings.resolve({"data_dir": data_dir, "port": 0, **settings}, env={})
        extra: dict[str, Any] = {} if fault_draw is None else {"fault_draw": fault_draw}
        self.app = App(self.settings, self.clock, catalog=catalog, **extra)
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

    def client(
        self,
        service: str,
        *,
        key: str = "test",
        secret: str = "test",
        token: str | None = None,
        **config: Any,
    ) -> Any:
        """A boto3 client for this server (boto3 comes with lambdabox's test extra), no retries;
        `config`: further botocore Config options (read_timeout=…, signature_version=UNSIGNED)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=self.settings.region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(retries={"max_attempts": 0}, **config),
        )

    def call(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60) -> T:
        """Run a coroutine function on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(timeout)

    def advance(self, seconds: float) -> None:
        """Move the manual clock forward (wakes timeouts, retries, reapers that are due)."""
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("advance() needs manual_clock=True")

        async def go() -> None:
            clock.advance(seconds)
            for _ in range(3):  # let woken tasks run their next step
                await asyncio.sleep(0)

        self.call(go)

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self.call(self.app.close)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(10)
                self._loop.close()
