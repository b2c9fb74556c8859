"""compile_sam: SAM / CloudFormation templates -> the plain CloudFormation the engine deploys.

Pure tests (no server): each writes a template and its code to a directory and asserts on the
compiled template, its artifacts and its problems, as `sam deploy` would hand them to CloudFormation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdabox.deploy.project import ARTIFACT_BUCKET, ProjectError
from sam_helpers import FUNCTION, compile_, errors, names, resources, write


def test_function_with_globals_and_http_api_events(tmp_path: Path) -> None:
    project = compile_(write(tmp_path / "my-app", FUNCTION))
    assert project.stack_name == "my-app"  # the project directory's name
    assert "Transform" not in project.template
    fn = resources(project)["Hello"]
    assert fn["Type"] == "AWS::Lambda::Function"
    props = fn["Properties"]
    assert props["Runtime"] == "python3.12" and props["Handler"] == "app.handler"
    assert props["MemorySize"] == 256 and props["Timeout"] == 7
    assert props["Environment"] == {"Variables": {"STAGE": "dev"}}
    assert props["Role"] == {"Fn::GetAtt": ["HelloRole", "Arn"]}
    key = props["Code"]["S3Key"]
    assert props["Code"] == {"S3Bucket": ARTIFACT_BUCKET, "S3Key": key}
    artifact = project.artifacts[key]
    assert key == f"{artifact.sha256}.zip" and names(artifact.zip_bytes) == ["app.py"]
    assert project.watch == [(tmp_path / "my-app" / "src").resolve()]

    role = resources(project)["HelloRole"]["Properties"]
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]

    api = resources(project)["ServerlessHttpApi"]
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    paths = api["Properties"]["Body"]["paths"]
    assert set(paths) == {"/hello", "/items/{id}"}
    integration = paths["/hello"]["get"]["x-amazon-apigateway-integration"]
    assert integration["payloadFormatVersion"] == "2.0" and integration["type"] == "aws_proxy"
    assert "${Hello.Arn}" in integration["uri"]["Fn::Sub"]
    assert "post" in paths["/items/{id}"]
    stage = resources(project)["ServerlessHttpApiApiGatewayDefaultStage"]["Properties"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    permissions = resources(project, "AWS::Lambda::Permission")
    assert {p["Properties"]["Principal"] for p in permissions.values()} == {"apigateway.amazonaws.com"}
    assert len(permissions) == 2
    assert project.problems == []


def test_rest_api_events_make_the_implicit_serverless_rest_api(tmp_path: Path) -> None:
    path = write(
        tmp_path / "rest",
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src
              Handler: app.handler
              Runtime: python3.11
              Events:
                Get: {Type: Api, Properties: {Path: "/things/{id}", Method: get}}
        """,
    )
    project = compile_(path)
    api = resources(project)["ServerlessRestApi"]
    assert api["Type"] == "AWS::ApiGateway::RestApi"
    assert "get" in api["Properties"]["Body"]["paths"]["/things/{id}"]
    stage = resources(project, "AWS::ApiGateway::Stage")
    assert [s["Properties"]["StageName"] for s in stage.values()] == ["Prod"]
    assert len(resources(project, "AWS::ApiGateway::Deployment")) == 1


def test_explicit_rest_api_with_stage_cors_and_lambda_authorizer(tmp_path: Path) -> None:
    path = write(
        tmp_path / "rest",
        """
        Globals:
          Api:
            Cors: "'*'"
        Resources:
          MyApi:
            Type: AWS::Serverless::Api
            Properties:
              StageName: dev
              Auth:
                DefaultAuthorizer: TokenAuth
                Authorizers:
                  TokenAuth:
                    FunctionArn: !GetAtt AuthFn.Arn
          AuthFn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src, Handler: app.handler, Runtime: python3.12}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src
              Handler: app.handler
              Runtime: python3.12
              Events:
                Get: {Type: Api, Properties: {Path: /private, Method: get, RestApiId: !Ref MyApi}}
        """,
    )
    project = compile_(path)
    body = resources(project)["MyApi"]["Properties"]["Body"]
    assert "options" in body["paths"]["/private"]  # the CORS preflight method SAM adds
    assert body["paths"]["/private"]["get"]["security"] == [{"TokenAuth": []}]
    authorizer = body["securityDefinitions"]["TokenAuth"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token"
    assert authorizer["authorizerUri"]["Fn::Sub"][1] == {"__FunctionArn__": {"Fn::GetAtt": ["AuthFn", "Arn"]}}
    stages = resources(project, "AWS::ApiGateway::Stage")
    assert [s["Properties"]["StageName"] for s in stages.values()] == ["dev"]
    assert "ServerlessRestApi" not in resources(project)
    # one artifact for the two functions of one directory
    assert len(project.artifacts) == 1


def test_explicit_http_api_with_jwt_and_lambda_authorizers_and_cors(tmp_path: Path) -> None:
    path = write(
        tmp_path / "http",
        """
        Globals:
          HttpApi:
            CorsConfiguration:
              AllowOrigins: ["https://example.com"]
              AllowMethods: [GET, POST]
        Resources:
          Api:
            Type: AWS::Serverless::HttpApi
            Properties:
              StageName: v1
              Auth:
                DefaultAuthorizer: Jwt
                Authorizers:
                  Jwt:
                    IdentitySource: $request.header.Authorization
                    JwtConfiguration:
                      issuer: https://issuer.example.com
                      audience: [my-client]
                  Custom:
                    FunctionArn: !GetAtt AuthFn.Arn
                    AuthorizerPayloadFormatVersion: "2.0"
                    EnableSimpleResponses: true
                    Identity: {Headers: [X-Token]}
          AuthFn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src, Handler: app.handler, Runtime: python3.12}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src
              Handler: app.handler
              Runtime: python3.12
              Events:
                Me:
                  Type: HttpApi
                  Properties: {ApiId: !Ref Api, Path: /me, Method: GET}
                Admin:
                  Type: HttpApi
                  Properties:
                    ApiId: !Ref Api
                    Path: /admin
                    Method: POST
                    Auth: {Authorizer: Custom}
                Open:
                  Type: HttpApi
                  Properties:
                    ApiId: !Ref Api
                    Path: /open
                    Method: GET
                    Auth: {Authorizer: NONE}
        """,
    )
    project = compile_(path)
    api = resources(project)["Api"]["Properties"]
    assert api["Body"]["x-amazon-apigateway-cors"]["allowOrigins"] == ["https://example.com"]
    schemes = api["Body"]["components"]["securitySchemes"]
    assert (
        schemes["Jwt"]["x-amazon-apigateway-authorizer"]["jwtConfiguration"]["issuer"]
        == "https://issuer.example.com"
    )
    custom = schemes["Custom"]["x-amazon-apigateway-authorizer"]
    assert custom["type"] == "request" and custom["enableSimpleResponses"] is True
    paths = api["Body"]["paths"]
    assert paths["/me"]["get"]["security"] == [{"Jwt": []}]
    assert paths["/admin"]["post"]["security"] == [{"Custom": []}]
    assert paths["/open"]["get"]["security"] == [{"NONE": []}]  # SAM's way of saying: no authorizer
    stages = resources(project, "AWS::ApiGatewayV2::Stage")
    assert [s["Properties"]["StageName"] for s in stages.values()] == ["v1"]
    assert "ServerlessHttpApi" not in resources(project)


ALIAS = """
Parameters:
  Alias: {Type: String, Default: live}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      AutoPublishAlias: !Ref Alias
"""


def test_auto_publish_alias_is_stable_until_the_code_changes(tmp_path: Path) -> None:
    path = write(tmp_path / "alias", ALIAS)
    first = compile_(path)
    versions = resources(first, "AWS::Lambda::Version")
    assert len(versions) == 1
    [version_id] = versions
    assert version_id.startswith("FnVersion")
    alias = resources(first)["FnAliaslive"]
    assert alias["Type"] == "AWS::Lambda::Alias"
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}

    assert compile_(path).template == first.template  # a no-op redeploy plans nothing

    (tmp_path / "alias" / "src" / "app.py").write_text("def handler(e, c):\n    return {'v': 2}\n")
    changed = compile_(path)
    assert list(resources(changed, "AWS::Lambda::Version")) != [version_id]


def test_parameters_defaults_given_values_and_checks(tmp_path: Path) -> None:
    path = write(
        tmp_path / "params",
        """
        Parameters:
          Runtime: {Type: String, Default: python3.11, AllowedValues: [python3.11, python3.12]}
          Memory: {Type: Number, Default: 512}
          Name: {Type: String}
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src
              Handler: app.handler
              Runtime: !Ref Runtime
              MemorySize: !Ref Memory
              FunctionName: !Sub "${AWS::StackName}-${Name}"
        """,
    )
    project = compile_(path, parameters={"Name": "fn", "Runtime": "python3.12"})
    assert project.parameters == {"Runtime": "python3.12", "Memory": "512", "Name": "fn"}
    props = resources(project)["Fn"]["Properties"]
    assert props["Runtime"] == {"Ref": "Runtime"}  # resolved by the engine, as CloudFormation does
    assert "Parameters" in project.template

    with pytest.raises(ProjectError) as e:
        compile_(path, parameters={})
    assert errors(e) == ["template.yaml:4: Parameters: error: Parameters: ['Name'] must have values"]
    with pytest.raises(ProjectError) as e:
        compile_(path, parameters={"Name": "x", "Nope": "1"})
    assert errors(e) == [
        "template.yaml:4: Parameters: error: Parameters: ['Nope'] do not exist in the template"
    ]
    with pytest.raises(ProjectError) as e:
        compile_(path, parameters={"Name": "x", "Runtime": "ruby3.3"})
    assert errors(e) == [
        "template.yaml:5: Parameters.Runtime: error: Parameter 'Runtime' must be one of AllowedValues"
    ]


def test_policies_managed_names_templates_and_statements(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pol",
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src
              Handler: app.handler
              Runtime: python3.12
              Policies:
                - AWSLambdaVPCAccessExecutionRole
                - AmazonS3ReadOnlyAccess
                - DynamoDBReadPolicy: {TableName: items}
                - Statement:
                    - Effect: Allow
                      Action: sqs:SendMessage
                      Resource: !Sub "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:q"
        """,
    )
    role = resources(compile_(path))["FnRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    ]
    [template_policy, inline] = role["Policies"]
    assert "dynamodb:GetItem" in template_policy["PolicyDocument"]["Statement"][0]["Action"]
    assert inline["PolicyDocument"]["Statement"][0]["Action"] == "sqs:SendMessage"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": ["lambda.amazonaws.com"]
    }

    china = resources(compile_(path, region="cn-north-1"))["FnRole"]["Properties"]
    assert (
        china["ManagedPolicyArns"][0] == "arn:aws-cn:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    )


def test_cloudformation_resources_conditions_and_outputs_pass_through(tmp_path: Path) -> None:
    path = write(
        tmp_path / "cfn",
        """
        Parameters:
          Env: {Type: String, Default: dev}
        Conditions:
          IsProd: !Equals [!Ref Env, prod]
        Resources:
          Role:
            Type: AWS::IAM::Role
            Properties:
              AssumeRolePolicyDocument:
                Version: 2012-10-17
                Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
          Plain:
            Type: AWS::Lambda::Function
            Properties:
              Code: ./src
              Handler: app.handler
              Runtime: python3.12
              Role: !GetAtt Role.Arn
              MemorySize: !If [IsProd, 1024, 128]
          Sam:
            Type: AWS::Serverless::Function
            Condition: IsProd
            Properties: {CodeUri: src, Handler: app.handler, Runtime: python3.12, Role: !GetAtt Role.Arn}
        Outputs:
          PlainArn:
            Value: !GetAtt Plain.Arn
        """,
    )
    project = compile_(path)
    plain = resources(project)["Plain"]["Properties"]
    assert plain["Code"]["S3Bucket"] == ARTIFACT_BUCKET and plain["Code"]["S3Key"] in project.artifacts
    assert plain["MemorySize"] == {"Fn::If": ["IsProd", 1024, 128]}
    assert resources(project)["Role"]["Properties"]["AssumeRolePolicyDocument"]["Version"] == "2012-10-17"
    assert resources(project)["Sam"]["Condition"] == "IsProd"
    assert "SamRole" not in resources(project)  # a Role given: SAM makes none
    assert project.template["Conditions"] == {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}}
    assert project.template["Outputs"] == {"PlainArn": {"Value": {"Fn::GetAtt": ["Plain", "Arn"]}}}
    assert len(project.artifacts) == 1  # both functions: one directory, one runtime


def test_plain_cloudformation_without_transform(tmp_path: Path) -> None:
    path = write(
        tmp_path / "plain",
        """
        Resources:
          Fn:
            Type: AWS::Lambda::Function
            Properties: {Code: src, Handler: app.handler, Runtime: python3.12, Role: arn:aws:iam::000000000000:role/r}
        """,
        header=False,
    )
    project = compile_(path)
    assert project.template["Resources"]["Fn"]["Properties"]["Code"]["S3Bucket"] == ARTIFACT_BUCKET


def test_default_code_uri_is_the_template_directory(tmp_path: Path) -> None:
    path = write(
        tmp_path / "flat",
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {Handler: app.handler, Runtime: python3.12}
        """,
        code={"app.py": "def handler(e, c):\n    return 1\n", ".aws-sam/build/x": "", "samconfig.toml": ""},
    )
    project = compile_(path, stack_name="other")
    assert project.stack_name == "other"
    [artifact] = project.artifacts.values()
    assert names(artifact.zip_bytes) == ["app.py"]  # not the template, SAM's build dir, samconfig.toml


def test_layers_and_build_methods(tmp_path: Path) -> None:
    path = write(
        tmp_path / "layers",
        """
        Resources:
          Shared:
            Type: AWS::Serverless::LayerVersion
            Properties: {ContentUri: layer/, CompatibleRuntimes: [python3.12]}
          Plain:
            Type: AWS::Lambda::LayerVersion
            Properties: {Content: layer}
          Fn:
            Type: AWS::Serverless::Function
            Metadata: {BuildMethod: esbuild}
            Properties: {CodeUri: src, Handler: app.handler, Runtime: nodejs20.x, Layers: [!Ref Shared]}
        """,
        code={"src/app.js": "exports.handler = async () => 1;\n", "layer/python/lib.py": "X = 1\n"},
    )
    project = compile_(path)
    [layer_id] = [k for k, v in resources(project).items() if k.startswith("Shared")]
    content = resources(project)[layer_id]["Properties"]["Content"]
    assert content["S3Bucket"] == ARTIFACT_BUCKET
    assert names(project.artifacts[content["S3Key"]].zip_bytes) == ["python/lib.py"]
    assert resources(project)["Plain"]["Properties"]["Content"] == content  # one directory, one artifact
    assert resources(project)["Fn"]["Properties"]["Layers"] == [{"Ref": layer_id}]
    assert [str(p) for p in project.problems] == [
        "template.yaml:13: Resources.Fn.Metadata.BuildMethod: warning: BuildMethod esbuild is not supported: "
        "the code directory is packaged as it is"
    ]


def test_unsupported_events_are_warnings_and_left_out(tmp_path: Path) -> None:
    path = write(
        tmp_path / "events",
        """
        Resources:
          Queue:
            Type: AWS::SQS::Queue
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src
              Handler: app.handler
              Runtime: python3.12
              Events:
                FromStream:
                  Type: Kinesis
                  Properties: {Stream: arn:aws:kinesis:us-east-1:123456789012:stream/s, StartingPosition: LATEST}
                Nightly:
                  Type: Schedule
                  Properties: {Schedule: rate(1 day)}
                Get:
                  Type: HttpApi
                  Properties: {Path: /, Method: GET}
          Other:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src
              Handler: app.handler
              Runtime: python3.12
              Events:
                Bus: {Type: EventBridgeRule, Properties: {Pattern: {source: [x]}}}
        """,
    )
    project = compile_(path)
    assert [str(p) for p in project.problems] == [
        "template.yaml:14: Resources.Fn.Properties.Events.FromStream: warning: event type Kinesis is not yet supported: not deployed",
        "template.yaml:17: Resources.Fn.Properties.Events.Nightly: warning: event type Schedule is not yet supported: not deployed",
        "template.yaml:30: Resources.Other.Properties.Events.Bus: warning: event type EventBridgeRule is not yet supported: not deployed",
    ]
    kinds = {r["Type"] for r in resources(project).values()}
    assert "AWS::Lambda::EventSourceMapping" not in kinds and "AWS::Events::Rule" not in kinds
    assert "AWS::SQS::Queue" in kinds  # a CloudFormation resource is the engine's to judge
    assert "ServerlessHttpApi" in resources(project)


def test_unsupported_serverless_types_are_warnings(tmp_path: Path) -> None:
    path = write(
        tmp_path / "types",
        """
        Resources:
          Table:
            Type: AWS::Serverless::SimpleTable
          Nested:
            Type: AWS::Serverless::Application
            Properties:
              Location: {ApplicationId: arn:aws:serverlessrepo:us-east-1:123456789012:applications/x, SemanticVersion: 1.0.0}
        """,
    )
    project = compile_(path)
    assert [str(p) for p in project.problems] == [
        "template.yaml:5: Resources.Table: warning: AWS::Serverless::SimpleTable is not yet supported: its resources may not deploy",
        "template.yaml:7: Resources.Nested: warning: AWS::Serverless::Application is not yet supported: not deployed",
    ]
    assert [r["Type"] for r in resources(project).values()] == ["AWS::DynamoDB::Table"]
