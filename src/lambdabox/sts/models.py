"""STS's data: issued sessions, caller identities, and the identifiers in AWS's formats."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: AWS's access key alphabet (base32: the digits 2-7 and capitals)
KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

ROLE_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}):role/(?:[\x21-\x7e]*/)?(?P<name>[\w+=,.@-]{1,64})")
#: every role ARN Lambda accepts (botocore's RoleArn pattern: any aws partition, a path, longer names)
ANY_ROLE_ARN = re.compile(
    r"arn:(?:aws[a-zA-Z-]*)?:iam::(?P<account>\d{12}):role/?(?:[\w+=,.@/-]*/)?(?P<name>[\w+=,.@-]+)"
)

DEFAULT_ROLE_SECONDS = 3600
DEFAULT_SESSION_TOKEN_SECONDS = 43_200
#: the service principal recorded on sessions STS issues for Lambda's execution environments
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
#: a role assumed with temporary role credentials (role chaining) lasts an hour at most
CHAINED_MAX_SECONDS = 3600
#: sessions of an account's root user last an hour at most (longer requests are cut to that)
ROOT_SESSION_MAX_SECONDS = 3600

Kind = Literal["assumed-role", "session-token"]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a caller is, as GetCallerIdentity words it."""

    user_id: str
    account: str
    arn: str

    @classmethod
    def root(cls, account: str) -> Identity:
        return cls(account, account, f"arn:aws:iam::{account}:root")

    def to_api(self) -> dict[str, str]:
        return {"UserId": self.user_id, "Account": self.account, "Arn": self.arn}


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """What AssumeRole needs to know of a role (IAM's, handed in by app.py)."""

    role_id: str
    max_session_duration: int = 43_200
    #: may a caller of this account, known by these ARNs, with these condition keys, assume the
    #: role? (its trust policy; None: no IAM to ask, anyone may)
    trusts: Callable[[str, tuple[str, ...], Mapping[str, str]], bool] | None = None
    #: may a web identity of this issuer (`iss`), with these claims, assume the role?
    trusts_web: Callable[[str, Mapping[str, str]], bool] | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """Temporary credentials issued by STS; immutable once stored."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    kind: Kind
    #: the identity the credentials carry (assumed-role ARN, or the GetSessionToken caller's own)
    identity: Identity
    issued: float
    expiration: float
    #: the key that asked for these credentials (None: web identity, or Lambda for an environment)
    source_key: str | None = None
    role_arn: str | None = None
    session_name: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.identity.account

    def expired(self, now: float) -> bool:
        return now >= self.expiration

    def credentials(self) -> dict[str, Any]:
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": self.expiration,
        }

    def assumed_role_user(self) -> dict[str, str]:
        return {"AssumedRoleId": self.identity.user_id, "Arn": self.identity.arn}


def new_access_key_id() -> str:
    """A temporary access key id: ASIA + 16 characters of AWS's alphabet (20 in all)."""
    return "ASIA" + "".join(secrets.choice(KEY_CHARS) for _ in range(16))


def new_secret() -> str:
    """A secret access key: 40 characters, as AWS's."""
    return "".join(secrets.choice(_SECRET_CHARS) for _ in range(40))


def new_session_token() -> str:
    """An opaque session token in the look of AWS's (base64, a few hundred characters)."""
    return "IQoJb3JpZ2luX2VjE" + base64.b64encode(secrets.token_bytes(300)).decode("ascii")


def derived_role_id(role_arn: str) -> str:
    """A role's unique id when IAM does not say: AROA + 17 characters, the same for the same ARN."""
    digest = base64.b32encode(hashlib.sha256(role_arn.encode()).digest()).decode("ascii")
    return "AROA" + digest[:17]


def assumed_role(account: str, role_name: str, role_id: str, session_name: str) -> Identity:
    return Identity(
        f"{role_id}:{session_name}",
        account,
        f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
    )
