"""The CloudWatch Logs service: API operations over params dicts, and the batched writer for Lambda.

`LogsService` has two faces. The API operations (`CreateLogGroup`, `GetLogEvents`, ...) take a
`RequestContext` and the params dict as boto3 sends it and return the result dict; they validate
their input and raise AWS's errors as `ServiceError`. The writer interface (`ensure_group`,
`ensure_stream`, `append`, `flush`, `close`) is what the Lambda side uses to deliver function
output: `append` only buffers, and one background task writes whatever has accumulated in a
single store transaction (group commit), so a handler printing megabytes costs a few large
inserts rather than one commit per line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.clock import Clock
from lambdabox.logs import store as sql
from lambdabox.logs.filter_pattern import FilterPatternError, compile_pattern
from lambdabox.logs.models import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_RESPONSE_BYTES,
    POSITION_DIGITS,
    POSITION_SCALE,
    RETENTION_DAYS,
    LogEvent,
    LogGroup,
    LogStream,
    sequence_token,
    truncate_message,
)
from lambdabox.store.db import Store

log = logging.getLogger(__name__)

_GROUP_NAME = re.compile(r"[\.\-_/#A-Za-z0-9]+")
_GROUP_NAME_TEXT = r"[\.\-_/#A-Za-z0-9]+"
_STREAM_NAME = re.compile(r"[^:*]*")
_GROUP_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:logs:(?P<region>[^:]+):(?P<account>\d{12}):log-group:(?P<name>[^:]+)(?::\*)?"
)
_EVENT_TOKEN = re.compile(r"(?P<dir>[fb])/(?P<pos>\d{1,64})")
_CLASSES = ("STANDARD", "INFREQUENT_ACCESS", "DELIVERY", "ESSENTIALS")

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
#: events examined by one FilterLogEvents call before it hands back a nextToken
_FILTER_SCAN_BUDGET = 200_000
#: events per store transaction when the writer flushes a large backlog
_FLUSH_CHUNK = 50_000
#: how long the writer waits after being woken, to batch more events into one commit (not a semantic delay)
_COALESCE_SECONDS = 0.02
_FAST_LEN = MAX_MESSAGE_BYTES // 4  # a str this long or shorter cannot exceed the byte limit

_NO_GROUP = "The specified log group does not exist."
_NO_STREAM = "The specified log stream does not exist."


def _invalid(message: str) -> ServiceError:
    return client_error("InvalidParameterException", message)


def _not_found(message: str) -> ServiceError:
    return client_error("ResourceNotFoundException", message)


def _constraint(member: str, value: Any, constraint: str) -> ServiceError:
    shown = "null" if value is None else f"'{value}'"
    return _invalid(
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy constraint: {constraint}"
    )


def _required(params: dict[str, Any], member: str) -> Any:
    value = params.get(member)
    if value is None:
        raise _constraint(member, None, "Member must not be null")
    return value


def _check_group_name(member: str, name: Any) -> str:
    if not isinstance(name, str):
        raise _constraint(member, name, "Member must not be null")
    if len(name) < 1:
        raise _constraint(member, name, "Member must have length greater than or equal to 1")
    if len(name) > 512:
        raise _constraint(member, name, "Member must have length less than or equal to 512")
    if not _GROUP_NAME.fullmatch(name):
        raise _constraint(member, name, f"Member must satisfy regular expression pattern: {_GROUP_NAME_TEXT}")
    return name


def _check_stream_name(member: str, name: Any) -> str:
    if not isinstance(name, str):
        raise _constraint(member, name, "Member must not be null")
    if len(name) < 1:
        raise _constraint(member, name, "Member must have length greater than or equal to 1")
    if len(name) > 512:
        raise _constraint(member, name, "Member must have length less than or equal to 512")
    if not _STREAM_NAME.fullmatch(name):
        raise _constraint(member, name, "Member must satisfy regular expression pattern: [^:*]*")
    return name


def _int_param(params: dict[str, Any], member: str, *, lo: int, hi: int | None = None) -> int | None:
    value = params.get(member)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _constraint(member, value, "Member must be a number")
    if value < lo:
        raise _constraint(member, value, f"Member must have value greater than or equal to {lo}")
    if hi is not None and value > hi:
        raise _constraint(member, value, f"Member must have value less than or equal to {hi}")
    return value


def _check_tags(member: str, tags: Any) -> dict[str, str]:
    if not isinstance(tags, dict) or not tags:
        raise _constraint(member, tags, "Member must have length greater than or equal to 1")
    if len(tags) > 50:
        raise _constraint(member, tags, "Member must have length less than or equal to 50")
    for k, v in tags.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 128 or k.startswith("aws:"):
            raise _constraint(
                member,
                tags,
                "Map keys must satisfy constraint: [Member must have length less than or equal to 128]",
            )
        if not isinstance(v, str) or len(v) > 256:
            raise _constraint(
                member,
                tags,
                "Map value must satisfy constraint: [Member must have length less than or equal to 256]",
            )
    return dict(tags)


def _encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode_token(token: Any, kind: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(str(token).encode()))
    except (ValueError, binascii.Error):
        raise _invalid("The specified nextToken is invalid.") from None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise _invalid("The specified nextToken is invalid.")
    return payload


def _event_token(direction: Literal["f", "b"], pos: int) -> str:
    return f"{direction}/{max(pos, 0):0{POSITION_DIGITS}d}"


class LogsService:
    """CloudWatch Logs: groups, streams and events, durable in the store, per region and account."""

    SCHEMA: ClassVar[list[str]] = sql.SCHEMA

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        # writer interface state (event-loop thread only)
        self._buf: dict[sql.StreamKey, list[tuple[int, str]]] = {}
        self._appended = 0  # events handed to append() so far
        self._durable = 0  # of those, how many are committed (or were dropped)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._known: set[tuple[str, str, str, str]] = set()  # groups ("" stream) and streams that exist

    def _now_ms(self) -> int:
        return int(self._clock.now() * 1000)

    # ============================================================================================
    # writer interface (Lambda side)
    # ============================================================================================

    async def ensure_group(self, region: str, account: str, group: str) -> None:
        """Create the log group if it does not exist (idempotent, cached)."""
        key = (region, account, group, "")
        if key in self._known:
            return
        now = self._now_ms()
        await self._store.write(lambda c: sql.ensure_group_row(c, region, account, group, now))
        self._remember(key)

    async def ensure_stream(self, region: str, account: str, group: str, stream: str) -> None:
        """Create the log group and stream if they do not exist (idempotent, cached)."""
        key = (region, account, group, stream)
        if key in self._known:
            return
        now = self._now_ms()

        def fn(c: Any) -> None:
            gid = sql.ensure_group_row(c, region, account, group, now)
            sql.ensure_stream_row(c, gid, stream, now)

        await self._store.write(fn)
        self._remember((region, account, group, ""))
        self._remember(key)

    def _remember(self, key: tuple[str, str, str, str]) -> None:
        if len(self._known) > 100_000:
            self._known.clear()
        self._known.add(key)

    def _forget(self, region: str, account: str, group: str, stream: str | None) -> None:
        """Drop cache entries and unflushed events of a deleted group (stream=None) or stream."""
        if stream is None:
            self._known = {k for k in self._known if k[:3] != (region, account, group)}
            for key in [k for k in self._buf if k[:3] == (region, account, group)]:
                del self._buf[key]
        else:
            self._known.discard((region, account, group, stream))
            self._buf.pop((region, account, group, stream), None)

    def append(
        self, region: str, account: str, group: str, stream: str, events: list[tuple[int, str]]
    ) -> None:
        """Queue events (timestamp ms, message) for the stream; never blocks, never waits for disk.

        Must be called on the event loop thread. Messages longer than CloudWatch's event limit are
        cut to 256 KB minus the 26-byte event overhead. Missing groups and streams are created.
        """
        if self._closing:
            raise RuntimeError("the logs service is closed")
        if not events:
            return
        key = (region, account, group, stream)
        buf = self._buf.get(key)
        if buf is None:
            buf = self._buf[key] = []
        buf.extend(events)
        for i in range(len(buf) - len(events), len(buf)):
            if len(buf[i][1]) > _FAST_LEN:
                ts, message = buf[i]
                buf[i] = (ts, truncate_message(message))
        self._appended += len(events)
        self._kick()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_loop(), name="logs-writer")
        self._wake.set()

    async def flush(self) -> None:
        """Wait until every event appended so far is durable."""
        target = self._appended
        if self._durable >= target:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, fut))
        self._kick()
        await fut

    async def close(self) -> None:
        """Flush what is buffered and stop the background writer; `append` is refused afterwards."""
        self._closing = True
        if self._task is not None and not self._task.done():
            self._wake.set()
            await self._task
        self._task = None

    async def _flush_loop(self) -> None:
        while True:
            if not self._buf:
                self._durable = self._appended  # everything was written (or dropped with its group)
                self._release_waiters()
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                if not self._closing:
                    # a short window lets the events of many concurrent invocations share one commit
                    await asyncio.sleep(_COALESCE_SECONDS)
                continue
            batch, self._buf = self._buf, {}
            target = self._appended
            now = self._now_ms()
            for chunk in _chunks(batch, _FLUSH_CHUNK):
                try:
                    await self._store.write(functools.partial(sql.write_appended, batch=chunk, now_ms=now))
                except Exception:
                    n = sum(len(v) for v in chunk.values())
                    log.exception("could not store %d log events; they are dropped", n)
            self._durable = target
            self._release_waiters()

    def _release_waiters(self) -> None:
        if not self._waiters:
            return
        still: list[tuple[int, asyncio.Future[None]]] = []
        for target, fut in self._waiters:
            if target <= self._durable:
                if not fut.done():
                    fut.set_result(None)
            else:
                still.append((target, fut))
        self._waiters = still

    async def expire(self) -> int:
        """Delete events older than their group's retention policy; returns how many were deleted."""
        now = self._now_ms()
        return await self._store.write(lambda c: sql.expire_events(c, now))

    # ============================================================================================
    # helpers for the API operations
    # ============================================================================================

    def _group_name(self, ctx: RequestContext, params: dict[str, Any]) -> str:
        """The log group named by logGroupName or logGroupIdentifier (a name or an ARN)."""
        name = params.get("logGroupName")
        ident = params.get("logGroupIdentifier")
        if name is not None and ident is not None:
            raise _invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if ident is not None:
            if not isinstance(ident, str) or not ident:
                raise _constraint(
                    "logGroupIdentifier", ident, "Member must have length greater than or equal to 1"
                )
            if ident.startswith("arn:"):
                m = _GROUP_ARN.fullmatch(ident)
                if m is None:
                    raise _invalid(f"Invalid log group ARN: {ident}")
                if m["region"] != ctx.region or m["account"] != ctx.account_id:
                    raise _not_found(_NO_GROUP)
                return _check_group_name("logGroupIdentifier", m["name"])
            return _check_group_name("logGroupIdentifier", ident)
        if name is None:
            raise _invalid("Should provide either name or ARN of the log group")
        return _check_group_name("logGroupName", name)

    def _arn_group(self, ctx: RequestContext, arn: Any) -> str:
        if not isinstance(arn, str):
            raise _constraint("resourceArn", arn, "Member must not be null")
        m = _GROUP_ARN.fullmatch(arn)
        if m is None:
            raise _invalid(f"Invalid resource ARN: {arn}")
        if m["region"] != ctx.region or m["account"] != ctx.account_id:
            raise _not_found(_NO_GROUP)
        return m["name"]

    async def _load_group(self, ctx: RequestContext, name: str) -> LogGroup:
        group = await self._store.read(lambda c: sql.get_group(c, ctx.region, ctx.account_id, name))
        if group is None:
            raise _not_found(_NO_GROUP)
        return group

    @staticmethod
    def _group_or_404(c: Any, ctx: RequestContext, name: str) -> LogGroup:
        group = sql.get_group(c, ctx.region, ctx.account_id, name)
        if group is None:
            raise _not_found(_NO_GROUP)
        return group

    @staticmethod
    def _stream_or_404(c: Any, group: LogGroup, name: str) -> LogStream:
        stream = sql.get_stream(c, group, name)
        if stream is None:
            raise _not_found(_NO_STREAM)
        return stream

    # ============================================================================================
    # log groups
    # ============================================================================================

    async def CreateLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = _check_group_name("logGroupName", params.get("logGroupName"))
        if name.startswith("aws/"):
            raise _invalid("Log group names can't start with the string aws/")
        tags = _check_tags("tags", params["tags"]) if params.get("tags") is not None else {}
        klass = params.get("logGroupClass") or "STANDARD"
        if klass not in _CLASSES:
            raise _constraint(
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
        name = _check_group_name("logGroupName", params.get("logGroupName"))
        self._forget(ctx.region, ctx.account_id, name, None)
        if not await self._store.write(lambda c: sql.delete_group(c, ctx.region, ctx.account_id, name)):
            raise _not_found(_NO_GROUP)
        self._forget(ctx.region, ctx.account_id, name, None)
        return {}

    async def DescribeLogGroups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.flush()  # read your writes: events appended before this request are visible
        limit = _int_param(params, "limit", lo=1, hi=50) or 50
        prefix = params.get("logGroupNamePrefix")
        pattern = params.get("logGroupNamePattern")
        if prefix is not None:
            _check_group_name("logGroupNamePrefix", prefix)
        if prefix and pattern:
            raise _invalid(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
            )
        klass = params.get("logGroupClass")
        if klass is not None and klass not in _CLASSES:
            raise _constraint(
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
            after = _decode_token(params["nextToken"], "groups").get("after")
            if not isinstance(after, str):
                raise _invalid("The specified nextToken is invalid.")
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
            out["nextToken"] = _encode_token({"k": "groups", "after": groups[limit - 1].name})
        return out

    async def PutRetentionPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = _check_group_name("logGroupName", params.get("logGroupName"))
        days = _required(params, "retentionInDays")
        if days not in RETENTION_DAYS or isinstance(days, bool):
            raise _constraint(
                "retentionInDays",
                days,
                f"Member must satisfy enum value set: [{', '.join(str(d) for d in RETENTION_DAYS)}]",
            )
        if not await self._store.write(
            lambda c: sql.set_retention(c, ctx.region, ctx.account_id, name, int(days))
        ):
            raise _not_found(_NO_GROUP)
        return {}

    async def DeleteRetentionPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = _check_group_name("logGroupName", params.get("logGroupName"))
        if not await self._store.write(
            lambda c: sql.set_retention(c, ctx.region, ctx.account_id, name, None)
        ):
            raise _not_found(_NO_GROUP)
        return {}

    # -- tags -----------------------------------------------------------------------------------

    async def _change_tags(
        self,
        ctx: RequestContext,
        name: str,
        add: dict[str, str],
        remove: Sequence[str],
        too_many: ServiceError,
    ) -> None:
        def change(tags: dict[str, str]) -> dict[str, str]:
            for key in remove:
                tags.pop(key, None)
            tags.update(add)
            if len(tags) > 50:
                raise too_many
            return tags

        result = await self._store.write(
            lambda c: sql.update_tags(c, ctx.region, ctx.account_id, name, change)
        )
        if result is None:
            raise _not_found(_NO_GROUP)

    async def TagLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = _check_group_name("logGroupName", params.get("logGroupName"))
        tags = _check_tags("tags", _required(params, "tags"))
        await self._change_tags(ctx, name, tags, (), _invalid("A log group can have no more than 50 tags."))
        return {}

    async def UntagLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = _check_group_name("logGroupName", params.get("logGroupName"))
        keys = _required(params, "tags")
        await self._change_tags(ctx, name, {}, [str(k) for k in keys], _invalid("unreachable"))
        return {}

    async def ListTagsLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = _check_group_name("logGroupName", params.get("logGroupName"))
        group = await self._load_group(ctx, name)
        return {"tags": dict(group.tags)}

    async def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = self._arn_group(ctx, params.get("resourceArn"))
        tags = _check_tags("tags", _required(params, "tags"))
        too_many = client_error("TooManyTagsException", "A resource can have no more than 50 tags.")
        await self._change_tags(ctx, name, tags, (), too_many)
        return {}

    async def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = self._arn_group(ctx, params.get("resourceArn"))
        keys = _required(params, "tagKeys")
        await self._change_tags(ctx, name, {}, [str(k) for k in keys], _invalid("unreachable"))
        return {}

    async def ListTagsForResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = self._arn_group(ctx, params.get("resourceArn"))
        group = await self._load_group(ctx, name)
        return {"tags": dict(group.tags)}

    # ============================================================================================
    # log streams
    # ============================================================================================

    async def CreateLogStream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        gname = _check_group_name("logGroupName", params.get("logGroupName"))
        sname = _check_stream_name("logStreamName", params.get("logStreamName"))
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
        gname = _check_group_name("logGroupName", params.get("logGroupName"))
        sname = _check_stream_name("logStreamName", params.get("logStreamName"))
        self._forget(ctx.region, ctx.account_id, gname, sname)

        def fn(c: Any) -> None:
            group = self._group_or_404(c, ctx, gname)
            if not sql.delete_stream(c, group.id, sname):
                raise _not_found(_NO_STREAM)

        await self._store.write(fn)
        self._forget(ctx.region, ctx.account_id, gname, sname)
        return {}

    async def DescribeLogStreams(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.flush()  # read your writes: events appended before this request are visible
        gname = self._group_name(ctx, params)
        order_by: Literal["LogStreamName", "LastEventTime"] = params.get("orderBy") or "LogStreamName"
        if order_by not in ("LogStreamName", "LastEventTime"):
            raise _constraint(
                "orderBy", order_by, "Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )
        prefix = params.get("logStreamNamePrefix")
        if prefix is not None:
            _check_stream_name("logStreamNamePrefix", prefix)
            if order_by == "LastEventTime":
                raise _invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        descending = bool(params.get("descending") or False)
        limit = _int_param(params, "limit", lo=1, hi=50) or 50
        after: tuple[int, str] | None = None
        if params.get("nextToken") is not None:
            tok = _decode_token(params["nextToken"], "streams")
            t, n = tok.get("t"), tok.get("n")
            if not isinstance(t, int) or not -1 <= t < 2**63 or not isinstance(n, str):
                raise _invalid("The specified nextToken is invalid.")
            after = (t, n)
        q = sql.StreamQuery(prefix=prefix, order_by=order_by, descending=descending, after=after, limit=limit)

        def fn(c: Any) -> list[LogStream]:
            return sql.list_streams(c, self._group_or_404(c, ctx, gname), q)

        streams = await self._store.read(fn)
        out: dict[str, Any] = {"logStreams": [s.to_api() for s in streams[:limit]]}
        if len(streams) > limit:
            last = streams[limit - 1]
            t = last.last_event_ts if last.last_event_ts is not None else -1
            out["nextToken"] = _encode_token({"k": "streams", "t": t, "n": last.name})
        return out

    # ============================================================================================
    # log events
    # ============================================================================================

    async def PutLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        gname = _check_group_name("logGroupName", params.get("logGroupName"))
        sname = _check_stream_name("logStreamName", params.get("logStreamName"))
        raw = _required(params, "logEvents")
        if not isinstance(raw, list) or len(raw) < 1:
            raise _constraint("logEvents", raw, "Member must have length greater than or equal to 1")
        if len(raw) > 10_000:
            raise _constraint("logEvents", "[...]", "Member must have length less than or equal to 10000")
        events: list[tuple[int, str]] = []
        size = 0
        for i, ev in enumerate(raw, start=1):
            ts, msg = ev.get("timestamp"), ev.get("message")
            if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
                raise _constraint(
                    f"logEvents.{i}.member.timestamp", ts, "Member must have value greater than or equal to 0"
                )
            if not isinstance(msg, str) or not msg:
                raise _constraint(
                    f"logEvents.{i}.member.message", msg, "Member must have length greater than or equal to 1"
                )
            size += len(msg.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD
            events.append((ts, msg))
        if size > MAX_BATCH_BYTES:
            raise _invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
        if any(events[i][0] < events[i - 1][0] for i in range(1, len(events))):
            raise _invalid("Log events in a single PutLogEvents request must be in chronological order.")
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
                raise _invalid(
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

    async def GetLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.flush()  # read your writes: events appended before this request are visible
        gname = self._group_name(ctx, params)
        sname = _check_stream_name("logStreamName", params.get("logStreamName"))
        start = _int_param(params, "startTime", lo=0)
        end = _int_param(params, "endTime", lo=0)
        limit = _int_param(params, "limit", lo=1, hi=10_000) or 10_000
        token = params.get("nextToken")
        direction: Literal["f", "b"]
        pos: int | None = None
        if token is not None:
            m = _EVENT_TOKEN.fullmatch(str(token))
            if m is None:
                raise _invalid("The specified nextToken is invalid.")
            direction, pos = ("f" if m["dir"] == "f" else "b"), int(m["pos"])
        else:
            direction = "f" if params.get("startFromHead") else "b"
        backward = direction == "b"
        scan = sql.EventScan(
            start_time=start,
            end_time=end,
            after=None if pos is None else (pos if backward else pos - 1),
            descending=backward,
            limit=limit,
            max_bytes=MAX_RESPONSE_BYTES,
        )

        def fn(c: Any) -> list[LogEvent]:
            group = self._group_or_404(c, ctx, gname)
            stream = self._stream_or_404(c, group, sname)
            return sql.scan_events(c, scan, group_id=group.id, stream_ids=[stream.id]).events

        events = await self._store.read(fn)
        if backward:
            events.reverse()
        if events:
            forward = _event_token("f", events[-1].position + 1)
            back = _event_token("b", events[0].position)
        else:
            here = pos if pos is not None else (start or 0) * POSITION_SCALE
            forward, back = _event_token("f", here), _event_token("b", here)
            if token is not None:  # at the end: hand back the very token we were given
                if backward:
                    back = str(token)
                else:
                    forward = str(token)
        return {
            "events": [e.to_output() for e in events],
            "nextForwardToken": forward,
            "nextBackwardToken": back,
        }

    async def FilterLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.flush()  # read your writes: events appended before this request are visible
        gname = self._group_name(ctx, params)
        names = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix")
        if names is not None:
            if not isinstance(names, list) or not 1 <= len(names) <= 100:
                raise _constraint("logStreamNames", names, "Member must have length between 1 and 100")
            for n in names:
                _check_stream_name("logStreamNames.member", n)
        if prefix is not None:
            _check_stream_name("logStreamNamePrefix", prefix)
        if names and prefix:
            raise _invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        pattern_text = params.get("filterPattern") or ""
        if len(pattern_text) > 1024:
            raise _constraint(
                "filterPattern", pattern_text, "Member must have length less than or equal to 1024"
            )
        try:
            pattern = compile_pattern(pattern_text)
        except FilterPatternError:
            raise _invalid("Invalid filter pattern") from None
        start = _int_param(params, "startTime", lo=0)
        end = _int_param(params, "endTime", lo=0)
        limit = _int_param(params, "limit", lo=1, hi=10_000) or 10_000
        descending = params.get("startFromHead") is False
        after: int | None = None
        if params.get("nextToken") is not None:
            tok = _decode_token(params["nextToken"], "events")
            p, d = tok.get("p"), tok.get("d")
            if not isinstance(p, int) or p < 0 or not isinstance(d, bool):
                raise _invalid("The specified nextToken is invalid.")
            after, descending = p, d
        scan = sql.EventScan(
            start_time=start,
            end_time=None if end is None else end + 1,  # FilterLogEvents' endTime is inclusive
            after=after,
            descending=descending,
            limit=limit,
            max_bytes=MAX_RESPONSE_BYTES,
            max_scanned=_FILTER_SCAN_BUDGET,
        )
        keep = None if pattern.kind == "all" else pattern.matches

        def fn(c: Any) -> sql.ScanResult | None:
            group = self._group_or_404(c, ctx, gname)
            ids = None
            if names:
                ids = sql.stream_ids_by_names(c, group.id, names)
                if not ids:
                    return None
            return sql.scan_events(
                c, scan, group_id=group.id, stream_ids=ids, stream_prefix=prefix, keep=keep
            )

        result = await self._store.read(fn)
        out: dict[str, Any] = {"events": [], "searchedLogStreams": []}
        if result is None:
            return out
        out["events"] = [e.to_filtered() for e in result.events]
        if not result.exhausted and result.last_scanned is not None:
            out["nextToken"] = _encode_token({"k": "events", "p": result.last_scanned, "d": descending})
        return out


def _chunks(
    batch: dict[sql.StreamKey, list[tuple[int, str]]], size: int
) -> list[dict[sql.StreamKey, list[tuple[int, str]]]]:
    """Split a writer batch into pieces of at most `size` events (one store transaction each)."""
    out: list[dict[sql.StreamKey, list[tuple[int, str]]]] = []
    cur: dict[sql.StreamKey, list[tuple[int, str]]] = {}
    n = 0
    for key, events in batch.items():
        for i in range(0, len(events), size):
            part = events[i : i + size]
            if n + len(part) > size and cur:
                out.append(cur)
                cur, n = {}, 0
            if key in cur:
                cur[key].extend(part)
            else:
                cur[key] = part
            n += len(part)
    if cur:
        out.append(cur)
    return out
