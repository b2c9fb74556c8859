"""Provisioned concurrency at its edges, as an outside-in review found them (each was a strict
expected failure until its finding was fixed), with AWS's documented behaviour as the yardstick:

- an environment that dies right after a successful init is replaced after a growing pause on the
  clock, not at once (no respawn loop);
- UpdateAlias refuses to move an alias with a configuration onto a version that has its own (an
  alias and the version it names never both have one) or onto $LATEST (provisioned concurrency
  cannot be applied to unpublished versions);
- PutFunctionConcurrency below the provisioned concurrency the function holds is refused
  (provisioned concurrency never exceeds the function's reserved concurrency);
- a deploy whose alias ProvisionedConcurrencyConfig is refused leaves no alias behind and rolls
  back cleanly;
- LastModified is in whole seconds, as AWS's examples give it."""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server, deploy, wait_until
from lambdabox.deploy.apply import ApplyError, apply_plan, remove_stack
from lambdabox.deploy.plan import plan_project
from lambdabox.deploy.project import Project
from lambdabox.deploy.serverless import compile_serverless
from lambdabox.testing import LocalLambdabox

HANDLER = {"app.py": "def handler(event, context):\n    return 1\n"}
#: initialises fine (the runtime reaches /next), then its process exits at once
DIES_AFTER_INIT = {
    "app.py": (
        "import os, threading, time\n\n"
        "def _die():\n"
        "    time.sleep(0.05)\n"
        "    os._exit(1)\n\n"
        "threading.Thread(target=_die, daemon=True).start()\n\n"
        "def handler(event, context):\n"
        "    return 1\n"
    )
}


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def status(lam: Any, name: str, qualifier: str) -> dict[str, Any]:
    got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
    got.pop("ResponseMetadata")
    return dict(got)


def ready(lam: Any, name: str, qualifier: str) -> dict[str, Any]:
    wait_until(lambda: status(lam, name, qualifier)["Status"] != "IN_PROGRESS", limit=60)
    return status(lam, name, qualifier)


def reached(cond: Callable[[], bool], limit: float) -> bool:
    """Whether `cond` holds within `limit` seconds (bounded polling, as wait_until)."""
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def init_starts(lbx: LocalLambdabox, name: str) -> int:
    logs = lbx.client("logs")
    count, kw = 0, {}
    while True:
        try:
            page = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", **kw)
        except logs.exceptions.ResourceNotFoundException:  # not written to yet
            return 0
        count += sum(e["message"].startswith("INIT_START") for e in page["events"])
        if "nextToken" not in page:
            return count
        kw = {"nextToken": page["nextToken"]}


def test_an_environment_that_keeps_dying_after_init_is_not_respawned_in_a_tight_loop(
    lbx: LocalLambdabox,
) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, DIES_AFTER_INIT, Publish=True)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    wait_until(lambda: init_starts(lbx, name) >= 1)  # initialised (and dies at once)
    # without the clock moving, it is not initialised over and over
    assert not reached(lambda: init_starts(lbx, name) >= 4, limit=6)


def _alias_with_config(lam: Any) -> str:
    name = deploy(lam, HANDLER, Publish=True)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"VERSION": "2"}})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    return name


def test_an_alias_with_a_config_cannot_be_moved_onto_a_version_with_its_own(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = _alias_with_config(lam)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="2", ProvisionedConcurrentExecutions=1
    )
    with pytest.raises(ClientError) as exc:
        lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 409)
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"


def test_an_alias_with_a_config_cannot_be_pointed_at_latest(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = _alias_with_config(lam)
    ready(lam, name, "live")
    with pytest.raises(ClientError) as exc:
        lam.update_alias(FunctionName=name, Name="live", FunctionVersion="$LATEST")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 409)
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    assert status(lam, name, "live")["AllocatedProvisionedConcurrentExecutions"] == 1


def test_a_reservation_below_the_provisioned_concurrency_is_refused(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, HANDLER, Publish=True)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=3
    )
    for lower in (2, 0):
        with pytest.raises(lam.exceptions.InvalidParameterValueException):
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=lower)
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 995


def _serverless(root: Path, service: str, provisioned: int | None) -> Project:
    (root / "handler.py").write_text("def main(event, context):\n    return 1\n")
    extra = f"    provisionedConcurrency: {provisioned}\n" if provisioned else ""
    (root / "serverless.yml").write_text(
        f"service: {service}\nprovider:\n  name: aws\n  runtime: python3.12\n"
        f"functions:\n  hello:\n    handler: handler.main\n{extra}"
    )
    return compile_serverless(root / "serverless.yml", options={}, env={})


def test_a_refused_provisioned_concurrency_deploy_rolls_back_cleanly(server: Server, tmp_path: Path) -> None:
    service = f"pcr{uuid.uuid4().hex[:6]}"
    lam = server.client("lambda")
    project = _serverless(tmp_path, service, None)
    try:
        applied = apply_plan(plan_project(copy.deepcopy(project), server.url), project, server.url)
        fn = str(applied.physical_ids["HelloLambdaFunction"])
        too_many = _serverless(tmp_path, service, 5000)  # over the account's 1000
        with pytest.raises(ApplyError) as exc:
            apply_plan(plan_project(copy.deepcopy(too_many), server.url), too_many, server.url)
        assert "InvalidParameterValueException" in exc.value.message
        assert [a["Name"] for a in lam.list_aliases(FunctionName=fn)["Aliases"]] == []
        assert exc.value.restored, [(x.action, x.logical_id, x.status, x.message) for x in exc.value.lines]
    finally:
        remove_stack(project.stack_name, server.url)


def test_last_modified_is_in_whole_seconds_as_aws_gives_it(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, HANDLER, Publish=True)
    put = lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    stamps = [put["LastModified"], status(lam, name, "1")["LastModified"], listed[0]["LastModified"]]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", s) for s in stamps), stamps
