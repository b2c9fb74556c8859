"""Asynchronous invocation (InvocationType Event): 202 once stored, run at least once, retried
after AWS's delays on the manual clock with the same request id, given up after the retries,
and picked up again after a restart on the same data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import deploy, wait_until
from lambdabox.testing import LocalLambdabox

OK = {"app.py": "def handler(event, context):\n    print('got', event)\n    return 'done'\n"}
FAILS = {"app.py": "def handler(event, context):\n    raise RuntimeError('always')\n"}


def starts(lbx: LocalLambdabox, name: str, request_id: str) -> int:
    """How many attempts of `request_id` the function's logs show (a START line each)."""
    logs = lbx.client("logs")
    try:
        events = logs.filter_log_events(
            logGroupName=f"/aws/lambda/{name}", filterPattern=f'"START RequestId: {request_id}"'
        )["events"]
    except logs.exceptions.ResourceNotFoundException:
        return 0
    return len(events)


def settled(lbx: LocalLambdabox) -> bool:
    engine = lbx.app.async_engine
    return engine.running == 0


def invoke_event(lbx: LocalLambdabox, name: str, payload: bytes = b'{"n": 1}') -> str:
    got: dict[str, Any] = lbx.client("lambda").invoke(
        FunctionName=name, InvocationType="Event", Payload=payload
    )
    assert (got["StatusCode"], got["Payload"].read()) == (202, b"")
    return str(got["ResponseMetadata"]["RequestId"])


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def test_an_event_is_accepted_with_202_and_run_once(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK)
    rid = invoke_event(lbx, name)
    wait_until(lambda: starts(lbx, name, rid) == 1)
    wait_until(lambda: settled(lbx) and lbx.app.async_engine.backlog == 0)
    lbx.advance(3600)  # nothing is due any more
    wait_until(lambda: settled(lbx))
    assert starts(lbx, name, rid) == 1


def test_a_failing_event_is_retried_after_one_then_two_minutes_with_its_request_id(
    lbx: LocalLambdabox,
) -> None:
    name = deploy(lbx.client("lambda"), FAILS)
    rid = invoke_event(lbx, name)
    wait_until(lambda: starts(lbx, name, rid) == 1 and settled(lbx))
    lbx.advance(59)
    wait_until(lambda: settled(lbx))
    assert starts(lbx, name, rid) == 1  # not before a minute
    lbx.advance(1)
    wait_until(lambda: starts(lbx, name, rid) == 2 and settled(lbx))
    lbx.advance(119)
    wait_until(lambda: settled(lbx))
    assert starts(lbx, name, rid) == 2  # the second retry comes two minutes later
    lbx.advance(1)
    wait_until(lambda: starts(lbx, name, rid) == 3 and settled(lbx))
    lbx.advance(6 * 3600)  # the two retries are used up: given up, not run again
    wait_until(lambda: settled(lbx) and lbx.app.async_engine.backlog == 0)
    assert starts(lbx, name, rid) == 3


def test_an_event_waiting_for_its_retry_survives_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as first:
        name = deploy(first.client("lambda"), FAILS)
        rid = invoke_event(first, name)
        wait_until(lambda: starts(first, name, rid) == 1 and settled(first))
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as second:
        assert second.app.async_engine.backlog == 1  # loaded from the store
        second.advance(61)
        wait_until(lambda: starts(second, name, rid) == 2 and settled(second))


def test_an_event_for_no_such_function_is_refused(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nope", InvocationType="Event", Payload=b"{}")


def test_the_function_s_event_invoke_config_limits_its_retries_and_age(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, FAILS)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    rid = invoke_event(lbx, name)
    wait_until(lambda: starts(lbx, name, rid) == 1 and settled(lbx))
    wait_until(lambda: lbx.app.async_engine.backlog == 0)  # no retry at all: given up
    lbx.advance(600)
    wait_until(lambda: settled(lbx))
    assert starts(lbx, name, rid) == 1
    # an event older than its maximum age is not run again: retried once, then 70 s > 60 s
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60
    )
    rid = invoke_event(lbx, name)
    wait_until(lambda: starts(lbx, name, rid) == 1 and settled(lbx))
    lbx.advance(70)
    wait_until(lambda: settled(lbx) and lbx.app.async_engine.backlog == 0)
    assert starts(lbx, name, rid) == 1  # EventAgeExceeded before the first retry ran


def test_a_paused_dispatcher_stores_events_that_a_running_one_then_runs(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True, async_dispatch="paused") as paused:
        name = deploy(paused.client("lambda"), OK)
        rid = invoke_event(paused, name)
        paused.advance(3600)
        assert (paused.app.async_engine.backlog, starts(paused, name, rid)) == (1, 0)
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as running:
        wait_until(lambda: starts(running, name, rid) == 1)
