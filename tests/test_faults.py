"""Fault injection (`/_lambdabox/faults`): each kind as boto3 sees it, asynchronous retries of an
injected error, probability, count and duration, qualifiers, the log lines that mark a hit, the
endpoint's answers to bad requests, and a function refused the endpoint."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import deploy, wait_until
from lambdabox.edge import REFUSED_MESSAGE
from lambdabox.testing import LocalLambdabox

OK = {"app.py": "def handler(event, context):\n    print('handler ran')\n    return 'done'\n"}
ACCOUNT, REGION = "000000000000", "us-east-1"


class Draws:
    """The fault book's draws, as a test lists them (0.5 once the list is used up)."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.taken = 0

    def __call__(self) -> float:
        self.taken += 1
        return self.values.pop(0) if self.values else 0.5


@pytest.fixture
def draws() -> Draws:
    return Draws()


@pytest.fixture
def lbx(tmp_path: Path, draws: Draws) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True, fault_draw=draws) as server:
        yield server


def admin(lbx: LocalLambdabox, method: str, path: str = "", body: Any = None) -> tuple[int, Any]:
    """A request to /_lambdabox/faults<path>: (status, JSON answer); `body` bytes are sent as they are."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{lbx.url}/_lambdabox/faults{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def inject(lbx: LocalLambdabox, **fault: Any) -> dict[str, Any]:
    status, got = admin(lbx, "POST", body=fault)
    assert status == 201, got
    assert isinstance(got, dict)
    return got


def listed(lbx: LocalLambdabox) -> list[dict[str, Any]]:
    status, got = admin(lbx, "GET")
    assert status == 200
    return list(got["faults"])


def invoke(lbx: LocalLambdabox, name: str, **kw: Any) -> dict[str, Any]:
    got: dict[str, Any] = lbx.client("lambda").invoke(FunctionName=name, **kw)
    got["Body"] = got.pop("Payload").read()
    return got


def log_lines(lbx: LocalLambdabox, name: str, pattern: str = "") -> list[str]:
    logs = lbx.client("logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern=pattern)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [str(e["message"]) for e in events]


def test_an_error_fault_answers_a_function_error_without_running_the_handler(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK)
    fault = inject(lbx, function=name, kind="error", errorType="Boom", errorMessage="it broke")
    assert fault["id"] and fault["kind"] == "error"
    assert fault["function"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    got = invoke(lbx, name, LogType="Tail")
    assert got["StatusCode"] == 200 and got["FunctionError"] == "Unhandled"
    assert got["ExecutedVersion"] == "$LATEST"
    assert json.loads(got["Body"]) == {"errorType": "Boom", "errorMessage": "it broke"}
    rid = got["ResponseMetadata"]["RequestId"]
    tail = base64.b64decode(got["LogResult"]).decode()
    assert f"START RequestId: {rid} Version: $LATEST" in tail
    assert f"lambdabox: injected fault {fault['id']} (error) RequestId: {rid}" in tail
    assert f"END RequestId: {rid}" in tail and f"REPORT RequestId: {rid}" in tail
    # the default error, and the handler never ran
    admin(lbx, "DELETE")
    inject(lbx, function=name, kind="error")
    assert json.loads(invoke(lbx, name)["Body"]) == {
        "errorType": "InjectedFault",
        "errorMessage": "lambdabox injected this error",
    }
    assert log_lines(lbx, name, '"handler ran"') == []
    assert admin(lbx, "DELETE") == (200, {"deleted": 1})
    got = invoke(lbx, name)
    assert (got.get("FunctionError"), got["Body"]) == (None, b'"done"')


def test_a_timeout_fault_ends_as_a_timeout_of_the_function_after_its_timeout(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK, Timeout=30)
    fault = inject(lbx, function=name, kind="timeout")
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(invoke(lbx, name)))
    worker.start()
    while worker.is_alive():  # the function's 30 s pass on the manual clock
        lbx.advance(30)
        worker.join(0.05)
    rid = result["ResponseMetadata"]["RequestId"]
    assert result["FunctionError"] == "Unhandled"
    assert json.loads(result["Body"]) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {rid} Error: Task timed out after 30.00 seconds",
    }
    wait_until(lambda: any("REPORT" in line for line in log_lines(lbx, name)))
    lines = log_lines(lbx, name)
    assert any(line.endswith(f"{rid} Task timed out after 30.00 seconds") for line in lines)
    assert any(f"injected fault {fault['id']} (timeout)" in line for line in lines)
    assert any(line.startswith(f"REPORT RequestId: {rid}") and "Status: timeout" in line for line in lines)
    assert not any("handler ran" in line for line in lines)


def test_a_latency_fault_delays_an_invocation_that_then_runs(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK)
    invoke(lbx, name)  # warm: the cold start is not measured
    fault = inject(lbx, function=name, kind="latency", latencyMs=400, count=1)
    assert fault["latencyMs"] == 400
    t0 = time.monotonic()
    got = invoke(lbx, name)
    assert time.monotonic() - t0 >= 0.4
    assert (got.get("FunctionError"), got["Body"]) == (None, b'"done"')
    rid = got["ResponseMetadata"]["RequestId"]
    wait_until(lambda: log_lines(lbx, name, f'"injected fault {fault["id"]}"'))
    assert log_lines(lbx, name, '"injected fault"') == [
        f"lambdabox: injected fault {fault['id']} (latency) RequestId: {rid}"
    ]
    assert listed(lbx) == []  # its one invocation is used up


def test_a_throttle_fault_refuses_the_invocation_as_reserved_concurrency_does(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK)
    fault = inject(lbx, function=name, kind="throttle")
    lam = lbx.client("lambda")
    with pytest.raises(lam.exceptions.TooManyRequestsException) as exc:
        lam.invoke(FunctionName=name)
    r = exc.value.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert (r["Error"]["Message"], r["Reason"], r["Type"]) == (
        "Rate Exceeded.",
        "ReservedFunctionConcurrentInvocationLimitExceeded",
        "User",
    )
    wait_until(lambda: log_lines(lbx, name, '"injected fault"'))
    lines = log_lines(lbx, name)
    assert len(lines) == 1 and f"injected fault {fault['id']} (throttle)" in lines[0]  # no START


def starts(lbx: LocalLambdabox, name: str, rid: str) -> int:
    return len(log_lines(lbx, name, f'"START RequestId: {rid}"'))


def settled(lbx: LocalLambdabox) -> bool:
    return lbx.app.async_engine.running == 0


def invoke_event(lbx: LocalLambdabox, name: str) -> str:
    got = lbx.client("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert got["StatusCode"] == 202
    return str(got["ResponseMetadata"]["RequestId"])


def test_an_injected_error_fails_an_async_attempt_which_is_retried_and_then_succeeds(
    lbx: LocalLambdabox,
) -> None:
    name = deploy(lbx.client("lambda"), OK)
    fault = inject(lbx, function=name, kind="error", count=1)
    rid = invoke_event(lbx, name)
    wait_until(lambda: starts(lbx, name, rid) == 1 and settled(lbx))
    assert listed(lbx) == []  # the first attempt used it up
    assert log_lines(lbx, name, '"handler ran"') == []
    assert len(log_lines(lbx, name, f'"injected fault {fault["id"]} (error) RequestId: {rid}"')) == 1
    lbx.advance(60)  # the first retry, a minute later, runs the handler
    wait_until(lambda: starts(lbx, name, rid) == 2 and settled(lbx))
    wait_until(lambda: lbx.app.async_engine.backlog == 0)  # it succeeded: no retry left waiting
    assert len(log_lines(lbx, name, '"handler ran"')) == 1


def test_an_injected_throttle_keeps_an_async_event_queued(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK)
    inject(lbx, function=name, kind="throttle", count=1)
    rid = invoke_event(lbx, name)
    wait_until(lambda: listed(lbx) == [] and settled(lbx))
    assert lbx.app.async_engine.backlog == 1 and starts(lbx, name, rid) == 0
    lbx.advance(1)  # a throttled event is tried again after a second
    wait_until(lambda: starts(lbx, name, rid) == 1 and settled(lbx))
    wait_until(lambda: lbx.app.async_engine.backlog == 0)
    assert len(log_lines(lbx, name, '"handler ran"')) == 1


def test_probability_decides_by_the_draw(lbx: LocalLambdabox, draws: Draws) -> None:
    name = deploy(lbx.client("lambda"), OK)
    fault = inject(lbx, function=name, kind="error", probability=0.25)
    draws.values = [0.9, 0.1, 0.25]
    assert [invoke(lbx, name).get("FunctionError") for _ in range(3)] == [None, "Unhandled", None]
    assert listed(lbx)[0]["hits"] == 1
    admin(lbx, "DELETE", "/" + fault["id"])
    taken = draws.taken
    inject(lbx, function=name, kind="error", probability=0)
    assert [invoke(lbx, name).get("FunctionError") for _ in range(3)] == [None, None, None]
    assert draws.taken == taken  # probability 0 (and 1) never draws


def test_a_fault_ends_after_its_count(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK)
    fault = inject(lbx, function=name, kind="error", count=2)
    assert (fault["count"], fault["remaining"]) == (2, 2)
    assert invoke(lbx, name).get("FunctionError") == "Unhandled"
    assert [(f["id"], f["remaining"]) for f in listed(lbx)] == [(fault["id"], 1)]
    assert invoke(lbx, name).get("FunctionError") == "Unhandled"
    assert listed(lbx) == []
    assert invoke(lbx, name).get("FunctionError") is None


def test_a_fault_ends_after_its_duration_on_the_clock(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK)
    fault = inject(lbx, function=name, kind="error", durationSeconds=60)
    assert fault["secondsLeft"] == 60 and fault["expiresAt"].endswith("Z")
    assert invoke(lbx, name).get("FunctionError") == "Unhandled"
    lbx.advance(59)
    assert listed(lbx)[0]["secondsLeft"] == pytest.approx(1)
    assert invoke(lbx, name).get("FunctionError") == "Unhandled"
    lbx.advance(1)
    assert listed(lbx) == []
    assert invoke(lbx, name).get("FunctionError") is None


def test_a_qualifier_limits_a_fault_to_its_alias_or_version(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, OK)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    inject(lbx, function=f"{name}:live", kind="error")
    assert invoke(lbx, name).get("FunctionError") is None
    assert invoke(lbx, name, Qualifier="1").get("FunctionError") is None
    assert invoke(lbx, name, Qualifier="live").get("FunctionError") == "Unhandled"
    admin(lbx, "DELETE")
    # a version: invocations that run it, named directly or through an alias
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:1"
    assert inject(lbx, function=arn, kind="error")["qualifier"] == "1"
    assert invoke(lbx, name, Qualifier="1").get("FunctionError") == "Unhandled"
    assert invoke(lbx, f"{name}:live").get("FunctionError") == "Unhandled"
    assert invoke(lbx, name).get("FunctionError") is None
    admin(lbx, "DELETE")
    # none: every invocation
    inject(lbx, function=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}", kind="error")
    for qualifier in ("$LATEST", "1", "live"):
        assert invoke(lbx, name, Qualifier=qualifier).get("FunctionError") == "Unhandled"


def test_an_injected_fault_reads_like_an_invocation_in_get_log_events(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK)
    fault = inject(lbx, function=name, kind="error")
    rid = invoke(lbx, name)["ResponseMetadata"]["RequestId"]
    logs = lbx.client("logs")
    group = f"/aws/lambda/{name}"
    wait_until(lambda: logs.describe_log_streams(logGroupName=group)["logStreams"])
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"].split("/")[-1] for s in streams] == ["[$LATEST]lambdabox-faults"]
    wait_until(
        lambda: (
            len(logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"])["events"])
            == 4
        )
    )
    events = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"])["events"]
    messages = [e["message"] for e in events]
    assert messages[:3] == [
        f"START RequestId: {rid} Version: $LATEST",
        f"lambdabox: injected fault {fault['id']} (error) RequestId: {rid}",
        f"END RequestId: {rid}",
    ]
    assert messages[3].startswith(f"REPORT RequestId: {rid}\tDuration: ")


def test_bad_requests_are_answered_with_what_is_wrong(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK)
    bad: list[tuple[Any, str]] = [
        (b"{nope", "the request body is not JSON"),
        (b"[1]", "the request body must be a JSON object"),
        ({"kind": "error"}, "function is required"),
        ({"function": name, "kind": "explode"}, "kind must be one of error, timeout, latency, throttle"),
        ({"function": name}, "kind must be one of"),
        ({"function": name, "kind": "error", "probability": 1.5}, "probability must be between 0 and 1"),
        ({"function": name, "kind": "error", "probability": "x"}, "probability must be a number"),
        ({"function": name, "kind": "error", "count": -1}, "count must be a positive integer"),
        ({"function": name, "kind": "error", "count": 1.5}, "count must be a positive integer"),
        ({"function": name, "kind": "latency", "latencyMs": -5}, "latencyMs must be between 0 and"),
        ({"function": name, "kind": "latency"}, "latencyMs is required for kind latency"),
        ({"function": name, "kind": "error", "latencyMs": 5}, "latencyMs applies to kind latency only"),
        ({"function": name, "kind": "timeout", "errorType": "X"}, "errorType applies to kind error only"),
        ({"function": name, "kind": "error", "durationSeconds": 0}, "durationSeconds must be a positive"),
        # too far to be a date (the review found these stored, then answered 500 on every GET)
        ({"function": name, "kind": "error", "durationSeconds": 1e300}, "durationSeconds must be a positive"),
        ({"function": name, "kind": "error", "durationSeconds": 3e11}, "durationSeconds must be a positive"),
        ({"function": name, "kind": "error", "probability": 10**400}, "probability must be a finite number"),
        (b"[" * 30_000 + b"]" * 30_000, "the request body is not JSON"),
        ({"function": name, "kind": "error", "colour": 1}, "unknown field(s): colour"),
    ]
    for body, message in bad:
        status, got = admin(lbx, "POST", body=body)
        assert status == 400 and got["message"].startswith(message), (body, got)
    assert (
        admin(lbx, "POST", body=b'{"function": "%s", "kind": "error", "probability": NaN}' % name.encode())[0]
        == 400
    )
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope"
    assert admin(lbx, "POST", body={"function": "nope", "kind": "error"}) == (
        404,
        {"message": f"Function not found: {missing}"},
    )
    status, got = admin(lbx, "POST", body={"function": f"{name}:nope", "kind": "error"})
    assert status == 404 and got["message"].endswith(f"function:{name}:nope")
    assert admin(lbx, "DELETE", "/fault-0") == (404, {"message": "no fault with id 'fault-0'"})
    assert admin(lbx, "GET", "/fault-0")[0] == 404
    assert admin(lbx, "PUT", body=b"{}")[0] == 405
    assert admin(lbx, "GET", "/a/b")[0] == 404
    assert listed(lbx) == []  # nothing refused was stored
    one = inject(lbx, function=name, kind="error")
    assert admin(lbx, "GET", "/" + one["id"]) == (200, listed(lbx)[0])
    assert admin(lbx, "DELETE", "/" + one["id"]) == (200, {"deleted": 1})
    assert admin(lbx, "DELETE", "/" + one["id"])[0] == 404


ATTACKER = {
    "app.py": (
        "import json, os, urllib.error, urllib.request\n"
        "def handler(event, context):\n"
        "    body = json.dumps({'function': event['victim'], 'kind': 'error'}).encode()\n"
        "    url = os.environ['AWS_ENDPOINT_URL'] + '/_lambdabox/faults'\n"
        "    try:\n"
        "        with urllib.request.urlopen(urllib.request.Request(url, body, method='POST')) as r:\n"
        "            return {'status': r.status, 'body': r.read().decode()}\n"
        "    except urllib.error.HTTPError as exc:\n"
        "        return {'status': exc.code, 'body': exc.read().decode()}\n"
    )
}


def test_a_function_cannot_inject_faults(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    victim = deploy(lam, OK)
    attacker = deploy(lam, ATTACKER)
    got = invoke(lbx, attacker, Payload=json.dumps({"victim": victim}).encode())
    answer = json.loads(got["Body"])
    assert answer["status"] == 403 and json.loads(answer["body"]) == {"message": REFUSED_MESSAGE}
    assert listed(lbx) == []
    assert invoke(lbx, victim).get("FunctionError") is None


def test_faults_are_listed_oldest_first_and_cleared_together(lbx: LocalLambdabox) -> None:
    name = deploy(lbx.client("lambda"), OK)
    ids = [inject(lbx, function=name, kind=kind)["id"] for kind in ("error", "throttle")]
    assert [f["id"] for f in listed(lbx)] == ids
    # the oldest matching fault hits
    assert invoke(lbx, name).get("FunctionError") == "Unhandled"
    assert admin(lbx, "DELETE") == (200, {"deleted": 2})
    assert listed(lbx) == []
    assert admin(lbx, "DELETE", "/" + ids[0])[0] == 404
    assert invoke(lbx, name).get("FunctionError") is None
