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

from conftest import Server, aws_client, aws_error, start_server, unique

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
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", made["RoleId"])
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
    assert made["DefaultVersionId"] == "v1" and re.fullmatch(r"ANPA[A-Z2-7]{17}", made["PolicyId"])
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
    listed = {
        p["Arn"] for pg in iam.get_paginator("list_policies").paginate(Scope="AWS") for p in pg["Policies"]
    }
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
    pages = list(iam.get_paginator("list_policies").paginate(Scope="AWS", PaginationConfig={"PageSize": 400}))
    assert len(pages) >= 3 and {p["Arn"] for pg in pages for p in pg["Policies"]} == listed


# ---------------------------------------------------------------------------- users + keys


def test_users_and_access_keys(iam: Any) -> None:
    name = unique("user")
    user = iam.create_user(UserName=name, Tags=[{"Key": "t", "Value": "1"}])["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}" and re.fullmatch(
        r"AIDA[A-Z2-7]{17}", user["UserId"]
    )
    assert iam.get_user(UserName=name)["User"]["UserId"] == user["UserId"]
    assert name in [u["UserName"] for u in iam.list_users()["Users"]]
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=name)
    assert aws_error(exc) == ("EntityAlreadyExists", f"User with name {name} already exists.", 409)
    k1 = iam.create_access_key(UserName=name)["AccessKey"]
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", k1["AccessKeyId"]) and len(k1["SecretAccessKey"]) == 40
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
    with pytest.raises(
        ClientError
    ) as exc:  # without UserName: the caller's (the root's) key, which it is not
        iam.delete_access_key(AccessKeyId=k2["AccessKeyId"])
    assert aws_error(exc) == (
        "NoSuchEntity",
        f"The Access Key with id {k2['AccessKeyId']} cannot be found.",
        404,
    )
    iam.delete_access_key(UserName=name, AccessKeyId=k2["AccessKeyId"])
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


# ---------------------------------------------------------------------------- the caller


def test_operations_without_user_name_act_on_the_signing_user(server: Server, iam: Any) -> None:
    """AWS: "If you do not specify a user name, IAM determines the user name implicitly based on
    the AWS access key ID used to sign the request." The root's keys are not IAM's."""
    name = unique("caller")
    user = iam.create_user(UserName=name, Path="/team/")["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    own = server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert own.get_user()["User"] == iam.get_user(UserName=name)["User"]
    assert [k["AccessKeyId"] for k in own.list_access_keys()["AccessKeyMetadata"]] == [key["AccessKeyId"]]
    second = own.create_access_key()["AccessKey"]
    assert second["UserName"] == name
    own.update_access_key(AccessKeyId=second["AccessKeyId"], Status="Inactive")
    assert {
        k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    } == {
        key["AccessKeyId"]: "Active",
        second["AccessKeyId"]: "Inactive",
    }
    assert own.list_mfa_devices()["MFADevices"] == []
    with pytest.raises(ClientError) as exc:
        own.get_login_profile()
    assert aws_error(exc) == ("NoSuchEntity", f"Login Profile for User {name} cannot be found.", 404)
    # the root: GetUser answers the root, and none of IAM's keys are its
    root = iam.get_user()["User"]
    assert root["Arn"] == f"arn:aws:iam::{ACCOUNT}:root" and root["UserId"] == ACCOUNT
    assert iam.list_access_keys()["AccessKeyMetadata"] == []
    with pytest.raises(ClientError) as exc:
        iam.update_access_key(AccessKeyId=second["AccessKeyId"], Status="Active")
    assert aws_error(exc) == (
        "NoSuchEntity",
        f"The Access Key with id {second['AccessKeyId']} cannot be found.",
        404,
    )
    # one user's key does not reach another's
    other = unique("caller")
    iam.create_user(UserName=other)
    theirs = iam.create_access_key(UserName=other)["AccessKey"]
    with pytest.raises(ClientError) as exc:
        own.delete_access_key(AccessKeyId=theirs["AccessKeyId"])
    assert aws_error(exc)[0::2] == ("NoSuchEntity", 404)
    own.delete_access_key(AccessKeyId=second["AccessKeyId"])
    assert user["UserId"] == own.get_user()["User"]["UserId"]
    for n, k in ((other, theirs), (name, key)):
        iam.delete_access_key(UserName=n, AccessKeyId=k["AccessKeyId"])
        iam.delete_user(UserName=n)


def test_temporary_credentials_must_name_the_user(server: Server, iam: Any) -> None:
    """Assumed-role and session-token credentials are not a user's: AWS answers ValidationError."""
    role = unique("role")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    sts = server.client("sts")
    sessions = [
        sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"],
        sts.get_session_token()["Credentials"],
    ]
    name = unique("named")
    iam.create_user(UserName=name)
    refused = ("ValidationError", "Must specify userName when calling with non-User credentials", 400)
    for creds in sessions:
        temp = aws_client(server.url, "iam", creds)
        for call in (temp.get_user, temp.list_access_keys, temp.create_access_key, temp.list_mfa_devices):
            with pytest.raises(ClientError) as exc:
                call()
            assert aws_error(exc) == refused, call
        assert temp.get_user(UserName=name)["User"]["UserName"] == name
        assert temp.list_access_keys(UserName=name)["AccessKeyMetadata"] == []
    iam.delete_user(UserName=name)
    iam.delete_role(RoleName=role)


# ---------------------------------------------------------------------------- before deleting


def test_lists_terraform_reads_before_deleting_a_user(iam: Any) -> None:
    name = unique("user")
    iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "b"}])
    assert iam.list_user_tags(UserName=name)["Tags"] == [
        {"Key": "team", "Value": "a"},
        {"Key": "env", "Value": "b"},
    ]
    page = iam.list_user_tags(UserName=name, MaxItems=1)
    assert page["Tags"] == [{"Key": "team", "Value": "a"}] and page["IsTruncated"]
    empty = {
        "list_attached_user_policies": "AttachedPolicies",
        "list_user_policies": "PolicyNames",
        "list_groups_for_user": "Groups",
        "list_mfa_devices": "MFADevices",
        "list_signing_certificates": "Certificates",
        "list_ssh_public_keys": "SSHPublicKeys",
        "list_service_specific_credentials": "ServiceSpecificCredentials",
    }
    for op, member in empty.items():
        got = getattr(iam, op)(UserName=name)
        assert got[member] == [] and not got.get("IsTruncated"), op
    assert iam.list_service_specific_credentials(AllUsers=True)["ServiceSpecificCredentials"] == []
    with pytest.raises(ClientError) as exc:
        iam.get_login_profile(UserName=name)
    assert aws_error(exc) == ("NoSuchEntity", f"Login Profile for User {name} cannot be found.", 404)
    iam.delete_user(UserName=name)
    for op in [*empty, "get_login_profile", "list_user_tags"]:
        with pytest.raises(ClientError) as exc:
            getattr(iam, op)(UserName=name)
        assert aws_error(exc) == ("NoSuchEntity", f"The user with name {name} cannot be found.", 404), op


def test_instance_profiles_and_entities_of_a_policy(iam: Any) -> None:
    attached, bounded = sorted([unique("role"), unique("role")])
    for n in (attached, bounded):
        iam.create_role(RoleName=n, AssumeRolePolicyDocument=TRUST, Path="/svc/")
    profiles = iam.list_instance_profiles_for_role(RoleName=attached)
    assert profiles["InstanceProfiles"] == [] and profiles["IsTruncated"] is False
    missing = unique("role")
    with pytest.raises(ClientError) as exc:
        iam.list_instance_profiles_for_role(RoleName=missing)
    assert aws_error(exc) == ("NoSuchEntity", f"The role with name {missing} cannot be found.", 404)

    arn = iam.create_policy(PolicyName=unique("pol"), PolicyDocument=POLICY)["Policy"]["Arn"]
    user = unique("user")
    iam.create_user(UserName=user, PermissionsBoundary=arn)
    iam.attach_role_policy(RoleName=attached, PolicyArn=arn)
    iam.put_role_permissions_boundary(RoleName=bounded, PermissionsBoundary=arn)
    ids = {n: iam.get_role(RoleName=n)["Role"]["RoleId"] for n in (attached, bounded)}
    user_id = iam.get_user(UserName=user)["User"]["UserId"]

    def entities(**kw: Any) -> tuple[list[str], list[str], list[Any]]:
        got = iam.list_entities_for_policy(PolicyArn=arn, **kw)
        return (
            [r["RoleName"] for r in got["PolicyRoles"]],
            [u["UserName"] for u in got["PolicyUsers"]],
            got["PolicyGroups"],
        )

    got = iam.list_entities_for_policy(PolicyArn=arn)
    assert got["PolicyRoles"] == [{"RoleName": n, "RoleId": ids[n]} for n in (attached, bounded)]
    assert got["PolicyUsers"] == [{"UserName": user, "UserId": user_id}] and got["PolicyGroups"] == []
    assert entities(EntityFilter="Role") == ([attached, bounded], [], [])
    assert entities(EntityFilter="User") == ([], [user], [])
    assert entities(EntityFilter="Group") == ([], [], [])
    assert entities(PolicyUsageFilter="PermissionsPolicy") == ([attached], [], [])
    assert entities(PolicyUsageFilter="PermissionsBoundary") == ([bounded], [user], [])
    assert entities(PathPrefix="/svc/") == ([attached, bounded], [], [])
    pages = list(
        iam.get_paginator("list_entities_for_policy").paginate(
            PolicyArn=arn, PaginationConfig={"PageSize": 1}
        )
    )
    assert len(pages) == 3
    assert [r["RoleName"] for p in pages for r in p["PolicyRoles"]] == [attached, bounded]
    assert entities(EntityFilter="AWSManagedPolicy") == ([], [], [])
    basic = iam.list_entities_for_policy(PolicyArn=BASIC, EntityFilter="Role")["PolicyRoles"]
    assert attached not in [r["RoleName"] for r in basic]
    nope = f"arn:aws:iam::{ACCOUNT}:policy/{unique('nope')}"
    with pytest.raises(ClientError) as exc:
        iam.list_entities_for_policy(PolicyArn=nope)
    assert aws_error(exc) == ("NoSuchEntity", f"Policy {nope} was not found.", 404)

    iam.detach_role_policy(RoleName=attached, PolicyArn=arn)
    iam.delete_role_permissions_boundary(RoleName=bounded)
    iam.delete_user(UserName=user)
    assert entities() == ([], [], [])
    iam.delete_policy(PolicyArn=arn)
    for n in (attached, bounded):
        iam.delete_role(RoleName=n)


def test_permissions_boundary_must_be_a_policy(iam: Any, role: str) -> None:
    nope = f"arn:aws:iam::{ACCOUNT}:policy/nope"
    refused = ("NoSuchEntity", f"Scope ARN: {nope} does not exist or is not attachable.", 404)
    with pytest.raises(ClientError) as exc:
        iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=nope)
    assert aws_error(exc) == refused
    assert "PermissionsBoundary" not in iam.get_role(RoleName=role)["Role"]
    name = unique("role")
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, PermissionsBoundary=nope)
    assert aws_error(exc) == refused
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=name, PermissionsBoundary=nope)
    assert aws_error(exc) == refused
    for get in (iam.get_role, iam.get_user):
        with pytest.raises(ClientError) as exc:
            get(**{"RoleName" if get == iam.get_role else "UserName": name})
        assert aws_error(exc)[0] == "NoSuchEntity"
    iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=BASIC)
    assert iam.get_role(RoleName=role)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == BASIC


def test_list_roles_and_users_leave_out_what_aws_leaves_out(iam: Any) -> None:
    """ListRoles: "does not return ... PermissionsBoundary, RoleLastUsed, Tags"; ListUsers:
    "PermissionsBoundary, Tags"; GetRole and GetUser do."""
    path = f"/{unique('p')}/"
    name = unique("full")
    tags = [{"Key": "k", "Value": "v"}]
    iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=TRUST, Path=path, PermissionsBoundary=BASIC, Tags=tags
    )
    iam.create_user(UserName=name, Path=path, PermissionsBoundary=BASIC, Tags=tags)
    [listed_role] = iam.list_roles(PathPrefix=path)["Roles"]
    assert not {"PermissionsBoundary", "RoleLastUsed", "Tags"} & set(listed_role)
    got_role = iam.get_role(RoleName=name)["Role"]
    assert {"PermissionsBoundary", "RoleLastUsed", "Tags"} <= set(got_role)
    [listed_user] = iam.list_users(PathPrefix=path)["Users"]
    assert not {"PermissionsBoundary", "Tags"} & set(listed_user)
    assert {"PermissionsBoundary", "Tags"} <= set(iam.get_user(UserName=name)["User"])
    iam.delete_role(RoleName=name)
    iam.delete_user(UserName=name)


# ---------------------------------------------------------------------------- document checks


def _doc(statement: dict[str, Any], **top: Any) -> str:
    return json.dumps({**top, "Statement": [statement]})


def test_policy_language_versions(iam: Any, role: str) -> None:
    allow = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    old_version = "Policy document must be version 2012-10-17 or greater."
    for top, message in (
        ({"Version": "2008-10-17"}, old_version),
        ({}, old_version),
        ({"Version": "2013-10-17"}, "Syntax errors in policy."),
        ({"Version": 2012}, "Syntax errors in policy."),
    ):
        with pytest.raises(ClientError) as exc:
            iam.create_policy(PolicyName=unique("pol"), PolicyDocument=_doc(allow, **top))
        assert aws_error(exc) == ("MalformedPolicyDocument", message, 400), top
    arn = iam.create_policy(PolicyName=unique("pol"), PolicyDocument=POLICY)["Policy"]["Arn"]
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=_doc(allow, Version="2008-10-17"))
    assert aws_error(exc) == ("MalformedPolicyDocument", old_version, 400)
    iam.delete_policy(PolicyArn=arn)
    # inline and trust policies may use the older version or none
    iam.put_role_policy(RoleName=role, PolicyName="old", PolicyDocument=_doc(allow, Version="2008-10-17"))
    iam.put_role_policy(RoleName=role, PolicyName="none", PolicyDocument=_doc(allow))
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName=role, PolicyName="bad", PolicyDocument=_doc(allow, Version="1.0"))
    assert aws_error(exc) == ("MalformedPolicyDocument", "Syntax errors in policy.", 400)
    trust = json.loads(TRUST)["Statement"][0]
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=_doc(trust, Version="2008-10-17"))
    with pytest.raises(ClientError) as exc:
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=_doc(trust, Version="latest"))
    assert aws_error(exc) == ("MalformedPolicyDocument", "Syntax errors in policy.", 400)


def test_trust_policy_principals(iam: Any, role: str) -> None:
    def trusting(principal: Any, block: str = "Principal") -> str:
        effect = "Deny" if block == "NotPrincipal" else "Allow"
        return _doc({"Effect": effect, block: principal, "Action": "sts:AssumeRole"}, Version="2012-10-17")

    for principal in (
        "*",
        {"AWS": "*"},
        {"AWS": "111122223333"},
        {"AWS": "arn:aws:iam::111122223333:root"},
        {"AWS": ["arn:aws:iam::111122223333:user/team/alice", "arn:aws:iam::111122223333:role/ci"]},
        {"AWS": "arn:aws:sts::111122223333:assumed-role/ci/build-7"},
        {"Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]},
        {"Federated": "accounts.google.com"},
    ):
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=trusting(principal))
    for bad in ("arn:aws:iam::123:user/x", "alice", "arn:aws:iam::111122223333:group/devs", "arn:aws:s3:::b"):
        with pytest.raises(ClientError) as exc:
            iam.update_assume_role_policy(RoleName=role, PolicyDocument=trusting({"AWS": ["*", bad]}))
        assert aws_error(exc) == (
            "MalformedPolicyDocument",
            f'Invalid principal in policy: "AWS":"{bad}"',
            400,
        )
    with pytest.raises(ClientError) as exc:
        iam.create_role(
            RoleName=unique("role"),
            AssumeRolePolicyDocument=trusting({"AWS": "arn:aws:iam::123:user/x"}, "NotPrincipal"),
        )
    assert aws_error(exc) == (
        "MalformedPolicyDocument",
        'Invalid principal in policy: "AWS":"arn:aws:iam::123:user/x"',
        400,
    )
    with pytest.raises(ClientError) as exc:
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=trusting({"AWS": {"nested": "x"}}))
    assert aws_error(exc) == ("MalformedPolicyDocument", "Syntax errors in policy.", 400)


def test_tag_keys_in_aws_space_are_refused(iam: Any, role: str) -> None:
    """IAM: "You cannot create a tag key or value that begins with the text aws:. This tag prefix
    is reserved for AWS internal use." """
    for key in ("aws:team", "AWS:team"):
        with pytest.raises(ClientError) as exc:
            iam.tag_role(RoleName=role, Tags=[{"Key": key, "Value": "v"}])
        assert aws_error(exc)[0::2] == ("InvalidInput", 400)
        assert key in aws_error(exc)[1]
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=unique("user"), Tags=[{"Key": "aws:x", "Value": "v"}])
    assert aws_error(exc)[0::2] == ("InvalidInput", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_role(
            RoleName=unique("role"), AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "aws:x", "Value": "v"}]
        )
    assert aws_error(exc)[0::2] == ("InvalidInput", 400)
    iam.tag_role(RoleName=role, Tags=[{"Key": "team:aws", "Value": "aws:ok"}])
    assert iam.list_role_tags(RoleName=role)["Tags"] == [{"Key": "team:aws", "Value": "aws:ok"}]


def test_generated_ids_use_aws_alphabet(iam: Any) -> None:
    """AWS's unique ids and access key ids are a prefix and base32 characters (A-Z, 2-7)."""
    for _ in range(3):
        role = unique("role")
        made = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]
        assert re.fullmatch(r"AROA[A-Z2-7]{17}", made["RoleId"]), made["RoleId"]
        policy = iam.create_policy(PolicyName=unique("pol"), PolicyDocument=POLICY)["Policy"]
        assert re.fullmatch(r"ANPA[A-Z2-7]{17}", policy["PolicyId"]), policy["PolicyId"]
        user = iam.create_user(UserName=unique("user"))["User"]
        assert re.fullmatch(r"AIDA[A-Z2-7]{17}", user["UserId"]), user["UserId"]
        key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
        assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key["AccessKeyId"]), key["AccessKeyId"]
        iam.delete_access_key(UserName=user["UserName"], AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName=user["UserName"])
        iam.delete_policy(PolicyArn=policy["Arn"])
        iam.delete_role(RoleName=role)


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
