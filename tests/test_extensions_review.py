"""The Extensions API where it must behave as AWS's does (the Extensions API reference, the Lambda
runtimes' bootstrap scripts, the Runtime Interface Emulator's extension state machine) and must
not be abusable, as an outside-in review (issue 19, part 2) found them (each was a strict
expected failure until its finding was fixed)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Gate, wait_until
from lambdabox.testing import LocalLambdabox
from test_extensions import GATED, create, has_line, invoke, lam, layer, lbx, log_lines  # noqa: F401

#: registers for INVOKE, reports exit/error, then tries event/next and prints how it was answered
EXIT_ERROR_THEN_NEXT = r"""#!/usr/bin/env python3
import os, sys, urllib.error, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(base + "/register", data=b'{"events": ["INVOKE"]}', method="POST",
                             headers={"Lambda-Extension-Name": "quitter"})
ident = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
req = urllib.request.Request(base + "/exit/error", data=b"{}", method="POST",
                             headers={"Lambda-Extension-Identifier": ident,
                                      "Lambda-Extension-Function-Error-Type": "Extension.Quitting"})
urllib.request.urlopen(req).read()
try:
    status = urllib.request.urlopen(urllib.request.Request(
        base + "/event/next", headers={"Lambda-Extension-Identifier": ident})).status
except urllib.error.HTTPError as e:
    status = e.code
print("next after exit/error:", status, flush=True)
sys.exit(1)
"""


def test_event_next_after_exit_error_is_refused(lbx: LocalLambdabox, lam: Any) -> None:  # noqa: F811
    """After exit/error AWS refuses every further call of the extension (the RIE's ExitError
    state allows nothing: 403 Extension.InvalidExtensionState); its exit then fails the init."""
    name = create(lam, [layer(lam, {"extensions/quitter": EXIT_ERROR_THEN_NEXT})])
    invoke(lam, name)
    wait_until(lambda: has_line(lbx, name, "next after exit/error:"))
    assert has_line(lbx, name, "next after exit/error: 403")


#: takes INVOKE and never calls next again
STUCK = r"""#!/usr/bin/env python3
import os, time, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(base + "/register", data=b'{"events": ["INVOKE"]}', method="POST",
                             headers={"Lambda-Extension-Name": "stuck"})
ident = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
urllib.request.urlopen(urllib.request.Request(base + "/event/next",
                                              headers={"Lambda-Extension-Identifier": ident})).read()
print("stuck with INVOKE", flush=True)
time.sleep(3600)
"""


def _report(server: LocalLambdabox, name: str, request_id: str) -> str:
    """The REPORT line of invocation `request_id`, once it is written."""
    wait_until(lambda: has_line(server, name, f"REPORT RequestId: {request_id}"))
    return next(
        line for line in log_lines(server, name) if line.startswith(f"REPORT RequestId: {request_id}")
    )


def test_a_post_runtime_timeout_reports_status_timeout(lbx: LocalLambdabox, lam: Any) -> None:  # noqa: F811
    """An extension that overruns the function's timeout after the runtime answered times the
    invocation out: 'Task timed out' is logged and its REPORT line says Status: timeout."""
    name = create(lam, [layer(lam, {"extensions/stuck": STUCK})])
    resp, body, _ = invoke(lam, name)  # the runtime answered; the extension holds the environment
    assert "FunctionError" not in resp, body
    request_id = resp["ResponseMetadata"]["RequestId"]
    lbx.advance(31.0)  # past the function's 30 s timeout
    report = _report(lbx, name, request_id)
    assert has_line(lbx, name, f"{request_id} Task timed out after 30.00 seconds")
    assert "Status: timeout" in report


#: takes INVOKE, waits at a `Gate` (port in GATE_PORT), then exits with status 3
CRASH_AFTER_RESPONSE = r"""#!/usr/bin/env python3
import os, socket, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(base + "/register", data=b'{"events": ["INVOKE"]}', method="POST",
                             headers={"Lambda-Extension-Name": "late-crash"})
ident = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
urllib.request.urlopen(urllib.request.Request(base + "/event/next",
                                              headers={"Lambda-Extension-Identifier": ident})).read()
socket.create_connection(("127.0.0.1", int(os.environ["GATE_PORT"])), timeout=60).makefile().readline()
os._exit(3)
"""


def test_a_post_runtime_crash_is_in_the_report(lbx: LocalLambdabox, lam: Any) -> None:  # noqa: F811
    """An extension crashing in the post-runtime phase fails the invocation with Extension.Crash,
    logged, and its REPORT line says Status: error, Error Type: Extension.Crash."""
    gate = Gate()
    try:
        env = {"Variables": {"GATE_PORT": str(gate.port)}}
        name = create(lam, [layer(lam, {"extensions/late-crash": CRASH_AFTER_RESPONSE})], Environment=env)
        resp, body, _ = invoke(lam, name)
        assert "FunctionError" not in resp, body
        request_id = resp["ResponseMetadata"]["RequestId"]
        gate.arrivals(1)
        gate.release()
        report = _report(lbx, name, request_id)
        assert has_line(lbx, name, "Extension.Crash")
        assert "Status: error" in report and "Error Type: Extension.Crash" in report
    finally:
        gate.close()


#: sends a register request whose Lambda-Extension-Name header is 2 MiB, returns the status line
HUGE_HEADER = r"""
import os, socket

def handler(event, context):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    try:
        s.sendall(b"POST /2020-01-01/extension/register HTTP/1.1\r\nHost: x\r\nLambda-Extension-Name: "
                  + b"a" * (2 * 1024 * 1024) + b"\r\nContent-Length: 2\r\n\r\n{}")
    except OSError:  # the server closed the connection early: what it answered is still readable
        pass
    return s.makefile("rb").readline().decode("latin-1").strip()
"""


def test_a_huge_request_header_is_refused(lbx: LocalLambdabox, lam: Any) -> None:  # noqa: F811
    """The Runtime API listener refuses request headers over 1 MB in total with 431 (as Lambda's
    Go server does) and closes, without buffering them (the answer is still readable)."""
    name = create(lam, [], files={"app.py": HUGE_HEADER}, MemorySize=512)
    resp, status_line, _ = invoke(lam, name)
    assert "FunctionError" not in resp, status_line
    assert status_line.split(" ")[1] in ("431", "400"), status_line


def test_a_missing_exec_wrapper_is_a_runtime_exit_error(lbx: LocalLambdabox, lam: Any) -> None:  # noqa: F811
    """A missing AWS_LAMBDA_EXEC_WRAPPER is reported as the runtimes' bootstrap reports it
    ('<wrapper>: does not exist', exit 127): Runtime.ExitError, naming no host path."""
    env = {"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/missing.sh"}}
    name = create(lam, [], Environment=env)
    resp, body, tail = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError", body
    assert "exit status 127" in body["errorMessage"]
    assert "/var/task/missing.sh: does not exist" in tail


def test_an_extension_exiting_255_is_not_reported_as_a_signal(lbx: LocalLambdabox, lam: Any) -> None:  # noqa: F811
    """An extension that exits 255 (as vendors' agents do on a bad configuration) is reported as
    'exit status 255', not as a signal."""
    name = create(
        lam, [layer(lam, {"extensions/agent": "#!/bin/sh\necho 'no API key, exiting'\nexit 255\n"})]
    )
    resp, body, _ = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Extension.Crash"
    assert "exit status 255" in body["errorMessage"], body
    assert "signal" not in body["errorMessage"]


def test_the_extension_crash_message_is_lambdas(lbx: LocalLambdabox, lam: Any) -> None:  # noqa: F811
    """Lambda's Extension.Crash message is 'RequestId: <id> Error: exit status <n>' (the
    extension is named by the EXTENSION log line)."""
    name = create(lam, [layer(lam, {"extensions/crasher": "#!/bin/sh\nexit 3\n"})])
    resp, body, _ = invoke(lam, name)
    assert body["errorType"] == "Extension.Crash"
    assert body["errorMessage"] == f"RequestId: {resp['ResponseMetadata']['RequestId']} Error: exit status 3"


def test_the_post_runtime_phase_holds_the_reserved_concurrency(lbx: LocalLambdabox, lam: Any) -> None:  # noqa: F811
    """An environment whose extensions are still busy with an invocation (post-runtime) is still
    executing it and counts against the function's reserved concurrency (the caller has its
    answer at once)."""
    gate = Gate()
    try:
        env = {"Variables": {"GATE_PORT": str(gate.port)}}
        name = create(lam, [layer(lam, {"extensions/gated": GATED})], Environment=env)
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        resp, body, _ = invoke(lam, name)  # answered; the extension holds the environment at the gate
        assert "FunctionError" not in resp, body
        gate.arrivals(1)
        with pytest.raises(lam.exceptions.TooManyRequestsException) as refused:
            lam.invoke(FunctionName=name, Payload=b"{}")
        assert refused.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    finally:
        gate.close()
