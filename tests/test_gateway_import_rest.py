"""REST APIs from Swagger 2.0 / OpenAPI 3.0 definitions: ImportRestApi and PutRestApi (merge and
overwrite) through boto3, then real requests through the imported methods to a real function
(a TOKEN authorizer, ANY on {proxy+}, API keys, AWS_IAM), and the definition as aws-sam-translator
writes it for an AWS::Serverless::Api."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy
from lambdabox.gateway import openapi_rest
from lambdabox.testing import LocalLambdabox
from rest_helpers import ECHO, lambda_uri, send
from test_gateway_import_http import sam_body

MISSING = (403, b'{"message":"Missing Authentication Token"}')
AUTHORIZER: dict[str, str | bytes] = {
    "app.py": (
        "def handler(event, context):\n"
        "    effect = 'Allow' if event['authorizationToken'] == 'allow' else 'Deny'\n"
        "    return {'principalId': 'u', 'policyDocument': {'Version': '2012-10-17', 'Statement': [\n"
        "        {'Action': 'execute-api:Invoke', 'Effect': effect, 'Resource': event['methodArn']}]}}\n"
    )
}


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("restimport") / "data", manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def fns(lbx: LocalLambdabox) -> tuple[str, str]:
    lam = lbx.client("lambda")
    arns = (
        lam.get_function(FunctionName=deploy(lam, files))["Configuration"]["FunctionArn"]
        for files in (ECHO, AUTHORIZER)
    )
    fn, auth = arns
    return str(fn), str(auth)


def swagger(paths: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": paths, **more}


def proxy(fn: str) -> dict[str, Any]:
    return {
        "x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": lambda_uri(fn)}
    }


def methods(gw: Any, api_id: str) -> dict[str, dict[str, Any]]:
    """ "<METHOD> <path>" -> the method as GetResources(embed=methods) shows it."""
    items = gw.get_resources(restApiId=api_id, embed=["methods"], limit=500)["items"]
    return {f"{m} {r['path']}": v for r in items for m, v in r.get("resourceMethods", {}).items()}


def test_the_sam_definition_becomes_methods_and_a_token_authorizer() -> None:
    spec = openapi_rest.read(
        json.dumps(sam_body("openapi_sam_rest_api.json", FunctionArn="f", AuthorizerArn="a"))
    )
    found = {f"{m.http_method} {m.path}": m for m in spec.methods}
    assert set(found) == {"GET /pets", "POST /keyed", "ANY /files/{proxy+}", "GET /iam"}
    assert (found["GET /pets"].authorization_type, found["GET /pets"].authorizer) == ("CUSTOM", "TokenAuth")
    assert found["POST /keyed"].api_key_required and found["POST /keyed"].authorization_type == "NONE"
    assert found["GET /iam"].authorization_type == "AWS_IAM"
    assert spec.authorizers["TokenAuth"]["identitySource"] == "method.request.header.Authorization"
    assert spec.paths == ("/files", "/iam", "/keyed", "/pets", "/files/{proxy+}")
    assert spec.binary_media_types == ("image/png",) and spec.warnings == ()


def test_the_sam_rest_api_serves_its_methods(lbx: LocalLambdabox, fns: tuple[str, str]) -> None:
    fn, auth = fns
    gw = lbx.client("apigateway")
    body = json.dumps(sam_body("openapi_sam_rest_api.json", FunctionArn=fn, AuthorizerArn=auth))
    api = gw.import_rest_api(body=body.encode(), parameters={"endpointConfigurationTypes": "REGIONAL"})
    assert api["ResponseMetadata"]["HTTPStatusCode"] == 201
    api_id = api["id"]
    assert (api["name"], api["version"], api["endpointConfiguration"]) == (
        "sam-stack",
        "1.0",
        {"types": ["REGIONAL"]},
    )
    assert api["binaryMediaTypes"] == ["image/png"] and "warnings" not in api
    (authorizer,) = gw.get_authorizers(restApiId=api_id)["items"]
    assert (authorizer["name"], authorizer["type"]) == ("TokenAuth", "TOKEN")
    assert authorizer["identitySource"] == "method.request.header.Authorization"
    assert authorizer["authorizerUri"] == lambda_uri(auth) and authorizer["authType"] == "custom"
    found = methods(gw, api_id)
    assert set(found) == {"GET /pets", "POST /keyed", "ANY /files/{proxy+}", "GET /iam"}
    pets = found["GET /pets"]
    assert (pets["authorizationType"], pets["authorizerId"]) == ("CUSTOM", authorizer["id"])
    assert pets["methodIntegration"]["type"] == "AWS_PROXY" and pets["methodIntegration"][
        "uri"
    ] == lambda_uri(fn)
    assert pets["methodIntegration"]["httpMethod"] == "POST"
    assert found["POST /keyed"]["apiKeyRequired"] is True
    assert found["GET /iam"]["authorizationType"] == "AWS_IAM"
    # the template's AWS::ApiGateway::Deployment and Stage
    gw.create_deployment(restApiId=api_id, stageName="prod")
    base = f"/_apis/{api_id}/prod"
    status, _, answer = send(lbx, "PUT", f"{base}/files/a/b.txt")
    assert status == 201, answer
    event = json.loads(answer)["event"]
    assert (event["resource"], event["pathParameters"]) == ("/files/{proxy+}", {"proxy": "a/b.txt"})
    assert send(lbx, "GET", f"{base}/pets")[0] == 401
    assert send(lbx, "GET", f"{base}/pets", headers={"Authorization": "deny"})[0] == 403
    status, _, answer = send(lbx, "GET", f"{base}/pets", headers={"Authorization": "allow"})
    assert status == 201 and json.loads(answer)["event"]["requestContext"]["authorizer"]["principalId"] == "u"
    assert send(lbx, "POST", f"{base}/keyed")[0] == 403  # no API key
    assert send(lbx, "GET", f"{base}/iam")[0:3:2] == MISSING

    # overwrite: /keyed and the authorizer go; merge: a method is added, the others stay
    doc = json.loads(body)
    del doc["paths"]["/keyed"], doc["paths"]["/pets"]
    put = gw.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(doc).encode())
    assert put["id"] == api_id
    assert set(methods(gw, api_id)) == {"ANY /files/{proxy+}", "GET /iam"}
    assert {r["path"] for r in gw.get_resources(restApiId=api_id)["items"]} == {
        "/",
        "/files",
        "/files/{proxy+}",
        "/iam",
    }
    assert gw.get_authorizers(restApiId=api_id)["items"] == []
    assert send(lbx, "POST", f"{base}/keyed")[0] == 403  # the stage serves its deployment until the next
    gw.create_deployment(restApiId=api_id, stageName="prod")
    assert send(lbx, "POST", f"{base}/keyed")[0:3:2] == MISSING
    gw.put_rest_api(restApiId=api_id, body=json.dumps(swagger({"/more": {"get": proxy(fn)}})).encode())
    assert set(methods(gw, api_id)) == {"ANY /files/{proxy+}", "GET /iam", "GET /more"}
    assert [s["stageName"] for s in gw.get_stages(restApiId=api_id)["item"]] == ["prod"]


def test_openapi_3_mock_responses_parameters_and_base_path(lbx: LocalLambdabox, fns: tuple[str, str]) -> None:
    fn, _ = fns
    gw = lbx.client("apigateway")
    body = {
        "openapi": "3.0.1",
        "info": {"title": "three", "version": "2", "description": "d"},
        "servers": [{"url": "https://x.example/{basePath}", "variables": {"basePath": {"default": "/v1"}}}],
        "x-amazon-apigateway-api-key-source": "HEADER",
        "paths": {
            "/items/{id}": {
                "get": {"operationId": "getItem",
                        "parameters": [{"name": "id", "in": "path", "required": True},
                                       {"name": "q", "in": "query"}], **proxy(fn)},
                "options": {
                    "responses": {"200": {"description": "ok", "headers": {"Access-Control-Allow-Origin": {}}}},
                    "x-amazon-apigateway-integration": {
                        "type": "mock", "requestTemplates": {"application/json": '{"statusCode": 200}'},
                        "responses": {"default": {"statusCode": "200", "responseParameters": {
                            "method.response.header.Access-Control-Allow-Origin": "'*'"}}}},
                },
            }
        },
    }  # fmt: skip
    api = gw.import_rest_api(body=json.dumps(body).encode(), parameters={"basepath": "prepend"})
    assert (api["name"], api["description"]) == ("three", "d")
    found = methods(gw, api["id"])
    assert set(found) == {"GET /v1/items/{id}", "OPTIONS /v1/items/{id}"}
    get = found["GET /v1/items/{id}"]
    assert get["operationName"] == "getItem"
    assert get["requestParameters"] == {"method.request.path.id": True, "method.request.querystring.q": False}
    options = found["OPTIONS /v1/items/{id}"]
    assert options["methodResponses"]["200"]["responseParameters"] == {
        "method.response.header.Access-Control-Allow-Origin": False
    }
    gw.create_deployment(restApiId=api["id"], stageName="dev")
    status, headers, _ = send(lbx, "OPTIONS", f"/_apis/{api['id']}/dev/v1/items/7")
    assert (status, headers["Access-Control-Allow-Origin"]) == (200, "*")
    status, _, answer = send(lbx, "GET", f"/_apis/{api['id']}/dev/v1/items/7?q=x")
    assert status == 201 and json.loads(answer)["event"]["pathParameters"] == {"id": "7"}


def test_errors_and_warnings_as_aws_reports_them(lbx: LocalLambdabox, fns: tuple[str, str]) -> None:
    fn, _ = fns
    gw = lbx.client("apigateway")
    before = len(gw.get_rest_apis()["items"])
    bad = swagger(
        {
            "/a": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
                                                               "uri": "arn:aws:s3:::bucket"}}},
            "/b": {"get": {"security": [{"ghost": []}], **proxy(fn)}},
        }
    )  # fmt: skip
    with pytest.raises(ClientError) as exc:
        gw.import_rest_api(body=json.dumps(bad).encode())
    assert aws_error(exc)[0:3:2] == ("BadRequestException", 400)
    assert (
        "Security scheme ghost of method 'GET' for resource at path '/b' is not defined" in aws_error(exc)[1]
    )
    del bad["paths"]["/b"]
    with pytest.raises(ClientError) as exc:
        gw.import_rest_api(body=json.dumps(bad).encode())
    assert aws_error(exc)[1] == (
        "Errors found during import:\n\tUnable to put integration on 'GET' for resource at path '/a': "
        "Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose stream invocations."
    )
    for body in (b"\xff", b"{}", b"[1]", b"openapi: [", json.dumps({"swagger": "2.0"}).encode()):
        with pytest.raises(ClientError) as exc:
            gw.import_rest_api(body=body)
        assert aws_error(exc)[0:2] == ("BadRequestException", "Invalid OpenAPI input.")
    assert len(gw.get_rest_apis()["items"]) == before
    warned = swagger({"/w": {"get": proxy(fn)}}, **{"x-amazon-apigateway-request-validators": {}})
    with pytest.raises(ClientError) as exc:
        gw.import_rest_api(body=json.dumps(warned).encode(), failOnWarnings=True)
    assert aws_error(exc)[1].startswith("Warnings found during import:\n\tUnsupported extension")
    api = gw.import_rest_api(body=json.dumps(warned).encode())
    assert api["warnings"] == [
        "Unsupported extension x-amazon-apigateway-request-validators at the document root: ignored"
    ]
    # a failed PutRestApi leaves the API as it was
    with pytest.raises(ClientError):
        gw.put_rest_api(restApiId=api["id"], mode="overwrite", body=json.dumps(bad).encode())
    assert set(methods(gw, api["id"])) == {"GET /w"}
    with pytest.raises(ClientError) as exc:
        gw.put_rest_api(restApiId="nope", body=json.dumps(warned).encode())
    assert aws_error(exc)[0] == "NotFoundException"
