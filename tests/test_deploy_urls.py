"""Function URLs deployed as the frameworks declare them: a serverless.yml function's `url`
(the Framework's `<Fn>LambdaFunctionUrl`, its two public permissions for AuthType NONE, CORS
defaults, the `provisioned` alias when provisionedConcurrency is set) and a SAM function's
FunctionUrlConfig (through AWS's translator), compiled, and deployed into a real lambdabox where
the URL answers over plain HTTP, a redeploy changes nothing, a changed CORS updates it in place
and a template that drops the URL deletes it."""

from __future__ import annotations

import copy
import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import Server
from lambdabox.deploy.apply import apply_plan, remove_stack
from lambdabox.deploy.plan import plan_project
from lambdabox.deploy.project import Project, ProjectError
from lambdabox.deploy.serverless import compile_serverless
from sam_helpers import compile_, resources, write

APP = "import json\n\ndef main(event, context):\n    return {'path': event['rawPath']}\n"


def _serverless(root: Path, service: str, url: str | None, extra: str = "") -> Project:
    (root / "handler.py").write_text(APP)
    url_text = f"    url: {url}\n" if url is not None else ""
    (root / "serverless.yml").write_text(
        f"service: {service}\nprovider:\n  name: aws\n  runtime: python3.12\n"
        f"functions:\n  hello:\n    handler: handler.main\n{url_text}{extra}"
    )
    return compile_serverless(root / "serverless.yml", options={}, env={})


def test_url_true_compiles_to_the_framework_s_url_and_its_public_permissions(tmp_path: Path) -> None:
    project = _serverless(tmp_path, "svc", "true")
    res = project.template["Resources"]
    url = res["HelloLambdaFunctionUrl"]
    assert url["Type"] == "AWS::Lambda::Url"
    assert url["Properties"] == {
        "AuthType": "NONE",
        "TargetFunctionArn": {"Fn::GetAtt": ["HelloLambdaFunction", "Arn"]},
    }
    perm = res["HelloLambdaFnUrlPermission"]["Properties"]
    assert (perm["Action"], perm["Principal"], perm["FunctionUrlAuthType"]) == (
        "lambda:InvokeFunctionUrl",
        "*",
        "NONE",
    )
    invoke = res["HelloLambdaFnUrlInvokeFunctionPermission"]["Properties"]
    assert (invoke["Action"], invoke["InvokedViaFunctionUrl"]) == ("lambda:InvokeFunction", True)
    assert project.template["Outputs"]["HelloLambdaFunctionUrl"]["Value"] == {
        "Fn::GetAtt": ["HelloLambdaFunctionUrl", "FunctionUrl"]
    }
    assert not project.problems, project.problems


def test_url_with_aws_iam_cors_and_provisioned_alias(tmp_path: Path) -> None:
    url = "{authorizer: aws_iam, cors: {allowedOrigins: ['https://a.example'], maxAge: 60, allowedHeaders: null}, invokeMode: RESPONSE_STREAM}"
    project = _serverless(tmp_path, "svc", url, "    provisionedConcurrency: 1\n")
    res = project.template["Resources"]
    props = res["HelloLambdaFunctionUrl"]["Properties"]
    assert props["AuthType"] == "AWS_IAM" and props["Qualifier"] == "provisioned"
    assert props["InvokeMode"] == "RESPONSE_STREAM"
    assert props["Cors"] == {"AllowOrigins": ["https://a.example"], "AllowMethods": ["*"], "MaxAge": 60}
    assert res["HelloLambdaFunctionUrl"]["DependsOn"] == "HelloProvConcLambdaAlias"
    assert "HelloLambdaFnUrlPermission" not in res  # AWS_IAM: no public permission
    assert not project.problems, project.problems


def test_url_cors_true_is_the_framework_s_default(tmp_path: Path) -> None:
    project = _serverless(tmp_path, "svc", "{cors: true}")
    cors = project.template["Resources"]["HelloLambdaFunctionUrl"]["Properties"]["Cors"]
    assert cors["AllowOrigins"] == ["*"] and cors["AllowMethods"] == ["*"]
    assert "X-Amz-Security-Token" in cors["AllowHeaders"]


def test_a_bad_url_authorizer_is_an_error_naming_file_line_and_key(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"serverless.yml:8: functions.hello.url.authorizer: .*aws_iam"):
        _serverless(tmp_path, "svc", "{authorizer: cognito}")


def _get(url: str, origin: str | None = None) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(url, headers={"Origin": origin} if origin else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"null")


def _statement_ids(lam: Any, fn: str) -> set[str]:
    try:
        return {st["Sid"] for st in json.loads(lam.get_policy(FunctionName=fn)["Policy"])["Statement"]}
    except lam.exceptions.ResourceNotFoundException:
        return set()


def _path_form(server: Server, function_url: str, rest: str) -> str:
    url_id = function_url.split("//", 1)[1].split(".", 1)[0]
    return f"{server.url}/_urls/{url_id}/{rest}"


def test_a_serverless_url_is_deployed_served_updated_and_removed(server: Server, tmp_path: Path) -> None:
    service = f"url{uuid.uuid4().hex[:6]}"
    project = _serverless(tmp_path, service, "true")
    lam = server.client("lambda")
    try:
        applied = apply_plan(plan_project(copy.deepcopy(project), server.url), project, server.url)
        fn = str(applied.physical_ids["HelloLambdaFunction"])
        cfg = lam.get_function_url_config(FunctionName=fn)
        assert cfg["AuthType"] == "NONE" and applied.outputs["HelloLambdaFunctionUrl"] == cfg["FunctionUrl"]
        assert _statement_ids(lam, fn) == {
            "HelloLambdaFnUrlPermission",
            "HelloLambdaFnUrlInvokeFunctionPermission",
        }
        status, _, body = _get(_path_form(server, cfg["FunctionUrl"], "hi/there"))
        assert (status, body) == (200, {"path": "/hi/there"})
        again = _serverless(tmp_path, service, "true")
        assert plan_project(copy.deepcopy(again), server.url).counts() == {
            "unchanged": len(again.template["Resources"])
        }
        cors = _serverless(tmp_path, service, "{cors: {allowedOrigins: ['https://a.example']}}")
        counts = plan_project(copy.deepcopy(cors), server.url).counts()
        assert counts.get("update") == 1, counts
        apply_plan(plan_project(copy.deepcopy(cors), server.url), cors, server.url)
        after = lam.get_function_url_config(FunctionName=fn)
        assert after["FunctionUrl"] == cfg["FunctionUrl"]  # updated in place: the same url-id
        assert after["Cors"]["AllowOrigins"] == ["https://a.example"]
        dropped = _serverless(tmp_path, service, None)
        apply_plan(plan_project(copy.deepcopy(dropped), server.url), dropped, server.url)
        assert lam.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"] == []
        assert _statement_ids(lam, fn) == set()  # the URL's public permissions went with it
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
      FunctionUrlConfig:
        AuthType: NONE
        Cors:
          AllowOrigins: ['https://b.example']
"""


def test_a_sam_function_url_config_is_deployed_and_answers(server: Server, tmp_path: Path) -> None:
    stack = f"samu-{uuid.uuid4().hex[:6]}"
    project = compile_(write(tmp_path / "sam", SAM, code={"src/app.py": APP}), stack_name=stack)
    assert list(resources(project, "AWS::Lambda::Url")) == ["FnUrl"]
    lam = server.client("lambda")
    try:
        applied = apply_plan(plan_project(copy.deepcopy(project), server.url), project, server.url)
        fn = str(applied.physical_ids["Fn"])
        cfg = lam.get_function_url_config(FunctionName=fn)
        status, headers, body = _get(_path_form(server, cfg["FunctionUrl"], "x"), origin="https://b.example")
        assert (status, body) == (200, {"path": "/x"})
        assert headers.get("Access-Control-Allow-Origin") == "https://b.example"
        assert plan_project(copy.deepcopy(project), server.url).counts() == {
            "unchanged": len(project.template["Resources"])
        }
    finally:
        remove_stack(stack, server.url)
