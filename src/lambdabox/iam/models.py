"""IAM data: roles, managed policies and their versions, users, access keys; their AWS API shapes.

Policy documents are kept as the caller sent them and answered URL-encoded, as AWS does (boto3
and the AWS CLI decode them). `check_document` gives AWS's answer to a document it refuses.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

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

_ID_CHARS = string.ascii_uppercase + string.digits
_SECRET_CHARS = string.ascii_letters + string.digits + "+/"
_WHITESPACE = re.compile(r"\s+")

Tags = Sequence[Mapping[str, str]]


def new_id(prefix: str, n: int = 17) -> str:
    """An IAM unique id: AROA (role), ANPA (policy), AIDA (user) or AKIA (access key) + n chars."""
    return prefix + "".join(secrets.choice(_ID_CHARS) for _ in range(n))


def new_secret() -> str:
    return "".join(secrets.choice(_SECRET_CHARS) for _ in range(40))


def encode_document(document: str) -> str:
    """A policy document as IAM answers it: URL-encoded."""
    return quote(document, safe="")


def policy_size(document: str) -> int:
    return len(_WHITESPACE.sub("", document))


def malformed(message: str) -> ServiceError:
    return client_error("MalformedPolicyDocument", message, 400)


def limit_exceeded(message: str) -> ServiceError:
    return client_error("LimitExceeded", message, 409)


def check_document(document: str, kind: Literal["identity", "trust"]) -> None:
    """Raise AWS's MalformedPolicyDocument if `document` is not a policy of `kind`."""
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than any policy is
        raise malformed("This policy contains invalid Json") from None
    if not isinstance(parsed, dict):
        raise malformed("This policy contains invalid Json")
    statements = parsed.get("Statement")
    if statements is None:
        raise malformed("Syntax errors in policy.")
    if not isinstance(statements, list):
        statements = [statements]
    if not statements:
        raise malformed("Syntax errors in policy.")
    for st in statements:
        if not isinstance(st, dict):
            raise malformed("Syntax errors in policy.")
        if "Effect" not in st:
            raise malformed("Missing required field Effect")
        if st["Effect"] not in ("Allow", "Deny"):
            raise malformed("Syntax errors in policy.")
        if "Action" not in st and "NotAction" not in st:
            raise malformed("Policy statement must contain actions.")
        if kind == "trust":
            if "Resource" in st or "NotResource" in st:
                raise malformed("Has prohibited field Resource")
            if "Principal" not in st and "NotPrincipal" not in st:
                raise malformed("Missing required field Principal")
        else:
            if "Principal" in st or "NotPrincipal" in st:
                raise malformed("Policy document should not specify a principal.")
            if "Resource" not in st and "NotResource" not in st:
                raise malformed("Policy statement must contain resources.")


def check_tags(tags: Tags | None) -> list[dict[str, str]]:
    """Tags as given (the model checks lengths); duplicates and more than 50 refused as IAM does."""
    out = [{"Key": str(t["Key"]), "Value": str(t.get("Value", ""))} for t in tags or ()]
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
        """The Role shape; `full` (GetRole, CreateRole) adds tags and RoleLastUsed as AWS does."""
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
        if self.permissions_boundary is not None:
            out["PermissionsBoundary"] = {
                "PermissionsBoundaryType": "Policy",
                "PermissionsBoundaryArn": self.permissions_boundary,
            }
        if full:
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
        out: dict[str, Any] = {
            "Path": self.path,
            "UserName": self.name,
            "UserId": self.user_id,
            "Arn": self.arn,
            "CreateDate": self.create_date,
        }
        if self.permissions_boundary is not None:
            out["PermissionsBoundary"] = {
                "PermissionsBoundaryType": "Policy",
                "PermissionsBoundaryArn": self.permissions_boundary,
            }
        if full and self.tags:
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
