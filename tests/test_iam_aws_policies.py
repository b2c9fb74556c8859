"""Every AWS managed policy exists: attached to roles through boto3, listed and paged with
ListPolicies, an unknown one NoSuchEntity as AWS words it, and a SAM template naming one (or
a DeploymentPreference, whose CodeDeploy role attaches one) deploys; IAM never imports samtranslator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, Server, aws_error, unique

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
CODEDEPLOY = "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


@pytest.fixture
def role(iam: Any) -> Iterator[str]:
    name = unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    yield name
    for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=p["PolicyArn"])
    iam.delete_role(RoleName=name)


def test_listed_aws_policies_attach_and_answer_with_their_metadata(iam: Any, role: str) -> None:
    iam.attach_role_policy(RoleName=role, PolicyArn=S3_READ)
    iam.attach_role_policy(RoleName=role, PolicyArn=CODEDEPLOY)
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert attached == [
        {"PolicyName": "AmazonS3ReadOnlyAccess", "PolicyArn": S3_READ},
        {"PolicyName": "AWSCodeDeployRoleForLambda", "PolicyArn": CODEDEPLOY},
    ]
    only = iam.list_attached_role_policies(RoleName=role, PathPrefix="/service-role/")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in only] == [CODEDEPLOY]

    s3 = iam.get_policy(PolicyArn=S3_READ)["Policy"]
    assert {k: s3[k] for k in ("PolicyName", "Arn", "Path", "DefaultVersionId", "IsAttachable")} == {
        "PolicyName": "AmazonS3ReadOnlyAccess",
        "Arn": S3_READ,
        "Path": "/",
        "DefaultVersionId": "v1",
        "IsAttachable": True,
    }
    assert s3["AttachmentCount"] == 1 and s3["PolicyId"].startswith("ANPA") and len(s3["PolicyId"]) == 21
    cd = iam.get_policy(PolicyArn=CODEDEPLOY)["Policy"]
    assert (cd["PolicyName"], cd["Path"], cd["AttachmentCount"]) == (
        "AWSCodeDeployRoleForLambda",
        "/service-role/",
        1,
    )
    assert cd["PolicyId"] != s3["PolicyId"]
    assert iam.get_policy(PolicyArn=CODEDEPLOY)["Policy"]["PolicyId"] == cd["PolicyId"]  # stable

    # lambdabox does not have their documents: v1 is a policy with no statements
    version = iam.get_policy_version(PolicyArn=S3_READ, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == {"Version": "2012-10-17", "Statement": []}
    assert version["IsDefaultVersion"] is True
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=CODEDEPLOY)["Versions"]] == ["v1"]
    with pytest.raises(ClientError) as exc:
        iam.get_policy_version(PolicyArn=S3_READ, VersionId="v2")
    assert aws_error(exc)[0::2] == ("NoSuchEntity", 404)

    # the built-in ones keep their real documents
    basic = iam.get_policy_version(PolicyArn=BASIC, VersionId="v1")["PolicyVersion"]["Document"]
    assert basic["Statement"][0]["Action"] == [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ]

    entities = iam.list_entities_for_policy(PolicyArn=S3_READ)["PolicyRoles"]
    assert [e["RoleName"] for e in entities] == [role]
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=S3_READ)
    assert aws_error(exc)[0::2] == ("AccessDenied", 403)

    iam.detach_role_policy(RoleName=role, PolicyArn=S3_READ)
    assert iam.get_policy(PolicyArn=S3_READ)["Policy"]["AttachmentCount"] == 0
    assert iam.get_role(RoleName=role)["Role"]["RoleName"] == role


def test_unknown_aws_policy_is_no_such_entity(iam: Any, role: str) -> None:
    nope = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccessNot"
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn=nope)
    assert aws_error(exc) == ("NoSuchEntity", f"Policy {nope} was not found.", 404)
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=role, PolicyArn=nope)
    assert aws_error(exc) == ("NoSuchEntity", f"Policy {nope} does not exist or is not attachable.", 404)
    wrong_path = "arn:aws:iam::aws:policy/service-role/AmazonS3ReadOnlyAccess"  # the name, another path
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=role, PolicyArn=wrong_path)
    assert aws_error(exc)[0::2] == ("NoSuchEntity", 404)
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


def test_service_linked_role_policies_are_not_attachable_to_roles(iam: Any, role: str) -> None:
    arn = "arn:aws:iam::aws:policy/aws-service-role/APIGatewayServiceRolePolicy"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Path"] == "/aws-service-role/"
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    assert aws_error(exc) == (
        "PolicyNotAttachable",
        "Cannot attach a Service Role Policy to a Customer Role.",
        400,
    )


def test_list_policies_scope_aws_pages_through_all_of_them(iam: Any, role: str) -> None:
    iam.attach_role_policy(RoleName=role, PolicyArn=S3_READ)
    pages = list(iam.get_paginator("list_policies").paginate(Scope="AWS", PaginationConfig={"PageSize": 250}))
    assert len(pages) >= 5 and all(len(pg["Policies"]) == 250 for pg in pages[:-1])
    arns = [p["Arn"] for pg in pages for p in pg["Policies"]]
    assert len(arns) == len(set(arns)) > 1000
    assert all(a.startswith("arn:aws:iam::aws:policy/") for a in arns)
    assert {S3_READ, CODEDEPLOY, BASIC, "arn:aws:iam::aws:policy/AdministratorAccess"} <= set(arns)
    names = [p["PolicyName"] for pg in pages for p in pg["Policies"]]
    assert names == sorted(names, key=str.lower)

    first = iam.list_policies(Scope="AWS", MaxItems=1000)
    assert first["IsTruncated"] is True and len(first["Policies"]) == 1000
    rest = iam.list_policies(Scope="AWS", MaxItems=1000, Marker=first["Marker"])
    assert rest["IsTruncated"] is False and "Marker" not in rest
    assert [p["Arn"] for p in first["Policies"] + rest["Policies"]] == arns

    service = iam.list_policies(Scope="AWS", PathPrefix="/service-role/", MaxItems=1000)["Policies"]
    assert CODEDEPLOY in {p["Arn"] for p in service} and all(p["Path"] == "/service-role/" for p in service)
    attached = iam.list_policies(Scope="AWS", OnlyAttached=True)["Policies"]
    s3 = next(p for p in attached if p["Arn"] == S3_READ)
    assert s3["AttachmentCount"] == 1 and all(p["AttachmentCount"] > 0 for p in attached)
    local = iam.list_policies(Scope="Local", MaxItems=1000)["Policies"]
    assert not any(p["Arn"].startswith("arn:aws:iam::aws:") for p in local)


def test_importing_iam_does_not_import_samtranslator() -> None:
    code = textwrap.dedent(
        """
        import sys
        import lambdabox.iam.api
        from lambdabox.iam.aws_policies import aws_policies, aws_policy
        assert "samtranslator" not in sys.modules
        assert aws_policy("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess") is not None
        assert len(aws_policies()) > 1000
        assert "samtranslator" not in sys.modules, "reading IAM's list imported samtranslator"
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr


SAM = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Policies: [AmazonS3ReadOnlyAccess]
      AutoPublishAlias: live
      DeploymentPreference: {Type: Canary10Percent5Minutes}
"""


def test_a_sam_template_naming_aws_managed_policies_deploys(server: Server, iam: Any, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (tmp_path / "template.yaml").write_text(SAM)
    stack = unique("pol")
    args = ["-f", str(tmp_path / "template.yaml"), "--endpoint-url", server.url, "--stack-name", stack]
    run = [sys.executable, "-m", "lambdabox"]
    deployed = subprocess.run([*run, "deploy", *args], capture_output=True, text=True, timeout=300)
    try:
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        roles = [
            r["RoleName"] for r in iam.list_roles(MaxItems=1000)["Roles"] if r["RoleName"].startswith(stack)
        ]
        attached = {
            p["PolicyArn"]
            for name in roles
            for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        }
        assert {S3_READ, CODEDEPLOY, BASIC} <= attached
    finally:
        removed = subprocess.run([*run, "remove", *args], capture_output=True, text=True, timeout=300)
        assert removed.returncode == 0, removed.stdout + removed.stderr
