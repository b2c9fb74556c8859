"""PutRetentionPolicy expires log events on the server's clock, as CloudWatch Logs does: reads stop
returning them, the background sweep deletes them and `storedBytes` shrinks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import deploy, wait_until
from lambdabox.testing import LocalLambdabox

DAY = 86_400


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def now_ms(lbx: LocalLambdabox) -> int:
    return int(lbx.clock.now() * 1000)


def stored_bytes(logs: Any, group: str) -> int:
    (found,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return int(found["storedBytes"])


def messages(logs: Any, group: str) -> list[str]:
    return [e["message"] for e in logs.filter_log_events(logGroupName=group, startTime=0)["events"]]


def test_events_older_than_the_retention_expire_on_the_clock(lbx: LocalLambdabox) -> None:
    logs = lbx.client("logs")
    logs.create_log_group(logGroupName="/app")
    logs.create_log_stream(logGroupName="/app", logStreamName="s")
    logs.put_log_events(
        logGroupName="/app",
        logStreamName="s",
        logEvents=[{"timestamp": now_ms(lbx), "message": "day one"}],
    )
    logs.put_retention_policy(logGroupName="/app", retentionInDays=3)
    lbx.advance(2 * DAY)
    logs.put_log_events(
        logGroupName="/app",
        logStreamName="s",
        logEvents=[{"timestamp": now_ms(lbx), "message": "day three"}],
    )
    assert messages(logs, "/app") == ["day one", "day three"]
    assert stored_bytes(logs, "/app") == len("day one") + len("day three")

    lbx.advance(1 * DAY + 60)  # "day one" is now more than three days old
    assert messages(logs, "/app") == ["day three"]
    got = logs.get_log_events(logGroupName="/app", logStreamName="s", startFromHead=True, startTime=0)
    assert [e["message"] for e in got["events"]] == ["day three"]
    wait_until(lambda: stored_bytes(logs, "/app") == len("day three"))  # the sweep deleted it

    lbx.advance(3 * DAY)
    assert messages(logs, "/app") == []
    wait_until(lambda: stored_bytes(logs, "/app") == 0)


def test_a_functions_log_lines_expire_with_its_group(lbx: LocalLambdabox) -> None:
    lam, logs = lbx.client("lambda"), lbx.client("logs")
    name = deploy(lam, {"app.py": "def handler(e, c):\n    print('retained for a day')\n"})
    lam.invoke(FunctionName=name)
    group = f"/aws/lambda/{name}"
    assert any("retained for a day" in m for m in messages(logs, group))
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    lbx.advance(DAY + 60)
    assert messages(logs, group) == []
    wait_until(lambda: stored_bytes(logs, group) == 0)
    # a group without a policy keeps everything
    logs.delete_retention_policy(logGroupName=group)
    lam.invoke(FunctionName=name)
    lbx.advance(30 * DAY)
    assert any("retained for a day" in m for m in messages(logs, group))
