"""Bad input from the outside, judged against AWS's documented answers (issue 3, "Bad input").

Each test drives the real server the way a user would (boto3, raw HTTP on a socket) and asserts
what AWS Lambda does. Where lambdabox differs from AWS the test fails; the comment above it names
the AWS source.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import socket
import stat
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, aws_error, deploy, make_zip, unique

HELLO: dict[str, str | bytes] = {"app.py": "def handler(event, context):\n    return 'hello'\n"}


def invoke(lam: Any, name: str, payload: bytes = b"{}", **kw: Any) -> tuple[dict[str, Any], Any, str]:
    """Invoke with LogType=Tail; returns (response, decoded payload, log tail)."""
    resp = lam.invoke(FunctionName=name, Payload=payload, LogType="Tail", **kw)
    body = resp["Payload"].read()
    tail = base64.b64decode(resp.get("LogResult", "")).decode("utf-8", "replace")
    return resp, json.loads(body) if body else None, tail


def raw_http(server: Server, data: bytes, *, read: bool = True) -> bytes:
    """Send bytes on a fresh TCP connection; return what came back (or b'' when not reading)."""
    url = urlparse(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(data)
        if not read:
            return b""
        out = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
        return out


def wait_for(cond: Callable[[], bool], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# Defects: these fail until lambdabox gives AWS's answer.
# ---------------------------------------------------------------------------------------------

# AWS validates enum-typed members and answers ValidationException, e.g. (real response quoted in
# ex-aws/ex_aws PR #442): 400, x-amzn-ErrorType ValidationException, "1 validation error detected:
# Value 'dry_run' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value
# set: [DryRun, RequestResponse, Event]". The enum sets are the botocore model's (Invoke
# InvocationType/LogType, ListFunctions FunctionVersion, Architecture, TracingMode, LogFormat).
ENUM_CASES = [
    ("invoke", {"InvocationType": "Bogus"}, "invocationType"),
    ("invoke", {"LogType": "Bogus"}, "logType"),
    ("list_functions", {"FunctionVersion": "BOGUS"}, "functionVersion"),
    ("create_function", {"Architectures": ["sparc"]}, "architectures.1.member"),
    ("create_function", {"TracingConfig": {"Mode": "Bogus"}}, "tracingConfig.mode"),
    ("create_function", {"LoggingConfig": {"LogFormat": "Bogus"}}, "loggingConfig.logFormat"),
]


@pytest.mark.parametrize(("operation", "bad", "member"), ENUM_CASES)
def test_invalid_enum_values_are_validation_errors(
    lam_raw: Any, create_fn: Callable[..., str], operation: str, bad: dict[str, Any], member: str
) -> None:
    params: dict[str, Any]
    if operation == "invoke":
        params = {"FunctionName": create_fn(HELLO), **bad}
    elif operation == "list_functions":
        params = dict(bad)
    else:
        params = {
            "FunctionName": unique(),
            "Runtime": "python3.11",
            "Role": ROLE,
            "Handler": "app.handler",
            "Code": {"ZipFile": make_zip(HELLO)},
            **bad,
        }
    try:
        with pytest.raises(ClientError) as exc:
            getattr(lam_raw, operation)(**params)
    finally:
        _delete_if_created(lam_raw, operation, params)
    code, message, status = aws_error(exc)
    assert (code, status) == ("ValidationException", 400), message
    assert f"at '{member}' failed to satisfy constraint: Member must satisfy enum value set" in message


def _delete_if_created(lam: Any, operation: str, params: dict[str, Any]) -> None:
    """A create that wrongly succeeded must not leave a function behind."""
    if operation == "create_function":
        with contextlib.suppress(ClientError):
            lam.delete_function(FunctionName=params["FunctionName"])


# API_EphemeralStorage: "Size ... Valid Range: Minimum value of 512. Maximum value of 10240."
# (https://docs.aws.amazon.com/lambda/latest/dg/API_EphemeralStorage.html); out-of-range members
# are a ValidationException like MemorySize's.
@pytest.mark.parametrize("operation", ["create_function", "update_function_configuration"])
def test_ephemeral_storage_above_10240_is_rejected(
    lam_raw: Any, create_fn: Callable[..., str], operation: str
) -> None:
    if operation == "create_function":
        params: dict[str, Any] = {
            "FunctionName": unique(),
            "Runtime": "python3.11",
            "Role": ROLE,
            "Handler": "app.handler",
            "Code": {"ZipFile": make_zip(HELLO)},
        }
    else:
        params = {"FunctionName": create_fn(HELLO)}
    try:
        with pytest.raises(ClientError) as exc:
            getattr(lam_raw, operation)(EphemeralStorage={"Size": 10241}, **params)
    finally:
        _delete_if_created(lam_raw, operation, params)
    code, message, status = aws_error(exc)
    assert (code, status) == ("ValidationException", 400), message
    assert "Member must have value less than or equal to 10240" in message


# Lambda allows at most 50 tags per function ("Tagging Lambda functions": "Maximum number of tags
# per resource: 50"); TagResource already refuses the 51st, CreateFunction must too.
def test_create_with_more_than_50_tags_is_rejected(lam: Any) -> None:
    name = unique()
    try:
        with pytest.raises(ClientError) as exc:
            deploy(lam, HELLO, FunctionName=name, Tags={f"k{i}": "v" for i in range(51)})
        code, _, status = aws_error(exc)
        assert (code, status) == ("InvalidParameterValueException", 400)
    finally:
        with contextlib.suppress(ClientError):
            lam.delete_function(FunctionName=name)


# Python context object (https://docs.aws.amazon.com/lambda/latest/dg/python-context.html):
# "invoked_function_arn - The Amazon Resource Name (ARN) that's used to invoke the function.
# Indicates if the invoker specified a version number or alias." A qualifier given inside
# FunctionName is as much the invoker's choice as the Qualifier parameter (which lambdabox keeps).
def test_invoked_function_arn_keeps_qualifier_given_in_the_name(
    lam: Any, create_fn: Callable[..., str]
) -> None:
    name = create_fn({"app.py": "def handler(event, context):\n    return context.invoked_function_arn\n"})
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    _, via_param, _ = invoke(lam, name, Qualifier="$LATEST")
    assert via_param == f"{arn}:$LATEST"
    _, via_name, _ = invoke(lam, f"{name}:$LATEST")
    assert via_name == f"{arn}:$LATEST"
    _, via_arn, _ = invoke(lam, f"{arn}:$LATEST")
    assert via_arn == f"{arn}:$LATEST"


# A runtime process that exits with status 0 mid-invoke: Lambda reports "Runtime exited without
# providing a reason" (Runtime.ExitError), e.g. MatteoGioioso/lambda-flame issue #3 ("Error: Runtime
# exited without providing a reason Runtime.ExitError"); "exit status N" is only for N != 0.
def test_runtime_exit_status_zero_has_no_reason(lam: Any, create_fn: Callable[..., str]) -> None:
    name = create_fn({"app.py": "import os\n\ndef handler(event, context):\n    os._exit(0)\n"})
    resp, out, tail = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(
        r"RequestId: [0-9a-f-]{36} Error: Runtime exited without providing a reason", out["errorMessage"]
    ), out["errorMessage"]
    assert "Runtime exited without providing a reason" in tail


# provided.* runtime without a bootstrap: AWS answers (aws/aws-lambda-dotnet issue #1671,
# bakdata/aws-lambda-r-runtime issue #62) {"errorType": "Runtime.InvalidEntrypoint", "errorMessage":
# "RequestId: <id> Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"}.
def test_missing_bootstrap_message_is_awss(lam: Any, create_fn: Callable[..., str]) -> None:
    name = create_fn({"README": "no bootstrap here"}, runtime="provided.al2023", handler="x")
    resp, out, _ = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.InvalidEntrypoint"
    assert re.fullmatch(
        r"RequestId: [0-9a-f-]{36} Error: Couldn't find valid bootstrap\(s\): \[\S*bootstrap \S*bootstrap\]",
        out["errorMessage"],
    ), out["errorMessage"]


# Invoke's Payload is "The JSON that you want to provide to your Lambda function as input"
# (API_Invoke); NaN and Infinity are not JSON (RFC 8259 section 6: "Numeric values that cannot be
# represented ... (such as Infinity and NaN) are not permitted"). AWS answers
# InvalidRequestContentException "Could not parse request body into json: ..." for non-JSON.
@pytest.mark.parametrize("payload", [b"NaN", b'{"x": Infinity}', b"[-Infinity]"])
def test_non_standard_json_numbers_are_not_json(
    lam: Any, create_fn: Callable[..., str], payload: bytes
) -> None:
    name = create_fn(HELLO)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=payload)
    code, message, status = aws_error(exc)
    assert (code, status) == ("InvalidRequestContentException", 400)
    assert message.startswith("Could not parse request body into json")


# API_Invoke: "ClientContext - Up to 3,583 bytes of base64-encoded data about the invoking client"
# (also "The ClientContext JSON must be base64-encoded and has a maximum size of 3583 bytes").
# AWS's exact message for an oversized one is not documented; a 400 sender fault is the contract.
def test_client_context_over_3583_bytes_is_rejected(lam: Any, create_fn: Callable[..., str]) -> None:
    name = create_fn(HELLO)
    ok = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    assert lam.invoke(FunctionName=name, ClientContext=ok)["StatusCode"] == 200
    big = base64.b64encode(json.dumps({"custom": {"k": "v" * 3000}}).encode()).decode()
    assert len(big) > 3583
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, ClientContext=big)
    code, _, status = aws_error(exc)
    assert status == 400
    assert code in ("InvalidRequestContentException", "ValidationException", "InvalidParameterValueException")


# LoggingConfig.LogFormat=JSON ("Configuring JSON and plain text log formats", Lambda developer
# guide): Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON and the runtime's logging library emits JSON
# records with "timestamp", "level", "message", "requestId". lambdabox stores and reports JSON but
# the function still logs plain text.
def test_logging_config_json_format_reaches_the_runtime(lam: Any, create_fn: Callable[..., str]) -> None:
    src = (
        "import logging, os\n\n"
        "def handler(event, context):\n"
        "    logging.getLogger().warning('structured please')\n"
        "    return os.environ.get('AWS_LAMBDA_LOG_FORMAT')\n"
    )
    name = create_fn({"app.py": src}, LoggingConfig={"LogFormat": "JSON"})
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"]["LogFormat"] == "JSON"
    _, out, tail = invoke(lam, name)
    assert out == "JSON"
    records = []
    for line in tail.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    mine = [r for r in records if isinstance(r, dict) and r.get("message") == "structured please"]
    assert mine, tail
    assert mine[0]["level"] == "WARN" or mine[0]["level"] == "WARNING"
    assert "requestId" in mine[0] and "timestamp" in mine[0]


# ---------------------------------------------------------------------------------------------
# Bad input that lambdabox already answers as AWS does (not covered elsewhere end to end).
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/2015-03-31/functions", b"{not json"),
        ("/2015-03-31/functions", b"[1, 2]"),
        ("/2015-03-31/functions", b"\xff\xfe\x00"),
    ],
)
def test_malformed_control_plane_bodies_are_invalid_request_content(
    server: Server, path: str, body: bytes
) -> None:
    # AWS REST-JSON services answer an unreadable body with InvalidRequestContentException, 400
    # ("Could not parse request body into json: ..."), as Lambda's API reference lists it.
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    reply = raw_http(server, head + body)
    status_line, _, rest = reply.partition(b"\r\n")
    assert b" 400 " in status_line
    assert b"x-amzn-ErrorType: InvalidRequestContentException" in rest
    payload = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert payload["message"].startswith("Could not parse request body into json")


@pytest.mark.parametrize("payload", [b'{"a": 1} trailing', b"\xff\xfe", b"{'single': 'quotes'}"])
def test_malformed_invoke_payloads(lam: Any, create_fn: Callable[..., str], payload: bytes) -> None:
    # API_Invoke: InvalidRequestContentException (400) "The request body could not be parsed as JSON"
    name = create_fn(HELLO)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=payload)
    assert aws_error(exc)[0::2] == ("InvalidRequestContentException", 400)
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "hello"


def test_unimplemented_operation_is_an_aws_error_not_a_crash(lam: Any, create_fn: Callable[..., str]) -> None:
    name = create_fn(HELLO)
    with pytest.raises(ClientError) as exc:
        lam.get_function_code_signing_config(FunctionName=name)
    code, _, status = aws_error(exc)
    assert code == "UnknownOperationException" and status != 500
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "hello"


def test_invoke_payload_and_response_limits_are_exact(lam: Any, create_fn: Callable[..., str]) -> None:
    # Lambda quotas: 6 MB (6,291,456 bytes) request, refused by AWS's front end as
    # RequestEntityTooLargeException (413), e.g. awslabs/aws-athena-query-federation#793: "Request
    # must be smaller than 6291456 bytes for the InvokeFunction operation (Service: AWSLambda;
    # Status Code: 413; Error Code: RequestEntityTooLargeException)"; the response error names
    # 6291556 bytes.
    name = create_fn(
        {
            "app.py": "def handler(event, context):\n    return 'x' * event['n'] if 'n' in event else len(event['x'])\n"
        },
        Timeout=30,
    )
    overhead = len(json.dumps({"x": ""}))
    exact = json.dumps({"x": "a" * (6_291_456 - overhead)}).encode()
    assert len(exact) == 6_291_456
    assert json.loads(lam.invoke(FunctionName=name, Payload=exact)["Payload"].read()) == 6_291_456 - overhead
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=json.dumps({"x": "a" * (6_291_457 - overhead)}).encode())
    assert aws_error(exc) == (
        "RequestEntityTooLargeException",
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        413,
    )
    ok = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 6_291_556 - 2}).encode())
    assert "FunctionError" not in ok and len(ok["Payload"].read()) == 6_291_556
    over = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 6_291_556 - 1}).encode())
    assert over["FunctionError"] == "Unhandled"
    assert json.loads(over["Payload"].read()) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


def _zip_with(entries: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    "entries",
    [
        [
            ("d", b"/tmp", stat.S_IFLNK | 0o777),
            ("d/escaped.txt", b"pwned", stat.S_IFREG | 0o644),
        ],
        [("/abs/evil.py", b"x = 1", stat.S_IFREG | 0o644)],
    ],
    ids=["symlink-then-write-through-it", "absolute-path"],
)
def test_zip_escapes_are_refused_and_nothing_is_written(
    lam: Any, entries: list[tuple[str, bytes, int]]
) -> None:
    blob = _zip_with(
        [*entries, ("app.py", b"def handler(event, context):\n    return 1\n", stat.S_IFREG | 0o644)]
    )
    with pytest.raises(ClientError) as exc:
        lam.create_function(
            FunctionName=unique(),
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": blob},
        )
    assert aws_error(exc)[0::2] == ("InvalidParameterValueException", 400)
    assert not Path("/tmp/escaped.txt").exists()
    assert not Path("/abs/evil.py").exists()


# a custom runtime in Python: inside its environment, PATH holds an interpreter
RUNTIME_API_ABUSER = """#!/usr/bin/env python3
import json, os, urllib.error, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"

def call(method, path, body=None):
    req = urllib.request.Request(API + path, data=body, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), {{}}

prev = None
while True:
    status, event, headers = call("GET", "/invocation/next")
    rid = headers["Lambda-Runtime-Aws-Request-Id"]
    wrong = call("POST", "/invocation/not-a-request-id/response", b"1")[:2]
    again = call("POST", "/invocation/" + prev + "/response", b"2")[:2] if prev else None
    names = sorted(h for h in headers if h.lower().startswith("lambda-runtime-"))
    call("POST", "/invocation/" + rid + "/response", json.dumps(
        {{"wrong": wrong, "again": again, "headers": names}}).encode())
    prev = rid
"""


def test_custom_runtime_misusing_the_runtime_api_gets_awss_answers(
    lam: Any, create_fn: Callable[..., str]
) -> None:
    # Lambda Runtime API (runtimes-api.html): a response for an unknown request id is 400
    # InvalidRequestID; posting a second response for an id already answered is 403
    # InvalidStateTransition; /next carries the Lambda-Runtime-* headers.
    name = create_fn(
        {"bootstrap": RUNTIME_API_ABUSER.format()},
        runtime="provided.al2023",
        handler="unused",
        modes={"bootstrap": 0o755},
    )
    _, first, _ = invoke(lam, name)
    assert first["wrong"] == [400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}]
    assert first["again"] is None
    for header in (
        "Lambda-Runtime-Aws-Request-Id",
        "Lambda-Runtime-Deadline-Ms",
        "Lambda-Runtime-Invoked-Function-Arn",
        "Lambda-Runtime-Trace-Id",
    ):
        assert header in first["headers"]
    _, second, _ = invoke(lam, name)
    assert second["again"][0] in (400, 403)
    assert second["again"][1]["errorType"] in ("InvalidStateTransition", "InvalidRequestID")
