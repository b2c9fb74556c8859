"""Second outside review: log records, request ids, /tmp, CloudWatch Logs reads, lifecycle, vs AWS.

Each test drives the real server with boto3 the way a Lambda user would and asserts what AWS
does. The first section holds the defects the review found (fixed since); the comment above each
names the AWS source. The second section pins behaviour that already matched AWS. The Node.js part
of the review is in test_review_node.py.
Rendezvous between the test and a running handler go through a loopback socket (`Gate`), never
through sleeps, so nothing here depends on machine speed.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Gate, Server, make_zip
from review_helpers import Background, gated, invoke, messages, request_id, wait_for
from review_helpers import gate_fixture as gate_fixture

# ---------------------------------------------------------------------------------------------
# Defects the review found (each failed until lambdabox gave AWS's answer).
# ---------------------------------------------------------------------------------------------


# LogType=Tail returns "the last 4 KB of the execution log" of the invocation (API_Invoke,
# https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_RequestSyntax); the log
# itself (CloudWatch) has one START/END/REPORT per request. lambdabox's tail for an invocation
# whose init failed repeats START/END/REPORT (the lines are added to the init tail and then
# appended to it again), so the user sees the request twice.
@pytest.mark.parametrize(
    ("runtime", "handler", "files"),
    [
        ("nodejs20.x", "index.handler", {"index.js": "exports.other = 1;\n"}),
        ("python3.11", "app.handler", {"app.py": "def other(e, c):\n    return 1\n"}),
    ],
)
def test_init_failure_tail_has_one_start_end_report(
    lam: Any, logs: Any, create_fn: Callable[..., str], runtime: str, handler: str, files: dict[str, str]
) -> None:
    name = create_fn(files, runtime=runtime, handler=handler)
    resp, body, tail = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.HandlerNotFound"
    rid = request_id(tail)
    # the stored log is right: one START for the request
    stored = messages(logs, name)
    assert sum(m.startswith(f"START RequestId: {rid}") for m in stored) == 1
    # the tail must say the same
    assert tail.count(f"START RequestId: {rid}") == 1, tail
    assert tail.count(f"REPORT RequestId: {rid}") == 1, tail


# AWS's Node.js runtime writes one log record per console call: with the telemetry log FD each
# call is one framed record, on stdout its newlines become \r (aws-lambda-nodejs-runtime-interface-
# client src/LogPatch.js, logTextToFd / logTextToStdout). So `console.log('a\nb')` and
# `console.error(err)` (message + stack) are ONE CloudWatch event each; filter patterns and
# `aws logs tail` see the whole record. lambdabox splits them into one event per line.
def test_node_multiline_console_call_is_one_log_event(
    lam: Any, logs: Any, create_fn: Callable[..., str]
) -> None:
    src = (
        "exports.handler = async (e, ctx) => {\n"
        "  console.log('first line\\nsecond line');\n"
        "  console.error(new Error('kaboom'));\n"
        "  return 1;\n"
        "};\n"
    )
    name = create_fn({"index.js": src}, runtime="nodejs20.x", handler="index.handler")
    _, _, tail = invoke(lam, name)
    rid = request_id(tail)
    msgs = messages(logs, name)
    info = [m for m in msgs if f"\t{rid}\tINFO\t" in m]
    assert len(info) == 1
    assert info[0].rstrip("\n").endswith("\tINFO\tfirst line\nsecond line"), msgs
    assert "second line" not in msgs
    errors = [m for m in msgs if f"\t{rid}\tERROR\t" in m]
    assert len(errors) == 1
    assert "Error: kaboom\n    at " in errors[0], msgs
    assert not any(m.lstrip().startswith("at ") for m in msgs), msgs


# AWS's Python runtime installs a root logging handler whose records reach CloudWatch one record
# per event (awslambdaric bootstrap.py: LambdaLoggerHandler / FramedTelemetryLogSink frame each
# formatted record, traceback included). `logger.exception(...)` is one event that contains its
# traceback, and the next record is a separate event. lambdabox writes the record's traceback with
# raw newlines and no trailing newline: the traceback becomes one event per line and its last line
# is glued to whatever is written next ("ZeroDivisionError: division by zero[ERROR] ValueError...").
def test_python_logging_exception_is_one_event_and_not_glued_to_the_next(
    lam: Any, logs: Any, create_fn: Callable[..., str]
) -> None:
    src = (
        "import logging\n\n"
        "def handler(event, context):\n"
        "    try:\n"
        "        1 / 0\n"
        "    except ZeroDivisionError:\n"
        "        logging.getLogger().exception('caught it')\n"
        "    print('next line')\n"
        "    return 1\n"
    )
    name = create_fn({"app.py": src})
    invoke(lam, name)
    msgs = messages(logs, name)
    assert any(m.rstrip("\n") == "next line" for m in msgs), msgs
    record = [m for m in msgs if m.startswith("[ERROR]\t") and "\tcaught it" in m]
    assert len(record) == 1, msgs
    assert "Traceback (most recent call last):" in record[0]
    assert "ZeroDivisionError: division by zero" in record[0]
    assert not any(m.startswith("Traceback") for m in msgs), msgs


# On AWS the x-amzn-RequestId of a synchronous Invoke response is the invocation's request id:
# the same id the function sees (context.aws_request_id / awsRequestId) and the one in START/END/
# REPORT, so a caller can find an invocation's logs from the SDK response (ResponseMetadata
# RequestId). The API reference names no rule for it; this is what Lambda answers. lambdabox
# answers a fresh id that matches nothing in the logs.
def test_invoke_response_request_id_is_the_invocation_request_id(
    lam: Any, create_fn: Callable[..., str]
) -> None:
    name = create_fn({"app.py": "def handler(event, context):\n    return context.aws_request_id\n"})
    resp, body, tail = invoke(lam, name)
    assert body == request_id(tail)
    assert resp["ResponseMetadata"]["RequestId"] == body


# Lambda: "/tmp ... ephemeral storage ... between 512 MB and 10,240 MB" per function
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html); each
# execution environment has its own /tmp. The README promises "a private tmpfs /tmp of
# EphemeralStorage size ... where the kernel allows". On this host the kernel allows it (the
# server logs "mount namespace"), but when the data dir (or the lambdabox install) is under the
# host's /tmp - e.g. `--data-dir $(mktemp -d)`, or this test suite's own server - the function's
# /tmp is the host's /tmp: unbounded and shared with other functions and the host.
def test_tmp_is_private_and_sized_by_ephemeral_storage(
    server: Server, lam: Any, create_fn: Callable[..., str]
) -> None:
    if "mount namespace" not in server.log_path.read_text():
        pytest.skip("no mount namespaces here: lambdabox falls back to a per-env TMPDIR")
    src = (
        "import errno, os\n\n"
        "def handler(event, context):\n"
        "    if event.get('mark'):\n"
        "        open('/tmp/' + event['mark'], 'w').close()\n"
        "    if event.get('look'):\n"
        "        return os.path.exists('/tmp/' + event['look'])\n"
        "    try:\n"
        "        with open('/tmp/big', 'wb') as f:\n"
        "            for _ in range(event.get('mb', 0)):\n"
        "                f.write(b'\\0' * (1 << 20))\n"
        "        return 'written'\n"
        "    except OSError as exc:\n"
        "        return errno.errorcode[exc.errno]\n"
        "    finally:\n"
        "        if os.path.exists('/tmp/big'):\n"
        "            os.remove('/tmp/big')\n"
    )
    writer = create_fn({"app.py": src}, MemorySize=1024, EphemeralStorage={"Size": 512}, Timeout=60)
    reader = create_fn({"app.py": src})
    marker = f"review2-{writer}"
    try:
        invoke(lam, writer, {"mark": marker})
        _, seen, _ = invoke(lam, reader, {"look": marker})
        assert seen is False, "another function's /tmp file is visible"
        _, result, _ = invoke(lam, writer, {"mb": 600})
        assert result == "ENOSPC", "wrote 600 MB into a 512 MB /tmp"
    finally:
        with contextlib.suppress(OSError):
            Path("/tmp", marker).unlink()


# The AWS CLI reports an unreachable endpoint in one line ('Could not connect to the endpoint URL:
# "..."') and exits 255; `lambdabox logs` is the README's equivalent of `aws logs tail`, and prints
# a 60-line Python traceback instead.
def test_cli_logs_unreachable_endpoint_is_one_line_not_a_traceback() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "lambdabox", "logs", "anything", "--endpoint-url", f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert f"127.0.0.1:{port}" in proc.stderr


def test_concurrent_callers_get_separate_envs_then_reuse_them(
    lam: Any, create_fn: Callable[..., str], gate: Gate
) -> None:
    name = create_fn(gated("v1"), Timeout=60)
    calls = [Background(lam, name, {"gate": gate.port}) for _ in range(4)]
    gate.arrivals(4)  # all four are inside the handler at once
    gate.release()
    first = [c.join()[1] for c in calls]
    envs = {r["env"] for r in first}
    assert len(envs) == 4
    assert all(r["count"] == 1 for r in first)
    later = [invoke(lam, name)[1] for _ in range(4)]
    assert {r["env"] for r in later} <= envs
    assert all(r["count"] >= 2 for r in later)


# UpdateFunctionCode: an invocation already running finishes on the code it started with; once
# LastUpdateStatus is Successful, invocations run the new code
# (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html).
def test_update_code_while_invocation_runs(lam: Any, create_fn: Callable[..., str], gate: Gate) -> None:
    name = create_fn(gated("v1"), Timeout=60)
    running = Background(lam, name, {"gate": gate.port})
    gate.arrivals(1)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(gated("v2")))
    wait_for(lambda: lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful")
    assert invoke(lam, name)[1]["code"] == "v2"
    gate.release()
    resp, body, _ = running.join()
    assert "FunctionError" not in resp
    assert body["code"] == "v1"


# DeleteFunction while an invocation runs: the running invocation completes; the next Invoke is
# ResourceNotFoundException.
def test_delete_function_while_invocation_runs(lam: Any, create_fn: Callable[..., str], gate: Gate) -> None:
    name = create_fn(gated("v1"), Timeout=60)
    running = Background(lam, name, {"gate": gate.port})
    gate.arrivals(1)
    lam.delete_function(FunctionName=name)
    gate.release()
    resp, body, tail = running.join()
    assert "FunctionError" not in resp and body["code"] == "v1"
    assert "REPORT RequestId:" in tail
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


# A handler that ignores SIGTERM still times out ("Task timed out after 1.00 seconds") and its
# environment is replaced: the next invocation starts fresh.
def test_timeout_when_handler_ignores_sigterm(lam: Any, create_fn: Callable[..., str]) -> None:
    src = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "COUNT = 0\n\n"
        "def handler(event, context):\n"
        "    global COUNT\n"
        "    COUNT += 1\n"
        "    while event.get('hang'):\n"
        "        time.sleep(0.05)\n"
        "    return COUNT\n"
    )
    name = create_fn({"app.py": src}, Timeout=1)
    assert invoke(lam, name)[1] == 1
    resp, body, tail = invoke(lam, name, {"hang": True})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert "Status: timeout" in tail
    assert invoke(lam, name)[1] == 1


# The deployment package is read-only inside the environment (only /tmp is writable,
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html).
def test_code_directory_is_read_only(lam: Any, create_fn: Callable[..., str]) -> None:
    src = (
        "import errno, os\n\n"
        "def handler(event, context):\n"
        "    out = {}\n"
        "    for label, path, mode in (('new', 'new.txt', 'w'), ('own', __file__, 'a')):\n"
        "        try:\n"
        "            with open(os.path.join(os.environ['LAMBDA_TASK_ROOT'], path), mode) as f:\n"
        "                f.write('x')\n"
        "            out[label] = 'written'\n"
        "        except OSError as exc:\n"
        "            out[label] = errno.errorcode[exc.errno]\n"
        "    return out\n"
    )
    name = create_fn({"app.py": src})
    _, body, _ = invoke(lam, name)
    assert body["new"] in {"EROFS", "EACCES"}
    assert body["own"] in {"EROFS", "EACCES"}


# Issue 3: AWS_ENDPOINT_URL points back at lambdabox, so an unmodified boto3 call inside a
# function (including invoking another function) reaches lambdabox.
def test_sdk_calls_from_inside_a_function_reach_lambdabox(lam: Any, create_fn: Callable[..., str]) -> None:
    src = (
        "import json\n\n"
        "def handler(event, context):\n"
        "    try:\n"
        "        import boto3\n"
        "    except ImportError:\n"
        "        return 'no boto3'\n"
        "    lam = boto3.client('lambda')\n"
        "    me = lam.get_function_configuration(FunctionName=context.function_name)['FunctionName']\n"
        "    other = lam.invoke(FunctionName=event['other'], Payload=b'{}')['Payload'].read()\n"
        "    groups = boto3.client('logs').describe_log_groups(logGroupNamePrefix='/aws/lambda/')\n"
        "    return {'me': me, 'other': json.loads(other), 'logs': 'logGroups' in groups}\n"
    )
    other = create_fn({"app.py": "def handler(e, c):\n    return 'inner'\n"})
    name = create_fn({"app.py": src}, Timeout=30)
    _, body, _ = invoke(lam, name, {"other": other})
    if body == "no boto3":
        pytest.skip("the python3.11 interpreter on this host has no boto3")
    assert body == {"me": name, "other": "inner", "logs": True}


# What `aws logs tail --follow` (AWS CLI v2, awscli/customizations/logs/tail.py,
# FollowLogEventsGenerator) does: FilterLogEvents with interleaved=True from startTime, following
# nextToken while present; on the last page it re-queries from the newest timestamp seen and
# skips the eventIds it already printed. Against lambdabox that yields every line once, in order,
# and picks up a later invocation's lines.
def test_aws_logs_tail_follow_loop_sees_every_line_once(
    lam: Any, logs: Any, create_fn: Callable[..., str]
) -> None:
    src = "def handler(event, context):\n    for i in range(event['n']):\n        print(event['tag'], i)\n"
    name = create_fn({"app.py": src})
    group = f"/aws/lambda/{name}"
    invoke(lam, name, {"n": 25, "tag": "one"})
    seen: dict[int, set[str]] = {}
    printed: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": group, "interleaved": True, "startTime": 0, "limit": 10}

    def poll_until_last_page() -> None:
        while True:
            page = logs.filter_log_events(**kwargs)
            for ev in page["events"]:
                ids = seen.setdefault(ev["timestamp"], set())
                if ev["eventId"] not in ids:
                    ids.add(ev["eventId"])
                    printed.append(ev["message"].rstrip("\n"))
            newest = max(seen)
            for ts in [t for t in seen if t != newest]:
                del seen[ts]
            if "nextToken" in page:
                kwargs["nextToken"] = page["nextToken"]
            else:
                kwargs.pop("nextToken", None)
                kwargs["startTime"] = newest
                return

    poll_until_last_page()
    poll_until_last_page()  # a quiet poll prints nothing new
    invoke(lam, name, {"n": 3, "tag": "two"})
    poll_until_last_page()
    user = [m for m in printed if m.startswith(("one ", "two "))]
    assert user == [f"one {i}" for i in range(25)] + [f"two {i}" for i in range(3)]
    assert sum(m.startswith("START RequestId:") for m in printed) == 2


# DeleteLogGroup of a function's group while it runs: the invocation is unaffected, and the
# function's later lines recreate the group (Lambda creates /aws/lambda/NAME when it writes).
def test_delete_log_group_while_function_runs(
    lam: Any, logs: Any, create_fn: Callable[..., str], gate: Gate
) -> None:
    name = create_fn(gated("v1"), Timeout=60)
    group = f"/aws/lambda/{name}"
    invoke(lam, name)
    running = Background(lam, name, {"gate": gate.port})
    gate.arrivals(1)
    logs.delete_log_group(logGroupName=group)
    gate.release()
    resp, _, tail = running.join()
    assert "FunctionError" not in resp
    rid = request_id(tail)
    assert any(m.startswith(f"REPORT RequestId: {rid}") for m in messages(logs, name))
    _, _, tail = invoke(lam, name)
    rid = request_id(tail)
    assert any(m.startswith(f"START RequestId: {rid}") for m in messages(logs, name))
    (desc,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert desc["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    assert desc["logGroupArn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"


# DescribeLogStreams for a function (API_LogStream): one stream per environment named
# YYYY/MM/DD/[$LATEST]<hex>, with arn, creationTime, first/lastEventTimestamp, lastIngestionTime,
# storedBytes 0 (deprecated for streams); orderBy=LastEventTime + descending and limit/nextToken.
def test_function_log_streams_fields_order_and_paging(
    lam: Any, logs: Any, create_fn: Callable[..., str], gate: Gate
) -> None:
    name = create_fn(gated("v1"), Timeout=60)
    group = f"/aws/lambda/{name}"
    calls = [Background(lam, name, {"gate": gate.port}) for _ in range(3)]
    gate.arrivals(3)
    gate.release()
    for c in calls:
        c.join()
    invoke(lam, name)  # one stream gets a later event
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 3
    assert [s["logStreamName"] for s in streams] == sorted(s["logStreamName"] for s in streams)
    for s in streams:
        assert "/[$LATEST]" in s["logStreamName"]
        assert (
            s["arn"]
            == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:log-stream:{s['logStreamName']}"
        )
        assert s["firstEventTimestamp"] <= s["lastEventTimestamp"] <= s["lastIngestionTime"]
        assert s["storedBytes"] == 0
    by_time = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    stamps = [s["lastEventTimestamp"] for s in by_time["logStreams"]]
    assert stamps == sorted(stamps, reverse=True)
    page = logs.describe_log_streams(logGroupName=group, limit=2)
    assert len(page["logStreams"]) == 2
    rest = logs.describe_log_streams(logGroupName=group, limit=2, nextToken=page["nextToken"])
    assert len(rest["logStreams"]) == 1 and "nextToken" not in rest
