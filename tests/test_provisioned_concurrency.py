"""Provisioned concurrency as AWS runs it: configurations on published versions and aliases (with
AWS's refusals and errors), environments initialised ahead of traffic (IN_PROGRESS, then READY; an
init that fails: FAILED), invocations served by them first (no Init Duration,
AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency) and spilling over to on-demand ones, a
provisioned environment that dies replaced, the account's concurrency arithmetic, deletion, and
configurations surviving a restart."""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import deploy, wait_until
from lambdabox.testing import LocalLambdabox
from test_metrics import statistic

#: reports how its environment was initialised, and which environment it is; {"gate": port} waits
#: at a Gate first, {"exit": true} makes its process exit
HANDLER = {
    "app.py": (
        "import os, socket, uuid\n"
        "ENV = uuid.uuid4().hex\n"
        "print('initialised', ENV)\n\n"
        "def handler(event, context):\n"
        "    if event.get('exit'):\n"
        "        os._exit(3)\n"
        "    if 'gate' in event:\n"
        "        s = socket.create_connection(('127.0.0.1', event['gate']), timeout=60)\n"
        "        s.makefile().readline()\n"
        "    return {'type': os.environ['AWS_LAMBDA_INITIALIZATION_TYPE'], 'env': ENV}\n"
    )
}
BROKEN = {"app.py": "raise RuntimeError('cannot start')\n\ndef handler(event, context):\n    return 1\n"}


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def error_of(exc: Any) -> tuple[int, str, str]:
    r = exc.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def status(lam: Any, name: str, qualifier: str) -> dict[str, Any]:
    got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
    got.pop("ResponseMetadata")
    return got


def ready(lam: Any, name: str, qualifier: str) -> dict[str, Any]:
    wait_until(lambda: status(lam, name, qualifier)["Status"] != "IN_PROGRESS", limit=60)
    return status(lam, name, qualifier)


def invoke(lam: Any, name: str, event: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """The function's answer and the REPORT line of its invocation."""
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), LogType="Tail")
    tail = base64.b64decode(out["LogResult"]).decode()
    report = next(line for line in tail.splitlines() if line.startswith("REPORT"))
    return json.loads(out["Payload"].read()), report


def environments(lbx: LocalLambdabox) -> int:
    with urllib.request.urlopen(f"{lbx.url}/_lambdabox/health", timeout=30) as r:
        states = json.loads(r.read())["environments"]
    return sum(n for state, n in states.items() if state != "stopped")


def test_latest_and_aliases_of_it_and_weighted_aliases_are_refused(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, HANDLER, Publish=True)
    lam.publish_version(FunctionName=name)  # unchanged: still version 1
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"VERSION": "2"}})
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="latest", FunctionVersion="$LATEST")
    lam.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    for qualifier in ("$LATEST", "latest"):
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
            lam.put_provisioned_concurrency_config(
                FunctionName=name, Qualifier=qualifier, ProvisionedConcurrentExecutions=1
            )
        assert error_of(exc.value) == (
            400,
            "InvalidParameterValueException",
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        )
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="canary", ProvisionedConcurrentExecutions=1
        )
    assert error_of(exc.value)[2] == "Alias with weights can not be used with Provisioned Concurrency"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="9", ProvisionedConcurrentExecutions=1
        )
    with pytest.raises(lam.exceptions.ProvisionedConcurrencyConfigNotFoundException) as nf:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert error_of(nf.value) == (
        404,
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
    )
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []
    # an alias and the version it names cannot both have one
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    with pytest.raises(lam.exceptions.ResourceConflictException) as conflict:
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="2", ProvisionedConcurrentExecutions=1
        )
    assert error_of(conflict.value) == (
        409, "ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias"
    )  # fmt: skip
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    lam.create_alias(FunctionName=name, Name="old", FunctionVersion="1")
    with pytest.raises(lam.exceptions.ResourceConflictException) as conflict:
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="old", ProvisionedConcurrentExecutions=1
        )
    assert error_of(conflict.value)[2] == (
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
    )


def test_a_version_s_environments_are_initialised_ahead_and_serve_its_invocations(
    lbx: LocalLambdabox,
) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, HANDLER, Publish=True)
    put = lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (put["Status"], put["RequestedProvisionedConcurrentExecutions"]) == ("IN_PROGRESS", 2)
    assert put["LastModified"].endswith("+0000")
    got = ready(lam, name, "1")
    assert got == {
        "RequestedProvisionedConcurrentExecutions": 2,
        "AvailableProvisionedConcurrentExecutions": 2,
        "AllocatedProvisionedConcurrentExecutions": 2,
        "Status": "READY",
        "LastModified": put["LastModified"],
    }
    # initialised before any invocation: INIT_START in two log streams already
    logs = lbx.client("logs")
    group = f"/aws/lambda/{name}"
    events = logs.filter_log_events(logGroupName=group)["events"]
    assert sum(e["message"].startswith("INIT_START") for e in events) == 2
    assert len({e["logStreamName"] for e in events}) == 2

    answers = [invoke(lam, f"{name}:1") for _ in range(3)]
    assert {a["type"] for a, _ in answers} == {"provisioned-concurrency"}
    assert all("Init Duration" not in report for _, report in answers)
    # $LATEST has none: it starts on demand
    latest, report = invoke(lam, name)
    assert latest["type"] == "on-demand" and "Init Duration" in report
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [(c["FunctionArn"], c["Status"]) for c in listed] == [
        (f"{lam.get_function(FunctionName=name)['Configuration']['FunctionArn']}:1", "READY")
    ]


def test_invocations_beyond_the_provisioned_spill_over_to_on_demand(lbx: LocalLambdabox) -> None:
    from conftest import Gate

    lam = lbx.client("lambda", max_pool_connections=8)
    name = deploy(lam, HANDLER, Publish=True, Timeout=60)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    assert ready(lam, name, "live")["Status"] == "READY"
    gate = Gate()
    held: list[Any] = []
    first = threading.Thread(target=lambda: held.append(invoke(lam, f"{name}:live", {"gate": gate.port})))
    first.start()
    gate.arrivals(1)
    spilled, report = invoke(lam, f"{name}:live")  # the provisioned one is busy
    assert spilled["type"] == "on-demand" and "Init Duration" in report
    gate.close()
    first.join(60)
    assert held[0][0]["type"] == "provisioned-concurrency" and "Init Duration" not in held[0][1]
    # the version itself does not run on its alias's provisioned environment
    direct, _ = invoke(lam, f"{name}:1")
    assert direct["type"] == "on-demand"
    # CloudWatch counts each kind under the alias (and the function): 1 provisioned, 1 spilled over
    alias = {"FunctionName": name, "Resource": f"{name}:live"}
    assert statistic(lbx, "ProvisionedConcurrencyInvocations", alias) == 1
    assert statistic(lbx, "ProvisionedConcurrencySpilloverInvocations", alias) == 1
    assert statistic(lbx, "ProvisionedConcurrencyInvocations", {"FunctionName": name}) == 1
    assert (
        statistic(lbx, "ProvisionedConcurrencyInvocations", {"FunctionName": name, "Resource": f"{name}:1"})
        == 0
    )


def test_a_provisioned_environment_that_dies_is_initialised_again(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, HANDLER, Publish=True)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    ready(lam, name, "1")
    before, _ = invoke(lam, f"{name}:1")
    out = lam.invoke(FunctionName=f"{name}:1", Payload=b'{"exit": true}')
    assert out["FunctionError"] == "Unhandled"

    def replaced() -> bool:  # after a pause on the clock (it died soon after its task's last round)
        lbx.advance(1)
        return bool(status(lam, name, "1")["AvailableProvisionedConcurrentExecutions"] == 1)

    wait_until(replaced)
    after, report = invoke(lam, f"{name}:1")
    assert after["type"] == "provisioned-concurrency" and "Init Duration" not in report
    assert after["env"] != before["env"]
    assert status(lam, name, "1")["Status"] == "READY"


def test_an_init_that_fails_is_failed_with_aws_s_reason(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, BROKEN, Publish=True)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    got = ready(lam, name, "1")
    assert (got["Status"], got["StatusReason"], got["AllocatedProvisionedConcurrentExecutions"]) == (
        "FAILED",
        "FUNCTION_ERROR_INIT_FAILURE",
        0,
    )


def test_provisioned_concurrency_is_counted_against_the_account_and_the_reservation(
    lbx: LocalLambdabox,
) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, HANDLER, Publish=True)
    other = deploy(lam, HANDLER, Publish=True)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=901
        )
    assert error_of(exc.value) == (
        400,
        "InvalidParameterValueException",
        "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
        "below its minimum value of [100].",
    )
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2
    )
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 998
    # a reservation of the other function may not take what is provisioned
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_concurrency(FunctionName=other, ReservedConcurrentExecutions=899)
    lam.put_function_concurrency(FunctionName=other, ReservedConcurrentExecutions=3)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as over:
        lam.put_provisioned_concurrency_config(
            FunctionName=other, Qualifier="1", ProvisionedConcurrentExecutions=4
        )
    assert error_of(over.value)[2] == (
        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"
    )
    lam.put_provisioned_concurrency_config(
        FunctionName=other, Qualifier="1", ProvisionedConcurrentExecutions=3
    )
    # within its reservation: the unreserved pool is unchanged
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 995
    assert lam.get_function_concurrency(FunctionName=other)["ReservedConcurrentExecutions"] == 3
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 997


def test_deleting_the_config_the_alias_or_the_function_stops_the_environments(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, HANDLER, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    ready(lam, name, "live")
    assert environments(lbx) == 2
    resp = lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    wait_until(lambda: environments(lbx) == 0)
    with pytest.raises(lam.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")

    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    ready(lam, name, "live")
    lam.delete_alias(FunctionName=name, Name="live")
    wait_until(lambda: environments(lbx) == 0)
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []

    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    ready(lam, name, "1")
    lam.delete_function(FunctionName=name)
    wait_until(lambda: environments(lbx) == 0)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000


def test_configurations_survive_a_restart_and_their_environments_are_initialised_again(
    tmp_path: Path,
) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as first:
        lam = first.client("lambda")
        name = deploy(lam, HANDLER, Publish=True)
        put = lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
        )
        ready(lam, name, "1")
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as second:
        lam = second.client("lambda")
        got = ready(lam, name, "1")
        assert (got["Status"], got["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 1)
        assert got["LastModified"] == put["LastModified"]
        assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 999
        answer, report = invoke(lam, f"{name}:1")
        assert answer["type"] == "provisioned-concurrency" and "Init Duration" not in report


def test_an_alias_moved_to_another_version_moves_its_environments(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, HANDLER, Publish=True)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"VERSION": "2"}})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    ready(lam, name, "live")
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    wait_until(lambda: status(lam, name, "live")["Status"] == "READY" and environments(lbx) == 1)
    out = lam.invoke(FunctionName=f"{name}:live", LogType="Tail")
    assert out["ExecutedVersion"] == "2"
    assert json.loads(out["Payload"].read())["type"] == "provisioned-concurrency"
    assert "Init Duration" not in base64.b64decode(out["LogResult"]).decode()


def test_the_json_log_format_s_init_start_says_provisioned_concurrency(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, HANDLER, Publish=True, LoggingConfig={"LogFormat": "JSON"})
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    ready(lam, name, "1")
    events = lbx.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    starts = [json.loads(e["message"]) for e in events if '"platform.initStart"' in e["message"]]
    assert [s["record"]["initializationType"] for s in starts] == ["provisioned-concurrency"]
    assert starts[0]["record"]["functionVersion"] == "1"
