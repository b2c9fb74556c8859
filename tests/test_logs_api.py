"""CloudWatch Logs service: API operations and the Lambda-side writer, over a real store."""

from __future__ import annotations

import asyncio
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


@pytest.fixture
def h(tmp_path: Path) -> Harness:
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


# -- log groups --------------------------------------------------------------------------------


def test_create_and_describe_log_group(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        assert await svc.CreateLogGroup(CTX, {"logGroupName": GROUP}) == {}
        out = await svc.DescribeLogGroups(CTX, {})
        assert out == {
            "logGroups": [
                {
                    "logGroupName": GROUP,
                    "creationTime": h.now_ms,
                    "metricFilterCount": 0,
                    "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:*",
                    "storedBytes": 0,
                    "logGroupClass": "STANDARD",
                    "logGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}",
                }
            ]
        }
        await expect_error(
            "ResourceAlreadyExistsException",
            svc.CreateLogGroup(CTX, {"logGroupName": GROUP}),
            "The specified log group already exists",
        )

    h.run(body)


def test_log_group_names_are_validated(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        for bad in ("has space", "colon:name", "x" * 513, ""):
            await expect_error("InvalidParameterException", svc.CreateLogGroup(CTX, {"logGroupName": bad}))
        await expect_error("InvalidParameterException", svc.CreateLogGroup(CTX, {"logGroupName": "aws/mine"}))
        await expect_error("InvalidParameterException", svc.CreateLogGroup(CTX, {}))
        await svc.CreateLogGroup(CTX, {"logGroupName": "a.b-c_d/e#f"})

    h.run(body)


def test_describe_log_groups_prefix_pattern_and_paging(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        names = ["/aws/lambda/b", "/aws/lambda/a", "/app/one", "/app/two", "/aws/lambda/c"]
        for n in names:
            await svc.CreateLogGroup(CTX, {"logGroupName": n})
        everything = await svc.DescribeLogGroups(CTX, {})
        assert [g["logGroupName"] for g in everything["logGroups"]] == sorted(names)
        assert "nextToken" not in everything

        pre = await svc.DescribeLogGroups(CTX, {"logGroupNamePrefix": "/aws/lambda/"})
        assert [g["logGroupName"] for g in pre["logGroups"]] == [
            "/aws/lambda/a",
            "/aws/lambda/b",
            "/aws/lambda/c",
        ]
        pat = await svc.DescribeLogGroups(CTX, {"logGroupNamePattern": "app/t"})
        assert [g["logGroupName"] for g in pat["logGroups"]] == ["/app/two"]

        seen: list[str] = []
        params: dict[str, Any] = {"limit": 2}
        pages = 0
        while True:
            page = await svc.DescribeLogGroups(CTX, params)
            pages += 1
            assert len(page["logGroups"]) <= 2
            seen += [g["logGroupName"] for g in page["logGroups"]]
            if "nextToken" not in page:
                break
            params["nextToken"] = page["nextToken"]
        assert seen == sorted(names) and pages == 3

        for bad in ({"limit": 0}, {"limit": 51}, {"nextToken": "garbage!"}):
            await expect_error("InvalidParameterException", svc.DescribeLogGroups(CTX, bad))
        await expect_error(
            "InvalidParameterException",
            svc.DescribeLogGroups(CTX, {"logGroupNamePrefix": "/a", "logGroupNamePattern": "b"}),
        )

    h.run(body)


def test_groups_are_scoped_to_region_and_account(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await svc.CreateLogGroup(CTX, {"logGroupName": GROUP})
        await svc.CreateLogGroup(OTHER_REGION, {"logGroupName": GROUP})  # same name, other namespace
        assert (await svc.DescribeLogGroups(OTHER_ACCOUNT, {}))["logGroups"] == []
        eu = (await svc.DescribeLogGroups(OTHER_REGION, {}))["logGroups"]
        assert [g["arn"] for g in eu] == [f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:{GROUP}:*"]
        await expect_error(
            "ResourceNotFoundException",
            svc.DescribeLogStreams(OTHER_ACCOUNT, {"logGroupName": GROUP}),
            "The specified log group does not exist.",
        )

    h.run(body)


def test_delete_log_group_removes_streams_and_events(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await make_stream(svc, "s")
        await put(svc, "s", [(h.now_ms, "hello")])
        await svc.DeleteLogGroup(CTX, {"logGroupName": GROUP})
        assert (await svc.DescribeLogGroups(CTX, {}))["logGroups"] == []
        await expect_error(
            "ResourceNotFoundException",
            svc.DeleteLogGroup(CTX, {"logGroupName": GROUP}),
            "The specified log group does not exist.",
        )
        await make_stream(svc, "s")
        out = await svc.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "s"})
        assert out["events"] == []

    h.run(body)


def test_retention_policy(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await svc.CreateLogGroup(CTX, {"logGroupName": GROUP})
        await svc.PutRetentionPolicy(CTX, {"logGroupName": GROUP, "retentionInDays": 7})
        (group,) = (await svc.DescribeLogGroups(CTX, {}))["logGroups"]
        assert group["retentionInDays"] == 7
        err = await expect_error(
            "InvalidParameterException",
            svc.PutRetentionPolicy(CTX, {"logGroupName": GROUP, "retentionInDays": 2}),
        )
        assert "Member must satisfy enum value set: [1, 3, 5, 7, 14," in err.message
        await expect_error(
            "ResourceNotFoundException",
            svc.PutRetentionPolicy(CTX, {"logGroupName": "/nope", "retentionInDays": 1}),
        )
        await svc.DeleteRetentionPolicy(CTX, {"logGroupName": GROUP})
        (group,) = (await svc.DescribeLogGroups(CTX, {}))["logGroups"]
        assert "retentionInDays" not in group

    h.run(body)


def test_retention_expires_old_events(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await make_stream(svc, "s")
        old = h.now_ms
        await put(svc, "s", [(old, "old event")])
        h.clock.advance(2 * 86400)
        await put(svc, "s", [(h.now_ms, "new event")])
        await svc.PutRetentionPolicy(CTX, {"logGroupName": GROUP, "retentionInDays": 1})
        assert await svc.expire() == 1
        out = await svc.GetLogEvents(
            CTX, {"logGroupName": GROUP, "logStreamName": "s", "startFromHead": True}
        )
        assert [e["message"] for e in out["events"]] == ["new event"]
        (group,) = (await svc.DescribeLogGroups(CTX, {}))["logGroups"]
        assert group["storedBytes"] == len("new event")
        # events older than the retention period are refused at ingestion
        res = await put(svc, "s", [(old, "too old for the group"), (h.now_ms, "fine")])
        assert res["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}

    h.run(body)


def test_tags_by_name_and_by_arn(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await svc.CreateLogGroup(CTX, {"logGroupName": GROUP, "tags": {"team": "a"}})
        assert await svc.ListTagsLogGroup(CTX, {"logGroupName": GROUP}) == {"tags": {"team": "a"}}
        await svc.TagLogGroup(CTX, {"logGroupName": GROUP, "tags": {"env": "dev"}})
        await svc.UntagLogGroup(CTX, {"logGroupName": GROUP, "tags": ["team"]})
        assert await svc.ListTagsLogGroup(CTX, {"logGroupName": GROUP}) == {"tags": {"env": "dev"}}

        arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}"
        await svc.TagResource(CTX, {"resourceArn": arn, "tags": {"x": "1"}})
        assert await svc.ListTagsForResource(CTX, {"resourceArn": arn + ":*"}) == {
            "tags": {"env": "dev", "x": "1"}
        }
        await svc.UntagResource(CTX, {"resourceArn": arn, "tagKeys": ["env", "absent"]})
        assert await svc.ListTagsForResource(CTX, {"resourceArn": arn}) == {"tags": {"x": "1"}}

        too_many = {f"k{i}": "v" for i in range(50)}
        await expect_error(
            "TooManyTagsException", svc.TagResource(CTX, {"resourceArn": arn, "tags": too_many})
        )
        missing = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/nope"
        await expect_error(
            "ResourceNotFoundException", svc.ListTagsForResource(CTX, {"resourceArn": missing})
        )
        await expect_error(
            "InvalidParameterException", svc.ListTagsForResource(CTX, {"resourceArn": "arn:bad"})
        )
        await expect_error(
            "ResourceNotFoundException", svc.TagLogGroup(CTX, {"logGroupName": "/nope", "tags": {"a": "b"}})
        )

    h.run(body)


# -- log streams -------------------------------------------------------------------------------


def test_create_log_stream_errors(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await expect_error(
            "ResourceNotFoundException",
            svc.CreateLogStream(CTX, {"logGroupName": GROUP, "logStreamName": "s"}),
            "The specified log group does not exist.",
        )
        await make_stream(svc, "s")
        await expect_error(
            "ResourceAlreadyExistsException",
            svc.CreateLogStream(CTX, {"logGroupName": GROUP, "logStreamName": "s"}),
            "The specified log stream already exists",
        )
        await expect_error(
            "InvalidParameterException",
            svc.CreateLogStream(CTX, {"logGroupName": GROUP, "logStreamName": "a:b"}),
        )
        await expect_error(
            "ResourceNotFoundException",
            svc.DeleteLogStream(CTX, {"logGroupName": GROUP, "logStreamName": "nope"}),
            "The specified log stream does not exist.",
        )

    h.run(body)


def test_describe_log_streams_fields_and_event_times(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        created = h.now_ms
        await make_stream(svc, "2024/01/01/[$LATEST]abc")
        (s,) = (await svc.DescribeLogStreams(CTX, {"logGroupName": GROUP}))["logStreams"]
        assert s["logStreamName"] == "2024/01/01/[$LATEST]abc"
        assert s["creationTime"] == created
        assert (
            s["arn"]
            == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:log-stream:2024/01/01/[$LATEST]abc"
        )
        assert s["storedBytes"] == 0
        assert "firstEventTimestamp" not in s and "lastEventTimestamp" not in s
        token0 = s["uploadSequenceToken"]

        h.clock.advance(5)
        res = await put(svc, s["logStreamName"], [(created + 1, "a"), (created + 3, "b")])
        (s,) = (await svc.DescribeLogStreams(CTX, {"logGroupName": GROUP}))["logStreams"]
        assert s["firstEventTimestamp"] == created + 1
        assert s["lastEventTimestamp"] == created + 3
        assert s["lastIngestionTime"] == h.now_ms
        assert s["uploadSequenceToken"] != token0
        assert s["uploadSequenceToken"] == res["nextSequenceToken"]

        by_arn = await svc.DescribeLogStreams(
            CTX, {"logGroupIdentifier": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:*"}
        )
        assert by_arn["logStreams"][0]["logStreamName"] == s["logStreamName"]
        await expect_error(
            "InvalidParameterException",
            svc.DescribeLogStreams(CTX, {"logGroupName": GROUP, "logGroupIdentifier": GROUP}),
        )
        await expect_error("InvalidParameterException", svc.DescribeLogStreams(CTX, {}))

    h.run(body)


def test_describe_log_streams_ordering_and_paging(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        t = h.now_ms
        # name order and last-event order differ on purpose
        for name, last in [("a", 30), ("b", 10), ("c", 40), ("d", 20)]:
            await make_stream(svc, name)
            await put(svc, name, [(t + last, name)])
        await make_stream(svc, "e")  # no events yet

        async def names(**params: Any) -> list[str]:
            out = await svc.DescribeLogStreams(CTX, {"logGroupName": GROUP, **params})
            return [s["logStreamName"] for s in out["logStreams"]]

        assert await names() == ["a", "b", "c", "d", "e"]
        assert await names(descending=True) == ["e", "d", "c", "b", "a"]
        assert await names(orderBy="LastEventTime") == ["e", "b", "d", "a", "c"]
        assert await names(orderBy="LastEventTime", descending=True) == ["c", "a", "d", "b", "e"]
        assert await names(logStreamNamePrefix="c") == ["c"]
        await expect_error(
            "InvalidParameterException",
            svc.DescribeLogStreams(
                CTX, {"logGroupName": GROUP, "orderBy": "LastEventTime", "logStreamNamePrefix": "a"}
            ),
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        )

        for order in ("LogStreamName", "LastEventTime"):
            for descending in (False, True):
                params: dict[str, Any] = {
                    "logGroupName": GROUP,
                    "orderBy": order,
                    "descending": descending,
                    "limit": 2,
                }
                paged: list[str] = []
                while True:
                    page = await svc.DescribeLogStreams(CTX, params)
                    paged += [s["logStreamName"] for s in page["logStreams"]]
                    if "nextToken" not in page:
                        break
                    params["nextToken"] = page["nextToken"]
                assert paged == await names(orderBy=order, descending=descending)

    h.run(body)


# -- PutLogEvents ------------------------------------------------------------------------------


def test_put_log_events_validation(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        now = h.now_ms
        await expect_error(
            "ResourceNotFoundException",
            put(svc, "s", [(now, "x")]),
            "The specified log group does not exist.",
        )
        await svc.CreateLogGroup(CTX, {"logGroupName": GROUP})
        await expect_error(
            "ResourceNotFoundException",
            put(svc, "s", [(now, "x")]),
            "The specified log stream does not exist.",
        )
        await svc.CreateLogStream(CTX, {"logGroupName": GROUP, "logStreamName": "s"})
        await expect_error(
            "InvalidParameterException",
            put(svc, "s", [(now, "b"), (now - 1, "a")]),
            "Log events in a single PutLogEvents request must be in chronological order.",
        )
        await expect_error(
            "InvalidParameterException",
            put(svc, "s", [(now - 25 * 3_600_000, "a"), (now, "b")]),
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        )
        await expect_error("InvalidParameterException", put(svc, "s", []))
        await expect_error("InvalidParameterException", put(svc, "s", [(now, "")]))
        big = "x" * 600_000
        await expect_error("InvalidParameterException", put(svc, "s", [(now, big), (now, big)]))

    h.run(body)


def test_put_log_events_rejects_too_old_and_too_new(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await make_stream(svc, "s")
        now = h.now_ms
        day = 86_400_000
        res = await put(
            svc,
            "s",
            [(now - 15 * day, "ancient"), (now - 1000, "ok1"), (now, "ok2"), (now + 3 * 3_600_000, "future")],
        )
        assert res["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 3}
        out = await svc.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "s"})
        assert [e["message"] for e in out["events"]] == ["ok1", "ok2"]
        assert all(e["ingestionTime"] == now for e in out["events"])
        (group,) = (await svc.DescribeLogGroups(CTX, {}))["logGroups"]
        assert group["storedBytes"] == len("ok1ok2")

    h.run(body)


# -- GetLogEvents ------------------------------------------------------------------------------


async def _fill(h: Harness, svc: LogsService, n: int, stream: str = "s") -> list[str]:
    await make_stream(svc, stream)
    t = h.now_ms - 100_000
    msgs = [f"event {i:03d}" for i in range(n)]
    await put(svc, stream, [(t + i, m) for i, m in enumerate(msgs)])
    return msgs


def test_get_log_events_default_returns_newest_page(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        msgs = await _fill(h, svc, 25)
        out = await svc.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "s", "limit": 10})
        assert [e["message"] for e in out["events"]] == msgs[15:]
        assert out["nextForwardToken"].startswith("f/") and out["nextBackwardToken"].startswith("b/")
        # walk backward to the start
        seen = [e["message"] for e in out["events"]]
        token = out["nextBackwardToken"]
        while True:
            page = await svc.GetLogEvents(
                CTX, {"logGroupName": GROUP, "logStreamName": "s", "limit": 10, "nextToken": token}
            )
            if page["nextBackwardToken"] == token:
                assert page["events"] == []
                break
            seen = [e["message"] for e in page["events"]] + seen
            token = page["nextBackwardToken"]
        assert seen == msgs

    h.run(body)


def test_get_log_events_forward_paging_and_follow(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        msgs = await _fill(h, svc, 23)
        params: dict[str, Any] = {
            "logGroupName": GROUP,
            "logStreamName": "s",
            "limit": 10,
            "startFromHead": True,
        }
        seen: list[str] = []
        while True:
            page = await svc.GetLogEvents(CTX, params)
            seen += [e["message"] for e in page["events"]]
            if page["nextForwardToken"] == params.get("nextToken"):
                break
            params["nextToken"] = page["nextForwardToken"]
        assert seen == msgs
        end_token = params["nextToken"]
        # at the end the same token keeps coming back...
        again = await svc.GetLogEvents(CTX, params)
        assert again["events"] == [] and again["nextForwardToken"] == end_token
        # ...until new events arrive, which it then returns
        await put(svc, "s", [(h.now_ms, "late 1"), (h.now_ms, "late 2")])
        page = await svc.GetLogEvents(CTX, params)
        assert [e["message"] for e in page["events"]] == ["late 1", "late 2"]
        assert page["nextForwardToken"] != end_token
        params["nextToken"] = page["nextForwardToken"]
        assert (await svc.GetLogEvents(CTX, params))["nextForwardToken"] == page["nextForwardToken"]

    h.run(body)


def test_get_log_events_empty_stream_tokens_then_tail(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await make_stream(svc, "s")
        first = await svc.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "s"})
        assert first["events"] == []
        token = first["nextForwardToken"]
        again = await svc.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "s", "nextToken": token})
        assert again["nextForwardToken"] == token
        await put(svc, "s", [(h.now_ms, "hello")])
        page = await svc.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "s", "nextToken": token})
        assert [e["message"] for e in page["events"]] == ["hello"]

    h.run(body)


def test_get_log_events_time_range_and_errors(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await make_stream(svc, "s")
        t = h.now_ms
        await put(svc, "s", [(t + i, str(i)) for i in range(10)])
        out = await svc.GetLogEvents(
            CTX,
            {
                "logGroupName": GROUP,
                "logStreamName": "s",
                "startTime": t + 2,
                "endTime": t + 5,
                "startFromHead": True,
            },
        )
        assert [e["message"] for e in out["events"]] == ["2", "3", "4"]  # endTime is exclusive
        await expect_error(
            "ResourceNotFoundException",
            svc.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "nope"}),
            "The specified log stream does not exist.",
        )
        await expect_error(
            "InvalidParameterException",
            svc.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "s", "nextToken": "x/123"}),
        )
        await expect_error(
            "InvalidParameterException",
            svc.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "s", "limit": 0}),
        )
        # tokens and times are client input: absurd values give empty pages, not server errors
        for crafted in ("f/" + "9" * 60, "b/" + "9" * 60, "f/0", "b/0"):
            page = await svc.GetLogEvents(
                CTX, {"logGroupName": GROUP, "logStreamName": "s", "nextToken": crafted}
            )
            assert isinstance(page["events"], list)
        huge = await svc.GetLogEvents(
            CTX, {"logGroupName": GROUP, "logStreamName": "s", "startTime": 2**63 - 1, "endTime": 2**63 - 1}
        )
        assert huge["events"] == []
        far = await svc.FilterLogEvents(CTX, {"logGroupName": GROUP, "endTime": 2**63 - 1})
        assert len(far["events"]) == 10

    h.run(body)


def test_same_timestamp_events_keep_ingestion_order_across_pages(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await make_stream(svc, "s")
        t = h.now_ms
        await put(svc, "s", [(t, f"m{i}") for i in range(7)])
        params: dict[str, Any] = {
            "logGroupName": GROUP,
            "logStreamName": "s",
            "limit": 3,
            "startFromHead": True,
        }
        seen: list[str] = []
        for _ in range(4):
            page = await svc.GetLogEvents(CTX, params)
            seen += [e["message"] for e in page["events"]]
            params["nextToken"] = page["nextForwardToken"]
        assert seen == [f"m{i}" for i in range(7)]

    h.run(body)


# -- FilterLogEvents ---------------------------------------------------------------------------


def test_filter_log_events_interleaves_streams(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        t = h.now_ms - 1000
        await make_stream(svc, "a")
        await make_stream(svc, "b")
        await put(svc, "a", [(t + 1, "a1 ERROR"), (t + 3, "a3 INFO"), (t + 5, "a5 ERROR")])
        await put(svc, "b", [(t + 2, "b2 INFO"), (t + 4, "b4 ERROR")])
        out = await svc.FilterLogEvents(CTX, {"logGroupName": GROUP})
        assert [e["message"] for e in out["events"]] == [
            "a1 ERROR",
            "b2 INFO",
            "a3 INFO",
            "b4 ERROR",
            "a5 ERROR",
        ]
        assert [e["logStreamName"] for e in out["events"]] == ["a", "b", "a", "b", "a"]
        assert "nextToken" not in out
        assert out["searchedLogStreams"] == []
        ev = out["events"][0]
        assert set(ev) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
        assert len({e["eventId"] for e in out["events"]}) == 5

        async def msgs(**params: Any) -> list[str]:
            res = await svc.FilterLogEvents(CTX, {"logGroupName": GROUP, **params})
            return [e["message"] for e in res["events"]]

        assert await msgs(filterPattern="ERROR") == ["a1 ERROR", "b4 ERROR", "a5 ERROR"]
        assert await msgs(filterPattern="ERROR -a5") == ["a1 ERROR", "b4 ERROR"]
        assert await msgs(logStreamNames=["b"]) == ["b2 INFO", "b4 ERROR"]
        assert await msgs(logStreamNames=["b", "a"], filterPattern="INFO") == ["b2 INFO", "a3 INFO"]
        assert await msgs(logStreamNames=["zzz"]) == []
        assert await msgs(logStreamNamePrefix="a") == ["a1 ERROR", "a3 INFO", "a5 ERROR"]
        assert await msgs(startTime=t + 2, endTime=t + 4) == [
            "b2 INFO",
            "a3 INFO",
            "b4 ERROR",
        ]  # both inclusive
        assert await msgs(startFromHead=False) == ["a5 ERROR", "b4 ERROR", "a3 INFO", "b2 INFO", "a1 ERROR"]
        await expect_error(
            "InvalidParameterException",
            svc.FilterLogEvents(CTX, {"logGroupName": GROUP, "filterPattern": '{ $.x = "unterminated }'}),
            "Invalid filter pattern",
        )
        await expect_error(
            "InvalidParameterException",
            svc.FilterLogEvents(
                CTX, {"logGroupName": GROUP, "logStreamNames": ["a"], "logStreamNamePrefix": "a"}
            ),
        )
        await expect_error(
            "ResourceNotFoundException",
            svc.FilterLogEvents(CTX, {"logGroupName": "/nope"}),
            "The specified log group does not exist.",
        )

    h.run(body)


def test_filter_log_events_paging_returns_everything_once(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        t = h.now_ms - 10_000
        await make_stream(svc, "a")
        await make_stream(svc, "b")
        await put(svc, "a", [(t + i, f'{{"n": {i}, "s": "a"}}') for i in range(0, 40, 2)])
        await put(svc, "b", [(t + i, f'{{"n": {i}, "s": "b"}}') for i in range(1, 40, 2)])
        for descending in (False, True):
            params: dict[str, Any] = {
                "logGroupName": GROUP,
                "filterPattern": "{ $.n >= 5 && $.n < 35 }",
                "limit": 4,
                "startFromHead": not descending,
            }
            ids: list[str] = []
            ns: list[int] = []
            while True:
                page = await svc.FilterLogEvents(CTX, params)
                assert len(page["events"]) <= 4
                ids += [e["eventId"] for e in page["events"]]
                ns += [int(e["message"].split()[1].rstrip(",")) for e in page["events"]]
                if "nextToken" not in page:
                    break
                params["nextToken"] = page["nextToken"]
            expected = list(range(5, 35))
            assert ns == (expected[::-1] if descending else expected)
            assert len(set(ids)) == len(ids)

    h.run(body)


def test_filter_log_events_follow_like_aws_logs_tail(h: Harness) -> None:
    """`aws logs tail --follow` re-queries from the newest timestamp and skips eventIds it has seen."""

    async def body(h: Harness, svc: LogsService) -> None:
        await make_stream(svc, "s")
        t = h.now_ms
        await put(svc, "s", [(t, "one"), (t + 1, "two")])
        first = await svc.FilterLogEvents(CTX, {"logGroupName": GROUP, "interleaved": True, "startTime": t})
        seen = {(e["timestamp"], e["eventId"]) for e in first["events"]}
        await put(svc, "s", [(t + 1, "three"), (t + 2, "four")])
        again = await svc.FilterLogEvents(
            CTX, {"logGroupName": GROUP, "interleaved": True, "startTime": t + 1}
        )
        fresh = [e["message"] for e in again["events"] if (e["timestamp"], e["eventId"]) not in seen]
        assert fresh == ["three", "four"]

    h.run(body)


# -- writer interface (Lambda side) ------------------------------------------------------------


def test_append_creates_group_and_stream_and_flush_makes_durable(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        t = h.now_ms
        svc.append(REGION, ACCOUNT, GROUP, "env-1", [(t, "START"), (t + 1, "hello")])
        svc.append(REGION, ACCOUNT, GROUP, "env-1", [(t + 2, "END")])
        svc.append(REGION, ACCOUNT, GROUP, "env-2", [(t + 1, "other")])
        await svc.flush()
        out = await svc.GetLogEvents(
            CTX, {"logGroupName": GROUP, "logStreamName": "env-1", "startFromHead": True}
        )
        assert [e["message"] for e in out["events"]] == ["START", "hello", "END"]
        streams = (await svc.DescribeLogStreams(CTX, {"logGroupName": GROUP}))["logStreams"]
        assert [s["logStreamName"] for s in streams] == ["env-1", "env-2"]
        assert streams[0]["lastEventTimestamp"] == t + 2
        svc2 = await h.restart()
        out = await svc2.FilterLogEvents(CTX, {"logGroupName": GROUP})
        assert [e["message"] for e in out["events"]] == ["START", "hello", "other", "END"]

    h.run(body)


def test_ensure_group_and_stream_are_idempotent(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await svc.ensure_group(REGION, ACCOUNT, GROUP)
        await svc.ensure_stream(REGION, ACCOUNT, GROUP, "s")
        await svc.ensure_stream(REGION, ACCOUNT, GROUP, "s")
        await svc.ensure_group(REGION, ACCOUNT, GROUP)
        streams = (await svc.DescribeLogStreams(CTX, {"logGroupName": GROUP}))["logStreams"]
        assert [s["logStreamName"] for s in streams] == ["s"]
        # the cache forgets deleted groups, so ensuring again recreates them
        await svc.DeleteLogGroup(CTX, {"logGroupName": GROUP})
        await svc.ensure_stream(REGION, ACCOUNT, GROUP, "s")
        streams = (await svc.DescribeLogStreams(CTX, {"logGroupName": GROUP}))["logStreams"]
        assert [s["logStreamName"] for s in streams] == ["s"]

    h.run(body)


def test_append_truncates_oversized_messages_on_a_character_boundary(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        limit = 256 * 1024 - 26
        svc.append(REGION, ACCOUNT, GROUP, "s", [(h.now_ms, "a" * (limit + 100))])
        svc.append(REGION, ACCOUNT, GROUP, "s", [(h.now_ms, "a" + "é" * limit)])  # 2-byte characters
        svc.append(REGION, ACCOUNT, GROUP, "s", [(h.now_ms, "b" * limit)])
        await svc.flush()
        out = await svc.GetLogEvents(
            CTX, {"logGroupName": GROUP, "logStreamName": "s", "startFromHead": True}
        )
        sizes = [len(e["message"].encode()) for e in out["events"]]
        assert sizes == [limit, limit - 1, limit]
        assert out["events"][1]["message"] == "a" + "é" * ((limit - 1) // 2)

    h.run(body)


def test_append_many_small_batches_all_arrive_in_order(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        t = h.now_ms
        n = 0
        for i in range(200):
            svc.append(REGION, ACCOUNT, GROUP, "s", [(t + n + k, f"line {n + k}") for k in range(i % 7 + 1)])
            n += i % 7 + 1
            if i % 50 == 0:
                await asyncio.sleep(0)  # let the writer take a batch mid-stream
        await svc.flush()
        out = await svc.GetLogEvents(
            CTX, {"logGroupName": GROUP, "logStreamName": "s", "startFromHead": True}
        )
        assert [e["message"] for e in out["events"]] == [f"line {k}" for k in range(n)]
        (group,) = (await svc.DescribeLogGroups(CTX, {}))["logGroups"]
        assert group["storedBytes"] == sum(len(f"line {k}") for k in range(n))

    h.run(body)


def test_flush_with_nothing_appended_returns(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await svc.flush()
        svc.append(REGION, ACCOUNT, GROUP, "s", [(h.now_ms, "x")])
        await asyncio.gather(svc.flush(), svc.flush())
        await svc.flush()

    h.run(body)


def test_close_flushes_and_refuses_more(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        svc.append(REGION, ACCOUNT, GROUP, "s", [(h.now_ms, "last words")])
        await svc.close()
        with pytest.raises(RuntimeError):
            svc.append(REGION, ACCOUNT, GROUP, "s", [(h.now_ms, "too late")])
        svc2 = await h.restart()
        out = await svc2.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "s"})
        assert [e["message"] for e in out["events"]] == ["last words"]

    h.run(body)


def test_unflushed_events_of_a_deleted_group_do_not_recreate_it(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await svc.ensure_stream(REGION, ACCOUNT, GROUP, "s")
        svc.append(REGION, ACCOUNT, GROUP, "s", [(h.now_ms, "x")])
        await svc.DeleteLogGroup(CTX, {"logGroupName": GROUP})
        await svc.flush()
        assert (await svc.DescribeLogGroups(CTX, {}))["logGroups"] == []

    h.run(body)


def test_read_operations_see_events_appended_before_them(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        t = h.now_ms
        svc.append(REGION, ACCOUNT, GROUP, "s", [(t, "one")])
        (group,) = (await svc.DescribeLogGroups(CTX, {}))["logGroups"]
        assert group["logGroupName"] == GROUP
        svc.append(REGION, ACCOUNT, GROUP, "s2", [(t + 1, "two")])
        streams = (await svc.DescribeLogStreams(CTX, {"logGroupName": GROUP}))["logStreams"]
        assert [(s["logStreamName"], s["lastEventTimestamp"]) for s in streams] == [("s", t), ("s2", t + 1)]
        svc.append(REGION, ACCOUNT, GROUP, "s", [(t + 2, "three")])
        out = await svc.GetLogEvents(
            CTX, {"logGroupName": GROUP, "logStreamName": "s", "startFromHead": True}
        )
        assert [e["message"] for e in out["events"]] == ["one", "three"]
        svc.append(REGION, ACCOUNT, GROUP, "s2", [(t + 3, "four")])
        out = await svc.FilterLogEvents(CTX, {"logGroupName": GROUP})
        assert [e["message"] for e in out["events"]] == ["one", "two", "three", "four"]

    h.run(body)


def test_a_backlog_larger_than_one_transaction_is_written_whole(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        t = h.now_ms
        # more than the writer puts in one store transaction, spread over three streams
        for stream, n in (("a", 30_000), ("b", 45_000), ("c", 1)):
            svc.append(REGION, ACCOUNT, GROUP, stream, [(t + i, f"{stream}{i}") for i in range(n)])
        await svc.flush()
        streams = (await svc.DescribeLogStreams(CTX, {"logGroupName": GROUP}))["logStreams"]
        assert [(s["logStreamName"], s["lastEventTimestamp"]) for s in streams] == [
            ("a", t + 29_999),
            ("b", t + 44_999),
            ("c", t),
        ]
        out = await svc.GetLogEvents(CTX, {"logGroupName": GROUP, "logStreamName": "b", "limit": 2})
        assert [e["message"] for e in out["events"]] == ["b44998", "b44999"]

    h.run(body)


# -- restart -----------------------------------------------------------------------------------


def test_everything_survives_a_restart(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await svc.CreateLogGroup(CTX, {"logGroupName": GROUP, "tags": {"k": "v"}})
        await svc.PutRetentionPolicy(CTX, {"logGroupName": GROUP, "retentionInDays": 30})
        await svc.CreateLogStream(CTX, {"logGroupName": GROUP, "logStreamName": "s"})
        await put(svc, "s", [(h.now_ms, "before restart")])
        page = await svc.GetLogEvents(
            CTX, {"logGroupName": GROUP, "logStreamName": "s", "startFromHead": True}
        )
        groups_before = await svc.DescribeLogGroups(CTX, {})
        streams_before = await svc.DescribeLogStreams(CTX, {"logGroupName": GROUP})

        svc = await h.restart()
        assert await svc.DescribeLogGroups(CTX, {}) == groups_before
        assert await svc.DescribeLogStreams(CTX, {"logGroupName": GROUP}) == streams_before
        assert await svc.ListTagsLogGroup(CTX, {"logGroupName": GROUP}) == {"tags": {"k": "v"}}
        await put(svc, "s", [(h.now_ms + 1, "after restart")])
        nxt = await svc.GetLogEvents(
            CTX, {"logGroupName": GROUP, "logStreamName": "s", "nextToken": page["nextForwardToken"]}
        )
        assert [e["message"] for e in nxt["events"]] == ["after restart"]

    h.run(body)
