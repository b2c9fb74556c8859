"""REST APIs (API Gateway v1) through boto3's apigateway client: the sequence an SDK user writes,
served by host and by path, and the control plane's shapes and AWS's errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy
from lambdabox.testing import LocalLambdabox
from rest_helpers import ECHO, host_of, lambda_uri, proxy_api, send

FIXTURE = Path(__file__).parent / "events" / "apigw-rest-proxy.json"


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("rest") / "data", manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def fn(lbx: LocalLambdabox) -> str:
    lam = lbx.client("lambda")
    name = deploy(lam, ECHO, Timeout=60)
    return str(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def _keys(d: dict[str, Any]) -> set[str]:
    return set(d)


def test_the_usual_sdk_sequence(lbx: LocalLambdabox, fn: str) -> None:
    """create_rest_api → get_resources (root) → create_resource {proxy+} → put_method ANY →
    put_integration AWS_PROXY → create_deployment stageName=dev → an HTTP request."""
    gw = lbx.client("apigateway")
    api = gw.create_rest_api(name="usual", description="d", endpointConfiguration={"types": ["REGIONAL"]})
    assert api["ResponseMetadata"]["HTTPStatusCode"] == 201
    api_id = api["id"]
    assert len(api_id) == 10 and api["endpointConfiguration"] == {"types": ["REGIONAL"]}
    (root,) = gw.get_resources(restApiId=api_id)["items"]
    assert root == {"id": api["rootResourceId"], "path": "/"}
    proxy = gw.create_resource(restApiId=api_id, parentId=root["id"], pathPart="{proxy+}")
    assert (proxy["path"], proxy["pathPart"], proxy["parentId"]) == ("/{proxy+}", "{proxy+}", root["id"])
    method = gw.put_method(
        restApiId=api_id, resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE"
    )
    assert (method["httpMethod"], method["authorizationType"], method["apiKeyRequired"]) == (
        "ANY",
        "NONE",
        False,
    )
    integration = gw.put_integration(
        restApiId=api_id, resourceId=proxy["id"], httpMethod="ANY", type="AWS_PROXY",
        integrationHttpMethod="POST", uri=lambda_uri(fn),
    )  # fmt: skip
    assert (integration["type"], integration["httpMethod"], integration["timeoutInMillis"]) == (
        "AWS_PROXY",
        "POST",
        29000,
    )
    assert integration["passthroughBehavior"] == "WHEN_NO_MATCH"
    deployment = gw.create_deployment(restApiId=api_id, stageName="dev")
    stage = gw.get_stage(restApiId=api_id, stageName="dev")
    assert stage["deploymentId"] == deployment["id"]
    for target, host in (
        ("/dev/hello/world?name=me", host_of(lbx, api_id)),
        (f"/_apis/{api_id}/dev/hello/world?name=me", None),
    ):
        status, headers, body = send(
            lbx, "POST", target, host=host, body=b'{"a": 1}',
            headers={"Content-Type": "application/json", "headerName": "headerValue"},
        )  # fmt: skip
        assert status == 201, body
        assert headers["x-echo"] == "yes" and headers.get_all("Set-Cookie") == ["a=1", "b=2"]
        assert headers["x-amzn-RequestId"] and headers["x-amz-apigw-id"]
        event = json.loads(body)["event"]
        expected = json.loads(FIXTURE.read_text())
        assert _keys(event) == _keys(expected)
        assert _keys(event["requestContext"]) == _keys(expected["requestContext"])
        assert _keys(event["requestContext"]["identity"]) == _keys(expected["requestContext"]["identity"])
        assert (event["resource"], event["path"], event["httpMethod"]) == (
            "/{proxy+}",
            "/hello/world",
            "POST",
        )
        assert (
            event["pathParameters"] == {"proxy": "hello/world"}
            and event["headers"]["headerName"] == "headerValue"
        )
        assert event["queryStringParameters"] == {"name": "me"} and event["body"] == '{"a": 1}'
        ctx = event["requestContext"]
        assert (ctx["stage"], ctx["path"], ctx["resourcePath"], ctx["resourceId"]) == (
            "dev",
            "/dev/hello/world",
            "/{proxy+}",
            proxy["id"],
        )
        assert (ctx["apiId"], ctx["accountId"], ctx["domainName"]) == (
            api_id,
            "000000000000",
            f"{api_id}.execute-api.localhost",
        )
        assert ctx["requestId"] == headers["x-amzn-RequestId"]
        assert ctx["extendedRequestId"] == headers["x-amz-apigw-id"]


def test_rest_apis_list_update_and_delete(lbx: LocalLambdabox) -> None:
    gw = lbx.client("apigateway")
    made = [gw.create_rest_api(name=f"page-{i}", tags={"n": str(i)})["id"] for i in range(3)]
    seen: list[str] = []
    page = gw.get_rest_apis(limit=2)
    seen += [a["id"] for a in page["items"]]
    while "position" in page:
        page = gw.get_rest_apis(limit=2, position=page["position"])
        seen += [a["id"] for a in page["items"]]
    assert set(made) <= set(seen) and len(seen) == len(set(seen))
    api_id = made[0]
    got = gw.get_rest_api(restApiId=api_id)
    assert (got["name"], got["tags"], got["apiKeySource"], got["disableExecuteApiEndpoint"]) == (
        "page-0",
        {"n": "0"},
        "HEADER",
        False,
    )
    updated = gw.update_rest_api(
        restApiId=api_id,
        patchOperations=[
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "replace", "path": "/description", "value": "new"},
            {"op": "add", "path": "/binaryMediaTypes/image~1png", "value": ""},
            {"op": "add", "path": "/binaryMediaTypes/application~1octet-stream"},
        ],
    )
    assert (updated["name"], updated["description"]) == ("renamed", "new")
    assert updated["binaryMediaTypes"] == ["image/png", "application/octet-stream"]
    updated = gw.update_rest_api(
        restApiId=api_id, patchOperations=[{"op": "remove", "path": "/binaryMediaTypes/image~1png"}]
    )
    assert updated["binaryMediaTypes"] == ["application/octet-stream"]
    with pytest.raises(ClientError) as exc:
        gw.update_rest_api(
            restApiId=api_id, patchOperations=[{"op": "replace", "path": "/nope", "value": "x"}]
        )
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    assert gw.delete_rest_api(restApiId=api_id)["ResponseMetadata"]["HTTPStatusCode"] == 202
    with pytest.raises(ClientError) as exc:
        gw.get_rest_api(restApiId=api_id)
    assert aws_error(exc) == (
        "NotFoundException",
        f"Invalid API identifier specified 000000000000:{api_id}",
        404,
    )


def test_resources_and_their_errors(lbx: LocalLambdabox) -> None:
    gw = lbx.client("apigateway")
    api_id = gw.create_rest_api(name="tree")["id"]
    root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
    pets = gw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")
    pet = gw.create_resource(restApiId=api_id, parentId=pets["id"], pathPart="{id}")
    assert pet["path"] == "/pets/{id}"
    bad_part = (
        "BadRequestException",
        "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an "
        "optional plus sign before the closing brace.",
        400,
    )
    for part in ("a/b", "{x", "a b", "{a}b", "{a+b}"):
        with pytest.raises(ClientError) as exc:
            gw.create_resource(restApiId=api_id, parentId=root, pathPart=part)
        assert aws_error(exc) == bad_part
    with pytest.raises(ClientError) as exc:
        gw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")
    assert aws_error(exc) == (
        "ConflictException",
        "Another resource with the same parent already has this name: pets",
        409,
    )
    with pytest.raises(ClientError) as exc:
        gw.create_resource(restApiId=api_id, parentId=pets["id"], pathPart="{other}")
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    assert "only one is allowed" in aws_error(exc)[1]
    greedy = gw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")
    with pytest.raises(ClientError) as exc:
        gw.create_resource(restApiId=api_id, parentId=greedy["id"], pathPart="x")
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as exc:
        gw.create_resource(restApiId=api_id, parentId="nope", pathPart="x")
    assert aws_error(exc) == ("NotFoundException", "Invalid Resource identifier specified", 404)
    gw.put_method(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", authorizationType="NONE")
    listed = {r["path"]: r for r in gw.get_resources(restApiId=api_id)["items"]}
    assert listed["/pets/{id}"]["resourceMethods"] == {"GET": {}}
    embedded = {r["path"]: r for r in gw.get_resources(restApiId=api_id, embed=["methods"])["items"]}
    assert embedded["/pets/{id}"]["resourceMethods"]["GET"]["authorizationType"] == "NONE"
    assert gw.get_resource(restApiId=api_id, resourceId=pet["id"])["pathPart"] == "{id}"
    # deleting a resource deletes what is under it
    gw.delete_resource(restApiId=api_id, resourceId=pets["id"])
    with pytest.raises(ClientError) as exc:
        gw.get_resource(restApiId=api_id, resourceId=pet["id"])
    assert aws_error(exc)[0::2] == ("NotFoundException", 404)


def test_methods_integrations_and_their_errors(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigateway")
    api_id = gw.create_rest_api(name="methods")["id"]
    root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
    with pytest.raises(ClientError) as exc:
        gw.create_deployment(restApiId=api_id, stageName="dev")
    assert aws_error(exc) == ("BadRequestException", "The REST API doesn't contain any methods", 400)
    gw.put_method(
        restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE", apiKeyRequired=True,
        requestParameters={"method.request.header.X-Id": True},
    )  # fmt: skip
    with pytest.raises(ClientError) as exc:
        gw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    assert aws_error(exc) == ("ConflictException", "Method already exists for this resource", 409)
    for kw in (
        {"httpMethod": "FETCH", "authorizationType": "NONE"},
        {"httpMethod": "POST", "authorizationType": "CUSTOM"},
    ):
        with pytest.raises(ClientError) as exc:
            gw.put_method(restApiId=api_id, resourceId=root, **kw)
        assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as exc:
        gw.get_method(restApiId=api_id, resourceId=root, httpMethod="POST")
    assert aws_error(exc) == ("NotFoundException", "Invalid Method identifier specified", 404)
    with pytest.raises(ClientError) as exc:
        gw.create_deployment(restApiId=api_id, stageName="dev")
    assert aws_error(exc) == ("BadRequestException", "No integration defined for method", 400)
    with pytest.raises(ClientError) as exc:
        gw.get_integration(restApiId=api_id, resourceId=root, httpMethod="GET")
    assert aws_error(exc)[0::2] == ("NotFoundException", 404)
    integration = {"restApiId": api_id, "resourceId": root, "httpMethod": "GET", "type": "AWS_PROXY"}
    for kw, message in (
        (
            {"integrationHttpMethod": "POST", "uri": lambda_uri(fn), "timeoutInMillis": 29001},
            "Timeout should be between 50 ms and 29000 ms",
        ),
        (
            {"integrationHttpMethod": "POST", "uri": lambda_uri(fn), "timeoutInMillis": 49},
            "Timeout should be between 50 ms and 29000 ms",
        ),
        ({"uri": lambda_uri(fn)}, "Enumeration value for HttpMethod must be non-empty"),
        ({"integrationHttpMethod": "POST", "uri": "arn:aws:apigateway:us-east-1:s3:path/b/k"}, None),
    ):
        with pytest.raises(ClientError) as exc:
            gw.put_integration(**integration, **kw)
        assert aws_error(exc)[0::2] == ("BadRequestException", 400)
        if message is not None:
            assert aws_error(exc)[1] == message
    qualified = lambda_uri(f"{fn}:${{stageVariables.alias}}")
    made = gw.put_integration(
        **integration, integrationHttpMethod="POST", uri=qualified, timeoutInMillis=1000
    )
    assert (made["uri"], made["timeoutInMillis"]) == (qualified, 1000)
    got = gw.get_method(restApiId=api_id, resourceId=root, httpMethod="GET")
    assert got["apiKeyRequired"] is True and got["methodIntegration"]["uri"] == qualified
    assert got["requestParameters"] == {"method.request.header.X-Id": True}
    # the responses CloudFormation and the SDK examples put
    response = gw.put_method_response(
        restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="200",
        responseModels={"application/json": "Empty"},
    )  # fmt: skip
    assert response["statusCode"] == "200"
    gw.put_integration_response(
        restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="200", selectionPattern=""
    )
    assert (
        gw.get_integration_response(restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="200")[
            "statusCode"
        ]
        == "200"
    )
    got = gw.get_method(restApiId=api_id, resourceId=root, httpMethod="GET")
    assert set(got["methodResponses"]) == {"200"} and set(
        got["methodIntegration"]["integrationResponses"]
    ) == {"200"}
    updated = gw.update_method(
        restApiId=api_id, resourceId=root, httpMethod="GET",
        patchOperations=[{"op": "replace", "path": "/apiKeyRequired", "value": "false"}],
    )  # fmt: skip
    assert updated["apiKeyRequired"] is False
    gw.delete_integration(restApiId=api_id, resourceId=root, httpMethod="GET")
    gw.delete_method(restApiId=api_id, resourceId=root, httpMethod="GET")
    with pytest.raises(ClientError) as exc:
        gw.get_method(restApiId=api_id, resourceId=root, httpMethod="GET")
    assert aws_error(exc)[0::2] == ("NotFoundException", 404)


def test_deployments_and_stages(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigateway")
    api_id, _, _ = proxy_api(gw, fn, stage="one")
    (first,) = gw.get_deployments(restApiId=api_id)["items"]
    second = gw.create_deployment(restApiId=api_id, description="second")
    assert second["description"] == "second"
    summary = gw.get_deployment(restApiId=api_id, deploymentId=second["id"], embed=["apisummary"])
    assert summary["apiSummary"]["/{proxy+}"]["ANY"]["authorizationType"] == "NONE"
    stage = gw.create_stage(
        restApiId=api_id, stageName="two", deploymentId=second["id"], variables={"a": "1"}
    )
    assert (stage["stageName"], stage["variables"]) == ("two", {"a": "1"})
    with pytest.raises(ClientError) as exc:
        gw.create_stage(restApiId=api_id, stageName="two", deploymentId=second["id"])
    assert aws_error(exc) == ("ConflictException", "Stage already exists", 409)
    with pytest.raises(ClientError) as exc:
        gw.create_stage(restApiId=api_id, stageName="three", deploymentId="nope")
    assert aws_error(exc)[0::2] == ("NotFoundException", 404)
    assert {s["stageName"] for s in gw.get_stages(restApiId=api_id)["item"]} == {"one", "two"}
    updated = gw.update_stage(
        restApiId=api_id, stageName="two",
        patchOperations=[
            {"op": "replace", "path": "/variables/b", "value": "2"},
            {"op": "remove", "path": "/variables/a"},
            {"op": "replace", "path": "/deploymentId", "value": first["id"]},
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"},
            {"op": "replace", "path": "/~1{proxy+}/ANY/throttling/burstLimit", "value": "7"},
        ],
    )  # fmt: skip
    assert updated["variables"] == {"b": "2"} and updated["deploymentId"] == first["id"]
    assert updated["methodSettings"]["*/*"]["throttlingRateLimit"] == 100.0
    assert updated["methodSettings"]["~1{proxy+}/ANY"]["throttlingBurstLimit"] == 7
    with pytest.raises(ClientError) as exc:
        gw.delete_deployment(restApiId=api_id, deploymentId=first["id"])
    assert aws_error(exc) == (
        "BadRequestException",
        "Active stages pointing to this deployment must be moved or deleted",
        400,
    )
    gw.delete_stage(restApiId=api_id, stageName="two")
    with pytest.raises(ClientError) as exc:
        gw.get_stage(restApiId=api_id, stageName="two")
    assert aws_error(exc) == ("NotFoundException", "Invalid Stage identifier specified", 404)
    gw.delete_deployment(restApiId=api_id, deploymentId=second["id"])
    with pytest.raises(ClientError) as exc:
        gw.get_deployment(restApiId=api_id, deploymentId=second["id"])
    assert aws_error(exc) == ("NotFoundException", "Invalid Deployment identifier specified", 404)


def test_authorizers_control_plane(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigateway")
    api_id = gw.create_rest_api(name="authz")["id"]
    root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
    token = gw.create_authorizer(
        restApiId=api_id, name="tok", type="TOKEN", authorizerUri=lambda_uri(fn),
        identitySource="method.request.header.Authorization", identityValidationExpression="Bearer .+",
    )  # fmt: skip
    assert (token["type"], token["authorizerResultTtlInSeconds"]) == ("TOKEN", 300)
    request = gw.create_authorizer(
        restApiId=api_id, name="req", type="REQUEST", authorizerUri=lambda_uri(fn),
        identitySource="method.request.header.X-User,method.request.querystring.k",
        authorizerResultTtlInSeconds=0,
    )  # fmt: skip
    assert {a["id"] for a in gw.get_authorizers(restApiId=api_id)["items"]} == {token["id"], request["id"]}
    for kw in (
        {"type": "TOKEN", "authorizerUri": lambda_uri(fn)},  # a TOKEN authorizer needs its header
        {"type": "REQUEST", "authorizerUri": "arn:aws:lambda:us-east-1:000000000000:function:x"},
        {"type": "REQUEST", "authorizerUri": lambda_uri(fn), "identitySource": "header.X"},
    ):
        with pytest.raises(ClientError) as exc:
            gw.create_authorizer(restApiId=api_id, name="bad", **kw)
        assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    updated = gw.update_authorizer(
        restApiId=api_id, authorizerId=token["id"],
        patchOperations=[{"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "60"}],
    )  # fmt: skip
    assert updated["authorizerResultTtlInSeconds"] == 60
    gw.put_method(
        restApiId=api_id,
        resourceId=root,
        httpMethod="GET",
        authorizationType="CUSTOM",
        authorizerId=token["id"],
    )
    with pytest.raises(ClientError) as exc:
        gw.delete_authorizer(restApiId=api_id, authorizerId=token["id"])
    assert aws_error(exc)[0::2] == ("ConflictException", 409)
    gw.delete_authorizer(restApiId=api_id, authorizerId=request["id"])
    with pytest.raises(ClientError) as exc:
        gw.get_authorizer(restApiId=api_id, authorizerId=request["id"])
    assert aws_error(exc) == ("NotFoundException", "Invalid Authorizer identifier specified", 404)


def test_rest_apis_survive_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as first:
        gw = first.client("apigateway")
        api_id = gw.create_rest_api(name="durable", binaryMediaTypes=["image/png"])["id"]
        root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
        gw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as second:
        gw = second.client("apigateway")
        assert gw.get_rest_api(restApiId=api_id)["binaryMediaTypes"] == ["image/png"]
        assert gw.get_method(restApiId=api_id, resourceId=root, httpMethod="GET")["httpMethod"] == "GET"


def test_rest_and_http_api_ids_do_not_mix(lbx: LocalLambdabox) -> None:
    """Each API kind answers for its own ids only: an HTTP API's id is no REST API, and an id
    nobody has gets the HTTP API data plane's 404."""
    v2 = lbx.client("apigatewayv2").create_api(Name="http", ProtocolType="HTTP")["ApiId"]
    with pytest.raises(ClientError) as exc:
        lbx.client("apigateway").get_rest_api(restApiId=v2)
    assert aws_error(exc)[0::2] == ("NotFoundException", 404)
    assert send(lbx, "GET", "/_apis/zzzzzzzzzz/dev/x")[0:3:2] == (404, b'{"message":"Not Found"}')


def test_a_rest_api_cannot_invoke_another_accounts_function(tmp_path: Path) -> None:
    """A REST API runs functions (and authorizers) of its own account only: an integration naming
    another tenant's function answers 500 and that function never runs; the other account sees
    nothing of the API."""
    with LocalLambdabox(tmp_path / "data", root_keys="test:test,other:other:222222222222") as server:
        victim_lam = server.client("lambda", key="other", secret="other")
        marker = "ran-" + Path(tmp_path).name
        victim = deploy(
            victim_lam,
            {"app.py": f"def handler(e, c):\n    print({marker!r})\n    return {{'statusCode': 200}}\n"},
            role="arn:aws:iam::222222222222:role/victim",
        )
        victim_arn = victim_lam.get_function(FunctionName=victim)["Configuration"]["FunctionArn"]
        gw = server.client("apigateway")
        api_id, root, _ = proxy_api(gw, victim_arn)
        assert send(server, "GET", f"/_apis/{api_id}/dev/x")[0:3:2] == (
            500,
            b'{"message":"Internal server error"}',
        )
        authorizer = gw.create_authorizer(
            restApiId=api_id, name="theirs", type="TOKEN", authorizerUri=lambda_uri(victim_arn),
            identitySource="method.request.header.Authorization",
        )["id"]  # fmt: skip
        gw.put_method(
            restApiId=api_id,
            resourceId=root,
            httpMethod="GET",
            authorizationType="CUSTOM",
            authorizerId=authorizer,
        )
        gw.put_integration(
            restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK",
            requestTemplates={"application/json": '{"statusCode": 200}'},
        )  # fmt: skip
        gw.create_deployment(restApiId=api_id, stageName="dev")
        answer = send(server, "GET", f"/_apis/{api_id}/dev", headers={"Authorization": "t"})
        assert answer[0:3:2] == (500, b'{"message":null}')
        logs = server.client("logs", key="other", secret="other")
        groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{victim}")["logGroups"]
        assert groups == [], "the other account's function ran"
        with pytest.raises(ClientError) as exc:
            server.client("apigateway", key="other", secret="other").get_rest_api(restApiId=api_id)
        assert aws_error(exc)[0::2] == ("NotFoundException", 404)
