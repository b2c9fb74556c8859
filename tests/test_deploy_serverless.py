"""deploy/serverless.py: serverless.yml compiled as the Serverless Framework compiles it (template asserts)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lambdabox.deploy.project import ARTIFACT_BUCKET, Project, ProjectError
from lambdabox.deploy.serverless import compile_serverless

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "express-http-api"


def compile_example(**kw: Any) -> Project:
    if not (EXAMPLE / "node_modules" / "express").is_dir():
        pytest.fail("examples/express-http-api/node_modules is missing: run `make tools`")
    return compile_serverless(
        EXAMPLE / "serverless.yml", stage=kw.get("stage"), region=None, options={}, env=kw.get("env", {})
    )


def project(tmp_path: Path, yml: str, files: dict[str, str] | None = None, **kw: Any) -> Project:
    (tmp_path / "serverless.yml").write_text(yml)
    for rel, text in (
        files if files is not None else {"handler.js": "exports.main = async () => 1;"}
    ).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return compile_serverless(
        tmp_path / "serverless.yml",
        stage=kw.get("stage"),
        region=kw.get("region"),
        options=kw.get("options", {}),
        env=kw.get("env", {}),
    )


def test_example_function_role_and_logs() -> None:
    p = compile_example()
    assert p.stack_name == "express-http-api-dev" and p.region == "us-east-1"
    assert p.problems == []
    res = p.template["Resources"]
    fn = res["ApiLambdaFunction"]
    assert fn["Type"] == "AWS::Lambda::Function"
    props = fn["Properties"]
    assert props["FunctionName"] == "express-http-api-dev-api"
    assert props["Handler"] == "app.handler" and props["Runtime"] == "nodejs20.x"
    assert props["MemorySize"] == 256 and props["Timeout"] == 10
    assert props["Environment"] == {"Variables": {"STAGE": "dev"}}
    assert props["Role"] == {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]}
    assert props["Code"]["S3Bucket"] == ARTIFACT_BUCKET
    assert fn["DependsOn"] == ["ApiLogGroup", "IamRoleLambdaExecution"]
    assert res["ApiLogGroup"]["Properties"] == {"LogGroupName": "/aws/lambda/express-http-api-dev-api"}
    role = res["IamRoleLambdaExecution"]["Properties"]
    assert role["RoleName"] == {
        "Fn::Join": ["-", ["express-http-api", "dev", {"Ref": "AWS::Region"}, "lambdaRole"]]
    }
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": ["lambda.amazonaws.com"]
    }
    versions = [k for k, v in res.items() if v["Type"] == "AWS::Lambda::Version"]
    assert len(versions) == 1 and versions[0].startswith("ApiLambdaVersion")
    assert p.template["Outputs"]["ApiLambdaFunctionQualifiedArn"]["Value"] == {"Ref": versions[0]}


def test_example_artifact() -> None:
    p = compile_example()
    key = p.template["Resources"]["ApiLambdaFunction"]["Properties"]["Code"]["S3Key"]
    artifact = p.artifacts[key]
    assert key == f"{artifact.sha256}.zip"
    names = set(zipfile.ZipFile(io.BytesIO(artifact.zip_bytes)).namelist())
    assert {"app.js", "package.json", "node_modules/express/package.json"} <= names
    assert "node_modules/serverless-http/package.json" in names
    assert "serverless.yml" not in names and "README.md" not in names
    assert p.watch == [EXAMPLE]
    # the same project compiles to the same template and code: a redeploy is a no-op
    again = compile_example()
    assert again.template == p.template and list(again.artifacts) == list(p.artifacts)


def test_example_http_api() -> None:
    p = compile_example()
    res = p.template["Resources"]
    api = res["HttpApi"]
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    assert api["Properties"]["Name"] == "dev-express-http-api"
    assert api["Properties"]["ProtocolType"] == "HTTP"
    cors = api["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["*"]
    assert cors["AllowMethods"] == ["OPTIONS", "GET", "POST"]
    assert "Authorization" in cors["AllowHeaders"] and "Content-Type" in cors["AllowHeaders"]
    assert res["HttpApiStage"]["Properties"] == {
        "ApiId": {"Ref": "HttpApi"},
        "StageName": "$default",
        "AutoDeploy": True,
        "DefaultRouteSettings": {"DetailedMetricsEnabled": False},
    }
    routes = {
        k: v["Properties"]["RouteKey"] for k, v in res.items() if v["Type"] == "AWS::ApiGatewayV2::Route"
    }
    assert routes == {
        "HttpApiRouteGetHello": "GET /hello",
        "HttpApiRouteGetUsersIdVar": "GET /users/{id}",
        "HttpApiRoutePostEcho": "POST /echo",
        "HttpApiRouteGetError": "GET /error",
        "HttpApiRouteGetPrivate": "GET /private",
    }
    hello = res["HttpApiRouteGetHello"]
    assert hello["Properties"]["Target"] == {
        "Fn::Join": ["/", ["integrations", {"Ref": "HttpApiIntegrationApi"}]]
    }
    assert "AuthorizationType" not in hello["Properties"]
    integration = res["HttpApiIntegrationApi"]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["ApiLambdaFunction", "Arn"]}
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["TimeoutInMillis"] == 10500
    permission = res["ApiLambdaPermissionHttpApi"]
    assert permission["Type"] == "AWS::Lambda::Permission"
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    assert permission["Properties"]["FunctionName"] == {"Fn::GetAtt": ["ApiLambdaFunction", "Arn"]}
    outputs = p.template["Outputs"]
    assert outputs["HttpApiId"]["Value"] == {"Ref": "HttpApi"}
    assert "HttpApiUrl" in outputs


def test_example_jwt_authorizer() -> None:
    res = compile_example().template["Resources"]
    auth = res["HttpApiAuthorizerJwtAuth"]
    assert auth["Type"] == "AWS::ApiGatewayV2::Authorizer"
    assert auth["Properties"] == {
        "ApiId": {"Ref": "HttpApi"},
        "Name": "jwtAuth",
        "IdentitySource": ["$request.header.Authorization"],
        "AuthorizerType": "JWT",
        "JwtConfiguration": {"Audience": ["express-http-api"], "Issuer": "http://127.0.0.1:9999"},
    }
    private = res["HttpApiRouteGetPrivate"]["Properties"]
    assert private["AuthorizationType"] == "JWT"
    assert private["AuthorizerId"] == {"Ref": "HttpApiAuthorizerJwtAuth"}
    env = {"JWT_ISSUER": "https://issuer.example", "JWT_AUDIENCE": "aud1"}
    auth = compile_example(env=env).template["Resources"]["HttpApiAuthorizerJwtAuth"]["Properties"]
    assert auth["JwtConfiguration"] == {"Audience": ["aud1"], "Issuer": "https://issuer.example"}


def test_example_other_stage() -> None:
    p = compile_example(stage="prod")
    assert p.stack_name == "express-http-api-prod"
    res = p.template["Resources"]
    assert res["ApiLambdaFunction"]["Properties"]["FunctionName"] == "express-http-api-prod-api"
    assert res["ApiLambdaFunction"]["Properties"]["Environment"]["Variables"]["STAGE"] == "prod"
    assert res["HttpApi"]["Properties"]["Name"] == "prod-express-http-api"


MINIMAL = """\
service: svc
provider:
  name: aws
  runtime: nodejs20.x
functions:
  hello:
    handler: handler.main
"""


def test_defaults_and_names(tmp_path: Path) -> None:
    p = project(tmp_path, MINIMAL, region="eu-west-1")
    props = p.template["Resources"]["HelloLambdaFunction"]["Properties"]
    assert props["FunctionName"] == "svc-dev-hello"
    assert props["MemorySize"] == 1024 and props["Timeout"] == 6
    assert p.stack_name == "svc-dev" and p.region == "eu-west-1"
    assert "HttpApi" not in p.template["Resources"] and "ApiGatewayRestApi" not in p.template["Resources"]


def test_function_settings(tmp_path: Path) -> None:
    yml = """\
service: svc
provider:
  name: aws
  runtime: python3.12
  environment: {SHARED: a, OVER: provider, N: 3}
  tags: {team: x}
  logRetentionInDays: 14
  iam:
    role:
      statements:
        - Effect: Allow
          Action: [dynamodb:GetItem]
          Resource: "*"
functions:
  my-fn_1:
    handler: src/app.handler
    name: custom-name
    description: hi
    memorySize: 512
    timeout: 3
    environment: {OVER: function, FLAG: true}
    layers: [arn:aws:lambda:us-east-1:000000000000:layer:l:1]
    reservedConcurrency: 5
    tags: {fn: y}
"""
    p = project(tmp_path, yml, {"src/app.py": "def handler(e, c): return 1\n"})
    res = p.template["Resources"]
    props = res["MyDashfnUnderscore1LambdaFunction"]["Properties"]
    assert props["FunctionName"] == "custom-name" and props["Description"] == "hi"
    assert props["Environment"]["Variables"] == {"SHARED": "a", "OVER": "function", "N": "3", "FLAG": "true"}
    assert props["Layers"] == ["arn:aws:lambda:us-east-1:000000000000:layer:l:1"]
    assert props["ReservedConcurrentExecutions"] == 5
    assert props["Tags"] == [{"Key": "team", "Value": "x"}, {"Key": "fn", "Value": "y"}]
    assert res["MyDashfnUnderscore1LogGroup"]["Properties"] == {
        "LogGroupName": "/aws/lambda/custom-name",
        "RetentionInDays": 14,
    }
    statements = res["IamRoleLambdaExecution"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statements[-1] == {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "*"}
    assert statements[0]["Action"] == ["logs:CreateLogStream", "logs:CreateLogGroup", "logs:TagResource"]


def test_role_arn_means_no_generated_role(tmp_path: Path) -> None:
    yml = MINIMAL.replace(
        "  runtime: nodejs20.x\n", "  runtime: nodejs20.x\n  iam:\n    role: arn:aws:iam::1:role/r\n"
    )
    res = project(tmp_path, yml).template["Resources"]
    assert "IamRoleLambdaExecution" not in res
    assert res["HelloLambdaFunction"]["Properties"]["Role"] == "arn:aws:iam::1:role/r"


def test_missing_handler_file_names_line_and_key(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as e:
        project(tmp_path, MINIMAL.replace("handler.main", "nothere.main"))
    (problem,) = e.value.problems
    assert str(problem.where) == "serverless.yml:7: functions.hello.handler"
    assert "handler file not found: nothere.js" in problem.message


def test_handler_left_out_by_patterns(tmp_path: Path) -> None:
    yml = MINIMAL + "package:\n  patterns: ['!handler.js']\n"
    with pytest.raises(ProjectError, match=r"left out of the package"):
        project(tmp_path, yml)


def test_missing_handler_and_bad_provider(tmp_path: Path) -> None:
    with pytest.raises(
        ProjectError, match=r"serverless.yml:6: functions.hello.handler: error: handler is required"
    ):
        project(tmp_path, MINIMAL.replace("    handler: handler.main\n", "    memorySize: 128\n"))
    with pytest.raises(ProjectError, match=r"provider 'google' is not supported"):
        project(tmp_path, MINIMAL.replace("name: aws", "name: google"))


def test_unsupported_things_are_warnings_with_lines(tmp_path: Path) -> None:
    yml = """\
service: svc
plugins:
  - serverless-offline
provider:
  name: aws
  runtime: nodejs20.x
  tracing: {lambda: true}
  bogus: 1
functions:
  hello:
    handler: handler.main
    url: true
    events:
      - s3: photos
      - schedule: rate(1 minute)
      - websocket: $connect
      - teleport: {}
"""
    p = project(tmp_path, yml)
    got = [str(w) for w in p.problems]
    assert got == [
        "serverless.yml:3: plugins.0: warning: plugin serverless-offline is not run by lambdabox: ignored",
        "serverless.yml:7: provider.tracing: warning: tracing is not supported by lambdabox and is ignored",
        "serverless.yml:8: provider.bogus: warning: unknown key 'bogus' is ignored",
        "serverless.yml:14: functions.hello.events.0.s3: warning: s3 events are not yet supported by lambdabox: skipped",
        "serverless.yml:15: functions.hello.events.1.schedule: warning: schedule events are not yet supported by lambdabox: skipped",
        "serverless.yml:16: functions.hello.events.2.websocket: warning: websocket events are not yet supported by lambdabox: skipped",
        "serverless.yml:17: functions.hello.events.3.teleport: warning: unknown event type 'teleport': skipped",
    ]
    assert all(w.level == "warning" for w in p.problems)


def test_resources_merged(tmp_path: Path) -> None:
    yml = (
        MINIMAL
        + """\
resources:
  Conditions:
    IsProd: !Equals ["${sls:stage}", prod]
  Resources:
    Table:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: ${self:service}-table
    HelloLogGroup:
      Properties:
        RetentionInDays: 3
  Outputs:
    TableName:
      Value: !Ref Table
  extensions:
    HelloLambdaFunction:
      Properties:
        Environment:
          Variables:
            X: "1"
      DependsOn: [Table]
"""
    )
    t = project(tmp_path, yml).template
    assert t["Conditions"] == {"IsProd": {"Fn::Equals": ["dev", "prod"]}}
    assert t["Resources"]["Table"]["Properties"]["TableName"] == "svc-table"
    assert t["Resources"]["HelloLogGroup"]["Properties"] == {
        "LogGroupName": "/aws/lambda/svc-dev-hello",
        "RetentionInDays": 3,
    }
    assert t["Outputs"]["TableName"] == {"Value": {"Ref": "Table"}}
    fn = t["Resources"]["HelloLambdaFunction"]
    assert fn["Properties"]["Environment"] == {"Variables": {"X": "1"}}
    assert fn["DependsOn"] == ["HelloLogGroup", "IamRoleLambdaExecution", "Table"]


def test_individual_packages(tmp_path: Path) -> None:
    yml = """\
service: svc
provider: {name: aws, runtime: nodejs20.x}
package:
  individually: true
  patterns: ['!**', 'shared/**']
functions:
  a:
    handler: a/index.main
    package: {patterns: ['a/**']}
  b:
    handler: b/index.main
    package: {patterns: ['b/**']}
"""
    files = {"a/index.js": "", "b/index.js": "", "shared/x.js": "", "other.js": ""}
    p = project(tmp_path, yml, files)
    res = p.template["Resources"]

    def names(fn: str) -> list[str]:
        key = res[fn]["Properties"]["Code"]["S3Key"]
        return sorted(zipfile.ZipFile(io.BytesIO(p.artifacts[key].zip_bytes)).namelist())

    assert names("ALambdaFunction") == ["a/index.js", "shared/x.js"]
    assert names("BLambdaFunction") == ["b/index.js", "shared/x.js"]
    assert len(p.artifacts) == 2


def test_missing_node_modules_is_an_error(tmp_path: Path) -> None:
    files = {"handler.js": "", "package.json": '{"dependencies": {"express": "^5"}}'}
    with pytest.raises(ProjectError, match=r"node_modules is missing express"):
        project(tmp_path, MINIMAL, files)
