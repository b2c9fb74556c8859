"""How the identity services serve the others: STS's view of IAM's roles and access keys, the
execution-role credentials Lambda's environments get, `--check-roles`, and who holds a key for
IAM-authorized API Gateway routes. Wired by app.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lambdabox.gateway.iam_auth import Identify, Principal
from lambdabox.iam.api import IamService
from lambdabox.iam.trust import allows_caller, allows_service, allows_web_identity
from lambdabox.lambda_.credentials import IssueRoleCredentials, RoleCredentials
from lambdabox.sts.api import StsService
from lambdabox.sts.models import LAMBDA_PRINCIPAL, Identity, RoleInfo, Session, derived_role_id


def iam_roles(iam: IamService) -> Callable[[str], Awaitable[RoleInfo | None]]:
    """STS's view of IAM's roles: a role ARN's id, session limit and trust policy, None if there is
    no such role."""

    async def find_role(arn: str) -> RoleInfo | None:
        role = await iam.role(arn)
        if role is None:
            return None
        trust = role.trust_policy
        return RoleInfo(
            role.role_id,
            role.max_session_duration,
            trusts=lambda account, arns, context: allows_caller(trust, account, arns, context),
            trusts_web=lambda issuer, claims: allows_web_identity(trust, role.account, issuer, claims),
        )

    return find_role


async def source_exists(iam: IamService, session: Session) -> bool:
    """Whether what an STS session speaks for still exists: its role (the same role, not one
    recreated under its name) or its IAM user. Policies are not enforced, so a session of a
    deleted role or user would otherwise keep every power; AWS leaves it none."""
    identity = session.identity
    if session.role_arn is not None:
        if identity.user_id.startswith(derived_role_id(session.role_arn) + ":"):
            return True  # issued for a role IAM did not have (Lambda's, without --check-roles)
        role = await iam.role(session.role_arn)
        return role is not None and identity.user_id.startswith(str(role.role_id) + ":")
    if ":user/" in identity.arn:
        user = await iam.user(identity.arn)
        return user is not None and user.user_id == identity.user_id
    return True


def role_credentials(sts: StsService) -> IssueRoleCredentials:
    """Execution-role credentials for Lambda's environments, as STS sessions."""

    async def issue(role_arn: str, session_name: str, seconds: int) -> RoleCredentials:
        s = await sts.role_session(role_arn, session_name, seconds)
        return RoleCredentials(s.access_key_id, s.secret_access_key, s.session_token, s.expiration)

    return issue


def lambda_can_assume(iam: IamService) -> Callable[[str], Awaitable[bool]]:
    """`--check-roles`: a role Lambda can assume exists in IAM and trusts lambda.amazonaws.com."""

    async def can_assume(role_arn: str) -> bool:
        role = await iam.role(role_arn)
        context = {"aws:SourceAccount": role.account} if role is not None else {}
        return role is not None and allows_service(role.trust_policy, LAMBDA_PRINCIPAL, context)

    return can_assume


def iam_key_users(iam: IamService) -> Callable[[str], Awaitable[Identity | None]]:
    """STS's view of IAM's access keys: the identity of the user a key belongs to, None if IAM
    did not issue it (a root key)."""

    async def key_user(access_key_id: str) -> Identity | None:
        if not access_key_id.startswith("AKIA"):
            return None
        key = await iam.access_key(access_key_id)
        if key is None:
            return None
        return Identity(key.user_id, key.account, key.user_arn)

    return key_user


def principals(sts: StsService, key_user: Callable[[str], Awaitable[Identity | None]]) -> Identify:
    """Who holds a key, for IAM-authorized routes: an IAM user, an STS session's identity, or
    (None) a root key."""

    async def identify(access_key_id: str, account: str) -> Principal | None:
        if access_key_id.startswith("ASIA"):
            session = await sts.session(access_key_id)
            return None if session is None else Principal(session.identity.user_id, session.identity.arn)
        user = await key_user(access_key_id)
        return None if user is None else Principal(user.user_id, user.arn)

    return identify
