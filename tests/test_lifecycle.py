"""Time-driven lifecycle on a manual clock: timeouts, idle reaping, runtimes that never ask for work."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import GATED_HANDLER, MARKER, Gate, deploy, host_pids_with_env, marked, wait_until
from lambdabox.testing import LocalLambdabox


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True, idle_timeout=600) as server:
        yield server


def client(lbx: LocalLambdabox) -> Any:
    return lbx.client("lambda", read_timeout=120)


def invoke_in_thread(lam: Any, name: str, out: list[Any]) -> threading.Thread:
    def run() -> None:
        resp = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
        out.append((resp, json.loads(resp["Payload"].read())))

    t = threading.Thread(target=run)
    t.start()
    return t


def in_state(lbx: LocalLambdabox, state: str) -> bool:
    async def check() -> bool:
        return lbx.app.invoker.environment_states()[state] > 0

    return lbx.call(check)


def test_timeout_kills_environment(lbx: LocalLambdabox) -> None:
    lam = client(lbx)
    name = deploy(lam, {"app.py": "import time\n\ndef handler(e, c):\n    time.sleep(3600)\n"}, Timeout=3)
    out: list[Any] = []
    t = invoke_in_thread(lam, name, out)
    wait_until(lambda: in_state(lbx, "busy"))
    lbx.advance(3.0)
    t.join(30)
    resp, body = out[0]
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in body["errorMessage"]
    import base64

    tail = base64.b64decode(resp["LogResult"]).decode()
    assert "Task timed out after 3.00 seconds" in tail
    assert "Status: timeout" in tail


def test_idle_environment_is_reaped(lbx: LocalLambdabox) -> None:
    lam = client(lbx)
    marker, environment = marked()
    src = "import uuid\n\nENV = uuid.uuid4().hex\n\ndef handler(e, c):\n    return ENV\n"
    name = deploy(lam, {"app.py": src}, Environment=environment)
    env1 = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    env2 = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert env1 == env2
    lbx.advance(300)
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == env1
    assert host_pids_with_env(MARKER, marker)  # idle, but still running
    lbx.advance(700)
    wait_until(lambda: not host_pids_with_env(MARKER, marker))  # reaped: no process of it is left
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) != env1


def test_runtime_that_never_asks_for_work(lbx: LocalLambdabox) -> None:
    lam = client(lbx)
    bootstrap = "#!/bin/sh\necho 'stuck bootstrap'\nexec sleep 3600\n"
    name = deploy(
        lam, {"bootstrap": bootstrap}, runtime="provided.al2023", handler="x", modes={"bootstrap": 0o755}
    )
    out: list[Any] = []
    t = invoke_in_thread(lam, name, out)
    wait_until(lambda: in_state(lbx, "starting"))
    lbx.advance(10.0)
    t.join(30)
    resp, body = out[0]
    assert resp["FunctionError"] == "Unhandled"
    assert "timed out" in body["errorMessage"].lower()
    # the server keeps serving others
    other = deploy(lam, {"app.py": "def handler(e, c):\n    return 'fine'\n"})
    assert json.loads(lam.invoke(FunctionName=other)["Payload"].read()) == "fine"


def test_bootstrap_that_exits_during_init(lbx: LocalLambdabox) -> None:
    lam = client(lbx)
    name = deploy(
        lam,
        {"bootstrap": "#!/bin/sh\necho dying >&2\nexit 7\n"},
        runtime="provided.al2",
        handler="x",
        modes={"bootstrap": 0o755},
    )
    resp = lam.invoke(FunctionName=name, LogType="Tail")
    body = json.loads(resp["Payload"].read())
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 7" in body["errorMessage"]


def test_account_concurrency_limit_throttles(tmp_path: Path) -> None:
    # over the account's concurrency, Invoke answers 429 TooManyRequestsException (Lambda quotas)
    with LocalLambdabox(tmp_path / "data", concurrency_limit=1) as small:
        lam = client(small)
        gate = Gate()
        name = deploy(lam, {"app.py": GATED_HANDLER}, Timeout=60)
        out: list[Any] = []

        def run() -> None:
            resp = lam.invoke(FunctionName=name, Payload=json.dumps({"gate": gate.port}).encode())
            out.append(json.loads(resp["Payload"].read()))

        t = threading.Thread(target=run)
        t.start()
        gate.arrivals(1)
        with pytest.raises(lam.exceptions.TooManyRequestsException) as exc:
            lam.invoke(FunctionName=name, Payload=b"{}")
        err = exc.value.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert err["Error"]["Message"] == "Rate Exceeded."
        assert err.get("Reason") == "ConcurrentInvocationLimitExceeded"
        gate.close()
        t.join(60)
        assert out == ["released"]
        assert lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1
