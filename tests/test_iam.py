"""IAM against the real server with boto3 and the AWS CLI: roles, managed and inline policies,
users and access keys, AWS's errors, paging, AWS-managed policies, and durability over a restart."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server, aws_error, start_server, unique

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
)
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
ACCOUNT = "000000000000"


@pytest.fixture(scope="session")
def iam(server: Server) -> Any:
    return server.client("iam")


@pytest.fixture(scope="session")
def iam_raw(server: Server) -> Any:
    """An IAM client that sends what it is given (no client-side validation)."""
    return server.client("iam", parameter_validation=False)


@pytest.fixture
def role(iam: Any) -> Iterator[str]:
    """A fresh role, deleted (with its policies) after the test."""
    name = unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    yield name
    try:
        for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=p["PolicyArn"])
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=p)
        iam.delete_role(RoleName=name)
    except ClientError:
        pass


# ---------------------------------------------------------------------------- roles


def test_create_get_role_shapes(iam: Any) -> None:
    name = unique("role")
    made = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=TRUST,
        Path="/service/",
        Description="d",
        MaxSessionDuration=7200,
        Tags=[{"Key": "k", "Value": "v"}],
        PermissionsBoundary=BASIC,
    )["Role"]
    assert made["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/service/{name}"
    assert re.fullmatch(r"AROA[A-Z0-9]{17}", made["RoleId"])
    assert made["AssumeRolePolicyDocument"] == json.loads(TRUST)  # URL-encoded on the wire, decoded by boto3
    assert made["Tags"] == [{"Key": "k", "Value": "v"}]
    got = iam.get_role(RoleName=name)["Role"]
    assert got["RoleId"] == made["RoleId"] and got["CreateDate"] == made["CreateDate"]
    assert got["MaxSessionDuration"] == 7200 and got["Description"] == "d" and got["Path"] == "/service/"
    assert got["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": BASIC,
    }
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=name.upper(), AssumeRolePolicyDocument=TRUST)
    assert aws_error(exc) == ("EntityAlreadyExists", f"Role with name {name.upper()} already exists.", 409)
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=name)
    assert aws_error(exc) == ("NoSuchEntity", f"The role with name {name} cannot be found.", 404)


def test_update_role_trust_and_tags(iam: Any, iam_raw: Any, role: str) -> None:
    iam.update_role(RoleName=role, Description="new", MaxSessionDuration=43200)
    trust2 = TRUST.replace("lambda.amazonaws.com", "edgelambda.amazonaws.com")
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=trust2)
    got = iam.get_role(RoleName=role)["Role"]
    assert got["Description"] == "new" and got["MaxSessionDuration"] == 43200
    assert got["AssumeRolePolicyDocument"] == json.loads(trust2)
    iam.tag_role(RoleName=role, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.tag_role(RoleName=role, Tags=[{"Key": "a", "Value": "3"}])
    iam.untag_role(RoleName=role, TagKeys=["b"])
    assert iam.list_role_tags(RoleName=role)["Tags"] == [{"Key": "a", "Value": "3"}]
    with pytest.raises(ClientError) as exc:
        iam_raw.update_role(RoleName=role, MaxSessionDuration=100)
    assert aws_error(exc)[0::2] == ("ValidationError", 400)


def test_malformed_and_oversized_documents(iam: Any) -> None:
    name = unique("role")
    cases = [
        ("{not json", "This policy contains invalid Json"),
        ("[]", "This policy contains invalid Json"),
        ('{"Version": "2012-10-17"}', "Syntax errors in policy."),
        (POLICY, "Has prohibited field Resource"),
    ]
    for doc, message in cases:
        with pytest.raises(ClientError) as exc:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc)
        assert aws_error(exc) == ("MalformedPolicyDocument", message, 400)
    big = json.dumps(
        {"Version": "2012-10-17", "Statement": [{**json.loads(TRUST)["Statement"][0], "Sid": "x" * 2100}]}
    )
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=big)
    assert aws_error(exc) == ("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048", 409)
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=name, PolicyDocument=TRUST)
    assert aws_error(exc) == (
        "MalformedPolicyDocument",
        "Policy document should not specify a principal.",
        400,
    )
    statements = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{'b' * 60}/{i}"}
        for i in range(80)
    ]
    with pytest.raises(ClientError) as exc:
        iam.create_policy(
            PolicyName=name, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements})
        )
    assert aws_error(exc) == ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144", 409)


def test_list_roles_paging_and_prefix(iam: Any) -> None:
    path = f"/{unique('p')}/"
    names = sorted(unique("r") for _ in range(5))
    for n in names:
        iam.create_role(RoleName=n, AssumeRolePolicyDocument=TRUST, Path=path)
    seen: list[str] = []
    kw: dict[str, Any] = {"PathPrefix": path, "MaxItems": 2}
    while True:
        page = iam.list_roles(**kw)
        seen += [r["RoleName"] for r in page["Roles"]]
        assert all("Tags" not in r for r in page["Roles"])
        if not page["IsTruncated"]:
            break
        assert len(page["Roles"]) == 2
        kw["Marker"] = page["Marker"]
    assert seen == names
    paginated = [
        r["RoleName"] for p in iam.get_paginator("list_roles").paginate(PathPrefix=path) for r in p["Roles"]
    ]
    assert paginated == names
    for n in names:
        iam.delete_role(RoleName=n)
    assert iam.list_roles(PathPrefix=path)["Roles"] == []


# ---------------------------------------------------------------------------- inline + attached


def test_inline_role_policies(iam: Any, role: str) -> None:
    iam.put_role_policy(RoleName=role, PolicyName="b", PolicyDocument=POLICY)
    iam.put_role_policy(RoleName=role, PolicyName="a", PolicyDocument=POLICY)
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["a", "b"]
    got = iam.get_role_policy(RoleName=role, PolicyName="a")
    assert got["PolicyDocument"] == json.loads(POLICY) and got["RoleName"] == role
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=role)
    assert aws_error(exc) == ("DeleteConflict", "Cannot delete entity, must delete policies first.", 409)
    iam.delete_role_policy(RoleName=role, PolicyName="a")
    with pytest.raises(ClientError) as exc:
        iam.get_role_policy(RoleName=role, PolicyName="a")
    assert aws_error(exc) == ("NoSuchEntity", "The role policy with name a cannot be found.", 404)
    big = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "x" * 6000}],
        }
    )
    iam.put_role_policy(RoleName=role, PolicyName="c", PolicyDocument=big)
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName=role, PolicyName="d", PolicyDocument=big)
    assert aws_error(exc) == (
        "LimitExceeded",
        f"Maximum policy size of 10240 bytes exceeded for role {role}",
        409,
    )


def test_attach_detach_and_counts(iam: Any, role: str) -> None:
    arn = iam.create_policy(PolicyName=unique("pol"), PolicyDocument=POLICY)["Policy"]["Arn"]
    before = iam.get_policy(PolicyArn=BASIC)["Policy"]["AttachmentCount"]
    iam.attach_role_policy(RoleName=role, PolicyArn=BASIC)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)  # idempotent
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [BASIC, arn]
    assert attached[0]["PolicyName"] == "AWSLambdaBasicExecutionRole"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    assert iam.get_policy(PolicyArn=BASIC)["Policy"]["AttachmentCount"] == before + 1
    assert arn in [p["Arn"] for p in iam.list_policies(Scope="Local", OnlyAttached=True)["Policies"]]
    missing = f"arn:aws:iam::{ACCOUNT}:policy/nope"
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=role, PolicyArn=missing)
    assert aws_error(exc) == ("NoSuchEntity", f"Policy {missing} does not exist or is not attachable.", 404)
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=role)
    assert aws_error(exc) == ("DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert aws_error(exc) == ("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    iam.delete_policy(PolicyArn=arn)


# ---------------------------------------------------------------------------- managed policies


def test_managed_policy_versions(iam: Any) -> None:
    name = unique("pol")
    made = iam.create_policy(PolicyName=name, PolicyDocument=POLICY, Path="/team/", Description="x")["Policy"]
    arn = made["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/team/{name}"
    assert made["DefaultVersionId"] == "v1" and re.fullmatch(r"ANPA[A-Z0-9]{17}", made["PolicyId"])
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=name, PolicyDocument=POLICY)
    assert aws_error(exc)[0::2] == ("EntityAlreadyExists", 409)
    doc2 = POLICY.replace("GetObject", "PutObject")
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc2, SetAsDefault=True)["PolicyVersion"]
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"]
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=POLICY)
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=POLICY)
    assert aws_error(exc)[0::2] == ("LimitExceeded", 409)
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    assert [v["IsDefaultVersion"] for v in versions] == [False, False, False, True, False]
    got = iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]
    assert got["Document"] == json.loads(doc2)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    with pytest.raises(ClientError) as exc:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert aws_error(exc) == ("DeleteConflict", "Cannot delete the default version of a policy.", 409)
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert aws_error(exc)[0] == "DeleteConflict"
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    for v in ("v2", "v3", "v4", "v5"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    with pytest.raises(ClientError) as exc:
        iam.get_policy_version(PolicyArn=arn, VersionId="v9")
    assert aws_error(exc)[0::2] == ("NoSuchEntity", 404)
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn=arn)
    assert aws_error(exc) == ("NoSuchEntity", f"Policy {arn} was not found.", 404)


def test_aws_managed_policies(iam: Any) -> None:
    names = {
        "service-role/AWSLambdaBasicExecutionRole",
        "service-role/AWSLambdaVPCAccessExecutionRole",
        "service-role/AWSLambdaSQSQueueExecutionRole",
        "service-role/AWSLambdaDynamoDBExecutionRole",
        "AWSXRayDaemonWriteAccess",
        "AdministratorAccess",
    }
    listed = {p["Arn"] for p in iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]}
    assert {f"arn:aws:iam::aws:policy/{n}" for n in names} <= listed
    policy = iam.get_policy(PolicyArn=BASIC)["Policy"]
    assert policy["Path"] == "/service-role/" and policy["DefaultVersionId"] == "v1"
    doc = iam.get_policy_version(PolicyArn=BASIC, VersionId="v1")["PolicyVersion"]["Document"]
    assert doc["Statement"][0]["Action"] == [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ]
    vpc = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    ver = iam.get_policy(PolicyArn=vpc)["Policy"]["DefaultVersionId"]
    assert (
        "ec2:CreateNetworkInterface"
        in iam.get_policy_version(PolicyArn=vpc, VersionId=ver)["PolicyVersion"]["Document"]["Statement"][0][
            "Action"
        ]
    )
    admin = iam.get_policy_version(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess", VersionId="v1")
    assert admin["PolicyVersion"]["Document"]["Statement"] == [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}
    ]
    assert all(
        p["Arn"].startswith(f"arn:aws:iam::{ACCOUNT}:") for p in iam.list_policies(Scope="Local")["Policies"]
    )
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=BASIC)
    assert aws_error(exc)[0::2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")
    assert aws_error(exc)[0] == "NoSuchEntity"
    pages = list(iam.get_paginator("list_policies").paginate(Scope="AWS", PaginationConfig={"PageSize": 2}))
    assert len(pages) >= 3 and {p["Arn"] for pg in pages for p in pg["Policies"]} == listed


# ---------------------------------------------------------------------------- users + keys


def test_users_and_access_keys(iam: Any) -> None:
    name = unique("user")
    user = iam.create_user(UserName=name, Tags=[{"Key": "t", "Value": "1"}])["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}" and re.fullmatch(
        r"AIDA[A-Z0-9]{17}", user["UserId"]
    )
    assert iam.get_user(UserName=name)["User"]["UserId"] == user["UserId"]
    assert name in [u["UserName"] for u in iam.list_users()["Users"]]
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=name)
    assert aws_error(exc) == ("EntityAlreadyExists", f"User with name {name} already exists.", 409)
    k1 = iam.create_access_key(UserName=name)["AccessKey"]
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", k1["AccessKeyId"]) and len(k1["SecretAccessKey"]) == 40
    assert k1["Status"] == "Active" and k1["UserName"] == name
    k2 = iam.create_access_key(UserName=name)["AccessKey"]
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName=name)
    assert aws_error(exc) == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    iam.update_access_key(UserName=name, AccessKeyId=k1["AccessKeyId"], Status="Inactive")
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in keys} == {
        k1["AccessKeyId"]: "Inactive",
        k2["AccessKeyId"]: "Active",
    }
    assert all("SecretAccessKey" not in k for k in keys)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=name)
    assert aws_error(exc) == ("DeleteConflict", "Cannot delete entity, must delete access keys first.", 409)
    iam.delete_access_key(UserName=name, AccessKeyId=k1["AccessKeyId"])
    iam.delete_access_key(AccessKeyId=k2["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        iam.delete_access_key(UserName=name, AccessKeyId=k2["AccessKeyId"])
    assert aws_error(exc) == (
        "NoSuchEntity",
        f"The Access Key with id {k2['AccessKeyId']} cannot be found.",
        404,
    )
    iam.delete_user(UserName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName=name)
    assert aws_error(exc) == ("NoSuchEntity", f"The user with name {name} cannot be found.", 404)


# ---------------------------------------------------------------------------- durability + CLI


def test_state_survives_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        iam = srv.client("iam")
        iam.create_role(RoleName="durable", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "k", "Value": "v"}])
        arn = iam.create_policy(PolicyName="durable", PolicyDocument=POLICY)["Policy"]["Arn"]
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=POLICY, SetAsDefault=True)
        iam.attach_role_policy(RoleName="durable", PolicyArn=arn)
        iam.attach_role_policy(RoleName="durable", PolicyArn=BASIC)
        iam.put_role_policy(RoleName="durable", PolicyName="inline", PolicyDocument=POLICY)
        iam.create_user(UserName="durable")
        key = iam.create_access_key(UserName="durable")["AccessKey"]
        role_id = iam.get_role(RoleName="durable")["Role"]["RoleId"]
    finally:
        srv.stop(signal.SIGKILL)  # acknowledged writes are committed: no clean shutdown needed
    srv = start_server(data)
    try:
        iam = srv.client("iam")
        role = iam.get_role(RoleName="durable")["Role"]
        assert role["RoleId"] == role_id and role["Tags"] == [{"Key": "k", "Value": "v"}]
        assert [
            p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="durable")["AttachedPolicies"]
        ] == [arn, BASIC]
        assert iam.list_role_policies(RoleName="durable")["PolicyNames"] == ["inline"]
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
        assert policy["DefaultVersionId"] == "v2" and policy["AttachmentCount"] == 1
        assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="durable")["AccessKeyMetadata"]] == [
            key["AccessKeyId"]
        ]
    finally:
        srv.stop()


def test_aws_cli_create_role(server: Server) -> None:
    aws = Path(sys.executable).with_name("aws")
    if not aws.exists():
        pytest.skip("the AWS CLI is not installed next to this Python")
    name = unique("cli")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
    }
    out = subprocess.run(
        [str(aws), "iam", "create-role", "--role-name", name, "--assume-role-policy-document", TRUST,
         "--endpoint-url", server.url, "--output", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    role = json.loads(out.stdout)["Role"]
    assert role["RoleName"] == name and role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)
    server.client("iam").delete_role(RoleName=name)
