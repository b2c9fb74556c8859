"""Recursive loop detection: a chain of invocations caused by one event, tracked by the Lineage of
the X-Ray trace header (`lambda_/lineage.py`), is stopped after a function's 16th invocation in
it — a function that invokes itself asynchronously with boto3, two functions whose OnSuccess
destinations name each other, a synchronous Invoke with a forged header — unless the function's
PutFunctionRecursionConfig allows loops; and the lineage itself, unit-tested."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy, wait_until
from lambdabox.lambda_.lineage import MAX_ENTRIES, Lineage, function_hash
from lambdabox.testing import LocalLambdabox
from sdk_helpers import needs_node_sdk, needs_python_sdk
from test_async_invoke import invoke_event
from test_destinations import arn, quiet
from test_metrics import statistic

#: invokes itself (InvocationType Event, through the bundled boto3) until `stop`; logs each run
#: and the trace header it ran with
SELF = """\
import json, os
import boto3

def handler(event, context):
    n = event.get("n", 0) + 1
    print(f"RUN {n} TRACE {os.environ.get('_X_AMZN_TRACE_ID')}")
    if n < event.get("stop", 100):
        boto3.client("lambda").invoke(
            FunctionName=context.function_name,
            InvocationType="Event",
            Payload=json.dumps({"n": n, "stop": event.get("stop", 100)}),
        )
    return n
"""
#: SELF in Node.js, through the bundled JavaScript SDK v3
NODE_SELF = """\
const { LambdaClient, InvokeCommand } = require("@aws-sdk/client-lambda");
exports.handler = async (event, context) => {
  const n = (event.n || 0) + 1;
  console.log(`RUN ${n} TRACE ${process.env._X_AMZN_TRACE_ID}`);
  await new LambdaClient({}).send(new InvokeCommand({
    FunctionName: context.functionName, InvocationType: "Event", Payload: JSON.stringify({ n }),
  }));
  return n;
};
"""
#: logs each run; its OnSuccess destination gets the record
PING = {"app.py": "def handler(event, context):\n    print('RUN')\n    return 'ok'\n"}
#: answers the trace header it ran with
TRACE = {"app.py": "import os\ndef handler(event, context):\n    return os.environ.get('_X_AMZN_TRACE_ID')\n"}
_ROOT = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def runs(lbx: LocalLambdabox, name: str) -> list[str]:
    """The RUN lines of the function's log, in order."""
    logs = lbx.client("logs")
    try:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=f"/aws/lambda/{name}", filterPattern='"RUN"'
        )
        return [e["message"].strip() for page in pages for e in page["events"]]
    except logs.exceptions.ResourceNotFoundException:
        return []


def dropped(lbx: LocalLambdabox, name: str) -> float:
    return statistic(lbx, "RecursiveInvocationsDropped", {"FunctionName": name})


def queue(lbx: LocalLambdabox, name: str) -> tuple[str, str]:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive(lbx: LocalLambdabox, url: str) -> list[dict[str, Any]]:
    got = lbx.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return list(got.get("Messages", []))


def with_trace_header(client: Any, header: str) -> Any:
    """`client`, sending `header` as X-Amzn-Trace-Id (as the SDKs inside a function do)."""

    def add(params: dict[str, Any], **_: Any) -> None:
        params["headers"]["X-Amzn-Trace-Id"] = header

    client.meta.events.register("before-call.lambda.Invoke", add)
    return client


def lineage_of(trace: str) -> dict[str, int]:
    m = re.search(r";Lineage=([^;]*)", trace)
    assert m is not None, trace
    return dict(Lineage.parse(m.group(1)).entries)


def invoked(lam: Any, name: str, **kw: Any) -> Any:
    resp = lam.invoke(FunctionName=name, **kw)
    assert "FunctionError" not in resp
    return json.loads(resp["Payload"].read())


# --------------------------------------------------------------------------- through the server


@needs_python_sdk
def test_a_function_invoking_itself_is_stopped_after_16_and_the_17th_goes_to_on_failure(
    lbx: LocalLambdabox,
) -> None:
    lam = lbx.client("lambda")
    url, queue_arn = queue(lbx, "looped")
    name = deploy(lam, {"app.py": SELF}, Timeout=30, MemorySize=256)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )
    invoke_event(lbx, name, b"{}")
    got: list[dict[str, Any]] = []
    wait_until(lambda: got.extend(receive(lbx, url)) or got, limit=180)
    wait_until(lambda: quiet(lbx))
    (message,) = got
    rec = json.loads(message["Body"])
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["requestContext"]["functionArn"] == arn(lbx, name) + ":$LATEST"
    assert rec["requestPayload"] == {"n": 16, "stop": 100}  # what the 16th run sent
    # sorted: on a paused clock every line has the same timestamp, and two environments' streams
    # may interleave
    lines = sorted(runs(lbx, name), key=lambda line: int(line.split()[1]))
    assert [line.split()[1] for line in lines] == [str(n) for n in range(1, 17)]
    (mine,) = lineage_of(lines[-1].split("TRACE ", 1)[1]).items()
    assert mine[1] == 16
    assert dropped(lbx, name) == 1
    assert statistic(lbx, "AsyncEventsDropped", {"FunctionName": name}) == 1
    assert statistic(lbx, "Invocations", {"FunctionName": name}) == 16


@needs_python_sdk
def test_a_function_allowing_recursion_runs_past_16(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, {"app.py": SELF}, Timeout=30, MemorySize=256)
    assert (
        lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")["RecursiveLoop"]
        == "Allow"
    )
    invoke_event(lbx, name, b'{"stop": 20}')
    wait_until(lambda: len(runs(lbx, name)) == 20 and quiet(lbx), limit=180)
    assert dropped(lbx, name) == 0
    last = max(runs(lbx, name), key=lambda line: int(line.split()[1]))  # (streams may interleave)
    (mine,) = lineage_of(last.split("TRACE ", 1)[1]).items()
    assert mine[1] == 20


@needs_node_sdk
def test_a_node_function_invoking_itself_with_the_javascript_sdk_is_stopped_too(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(
        lam,
        {"index.js": NODE_SELF},
        runtime="nodejs20.x",
        handler="index.handler",
        Timeout=30,
        MemorySize=256,
    )
    invoke_event(lbx, name, b"{}")
    wait_until(lambda: dropped(lbx, name) == 1, limit=180)
    wait_until(lambda: quiet(lbx))
    assert len(runs(lbx, name)) == 16


def test_two_functions_whose_on_success_destinations_name_each_other_are_stopped(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    a, b = deploy(lam, PING), deploy(lam, PING)
    for src, dest in ((a, b), (b, a)):
        lam.put_function_event_invoke_config(
            FunctionName=src, DestinationConfig={"OnSuccess": {"Destination": arn(lbx, dest)}}
        )
    invoke_event(lbx, a, b"{}")
    wait_until(lambda: dropped(lbx, a) == 1, limit=120)
    wait_until(lambda: quiet(lbx))
    assert (len(runs(lbx, a)), len(runs(lbx, b))) == (16, 16)
    assert dropped(lbx, b) == 0


def test_a_forged_lineage_stops_only_the_function_it_names(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name, other = deploy(lam, TRACE), deploy(lam, TRACE)
    first = invoked(lam, name)
    assert first.startswith("Root=1-") and ";Sampled=0;Lineage=" in first
    ((mine, count),) = lineage_of(first).items()
    assert count == 1
    ((theirs, _),) = lineage_of(invoked(lam, other)).items()

    # the 16th of a chain runs; the 17th is refused with AWS's error
    assert lineage_of(
        invoked(with_trace_header(lbx.client("lambda"), f"{_ROOT};Lineage={mine}:15"), name)
    ) == {mine: 16}
    forged = with_trace_header(lbx.client("lambda"), f"{_ROOT};Lineage={mine}:16")
    with pytest.raises(ClientError) as exc:
        forged.invoke(FunctionName=name)
    code, message, status = aws_error(exc)
    assert (code, status) == ("RecursiveInvocationException", 400)
    assert "recursive loop" in message
    assert exc.value.response["Type"] == "User"
    assert dropped(lbx, name) == 1
    # percent-encoded as botocore sends it from inside a function, among other entries
    encoded = with_trace_header(lbx.client("lambda"), f"{_ROOT};Lineage=0000abcd:3%7C{mine}:17")
    with pytest.raises(ClientError) as exc:
        encoded.invoke(FunctionName=name)
    assert aws_error(exc)[0] == "RecursiveInvocationException"

    # another function runs: the entries of the chain are kept, its own is added
    assert lineage_of(invoked(forged, other)) == {mine: 16, theirs: 1}
    assert dropped(lbx, other) == 0
    # allowing loops: the forged chain runs on
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    assert lineage_of(invoked(forged, name)) == {mine: 17}


def test_a_stopped_event_goes_to_the_dead_letter_queue_also_after_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True, async_dispatch="paused") as paused:
        lam = paused.client("lambda")
        url, dlq = queue(paused, "dlq")
        name = deploy(lam, TRACE, DeadLetterConfig={"TargetArn": dlq})
        ((mine, _),) = lineage_of(invoked(lam, name)).items()
        forged = with_trace_header(paused.client("lambda"), f"{_ROOT};Lineage={mine}:16")
        got = forged.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"k": 1}')
        assert got["StatusCode"] == 202  # accepted: whether it is a loop's is decided when it runs
        rid = got["ResponseMetadata"]["RequestId"]
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        messages: list[dict[str, Any]] = []
        wait_until(lambda: messages.extend(receive(lbx, url)) or messages)
        (m,) = messages
        assert json.loads(m["Body"]) == {"k": 1}
        attrs = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
        assert attrs["RequestID"] == rid and attrs["ErrorCode"] == "400"
        assert "recursive loop" in attrs["ErrorMessage"]
        wait_until(lambda: quiet(lbx))
        assert dropped(lbx, name) == 1
        assert statistic(lbx, "Invocations", {"FunctionName": name}) == 1  # the first, synchronous one


def test_get_and_put_function_recursion_config(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        lam = lbx.client("lambda")
        name = deploy(lam, TRACE, Publish=True)
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
        got = lam.put_function_recursion_config(FunctionName=arn(lbx, name), RecursiveLoop="Allow")
        assert got["RecursiveLoop"] == "Allow"

        def error(call: Callable[..., Any], **kw: Any) -> tuple[str, int]:
            with pytest.raises(ClientError) as exc:
                call(**kw)
            code, _, status = aws_error(exc)
            return code, status

        assert error(lam.put_function_recursion_config, FunctionName=name, RecursiveLoop="Sometimes") == (
            "ValidationException",
            400,
        )
        for qualified in (f"{name}:1", f"{name}:live", arn(lbx, name) + ":live"):
            assert error(lam.get_function_recursion_config, FunctionName=qualified) == (
                "ValidationException",
                400,
            )
            assert error(
                lam.put_function_recursion_config, FunctionName=qualified, RecursiveLoop="Terminate"
            ) == ("ValidationException", 400)
        assert error(lam.get_function_recursion_config, FunctionName="nothing-here") == (
            "ResourceNotFoundException",
            404,
        )
        assert error(
            lam.put_function_recursion_config, FunctionName="nothing-here", RecursiveLoop="Allow"
        ) == (
            "ResourceNotFoundException",
            404,
        )
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        lam = lbx.client("lambda")
        assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"  # durable
        lam.delete_function(FunctionName=name)
        deploy(lam, TRACE, FunctionName=name)
        assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"


# --------------------------------------------------------------------------- the lineage itself


def test_lineage_parses_counts_and_increments() -> None:
    header = f"{_ROOT};Lineage=1a2b3c4d:3|5e6f7a8b:16"
    lin = Lineage.of_trace_header(header)
    assert lin.entries == (("1a2b3c4d", 3), ("5e6f7a8b", 16))
    assert lin.stops("5e6f7a8b") and not lin.stops("1a2b3c4d") and not lin.stops("00000000")
    assert str(lin.incremented("1a2b3c4d")) == "1a2b3c4d:4|5e6f7a8b:16"
    assert str(lin.incremented("00000000")) == "1a2b3c4d:3|5e6f7a8b:16|00000000:1"
    assert Lineage.of_trace_header(header.replace("|", "%7C")) == lin  # as botocore sends it
    assert lin.in_trace_header(_ROOT) == header
    assert Lineage().in_trace_header(_ROOT) == _ROOT


@pytest.mark.parametrize(
    "header",
    [None, "", _ROOT, f"{_ROOT};Lineage=", f"{_ROOT};Lineage=xyz", f"{_ROOT};Lineage=1a2b3c4d:-1",
     f"{_ROOT};Lineage=1A2B3C4D:1", f"{_ROOT};Lineage=1a2b3c4d:9999999999", "Lineage=1a2b3c4d"],
)  # fmt: skip
def test_a_lineage_that_cannot_be_read_is_empty(header: str | None) -> None:
    assert Lineage.of_trace_header(header).entries == ()


def test_a_lineage_keeps_a_bounded_number_of_entries() -> None:
    many = "|".join(f"{n:08x}:1" for n in range(MAX_ENTRIES + 10))
    lin = Lineage.parse(many)
    assert len(lin.entries) == MAX_ENTRIES
    assert len(lin.incremented("ffffffff").entries) == MAX_ENTRIES
    assert lin.incremented("ffffffff").count("ffffffff") == 1


def test_function_hash_names_a_function_not_its_qualifier_and_differs_by_account() -> None:
    h = function_hash("us-east-1", "000000000000", "fn")
    assert re.fullmatch(r"[0-9a-f]{8}", h)
    assert h == function_hash("us-east-1", "000000000000", "fn")
    assert h != function_hash("us-east-1", "111111111111", "fn")
