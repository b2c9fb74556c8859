"""CloudFormation's own tags (`aws:cloudformation:*`), which lambdabox's deployer sets on a stack's
resources in CloudFormation's place, are accepted where other `aws:` tag keys are refused (IAM,
CloudWatch Logs), as AWS accepts them from CloudFormation."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from conftest import Server, aws_error, unique

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})  # fmt: skip
CFN = [
    {"Key": "aws:cloudformation:stack-name", "Value": "s"},
    {"Key": "aws:cloudformation:logical-id", "Value": "R"},
]


def test_iam_roles_take_cloudformation_tags_only(server: Server) -> None:
    iam = server.client("iam")
    name = unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Tags=CFN)
    assert iam.list_role_tags(RoleName=name)["Tags"] == CFN
    iam.tag_role(RoleName=name, Tags=[{"Key": "aws:cloudformation:stack-id", "Value": "x"}])
    with pytest.raises(ClientError) as exc:
        iam.tag_role(RoleName=name, Tags=[{"Key": "aws:other", "Value": "x"}])
    assert aws_error(exc)[0] == "InvalidInput"
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=TRUST,
                        Tags=[{"Key": "AWS:cloudformationx", "Value": "x"}])  # fmt: skip
    assert aws_error(exc)[0] == "InvalidInput"


def test_log_groups_take_cloudformation_tags_only(server: Server) -> None:
    logs = server.client("logs")
    name = unique("/group")
    logs.create_log_group(logGroupName=name, tags={"aws:cloudformation:stack-name": "s"})
    logs.tag_log_group(logGroupName=name, tags={"aws:cloudformation:logical-id": "G"})
    assert logs.list_tags_log_group(logGroupName=name)["tags"] == {
        "aws:cloudformation:stack-name": "s", "aws:cloudformation:logical-id": "G"}  # fmt: skip
    with pytest.raises(ClientError) as exc:
        logs.tag_log_group(logGroupName=name, tags={"aws:mine": "x"})
    assert aws_error(exc)[0] in ("ValidationException", "InvalidParameterException")
