"""Tags of HTTP APIs and their stages by ARN (TagResource, UntagResource, GetTags), as
CloudFormation tags an API it imported from OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy
from lambdabox.testing import LocalLambdabox


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("tags") / "data") as server:
        yield server


def test_tags_of_apis_and_stages_by_arn(lbx: LocalLambdabox) -> None:
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="t", ProtocolType="HTTP", Tags={"a": "1"})["ApiId"]
    gw.create_stage(ApiId=api_id, StageName="dev")
    arn = f"arn:aws:apigateway:us-east-1::/apis/{api_id}"
    gw.tag_resource(ResourceArn=arn, Tags={"b": "2", "aws:cloudformation:stack-name": "s"})
    assert gw.get_tags(ResourceArn=arn)["Tags"] == {"a": "1", "b": "2", "aws:cloudformation:stack-name": "s"}
    assert gw.get_api(ApiId=api_id)["Tags"]["b"] == "2"
    gw.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert gw.get_tags(ResourceArn=arn)["Tags"] == {"b": "2", "aws:cloudformation:stack-name": "s"}
    gw.tag_resource(ResourceArn=f"{arn}/stages/dev", Tags={"s": "x"})
    assert gw.get_tags(ResourceArn=f"{arn}/stages/dev")["Tags"] == {"s": "x"}
    assert gw.get_stage(ApiId=api_id, StageName="dev")["Tags"] == {"s": "x"}
    for bad_arn, code in (
        ("arn:aws:apigateway:us-east-1::/apis/nope", "NotFoundException"),
        (f"{arn}/stages/nope", "NotFoundException"),
        ("not-an-arn", "BadRequestException"),
    ):
        with pytest.raises(ClientError) as exc:
            gw.get_tags(ResourceArn=bad_arn)
        assert aws_error(exc)[0] == code


def test_tags_of_rest_apis_and_stages_by_arn(lbx: LocalLambdabox) -> None:
    gw = lbx.client("apigateway")
    api_id = gw.create_rest_api(name="t", tags={"a": "1"})["id"]
    root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
    gw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    gw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    gw.create_deployment(restApiId=api_id, stageName="dev")
    arn = f"arn:aws:apigateway:us-east-1::/restapis/{api_id}"
    gw.tag_resource(resourceArn=arn, tags={"b": "2"})
    assert gw.get_tags(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    assert gw.get_rest_api(restApiId=api_id)["tags"] == {"a": "1", "b": "2"}
    gw.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert gw.get_tags(resourceArn=arn)["tags"] == {"b": "2"}
    gw.tag_resource(resourceArn=f"{arn}/stages/dev", tags={"s": "x"})
    assert gw.get_stage(restApiId=api_id, stageName="dev")["tags"] == {"s": "x"}
    with pytest.raises(ClientError) as exc:
        gw.get_tags(resourceArn="arn:aws:apigateway:us-east-1::/restapis/nope")
    assert aws_error(exc)[0] == "NotFoundException"


def test_aws_tag_keys_are_reserved_but_cloudformation_s(lbx: LocalLambdabox) -> None:
    v2, v1, lam = lbx.client("apigatewayv2"), lbx.client("apigateway"), lbx.client("lambda")
    message = "Invalid tag key. Tag keys cannot start with 'aws:' (case insensitive)"
    with pytest.raises(ClientError) as exc:
        v2.create_api(Name="t", ProtocolType="HTTP", Tags={"AWS:owner": "me"})
    assert aws_error(exc) == ("BadRequestException", message, 400)
    with pytest.raises(ClientError) as exc:
        v1.create_rest_api(name="t", tags={"aws:x": "1"})
    assert aws_error(exc) == ("BadRequestException", message, 400)
    api_id = v2.create_api(Name="t", ProtocolType="HTTP", Tags={"aws:cloudformation:stack-name": "s"})[
        "ApiId"
    ]
    with pytest.raises(ClientError) as exc:
        v2.tag_resource(ResourceArn=f"arn:aws:apigateway:us-east-1::/apis/{api_id}", Tags={"aws:x": "1"})
    assert aws_error(exc)[0] == "BadRequestException"
    name = deploy(lam, {"app.py": "def handler(e, c):\n    return 1\n"})
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    with pytest.raises(ClientError) as exc:
        lam.tag_resource(Resource=arn, Tags={"aws:x": "1"})
    assert aws_error(exc)[0::2] == ("InvalidParameterValueException", 400)
    lam.tag_resource(Resource=arn, Tags={"aws:cloudformation:logical-id": "Fn"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"aws:cloudformation:logical-id": "Fn"}
