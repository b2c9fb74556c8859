"""Helpers for the CloudWatch Logs service's tests: a harness over a real store and a manual clock,
the `h` fixture, and shortcuts for expected errors, PutLogEvents and new streams.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
from lambdabox.clock import ManualClock
from lambdabox.logs import LogsService
from lambdabox.store.db import Store

REGION = "us-east-1"
ACCOUNT = "123456789012"
CTX = RequestContext("req-1", REGION, ACCOUNT, "logs", "test")
OTHER_REGION = RequestContext("req-2", "eu-west-1", ACCOUNT, "logs", "test")
OTHER_ACCOUNT = RequestContext("req-3", REGION, "210987654321", "logs", "test")
GROUP = "/aws/lambda/fn"


class Harness:
    """A LogsService over a Store in a temp directory, with a manual clock; can restart."""

    def __init__(self, path: Path) -> None:
        self.path = path / "state.db"
        self.clock = ManualClock(start=1_700_000_000.0)
        self.store: Store | None = None
        self.svc: LogsService | None = None

    @property
    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def open(self) -> LogsService:
        self.store = Store(self.path)
        self.store.open()
        self.store.migrate("logs", LogsService.SCHEMA)
        self.svc = LogsService(self.store, self.clock)
        return self.svc

    async def shutdown(self) -> None:
        if self.svc is not None:
            await self.svc.close()
        if self.store is not None:
            self.store.close()
        self.svc = self.store = None

    async def restart(self) -> LogsService:
        await self.shutdown()
        return self.open()

    def run(self, body: Callable[[Harness, LogsService], Awaitable[None]]) -> None:
        async def main() -> None:
            svc = self.open()
            try:
                await body(self, svc)
            finally:
                await self.shutdown()

        asyncio.run(main())


@pytest.fixture(name="h")
def h_fixture(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def expect_error(code: str, call: Awaitable[Any], message: str | None = None) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        await call
    assert info.value.code == code, info.value
    if message is not None:
        assert info.value.message == message
    return info.value


async def put(
    svc: LogsService,
    stream: str,
    events: list[tuple[int, str]],
    group: str = GROUP,
    ctx: RequestContext = CTX,
) -> dict[str, Any]:
    return await svc.PutLogEvents(
        ctx,
        {
            "logGroupName": group,
            "logStreamName": stream,
            "logEvents": [{"timestamp": ts, "message": m} for ts, m in events],
        },
    )


async def make_stream(svc: LogsService, stream: str, group: str = GROUP) -> None:
    try:
        await svc.CreateLogGroup(CTX, {"logGroupName": group})
    except ServiceError as exc:
        assert exc.code == "ResourceAlreadyExistsException"
    await svc.CreateLogStream(CTX, {"logGroupName": group, "logStreamName": stream})


def group_with(logs: Any, messages: list[str], prefix: str = "/test/group") -> str:
    """A new log group (through a boto3 Logs client) whose stream `s` holds `messages`, in order, a
    millisecond apart; returns its name."""
    from conftest import unique

    group = unique(prefix)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)],
    )
    return group
