"""The deploy engine end to end: a plain CloudFormation template deployed into a real lambdabox
through the AWS API, its APIs answering real HTTP requests; redeploys that change nothing (counted
as write calls on the wire), change code, drop a route; a failing apply rolled back; remove."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from conftest import Server, make_zip
from lambdabox.deploy.apply import ApplyError, NoSuchStack, ProgressLine, apply_plan, remove_stack
from lambdabox.deploy.plan import plan_project
from lambdabox.deploy.project import ARTIFACT_BUCKET, Artifact, Project, ProjectError

APP = (
    "import json, os\n\n"
    "def handler(event, context):\n"
    "    path = event.get('rawPath') or event.get('path')\n"
    "    body = {'v': VERSION, 'greeting': os.environ.get('GREETING'), 'path': path}\n"
    "    return {'statusCode': 200, 'headers': {'content-type': 'application/json'}, 'body': json.dumps(body)}\n"
)


def artifact(version: str) -> Artifact:
    data = make_zip({"app.py": f"VERSION = {version!r}\n" + APP})
    sha = hashlib.sha256(data).hexdigest()
    return Artifact(f"{sha}.zip", data, Path("app"), sha)


def template(code_key: str, *, other_route: bool = True, runtime: str = "python3.11") -> dict[str, Any]:
    execute_api = "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}"
    resources: dict[str, Any] = {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
                "Policies": [
                    {
                        "PolicyName": "logs",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}],
                        },
                    }
                ],
            },
        },
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": runtime,
                "Handler": "app.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"S3Bucket": ARTIFACT_BUCKET, "S3Key": code_key},
                "Environment": {"Variables": {"GREETING": {"Ref": "Greeting"}}},
                "Timeout": 10,
            },
        },
        "FnLogs": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${Fn}"}, "RetentionInDays": 7},
        },
        "HttpApi": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-http"}, "ProtocolType": "HTTP"},
        },
        "Integration": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "HttpApi"},
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {"Fn::GetAtt": "Fn.Arn"},
                "PayloadFormatVersion": "2.0",
            },
        },
        "HelloRoute": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "HttpApi"},
                "RouteKey": "GET /hello",
                "Target": {"Fn::Sub": "integrations/${Integration}"},
            },
        },
        "DefaultStage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": {"Ref": "HttpApi"}, "StageName": "$default", "AutoDeploy": True},
        },
        "HttpPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": "Fn"},
                "Action": "lambda:InvokeFunction",
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": {"Fn::Sub": execute_api + ":${HttpApi}/*"},
            },
        },
        "RestApi": {
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-rest"}},
        },
        "Proxy": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "RestApi"},
                "ParentId": {"Fn::GetAtt": ["RestApi", "RootResourceId"]},
                "PathPart": "{proxy+}",
            },
        },
        "ProxyAny": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "RestApi"},
                "ResourceId": {"Ref": "Proxy"},
                "HttpMethod": "ANY",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "AWS_PROXY",
                    "IntegrationHttpMethod": "POST",
                    "Uri": {
                        "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"
                    },
                },
            },
        },
        "RestDeployment": {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": "ProxyAny",
            "Properties": {"RestApiId": {"Ref": "RestApi"}},
        },
        "ProdStage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "RestApiId": {"Ref": "RestApi"},
                "StageName": "prod",
                "DeploymentId": {"Ref": "RestDeployment"},
            },
        },
        "RestPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]},
                "Action": "lambda:InvokeFunction",
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": {"Fn::Sub": execute_api + ":${RestApi}/*/*/*"},
            },
        },
        "Version": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
        "Live": {
            "Type": "AWS::Lambda::Alias",
            "Properties": {
                "FunctionName": {"Ref": "Fn"},
                "Name": "live",
                "FunctionVersion": {"Fn::GetAtt": ["Version", "Version"]},
            },
        },
    }
    if other_route:
        resources["OtherRoute"] = {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "HttpApi"},
                "RouteKey": "GET /other",
                "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "Integration"}]]},
            },
        }
    return {
        "Parameters": {"Greeting": {"Type": "String", "Default": "hi", "AllowedValues": ["hi", "hello"]}},
        "Resources": resources,
        "Outputs": {
            "HttpUrl": {"Value": {"Fn::GetAtt": ["HttpApi", "ApiEndpoint"]}},
            "FunctionArn": {"Value": {"Fn::GetAtt": ["Fn", "Arn"]}},
            "LiveVersion": {"Value": {"Fn::GetAtt": ["Version", "Version"]}},
        },
    }


def project(stack: str, version: str, **kw: Any) -> Project:
    art = artifact(version)
    return Project(stack, template(art.key, **kw), artifacts={art.key: art})


class WriteCounter:
    """A botocore session whose clients count the operations that are not reads."""

    def __init__(self) -> None:
        self.session = botocore.session.get_session()
        self.writes: list[str] = []
        self.session.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        if not model.name.startswith(("Get", "List", "Describe")):
            self.writes.append(model.name)


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def urls(server: Server, applied: Any) -> tuple[str, str]:
    http_id = applied.physical_ids["HttpApi"]
    rest_id = applied.physical_ids["RestApi"]
    return f"{server.url}/_apis/{http_id}", f"{server.url}/_apis/{rest_id}/prod"


@pytest.fixture
def stack(server: Server) -> Any:
    name = f"eng-{uuid.uuid4().hex[:6]}"
    yield name
    with contextlib.suppress(NoSuchStack):  # (the test removed it itself)
        remove_stack(name, server.url)


def test_deploy_serve_redeploy_update_remove(server: Server, stack: str) -> None:
    lines: list[ProgressLine] = []
    plan = plan_project(project(stack, "one"), server.url)
    assert {r.action for r in plan.records} == {"create"}
    assert "Fn" in plan.table() and "create" in plan.table()
    assert plan.table().splitlines()[-1] == f"{stack}: {len(plan.records)} create"
    assert plan.to_json()["resources"][0] == {
        "action": "create",
        "logical_id": "Role",
        "type": "AWS::IAM::Role",
        "physical_id": None,
        "changes": [],
    }
    applied = apply_plan(plan, project(stack, "one"), server.url, lines.append)
    assert {line.logical_id for line in lines} >= {"Role", "Fn", "HttpApi", "HelloRoute", "Live"}
    assert all(line.status == "done" for line in lines)
    http, rest = urls(server, applied)
    assert get_json(f"{http}/hello") == (200, {"v": "one", "greeting": "hi", "path": "/hello"})
    assert get_json(f"{http}/other")[0] == 200
    assert get_json(f"{rest}/any/path")[1]["v"] == "one"
    assert applied.outputs["FunctionArn"].endswith(":function:" + applied.physical_ids["Fn"])
    assert applied.outputs["LiveVersion"] == "1"
    assert f"{http}/" in [by_path for _, by_path in applied.endpoints]
    lam = server.client("lambda")
    alias = lam.get_alias(FunctionName=applied.physical_ids["Fn"], Name="live")
    assert alias["FunctionVersion"] == "1"
    tags = lam.list_tags(Resource=applied.outputs["FunctionArn"])["Tags"]
    assert tags["aws:cloudformation:stack-name"] == stack and tags["aws:cloudformation:logical-id"] == "Fn"

    # the same project again: all unchanged, and not one write call
    counter = WriteCounter()
    again = plan_project(project(stack, "one"), server.url, session=counter.session)
    assert [r for r in again.records if r.action != "unchanged"] == []
    apply_plan(again, project(stack, "one"), server.url, session=counter.session)
    assert counter.writes == []

    # new code: the function (and the version published of it, the alias moved) changes, nothing else
    changed = plan_project(project(stack, "two"), server.url)
    actions = {r.logical_id: r.action for r in changed.records}
    assert actions["Fn"] == "update" and actions["Version"] == "create" and actions["Live"] == "update"
    assert {r.logical_id for r in changed.records if r.action not in ("unchanged", "delete")} == {
        "Fn",
        "Version",
        "Live",
    }
    assert [r.type for r in changed.records if r.action == "delete"] == ["AWS::Lambda::Version"]
    fn_record = next(r for r in changed.records if r.logical_id == "Fn")
    assert fn_record.changes == ("Code",)
    counter = WriteCounter()
    apply_plan(changed, project(stack, "two"), server.url, session=counter.session)
    assert "UpdateFunctionCode" in counter.writes and "UpdateFunctionConfiguration" not in counter.writes
    assert get_json(f"{http}/hello")[1]["v"] == "two"
    assert lam.get_alias(FunctionName=applied.physical_ids["Fn"], Name="live")["FunctionVersion"] == "2"

    # a route dropped from the template is deleted
    dropped = plan_project(project(stack, "two", other_route=False), server.url)
    assert [(r.action, r.logical_id) for r in dropped.records if r.action != "unchanged"] == [
        ("delete", "Route GET /other")
    ]
    apply_plan(dropped, project(stack, "two", other_route=False), server.url)
    assert get_json(f"{http}/other")[0] == 404
    assert get_json(f"{http}/hello")[0] == 200

    # remove: gone
    removed = remove_stack(stack, server.url)
    assert {line.type for line in removed.lines} >= {"AWS::Lambda::Function", "AWS::IAM::Role"}
    assert all(line.status == "done" for line in removed.lines), [str(x) for x in removed.lines]
    assert get_json(f"{http}/hello")[0] == 404
    assert plan_project(project(stack, "two"), server.url).counts() == {
        "create": len(template("k")["Resources"])
    }


def test_failed_apply_rolls_back_and_previous_code_serves(server: Server, stack: str) -> None:
    first = project(stack, "one")
    applied = apply_plan(plan_project(first, server.url), first, server.url)
    http, _ = urls(server, applied)
    assert get_json(f"{http}/hello")[1]["v"] == "one"
    bad = project(stack, "two", runtime="cobol85")  # new code and a runtime Lambda refuses
    bad.template["Resources"]["Extra"] = {"Type": "AWS::Logs::LogGroup", "Properties": {}}
    bad.template["Resources"]["Fn"]["DependsOn"] = "Extra"
    plan = plan_project(bad, server.url)
    lines: list[ProgressLine] = []
    with pytest.raises(ApplyError) as err:
        apply_plan(plan, bad, server.url, lines.append)
    assert err.value.logical_id == "Fn"
    assert "InvalidParameterValueException" in err.value.message or "ValidationException" in err.value.message
    assert [line.logical_id for line in lines if line.status == "failed"] == ["Fn"]
    assert any(line.action == "rollback" and line.logical_id == "Extra" for line in lines)
    assert get_json(f"{http}/hello")[1]["v"] == "one"
    after = plan_project(first, server.url)
    assert [r.logical_id for r in after.records if r.action != "unchanged"] == []


def test_failed_update_is_restored(server: Server, stack: str) -> None:
    """An update that went through is put back when a later resource fails."""
    first = project(stack, "one")
    applied = apply_plan(plan_project(first, server.url), first, server.url)
    http, _ = urls(server, applied)
    second = project(stack, "two")
    second.template["Resources"]["Broken"] = {
        "Type": "AWS::Lambda::Function",
        "DependsOn": "Live",
        "Properties": {
            "Runtime": "python3.11",
            "Handler": "app.handler",
            "Role": {"Fn::GetAtt": "Role.Arn"},
            "Code": {"S3Bucket": ARTIFACT_BUCKET, "S3Key": "missing.zip"},
        },
    }
    with pytest.raises(ApplyError) as err:
        apply_plan(plan_project(second, server.url), second, server.url)
    assert err.value.logical_id == "Broken" and "artifacts" in err.value.message
    assert get_json(f"{http}/hello")[1]["v"] == "one"
    lam = server.client("lambda")
    assert lam.get_alias(FunctionName=applied.physical_ids["Fn"], Name="live")["FunctionVersion"] == "1"
    after = plan_project(first, server.url)
    assert {r.logical_id: r.changes for r in after.records if r.action != "unchanged"} == {}


def test_an_apply_interrupted_midway_is_rolled_back(server: Server, stack: str) -> None:
    """Ctrl-C, or a closed pipe under the progress lines: what was updated is put back."""
    first = project(stack, "one")
    applied = apply_plan(plan_project(first, server.url), first, server.url)
    http, _ = urls(server, applied)
    second = project(stack, "two")
    for interruption in (BrokenPipeError(32, "Broken pipe"), KeyboardInterrupt()):
        plan = plan_project(second, server.url)

        def progress(line: ProgressLine, exc: BaseException = interruption) -> None:
            if line.status == "done" and line.type == "AWS::Lambda::Function":
                raise exc  # right after the new code went in

        with pytest.raises((ApplyError, KeyboardInterrupt)):
            apply_plan(plan, second, server.url, progress)
        assert get_json(f"{http}/hello")[1]["v"] == "one"
        after = plan_project(first, server.url)
        assert {r.logical_id: r.changes for r in after.records if r.action != "unchanged"} == {}


def test_circular_reference_names_the_cycle(server: Server) -> None:
    proj = Project(
        "cyc",
        {
            "Resources": {
                "A": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Fn::Sub": "${B}-a"}}},
                "B": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Ref": "A"}}},
            }
        },
    )
    with pytest.raises(ProjectError) as err:
        plan_project(proj, server.url)
    assert "circular dependency: A -> B -> A" in str(err.value)


def test_unsupported_types_and_properties_are_warned_of(server: Server, stack: str) -> None:
    t = {
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table"},
            "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"KmsKeyId": "k", "RetentionInDays": 1}},
        }
    }
    plan = plan_project(Project(stack, copy.deepcopy(t)), server.url)
    texts = [str(p) for p in plan.problems]
    assert any("Resources.Table" in p and "AWS::DynamoDB::Table is not supported" in p for p in texts)
    assert any("Resources.Group.Properties.KmsKeyId" in p for p in texts)
    assert [(r.action, r.logical_id) for r in plan.records] == [("create", "Group")]
    apply_plan(plan, Project(stack, t), server.url)
    assert plan_project(Project(stack, t), server.url).counts() == {"unchanged": 1}
