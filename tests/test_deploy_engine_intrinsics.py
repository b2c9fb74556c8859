"""CloudFormation's template language as the deploy engine evaluates it (pure: no server)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from lambdabox.deploy.intrinsics import UNKNOWN, Template
from lambdabox.deploy.project import ProjectError

DEPLOYED = {
    "Fn": ("my-fn", {"Arn": "arn:aws:lambda:eu-west-1:123456789012:function:my-fn"}),
    "Api": ("a1b2", {}),
}


def lookup(lid: str, attr: str | None) -> Any:
    if lid not in DEPLOYED:
        return UNKNOWN
    physical, attrs = DEPLOYED[lid]
    return physical if attr is None else attrs[attr]


def make(
    resources: dict[str, Any] | None = None, given: dict[str, str] | None = None, **sections: Any
) -> Template:
    body = {"Resources": resources or {"Fn": {"Type": "AWS::Lambda::Function"}}, **sections}
    return Template(body, given or {}, stack_name="shop", region="eu-west-1", account_id="123456789012")


def value(expr: Any, **kw: Any) -> Any:
    resources = {
        "Fn": {"Type": "AWS::Lambda::Function"},
        "Api": {"Type": "AWS::ApiGatewayV2::Api"},
        "New": {"Type": "AWS::Logs::LogGroup"},
        "Probe": {"Type": "AWS::Logs::LogGroup", "Properties": {"V": expr}},
    }
    return make(resources, **kw).properties("Probe", lookup).get("V", "<no value>")


def messages(exc: pytest.ExceptionInfo[ProjectError]) -> list[str]:
    return [f"{p.where.key}: {p.message}" for p in exc.value.problems]


def test_pseudo_parameters() -> None:
    assert value({"Ref": "AWS::Region"}) == "eu-west-1"
    assert value({"Ref": "AWS::AccountId"}) == "123456789012"
    assert value({"Ref": "AWS::StackName"}) == "shop"
    assert value({"Ref": "AWS::Partition"}) == "aws"
    assert value({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    assert value({"Ref": "AWS::NoValue"}) == "<no value>"
    assert value([1, {"Ref": "AWS::NoValue"}, 2]) == [1, 2]


def test_refs_and_getatt_of_resources() -> None:
    assert value({"Ref": "Fn"}) == "my-fn"
    assert value({"Fn::GetAtt": ["Fn", "Arn"]}).endswith(":function:my-fn")
    assert value({"Fn::GetAtt": "Fn.Arn"}).endswith(":function:my-fn")
    assert value({"Ref": "New"}) is UNKNOWN
    assert value({"Fn::Join": ["-", [{"Ref": "New"}, "x"]]}) is UNKNOWN
    assert value({"Fn::Sub": "${New}/x"}) is UNKNOWN


def test_sub_both_forms_and_literals() -> None:
    assert value({"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${Api}/*"}) == (
        "arn:aws:execute-api:eu-west-1:a1b2/*"
    )
    assert value({"Fn::Sub": "${Fn.Arn}:live"}).endswith("my-fn:live")
    assert value({"Fn::Sub": ["${Name}-${AWS::StackName}", {"Name": {"Ref": "Fn"}}]}) == "my-fn-shop"
    assert value({"Fn::Sub": "${!Literal} and ${ Fn }"}) == "${Literal} and my-fn"


def test_join_select_split_base64_getazs_findinmap() -> None:
    assert value({"Fn::Join": [",", ["a", "b", {"Ref": "Fn"}]]}) == "a,b,my-fn"
    assert value({"Fn::Select": ["1", {"Fn::Split": ["/", "a/b/c"]}]}) == "b"
    assert value({"Fn::Base64": "hi"}) == base64.b64encode(b"hi").decode()
    assert value({"Fn::GetAZs": ""}) == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert value({"Fn::Select": [0, {"Fn::GetAZs": {"Ref": "AWS::Region"}}]}) == "eu-west-1a"
    mappings = {"Sizes": {"prod": {"Memory": 1024}}}
    assert value({"Fn::FindInMap": ["Sizes", "prod", "Memory"]}, Mappings=mappings) == 1024
    with pytest.raises(ProjectError, match="out of range"):
        value({"Fn::Select": [5, ["a"]]})


def test_parameters_defaults_allowed_values_and_types() -> None:
    params = {
        "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
        "Memory": {"Type": "Number", "Default": 128, "MinValue": 128, "MaxValue": 10240},
        "Zones": {"Type": "CommaDelimitedList", "Default": "a, b"},
    }
    assert value({"Ref": "Stage"}, Parameters=params) == "dev"
    assert value({"Ref": "Stage"}, Parameters=params, given={"Stage": "prod"}) == "prod"
    assert value({"Ref": "Memory"}, Parameters=params) == "128"
    assert value({"Ref": "Zones"}, Parameters=params) == ["a", "b"]
    with pytest.raises(ProjectError) as exc:
        make(Parameters=params, given={"Stage": "qa", "Memory": "lots", "Nope": "x"})
    texts = messages(exc)
    assert any(t.startswith("Parameters.Stage:") and "AllowedValues" in t for t in texts)
    assert any(t.startswith("Parameters.Memory:") and "not a Number" in t for t in texts)
    assert any(t.startswith("Parameters.Nope:") for t in texts)
    with pytest.raises(ProjectError, match=r"Parameters\.Needed: error: no value given"):
        make(Parameters={"Needed": {"Type": "String"}})
    with pytest.raises(ProjectError, match="is not a parameter type"):
        make(Parameters={"Odd": {"Type": "Strng", "Default": "x"}})


def test_conditions_if_and_resource_conditions() -> None:
    params = {"Stage": {"Type": "String", "Default": "prod"}}
    conditions = {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
        "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Or": [{"Condition": "IsDev"}, True]}]},
    }
    t = make(
        {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "Memory": {"Fn::If": ["IsProd", 1024, 128]},
                "Extra": {"Fn::If": ["IsDev", "x", {"Ref": "AWS::NoValue"}]},
            }},
            "DevOnly": {"Type": "AWS::Logs::LogGroup", "Condition": "IsDev"},
        },
        Parameters=params, Conditions=conditions,
        Outputs={"Dev": {"Condition": "IsDev", "Value": {"Ref": "DevOnly"}}, "Prod": {"Value": {"Fn::If": ["Both", "yes", "no"]}}},
    )  # fmt: skip
    assert t.properties("Fn", lookup) == {"Memory": 1024}
    assert "DevOnly" not in t.resources
    assert t.output_values(lookup) == {"Prod": "yes"}


def test_dependency_order_and_depends_on() -> None:
    t = make(
        {
            "Alias": {
                "Type": "AWS::Lambda::Alias",
                "Properties": {"V": {"Fn::GetAtt": ["Version", "Version"]}},
            },
            "Version": {"Type": "AWS::Lambda::Version", "Properties": {"F": {"Fn::Sub": "${Fn}"}}},
            "Fn": {"Type": "AWS::Lambda::Function", "DependsOn": ["Role"]},
            "Role": {"Type": "AWS::IAM::Role"},
        }
    )
    assert t.order == ["Role", "Fn", "Version", "Alias"]
    assert t.deps["Alias"] == {"Version"}


def test_circular_references_name_the_cycle() -> None:
    with pytest.raises(ProjectError) as exc:
        make(
            {
                "A": {"Type": "AWS::Logs::LogGroup", "Properties": {"N": {"Ref": "B"}}},
                "B": {"Type": "AWS::Logs::LogGroup", "Properties": {"N": {"Fn::GetAtt": "C.Arn"}}},
                "C": {"Type": "AWS::Logs::LogGroup", "DependsOn": "A"},
            }
        )
    assert messages(exc) == ["Resources.A: circular dependency: A -> B -> C -> A"]
    with pytest.raises(ProjectError, match="circular condition: X -> Y -> X"):
        make(Conditions={"X": {"Condition": "Y"}, "Y": {"Fn::Not": [{"Condition": "X"}]}})


def test_unknown_refs_name_their_key() -> None:
    with pytest.raises(ProjectError) as exc:
        make(
            {
                "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                    "Role": {"Ref": "Missing"}, "Env": {"Fn::Sub": "${Gone.Arn}"}}, "DependsOn": "Nobody"},
                "Off": {"Type": "AWS::Logs::LogGroup", "Condition": "Never"},
            },
            Conditions={"Never": {"Fn::Equals": ["a", "b"]}},
            Outputs={"O": {"Value": {"Ref": "Off"}}},
        )  # fmt: skip
    texts = messages(exc)
    assert "Resources.Fn.Properties.Role: Missing is no resource or parameter of the template" in texts
    assert "Resources.Fn.Properties.Env: Gone is no resource of the template" in texts
    assert "Resources.Fn.DependsOn: DependsOn Nobody: no such resource" in texts
    assert "Outputs.O.Value: Off is not created (its Condition is false)" in texts


def test_getatt_checks_the_type_attributes() -> None:
    attrs = {"AWS::Lambda::Function": frozenset(["Arn"])}
    with pytest.raises(ProjectError, match=r"Fn \(AWS::Lambda::Function\) has no attribute Nope"):
        Template(
            {"Resources": {"Fn": {"Type": "AWS::Lambda::Function"},
                           "L": {"Type": "AWS::Logs::LogGroup", "Properties": {"N": {"Fn::GetAtt": "Fn.Nope"}}}}},
            {}, stack_name="s", region="us-east-1", account_id="0", attributes=attrs.get,
        )  # fmt: skip
