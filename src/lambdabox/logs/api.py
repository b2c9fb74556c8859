"""The CloudWatch Logs API: its operations over params dicts, durable in the store.

`LogsService` takes a `RequestContext` and the params dict as boto3 sends it and returns the
result dict for each operation (`CreateLogGroup`, `GetLogEvents`, ...); bad input raises AWS's
errors as `ServiceError` (checks in `params`). It also owns the `LogWriter` the Lambda side
delivers function output through and passes its methods (`ensure_group`, `ensure_stream`,
`append`, `flush`, `close`) on; read operations flush it first, so events appended
before a request are visible to it.

Retention is kept as CloudWatch keeps it: `expire()` deletes the events older than their group's
`retentionInDays` on the injected clock (and shrinks the group's `storedBytes`); the background
sweep in `retention.py` calls it. Reads never return an expired event, swept or not.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Literal

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.logs import store as sql
from lambdabox.logs.event_reads import LogEventReads
from lambdabox.logs.models import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    RETENTION_DAYS,
    LogGroup,
    LogStream,
    sequence_token,
)
from lambdabox.logs.params import (
    BAD_TOKEN,
    NO_GROUP,
    NO_STREAM,
    check_group_name,
    check_stream_name,
    check_tags,
    constraint,
    decode_token,
    encode_token,
    int_param,
    invalid,
    not_found,
    required,
)
from lambdabox.logs.tagging import LogTagOperations

_CLASSES = ("STANDARD", "INFREQUENT_ACCESS", "DELIVERY", "ESSENTIALS")

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
#: expired events deleted per store transaction
_EXPIRE_BATCH = 10_000


class LogsService(LogTagOperations, LogEventReads):
    """CloudWatch Logs: groups, streams and events, durable in the store, per region and account."""

    SCHEMA: ClassVar[list[str]] = sql.SCHEMA

    # ============================================================================================
    # writer interface (Lambda side), see writer.py
    # ============================================================================================

    async def ensure_group(self, region: str, account: str, group: str) -> None:
        """Create the log group if it does not exist (idempotent, cached)."""
        await self._writer.ensure_group(region, account, group)

    async def ensure_stream(self, region: str, account: str, group: str, stream: str) -> None:
        """Create the log group and stream if they do not exist (idempotent, cached)."""
        await self._writer.ensure_stream(region, account, group, stream)

    def append(
        self, region: str, account: str, group: str, stream: str, events: list[tuple[int, str]]
    ) -> None:
        """Queue events (timestamp ms, message) for the stream; never blocks (`LogWriter.append`)."""
        self._writer.append(region, account, group, stream, events)

    @property
    def congested(self) -> bool:
        """True while invocation log lines arrive faster than they are stored."""
        return self._writer.congested

    async def wait_for_room(self) -> None:
        await self._writer.wait_for_room()

    async def close(self) -> None:
        """Flush what is buffered and stop the background writer; `append` is refused afterwards."""
        await self._writer.close()

    async def expire(self) -> int:
        """Delete events older than their group's retention policy; returns how many were deleted.

        In transactions of at most `_EXPIRE_BATCH` events, so that invocation log lines waiting for
        the writer are not held up behind one huge delete."""
        total = 0
        while True:
            now = self._now_ms()
            # not fsynced: a delete lost to a power cut is done again by the next sweep
            n = await self._store.write(
                functools.partial(sql.expire_events, now_ms=now, limit=_EXPIRE_BATCH), sync=False
            )
            total += n
            if n < _EXPIRE_BATCH:
                return total

    # ============================================================================================
    # log groups
    # ============================================================================================

    async def CreateLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_group_name("logGroupName", params.get("logGroupName"))
        if name.startswith("aws/"):
            raise invalid("Log group names can't start with the string aws/")
        tags = check_tags("tags", params["tags"]) if params.get("tags") is not None else {}
        klass = params.get("logGroupClass") or "STANDARD"
        if klass not in _CLASSES:
            raise constraint(
                "logGroupClass", klass, f"Member must satisfy enum value set: [{', '.join(_CLASSES)}]"
            )
        kms = params.get("kmsKeyId")
        group = LogGroup(
            region=ctx.region,
            account=ctx.account_id,
            name=name,
            creation_time=self._now_ms(),
            kms_key_id=kms if isinstance(kms, str) and kms else None,
            log_group_class=klass,
            tags=tags,
        )
        if not await self._store.write(lambda c: sql.insert_group(c, group)):
            raise client_error("ResourceAlreadyExistsException", "The specified log group already exists")
        return {}

    async def DeleteLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_group_name("logGroupName", params.get("logGroupName"))
        self._writer.forget(ctx.region, ctx.account_id, name, None)
        if not await self._store.write(lambda c: sql.delete_group(c, ctx.region, ctx.account_id, name)):
            raise not_found(NO_GROUP)
        self._writer.forget(ctx.region, ctx.account_id, name, None)
        return {}

    async def DescribeLogGroups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.flush()  # read your writes: events appended before this request are visible
        limit = int_param(params, "limit", lo=1, hi=50) or 50
        prefix = params.get("logGroupNamePrefix")
        pattern = params.get("logGroupNamePattern")
        if prefix is not None:
            check_group_name("logGroupNamePrefix", prefix)
        if prefix and pattern:
            raise invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        klass = params.get("logGroupClass")
        if klass is not None and klass not in _CLASSES:
            raise constraint(
                "logGroupClass", klass, f"Member must satisfy enum value set: [{', '.join(_CLASSES)}]"
            )
        names: list[str] | None = None
        idents = params.get("logGroupIdentifiers")
        if idents:
            names = [
                self._group_name(ctx, {"logGroupIdentifier": i}) if str(i).startswith("arn:") else str(i)
                for i in idents
            ]
        after = None
        if params.get("nextToken") is not None:
            after = decode_token(params["nextToken"], "groups").get("after")
            if not isinstance(after, str):
                raise invalid(BAD_TOKEN)
        q = sql.GroupQuery(
            region=ctx.region,
            account=ctx.account_id,
            prefix=prefix,
            pattern=pattern or None,
            log_group_class=klass,
            names=names,
            after=after,
            limit=limit,
        )
        groups = await self._store.read(lambda c: sql.list_groups(c, q))
        out: dict[str, Any] = {"logGroups": [g.to_api() for g in groups[:limit]]}
        if len(groups) > limit:
            out["nextToken"] = encode_token({"k": "groups", "after": groups[limit - 1].name})
        return out

    async def PutRetentionPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_group_name("logGroupName", params.get("logGroupName"))
        days = required(params, "retentionInDays")
        if days not in RETENTION_DAYS or isinstance(days, bool):
            raise constraint(
                "retentionInDays",
                days,
                f"Member must satisfy enum value set: [{', '.join(str(d) for d in RETENTION_DAYS)}]",
            )
        await self._set_retention(ctx, name, int(days))
        return {}

    async def DeleteRetentionPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_group_name("logGroupName", params.get("logGroupName"))
        await self._set_retention(ctx, name, None)
        return {}

    async def _set_retention(self, ctx: RequestContext, name: str, days: int | None) -> None:
        if not await self._store.write(
            lambda c: sql.set_retention(c, ctx.region, ctx.account_id, name, days)
        ):
            raise not_found(NO_GROUP)

    # ============================================================================================
    # log streams
    # ============================================================================================

    async def CreateLogStream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        gname = check_group_name("logGroupName", params.get("logGroupName"))
        sname = check_stream_name("logStreamName", params.get("logStreamName"))
        now = self._now_ms()

        def fn(c: Any) -> None:
            group = self._group_or_404(c, ctx, gname)
            if not sql.insert_stream(c, group.id, sname, now):
                raise client_error(
                    "ResourceAlreadyExistsException", "The specified log stream already exists"
                )

        await self._store.write(fn)
        return {}

    async def DeleteLogStream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        gname = check_group_name("logGroupName", params.get("logGroupName"))
        sname = check_stream_name("logStreamName", params.get("logStreamName"))
        self._writer.forget(ctx.region, ctx.account_id, gname, sname)

        def fn(c: Any) -> None:
            group = self._group_or_404(c, ctx, gname)
            if not sql.delete_stream(c, group.id, sname):
                raise not_found(NO_STREAM)

        await self._store.write(fn)
        self._writer.forget(ctx.region, ctx.account_id, gname, sname)
        return {}

    async def DescribeLogStreams(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.flush()  # read your writes: events appended before this request are visible
        gname = self._group_name(ctx, params)
        order_by: Literal["LogStreamName", "LastEventTime"] = params.get("orderBy") or "LogStreamName"
        if order_by not in ("LogStreamName", "LastEventTime"):
            raise constraint(
                "orderBy", order_by, "Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )
        prefix = params.get("logStreamNamePrefix")
        if prefix is not None:
            check_stream_name("logStreamNamePrefix", prefix)
            if order_by == "LastEventTime":
                raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        descending = bool(params.get("descending") or False)
        limit = int_param(params, "limit", lo=1, hi=50) or 50
        after: tuple[int, str] | None = None
        if params.get("nextToken") is not None:
            tok = decode_token(params["nextToken"], "streams")
            t, n = tok.get("t"), tok.get("n")
            if not isinstance(t, int) or not -1 <= t < 2**63 or not isinstance(n, str):
                raise invalid(BAD_TOKEN)
            after = (t, n)
        q = sql.StreamQuery(prefix=prefix, order_by=order_by, descending=descending, after=after, limit=limit)

        def fn(c: Any) -> list[LogStream]:
            return sql.list_streams(c, self._group_or_404(c, ctx, gname), q)

        streams = await self._store.read(fn)
        out: dict[str, Any] = {"logStreams": [s.to_api() for s in streams[:limit]]}
        if len(streams) > limit:
            last = streams[limit - 1]
            t = last.last_event_ts if last.last_event_ts is not None else -1
            out["nextToken"] = encode_token({"k": "streams", "t": t, "n": last.name})
        return out

    # ============================================================================================
    # log events
    # ============================================================================================

    async def PutLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        gname = check_group_name("logGroupName", params.get("logGroupName"))
        sname = check_stream_name("logStreamName", params.get("logStreamName"))
        raw = required(params, "logEvents")
        if not isinstance(raw, list) or len(raw) < 1:
            raise constraint("logEvents", raw, "Member must have length greater than or equal to 1")
        if len(raw) > 10_000:
            raise constraint("logEvents", "[...]", "Member must have length less than or equal to 10000")
        events: list[tuple[int, str]] = []
        size = 0
        for i, ev in enumerate(raw, start=1):
            ts, msg = ev.get("timestamp"), ev.get("message")
            if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
                raise constraint(
                    f"logEvents.{i}.member.timestamp", ts, "Member must have value greater than or equal to 0"
                )
            if not isinstance(msg, str) or not msg:
                raise constraint(
                    f"logEvents.{i}.member.message", msg, "Member must have length greater than or equal to 1"
                )
            size += len(msg.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD
            events.append((ts, msg))
        if size > MAX_BATCH_BYTES:
            raise invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
        if any(events[i][0] < events[i - 1][0] for i in range(1, len(events))):
            raise invalid("Log events in a single PutLogEvents request must be in chronological order.")
        now = self._now_ms()

        def fn(c: Any) -> tuple[int, dict[str, int]]:
            group = self._group_or_404(c, ctx, gname)
            stream = self._stream_or_404(c, group, sname)
            rejected: dict[str, int] = {}
            begin, end = 0, len(events)
            too_new = next((i for i, (ts, _) in enumerate(events) if ts > now + 2 * _HOUR_MS), None)
            if too_new is not None:
                rejected["tooNewLogEventStartIndex"] = too_new
                end = too_new
            too_old = [i for i, (ts, _) in enumerate(events[:end]) if ts < now - 14 * _DAY_MS]
            if too_old:
                rejected["tooOldLogEventEndIndex"] = too_old[-1]
                begin = too_old[-1] + 1
            if group.retention_days is not None:
                cutoff = now - group.retention_days * _DAY_MS
                expired = [i for i, (ts, _) in enumerate(events[:end]) if ts < cutoff]
                if expired:
                    rejected["expiredLogEventEndIndex"] = expired[-1]
                    begin = max(begin, expired[-1] + 1)
            accepted = events[begin:end]
            if accepted and accepted[-1][0] - accepted[0][0] > _DAY_MS:
                raise invalid(
                    "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
                )
            if accepted:
                sql.insert_events(c, group.id, stream.id, accepted, now)
                return stream.upload_seq + 1, rejected
            return stream.upload_seq, rejected

        seq, rejected = await self._store.write(fn)
        out: dict[str, Any] = {"nextSequenceToken": sequence_token(seq)}
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out
