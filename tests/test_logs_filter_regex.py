"""`%regex%` filter patterns are the client's code: on a real server they must neither stall it
(catastrophic backtracking) nor be run by an engine that can, and what RE2 cannot run is refused
with CloudWatch's InvalidParameterException."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server, aws_error, start_server
from logs_helpers import group_with

#: generous: RE2 answers in milliseconds; Python's re would take hours
BOUND_S = 10.0


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server of this test's own: a regression freezes it, not the session's."""
    srv = start_server(tmp_path / "data")
    yield srv
    try:
        srv.stop(timeout=10)
    except subprocess.TimeoutExpired:  # frozen: it cannot even handle SIGTERM
        srv.stop(signal.SIGKILL)


def test_backtracking_regex_neither_stalls_the_filter_nor_other_clients(own_server: Server) -> None:
    logs = own_server.client("logs")
    group = group_with(logs, ["a" * 4000, "a" * 3999 + "b"])
    outcome: dict[str, Any] = {}

    def run_filter() -> None:
        try:
            outcome["events"] = logs.filter_log_events(logGroupName=group, filterPattern="%a*a*a*b%")[
                "events"
            ]
        except Exception as exc:  # reported by the assertions below
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=run_filter, daemon=True)
    worker.start()
    health: list[int] = []
    while True:  # health asked at least once after the filter was sent, and while it runs
        running = worker.is_alive()
        with urllib.request.urlopen(own_server.url + "/_lambdabox/health", timeout=5) as resp:
            health.append(resp.status)
        if not running or time.monotonic() - started > BOUND_S:
            break
    worker.join(timeout=max(0.0, BOUND_S - (time.monotonic() - started)))
    assert not worker.is_alive(), f"FilterLogEvents still running after {BOUND_S} s"
    assert "error" not in outcome, outcome.get("error")
    assert [e["message"] for e in outcome["events"]] == ["a" * 3999 + "b"]
    assert health and set(health) == {200}


def test_regex_filters_match_as_the_user_guide_says(logs: Any) -> None:
    group = group_with(logs, ["[ERROR 401] UNAUTHORIZED", "ok 10.0.0.1", "cat", "hat trick"])

    def found(pattern: str) -> list[str]:
        return [
            e["message"] for e in logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]
        ]

    assert found("%AUTHORIZED%") == ["[ERROR 401] UNAUTHORIZED"]
    assert found(r"%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%") == ["ok 10.0.0.1"]
    assert found("%^[hc]at%") == ["cat", "hat trick"]
    assert found("%[hc]at$%") == ["cat"]


@pytest.mark.parametrize("pattern", [r"%a\Z%", "%a{1001}%", r"%\u0041%", "%(a)%", "%a**%"])
def test_regexes_re2_cannot_run_are_invalid_parameters(logs: Any, pattern: str) -> None:
    group = group_with(logs, ["a"])
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group, filterPattern=pattern)
    assert aws_error(exc) == ("InvalidParameterException", "Invalid filter pattern", 400)
