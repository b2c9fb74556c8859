"""State survives restarts (clean and kill -9); no environment process outlives the server."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from conftest import deploy, start_server

SRC = {
    "app.py": "import os\n\ndef handler(event, context):\n    return {'pid': os.getpid(), 'echo': event}\n"
}


def _gone(pid: int, limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_function_survives_clean_restart_and_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        name = deploy(lam, SRC, Environment={"Variables": {"KEEP": "me"}}, Timeout=17)
        out = json.loads(lam.invoke(FunctionName=name, Payload=b'{"n": 1}')["Payload"].read())
        env_pid = out["pid"]
        assert srv.stop(signal.SIGTERM) == 0
        assert _gone(env_pid), "environment outlived a clean shutdown"
    finally:
        srv.stop()

    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        conf = lam.get_function_configuration(FunctionName=name)
        assert conf["Timeout"] == 17 and conf["Environment"]["Variables"] == {"KEEP": "me"}
        out = json.loads(lam.invoke(FunctionName=name, Payload=b'{"n": 2}')["Payload"].read())
        assert out["echo"] == {"n": 2}
        env_pid = out["pid"]
        # invocation logs are batched (durable within ~20 ms); once read back they are durable
        logs = srv.client("logs")
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        assert len([e for e in events if e["message"].startswith("START RequestId:")]) == 2
        # acknowledged, then killed without a chance to clean up
        lam.update_function_configuration(FunctionName=name, Timeout=23)
        srv.stop(signal.SIGKILL)
        assert _gone(env_pid), "environment outlived a SIGKILLed server"
    finally:
        srv.stop()

    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 23
        out = json.loads(lam.invoke(FunctionName=name, Payload=b'{"n": 3}')["Payload"].read())
        assert out["echo"] == {"n": 3}
        logs = srv.client("logs")
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        starts = [e for e in events if e["message"].startswith("START RequestId:")]
        assert len(starts) == 3, "log events from before the restarts were lost"
    finally:
        srv.stop()
