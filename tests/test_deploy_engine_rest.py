"""The deploy engine's REST API authorizers, API keys and usage plans, on plain CloudFormation
templates deployed into a real lambdabox: found again unchanged, updated in place (an authorizer's
TTL, a plan's limits, a key's description) or replaced (a key's value) as CloudFormation does; the
plan's warnings and errors for what lambdabox cannot deploy as asked (Layers, Cognito
authorizers), with their lines; and the readable names of what a plan deletes."""

from __future__ import annotations

import contextlib
import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Server
from lambdabox.deploy.apply import NoSuchStack, apply_plan, remove_stack
from lambdabox.deploy.plan import check_template, plan_project
from lambdabox.deploy.project import ARTIFACT_BUCKET, Project, ProjectError
from test_deploy_engine_apply import artifact, template

URI = "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"


def rest_template(code_key: str) -> dict[str, Any]:
    """The engine test's function and REST API, the method behind a TOKEN authorizer, and an API
    key in a usage plan of the stage."""
    t = template(code_key)
    keep = {"Role", "Fn", "RestApi", "Proxy", "ProxyAny", "RestDeployment", "ProdStage", "RestPermission"}
    t["Resources"] = {k: v for k, v in t["Resources"].items() if k in keep}
    t["Outputs"] = {}
    r = t["Resources"]
    r["Auth"] = {
        "Type": "AWS::ApiGateway::Authorizer",
        "Properties": {
            "Name": "tokens",
            "RestApiId": {"Ref": "RestApi"},
            "Type": "TOKEN",
            "AuthorizerUri": {"Fn::Sub": URI},
            "IdentitySource": "method.request.header.Authorization",
            "AuthorizerResultTtlInSeconds": 300,
        },
    }
    r["ProxyAny"]["Properties"] |= {"AuthorizationType": "CUSTOM", "AuthorizerId": {"Ref": "Auth"}}
    r["Plan"] = {
        "Type": "AWS::ApiGateway::UsagePlan",
        "DependsOn": "ProdStage",
        "Properties": {
            "UsagePlanName": {"Fn::Sub": "${AWS::StackName}-plan"},
            "ApiStages": [{"ApiId": {"Ref": "RestApi"}, "Stage": "prod"}],
            "Throttle": {"BurstLimit": 10, "RateLimit": 5},
        },
    }
    r["Key"] = {
        "Type": "AWS::ApiGateway::ApiKey",
        "Properties": {"Enabled": True, "Description": "one", "Value": "a-key-value-of-twenty-chars"},
    }
    r["PlanKey"] = {
        "Type": "AWS::ApiGateway::UsagePlanKey",
        "Properties": {"KeyId": {"Ref": "Key"}, "KeyType": "API_KEY", "UsagePlanId": {"Ref": "Plan"}},
    }
    t["Outputs"] = {"AuthorizerId": {"Value": {"Fn::GetAtt": ["Auth", "AuthorizerId"]}}}
    return t


@pytest.fixture
def stack(server: Server) -> Iterator[str]:
    name = f"rest-{uuid.uuid4().hex[:6]}"
    yield name
    with contextlib.suppress(NoSuchStack):
        remove_stack(name, server.url)


def changed(server: Server, proj: Project) -> dict[str, tuple[str, tuple[str, ...]]]:
    plan = plan_project(proj, server.url)
    return {r.logical_id: (r.action, r.changes) for r in plan.records if r.action != "unchanged"}


def test_authorizer_key_and_plan_are_found_again_and_updated_in_place(server: Server, stack: str) -> None:
    art = artifact("one")
    t = rest_template(art.key)
    proj = Project(stack, copy.deepcopy(t), artifacts={art.key: art})
    applied = apply_plan(plan_project(proj, server.url), proj, server.url)
    gw = server.client("apigateway")
    api = applied.physical_ids["RestApi"]
    auth = gw.get_authorizer(restApiId=api, authorizerId=applied.outputs["AuthorizerId"])
    assert (auth["name"], auth["type"], auth["authorizerResultTtlInSeconds"]) == ("tokens", "TOKEN", 300)
    [(name, value)] = applied.api_keys.items()  # (named as CloudFormation names a key without Name)
    assert name.startswith(f"{stack}-Key-") and value == "a-key-value-of-twenty-chars"
    plan_id = applied.physical_ids["Plan"]
    assert [k["id"] for k in gw.get_usage_plan_keys(usagePlanId=plan_id)["items"]] == [
        applied.physical_ids["Key"]
    ]
    assert changed(server, proj) == {}

    # an authorizer's TTL, a plan's limits, a key's description: in place; the deployment is new
    t2 = copy.deepcopy(t)
    r = t2["Resources"]
    r["Auth"]["Properties"]["AuthorizerResultTtlInSeconds"] = 0
    r["Plan"]["Properties"]["Throttle"] = {"BurstLimit": 20, "RateLimit": 5}
    r["Plan"]["Properties"]["Quota"] = {"Limit": 1000, "Period": "DAY"}
    r["Plan"]["Properties"]["ApiStages"][0]["Throttle"] = {"/{proxy+}/ANY": {"RateLimit": 2, "BurstLimit": 4}}
    r["Key"]["Properties"]["Description"] = "two"
    proj2 = Project(stack, copy.deepcopy(t2), artifacts={art.key: art})
    assert changed(server, proj2) == {
        "Auth": ("update", ("AuthorizerResultTtlInSeconds",)),
        "Plan": ("update", ("ApiStages", "Quota", "Throttle")),
        "Key": ("update", ("Description",)),
        "RestDeployment": ("replace", ("(its API's methods or authorizers)",)),
        "ProdStage": ("update", ("DeploymentId",)),
    }
    apply_plan(plan_project(proj2, server.url), proj2, server.url)
    assert gw.get_authorizer(restApiId=api, authorizerId=auth["id"])["authorizerResultTtlInSeconds"] == 0
    plan = gw.get_usage_plan(usagePlanId=plan_id)
    assert plan["throttle"] == {"burstLimit": 20, "rateLimit": 5.0}
    assert plan["quota"] == {"limit": 1000, "offset": 0, "period": "DAY"}
    assert plan["apiStages"] == [
        {"apiId": api, "stage": "prod", "throttle": {"/{proxy+}/ANY": {"burstLimit": 4, "rateLimit": 2.0}}}
    ]
    assert gw.get_api_key(apiKey=applied.physical_ids["Key"])["description"] == "two"
    assert changed(server, proj2) == {}

    # a key's value: a new key (in the plan instead of the old one)
    r["Key"]["Properties"]["Value"] = "another-value-of-twenty-chars"
    proj3 = Project(stack, copy.deepcopy(t2), artifacts={art.key: art})
    assert changed(server, proj3)["Key"] == ("replace", ("Value",))
    applied3 = apply_plan(plan_project(proj3, server.url), proj3, server.url)
    assert list(applied3.api_keys.values()) == ["another-value-of-twenty-chars"]
    values = [
        k["value"] for k in gw.get_api_keys(includeValues=True)["items"] if k.get("description") == "two"
    ]
    assert values == ["another-value-of-twenty-chars"]
    keys = gw.get_usage_plan_keys(usagePlanId=plan_id)["items"]
    assert [k["value"] for k in keys] == ["another-value-of-twenty-chars"]
    assert changed(server, proj3) == {}

    removed = remove_stack(stack, server.url)
    assert all(line.status == "done" for line in removed.lines), [str(x) for x in removed.lines]
    assert not [p for p in gw.get_usage_plans()["items"] if p["id"] == plan_id]


def test_deleted_children_are_named_as_a_person_knows_them(server: Server, stack: str) -> None:
    art = artifact("one")
    t = template(art.key)
    proj = Project(stack, copy.deepcopy(t), artifacts={art.key: art})
    applied = apply_plan(plan_project(proj, server.url), proj, server.url)
    fn = applied.physical_ids["Fn"]
    gone = {"Integration", "HelloRoute", "OtherRoute", "Version", "Live", "HttpPermission", "ProxyAny"}
    t["Resources"] = {k: v for k, v in t["Resources"].items() if k not in gone}
    t["Resources"]["RestDeployment"].pop("DependsOn")
    t["Outputs"] = {}
    plan = plan_project(Project(stack, t, artifacts={art.key: art}), server.url)
    assert sorted(r.logical_id for r in plan.records if r.action == "delete") == sorted(
        [
            "Alias live of " + fn,
            "Integration → " + fn,
            "Method ANY /{proxy+}",
            "Permission HttpPermission of " + fn,
            "Route GET /hello",
            "Route GET /other",
            "Version 1 of " + fn,
        ]
    )


def test_layers_are_passed_on_and_cognito_authorizers_refused_with_their_lines() -> None:
    fn = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.11",
            "Handler": "app.handler",
            "Role": "arn:aws:iam::000000000000:role/r",
            "Code": {"S3Bucket": ARTIFACT_BUCKET, "S3Key": "k.zip"},
            "Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:mylayer:3"],
        },
    }
    proj = Project("s", {"Resources": {"Fn": fn}}, source=None, lines={"Fn": 7})
    _, warnings = check_template(proj, "000000000000", "us-east-1")
    assert [str(w) for w in warnings] == []  # Lambda answers for the layer versions themselves
    api = {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "a"}}
    cognito = {
        "Type": "AWS::ApiGateway::Authorizer",
        "Properties": {
            "Name": "pool",
            "RestApiId": {"Ref": "Api"},
            "Type": "COGNITO_USER_POOLS",
            "ProviderARNs": ["arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_x"],
            "IdentitySource": "method.request.header.Authorization",
        },
    }
    proj = Project("s", {"Resources": {"Api": api, "Pool": cognito}}, lines={"Pool": 12})
    with pytest.raises(ProjectError) as err:
        check_template(proj, "000000000000", "us-east-1")
    assert str(err.value).startswith(
        "template:12: Resources.Pool.Properties.Type: error: COGNITO_USER_POOLS authorizers are not supported"
    ), err.value
