"""Log messages are stored and returned whole, NUL characters included: by PutLogEvents and by a
function's output lines alike (SQLite's JSON functions end a string at a NUL)."""

from __future__ import annotations

from typing import Any

from logs_helpers import group_with

NUL_MESSAGES = ["before\u0000after-NUL", "\u0000", "a\u0000\u0000b\u0000", "plain"]


def test_put_log_events_keeps_nul_characters(logs: Any) -> None:
    group = group_with(logs, NUL_MESSAGES, "/nul/group")
    got = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in got] == NUL_MESSAGES
    filtered = logs.filter_log_events(logGroupName=group, filterPattern='"after-NUL"')["events"]
    assert [e["message"] for e in filtered] == ["before\u0000after-NUL"]
    stored = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["storedBytes"]
    assert stored == sum(len(m.encode()) for m in NUL_MESSAGES)


def test_function_output_with_nul_reaches_the_log_group_whole(lam: Any, logs: Any, create_fn: Any) -> None:
    src = "def handler(event, context):\n    print('before\\x00after-NUL from a function')\n    return 1\n"
    name = create_fn({"app.py": src})
    lam.invoke(FunctionName=name, Payload=b"{}")
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    lines = [e["message"] for e in events if "after-NUL" in e["message"]]
    assert [line.rstrip("\n") for line in lines] == ["before\u0000after-NUL from a function"]
