"""State survives restarts (clean and kill -9); no environment process outlives the server."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

from conftest import MARKER, deploy, host_pids_with_env, make_zip, start_server
from versions_helpers import arn, source

SRC: dict[str, str | bytes] = {"app.py": "def handler(event, context):\n    return {'echo': event}\n"}


def _gone(marker: str, limit: float = 10.0) -> bool:
    """No host process of the function's environments is left (zombies count as gone)."""
    deadline = time.monotonic() + limit
    while host_pids_with_env(MARKER, marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_function_survives_clean_restart_and_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        marker = uuid.uuid4().hex
        variables = {"KEEP": "me", MARKER: marker}
        name = deploy(lam, SRC, Environment={"Variables": variables}, Timeout=17)
        out = json.loads(lam.invoke(FunctionName=name, Payload=b'{"n": 1}')["Payload"].read())
        assert out["echo"] == {"n": 1}
        assert host_pids_with_env(MARKER, marker), "the environment is not running"
        assert srv.stop(signal.SIGTERM) == 0
        assert _gone(marker), "environment outlived a clean shutdown"
    finally:
        srv.stop()

    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        conf = lam.get_function_configuration(FunctionName=name)
        assert conf["Timeout"] == 17 and conf["Environment"]["Variables"] == variables
        # acknowledged, then (below) killed without a chance to clean up; the update retires the
        # function's environments, so the invoke after it starts the one the SIGKILL must not spare
        lam.update_function_configuration(FunctionName=name, Timeout=23)
        out = json.loads(lam.invoke(FunctionName=name, Payload=b'{"n": 2}')["Payload"].read())
        assert out["echo"] == {"n": 2}
        # invocation logs are batched (durable within ~20 ms); once read back they are durable
        logs = srv.client("logs")
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        assert len([e for e in events if e["message"].startswith("START RequestId:")]) == 2
        assert host_pids_with_env(MARKER, marker), "the environment is not running"
        srv.stop(signal.SIGKILL)
        assert _gone(marker), "environment outlived a SIGKILLed server"
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


def test_versions_aliases_and_policies_survive_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        name = deploy(lam, source("v1"), Publish=True)
        lam.update_function_code(FunctionName=name, ZipFile=make_zip(source("v2")), Publish=True)
        lam.update_function_configuration(FunctionName=name, Description="three")
        lam.publish_version(FunctionName=name)
        lam.delete_function(FunctionName=name, Qualifier="3")  # its number is never given again
        lam.create_alias(
            FunctionName=name,
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
        )
        lam.add_permission(
            FunctionName=name,
            StatementId="s",
            Action="lambda:InvokeFunction",
            Principal="*",
            Qualifier="live",
        )
        before = (
            lam.list_versions_by_function(FunctionName=name)["Versions"],
            lam.get_alias(FunctionName=name, Name="live"),
            lam.get_policy(FunctionName=name, Qualifier="live"),
        )
        srv.stop(signal.SIGKILL)
    finally:
        srv.stop()

    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        after = (
            lam.list_versions_by_function(FunctionName=name)["Versions"],
            lam.get_alias(FunctionName=name, Name="live"),
            lam.get_policy(FunctionName=name, Qualifier="live"),
        )
        strip = [{k: v for k, v in x.items() if k != "ResponseMetadata"} for x in (*before[1:], *after[1:])]
        assert before[0] == after[0] and strip[0] == strip[2] and strip[1] == strip[3]
        assert [v["Version"] for v in after[0]] == ["$LATEST", "1", "2"]
        assert after[1]["AliasArn"] == arn(name, "live")
        for qualifier, code in (("1", "v1"), ("2", "v2"), ("$LATEST", "v2")):
            out = json.loads(lam.invoke(FunctionName=name, Qualifier=qualifier)["Payload"].read())
            assert out["code"] == code
        lam.update_function_configuration(FunctionName=name, Description="four")
        assert lam.publish_version(FunctionName=name)["Version"] == "4"
        lam.delete_function(FunctionName=name)
    finally:
        srv.stop()
