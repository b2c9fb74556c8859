"""HTTP APIs from OpenAPI 3.0 definitions: ImportApi and ReimportApi through boto3, then real requests
through the imported routes to a real function (JWT authorization, ANY, greedy paths, $default), and
the definition as aws-sam-translator writes it for an AWS::Serverless::HttpApi."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy
from lambdabox.gateway import openapi_v2
from lambdabox.gateway.openapi_doc import OpenApiError
from lambdabox.testing import LocalLambdabox
from rest_helpers import lambda_uri, send
from test_gateway_jwt import Provider

EVENTS = Path(__file__).parent / "events"
ECHO: dict[str, str | bytes] = {
    "app.py": "import json\ndef handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps(event)}\n"
}


def sam_body(name: str, **values: str) -> dict[str, Any]:
    """A fixture as aws-sam-translator wrote it, its `Fn::Sub`s resolved as the deployer does."""
    text = (EVENTS / name).read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("import") / "data", manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    provider = Provider()
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def fn(lbx: LocalLambdabox) -> str:
    lam = lbx.client("lambda")
    return str(lam.get_function(FunctionName=deploy(lam, ECHO))["Configuration"]["FunctionArn"])


def call(lbx: LocalLambdabox, method: str, target: str, **headers: str) -> tuple[int, dict[str, Any]]:
    status, _, body = send(lbx, method, target, headers=headers)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"raw": body.decode()}


def doc(paths: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": paths, **more}


def proxy(uri: str, version: str = "2.0") -> dict[str, Any]:
    return {"type": "aws_proxy", "httpMethod": "POST", "uri": uri, "payloadFormatVersion": version}


# -- the translation, without a server ----------------------------------------------------------


def test_the_sam_definition_becomes_routes_one_integration_and_a_jwt_authorizer() -> None:
    spec = openapi_v2.read(json.dumps(sam_body("openapi_sam_http_api.json", Issuer="https://idp.example")))
    assert (spec.name, spec.version, spec.tags) == ("sam-stack", "1.0", {"httpapi:createdBy": "SAM"})
    assert spec.cors == {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"]}
    routes = {r.route_key: r for r in spec.routes}
    assert set(routes) == {"GET /secret", "ANY /items/{proxy+}", "GET /hello"}
    assert (routes["GET /secret"].authorization_type, routes["GET /secret"].scopes) == ("JWT", ("read",))
    assert routes["GET /hello"].authorization_type == "NONE"  # SAM's {"NONE": []}
    assert len(spec.integrations) == 1 and len({r.integration for r in spec.routes}) == 1
    assert spec.authorizers["MyJwt"]["JwtConfiguration"] == {
        "Issuer": "https://idp.example",
        "Audience": ["aud1"],
    }
    (default,) = openapi_v2.read(json.dumps(sam_body("openapi_sam_http_api_default.json"))).routes
    assert default.route_key == "$default"


def test_what_the_translation_refuses_and_warns_of() -> None:
    def error(body: Any) -> str:
        with pytest.raises(OpenApiError) as exc:
            openapi_v2.read(body if isinstance(body, str) else json.dumps(body))
        return exc.value.message

    assert error("not: [an api") == "Invalid OpenAPI input."
    assert error({"swagger": "2.0", "info": {"title": "t"}, "paths": {}}) == (
        "HTTP APIs support only the OpenAPI 3.0 specification"
    )
    assert "Multiple security requirements" in error(
        doc({"/a": {"get": {"security": [{"a": []}, {"b": []}]}}})
    )
    assert "not defined" in error(doc({"/a": {"get": {"security": [{"nobody": []}]}}}))
    spec = openapi_v2.read(
        json.dumps(
            doc(
                {"/a": {"get": {"x-amazon-apigateway-integration": {**proxy("x"), "type": "aws"}}}},
                **{"x-amazon-apigateway-request-validators": {}},
            )
        )
    )
    assert spec.routes[0].integration is None and len(spec.warnings) == 2
    # YAML, OpenAPI 3's server base path, and a JWT issuer found from openIdConnectUrl
    yaml_body = (
        "openapi: 3.0.1\ninfo: {title: y, version: '2'}\nservers: [{url: 'https://x.example/{basePath}',"
        " variables: {basePath: {default: v1}}}]\npaths:\n  /p:\n    post:\n      security: [{oidc: [s]}]\n"
        "components:\n  securitySchemes:\n    oidc:\n      type: openIdConnect\n"
        "      openIdConnectUrl: https://idp.example/.well-known/openid-configuration\n"
        "      x-amazon-apigateway-authorizer: {type: jwt, jwtConfiguration: {audience: [a]}}\n"
    )
    spec = openapi_v2.read(yaml_body, "prepend")
    assert spec.routes[0].route_key == "POST /v1/p"
    assert spec.authorizers["oidc"]["JwtConfiguration"]["Issuer"] == "https://idp.example"


# -- through the server ------------------------------------------------------------------------------


def test_the_sam_http_api_serves_jwt_any_and_greedy_routes(
    lbx: LocalLambdabox, fn: str, idp: Provider
) -> None:
    gw = lbx.client("apigatewayv2")
    body = sam_body("openapi_sam_http_api.json", FunctionArn=fn, Issuer=idp.issuer)
    api = gw.import_api(Body=json.dumps(body))
    assert api["ResponseMetadata"]["HTTPStatusCode"] == 201
    api_id = api["ApiId"]
    assert (api["Name"], api["Version"], api["ProtocolType"]) == ("sam-stack", "1.0", "HTTP")
    assert api["Tags"] == {"httpapi:createdBy": "SAM"} and "Warnings" not in api
    assert api["CorsConfiguration"] == {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"]}
    (integration,) = gw.get_integrations(ApiId=api_id)["Items"]
    assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == lambda_uri(fn)
    (authorizer,) = gw.get_authorizers(ApiId=api_id)["Items"]
    assert (authorizer["Name"], authorizer["AuthorizerType"]) == ("MyJwt", "JWT")
    assert authorizer["JwtConfiguration"] == {"Issuer": idp.issuer, "Audience": ["aud1"]}
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    routes = {r["RouteKey"]: r for r in gw.get_routes(ApiId=api_id)["Items"]}
    assert {r["Target"] for r in routes.values()} == {f"integrations/{integration['IntegrationId']}"}
    secret = routes["GET /secret"]
    assert (secret["AuthorizationType"], secret["AuthorizerId"]) == ("JWT", authorizer["AuthorizerId"])
    assert secret["AuthorizationScopes"] == ["read"]
    assert routes["GET /hello"]["AuthorizationType"] == "NONE"
    # the template's AWS::ApiGatewayV2::Stage
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    base = f"/_apis/{api_id}"
    status, event = call(lbx, "GET", f"{base}/hello")
    assert status == 200 and event["routeKey"] == "GET /hello"
    status, event = call(lbx, "DELETE", f"{base}/items/a/b")
    assert status == 200 and event["routeKey"] == "ANY /items/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b"}
    status, _, answer = send(lbx, "GET", f"{base}/secret")
    assert (status, json.loads(answer)) == (401, {"message": "Unauthorized"})
    now = lbx.clock.now()
    status, _ = call(lbx, "GET", f"{base}/secret", Authorization=idp.token(now, aud="aud1", scope="write"))
    assert status == 403  # a valid token without the route's scope
    status, event = call(lbx, "GET", f"{base}/secret", Authorization=idp.token(now, aud="aud1", scope="read"))
    assert status == 200 and event["requestContext"]["authorizer"]["jwt"]["scopes"] == ["read"]

    # reimport without /hello: the route goes, the stage stays and serves the new definition at once
    del body["paths"]["/hello"]
    body["info"]["title"] = "renamed"
    again = gw.reimport_api(ApiId=api_id, Body=json.dumps(body))
    assert (again["ApiId"], again["Name"]) == (api_id, "renamed")
    after = {r["RouteKey"]: r for r in gw.get_routes(ApiId=api_id)["Items"]}
    assert set(after) == {"GET /secret", "ANY /items/{proxy+}"}
    assert after["GET /secret"]["RouteId"] == secret["RouteId"]
    assert [s["StageName"] for s in gw.get_stages(ApiId=api_id)["Items"]] == ["$default"]
    assert send(lbx, "GET", f"{base}/hello")[0] == 404
    assert call(lbx, "GET", f"{base}/items/x")[0] == 200


def test_the_sam_default_route_and_payload_1(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2")
    api_id = gw.import_api(Body=json.dumps(sam_body("openapi_sam_http_api_default.json", FunctionArn=fn)))[
        "ApiId"
    ]
    ((route,),) = [gw.get_routes(ApiId=api_id)["Items"]]
    assert route["RouteKey"] == "$default"
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    status, event = call(lbx, "PATCH", f"/_apis/{api_id}/any/where?q=1")
    assert status == 200 and event["routeKey"] == "$default" and event["rawQueryString"] == "q=1"
    # an integration without payloadFormatVersion (a REST API's export) gets 1.0; a Lambda ARN as uri
    one = {"type": "aws_proxy", "httpMethod": "POST", "uri": fn}
    api_id = gw.import_api(Body=json.dumps(doc({"/v1": {"get": {"x-amazon-apigateway-integration": one}}})))[
        "ApiId"
    ]
    (integration,) = gw.get_integrations(ApiId=api_id)["Items"]
    assert integration["PayloadFormatVersion"] == "1.0"
    gw.create_stage(ApiId=api_id, StageName="dev", AutoDeploy=True)
    status, event = call(lbx, "GET", f"/_apis/{api_id}/dev/v1")
    assert status == 200 and event["version"] == "1.0" and event["resource"] == "/v1"


def test_warnings_errors_and_nothing_left_behind(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2")
    before = len(gw.get_apis()["Items"])
    mixed = doc(
        {
            "/ok": {"get": {"x-amazon-apigateway-integration": proxy(lambda_uri(fn))}},
            "/aws": {"get": {"x-amazon-apigateway-integration": {**proxy(fn), "type": "AWS"}}},
        }
    )
    with pytest.raises(ClientError) as exc:
        gw.import_api(Body=json.dumps(mixed), FailOnWarnings=True)
    code, message, status = aws_error(exc)
    assert (code, status) == ("BadRequestException", 400)
    assert message.startswith("Warnings found during import:\n\tUnsupported integration type AWS")
    api = gw.import_api(Body=json.dumps(mixed))
    assert len(api["Warnings"]) == 1 and "HTTP APIs support only Lambda proxy" in api["Warnings"][0]
    routes = {r["RouteKey"]: r for r in gw.get_routes(ApiId=api["ApiId"])["Items"]}
    assert "Target" not in routes["GET /aws"] and "Target" in routes["GET /ok"]
    for body, wanted in (
        ("{", "Invalid OpenAPI input."),
        (json.dumps({"swagger": "2.0", "info": {"title": "t"}}), "HTTP APIs support only the OpenAPI 3.0"),
        (json.dumps(doc({"/x": {"get": {"x-amazon-apigateway-integration": proxy("arn:aws:s3:::b")}}})),
         "Unable to create integration for route GET /x: Invalid integration URI specified"),
        (json.dumps(doc({"/x": {"get": {"x-amazon-apigateway-integration": {**proxy(fn), "type": "http_proxy"}}}})),
         "lambdabox serves AWS_PROXY integrations to Lambda only"),
        (json.dumps(doc({"bad path": {"get": {}}})), "Unable to create route GET bad path"),
    ):  # fmt: skip
        with pytest.raises(ClientError) as exc:
            gw.import_api(Body=body)
        code, message, _ = aws_error(exc)
        assert code == "BadRequestException" and wanted in message, message
    assert len(gw.get_apis()["Items"]) == before + 1  # the failed imports made nothing
    # a failed reimport leaves the API as it was
    with pytest.raises(ClientError):
        gw.reimport_api(ApiId=api["ApiId"], Body="{")
    assert len(gw.get_routes(ApiId=api["ApiId"])["Items"]) == 2
    with pytest.raises(ClientError) as exc:
        gw.reimport_api(ApiId="nope", Body=json.dumps(mixed))
    assert aws_error(exc)[0] == "NotFoundException"


def test_request_authorizers_and_iam_from_security_schemes(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2")
    integration = {
        "x-amazon-apigateway-integration": {"$ref": "#/components/x-amazon-apigateway-integrations/fn"}
    }
    body = doc(
        {
            "/lambda": {"get": {**integration, "security": [{"custom": []}]}},
            "/iam": {"get": {**integration, "security": [{"sigv4": []}]}},
            "/open": {"get": {**integration, "security": []}},
        },
        security=[{"custom": []}],
        components={
            "x-amazon-apigateway-integrations": {"fn": proxy(lambda_uri(fn))},
            "securitySchemes": {
                "custom": {"type": "apiKey", "name": "Authorization", "in": "header",
                           "x-amazon-apigateway-authorizer": {
                               "type": "request", "identitySource": "$request.header.Authorization",
                               "authorizerUri": lambda_uri(fn), "authorizerPayloadFormatVersion": "2.0",
                               "authorizerResultTtlInSeconds": 300, "enableSimpleResponses": True}},
                "sigv4": {"type": "apiKey", "name": "Authorization", "in": "header",
                          "x-amazon-apigateway-authtype": "awsSigv4"},
            },
        },
    )  # fmt: skip
    api_id = gw.import_api(Body=json.dumps(body))["ApiId"]
    (authorizer,) = gw.get_authorizers(ApiId=api_id)["Items"]
    assert (authorizer["Name"], authorizer["AuthorizerType"], authorizer["EnableSimpleResponses"]) == (
        "custom", "REQUEST", True,
    )  # fmt: skip
    assert authorizer["AuthorizerResultTtlInSeconds"] == 300
    routes = {r["RouteKey"]: r["AuthorizationType"] for r in gw.get_routes(ApiId=api_id)["Items"]}
    assert routes == {"GET /lambda": "CUSTOM", "GET /iam": "AWS_IAM", "GET /open": "NONE"}
    assert len(gw.get_integrations(ApiId=api_id)["Items"]) == 1
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    assert send(lbx, "GET", f"/_apis/{api_id}/lambda")[0] == 401  # no identity: the authorizer is not asked
    assert send(lbx, "GET", f"/_apis/{api_id}/iam")[0] == 403
    assert call(lbx, "GET", f"/_apis/{api_id}/open")[0] == 200
