"""IAM data: roles, managed policies and their versions, users, access keys; their AWS API shapes.

Policy documents are kept as the caller sent them and answered URL-encoded, as AWS does (boto3
and the AWS CLI decode them); `documents.py` checks them. Unique ids are AWS's: a four-letter
prefix and characters of the access key alphabet (base32: capitals and the digits 2-7).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from lambdabox.aws import tag_keys
from lambdabox.aws.errors import ServiceError, client_error

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"

#: quotas (characters, whitespace not counted, as IAM counts them)
MANAGED_POLICY_SIZE = 6144
INLINE_ROLE_POLICIES_SIZE = 10240
TRUST_POLICY_SIZE = 2048
MAX_POLICY_VERSIONS = 5
MAX_ATTACHED_PER_ROLE = 10
MAX_TAGS = 50
MAX_ACCESS_KEYS = 2

#: AWS's alphabet for access key ids and unique ids (base32: capitals and the digits 2-7)
ID_CHARS = string.ascii_uppercase + "234567"
_SECRET_CHARS = string.ascii_letters + string.digits + "+/"
_WHITESPACE = re.compile(r"\s+")

Tags = Sequence[Mapping[str, str]]


def new_id(prefix: str, n: int = 17) -> str:
    """An IAM unique id: AROA (role), ANPA (policy), AIDA (user) + 17 chars, AKIA (access key) + 16."""
    return prefix + "".join(secrets.choice(ID_CHARS) for _ in range(n))


def new_secret() -> str:
    return "".join(secrets.choice(_SECRET_CHARS) for _ in range(40))


def encode_document(document: str) -> str:
    """A policy document as IAM answers it: URL-encoded."""
    return quote(document, safe="")


def policy_size(document: str) -> int:
    return len(_WHITESPACE.sub("", document))


def limit_exceeded(message: str) -> ServiceError:
    return client_error("LimitExceeded", message, 409)


def check_tags(tags: Tags | None) -> list[dict[str, str]]:
    """Tags as given (the model checks lengths); duplicates, keys in AWS's reserved `aws:` space
    (but CloudFormation's `aws:cloudformation:`) and more than 50 refused as IAM does."""
    out = [{"Key": str(t["Key"]), "Value": str(t.get("Value", ""))} for t in tags or ()]
    for t in out:
        if tag_keys.reserved([t["Key"]]) is not None:
            raise client_error(
                "InvalidInput",
                f"Tag key {t['Key']} is not valid: tag keys that begin with aws: are reserved for AWS "
                "internal use.",
                400,
            )
    if len({t["Key"].lower() for t in out}) != len(out):
        raise client_error(
            "InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive.", 400
        )
    if len(out) > MAX_TAGS:
        raise limit_exceeded(f"Cannot exceed quota for TagsPerRole: {MAX_TAGS}")
    return out


def merge_tags(current: Tags, add: Tags, remove: Sequence[str] = ()) -> list[dict[str, str]]:
    drop = {k.lower() for k in remove} | {t["Key"].lower() for t in add}
    merged = [dict(t) for t in current if t["Key"].lower() not in drop] + [dict(t) for t in add]
    if len(merged) > MAX_TAGS:
        raise limit_exceeded(f"Cannot exceed quota for TagsPerRole: {MAX_TAGS}")
    return merged


def _boundary(arn: str | None) -> dict[str, Any]:
    """The PermissionsBoundary member of a Role or User shape (nothing when there is none)."""
    if arn is None:
        return {}
    return {"PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}}


@dataclass(frozen=True)
class Role:
    account: str
    name: str
    path: str
    role_id: str
    create_date: float
    trust_policy: str
    description: str | None = None
    max_session_duration: int = 3600
    permissions_boundary: str | None = None
    tags: Tags = field(default_factory=list)
    pk: int = 0

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.path}{self.name}"

    def to_api(self, *, full: bool = True) -> dict[str, Any]:
        """The Role shape. `full` (GetRole, CreateRole) adds the permissions boundary, tags and
        RoleLastUsed; ListRoles leaves all three out, as AWS's reference says it does."""
        out: dict[str, Any] = {
            "Path": self.path,
            "RoleName": self.name,
            "RoleId": self.role_id,
            "Arn": self.arn,
            "CreateDate": self.create_date,
            "AssumeRolePolicyDocument": encode_document(self.trust_policy),
            "Description": self.description,
            "MaxSessionDuration": self.max_session_duration,
        }
        if full:
            out.update(_boundary(self.permissions_boundary))
            if self.tags:
                out["Tags"] = [dict(t) for t in self.tags]
            out["RoleLastUsed"] = {}
        return out


@dataclass(frozen=True)
class PolicyVersion:
    version_id: str
    document: str
    is_default: bool
    create_date: float

    def to_api(self, *, with_document: bool = True) -> dict[str, Any]:
        return {
            "Document": encode_document(self.document) if with_document else None,
            "VersionId": self.version_id,
            "IsDefaultVersion": self.is_default,
            "CreateDate": self.create_date,
        }


@dataclass(frozen=True)
class ManagedPolicy:
    arn: str
    account: str  # "aws" for AWS-managed policies
    name: str
    path: str
    policy_id: str
    default_version: str
    create_date: float
    update_date: float
    description: str | None = None
    tags: Tags = field(default_factory=list)
    next_version: int = 2
    pk: int = 0

    @property
    def aws_managed(self) -> bool:
        return self.arn.startswith(AWS_POLICY_PREFIX)

    def to_api(self, attachment_count: int, *, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "PolicyName": self.name,
            "PolicyId": self.policy_id,
            "Arn": self.arn,
            "Path": self.path,
            "DefaultVersionId": self.default_version,
            "AttachmentCount": attachment_count,
            "PermissionsBoundaryUsageCount": 0,
            "IsAttachable": True,
            "CreateDate": self.create_date,
            "UpdateDate": self.update_date,
        }
        if full:
            out["Description"] = self.description
            if self.tags:
                out["Tags"] = [dict(t) for t in self.tags]
        return out


@dataclass(frozen=True)
class User:
    account: str
    name: str
    path: str
    user_id: str
    create_date: float
    permissions_boundary: str | None = None
    tags: Tags = field(default_factory=list)
    pk: int = 0

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user{self.path}{self.name}"

    def to_api(self, *, full: bool = True) -> dict[str, Any]:
        """The User shape. `full` (GetUser, CreateUser) adds the permissions boundary and tags,
        which ListUsers leaves out, as AWS's reference says it does."""
        out: dict[str, Any] = {
            "Path": self.path,
            "UserName": self.name,
            "UserId": self.user_id,
            "Arn": self.arn,
            "CreateDate": self.create_date,
        }
        if full:
            out.update(_boundary(self.permissions_boundary))
            if self.tags:
                out["Tags"] = [dict(t) for t in self.tags]
        return out


@dataclass(frozen=True)
class AccessKey:
    """An IAM user's access key: what SigV4 verification needs to check a signature."""

    access_key_id: str
    secret_access_key: str
    status: Literal["Active", "Inactive"]
    account: str
    user_name: str
    user_arn: str
    create_date: float
    #: the owning user's unique id (AIDA…), as GetCallerIdentity names the caller
    user_id: str

    def to_api(self, *, with_secret: bool = False) -> dict[str, Any]:
        return {
            "UserName": self.user_name,
            "AccessKeyId": self.access_key_id,
            "Status": self.status,
            "SecretAccessKey": self.secret_access_key if with_secret else None,
            "CreateDate": self.create_date,
        }
