"""Concurrency as Lambda counts it: reserved concurrency (Put/Get/DeleteFunctionConcurrency, with
AWS's checks and errors, durable), parallel invocations over a reservation refused with 429 and
AWS's Reason while the others run, the unreserved pool untouched by a reserved function, and
asynchronous events of a throttled function kept in the queue until it may run or they expire."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import GATED_HANDLER, Gate, deploy, wait_until
from lambdabox.testing import LocalLambdabox
from test_async_invoke import OK, invoke_event, starts
from test_destinations import RECORDS, arn, quiet, records


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def error_of(exc: Any) -> tuple[int, str, str, str | None]:
    r = exc.response
    return (
        r["ResponseMetadata"]["HTTPStatusCode"],
        r["Error"]["Code"],
        r["Error"]["Message"],
        r.get("Reason"),
    )


def test_put_get_delete_function_concurrency(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, OK)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    got = lam.get_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in got and "Concurrency" not in lam.get_function(
        FunctionName=name
    )

    out = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=25)
    assert out["ReservedConcurrentExecutions"] == 25
    assert lam.get_function_concurrency(FunctionName=arn(lbx, name))["ReservedConcurrentExecutions"] == 25
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 25}
    limits = lam.get_account_settings()["AccountLimit"]
    assert (limits["ConcurrentExecutions"], limits["UnreservedConcurrentExecutions"]) == (1000, 975)

    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)  # throttled
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    resp = lam.delete_function_concurrency(FunctionName=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)


def test_a_reservation_keeps_100_unreserved_and_is_freed_with_its_function(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    big, other = deploy(lam, OK), deploy(lam, OK)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
        lam.put_function_concurrency(FunctionName=big, ReservedConcurrentExecutions=901)
    assert error_of(exc.value) == (
        400,
        "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].",
        None,
    )
    lam.put_function_concurrency(FunctionName=big, ReservedConcurrentExecutions=900)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_concurrency(FunctionName=other, ReservedConcurrentExecutions=1)
    lam.put_function_concurrency(FunctionName=other, ReservedConcurrentExecutions=0)  # takes nothing
    lam.put_function_concurrency(FunctionName=big, ReservedConcurrentExecutions=899)  # its own is replaced
    lam.put_function_concurrency(FunctionName=other, ReservedConcurrentExecutions=1)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100
    lam.delete_function(FunctionName=big)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 999
    again = deploy(lam, OK, FunctionName=big)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=again)


def test_aws_s_errors_for_a_qualifier_a_missing_function_and_a_negative_value(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, OK, Publish=True)
    for call in (
        lambda f: lam.put_function_concurrency(FunctionName=f, ReservedConcurrentExecutions=1),
        lambda f: lam.get_function_concurrency(FunctionName=f),
        lambda f: lam.delete_function_concurrency(FunctionName=f),
    ):
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
            call(f"{name}:1")
        status, _, message, _ = error_of(exc.value)
        assert status == 400 and message.startswith("This operation is permitted on Lambda functions only.")
        with pytest.raises(lam.exceptions.ResourceNotFoundException) as nf:
            call("no-such-function")
        assert error_of(nf.value)[:3] == (
            404,
            "ResourceNotFoundException",
            f"Function not found: arn:aws:lambda:{lbx.region}:000000000000:function:no-such-function",
        )
    raw = lbx.client("lambda", parameter_validation=False)
    with pytest.raises(raw.exceptions.ClientError) as bad:
        raw.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=-1)
    assert error_of(bad.value)[:2] == (400, "ValidationException")


def test_a_reservation_survives_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data") as first:
        lam = first.client("lambda")
        name = deploy(lam, OK)
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
    with LocalLambdabox(tmp_path / "data") as second:
        lam = second.client("lambda")
        assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 7
        assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 993


def test_parallel_invocations_over_a_reservation_are_refused_while_the_others_run(
    lbx: LocalLambdabox,
) -> None:
    lam = lbx.client("lambda", max_pool_connections=32)
    gated = deploy(lam, {"app.py": GATED_HANDLER}, Timeout=60)
    free = deploy(lam, OK)
    lam.put_function_concurrency(FunctionName=gated, ReservedConcurrentExecutions=3)
    gate = Gate()
    payload = json.dumps({"gate": gate.port}).encode()
    answers: list[Any] = []
    lock = threading.Lock()

    def invoke() -> None:
        try:
            got: Any = json.loads(lam.invoke(FunctionName=gated, Payload=payload)["Payload"].read())
        except lam.exceptions.TooManyRequestsException as exc:
            got = error_of(exc)
        with lock:
            answers.append(got)

    with ThreadPoolExecutor(12) as pool:
        for _ in range(12):
            pool.submit(invoke)
        # three are held at the gate; every other one is refused while they are
        wait_until(lambda: len(answers) == 9)
        gate.arrivals(3)
        assert (
            answers
            == [
                (
                    429,
                    "TooManyRequestsException",
                    "Rate Exceeded.",
                    "ReservedFunctionConcurrentInvocationLimitExceeded",
                )
            ]
            * 9
        )
        # a function without a reservation runs from the unreserved pool meanwhile
        assert lam.invoke(FunctionName=free)["Payload"].read() == b'"done"'
        gate.release()
    gate.close()
    assert answers[9:] == ["released"] * 3
    # the slots are given back: the next one runs
    gate = Gate()
    done: list[Any] = []
    t = threading.Thread(
        target=lambda: done.append(
            lam.invoke(FunctionName=gated, Payload=json.dumps({"gate": gate.port}).encode())
        )
    )
    t.start()
    gate.arrivals(1)
    gate.close()
    t.join(60)
    assert json.loads(done[0]["Payload"].read()) == "released"


def test_reserved_zero_throttles_every_invocation(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, OK)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as exc:
        lam.invoke(FunctionName=name)
    assert error_of(exc.value) == (
        429, "TooManyRequestsException", "Rate Exceeded.", "ReservedFunctionConcurrentInvocationLimitExceeded"
    )  # fmt: skip
    assert exc.value.response["Type"] == "User"
    lam.delete_function_concurrency(FunctionName=name)
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"done"'


def test_an_async_event_of_a_throttled_function_waits_in_the_queue_until_it_may_run(
    lbx: LocalLambdabox,
) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, OK)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    rid = invoke_event(lbx, name)
    for _ in range(5):  # retried 1 s, 2 s, 4 s ... apart: throttled every time, never dropped
        lbx.advance(60)
        lbx.settle()
        assert lbx.app.async_engine.backlog == 1 and starts(lbx, name, rid) == 0
    lam.delete_function_concurrency(FunctionName=name)
    lbx.advance(300)  # the throttle backoff is at most 5 minutes
    wait_until(lambda: starts(lbx, name, rid) == 1 and quiet(lbx))


def test_an_async_event_throttled_past_its_maximum_age_goes_to_the_failure_destination(
    lbx: LocalLambdabox,
) -> None:
    lam = lbx.client("lambda")
    dest = deploy(lam, RECORDS)
    name = deploy(lam, OK)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumEventAgeInSeconds=120,
        DestinationConfig={"OnFailure": {"Destination": arn(lbx, dest)}},
    )
    rid = invoke_event(lbx, name, b'{"late": true}')
    lbx.advance(60)
    lbx.settle()
    assert records(lbx, dest) == []
    lbx.advance(400)
    wait_until(lambda: len(records(lbx, dest)) == 1)
    (rec,) = records(lbx, dest)
    assert rec["requestContext"] == {
        "requestId": rid,
        "functionArn": arn(lbx, name) + ":$LATEST",
        "condition": "EventAgeExceeded",
        "approximateInvokeCount": 0,
    }
    assert rec["requestPayload"] == {"late": True} and "responseContext" not in rec
    assert starts(lbx, name, rid) == 0
