"""Provisioned concurrency deployed as the frameworks declare it: a serverless.yml function's
`provisionedConcurrency` (the Framework's `<Fn>ProvConcLambdaAlias` alias `provisioned` of the
function's version) and a SAM function's ProvisionedConcurrencyConfig with AutoPublishAlias
(through AWS's translator), deployed into a real lambdabox: the alias's configuration is put,
becomes READY, its invocations show no Init Duration, a redeploy changes nothing, and a template
that drops it deletes the configuration."""

from __future__ import annotations

import base64
import copy
import uuid
from pathlib import Path
from typing import Any

from conftest import Server, wait_until
from lambdabox.deploy.apply import apply_plan, remove_stack
from lambdabox.deploy.plan import plan_project
from lambdabox.deploy.project import Project
from lambdabox.deploy.serverless import compile_serverless
from sam_helpers import compile_, write

APP = "import os\n\ndef main(event, context):\n    return os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\n"


def _serverless(root: Path, service: str, provisioned: int | None) -> Project:
    (root / "handler.py").write_text(APP)
    extra = f"    provisionedConcurrency: {provisioned}\n" if provisioned else ""
    (root / "serverless.yml").write_text(
        f"service: {service}\nprovider:\n  name: aws\n  runtime: python3.12\n"
        f"functions:\n  hello:\n    handler: handler.main\n{extra}"
    )
    return compile_serverless(root / "serverless.yml", options={}, env={})


def _ready(lam: Any, fn: str, qualifier: str) -> dict[str, Any]:
    def status() -> str:
        return str(lam.get_provisioned_concurrency_config(FunctionName=fn, Qualifier=qualifier)["Status"])

    wait_until(lambda: status() != "IN_PROGRESS", limit=60)
    return dict(lam.get_provisioned_concurrency_config(FunctionName=fn, Qualifier=qualifier))


def _invoke(lam: Any, fn: str) -> tuple[str, str]:
    out = lam.invoke(FunctionName=fn, Payload=b"{}", LogType="Tail")
    report = base64.b64decode(out["LogResult"]).decode().splitlines()[-1]
    return out["Payload"].read().decode(), report


def test_serverless_provisioned_concurrency_compiles_as_the_framework_does(tmp_path: Path) -> None:
    project = _serverless(tmp_path, "svc", 2)
    alias = project.template["Resources"]["HelloProvConcLambdaAlias"]
    assert alias["Type"] == "AWS::Lambda::Alias" and alias["DependsOn"] == "HelloLambdaFunction"
    props = alias["Properties"]
    assert props["Name"] == "provisioned"
    assert props["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    version = props["FunctionVersion"]["Fn::GetAtt"][0]
    assert project.template["Resources"][version]["Type"] == "AWS::Lambda::Version"
    assert not project.problems, project.problems


def test_a_serverless_function_s_provisioned_alias_is_deployed_ready_and_removed(
    server: Server, tmp_path: Path
) -> None:
    service = f"pc{uuid.uuid4().hex[:6]}"
    project = _serverless(tmp_path, service, 1)
    lam = server.client("lambda")
    try:
        applied = apply_plan(plan_project(copy.deepcopy(project), server.url), project, server.url)
        fn = str(applied.physical_ids["HelloLambdaFunction"])
        got = _ready(lam, fn, "provisioned")
        assert (got["Status"], got["RequestedProvisionedConcurrentExecutions"]) == ("READY", 1)
        payload, report = _invoke(lam, f"{fn}:provisioned")
        assert payload == '"provisioned-concurrency"' and "Init Duration" not in report, report
        again = _serverless(tmp_path, service, 1)
        assert plan_project(copy.deepcopy(again), server.url).counts() == {
            "unchanged": len(again.template["Resources"])
        }
        dropped = _serverless(tmp_path, service, None)
        apply_plan(plan_project(copy.deepcopy(dropped), server.url), dropped, server.url)
        assert (
            lam.list_provisioned_concurrency_configs(FunctionName=fn)["ProvisionedConcurrencyConfigs"] == []
        )
    finally:
        remove_stack(project.stack_name, server.url)


SAM = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.main
      CodeUri: src/
      AutoPublishAlias: live
      ProvisionedConcurrencyConfig:
        ProvisionedConcurrentExecutions: 1
"""


def test_a_sam_function_s_provisioned_concurrency_is_put_on_its_alias(server: Server, tmp_path: Path) -> None:
    stack = f"samp-{uuid.uuid4().hex[:6]}"
    project = compile_(write(tmp_path / "sam", SAM, code={"src/app.py": APP}), stack_name=stack)
    lam = server.client("lambda")
    try:
        applied = apply_plan(plan_project(copy.deepcopy(project), server.url), project, server.url)
        fn = str(applied.physical_ids["Fn"])
        assert _ready(lam, fn, "live")["Status"] == "READY"
        payload, report = _invoke(lam, f"{fn}:live")
        assert payload == '"provisioned-concurrency"' and "Init Duration" not in report, report
        assert plan_project(copy.deepcopy(project), server.url).counts() == {
            "unchanged": len(project.template["Resources"])
        }
    finally:
        remove_stack(stack, server.url)
