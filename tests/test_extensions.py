"""Lambda extensions as a function's owner sees them: external extensions shipped in a layer's
``extensions/`` register through the Extensions API, see each invocation's INVOKE and the
environment's SHUTDOWN, write to the function's log stream and hold the environment until they are
done; extensions that crash, never register or report an init error fail the init with AWS's
error types; internal extensions register from the runtime's process; AWS_LAMBDA_EXEC_WRAPPER
wraps the runtime; the Telemetry and Logs APIs answer that they are not supported."""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ROLE, Gate, make_zip, unique, wait_until
from lambdabox.testing import LocalLambdabox

#: an external extension in Python (the runtime's interpreter is on PATH): registers for INVOKE
#: and SHUTDOWN, prints what it gets, and exits after SHUTDOWN
PROBE = r"""#!/usr/bin/env python3
import json, os, sys, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
name = os.path.basename(sys.argv[0])
req = urllib.request.Request(base + "/register", data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
                             headers={"Lambda-Extension-Name": name}, method="POST")
with urllib.request.urlopen(req) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
    print("[%s] registered %s fn=%s" % (name, r.status, json.dumps(json.load(r), sort_keys=True)), flush=True)
while True:
    req = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
    with urllib.request.urlopen(req) as r:
        event = json.load(r)
    print("[%s] event %s" % (name, json.dumps(event, sort_keys=True)), flush=True)
    if event["eventType"] == "SHUTDOWN":
        print("[%s] bye" % name, flush=True)
        sys.exit(0)
    print("[%s] done with %s" % (name, event["requestId"]), flush=True)
"""

HANDLER = "import os\n\ndef handler(event, context):\n    print('handler ran')\n    return {'wrapped': os.environ.get('WRAPPED')}\n"


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(
        tmp_path_factory.mktemp("ext") / "data", manual_clock=True, idle_timeout=600
    ) as server:
        yield server


@pytest.fixture(scope="module")
def lam(lbx: LocalLambdabox) -> Any:
    return lbx.client("lambda", read_timeout=120)


def layer(lam: Any, files: dict[str, str], mode: int = 0o755) -> str:
    """A layer of `files` (executable): its version ARN."""
    zipped = make_zip(files, {n: mode for n in files})
    return str(
        lam.publish_layer_version(LayerName=unique("ext"), Content={"ZipFile": zipped})["LayerVersionArn"]
    )


def create(lam: Any, layers: list[str], files: dict[str, str] | None = None, **kw: Any) -> str:
    name = unique()
    files = files or {"app.py": HANDLER}
    runtime, handler = kw.pop("Runtime", "python3.12"), kw.pop("Handler", "app.handler")
    lam.create_function(
        FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler, Timeout=30,
        Code={"ZipFile": make_zip(files, {n: 0o755 for n in files if n.endswith(".sh")})}, Layers=layers, **kw,
    )  # fmt: skip
    return name


def log_lines(lbx: LocalLambdabox, name: str) -> list[str]:
    """Every line of the function's log streams, in order."""
    logs = lbx.client("logs")
    group = f"/aws/lambda/{name}"
    lines: list[str] = []
    try:
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    except logs.exceptions.ResourceNotFoundException:  # not written to yet
        return lines
    for stream in streams:
        events = logs.get_log_events(
            logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True
        )
        lines += [e["message"].rstrip("\n") for e in events["events"]]
    return lines


def has_line(lbx: LocalLambdabox, name: str, text: str) -> bool:
    return any(text in line for line in log_lines(lbx, name))


def invoke(lam: Any, name: str) -> tuple[dict[str, Any], Any, str]:
    resp = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    return resp, json.loads(resp["Payload"].read()), base64.b64decode(resp.get("LogResult", "")).decode()


def test_an_external_extension_sees_invoke_and_shutdown_and_logs(lbx: LocalLambdabox, lam: Any) -> None:
    name = create(lam, [layer(lam, {"extensions/probe": PROBE})])
    ids = []
    for _ in range(2):
        resp, body, _tail = invoke(lam, name)
        assert "FunctionError" not in resp, body
        ids.append(resp["ResponseMetadata"]["RequestId"])
    wait_until(lambda: has_line(lbx, name, f"REPORT RequestId: {ids[1]}"))
    lines = log_lines(lbx, name)
    registered = next(line for line in lines if "[probe] registered" in line)
    assert (
        "200 fn=" + json.dumps({"functionName": name, "functionVersion": "$LATEST", "handler": "app.handler"})
        in registered
    )
    assert "EXTENSION\tName: probe\tState: Ready\tEvents: [INVOKE,SHUTDOWN]" in lines
    # registered before the runtime's init (and the first invocation) ran
    assert lines.index(registered) < next(i for i, line in enumerate(lines) if line.startswith("START"))
    for request_id in ids:
        event = next(
            json.loads(line.split(" event ", 1)[1])
            for line in lines
            if request_id in line and "event" in line
        )
        assert event["eventType"] == "INVOKE"
        assert set(event) == {"eventType", "deadlineMs", "requestId", "invokedFunctionArn", "tracing"}
        assert event["invokedFunctionArn"].endswith(f":function:{name}")
        assert event["tracing"]["type"] == "X-Amzn-Trace-Id"
        # the invocation ends (REPORT) only once the extension is done with it and called next
        done = lines.index(f"[probe] done with {request_id}")
        assert done < next(
            i for i, line in enumerate(lines) if line.startswith(f"REPORT RequestId: {request_id}")
        )
    assert lines.count("handler ran") == 2
    # the environment is reaped: SHUTDOWN (spindown, with its deadline) before it stops
    lbx.advance(700)
    wait_until(lambda: has_line(lbx, name, "[probe] bye"))
    shutdown = next(
        json.loads(line.split(" event ", 1)[1])
        for line in log_lines(lbx, name)
        if '"eventType": "SHUTDOWN"' in line
    )
    assert shutdown["shutdownReason"] == "spindown"
    assert set(shutdown) == {"eventType", "shutdownReason", "deadlineMs"}


#: an extension that, on INVOKE, waits at a `Gate` (port in GATE_PORT) before it calls next again
GATED = r"""#!/usr/bin/env python3
import os, socket, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(base + "/register", data=b'{"events": ["INVOKE"]}', method="POST",
                             headers={"Lambda-Extension-Name": "gated"})
ident = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
while True:
    next_event = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
    urllib.request.urlopen(next_event).read()
    s = socket.create_connection(("127.0.0.1", int(os.environ["GATE_PORT"])), timeout=60)
    print("gated extension let go:", s.makefile().readline().strip(), flush=True)
"""


def test_the_caller_has_its_answer_while_an_extension_still_works(lbx: LocalLambdabox, lam: Any) -> None:
    gate = Gate()
    try:
        env = {"Variables": {"GATE_PORT": str(gate.port)}}
        name = create(lam, [layer(lam, {"extensions/gated": GATED})], Environment=env)
        resp, body, _ = invoke(lam, name)  # answered while the extension waits at the gate
        assert "FunctionError" not in resp, body
        request_id = resp["ResponseMetadata"]["RequestId"]
        gate.arrivals(1)
        assert not has_line(lbx, name, f"REPORT RequestId: {request_id}")  # the invocation is not over
        gate.release("now")
        wait_until(lambda: has_line(lbx, name, f"REPORT RequestId: {request_id}"))
        lines = log_lines(lbx, name)
        assert lines.index("gated extension let go: now") < next(
            i for i, line in enumerate(lines) if line.startswith(f"REPORT RequestId: {request_id}")
        )
        # the environment is then reused
        second, _, _ = invoke(lam, name)
        gate.arrivals(1)
        gate.release("again")
        assert sum(line.startswith("INIT_START") for line in log_lines(lbx, name)) == 1
        assert "FunctionError" not in second
    finally:
        gate.close()


def test_shutdown_when_the_function_is_updated(lbx: LocalLambdabox, lam: Any) -> None:
    name = create(lam, [layer(lam, {"extensions/probe": PROBE})])
    invoke(lam, name)
    lam.update_function_configuration(FunctionName=name, Description="changed")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    invoke(lam, name)  # the old revision's environment is retired
    wait_until(lambda: has_line(lbx, name, "[probe] bye"))


def test_an_extension_that_crashes_before_registering_fails_the_init(lbx: LocalLambdabox, lam: Any) -> None:
    crash = "#!/bin/sh\necho 'crashing extension'\nexit 3\n"
    name = create(lam, [layer(lam, {"extensions/crasher": crash})])
    resp, body, tail = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Extension.Crash"
    request_id = resp["ResponseMetadata"]["RequestId"]
    assert body["errorMessage"] == f"RequestId: {request_id} Error: exit status 3"
    assert "EXTENSION\tName: crasher" in tail  # the log names the extension
    assert "crashing extension" in tail
    assert "Phase: init\tStatus: error\tError Type: Extension.Crash" in tail
    assert "handler ran" not in tail


def test_an_extension_init_error_fails_the_init(lbx: LocalLambdabox, lam: Any) -> None:
    ext = r"""#!/usr/bin/env python3
import json, os, time, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(base + "/register", data=b'{"events": ["INVOKE"]}', method="POST",
                             headers={"Lambda-Extension-Name": "failing"})
ident = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
req = urllib.request.Request(base + "/init/error", data=b'{"errorMessage": "no config"}', method="POST",
                             headers={"Lambda-Extension-Identifier": ident,
                                      "Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid"})
print("init/error answered", urllib.request.urlopen(req).status, flush=True)
time.sleep(3600)
"""
    name = create(lam, [layer(lam, {"extensions/failing": ext})])
    resp, body, tail = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Extension.InitError"
    assert "Extension.ConfigInvalid" in body["errorMessage"]
    assert "Error Type: Extension.InitError" in tail


def test_an_extension_that_exits_after_exit_error_fails_with_extension_exit_error(
    lbx: LocalLambdabox, lam: Any
) -> None:
    ext = r"""#!/usr/bin/env python3
import os, sys, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(base + "/register", data=b'{"events": ["INVOKE"]}', method="POST",
                             headers={"Lambda-Extension-Name": "leaving"})
ident = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
req = urllib.request.Request(base + "/exit/error", data=b"{}", method="POST",
                             headers={"Lambda-Extension-Identifier": ident,
                                      "Lambda-Extension-Function-Error-Type": "Extension.Leaving"})
print("exit/error answered", urllib.request.urlopen(req).status, flush=True)
sys.exit(1)
"""
    name = create(lam, [layer(lam, {"extensions/leaving": ext})])
    resp, body, tail = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Extension.ExitError"
    assert "exit/error answered 202" in tail
    assert "Error Type: Extension.ExitError" in tail


#: an extension that takes INVOKE, calls next again (the environment goes idle), then exits when
#: the test lets it go at a `Gate`
IDLE_CRASH = r"""#!/usr/bin/env python3
import os, socket, threading, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(base + "/register", data=b'{"events": ["INVOKE"]}', method="POST",
                             headers={"Lambda-Extension-Name": "flaky"})
ident = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
def nexts():
    while True:
        next_event = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
        urllib.request.urlopen(next_event).read()
threading.Thread(target=nexts, daemon=True).start()
s = socket.create_connection(("127.0.0.1", int(os.environ["GATE_PORT"])), timeout=60)
s.makefile().readline()
print("flaky extension exits", flush=True)
os._exit(5)
"""


def test_an_extension_exiting_between_invocations_resets_the_environment(
    lbx: LocalLambdabox, lam: Any
) -> None:
    gate = Gate()
    try:
        env = {"Variables": {"GATE_PORT": str(gate.port)}}
        name = create(lam, [layer(lam, {"extensions/flaky": IDLE_CRASH})], Environment=env)
        resp, body, _ = invoke(lam, name)
        assert "FunctionError" not in resp, body
        request_id = resp["ResponseMetadata"]["RequestId"]
        wait_until(lambda: has_line(lbx, name, f"REPORT RequestId: {request_id}"))  # idle now
        gate.arrivals(1)
        gate.release()
        wait_until(lambda: has_line(lbx, name, "Extension.Crash"))
        resp, body, _ = invoke(lam, name)  # a new environment (whose extension waits at the gate)
        assert "FunctionError" not in resp, body
        assert sum(line.startswith("INIT_START") for line in log_lines(lbx, name)) == 2
    finally:
        gate.close()


def test_an_extension_that_never_registers_times_the_init_out(lbx: LocalLambdabox, lam: Any) -> None:
    name = create(lam, [layer(lam, {"extensions/silent": "#!/bin/sh\nexec sleep 3600\n"})])
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(invoke(lam, name)))
    thread.start()
    wait_until(lambda: lbx.call(_starting(lbx)))
    lbx.advance(30.0)
    thread.join(60)
    resp, body, tail = out[0]
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Phase: init\tStatus: error\tError Type: Sandbox.Timedout" in tail
    assert "handler ran" not in tail


def _starting(lbx: LocalLambdabox) -> Any:
    async def check() -> bool:
        return bool(lbx.app.invoker.environment_states()["starting"] > 0)

    return check


def test_an_extension_crashing_during_an_invocation_resets_the_environment(
    lbx: LocalLambdabox, lam: Any
) -> None:
    dying = r"""#!/usr/bin/env python3
import os, sys, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(base + "/register", data=b'{"events": ["INVOKE"]}', method="POST",
                             headers={"Lambda-Extension-Name": "dying"})
ident = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
next_event = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
urllib.request.urlopen(next_event).read()
print("dying on INVOKE", flush=True)
sys.exit(7)
"""
    slow = "import time\n\ndef handler(event, context):\n    time.sleep(3600)\n"
    name = create(lam, [layer(lam, {"extensions/dying": dying})], files={"app.py": slow})
    resp, body, tail = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Extension.Crash"
    assert "exit status 7" in body["errorMessage"]
    assert "dying on INVOKE" in tail
    assert "Error Type: Extension.Crash" in tail
    # the environment was reset: the next invocation starts a new one
    resp, body, _ = invoke(lam, name)
    assert body["errorType"] == "Extension.Crash"
    assert sum(line.startswith("INIT_START") for line in log_lines(lbx, name)) == 2


#: a function that is its own internal extension (registers from its module code, a thread
#: takes its events) and probes the Extensions, Telemetry and Logs APIs from its handler
INTERNAL = r"""
import json, os, threading, urllib.error, urllib.request
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
SEEN = []

def call(method, path, body=None, **headers):
    req = urllib.request.Request(API + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")

status, headers, info = call("POST", "/2020-01-01/extension/register", b'{"events": ["INVOKE"]}',
                             **{"Lambda-Extension-Name": "inside", "Lambda-Extension-Accept-Feature": "accountId"})
IDENT = headers["Lambda-Extension-Identifier"]
REGISTERED = [status, info]
TWICE = call("POST", "/2020-01-01/extension/register", b'{"events": []}', **{"Lambda-Extension-Name": "inside"})[::2]

def events():
    while True:
        _, _, event = call("GET", "/2020-01-01/extension/event/next", **{"Lambda-Extension-Identifier": IDENT})
        SEEN.append(event["requestId"])

threading.Thread(target=events, daemon=True).start()

def handler(event, context):
    ext = "/2020-01-01/extension/"
    return {
        "registered": REGISTERED, "twice": TWICE, "seen": list(SEEN), "me": context.aws_request_id,
        "late": call("POST", ext + "register", b'{"events": ["INVOKE"]}', **{"Lambda-Extension-Name": "late"})[::2],
        "shutdown": call("POST", ext + "register", b'{"events": ["SHUTDOWN"]}', **{"Lambda-Extension-Name": "x"})[::2],
        "again": call("POST", ext + "register", b'{"events": []}', **{"Lambda-Extension-Name": "inside"})[::2],
        "noname": call("POST", ext + "register", b'{"events": []}')[::2],
        "missing": call("GET", ext + "event/next")[::2],
        "invalid": call("GET", ext + "event/next", **{"Lambda-Extension-Identifier": "nope"})[::2],
        "unknown": call("GET", ext + "event/next",
                        **{"Lambda-Extension-Identifier": "0b6c7a3e-2bbf-4c37-9d6a-0a3b7f3f1d11"})[::2],
        "no_type": call("POST", ext + "exit/error", b"{}", **{"Lambda-Extension-Identifier": IDENT})[::2],
        "telemetry": call("PUT", "/2022-07-01/telemetry", b'{"types": ["platform"]}',
                          **{"Lambda-Extension-Identifier": IDENT})[::2],
        "logs": call("PUT", "/2020-08-15/logs", b'{"types": ["function"]}', **{"Lambda-Extension-Identifier": IDENT})[::2],
    }
"""


def test_internal_extensions_and_the_apis_answers(lbx: LocalLambdabox, lam: Any) -> None:
    name = create(lam, [], files={"app.py": INTERNAL})
    first, body, _ = invoke(lam, name)
    assert "FunctionError" not in first, body
    assert body["registered"] == [
        200, {"functionName": name, "functionVersion": "$LATEST", "handler": "app.handler", "accountId": "000000000000"}
    ]  # fmt: skip
    closed = {
        "errorType": "Extension.RegistrationClosed",
        "errorMessage": "Extension registration closed already",
    }
    assert body["late"] == [403, closed]
    assert body["shutdown"][0] == 403 and body["shutdown"][1]["errorType"] == "Extension.InvalidEventType"
    assert body["again"] == [403, closed]  # after init, whatever the name
    assert body["twice"] == [
        403, {"errorType": "Extension.InvalidExtensionState", "errorMessage": "Extension with this name already registered"}
    ]  # fmt: skip
    assert body["noname"] == [
        403,
        {"errorType": "Extension.InvalidExtensionName", "errorMessage": "Empty extension name"},
    ]
    assert body["missing"] == [
        403, {"errorType": "Extension.MissingExtensionIdentifier", "errorMessage": "Missing Lambda-Extension-Identifier header"}
    ]  # fmt: skip
    assert body["invalid"][1]["errorType"] == "Extension.InvalidExtensionIdentifier"
    assert body["unknown"][1]["errorType"] == "Extension.UnknownExtensionIdentifier"
    assert body["no_type"] == [
        403, {"errorType": "Extension.MissingHeader", "errorMessage": "Lambda-Extension-Function-Error-Type not found"}
    ]  # fmt: skip
    assert body["telemetry"] == [
        202,
        {"errorType": "Telemetry.NotSupported", "errorMessage": "Telemetry API is not supported"},
    ]
    assert body["logs"] == [
        202,
        {"errorType": "Logs.NotSupported", "errorMessage": "Logs API is not supported"},
    ]
    # the internal extension got the first invocation's INVOKE (it called next before the second)
    _, second, _ = invoke(lam, name)
    assert body["me"] in second["seen"]
    assert has_line(lbx, name, "lambdabox: the Telemetry API is not supported: extension inside subscribed")


WRAPPER = '#!/bin/sh\nexport WRAPPED="yes:$1"\nexec "$@"\n'


def test_exec_wrapper_from_the_code_and_from_a_layer(lbx: LocalLambdabox, lam: Any) -> None:
    env = {"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrap.sh"}}
    name = create(lam, [], files={"app.py": HANDLER, "wrap.sh": WRAPPER}, Environment=env)
    resp, body, _ = invoke(lam, name)
    assert "FunctionError" not in resp, body
    assert body["wrapped"].startswith("yes:") and "python" in body["wrapped"]  # the runtime's argv
    env = {"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrap.sh"}}
    name = create(lam, [layer(lam, {"wrap.sh": WRAPPER, "extensions/probe": PROBE})], Environment=env)
    resp, body, _ = invoke(lam, name)
    assert "FunctionError" not in resp, body
    assert body["wrapped"].startswith("yes:")
    wait_until(lambda: has_line(lbx, name, "[probe] done with"))


def test_data_dir_is_not_reachable_through_the_launcher(
    lbx: LocalLambdabox, lam: Any, tmp_path: Path
) -> None:
    """The extension runs confined like the runtime: same uid, no view of the server's data."""
    health = json.loads(urllib.request.urlopen(f"{lbx.url}/_lambdabox/health", timeout=10).read())
    if health["isolation"] == "rlimits":
        pytest.skip("rlimits isolation: environments see the host's files")
    ext = f'#!/bin/sh\necho "ext uid=$(id -u) data=$(ls {lbx.settings.data_dir} 2>&1 | head -1)"\nexec sleep 3600\n'
    name = create(lam, [layer(lam, {"extensions/peek": ext})])
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(invoke(lam, name)))
    thread.start()
    wait_until(lambda: has_line(lbx, name, "ext uid="))
    lbx.advance(30.0)
    thread.join(60)
    line = next(line for line in log_lines(lbx, name) if "ext uid=" in line)
    assert "uid=0 " not in line
    assert "No such file" in line or "Permission denied" in line


def test_node_runtime_with_an_extension_and_an_exec_wrapper(lbx: LocalLambdabox, lam: Any) -> None:
    code = "exports.handler = async () => ({ wrapped: process.env.WRAPPED || null });\n"
    env = {"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrap.sh"}}
    name = create(
        lam, [layer(lam, {"wrap.sh": WRAPPER, "extensions/probe": PROBE})], files={"index.js": code},
        Environment=env, Runtime="nodejs20.x", Handler="index.handler",
    )  # fmt: skip
    resp, body, _ = invoke(lam, name)
    assert "FunctionError" not in resp, body
    assert body["wrapped"].startswith("yes:") and "node" in body["wrapped"]
    request_id = resp["ResponseMetadata"]["RequestId"]
    wait_until(lambda: has_line(lbx, name, f"[probe] done with {request_id}"))


def test_a_missing_bootstrap_behind_the_launcher_is_an_invalid_entrypoint(
    lbx: LocalLambdabox, lam: Any
) -> None:
    name = create(
        lam, [layer(lam, {"extensions/probe": PROBE})], files={"README": "no bootstrap here"},
        Runtime="provided.al2023",
    )  # fmt: skip
    resp, body, _ = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"
    assert "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]" in body["errorMessage"]


def test_shutdown_when_the_server_stops(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LocalLambdabox(data) as server:
        lam = server.client("lambda")
        name = create(lam, [layer(lam, {"extensions/probe": PROBE})])
        invoke(lam, name)
    with LocalLambdabox(data) as again:  # the log is durable: read what the first server wrote last
        wait_until(lambda: has_line(again, name, "[probe] bye"))
        shutdown = next(line for line in log_lines(again, name) if '"eventType": "SHUTDOWN"' in line)
        assert '"shutdownReason": "spindown"' in shutdown


FDS = """import os, socket

def handler(event, context):
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor
            continue
        if target.startswith("socket:"):
            s = socket.socket(fileno=os.dup(int(fd)))
            target = "socket:" + s.family.name
            s.close()
        found[fd] = target
    return found
"""


def test_the_runtime_holds_neither_the_control_socket_nor_the_extensions_pipe(
    lbx: LocalLambdabox, lam: Any
) -> None:
    name = create(lam, [layer(lam, {"extensions/probe": PROBE})], files={"app.py": FDS})
    resp, fds, _ = invoke(lam, name)
    assert "FunctionError" not in resp, fds
    assert fds["0"] == "/dev/null"
    assert "socket:AF_UNIX" not in fds.values()  # the launcher's control socket
    pipes = [target for target in fds.values() if target.startswith("pipe:")]
    assert len(pipes) == 2 and fds["1"] in pipes and fds["2"] in pipes  # its stdout and stderr only


def test_extensions_with_function_network_none(tmp_path: Path) -> None:
    """In a network namespace of its own the extension reaches the same Runtime API address."""
    with LocalLambdabox(tmp_path / "data", function_network="none") as server:
        lam = server.client("lambda")
        name = create(lam, [layer(lam, {"extensions/probe": PROBE})])
        resp, body, _ = invoke(lam, name)
        assert "FunctionError" not in resp, body
        request_id = resp["ResponseMetadata"]["RequestId"]
        wait_until(lambda: has_line(server, name, f"[probe] done with {request_id}"))
