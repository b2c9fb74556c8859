"""serverless.yml http (REST API) and httpApi events: the Framework's resources and logical ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lambdabox.deploy.project import ProjectError
from lambdabox.deploy.serverless import compile_serverless

HEAD = "service: svc\nprovider:\n  name: aws\n  runtime: nodejs20.x\n"


def resources(tmp_path: Path, yml: str) -> dict[str, Any]:
    (tmp_path / "serverless.yml").write_text(yml)
    for name in ("handler", "auth"):
        (tmp_path / f"{name}.js").write_text("exports.main = async () => 1;")
    p = compile_serverless(tmp_path / "serverless.yml", stage=None, region=None, options={}, env={})
    res: dict[str, Any] = p.template["Resources"]
    res["__outputs"] = p.template["Outputs"]
    return res


REST = (
    HEAD
    + """\
  apiGateway:
    apiKeys: [free-key, {name: paid, value: abcdefghijklmnopqrstu}]
    usagePlan:
      quota: {limit: 100, period: DAY}
      throttle: {burstLimit: 5, rateLimit: 2}
    binaryMediaTypes: ['image/png']
functions:
  users:
    handler: handler.main
    events:
      - http: GET users
      - http:
          path: users/{id}
          method: get
          cors: true
          private: true
      - http:
          path: /
          method: any
  secured:
    handler: handler.main
    events:
      - http:
          path: users/{id}/secret
          method: post
          authorizer: auth
  auth:
    handler: auth.main
"""
)


def test_rest_api_resources_and_methods(tmp_path: Path) -> None:
    res = resources(tmp_path, REST)
    api = res["ApiGatewayRestApi"]["Properties"]
    assert api["Name"] == "dev-svc" and api["BinaryMediaTypes"] == ["image/png"]
    assert api["EndpointConfiguration"] == {"Types": ["EDGE"]}
    assert res["ApiGatewayResourceUsers"]["Properties"] == {
        "ParentId": {"Fn::GetAtt": ["ApiGatewayRestApi", "RootResourceId"]},
        "PathPart": "users",
        "RestApiId": {"Ref": "ApiGatewayRestApi"},
    }
    assert res["ApiGatewayResourceUsersIdVar"]["Properties"]["ParentId"] == {"Ref": "ApiGatewayResourceUsers"}
    assert res["ApiGatewayResourceUsersIdVar"]["Properties"]["PathPart"] == "{id}"
    assert res["ApiGatewayResourceUsersIdVarSecret"]["Properties"]["ParentId"] == {
        "Ref": "ApiGatewayResourceUsersIdVar"
    }
    get = res["ApiGatewayMethodUsersGet"]["Properties"]
    assert (
        get["HttpMethod"] == "GET" and get["AuthorizationType"] == "NONE" and get["ApiKeyRequired"] is False
    )
    assert get["Integration"]["Type"] == "AWS_PROXY" and get["Integration"]["IntegrationHttpMethod"] == "POST"
    assert get["ResourceId"] == {"Ref": "ApiGatewayResourceUsers"}
    assert res["ApiGatewayMethodUsersIdVarGet"]["Properties"]["ApiKeyRequired"] is True
    root = res["ApiGatewayMethodAny"]["Properties"]
    assert root["HttpMethod"] == "ANY"
    assert root["ResourceId"] == {"Fn::GetAtt": ["ApiGatewayRestApi", "RootResourceId"]}
    assert res["ApiGatewayMethodUsersGet"]["DependsOn"] == ["UsersLambdaPermissionApiGateway"]
    perm = res["UsersLambdaPermissionApiGateway"]["Properties"]
    assert perm["Principal"] == "apigateway.amazonaws.com"
    assert perm["SourceArn"]["Fn::Join"][1][-1] == "/*/*"


def test_rest_api_cors_authorizer_deployment_keys(tmp_path: Path) -> None:
    res = resources(tmp_path, REST)
    options = res["ApiGatewayMethodUsersIdVarOptions"]["Properties"]
    assert options["HttpMethod"] == "OPTIONS" and options["Integration"]["Type"] == "MOCK"
    params = options["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
    assert params["method.response.header.Access-Control-Allow-Origin"] == "'*'"
    assert params["method.response.header.Access-Control-Allow-Methods"] == "'OPTIONS,GET'"
    secret = res["ApiGatewayMethodUsersIdVarSecretPost"]
    assert secret["Properties"]["AuthorizationType"] == "CUSTOM"
    assert secret["Properties"]["AuthorizerId"] == {"Ref": "AuthApiGatewayAuthorizer"}
    assert "AuthApiGatewayAuthorizer" in secret["DependsOn"]
    auth = res["AuthApiGatewayAuthorizer"]["Properties"]
    assert auth["Type"] == "TOKEN" and auth["IdentitySource"] == "method.request.header.Authorization"
    assert auth["AuthorizerResultTtlInSeconds"] == 300
    assert "AuthLambdaPermissionApiGateway" in res
    (deployment,) = [
        k for k, v in res.items() if k != "__outputs" and v["Type"] == "AWS::ApiGateway::Deployment"
    ]
    assert deployment.startswith("ApiGatewayDeployment")
    assert res[deployment]["Properties"] == {"RestApiId": {"Ref": "ApiGatewayRestApi"}, "StageName": "dev"}
    assert "ApiGatewayMethodUsersGet" in res[deployment]["DependsOn"]
    assert res["ApiGatewayApiKey1"]["Properties"]["Name"] == "free-key"
    assert res["ApiGatewayApiKey2"]["Properties"]["Value"] == "abcdefghijklmnopqrstu"
    assert res["ApiGatewayApiKey1"]["Properties"]["StageKeys"] == [
        {"RestApiId": {"Ref": "ApiGatewayRestApi"}, "StageName": "dev"}
    ]
    plan = res["ApiGatewayUsagePlan"]["Properties"]
    assert plan["Quota"] == {"Limit": 100, "Period": "DAY"} and plan["Throttle"] == {
        "BurstLimit": 5,
        "RateLimit": 2,
    }
    assert res["ApiGatewayUsagePlanKey2"]["Properties"]["KeyId"] == {"Ref": "ApiGatewayApiKey2"}
    endpoint = res["__outputs"]["ServiceEndpoint"]["Value"]["Fn::Join"][1]
    assert endpoint[-1] == "/dev"
    # unchanged API: the same deployment; a new method: a new one
    assert deployment in resources(tmp_path, REST)
    assert deployment not in resources(
        tmp_path, REST.replace("      - http: GET users\n", "      - http: PUT users\n")
    )


def test_http_api_default_route_and_request_authorizer(tmp_path: Path) -> None:
    yml = (
        HEAD
        + """\
  httpApi:
    payload: '1.0'
    cors:
      allowedOrigins: [https://a.example]
      allowCredentials: true
      maxAge: 60
    authorizers:
      custom:
        type: request
        functionName: auth
        enableSimpleResponses: true
        identitySource: [$request.header.Authorization]
        resultTtlInSeconds: 30
functions:
  proxy:
    handler: handler.main
    timeout: 40
    events:
      - httpApi: '*'
      - httpApi:
          method: '*'
          path: /any/{proxy+}
          authorizer: {name: custom}
  auth:
    handler: auth.main
"""
    )
    res = resources(tmp_path, yml)
    assert res["HttpApiRouteDefault"]["Properties"]["RouteKey"] == "$default"
    route = res["HttpApiRouteAnyAnyProxyVar"]["Properties"]
    assert route["RouteKey"] == "ANY /any/{proxy+}"
    assert route["AuthorizationType"] == "CUSTOM" and route["AuthorizerId"] == {
        "Ref": "HttpApiAuthorizerCustom"
    }
    auth = res["HttpApiAuthorizerCustom"]["Properties"]
    assert auth["AuthorizerType"] == "REQUEST" and auth["EnableSimpleResponses"] is True
    assert auth["AuthorizerPayloadFormatVersion"] == "2.0" and auth["AuthorizerResultTtlInSeconds"] == 30
    assert "CustomLambdaAuthorizerPermissionHttpApi" in res
    integration = res["HttpApiIntegrationProxy"]["Properties"]
    assert integration["PayloadFormatVersion"] == "1.0" and integration["TimeoutInMillis"] == 29000
    cors = res["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["https://a.example"] and cors["AllowCredentials"] is True
    assert cors["MaxAge"] == 60
    assert cors["AllowMethods"] == ["OPTIONS", "GET", "POST", "PUT", "PATCH", "HEAD", "DELETE"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("httpApi: GET hello", "must be '*' or 'METHOD /path'"),
        ("httpApi: {path: /x}", 'needs a "method"'),
        ("httpApi: {method: FETCH, path: /x}", "method 'FETCH'"),
        ("httpApi: {method: GET, path: /x, authorizer: {name: nope}}", "authorizer 'nope' is not configured"),
        ("http: {path: x}", 'needs "path" and "method"'),
    ],
)
def test_bad_events(tmp_path: Path, event: str, message: str) -> None:
    yml = HEAD + f"functions:\n  hello:\n    handler: handler.main\n    events:\n      - {event}\n"
    with pytest.raises(ProjectError) as e:
        resources(tmp_path, yml)
    assert message in str(e.value)
    assert e.value.problems[0].where.line == 9
    assert str(e.value.problems[0].where.key).startswith("functions.hello.events.0")


def test_duplicate_http_api_route(tmp_path: Path) -> None:
    yml = (
        HEAD
        + "functions:\n  a:\n    handler: handler.main\n    events: [{httpApi: GET /x}]\n"
        + "  b:\n    handler: handler.main\n    events: [{httpApi: GET /x}]\n"
    )
    with pytest.raises(ProjectError, match=r"duplicate route 'GET /x' \(also in function a\)"):
        resources(tmp_path, yml)
