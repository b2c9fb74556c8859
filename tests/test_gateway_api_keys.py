"""API keys and usage plans (apigateway v1) through boto3's apigateway client: the shapes AWS
answers, its errors, paging, patch operations, GetUsage/UpdateUsage, and durability across a
restart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, unique
from lambdabox.testing import LocalLambdabox


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys") / "data"


@pytest.fixture(scope="module")
def lbx(data_dir: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(data_dir, manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def apigw(lbx: LocalLambdabox) -> Any:
    return lbx.client("apigateway")


def test_create_api_key_generates_a_value_and_hides_it_unless_asked(apigw: Any) -> None:
    name = unique("key")
    created = apigw.create_api_key(name=name, description="d", enabled=True, tags={"t": "1"})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert len(created["value"]) == 40 and created["value"].isalnum()
    assert len(created["id"]) == 10
    assert created["enabled"] is True and created["name"] == name and created["stageKeys"] == []
    assert created["tags"] == {"t": "1"}
    assert isinstance(created["createdDate"], dt.datetime)
    got = apigw.get_api_key(apiKey=created["id"])
    assert "value" not in got and got["description"] == "d"
    assert apigw.get_api_key(apiKey=created["id"], includeValue=True)["value"] == created["value"]


def test_a_key_is_disabled_unless_enabled_and_a_given_value_is_kept(apigw: Any) -> None:
    value = "v" * 20 + unique("")
    key = apigw.create_api_key(name=unique("key"), value=value)
    assert key["enabled"] is False and key["value"] == value


def test_api_key_errors_as_aws(apigw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        apigw.create_api_key(name="short", value="x" * 19)
    assert aws_error(exc) == ("BadRequestException", "API Key value should be at least 20 characters", 400)
    value = "dup" * 10 + unique("")
    apigw.create_api_key(name="a", value=value)
    with pytest.raises(ClientError) as exc:
        apigw.create_api_key(name="b", value=value)
    assert aws_error(exc) == ("ConflictException", "API Key already exists", 409)
    for call in (apigw.get_api_key, apigw.delete_api_key):
        with pytest.raises(ClientError) as exc:
            call(apiKey="nosuchkey1")
        assert aws_error(exc) == ("NotFoundException", "Invalid API Key identifier specified", 404)


def test_get_api_keys_filters_by_name_and_pages(apigw: Any) -> None:
    prefix = unique("page")
    made = [apigw.create_api_key(name=f"{prefix}-{i}")["id"] for i in range(5)]
    listed = apigw.get_api_keys(nameQuery=prefix)["items"]
    assert [k["id"] for k in listed] == made and all("value" not in k for k in listed)
    assert all("value" in k for k in apigw.get_api_keys(nameQuery=prefix, includeValues=True)["items"])
    first = apigw.get_api_keys(nameQuery=prefix, limit=2)
    assert [k["id"] for k in first["items"]] == made[:2] and "position" in first
    pages = apigw.get_paginator("get_api_keys").paginate(nameQuery=prefix, PaginationConfig={"PageSize": 2})
    assert [k["id"] for p in pages for k in p["items"]] == made


def test_update_and_delete_api_key(apigw: Any) -> None:
    key = apigw.create_api_key(name=unique("upd"))
    updated = apigw.update_api_key(
        apiKey=key["id"],
        patchOperations=[
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "replace", "path": "/description", "value": "new"},
            {"op": "replace", "path": "/enabled", "value": "true"},
            {"op": "replace", "path": "/customerId", "value": "cust-1"},
        ],
    )
    assert (updated["name"], updated["description"], updated["enabled"], updated["customerId"]) == (
        "renamed", "new", True, "cust-1",
    )  # fmt: skip
    assert apigw.get_api_keys(customerId="cust-1")["items"][0]["id"] == key["id"]
    with pytest.raises(ClientError) as exc:
        apigw.update_api_key(
            apiKey=key["id"], patchOperations=[{"op": "replace", "path": "/value", "value": "x"}]
        )
    assert aws_error(exc)[0] == "BadRequestException"
    assert apigw.delete_api_key(apiKey=key["id"])["ResponseMetadata"]["HTTPStatusCode"] == 202
    with pytest.raises(ClientError) as exc:
        apigw.get_api_key(apiKey=key["id"])
    assert aws_error(exc)[0] == "NotFoundException"


def rest_api(apigw: Any, *stages: str) -> str:
    """A REST API with the given stages (a MOCK method on its root): what usage plans may name."""
    api_id: str = apigw.create_rest_api(name=unique("rest"))["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    for stage in stages:
        apigw.create_deployment(restApiId=api_id, stageName=stage)
    return api_id


def test_usage_plan_shapes_and_updates(apigw: Any) -> None:
    abc123, def456 = rest_api(apigw, "prod"), rest_api(apigw, "dev")
    PLAN = {
        "description": "gold",
        "apiStages": [
            {"apiId": abc123, "stage": "prod", "throttle": {"/pets/GET": {"burstLimit": 5, "rateLimit": 2.0}}}
        ],
        "throttle": {"burstLimit": 10, "rateLimit": 5.0},
        "quota": {"limit": 100, "offset": 0, "period": "DAY"},
        "tags": {"tier": "gold"},
    }
    plan = apigw.create_usage_plan(name=unique("plan"), **PLAN)
    assert plan["ResponseMetadata"]["HTTPStatusCode"] == 201 and len(plan["id"]) == 6
    got = apigw.get_usage_plan(usagePlanId=plan["id"])
    for field, value in PLAN.items():
        assert got[field] == value
    updated = apigw.update_usage_plan(
        usagePlanId=plan["id"],
        patchOperations=[
            {"op": "replace", "path": "/quota/limit", "value": "1000"},
            {"op": "replace", "path": "/quota/period", "value": "MONTH"},
            {"op": "replace", "path": "/throttle/rateLimit", "value": "50"},
            {"op": "replace", "path": "/throttle/burstLimit", "value": "100"},
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "add", "path": "/apiStages", "value": f"{def456}:dev"},
            {"op": "remove", "path": "/apiStages", "value": f"{abc123}:prod"},
            {
                "op": "replace",
                "path": f"/apiStages/{def456}:dev/throttle/~1items/POST/rateLimit",
                "value": "3",
            },
        ],
    )
    assert updated["quota"] == {"limit": 1000, "offset": 0, "period": "MONTH"}
    assert updated["throttle"] == {"burstLimit": 100, "rateLimit": 50.0}
    assert updated["name"] == "renamed"
    assert updated["apiStages"] == [
        {"apiId": def456, "stage": "dev", "throttle": {"/items/POST": {"rateLimit": 3.0}}}
    ]
    with pytest.raises(ClientError) as exc:
        apigw.update_usage_plan(
            usagePlanId=plan["id"], patchOperations=[{"op": "replace", "path": "/nope", "value": "1"}]
        )
    assert aws_error(exc)[0] == "BadRequestException"
    assert apigw.delete_usage_plan(usagePlanId=plan["id"])["ResponseMetadata"]["HTTPStatusCode"] == 202
    with pytest.raises(ClientError) as exc:
        apigw.get_usage_plan(usagePlanId=plan["id"])
    assert aws_error(exc) == ("NotFoundException", "Invalid Usage Plan ID specified", 404)


def test_usage_plan_keys(apigw: Any) -> None:
    plan = apigw.create_usage_plan(
        name=unique("plan"), apiStages=[{"apiId": rest_api(apigw, "prod"), "stage": "prod"}]
    )
    other = apigw.create_usage_plan(name=unique("plan"))
    key = apigw.create_api_key(name=unique("key"), enabled=True)
    assert apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"] == []
    added = apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    expected = {"id": key["id"], "type": "API_KEY", "value": key["value"], "name": key["name"]}
    assert {k: added[k] for k in expected} == expected
    got = apigw.get_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
    assert {k: got[k] for k in expected} == expected
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    assert [p["id"] for p in apigw.get_usage_plans(keyId=key["id"])["items"]] == [plan["id"]]
    assert other["id"] in [p["id"] for p in apigw.get_usage_plans(limit=500)["items"]]
    with pytest.raises(ClientError) as exc:
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    assert aws_error(exc)[0] == "ConflictException"
    with pytest.raises(ClientError) as exc:
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId="nosuchkey1", keyType="API_KEY")
    assert aws_error(exc) == ("NotFoundException", "Invalid API Key identifier specified", 404)
    with pytest.raises(ClientError) as exc:
        apigw.get_usage_plan_key(usagePlanId=other["id"], keyId=key["id"])
    assert aws_error(exc) == ("NotFoundException", "Invalid Usage Plan ID specified", 404)
    apigw.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
    assert apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"] == []


def test_a_key_serves_one_plan_per_api_stage(apigw: Any) -> None:
    stage = {"apiId": rest_api(apigw, "prod"), "stage": "prod"}
    first = apigw.create_usage_plan(name=unique("plan"), apiStages=[stage])
    second = apigw.create_usage_plan(name=unique("plan"), apiStages=[stage])
    key = apigw.create_api_key(name=unique("key"))
    apigw.create_usage_plan_key(usagePlanId=first["id"], keyId=key["id"], keyType="API_KEY")
    with pytest.raises(ClientError) as exc:
        apigw.create_usage_plan_key(usagePlanId=second["id"], keyId=key["id"], keyType="API_KEY")
    assert aws_error(exc)[0] == "ConflictException"


def test_get_usage_and_update_usage(lbx: LocalLambdabox, apigw: Any) -> None:
    plan = apigw.create_usage_plan(name=unique("plan"), quota={"limit": 10, "period": "DAY"})
    key = apigw.create_api_key(name=unique("key"), enabled=True)
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    today = dt.datetime.fromtimestamp(lbx.clock.now(), dt.UTC).date()
    yesterday = today - dt.timedelta(days=1)
    usage = apigw.get_usage(
        usagePlanId=plan["id"], startDate=yesterday.isoformat(), endDate=today.isoformat()
    )
    assert {k: usage[k] for k in ("usagePlanId", "startDate", "endDate", "items")} == {
        "usagePlanId": plan["id"], "startDate": yesterday.isoformat(), "endDate": today.isoformat(),
        "items": {key["id"]: [[0, 10], [0, 10]]},
    }  # fmt: skip
    changed = apigw.update_usage(
        usagePlanId=plan["id"],
        keyId=key["id"],
        patchOperations=[{"op": "replace", "path": "/remaining", "value": "3"}],
    )
    assert changed["items"] == {key["id"]: [[0, 3]]}
    with pytest.raises(ClientError) as exc:
        apigw.get_usage(usagePlanId=plan["id"], startDate="yesterday", endDate=today.isoformat())
    assert aws_error(exc)[0] == "BadRequestException"
    with pytest.raises(ClientError) as exc:
        apigw.get_usage(usagePlanId="nosuch", startDate=today.isoformat(), endDate=today.isoformat())
    assert aws_error(exc) == ("NotFoundException", "Invalid Usage Plan ID specified", 404)


def test_keys_and_plans_survive_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        apigw = server.client("apigateway")
        key = apigw.create_api_key(name="kept", enabled=True)
        plan = apigw.create_usage_plan(name="kept", quota={"limit": 5, "period": "WEEK"})
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        apigw = server.client("apigateway")
        assert apigw.get_api_key(apiKey=key["id"], includeValue=True)["value"] == key["value"]
        assert apigw.get_usage_plan(usagePlanId=plan["id"])["quota"] == {
            "limit": 5,
            "offset": 0,
            "period": "WEEK",
        }
        assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]


def test_http_api_operations_still_reach_apigatewayv2(lbx: LocalLambdabox) -> None:
    v2 = lbx.client("apigatewayv2")
    api = v2.create_api(Name=unique("api"), ProtocolType="HTTP")
    assert v2.get_api(ApiId=api["ApiId"])["Name"] == api["Name"]
