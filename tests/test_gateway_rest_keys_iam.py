"""REST API methods that require an API key (metered by usage plans: 403 without a valid key,
429 when its quota or throttle is spent, GetUsage counting what passed) and AWS_IAM methods
(SigV4-signed for execute-api, the caller in requestContext.identity), over real HTTP."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import deploy, unique
from lambdabox.testing import LocalLambdabox
from rest_helpers import ECHO, host_of, lambda_uri, send

FORBIDDEN = (403, b'{"message":"Forbidden"}')


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("restkeys") / "data", manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def api(lbx: LocalLambdabox) -> str:
    """A REST API with GET /keyed (apiKeyRequired) and GET /signed (AWS_IAM), stage prod."""
    lam = lbx.client("lambda")
    fn = lam.get_function(FunctionName=deploy(lam, ECHO))["Configuration"]["FunctionArn"]
    gw = lbx.client("apigateway")
    api_id: str = gw.create_rest_api(name=unique("keys"))["id"]
    root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
    for part, extra in (("keyed", {"apiKeyRequired": True}), ("signed", {"authorizationType": "AWS_IAM"})):
        rid = gw.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        gw.put_method(
            restApiId=api_id, resourceId=rid, httpMethod="GET", **{"authorizationType": "NONE", **extra}
        )
        gw.put_integration(
            restApiId=api_id, resourceId=rid, httpMethod="GET", type="AWS_PROXY",
            integrationHttpMethod="POST", uri=lambda_uri(fn),
        )  # fmt: skip
    gw.create_deployment(restApiId=api_id, stageName="prod")
    return api_id


def test_api_keys_are_metered_by_usage_plans(lbx: LocalLambdabox, api: str) -> None:
    gw = lbx.client("apigateway")
    host = host_of(lbx, api)
    plan = gw.create_usage_plan(
        name=unique("plan"), apiStages=[{"apiId": api, "stage": "prod"}],
        quota={"limit": 3, "period": "DAY"}, throttle={"rateLimit": 100, "burstLimit": 100},
    )  # fmt: skip
    key = gw.create_api_key(name=unique("key"), enabled=True)
    outside = gw.create_api_key(name=unique("key"), enabled=True)  # in no plan
    assert send(lbx, "GET", "/prod/keyed", host=host)[0:3:2] == FORBIDDEN  # no key
    assert send(lbx, "GET", "/prod/keyed", host=host, headers={"x-api-key": key["value"]})[0:3:2] == FORBIDDEN
    gw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    headers = {"x-api-key": key["value"]}
    for _ in range(3):
        assert send(lbx, "GET", "/prod/keyed", host=host, headers=headers)[0] == 201
    assert send(lbx, "GET", "/prod/keyed", host=host, headers=headers)[0:3:2] == (
        429,
        b'{"message":"Limit Exceeded"}',
    )
    assert (
        send(lbx, "GET", "/prod/keyed", host=host, headers={"x-api-key": outside["value"]})[0:3:2]
        == FORBIDDEN
    )
    today = dt.datetime.fromtimestamp(lbx.clock.now(), dt.UTC).strftime("%Y-%m-%d")
    usage = gw.get_usage(usagePlanId=plan["id"], keyId=key["id"], startDate=today, endDate=today)
    assert usage["items"] == {key["id"]: [[3, 0]]}
    # the next UTC day has a fresh quota
    lbx.advance(86_400)
    assert send(lbx, "GET", "/prod/keyed", host=host, headers=headers)[0] == 201


def _signed(lbx: LocalLambdabox, api: str, key: str, secret: str) -> tuple[int, Any, bytes]:
    host = host_of(lbx, api)
    request = AWSRequest(method="GET", url=f"http://{host}/prod/signed")
    SigV4Auth(Credentials(key, secret), "execute-api", lbx.settings.region).add_auth(request)
    return send(lbx, "GET", "/prod/signed", host=host, headers=dict(request.headers.items()))


def test_aws_iam_methods_verify_the_signature(lbx: LocalLambdabox, api: str) -> None:
    host = host_of(lbx, api)
    assert send(lbx, "GET", "/prod/signed", host=host)[0:3:2] == (
        403,
        b'{"message":"Missing Authentication Token"}',
    )
    status, _, body = _signed(lbx, api, "test", "wrong-secret")
    assert status == 403 and b"signature we calculated does not match" in body
    status, _, body = _signed(lbx, api, "test", "test")
    assert status == 201, body
    identity = json.loads(body)["event"]["requestContext"]["identity"]
    assert identity["accessKey"] == "test"
    assert identity["accountId"] == lbx.settings.account_id
    assert identity["userArn"] == f"arn:aws:iam::{lbx.settings.account_id}:root"
