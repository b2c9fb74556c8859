"""`lambdabox deploy` when things are not as they should be: numbers written as strings, parameters
given once, no server, a second deploy of the stack at the same time, a save that does not parse."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, start_server
from lambdabox.deploy import source_check, stack_lock

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Mem:
    Type: Number
    Default: 128
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: robust-fn
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      MemorySize: !Ref Mem
      Timeout: "7"
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("robust") / "data")
    yield s
    s.stop()


def lambdabox(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "lambdabox", *args, "--json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, [json.loads(line) for line in lines], proc.stderr + proc.stdout  # all JSON


def project(tmp_path: Path) -> Path:
    (tmp_path / "robust" / "src").mkdir(parents=True)
    (tmp_path / "robust" / "src" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    path = tmp_path / "robust" / "template.yaml"
    path.write_text(TEMPLATE)
    return path


def test_numbers_as_strings_and_parameters_kept_for_the_next_deploy(srv: Server, tmp_path: Path) -> None:
    path = project(tmp_path)
    code, _, out = lambdabox("deploy", "-f", str(path), "--endpoint-url", srv.url, "--param", "Mem=512")
    assert code == 0, out
    cfg = srv.client("lambda").get_function_configuration(FunctionName="robust-fn")
    assert (cfg["MemorySize"], cfg["Timeout"]) == (512, 7)  # a Number parameter and a quoted number
    # no --param now: the value given last time, as sam deploy keeps it, not the Default
    code, events, out = lambdabox("deploy", "-f", str(path), "--endpoint-url", srv.url)
    assert code == 0, out
    plan = next(e for e in events if e["event"] == "plan")
    assert {r["action"] for r in plan["resources"]} == {"unchanged"}, plan
    kept = path.parent / ".lambdabox" / "parameters-robust.json"
    assert json.loads(kept.read_text()) == {"Mem": "512"}
    code, _, out = lambdabox("remove", "-f", str(path), "--endpoint-url", srv.url)
    assert code == 0, out
    assert not kept.exists()  # removed with its stack


def test_no_server_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # (closed when the block ends: nobody listens)
    path = project(tmp_path)
    for command in ("deploy", "remove"):
        code, events, out = lambdabox(command, "-f", str(path), "--endpoint-url", url)
        assert code == 1, out
        failed = [e for e in events if e["event"] == "failed"]
        assert (failed and "cannot reach lambdabox" in failed[0]["message"]) or "cannot reach" in out, out
        assert "Traceback" not in out


def test_a_second_deploy_of_a_stack_being_deployed_is_refused(srv: Server, tmp_path: Path) -> None:
    path = project(tmp_path)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    os.environ["XDG_CACHE_HOME"] = env["XDG_CACHE_HOME"]
    try:
        with stack_lock.held(srv.url, "us-east-1", "robust"):
            code, events, out = lambdabox("deploy", "-f", str(path), "--endpoint-url", srv.url, env=env)
    finally:
        del os.environ["XDG_CACHE_HOME"]
    assert code == 1 and "being deployed or removed by another process" in out, out
    assert not [e for e in events if e["event"] == "plan"]  # nothing was even planned


def test_a_saved_file_that_does_not_parse_is_reported_not_deployed(tmp_path: Path) -> None:
    good, bad, js = tmp_path / "good.py", tmp_path / "bad.py", tmp_path / "bad.js"
    good.write_text("def handler(e, c):\n    return 1\n")
    bad.write_text("def handler(e, c):\n    return (\n")
    js.write_text("module.exports.handler = async () => {\n")
    found = source_check.problems({good, bad, js, tmp_path / "gone.py"})
    by_file = {line.split(":", 1)[0]: line for line in found}
    assert by_file[str(bad)] == f"{bad}:2: '(' was never closed", found
    if shutil.which("node"):
        assert by_file[str(js)].startswith(f"{js}:2: SyntaxError"), found
    assert source_check.problems({good}) == []


def test_samconfig_toml_names_the_stack_and_its_parameters(srv: Server, tmp_path: Path) -> None:
    path = project(tmp_path)
    path.with_name("samconfig.toml").write_text(
        'version = 0.1\n[default.deploy.parameters]\nstack_name = "from-config"\nparameter_overrides = "Mem=256"\n'
    )
    code, events, out = lambdabox("deploy", "-f", str(path), "--endpoint-url", srv.url)
    assert code == 0, out
    assert next(e for e in events if e["event"] == "plan")["stack"] == "from-config"
    lam = srv.client("lambda")
    assert lam.get_function_configuration(FunctionName="robust-fn")["MemorySize"] == 256
    code, _, out = lambdabox("deploy", "-f", str(path), "--endpoint-url", srv.url, "--param", "Mem=1024")
    assert code == 0, out  # the command line wins
    assert lam.get_function_configuration(FunctionName="robust-fn")["MemorySize"] == 1024
    code, _, out = lambdabox("remove", "-f", str(path), "--endpoint-url", srv.url)
    assert code == 0 and "from-config" in out, out
