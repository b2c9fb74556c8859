"""The command line: `lambdabox --help`, the AWS CLI against the server, `lambdabox logs`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import ROLE, Server, deploy, make_zip, start_server, unique, wait_until
from lambdabox import demo
from lambdabox.target import Target

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


@pytest.mark.parametrize(
    ("flags", "env", "endpoint", "region"),
    [
        ({}, {}, "http://127.0.0.1:4566", "us-east-1"),
        (
            {},
            {"LAMBDABOX_PORT": "5000", "LAMBDABOX_REGION": "eu-west-1"},
            "http://127.0.0.1:5000",
            "eu-west-1",
        ),
        ({}, {"AWS_ENDPOINT_URL": "http://aws:1", "LAMBDABOX_PORT": "5000"}, "http://aws:1", "us-east-1"),
        (
            {},
            {"AWS_ENDPOINT_URL": "http://aws:1", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://logs:2"},
            "http://logs:2",
            "us-east-1",
        ),
        (
            {},
            {"AWS_DEFAULT_REGION": "eu-west-2", "AWS_REGION": "eu-west-3", "LAMBDABOX_REGION": "x"},
            "http://127.0.0.1:4566",
            "eu-west-3",
        ),
        (
            {"endpoint_url": "http://flag:3", "region": "ap-south-1"},
            {"AWS_ENDPOINT_URL": "http://aws:1", "AWS_REGION": "eu-west-3"},
            "http://flag:3",
            "ap-south-1",
        ),
    ],
)
def test_commands_find_their_server_as_aws_tools_do(
    flags: dict[str, str], env: dict[str, str], endpoint: str, region: str
) -> None:
    target = Target.resolve("CloudWatch Logs", env=env, **flags)
    assert (target.endpoint_url, target.region) == (endpoint, region)
    assert (target.access_key_id, target.secret_access_key) == ("test", "test")
    signed = Target.resolve("CloudWatch Logs", env={"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "s"})
    assert (signed.access_key_id, signed.secret_access_key, signed.session_token) == ("AK", "s", None)


def test_lambdabox_logs_honours_aws_endpoint_url(server: Server, lam: Any) -> None:
    name = deploy(lam, {"app.py": "def handler(e, c):\n    print('marker-aws-endpoint-url')\n"})
    lam.invoke(FunctionName=name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDABOX_"))}
    cmd = [sys.executable, "-m", "lambdabox", "logs", name]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env={**env, "AWS_ENDPOINT_URL": server.url}
    )
    assert out.returncode == 0, out.stderr
    assert "marker-aws-endpoint-url" in out.stdout
    # the flag wins over the variable
    nowhere = {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=nowhere)
    assert out.returncode == 1 and "127.0.0.1:9" in out.stderr
    out = subprocess.run(
        [*cmd, "--endpoint-url", server.url], capture_output=True, text=True, timeout=60, env=nowhere
    )
    assert out.returncode == 0 and "marker-aws-endpoint-url" in out.stdout


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
    srv = start_server(tmp_path / "data", "--demo")
    try:
        lam = srv.client("lambda")
        out = json.loads(lam.invoke(FunctionName="hello", Payload=b'{"name": "tester"}')["Payload"].read())
        assert out == {"message": "Hello, tester!", "warm_invocations": 1}
    finally:
        assert srv.stop() == 0


def test_demo_works_with_check_roles_and_verified_signatures(tmp_path: Path) -> None:
    """--demo creates its role in IAM (trusting Lambda) and its banner names the keys to use."""
    srv = start_server(
        tmp_path / "data", "--demo", "--check-roles", "--verify-signatures", "--root-keys", "AKIDMINE:s3cret"
    )
    try:
        lam = srv.client("lambda", key="AKIDMINE", secret="s3cret")
        out = json.loads(lam.invoke(FunctionName="hello", Payload=b"{}")["Payload"].read())
        assert out["message"] == "Hello, world!"
        role = srv.client("iam", key="AKIDMINE", secret="s3cret").get_role(RoleName="lambdabox-demo")["Role"]
        assert "lambda.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])
        assert srv.proc.stdout is not None
        banner = ""
        while "Press Ctrl-C to stop." not in banner:
            line = srv.proc.stdout.readline()
            assert line, "the server stopped before printing its banner"
            banner += line
        assert "signatures are verified" in banner and "<your root key id>" in banner
        assert "s3cret" not in banner
    finally:
        assert srv.stop() == 0


def test_demo_banner_lines_work_pasted_into_a_shell(tmp_path: Path) -> None:
    """What `make run` prints, run by bash exactly as printed, from another directory, without the
    virtualenv on PATH or boto3 in the system Python."""
    srv = start_server(tmp_path / "data", "--demo")
    try:
        assert srv.proc.stdout is not None
        banner: list[str] = []
        while not banner or "Press Ctrl-C to stop." not in banner[-1]:
            line = srv.proc.stdout.readline()
            assert line, "the server stopped before printing its banner"
            banner.append(line)
        script = "".join(line[2:] for line in banner if line.startswith("  "))
        assert "IndentationError" not in script and script.count("\n") >= 4
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        shell = subprocess.Popen(
            ["bash", "-s"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, cwd=tmp_path, env=env, start_new_session=True,
        )  # fmt: skip
        assert shell.stdin is not None and shell.stdout is not None
        shell.stdin.write(script)
        shell.stdin.close()
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.extend(iter(shell.stdout.readline, "")), daemon=True)
        reader.start()
        try:
            # the last line follows the function's log: it prints the invocations above it, then waits
            wait_until(lambda: sum("hello from hello" in line for line in out) >= 2, limit=90)
        finally:
            os.killpg(shell.pid, signal.SIGTERM)
            shell.wait(30)
        text = "".join(out)
        assert '{"message": "Hello, you!", "warm_invocations": 1}' in text  # the AWS CLI
        assert 'b\'{"message": "Hello, world!", "warm_invocations": 2}\'' in text  # boto3
        assert '"status": "running"' in text  # curl
        assert "Error" not in text and "not found" not in text, text
    finally:
        assert srv.stop() == 0


def test_demo_banner_names_the_lambdabox_that_runs() -> None:
    assert demo.tools("/opt/lbx/.venv/bin/lambdabox")[0] == "/opt/lbx/.venv/bin/lambdabox"
    assert demo.tools(".venv/bin/lambdabox")[0] == os.path.abspath(".venv/bin/lambdabox")
    assert demo.tools("/x/lambdabox/__main__.py")[0] == f"{sys.executable} -m lambdabox"
