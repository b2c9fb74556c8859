"""Invoke through boto3 against a real server: Python and Node.js functions in real processes."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import MARKER, host_pids_with_env, marked
from review_helpers import wait_for

EVENTS = Path(__file__).parent / "events"

PY_ECHO = """
import json, os

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    print("got event", json.dumps(event)[:50])
    return {
        "event": event,
        "count": COUNT,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
        "client_context": getattr(getattr(context, "client_context", None), "custom", None),
        "env": {k: os.environ.get(k) for k in (
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "_HANDLER", "TZ",
            "AWS_LAMBDA_RUNTIME_API", "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "STAGE")},
        "cwd": os.getcwd(),
    }
"""

PY_FAIL = """
def handler(event, context):
    raise ValueError("something broke: " + event.get("why", "?"))
"""


def invoke(lam: Any, name: str, payload: Any = None, **kw: Any) -> tuple[dict[str, Any], Any]:
    if payload is not None:
        kw["Payload"] = json.dumps(payload).encode()
    resp = lam.invoke(FunctionName=name, **kw)
    body = resp["Payload"].read()
    return resp, json.loads(body) if body else None


def test_python_echo_context_and_env(lam: Any, create_fn: Any) -> None:
    name = create_fn(
        {"app.py": PY_ECHO}, Environment={"Variables": {"STAGE": "test"}}, MemorySize=256, Timeout=30
    )
    event = json.loads((EVENTS / "apigw-http-v2.json").read_text())
    resp, out = invoke(lam, name, event)
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp
    assert resp["ExecutedVersion"] == "$LATEST"
    assert out["event"] == event
    assert out["function_name"] == name and out["function_version"] == "$LATEST"
    assert out["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert out["memory"] == "256"  # a string, as in AWS's Python runtime
    assert 0 < out["remaining"] <= 30_000
    assert out["log_group"] == f"/aws/lambda/{name}"
    env = out["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["_HANDLER"] == "app.handler"
    assert env["TZ"] == ":UTC"
    assert env["STAGE"] == "test"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == out["log_stream"]
    assert "/[$LATEST]" in out["log_stream"]
    assert out["cwd"] == env["LAMBDA_TASK_ROOT"]


def test_warm_environment_keeps_globals(lam: Any, create_fn: Any) -> None:
    name = create_fn({"app.py": PY_ECHO})
    _, first = invoke(lam, name, {"n": 1})
    _, second = invoke(lam, name, {"n": 2})
    assert second["log_stream"] == first["log_stream"]  # one stream per environment, as on Lambda
    assert second["count"] == first["count"] + 1
    assert second["request_id"] != first["request_id"]


def test_update_replaces_environment(lam: Any, create_fn: Any) -> None:
    name = create_fn({"app.py": PY_ECHO})
    _, first = invoke(lam, name, {})
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "prod"}})
    _, second = invoke(lam, name, {})
    assert second["log_stream"] != first["log_stream"]
    assert second["env"]["STAGE"] == "prod"
    assert second["count"] == 1


def test_unhandled_error_shape_and_log_tail(lam: Any, create_fn: Any) -> None:
    name = create_fn({"app.py": PY_FAIL})
    resp, out = invoke(lam, name, {"why": "testing"}, LogType="Tail")
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "ValueError"
    assert out["errorMessage"] == "something broke: testing"
    assert isinstance(out["stackTrace"], list) and out["stackTrace"]
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert "START RequestId:" in tail and "END RequestId:" in tail and "REPORT RequestId:" in tail
    assert "ValueError" in tail
    report = next(line for line in tail.splitlines() if line.startswith("REPORT"))
    assert "Duration:" in report and "Billed Duration:" in report and "Memory Size: 128 MB" in report
    assert "Max Memory Used:" in report and "Init Duration:" in report


def test_import_error_and_missing_handler(lam: Any, create_fn: Any) -> None:
    name = create_fn({"app.py": "import no_such_module\n"})
    resp, out = invoke(lam, name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'app'" in out["errorMessage"]
    name2 = create_fn({"app.py": "x = 1\n"})
    resp, out = invoke(lam, name2, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.HandlerNotFound"


def test_crash_is_exit_error_and_next_invoke_recovers(lam: Any, create_fn: Any) -> None:
    src = (
        "import os, uuid\n\nENV = uuid.uuid4().hex\n\n"
        "def handler(event, context):\n    if event.get('die'):\n        os._exit(3)\n    return ENV\n"
    )
    name = create_fn({"app.py": src})
    _, env1 = invoke(lam, name, {})
    resp, out = invoke(lam, name, {"die": True})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in out["errorMessage"]
    _, env2 = invoke(lam, name, {})
    assert env2 != env1


def test_out_of_memory_is_killed(lam: Any, create_fn: Any) -> None:
    src = "def handler(event, context):\n    blocks = []\n    while True:\n        blocks.append(bytearray(16 * 1024 * 1024))\n"
    name = create_fn({"app.py": src}, MemorySize=128)
    resp, out = invoke(lam, name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] in ("Runtime.ExitError", "Runtime.OutOfMemory", "MemoryError")


def test_invalid_json_payload(lam: Any, create_fn: Any) -> None:
    name = create_fn({"app.py": PY_ECHO})
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"{not json")
    assert exc.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_payload_nested_too_deeply_is_not_parseable_json(lam: Any, create_fn: Any) -> None:
    # the outside-in review found 500 ServiceException (a RecursionError) for depth >= 1000
    name = create_fn({"app.py": PY_ECHO})
    deep = b"[" * 5000 + b"]" * 5000
    for kind in ("RequestResponse", "Event"):
        with pytest.raises(ClientError) as exc:
            lam.invoke(FunctionName=name, Payload=deep, InvocationType=kind)
        assert exc.value.response["Error"]["Code"] == "InvalidRequestContentException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert lam.invoke(FunctionName=name, Payload=b"[[[1]]]")["StatusCode"] == 200


def test_request_too_large(lam: Any, create_fn: Any) -> None:
    name = create_fn({"app.py": PY_ECHO})
    big = json.dumps({"x": "a" * (6 * 1024 * 1024 + 10)}).encode()
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=big)
    # refused from Content-Length by the edge, as AWS's front end does
    assert exc.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_response_too_large(lam: Any, create_fn: Any) -> None:
    name = create_fn({"app.py": "def handler(e, c):\n    return 'x' * (7 * 1024 * 1024)\n"})
    resp, out = invoke(lam, name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Function.ResponseSizeTooLarge"
    _, again = invoke(lam, name, {})  # the environment survives
    assert again["errorType"] == "Function.ResponseSizeTooLarge"


def test_dry_run_and_client_context(lam: Any, create_fn: Any) -> None:
    name = create_fn({"app.py": PY_ECHO})
    dry = lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    ctx = base64.b64encode(json.dumps({"custom": {"k": "v"}, "env": {}, "client": {}}).encode()).decode()
    _, out = invoke(lam, name, {}, ClientContext=ctx)
    assert out["client_context"] == {"k": "v"}


def test_empty_payload_is_empty_object(lam: Any, create_fn: Any) -> None:
    name = create_fn({"app.py": PY_ECHO})
    resp = lam.invoke(FunctionName=name)
    assert json.loads(resp["Payload"].read())["event"] == {}


def test_concurrent_invokes_run_in_parallel_environments(lam: Any, create_fn: Any) -> None:
    # each handler checks in at a loopback socket the test holds, and only returns once the test has
    # seen two of them at once: that can only happen if two environments run at the same time
    src = (
        "import os, socket\n\n"
        "def handler(event, context):\n"
        "    s = socket.create_connection(('127.0.0.1', event['port']), timeout=30)\n"
        "    s.sendall(os.environ['AWS_LAMBDA_LOG_STREAM_NAME'].encode() + b'\\n')\n"
        "    return s.makefile().readline().strip()\n"
    )
    name = create_fn({"app.py": src}, Timeout=60)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    port = listener.getsockname()[1]
    results: list[Any] = []

    def call() -> None:
        results.append(invoke(lam, name, {"port": port})[1])

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    conns = [listener.accept()[0] for _ in range(2)]  # both are inside their handlers now
    streams = {c.makefile().readline().strip() for c in conns}
    for c in conns:
        c.sendall(b"together\n")
    for t in threads:
        t.join(60)
    for c in conns:
        c.close()
    listener.close()
    assert results == ["together", "together"]
    assert len(streams) == 2


def test_handler_output_is_captured_even_when_huge_or_binary(lam: Any, create_fn: Any, logs: Any) -> None:
    src = (
        "import sys\n\n"
        "def handler(event, context):\n"
        "    sys.stdout.buffer.write(b'bad bytes \\xff\\xfe here\\n')\n"
        "    for i in range(20000):\n"
        "        print('line', i, 'x' * 100)\n"
        "    return 'done'\n"
    )
    name = create_fn({"app.py": src}, Timeout=60)
    resp, out = invoke(lam, name, {}, LogType="Tail")
    assert out == "done"
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert "REPORT RequestId" in tail
    assert len(base64.b64decode(resp["LogResult"])) <= 4096


def test_fork_and_exit_leaves_no_orphans(lam: Any, create_fn: Any) -> None:
    src = (
        "import os, time\n\n"
        "def handler(event, context):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        time.sleep(600)\n"
        "        os._exit(0)\n"
        "    return pid\n"
    )
    marker, environment = marked()
    name = create_fn({"app.py": src}, Environment=environment)
    _, child = invoke(lam, name, {})
    assert isinstance(child, int) and child > 0
    # on the host: the environment's init, its runtime and the forked child, all still running
    assert len(host_pids_with_env(MARKER, marker)) >= 3
    lam.delete_function(FunctionName=name)
    # deleting the function stops its environment and everything it started
    wait_for(lambda: not host_pids_with_env(MARKER, marker), limit=10)


NODE_ECHO = """
let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  console.log("node got", JSON.stringify(event).slice(0, 40));
  return { event, count, stream: process.env.AWS_LAMBDA_LOG_STREAM_NAME, requestId: context.awsRequestId, fn: context.functionName,
           memory: context.memoryLimitInMB, remaining: context.getRemainingTimeInMillis() };
};
"""

NODE_ESM = """
export const handler = async (event) => ({ esm: true, event });
"""

NODE_CALLBACK = """
exports.handler = (event, context, callback) => {
  if (event.fail) return callback(new Error("callback failure"));
  callback(null, { via: "callback" });
};
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_node_handlers(lam: Any, create_fn: Any) -> None:
    name = create_fn({"index.js": NODE_ECHO}, runtime="nodejs20.x", handler="index.handler")
    resp, out = invoke(lam, name, {"hello": "node"}, LogType="Tail")
    assert "FunctionError" not in resp
    assert out["event"] == {"hello": "node"} and out["fn"] == name and out["count"] == 1
    assert "node got" in base64.b64decode(resp["LogResult"]).decode()
    _, out2 = invoke(lam, name, {})
    assert out2["stream"] == out["stream"] and out2["count"] == 2

    esm = create_fn({"index.mjs": NODE_ESM}, runtime="nodejs22.x", handler="index.handler")
    _, out = invoke(lam, esm, {"a": 1})
    assert out == {"esm": True, "event": {"a": 1}}

    cb = create_fn({"index.js": NODE_CALLBACK}, runtime="nodejs20.x", handler="index.handler")
    _, out = invoke(lam, cb, {})
    assert out == {"via": "callback"}
    resp, out = invoke(lam, cb, {"fail": True})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Error" and out["errorMessage"] == "callback failure"


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12", "python3.13"])
def test_python_runtime_versions(lam: Any, create_fn: Any, runtime: str) -> None:
    src = "import os, sys\n\ndef handler(e, c):\n    return [sys.version_info[:2], os.environ['AWS_EXECUTION_ENV']]\n"
    name = create_fn({"app.py": src}, runtime=runtime)
    resp, (version, execution_env) = invoke(lam, name, {}, LogType="Tail")
    assert execution_env == f"AWS_Lambda_{runtime}"
    tail = base64.b64decode(resp["LogResult"]).decode()
    if version != [3, int(runtime.split(".")[1])]:
        # not installed here: runs on the nearest interpreter and says so in the log
        assert f"{runtime} is not installed here" in tail
    assert "FunctionError" not in resp


def test_traceback_is_one_multiline_log_event(lam: Any, logs: Any, create_fn: Any) -> None:
    name = create_fn({"app.py": PY_FAIL})
    invoke(lam, name, {"why": "trace"})
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern="ValueError")["events"]
    record = next(e["message"] for e in events if e["message"].startswith("[ERROR]"))
    assert record.startswith("[ERROR] ValueError: something broke: trace")
    assert "\nTraceback (most recent call last):" in record
    assert "\r" not in record


def test_json_log_format_platform_records(lam: Any, logs: Any, create_fn: Any) -> None:
    src = "import logging\n\ndef handler(e, c):\n    logging.getLogger().info('hello json')\n    return 1\n"
    name = create_fn({"app.py": src}, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "INFO"})
    conf = lam.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert conf == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{name}",
    }
    resp, _ = invoke(lam, name, {}, LogType="Tail")
    records = [json.loads(line) for line in base64.b64decode(resp["LogResult"]).decode().splitlines() if line]
    types = [r.get("type") for r in records]
    assert "platform.start" in types and "platform.report" in types
    report = next(r for r in records if r.get("type") == "platform.report")
    assert report["record"]["status"] == "success"
    assert {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"} <= set(
        report["record"]["metrics"]
    )
    app = next(r for r in records if r.get("message") == "hello json")
    assert app["level"] == "INFO" and app["requestId"] == report["record"]["requestId"]
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    assert any(json.loads(e["message"]).get("type") == "platform.initStart" for e in events)


def test_environment_that_dies_while_idle_is_replaced(lam: Any, create_fn: Any) -> None:
    src = (
        "import os, threading, time, uuid\n\n"
        "ENV = uuid.uuid4().hex\n\n"
        "def handler(event, context):\n"
        "    if event.get('die_later'):\n"
        "        threading.Thread(target=lambda: (time.sleep(0.2), os._exit(9))).start()\n"
        "    return ENV\n"
    )
    marker, environment = marked()
    name = create_fn({"app.py": src}, Environment=environment)
    _, env = invoke(lam, name, {"die_later": True})
    pids = host_pids_with_env(MARKER, marker)  # its init and runtime; the runtime exits 0.2 s later
    assert pids
    # the server notices the idle environment's death and cleans it up (its pid 1 reaped)
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), limit=10)
    resp, again = invoke(lam, name, {})
    assert "FunctionError" not in resp
    assert again != env


def test_runtime_that_exits_right_after_answering_is_not_reused(lam: Any, create_fn: Any) -> None:
    bootstrap = (
        "#!/bin/sh\n"
        'api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"\n'
        'id=$(curl -sS -D - -o /dev/null "$api/invocation/next" | tr -d "\\r" '
        "| sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')\n"
        'curl -sS -X POST -d "\\"once\\"" "$api/invocation/$id/response" >/dev/null\n'
        "exit 0\n"
    )
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    name = create_fn(
        {"bootstrap": bootstrap}, runtime="provided.al2023", handler="x", modes={"bootstrap": 0o755}
    )
    for _ in range(3):  # each invoke gets a fresh environment instead of a dead one
        resp, out = invoke(lam, name, {})
        assert out == "once", out
        assert "FunctionError" not in resp


def test_last_line_without_newline_is_logged_when_the_runtime_dies(
    lam: Any, logs: Any, create_fn: Any
) -> None:
    src = (
        "import os, sys\n\ndef handler(e, c):\n    sys.stdout.write('partial last words')\n    os._exit(0)\n"
    )
    name = create_fn({"app.py": src})
    _, out = invoke(lam, name, {})
    assert out["errorType"] == "Runtime.ExitError"
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    assert any(e["message"] == "partial last words" for e in events)
