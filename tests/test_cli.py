"""The command line: `lambdabox --help`, the AWS CLI against the server, `lambdabox logs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ROLE, Server, deploy, make_zip, unique

BIN = Path(sys.executable).parent


def test_help_documents_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lambdabox", "--help"], capture_output=True, text=True, check=True
    )
    assert "serve" in out.stdout and "logs" in out.stdout
    serve = subprocess.run(
        [sys.executable, "-m", "lambdabox", "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in ("--host", "--port", "--data-dir", "LAMBDABOX_"):
        assert flag in serve


def test_health(server: Server) -> None:
    import urllib.request

    with urllib.request.urlopen(server.url + "/_lambdabox/health") as resp:
        body = json.loads(resp.read())
    assert body["status"] == "running"
    assert {"lambda", "logs"} <= set(body["services"])
    assert body["version"]
    assert isinstance(body["environments"], dict) and body["inflight"] == 0
    assert body["sandbox"] in ("cgroup1", "cgroup2", "rlimit")


def aws(server: Server, *args: str) -> Any:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    out = subprocess.run(
        [str(BIN / "aws"), "--endpoint-url", server.url, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return out


@pytest.mark.slow
def test_aws_cli_create_invoke_and_errors(server: Server, tmp_path: Path) -> None:
    zpath = tmp_path / "fn.zip"
    zpath.write_bytes(make_zip({"app.py": "def handler(e, c):\n    return {'cli': e}\n"}))
    name = unique("cli")
    out = aws(
        server, "lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
        "--role", ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{zpath}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["FunctionName"] == name
    result = tmp_path / "out.json"
    out = aws(
        server, "lambda", "invoke", "--function-name", name,
        "--payload", '{"x": 1}', str(result),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["StatusCode"] == 200
    assert json.loads(result.read_text()) == {"cli": {"x": 1}}
    out = aws(server, "lambda", "get-function", "--function-name", "nope-" + name)
    assert out.returncode != 0
    assert "ResourceNotFoundException" in out.stderr
    assert "Function not found" in out.stderr
    out = aws(server, "logs", "describe-log-streams", "--log-group-name", f"/aws/lambda/{name}")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["logStreams"]) == 1


def test_lambdabox_logs_prints_function_output(server: Server, lam: Any) -> None:
    name = deploy(lam, {"app.py": "def handler(e, c):\n    print('marker-7f3a in the log')\n"})
    lam.invoke(FunctionName=name)
    out = subprocess.run(
        [sys.executable, "-m", "lambdabox", "logs", name, "--endpoint-url", server.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "marker-7f3a in the log" in out.stdout
    assert "REPORT RequestId:" in out.stdout


def test_lambdabox_logs_follow_prints_new_events(server: Server, lam: Any) -> None:
    name = deploy(lam, {"app.py": "def handler(e, c):\n    print('follow-marker', e['n'])\n"})
    lam.invoke(FunctionName=name, Payload=b'{"n": 1}')
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdabox", "logs", name, "--follow", "--endpoint-url", server.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        while not any("follow-marker 1" in line for line in seen):
            seen.append(proc.stdout.readline())
        lam.invoke(FunctionName=name, Payload=b'{"n": 2}')  # printed while following
        while not any("follow-marker 2" in line for line in seen):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            seen.append(line)
        assert sum("follow-marker 1" in line for line in seen) == 1  # nothing printed twice
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_demo_deploys_a_working_function(tmp_path: Path) -> None:
    from conftest import start_server

    srv = start_server(tmp_path / "data", "--demo")
    try:
        lam = srv.client("lambda")
        out = json.loads(lam.invoke(FunctionName="hello", Payload=b'{"name": "tester"}')["Payload"].read())
        assert out == {"message": "Hello, tester!", "warm_invocations": 1}
    finally:
        assert srv.stop() == 0
