"""Reading log events: GetLogEvents (a stream, by position tokens) and FilterLogEvents (a group's
streams, with a filter pattern, paged within a scan budget). Both flush the writer first, so the
events appended before a request are visible to it, and never return an event its group's
retention has expired, swept or not."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from lambdabox.aws.context import RequestContext
from lambdabox.logs import store as sql
from lambdabox.logs.base import LogsBase
from lambdabox.logs.filter_pattern import FilterPatternError, compile_pattern
from lambdabox.logs.models import (
    MAX_RESPONSE_BYTES,
    POSITION_SCALE,
    LogEvent,
    LogGroup,
)
from lambdabox.logs.params import (
    BAD_TOKEN,
    check_stream_name,
    constraint,
    decode_token,
    encode_token,
    event_token,
    int_param,
    invalid,
)

_EVENT_TOKEN = re.compile(r"(?P<dir>[fb])/(?P<pos>\d{1,64})")
#: events examined by one FilterLogEvents call before it hands back a nextToken
_FILTER_SCAN_BUDGET = 200_000


def _unexpired(scan: sql.EventScan, group: LogGroup, now_ms: int) -> sql.EventScan:
    """`scan` limited to the events the group's retention still keeps at `now_ms`: expired events
    are never read, whether or not the sweep has deleted them yet."""
    cutoff = sql.retention_cutoff(group.retention_days, now_ms)
    if cutoff is None or (scan.start_time is not None and scan.start_time >= cutoff):
        return scan
    return dataclasses.replace(scan, start_time=cutoff)


class LogEventReads(LogsBase):
    """The event read operations."""

    async def GetLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.flush()  # read your writes: events appended before this request are visible
        gname = self._group_name(ctx, params)
        sname = check_stream_name("logStreamName", params.get("logStreamName"))
        start = int_param(params, "startTime", lo=0)
        end = int_param(params, "endTime", lo=0)
        limit = int_param(params, "limit", lo=1, hi=10_000) or 10_000
        token = params.get("nextToken")
        direction: Literal["f", "b"]
        pos: int | None = None
        if token is not None:
            m = _EVENT_TOKEN.fullmatch(str(token))
            if m is None:
                raise invalid(BAD_TOKEN)
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

        now = self._now_ms()

        def fn(c: Any) -> list[LogEvent]:
            group = self._group_or_404(c, ctx, gname)
            stream = self._stream_or_404(c, group, sname)
            kept = _unexpired(scan, group, now)
            return sql.scan_events(c, kept, group_id=group.id, stream_ids=[stream.id]).events

        events = await self._store.read(fn)
        if backward:
            events.reverse()
        if events:
            forward = event_token("f", events[-1].position + 1)
            back = event_token("b", events[0].position)
        else:
            here = pos if pos is not None else (start or 0) * POSITION_SCALE
            forward, back = event_token("f", here), event_token("b", here)
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
                raise constraint("logStreamNames", names, "Member must have length between 1 and 100")
            for n in names:
                check_stream_name("logStreamNames.member", n)
        if prefix is not None:
            check_stream_name("logStreamNamePrefix", prefix)
        if names and prefix:
            raise invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        pattern_text = params.get("filterPattern") or ""
        if len(pattern_text) > 1024:
            raise constraint(
                "filterPattern", pattern_text, "Member must have length less than or equal to 1024"
            )
        try:
            pattern = compile_pattern(pattern_text)
        except FilterPatternError:
            raise invalid("Invalid filter pattern") from None
        start = int_param(params, "startTime", lo=0)
        end = int_param(params, "endTime", lo=0)
        limit = int_param(params, "limit", lo=1, hi=10_000) or 10_000
        descending = params.get("startFromHead") is False
        after: int | None = None
        if params.get("nextToken") is not None:
            tok = decode_token(params["nextToken"], "events")
            p, d = tok.get("p"), tok.get("d")
            if not isinstance(p, int) or p < 0 or not isinstance(d, bool):
                raise invalid(BAD_TOKEN)
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

        now = self._now_ms()

        def fn(c: Any) -> sql.ScanResult | None:
            group = self._group_or_404(c, ctx, gname)
            ids = None
            if names:
                ids = sql.stream_ids_by_names(c, group.id, names)
                if not ids:
                    return None
            kept = _unexpired(scan, group, now)
            return sql.scan_events(
                c, kept, group_id=group.id, stream_ids=ids, stream_prefix=prefix, keep=keep
            )

        result = await self._store.read(fn)
        out: dict[str, Any] = {"events": [], "searchedLogStreams": []}
        if result is None:
            return out
        out["events"] = [e.to_filtered() for e in result.events]
        if not result.exhausted and result.last_scanned is not None:
            out["nextToken"] = encode_token({"k": "events", "p": result.last_scanned, "d": descending})
        return out
