"""What the CloudWatch Logs operations share: the store, the clock, the writer and naming a log group.

`LogsService` (api.py) composes `LogsBase`'s subclasses: the tag operations (tagging.py), the
event reads (event_reads.py) and its own groups, streams and writes.
"""

from __future__ import annotations

import re
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.clock import Clock
from lambdabox.logs import store as sql
from lambdabox.logs.models import LogGroup, LogStream
from lambdabox.logs.params import (
    NO_GROUP,
    NO_STREAM,
    check_group_name,
    constraint,
    invalid,
    not_found,
)
from lambdabox.logs.writer import LogWriter
from lambdabox.store.db import Store

_GROUP_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:logs:(?P<region>[^:]+):(?P<account>\d{12}):log-group:(?P<name>[^:]+)(?::\*)?"
)


def _group_in_arn(ctx: RequestContext, arn: str, kind: str) -> str:
    """The group name in a log group ARN; ResourceNotFound if the ARN is another region's or account's."""
    m = _GROUP_ARN.fullmatch(arn)
    if m is None:
        raise invalid(f"Invalid {kind} ARN: {arn}")
    if m["region"] != ctx.region or m["account"] != ctx.account_id:
        raise not_found(NO_GROUP)
    return m["name"]


class LogsBase:
    """State and helpers of the Logs operations."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._writer = LogWriter(store, clock)

    def _now_ms(self) -> int:
        return int(self._clock.now() * 1000)

    async def flush(self) -> None:
        """Wait until every event appended so far is durable."""
        await self._writer.flush()

    # ============================================================================================
    # helpers for the API operations
    # ============================================================================================

    def _group_name(self, ctx: RequestContext, params: dict[str, Any]) -> str:
        """The log group named by logGroupName or logGroupIdentifier (a name or an ARN)."""
        name = params.get("logGroupName")
        ident = params.get("logGroupIdentifier")
        if name is not None and ident is not None:
            raise invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if ident is not None:
            if not isinstance(ident, str) or not ident:
                raise constraint(
                    "logGroupIdentifier", ident, "Member must have length greater than or equal to 1"
                )
            if ident.startswith("arn:"):
                ident = _group_in_arn(ctx, ident, "log group")
            return check_group_name("logGroupIdentifier", ident)
        if name is None:
            raise invalid("Should provide either name or ARN of the log group")
        return check_group_name("logGroupName", name)

    def _arn_group(self, ctx: RequestContext, arn: Any) -> str:
        if not isinstance(arn, str):
            raise constraint("resourceArn", arn, "Member must not be null")
        return _group_in_arn(ctx, arn, "resource")

    async def _load_group(self, ctx: RequestContext, name: str) -> LogGroup:
        return await self._store.read(lambda c: self._group_or_404(c, ctx, name))

    @staticmethod
    def _group_or_404(c: Any, ctx: RequestContext, name: str) -> LogGroup:
        group = sql.get_group(c, ctx.region, ctx.account_id, name)
        if group is None:
            raise not_found(NO_GROUP)
        return group

    @staticmethod
    def _stream_or_404(c: Any, group: LogGroup, name: str) -> LogStream:
        stream = sql.get_stream(c, group, name)
        if stream is None:
            raise not_found(NO_STREAM)
        return stream
