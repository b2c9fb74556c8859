"""IAM managed policies and their versions: the operations, and the lookups roles share.

A caller sees its own account's policies and AWS's (`aws_policies.py`), which are read-only and whose
AttachmentCount is the caller's account's. `visible_policy` is the lookup attaching a policy to a
role uses too, `boundary_policy` the one setting a permissions boundary uses. ListEntitiesForPolicy
answers from the caller's account: the roles a policy is attached to and the roles and users it
bounds (groups do not exist here).
"""

from __future__ import annotations

import re
import sqlite3

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.iam import paging
from lambdabox.iam import store as sql
from lambdabox.iam.aws_policies import aws_policies, aws_policy
from lambdabox.iam.base import IamOperations, Params, Result
from lambdabox.iam.documents import check_document
from lambdabox.iam.errors import check_size, conflict, no_boundary, no_policy, not_found
from lambdabox.iam.models import (
    MANAGED_POLICY_SIZE,
    MAX_POLICY_VERSIONS,
    ManagedPolicy,
    PolicyVersion,
    Role,
    User,
    check_tags,
    limit_exceeded,
    new_id,
)

_POLICY_ARN = re.compile(
    r"arn:aws:iam::(?P<account>\d{12}|aws):policy(?P<path>/(?:[\x21-\x7e]*/)?)(?P<name>[\w+=,.@-]+)"
)


def visible_policy(c: sqlite3.Connection, ctx: RequestContext, arn: str) -> ManagedPolicy:
    """The managed policy `arn` visible to the caller (its account's or AWS's), else NoSuchEntity."""
    m = _POLICY_ARN.fullmatch(arn)
    if m is None:
        raise client_error("InvalidInput", f"ARN {arn} is not valid.", 400)
    if m["account"] == "aws":
        found = aws_policy(arn)
        if found is None:
            raise no_policy(arn)
        return found[0]
    policy = sql.get_policy(c, arn) if m["account"] == ctx.account_id else None
    if policy is None:
        raise no_policy(arn)
    return policy


def boundary_policy(c: sqlite3.Connection, ctx: RequestContext, arn: str) -> ManagedPolicy:
    """The managed policy `arn` as a permissions boundary: NoSuchEntity worded as AWS words it."""
    try:
        return visible_policy(c, ctx, arn)
    except ServiceError as err:
        if err.code == "NoSuchEntity":
            raise no_boundary(arn) from None
        raise


def _local_policy(c: sqlite3.Connection, ctx: RequestContext, op: str, arn: str) -> ManagedPolicy:
    """A policy the caller may change: AWS-managed ones are refused as AWS refuses them."""
    policy = visible_policy(c, ctx, arn)
    if policy.aws_managed:
        raise client_error(
            "AccessDenied",
            f"User: arn:aws:iam::{ctx.account_id}:root is not authorized to perform: iam:{op} "
            f"on resource: policy {arn}",
            403,
        )
    return policy


def _versions(c: sqlite3.Connection, policy: ManagedPolicy) -> list[PolicyVersion]:
    if policy.aws_managed:
        found = aws_policy(policy.arn)
        return [found[1]] if found is not None else []
    return sql.versions(c, policy)


def _version(c: sqlite3.Connection, ctx: RequestContext, arn: str, version_id: str) -> PolicyVersion:
    policy = visible_policy(c, ctx, arn)
    for version in _versions(c, policy):
        if version.version_id == version_id:
            return version
    raise not_found(f"Policy {arn} version {version_id} does not exist or is not attachable.")


class PolicyOperations(IamOperations):
    """CreatePolicy … DeletePolicyVersion."""

    async def CreatePolicy(self, ctx: RequestContext, params: Params) -> Result:
        name, document = params["PolicyName"], params["PolicyDocument"]
        check_size(
            document, MANAGED_POLICY_SIZE, f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}"
        )
        check_document(document, "managed")
        path = params.get("Path") or "/"
        now = self._now()
        policy = ManagedPolicy(
            arn=f"arn:aws:iam::{ctx.account_id}:policy{path}{name}",
            account=ctx.account_id,
            name=name,
            path=path,
            policy_id=new_id("ANPA"),
            default_version="v1",
            create_date=now,
            update_date=now,
            description=params.get("Description"),
            tags=check_tags(params.get("Tags")),
        )
        if not await self._store.write(lambda c: sql.insert_policy(c, policy, document)):
            raise client_error(
                "EntityAlreadyExists",
                f"A policy called {name} already exists. Duplicate names are not allowed.",
                409,
            )
        out = policy.to_api(0)
        out.pop("Description")  # CreatePolicy does not echo it
        return {"Policy": out}

    async def GetPolicy(self, ctx: RequestContext, params: Params) -> Result:
        arn = params["PolicyArn"]

        def fn(c: sqlite3.Connection) -> Result:
            policy = visible_policy(c, ctx, arn)
            return policy.to_api(sql.attachment_count(c, ctx.account_id, arn))

        return {"Policy": await self._store.read(fn)}

    async def ListPolicies(self, ctx: RequestContext, params: Params) -> Result:
        scope = params.get("Scope") or "All"
        prefix = params.get("PathPrefix") or "/"
        only_attached = bool(params.get("OnlyAttached"))

        def fn(c: sqlite3.Connection) -> tuple[list[ManagedPolicy], dict[str, int]]:
            found: list[ManagedPolicy] = []
            if scope in ("All", "AWS"):
                found.extend(aws_policies())
            if scope in ("All", "Local"):
                found.extend(sql.list_policies(c, ctx.account_id))
            return found, sql.attachment_counts(c, ctx.account_id)

        policies, counts = await self._store.read(fn)
        chosen = [
            p
            for p in policies
            if p.path.startswith(prefix) and (not only_attached or counts.get(p.arn, 0) > 0)
        ]
        chosen.sort(key=lambda p: (p.name.lower(), p.arn))
        page, meta = paging.page(chosen, lambda p: f"{p.name.lower()}\0{p.arn}", params)
        return {"Policies": [p.to_api(counts.get(p.arn, 0), full=False) for p in page], **meta}

    async def ListEntitiesForPolicy(self, ctx: RequestContext, params: Params) -> Result:
        arn = params["PolicyArn"]
        kind = params.get("EntityFilter")
        usage = params.get("PolicyUsageFilter")
        prefix = params.get("PathPrefix") or "/"

        def fn(c: sqlite3.Connection) -> list[tuple[str, str, str]]:
            policy = visible_policy(c, ctx, arn)
            if kind == ("AWSManagedPolicy" if not policy.aws_managed else "LocalManagedPolicy"):
                return []
            roles: dict[int, Role] = {}
            users: dict[int, User] = {}
            if usage in (None, "PermissionsPolicy"):
                roles.update((r.pk, r) for r in sql.attached_roles(c, ctx.account_id, arn))
            if usage in (None, "PermissionsBoundary"):
                roles.update((r.pk, r) for r in sql.bounded_roles(c, ctx.account_id, arn))
                users.update((u.pk, u) for u in sql.bounded_users(c, ctx.account_id, arn))
            found: list[tuple[str, str, str]] = []
            if kind in (None, "Role", "LocalManagedPolicy", "AWSManagedPolicy"):
                chosen = sorted(roles.values(), key=lambda r: r.name.lower())
                found += [("Role", r.name, r.role_id) for r in chosen if r.path.startswith(prefix)]
            if kind in (None, "User", "LocalManagedPolicy", "AWSManagedPolicy"):
                chosen_users = sorted(users.values(), key=lambda u: u.name.lower())
                found += [("User", u.name, u.user_id) for u in chosen_users if u.path.startswith(prefix)]
            return found

        items, key = paging.positional(await self._store.read(fn))
        page, meta = paging.page(items, key, params)
        entities = [entity for _, entity in page]
        return {
            "PolicyGroups": [],
            "PolicyUsers": [{"UserName": n, "UserId": i} for k, n, i in entities if k == "User"],
            "PolicyRoles": [{"RoleName": n, "RoleId": i} for k, n, i in entities if k == "Role"],
            **meta,
        }

    async def DeletePolicy(self, ctx: RequestContext, params: Params) -> Result:
        arn = params["PolicyArn"]

        def fn(c: sqlite3.Connection) -> None:
            policy = _local_policy(c, ctx, "DeletePolicy", arn)
            if sql.attachment_count(c, ctx.account_id, arn):
                raise conflict("Cannot delete a policy attached to entities.")
            if len(sql.versions(c, policy)) > 1:
                raise conflict(
                    "This policy has more than one version. Before you delete a policy, you must delete "
                    "the policy's versions. The default version is deleted with the policy."
                )
            sql.delete_policy(c, policy.pk)

        await self._store.write(fn)
        return {}

    # -- versions -------------------------------------------------------------------------------

    async def CreatePolicyVersion(self, ctx: RequestContext, params: Params) -> Result:
        arn, document = params["PolicyArn"], params["PolicyDocument"]
        set_default = bool(params.get("SetAsDefault"))
        check_size(
            document, MANAGED_POLICY_SIZE, f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}"
        )
        check_document(document, "managed")
        now = self._now()

        def fn(c: sqlite3.Connection) -> PolicyVersion:
            policy = _local_policy(c, ctx, "CreatePolicyVersion", arn)
            if len(sql.versions(c, policy)) >= MAX_POLICY_VERSIONS:
                raise limit_exceeded(
                    f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a "
                    "new version, you must delete an existing version."
                )
            version_id = sql.add_version(c, policy, document, now, set_default)
            return PolicyVersion(version_id, document, set_default, now)

        version = await self._store.write(fn)
        return {"PolicyVersion": version.to_api(with_document=False)}

    async def GetPolicyVersion(self, ctx: RequestContext, params: Params) -> Result:
        arn, version_id = params["PolicyArn"], params["VersionId"]
        version = await self._store.read(lambda c: _version(c, ctx, arn, version_id))
        return {"PolicyVersion": version.to_api()}

    async def ListPolicyVersions(self, ctx: RequestContext, params: Params) -> Result:
        arn = params["PolicyArn"]
        found = await self._store.read(lambda c: _versions(c, visible_policy(c, ctx, arn)))
        page, meta = paging.page(found, lambda v: f"{10**9 - int(v.version_id[1:]):010d}", params)
        return {"Versions": [v.to_api(with_document=False) for v in page], **meta}

    async def SetDefaultPolicyVersion(self, ctx: RequestContext, params: Params) -> Result:
        arn, version_id = params["PolicyArn"], params["VersionId"]
        now = self._now()

        def fn(c: sqlite3.Connection) -> None:
            policy = _local_policy(c, ctx, "SetDefaultPolicyVersion", arn)
            _version(c, ctx, arn, version_id)
            sql.set_default_version(c, policy.pk, version_id, now)

        await self._store.write(fn)
        return {}

    async def DeletePolicyVersion(self, ctx: RequestContext, params: Params) -> Result:
        arn, version_id = params["PolicyArn"], params["VersionId"]

        def fn(c: sqlite3.Connection) -> None:
            policy = _local_policy(c, ctx, "DeletePolicyVersion", arn)
            version = _version(c, ctx, arn, version_id)
            if version.is_default:
                raise conflict("Cannot delete the default version of a policy.")
            sql.delete_version(c, policy.pk, version_id)

        await self._store.write(fn)
        return {}
