"""AWS's official runtime interface clients run unmodified as `provided` runtime bootstraps."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

RIC_NODE = Path(__file__).parent / "tools" / "node_modules" / "aws-lambda-ric" / "index.mjs"

PY_APP = """
import os

def handler(event, context):
    print("official python client here")
    return {"event": event, "fn": context.function_name, "remaining": context.get_remaining_time_in_millis() > 0,
            "request_id": context.aws_request_id, "pid": os.getpid()}

def fails(event, context):
    raise KeyError("missing thing")
"""

NODE_APP = """
exports.handler = async (event, context) => {
  console.log("official node client here");
  return { event, fn: context.functionName, pid: process.pid };
};
exports.fails = async () => { throw new TypeError("bad type"); };
"""


def bootstrap(cmd: str) -> str:
    return f'#!/bin/sh\ncd "$LAMBDA_TASK_ROOT"\nexec {cmd}\n'


def call(lam: Any, name: str, payload: Any) -> tuple[dict[str, Any], Any]:
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail")
    return resp, json.loads(resp["Payload"].read())


@pytest.mark.slow
def test_awslambdaric_python(lam: Any, create_fn: Any) -> None:
    pytest.importorskip("awslambdaric")
    files = {"app.py": PY_APP, "bootstrap": bootstrap(f'{sys.executable} -m awslambdaric "$_HANDLER"')}
    name = create_fn(files, runtime="provided.al2023", handler="app.handler", modes={"bootstrap": 0o755})
    resp, out = call(lam, name, {"k": "v"})
    assert "FunctionError" not in resp, out
    assert out["event"] == {"k": "v"} and out["fn"] == name and out["remaining"] is True
    _, again = call(lam, name, {})
    assert again["pid"] == out["pid"]
    bad = create_fn(files, runtime="provided.al2023", handler="app.fails", modes={"bootstrap": 0o755})
    resp, out = call(lam, bad, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "KeyError"
    missing = create_fn(
        files, runtime="provided.al2023", handler="nomodule.handler", modes={"bootstrap": 0o755}
    )
    resp, out = call(lam, missing, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ImportModuleError"


@pytest.mark.slow
@pytest.mark.skipif(
    not RIC_NODE.exists() or shutil.which("node") is None, reason="aws-lambda-ric not installed (make tools)"
)
def test_aws_lambda_ric_node(lam: Any, create_fn: Any) -> None:
    node = shutil.which("node")
    files = {"index.js": NODE_APP, "bootstrap": bootstrap(f"{node} {RIC_NODE}")}
    name = create_fn(files, runtime="provided.al2023", handler="index.handler", modes={"bootstrap": 0o755})
    resp, out = call(lam, name, {"n": 1})
    assert "FunctionError" not in resp, out
    assert out["event"] == {"n": 1} and out["fn"] == name
    _, again = call(lam, name, {})
    assert again["pid"] == out["pid"]
    bad = create_fn(files, runtime="provided.al2023", handler="index.fails", modes={"bootstrap": 0o755})
    resp, out = call(lam, bad, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "TypeError" and out["errorMessage"] == "bad type"
    missing = create_fn(files, runtime="provided.al2023", handler="index.nope", modes={"bootstrap": 0o755})
    resp, out = call(lam, missing, {})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.HandlerNotFound"
