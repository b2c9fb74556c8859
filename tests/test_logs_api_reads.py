"""CloudWatch Logs service over a real store: reading events with GetLogEvents and FilterLogEvents."""

from __future__ import annotations

from typing import Any

from lambdabox.logs import LogsService
from logs_helpers import (
    CTX,
    GROUP,
    Harness,
    expect_error,
    make_stream,
    put,
)

# The fixtures these tests use, re-exported here so that pytest finds them.
from logs_helpers import h_fixture as h_fixture

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
