"""AWS's official runtime interface clients run unmodified as `provided` runtime bootstraps.

As on Lambda, the function packages its runtime interface client: it is installed into the
function's code (``pip install --target``; the Node.js one and its dependencies copied from
tests/tools/node_modules, built by ``make tools``) and runs from /var/task, since nothing of the
test's virtualenv or tools is visible inside an environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

NODE_MODULES = Path(__file__).parent / "tools" / "node_modules"
RIC_NODE = NODE_MODULES / "aws-lambda-ric" / "index.mjs"

PY_APP = """
import os

def handler(event, context):
    print("official python client here")
    return {"event": event, "fn": context.function_name, "remaining": context.get_remaining_time_in_millis() > 0,
            "request_id": context.aws_request_id, "env": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}

def fails(event, context):
    raise KeyError("missing thing")
"""

NODE_APP = """
exports.handler = async (event, context) => {
  console.log("official node client here");
  return { event, fn: context.functionName, env: process.env.AWS_LAMBDA_LOG_STREAM_NAME };
};
exports.fails = async () => { throw new TypeError("bad type"); };
"""


def bootstrap(cmd: str) -> str:
    return f'#!/bin/sh\ncd "$LAMBDA_TASK_ROOT"\nexec {cmd}\n'


def tree(top: Path, under: str = "") -> dict[str, str | bytes]:
    """Every file below `top` as zip entries (named `under` + its relative path)."""
    out: dict[str, str | bytes] = {}
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                out[under + path.relative_to(top).as_posix()] = path.read_bytes()
    return out


def file_modes(files: dict[str, str | bytes], top: Path, under: str = "") -> dict[str, int]:
    """The executable bits of `tree`'s files (a native addon or a script keeps them)."""
    modes = {}
    for name in files:
        if name.startswith(under) and os.access(top / name[len(under) :], os.X_OK):
            modes[name] = 0o755
    return modes


@pytest.fixture(scope="session")
def awslambdaric_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """awslambdaric and its dependencies, installed for a function's code (as its README says)."""
    target = tmp_path_factory.mktemp("awslambdaric")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-input", "--no-compile",
         "--disable-pip-version-check", "--target", str(target), "awslambdaric"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"awslambdaric could not be installed: {done.stderr[-500:]}")
    return target


def node_ric_modules() -> list[str]:
    """aws-lambda-ric and everything it depends on, from tests/tools' lockfile."""
    lock = json.loads((NODE_MODULES.parent / "package-lock.json").read_text())["packages"]
    todo, found = ["aws-lambda-ric"], set()
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        todo += lock.get(f"node_modules/{name}", {}).get("dependencies", {})
    return sorted(n for n in found if (NODE_MODULES / n).is_dir())


def node_ric_function(app: str) -> tuple[dict[str, str | bytes], dict[str, int]]:
    """A function's files (and their modes): `app` as index.js, run by aws-lambda-ric as bootstrap."""
    files: dict[str, str | bytes] = {}
    for module in node_ric_modules():
        files.update(tree(NODE_MODULES / module, f"node_modules/{module}/"))
    entry = RIC_NODE.relative_to(NODE_MODULES).as_posix()
    files |= {"index.js": app, "bootstrap": bootstrap(f'node "$LAMBDA_TASK_ROOT/node_modules/{entry}"')}
    return files, {**file_modes(files, NODE_MODULES, "node_modules/"), "bootstrap": 0o755}


def call(lam: Any, name: str, payload: Any) -> tuple[dict[str, Any], Any]:
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail")
    return resp, json.loads(resp["Payload"].read())


@pytest.mark.slow
def test_awslambdaric_python(lam: Any, create_fn: Any, awslambdaric_dir: Path) -> None:
    files = {
        **tree(awslambdaric_dir),
        "app.py": PY_APP,
        "bootstrap": bootstrap('env PYTHONPATH="$LAMBDA_TASK_ROOT" python3 -m awslambdaric "$_HANDLER"'),
    }
    modes = {**file_modes(files, awslambdaric_dir), "bootstrap": 0o755}
    name = create_fn(files, runtime="provided.al2023", handler="app.handler", modes=modes)
    resp, out = call(lam, name, {"k": "v"})
    assert "FunctionError" not in resp, out
    assert out["event"] == {"k": "v"} and out["fn"] == name and out["remaining"] is True
    _, again = call(lam, name, {})
    assert again["env"] == out["env"]  # the same (warm) environment
    bad = create_fn(files, runtime="provided.al2023", handler="app.fails", modes=modes)
    resp, out = call(lam, bad, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "KeyError"
    missing = create_fn(files, runtime="provided.al2023", handler="nomodule.handler", modes=modes)
    resp, out = call(lam, missing, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ImportModuleError"


@pytest.mark.slow
@pytest.mark.skipif(
    not RIC_NODE.exists() or shutil.which("node") is None, reason="aws-lambda-ric not installed (make tools)"
)
def test_aws_lambda_ric_node(lam: Any, create_fn: Any) -> None:
    files, modes = node_ric_function(NODE_APP)
    name = create_fn(files, runtime="provided.al2023", handler="index.handler", modes=modes)
    resp, out = call(lam, name, {"n": 1})
    assert "FunctionError" not in resp, out
    assert out["event"] == {"n": 1} and out["fn"] == name
    _, again = call(lam, name, {})
    assert again["env"] == out["env"]  # the same (warm) environment
    bad = create_fn(files, runtime="provided.al2023", handler="index.fails", modes=modes)
    resp, out = call(lam, bad, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "TypeError" and out["errorMessage"] == "bad type"
    missing = create_fn(files, runtime="provided.al2023", handler="index.nope", modes=modes)
    resp, out = call(lam, missing, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.HandlerNotFound"


NODE_STREAMING = """
exports.handler = awslambda.streamifyResponse(async (event, stream) => {
  stream = awslambda.HttpResponseStream.from(stream, { statusCode: 202, headers: { "X-Official": "yes" } });
  stream.write("from the official client;");
  if (event.fail) throw new Error("official failure");
  stream.end("done");
});
"""


@pytest.mark.slow
@pytest.mark.skipif(
    not RIC_NODE.exists() or shutil.which("node") is None, reason="aws-lambda-ric not installed (make tools)"
)
def test_aws_lambda_ric_node_streams(lam: Any, create_fn: Any) -> None:
    """The official Node.js client's streamifyResponse through the Runtime API's streaming mode."""
    files, modes = node_ric_function(NODE_STREAMING)
    name = create_fn(files, runtime="provided.al2023", handler="index.handler", modes=modes)
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}")
    assert resp["ResponseStreamContentType"] == "application/vnd.awslambda.http-integration-response"
    got = [e for e in resp["EventStream"]]
    body = b"".join(e["PayloadChunk"]["Payload"] for e in got if "PayloadChunk" in e)
    prelude, _, rest = body.partition(b"\0" * 8)
    assert json.loads(prelude)["statusCode"] == 202 and rest == b"from the official client;done"
    assert got[-1] == {"InvokeComplete": {}}
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"fail": true}')
    complete = [e for e in resp["EventStream"]][-1]["InvokeComplete"]
    assert (complete["ErrorCode"], complete["ErrorDetails"]) == ("Error", "official failure")
