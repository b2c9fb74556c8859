"""lambdabox run by a user who is not root: the `userns` isolation (or `rlimits`, said at start).

The server runs as `nobody` on the system's Python (the pyenv under /root is not readable by
other users) with lambdabox's source and the test virtualenv's packages on PYTHONPATH. Skipped
when the tests do not run as root (they cannot become another user) or the machine has no
system Python 3.11.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from conftest import make_zip

SYSTEM_PYTHON = "/usr/bin/python3.11"
NOBODY = 65534
ROLE = "arn:aws:iam::000000000000:role/test"
PROBE = """
import json, os

def handler(event, context):
    def attempt(fn):
        try:
            return fn()
        except OSError as exc:
            return f"{type(exc).__name__}:{exc.errno}"
    return {
        "uid": os.getuid(),
        "pid": os.getpid(),
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "code": sorted(os.listdir("/var/task")),
        "data_dir": attempt(lambda: os.listdir(event["data_dir"])),
        "root_listing": sorted(os.listdir("/")),
        "write_task": attempt(lambda: open("/var/task/x", "w").close()),
    }
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a server as another user"),
    pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason=f"no {SYSTEM_PYTHON} on this machine"),
]


@pytest.fixture(scope="module")
def nonroot_server() -> Iterator[tuple[Any, str, Path, str]]:
    home = Path(f"/tmp/lbx-nonroot-{uuid.uuid4().hex[:8]}")
    home.mkdir(mode=0o700)
    os.chown(home, NOBODY, NOBODY)
    data = home / "data"
    src = Path(__file__).resolve().parent.parent / "src"
    site = next(Path(sys.prefix).glob("lib/python3.*/site-packages"))
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": f"{src}:{site}",
        "LAMBDABOX_RUNTIME_SDK_DIR": str(Path(sys.prefix) / "share/lambdabox/runtime-sdk"),
    }
    log = home / "server.log"
    with open(log, "w") as logf:
        os.chown(log, NOBODY, NOBODY)
        proc = subprocess.Popen(
            [SYSTEM_PYTHON, "-m", "lambdabox", "serve", "--port", "0", "--data-dir", str(data)],
            stdout=subprocess.PIPE, stderr=logf, text=True, env=env, cwd=str(home),
            user=NOBODY, group=NOBODY, extra_groups=[],
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            if m := re.search(r"ready on (http://\S+)", line):
                url = m.group(1)
        assert url is not None, log.read_text()
        lam = boto3.client(
            "lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
            aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}, read_timeout=60),
        )  # fmt: skip
        yield lam, url, data, log.read_text
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(home, ignore_errors=True)


def test_isolation_mode_is_reported_and_warned(nonroot_server: tuple[Any, str, Path, Any]) -> None:
    _lam, url, _data, read_log = nonroot_server
    import urllib.request

    health = json.loads(urllib.request.urlopen(f"{url}/_lambdabox/health", timeout=10).read())
    assert health["isolation"] in ("userns", "rlimits")
    warnings = [line for line in read_log().splitlines() if "isolation '" in line]
    assert len(warnings) == 1 and health["isolation"] in warnings[0]


def test_function_runs_in_a_user_namespace_with_its_own_root(
    nonroot_server: tuple[Any, str, Path, Any],
) -> None:
    lam, url, data, _read_log = nonroot_server
    import urllib.request

    if (
        json.loads(urllib.request.urlopen(f"{url}/_lambdabox/health", timeout=10).read())["isolation"]
        != "userns"
    ):
        pytest.skip("this kernel does not allow unprivileged user namespaces")
    name = f"nonroot-{uuid.uuid4().hex[:8]}"
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": PROBE})},
    )  # fmt: skip
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"data_dir": str(data)}).encode())
    out = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, out
    assert out["uid"] == 993 and out["pid"] == 2  # Lambda's sandbox uid; pid 1 is the init
    assert out["task_root"] == "/var/task" and out["code"] == ["app.py"]
    assert out["data_dir"].startswith("FileNotFoundError")  # the data dir is not in its root
    assert "root" not in out["root_listing"] and "home" not in out["root_listing"]
    assert out["write_task"].startswith(("OSError:30", "PermissionError"))  # EROFS / EACCES


#: an external extension (in a layer): registers for INVOKE, prints each request id it gets
EXTENSION = r"""#!/usr/bin/env python3
import json, os, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(base + "/register", data=b'{"events": ["INVOKE", "SHUTDOWN"]}', method="POST",
                             headers={"Lambda-Extension-Name": "probe"})
ident = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
print("probe uid", os.getuid(), flush=True)
while True:
    next_event = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
    event = json.load(urllib.request.urlopen(next_event))
    print("probe got", event["eventType"], event.get("requestId"), flush=True)
"""


def test_an_external_extension_runs_in_the_user_namespace(nonroot_server: tuple[Any, str, Path, Any]) -> None:
    lam, url, _data, _read_log = nonroot_server
    zipped = make_zip({"extensions/probe": EXTENSION}, {"extensions/probe": 0o755})
    arn = lam.publish_layer_version(LayerName=f"ext-{uuid.uuid4().hex[:8]}", Content={"ZipFile": zipped})
    name = f"nonroot-{uuid.uuid4().hex[:8]}"
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": PROBE})}, Layers=[arn["LayerVersionArn"]],
    )  # fmt: skip
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"data_dir": "/nonexistent"}).encode())
    out = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, out
    request_id = resp["ResponseMetadata"]["RequestId"]
    logs = boto3.client(
        "logs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    group = f"/aws/lambda/{name}"

    def lines() -> list[str]:
        found: list[str] = []
        for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
            got = logs.get_log_events(
                logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True
            )
            found += [e["message"].rstrip("\n") for e in got["events"]]
        return found

    deadline = time.monotonic() + 30
    while f"REPORT RequestId: {request_id}" not in "\n".join(lines()):
        assert time.monotonic() < deadline, lines()
        time.sleep(0.05)
    assert f"probe got INVOKE {request_id}" in lines()
    assert f"probe uid {out['uid']}" in lines()  # the runtime's uid: the same environment
