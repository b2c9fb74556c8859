"""CloudWatch Logs service over a real store: the Lambda-side writer, and surviving a restart."""

from __future__ import annotations

import asyncio

import pytest

from lambdabox.logs import LogsService
from logs_helpers import (
    ACCOUNT,
    CTX,
    GROUP,
    REGION,
    Harness,
    put,
)

# The fixtures these tests use, re-exported here so that pytest finds them.
from logs_helpers import h_fixture as h_fixture

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
