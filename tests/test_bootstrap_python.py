"""The Python runtime client (lambdabox/lambda_/runtimes/bootstrap_python.py), run as a real process:
invocations, the context object, the connection and log records.

Each test starts a minimal Runtime API (aiohttp on 127.0.0.1, in a thread) that hands out events and
records what the client posts, spawns the client on a handler written to a temporary directory, and
checks the posted bodies and headers and what the client printed on stdout (bootstrap_python_helpers).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bootstrap_python_helpers import (
    ARN,
    NBSP,
    FakeRuntimeAPI,
    StartRuntime,
)

# The fixtures these tests use, re-exported here so that pytest finds them.
from bootstrap_python_helpers import api_fixture as api_fixture
from bootstrap_python_helpers import start_fixture as start_fixture

# ---------------------------------------------------------------------------------------------------
# Invocations


def test_success_posts_the_json_result_after_the_handler_output(start: StartRuntime) -> None:
    runtime = start(
        "def handler(event, context):\n    print('hello from', event['name'])\n    return {'got': event}\n"
    )
    post = runtime.invoke(b'{"name": "lambdabox", "n": [1, 2.5, null]}')
    assert post.kind == "response"
    assert post.json() == {"got": {"name": "lambdabox", "n": [1, 2.5, None]}}
    assert post.headers["Content-Type"] == "application/json"
    # The print reached the pipe before the response was posted.
    assert "hello from lambdabox\n" in post.stdout


def test_none_result_is_json_null(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    pass\n")
    post = runtime.invoke()
    assert post.kind == "response"
    assert post.body == b"null"


def test_decimals_bytes_and_non_ascii_are_marshalled_as_aws_does(start: StartRuntime) -> None:
    code = (
        "from decimal import Decimal\n"
        "def handler(event, context):\n"
        "    if event == 'bytes':\n"
        "        return b'\\x00raw'\n"
        "    return {'d': Decimal('1.10'), 'i': Decimal('7'), 'e': Decimal('1E+3'), 's': 'caf\\u00e9'}\n"
    )
    runtime = start(code)
    post = runtime.invoke(b'"json"')
    assert post.body == b'{"d": 1.10, "i": 7, "e": 1E+3, "s": "caf\\u00e9"}'
    raw = runtime.invoke(b'"bytes"')
    assert raw.body == b"\x00raw"
    assert raw.headers["Content-Type"] == "application/unknown"


def test_python312_runtimes_keep_non_ascii_characters(start: StartRuntime) -> None:
    runtime = start(
        "def handler(event, context):\n    return 'caf\\u00e9'\n",
        env={"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"},
    )
    assert runtime.invoke().body == '"café"'.encode()


def test_unhandled_exception_posts_aws_error_document_and_logs_one_record(
    start: StartRuntime, tmp_path: Path
) -> None:
    code = "def handler(event, context):\n    print('before')\n    helper()\n\ndef helper():\n    raise ValueError('boom')\n"
    runtime = start(code)
    post = runtime.invoke(request_id="req-1")
    assert post.kind == "error"
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "Unhandled"
    app = tmp_path / "app.py"
    assert post.json() == {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "req-1",
        "stackTrace": [
            f'  File "{app}", line 3, in handler\n    helper()\n',
            f"  File \"{app}\", line 6, in helper\n    raise ValueError('boom')\n",
        ],
    }
    # Both the handler's print and the error record were on stdout before the POST.
    assert "before\n" in post.stdout
    record = (
        "[ERROR] ValueError: boom\rTraceback (most recent call last):\r"
        f'{NBSP * 2}File "{app}", line 3, in handler\r{NBSP * 4}helper()\r'
        f"{NBSP * 2}File \"{app}\", line 6, in helper\r{NBSP * 4}raise ValueError('boom')\n"
    )
    assert record in post.stdout
    # The environment survives and serves the next invocation.
    assert runtime.invoke().kind == "error"


def test_bad_json_event_is_an_unmarshal_error(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    print('not called')\n")
    post = runtime.invoke(b"{not json", request_id="req-2")
    assert post.kind == "error"
    assert post.json() == {
        "errorMessage": "Unable to unmarshal input: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "errorType": "Runtime.UnmarshalError",
        "requestId": "req-2",
        "stackTrace": [],
    }
    assert "not called" not in post.stdout
    assert (
        "[ERROR] Runtime.UnmarshalError: Unable to unmarshal input: Expecting property name enclosed in "
        "double quotes: line 1 column 2 (char 1)\rTraceback (most recent call last):\n"
    ) in post.stdout


def test_unserializable_result_is_a_marshal_error(start: StartRuntime) -> None:
    runtime = start(
        "import datetime\ndef handler(event, context):\n    return {'at': datetime.date(2024, 1, 2)}\n"
    )
    post = runtime.invoke(request_id="req-3")
    assert post.json() == {
        "errorMessage": "Unable to marshal response: Object of type date is not JSON serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": "req-3",
        "stackTrace": [],
    }


CONTEXT_HANDLER = """
import os
def handler(event, context):
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "tenant_id": context.tenant_id,
        "remaining": context.get_remaining_time_in_millis(),
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": None if cc is None else {
            "custom": cc.custom, "env": cc.env,
            "client": None if cc.client is None else [cc.client.installation_id, cc.client.app_title],
        },
        "w3c": context.w3c(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "repr_starts": repr(context)[:35],
    }
"""


def test_context_carries_what_aws_provides(start: StartRuntime) -> None:
    runtime = start(CONTEXT_HANDLER)
    client_context = {
        "custom": {"k": "v"},
        "env": {"platform": "x"},
        "client": {"installation_id": "inst", "app_title": "app"},
        "w3c": {"traceparent": "00-abc-def-01", "junk": "dropped"},
    }
    identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    deadline = int(time.time() * 1000) + 30_000
    post = runtime.invoke(
        request_id="req-ctx",
        lambda_runtime_deadline_ms=str(deadline),
        lambda_runtime_client_context=json.dumps(client_context),
        lambda_runtime_cognito_identity=json.dumps(identity),
        lambda_runtime_trace_id="Root=1-abc;Sampled=0",
    )
    got = post.json()
    assert 0 < got.pop("remaining") <= 30_000
    assert got == {
        "aws_request_id": "req-ctx",
        "function_name": "fn",
        "function_version": "$LATEST",
        "invoked_function_arn": ARN,
        "memory_limit_in_mb": "256",  # a string, as AWS's runtime gives it
        "log_group_name": "/aws/lambda/fn",
        "log_stream_name": "2024/01/01/[$LATEST]abcdef",
        "tenant_id": None,
        "identity": ["id-1", "pool-1"],
        "client_context": {"custom": {"k": "v"}, "env": {"platform": "x"}, "client": ["inst", "app"]},
        "w3c": {"traceparent": "00-abc-def-01"},
        "trace": "Root=1-abc;Sampled=0",
        "repr_starts": "LambdaContext([aws_request_id=req-c",
    }

    # Without the optional headers: no client context, an empty identity, no trace id.
    bare = runtime.invoke(lambda_runtime_trace_id="", lambda_runtime_aws_tenant_id="tenant-7").json()
    assert bare["client_context"] is None
    assert bare["identity"] == [None, None]
    assert bare["trace"] is None
    assert bare["tenant_id"] == "tenant-7"
    assert bare["w3c"] == {}


def test_remaining_time_decreases_and_stops_at_zero(start: StartRuntime) -> None:
    code = (
        "def handler(event, context):\n"
        "    first = context.get_remaining_time_in_millis()\n"
        "    while context.get_remaining_time_in_millis() == first:\n"
        "        pass\n"
        "    return [first, context.get_remaining_time_in_millis()]\n"
    )
    runtime = start(code)
    first, second = runtime.invoke().json()
    assert 0 < second < first <= 60_000


def test_remaining_time_is_zero_past_the_deadline(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    return context.get_remaining_time_in_millis()\n")
    past = str(int(time.time() * 1000) - 5_000)
    assert runtime.invoke(lambda_runtime_deadline_ms=past).json() == 0


def test_globals_persist_across_invocations_on_one_connection(
    start: StartRuntime, api: FakeRuntimeAPI
) -> None:
    code = "count = 0\ndef handler(event, context):\n    global count\n    count += 1\n    return count\n"
    runtime = start(code)
    assert [runtime.invoke().json() for _ in range(3)] == [1, 2, 3]
    assert len(api.peers) == 1  # one keep-alive connection for every call


def test_reconnects_when_the_server_closes_the_connection(start: StartRuntime, api: FakeRuntimeAPI) -> None:
    api.close_after_response = True
    runtime = start("def handler(event, context):\n    return event\n")
    assert [runtime.invoke(str(n)).json() for n in range(3)] == [0, 1, 2]
    assert len(api.peers) > 1


def test_chunked_event(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    return event\n")
    assert runtime.invoke(json.dumps({"k": "v" * 1000}), chunked=True).json() == {"k": "v" * 1000}


def test_a_refused_post_does_not_stop_the_runtime(start: StartRuntime, api: FakeRuntimeAPI) -> None:
    runtime = start("def handler(event, context):\n    return event\n")
    api.post_status = 500
    runtime.invoke("1")
    api.post_status = 202
    assert runtime.invoke("2").json() == 2
    assert "lambdabox runtime: POST /2018-06-01/runtime/invocation/" in runtime.stderr.drain()


def test_a_connection_the_server_dropped_during_the_handler_is_replaced(
    start: StartRuntime, api: FakeRuntimeAPI
) -> None:
    # As when a handler outlives the server's keep-alive timeout; the response is too big to resend blindly.
    runtime = start("def handler(event, context):\n    return 'x' * 100_000\n")
    assert runtime.invoke(drop_after=True).json() == "x" * 100_000
    assert runtime.invoke(drop_after=True).json() == "x" * 100_000
    assert len(api.peers) == 3


def test_large_event_and_response(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    return {'echo': event, 'n': len(event)}\n")
    big = "x" * 3_000_000
    post = runtime.invoke(json.dumps(big))
    assert post.json() == {"echo": big, "n": 3_000_000}


def test_logging_goes_to_stdout_in_aws_text_format(start: StartRuntime) -> None:
    code = (
        "import logging\n"
        "logger = logging.getLogger()\n"
        "logger.setLevel(logging.INFO)\n"
        "def handler(event, context):\n"
        "    logger.info('info %s', 'line')\n"
        "    logging.getLogger('child').warning('careful')\n"
    )
    runtime = start(code)
    post = runtime.invoke(request_id="req-log")
    lines = [line for line in post.stdout.split("\n") if line.startswith("[")]
    assert len(lines) == 2
    level, stamp, request_id, message = lines[0].split("\t")
    assert (level, request_id, message) == ("[INFO]", "req-log", "info line")
    assert time.strptime(stamp[:-5], "%Y-%m-%dT%H:%M:%S") and stamp.endswith("Z") and stamp[-5] == "."
    assert lines[1].startswith("[WARNING]\t") and lines[1].endswith("\treq-log\tcareful")


def test_json_log_format(start: StartRuntime) -> None:
    code = (
        "import logging\n"
        "def handler(event, context):\n"
        "    logging.getLogger('app').info('hi %s', 1, extra={'order': 7})\n"
        "    logging.getLogger('app').debug('hidden')\n"
        "    raise KeyError('k')\n"
    )
    runtime = start(code, env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
    post = runtime.invoke(request_id="req-json")
    records = [json.loads(line) for line in post.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 2
    info, error = records
    assert info.pop("timestamp").endswith("Z")
    assert info == {"level": "INFO", "message": "hi 1", "logger": "app", "requestId": "req-json", "order": 7}
    assert error.pop("timestamp").endswith("Z")
    assert error["level"] == "ERROR" and error["errorType"] == "KeyError" and error["errorMessage"] == "'k'"
    assert error["requestId"] == "req-json" and len(error["stackTrace"]) == 1
