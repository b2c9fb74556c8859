"""CloudWatch Logs service over a real store: log groups, log streams and PutLogEvents (logs_helpers)."""

from __future__ import annotations

from typing import Any

from lambdabox.logs import LogsService
from lambdabox.logs import store as sql
from logs_helpers import (
    ACCOUNT,
    CTX,
    GROUP,
    OTHER_ACCOUNT,
    OTHER_REGION,
    REGION,
    Harness,
    expect_error,
    make_stream,
    put,
)

# The fixtures these tests use, re-exported here so that pytest finds them.
from logs_helpers import h_fixture as h_fixture

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
        # reads leave expired events out before the sweep deleted them
        out = await svc.GetLogEvents(
            CTX, {"logGroupName": GROUP, "logStreamName": "s", "startFromHead": True, "startTime": 0}
        )
        assert [e["message"] for e in out["events"]] == ["new event"]
        out = await svc.FilterLogEvents(CTX, {"logGroupName": GROUP, "startTime": 0})
        assert [e["message"] for e in out["events"]] == ["new event"]
        assert await svc.expire() == 1
        assert await svc.expire() == 0
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


def test_expiry_deletes_in_bounded_transactions_and_counts_the_bytes(h: Harness) -> None:
    async def body(h: Harness, svc: LogsService) -> None:
        await make_stream(svc, "s")
        await put(svc, "s", [(h.now_ms + i, f"event {i}") for i in range(5)])
        h.clock.advance(3 * 86400)
        await svc.PutRetentionPolicy(CTX, {"logGroupName": GROUP, "retentionInDays": 1})
        assert h.store is not None
        now = h.now_ms
        assert await h.store.write(lambda c: sql.expire_events(c, now, limit=2)) == 2
        (group,) = (await svc.DescribeLogGroups(CTX, {}))["logGroups"]
        assert group["storedBytes"] == 3 * len("event 0")
        assert await svc.expire() == 3
        (group,) = (await svc.DescribeLogGroups(CTX, {}))["logGroups"]
        assert group["storedBytes"] == 0

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
