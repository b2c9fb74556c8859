"""Tags of HTTP APIs and their stages by ARN (TagResource, UntagResource, GetTags), as
CloudFormation tags an API it imported from OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error
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
