"""The IAM API: its operations over params dicts, durable in the store; policies stored, not enforced.

`IamService` takes a `RequestContext` and the params dict as boto3 sends it (the query codec has
checked it against botocore's model) and returns each operation's result dict. IAM is global:
its ARNs carry the account but no region. Every check that depends on stored state runs inside
the `Store.write` that makes the change, so concurrent requests cannot both pass it; every write
is committed (fsynced) before its answer. AWS-managed policies (`managed.py`) are read-only and
shared by all accounts; their AttachmentCount is the caller's account's.

For SigV4 verification elsewhere: `await iam.access_key(key_id)` gives the stored key (secret,
status, owning user and account) or None; for other services `await iam.role(arn)` the role.
"""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.clock import Clock
from lambdabox.iam import store as sql
from lambdabox.iam.managed import AWS_MANAGED
from lambdabox.iam.models import (
    INLINE_ROLE_POLICIES_SIZE,
    MANAGED_POLICY_SIZE,
    MAX_ACCESS_KEYS,
    MAX_ATTACHED_PER_ROLE,
    MAX_POLICY_VERSIONS,
    TRUST_POLICY_SIZE,
    AccessKey,
    ManagedPolicy,
    PolicyVersion,
    Role,
    User,
    check_document,
    check_tags,
    encode_document,
    limit_exceeded,
    merge_tags,
    new_id,
    new_secret,
    policy_size,
)
from lambdabox.store.db import Store

T = TypeVar("T")
Params = dict[str, Any]
Result = dict[str, Any]

_POLICY_ARN = re.compile(
    r"arn:aws:iam::(?P<account>\d{12}|aws):policy(?P<path>/(?:[\x21-\x7e]*/)?)(?P<name>[\w+=,.@-]+)"
)
_ROLE_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}):role/(?:[\x21-\x7e]*/)?(?P<name>[\w+=,.@-]+)")
_DEFAULT_MAX_ITEMS = 100


def not_found(message: str) -> ServiceError:
    return client_error("NoSuchEntity", message, 404)


def _no_role(name: str) -> ServiceError:
    return not_found(f"The role with name {name} cannot be found.")


def _no_user(name: str) -> ServiceError:
    return not_found(f"The user with name {name} cannot be found.")


def _no_policy(arn: str) -> ServiceError:
    return not_found(f"Policy {arn} was not found.")


def _no_key(key_id: str) -> ServiceError:
    return not_found(f"The Access Key with id {key_id} cannot be found.")


def _conflict(message: str) -> ServiceError:
    return client_error("DeleteConflict", message, 409)


def _role_or_404(c: sqlite3.Connection, account: str, name: str) -> Role:
    role = sql.get_role(c, account, name)
    if role is None:
        raise _no_role(name)
    return role


def _user_or_404(c: sqlite3.Connection, account: str, name: str) -> User:
    user = sql.get_user(c, account, name)
    if user is None:
        raise _no_user(name)
    return user


def _check_size(document: str, limit: int, message: str) -> None:
    if policy_size(document) > limit:
        raise limit_exceeded(message)


def _encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode("ascii")


def _page(items: Sequence[T], key: Callable[[T], str], params: Params) -> tuple[Sequence[T], Result]:
    """One page of `items` (sorted by `key`) after `Marker`: (page, {IsTruncated, Marker})."""
    max_items = params.get("MaxItems") or _DEFAULT_MAX_ITEMS
    start = 0
    marker = params.get("Marker")
    if marker is not None:
        try:
            after = base64.urlsafe_b64decode(marker.encode("ascii")).decode()
        except (binascii.Error, UnicodeError, ValueError):
            raise client_error("ValidationError", "Invalid Marker.", 400) from None
        start = next((i for i, item in enumerate(items) if key(item) > after), len(items))
    page = items[start : start + max_items]
    truncated = start + max_items < len(items)
    meta: Result = {"IsTruncated": truncated}
    if truncated:
        meta["Marker"] = _encode_marker(key(page[-1]))
    return page, meta


def _positional(items: Sequence[T]) -> tuple[list[tuple[str, T]], Callable[[tuple[str, T]], str]]:
    """Items keyed by position, for lists with no natural unique order (tags, attachments)."""
    return [(f"{i:08d}", item) for i, item in enumerate(items)], lambda pair: pair[0]


class IamService:
    """IAM roles, managed and inline policies, users and access keys, per account."""

    SCHEMA: ClassVar[list[str]] = sql.SCHEMA

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def _now(self) -> float:
        return round(self._clock.now(), 3)

    # ============================================================================================
    # for other services
    # ============================================================================================

    async def access_key(self, access_key_id: str) -> AccessKey | None:
        """The stored access key with this id (any account, Active or Inactive), or None."""
        return await self._store.read(lambda c: sql.get_key(c, access_key_id))

    async def role(self, arn: str) -> Role | None:
        """The role with this ARN (its account's, path included), or None."""
        m = _ROLE_ARN.fullmatch(arn)
        if m is None:
            return None
        role = await self._store.read(lambda c: sql.get_role(c, m["account"], m["name"]))
        return role if role is not None and role.arn == arn else None

    # ============================================================================================
    # policies: lookup
    # ============================================================================================

    @staticmethod
    def _policy(c: sqlite3.Connection, ctx: RequestContext, arn: str) -> ManagedPolicy:
        """The managed policy `arn` visible to the caller (its account's or AWS's), else NoSuchEntity."""
        m = _POLICY_ARN.fullmatch(arn)
        if m is None:
            raise client_error("InvalidInput", f"ARN {arn} is not valid.", 400)
        if m["account"] == "aws":
            found = AWS_MANAGED.get(arn)
            if found is None:
                raise _no_policy(arn)
            return found[0]
        policy = sql.get_policy(c, arn) if m["account"] == ctx.account_id else None
        if policy is None:
            raise _no_policy(arn)
        return policy

    @staticmethod
    def _local(c: sqlite3.Connection, ctx: RequestContext, op: str, arn: str) -> ManagedPolicy:
        """A policy the caller may change: AWS-managed ones are refused as AWS refuses them."""
        policy = IamService._policy(c, ctx, arn)
        if policy.aws_managed:
            raise client_error(
                "AccessDenied",
                f"User: arn:aws:iam::{ctx.account_id}:root is not authorized to perform: iam:{op} "
                f"on resource: policy {arn}",
                403,
            )
        return policy

    @staticmethod
    def _versions(c: sqlite3.Connection, policy: ManagedPolicy) -> list[PolicyVersion]:
        if policy.aws_managed:
            return [AWS_MANAGED[policy.arn][1]]
        return sql.versions(c, policy)

    # ============================================================================================
    # roles
    # ============================================================================================

    async def CreateRole(self, ctx: RequestContext, params: Params) -> Result:
        name = params["RoleName"]
        trust = params["AssumeRolePolicyDocument"]
        _check_size(trust, TRUST_POLICY_SIZE, f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}")
        check_document(trust, "trust")
        role = Role(
            account=ctx.account_id,
            name=name,
            path=params.get("Path") or "/",
            role_id=new_id("AROA"),
            create_date=self._now(),
            trust_policy=trust,
            description=params.get("Description"),
            max_session_duration=params.get("MaxSessionDuration") or 3600,
            permissions_boundary=params.get("PermissionsBoundary"),
            tags=check_tags(params.get("Tags")),
        )
        if not await self._store.write(lambda c: sql.insert_role(c, role)):
            raise client_error("EntityAlreadyExists", f"Role with name {name} already exists.", 409)
        return {"Role": role.to_api()}

    async def GetRole(self, ctx: RequestContext, params: Params) -> Result:
        role = await self._store.read(lambda c: _role_or_404(c, ctx.account_id, params["RoleName"]))
        return {"Role": role.to_api()}

    async def ListRoles(self, ctx: RequestContext, params: Params) -> Result:
        prefix = params.get("PathPrefix") or "/"
        roles = await self._store.read(lambda c: sql.list_roles(c, ctx.account_id, prefix))
        page, meta = _page(roles, lambda r: r.name.lower(), params)
        return {"Roles": [r.to_api(full=False) for r in page], **meta}

    async def _change_role(self, ctx: RequestContext, name: str, change: Callable[[Role], Params]) -> None:
        def fn(c: sqlite3.Connection) -> None:
            role = _role_or_404(c, ctx.account_id, name)
            changes = change(role)
            if changes:
                sql.update_role(c, role.pk, **changes)

        await self._store.write(fn)

    async def UpdateRole(self, ctx: RequestContext, params: Params) -> Result:
        changes: Params = {}
        if params.get("Description") is not None:
            changes["description"] = params["Description"]
        if params.get("MaxSessionDuration") is not None:
            changes["max_session_duration"] = params["MaxSessionDuration"]
        await self._change_role(ctx, params["RoleName"], lambda _: changes)
        return {}

    async def UpdateRoleDescription(self, ctx: RequestContext, params: Params) -> Result:
        description = params["Description"]
        await self._change_role(ctx, params["RoleName"], lambda _: {"description": description})
        return await self.GetRole(ctx, {"RoleName": params["RoleName"]})

    async def UpdateAssumeRolePolicy(self, ctx: RequestContext, params: Params) -> Result:
        trust = params["PolicyDocument"]
        _check_size(trust, TRUST_POLICY_SIZE, f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}")
        check_document(trust, "trust")
        await self._change_role(ctx, params["RoleName"], lambda _: {"trust_policy": trust})
        return {}

    async def DeleteRole(self, ctx: RequestContext, params: Params) -> Result:
        def fn(c: sqlite3.Connection) -> None:
            role = _role_or_404(c, ctx.account_id, params["RoleName"])
            if sql.role_policies(c, role.pk):
                raise _conflict("Cannot delete entity, must delete policies first.")
            if sql.attached_arns(c, role.pk):
                raise _conflict("Cannot delete entity, must detach all policies first.")
            sql.delete_role(c, role.pk)

        await self._store.write(fn)
        return {}

    async def PutRolePermissionsBoundary(self, ctx: RequestContext, params: Params) -> Result:
        arn = params["PermissionsBoundary"]
        await self._change_role(ctx, params["RoleName"], lambda _: {"permissions_boundary": arn})
        return {}

    async def DeleteRolePermissionsBoundary(self, ctx: RequestContext, params: Params) -> Result:
        await self._change_role(ctx, params["RoleName"], lambda _: {"permissions_boundary": None})
        return {}

    # -- role tags ------------------------------------------------------------------------------

    async def TagRole(self, ctx: RequestContext, params: Params) -> Result:
        add = check_tags(params["Tags"])
        await self._change_role(ctx, params["RoleName"], lambda r: {"tags": merge_tags(r.tags, add)})
        return {}

    async def UntagRole(self, ctx: RequestContext, params: Params) -> Result:
        keys = [str(k) for k in params["TagKeys"]]
        await self._change_role(ctx, params["RoleName"], lambda r: {"tags": merge_tags(r.tags, (), keys)})
        return {}

    async def ListRoleTags(self, ctx: RequestContext, params: Params) -> Result:
        role = await self._store.read(lambda c: _role_or_404(c, ctx.account_id, params["RoleName"]))
        items, key = _positional(role.tags)
        page, meta = _page(items, key, params)
        return {"Tags": [dict(t) for _, t in page], **meta}

    # ============================================================================================
    # inline role policies
    # ============================================================================================

    async def PutRolePolicy(self, ctx: RequestContext, params: Params) -> Result:
        role_name, policy_name, document = params["RoleName"], params["PolicyName"], params["PolicyDocument"]
        check_document(document, "identity")

        def fn(c: sqlite3.Connection) -> None:
            role = _role_or_404(c, ctx.account_id, role_name)
            existing = sql.role_policies(c, role.pk)
            others = sum(policy_size(d) for n, d in existing.items() if n.lower() != policy_name.lower())
            if others + policy_size(document) > INLINE_ROLE_POLICIES_SIZE:
                raise limit_exceeded(
                    f"Maximum policy size of {INLINE_ROLE_POLICIES_SIZE} bytes exceeded for role {role.name}"
                )
            sql.put_role_policy(c, role.pk, policy_name, document)

        await self._store.write(fn)
        return {}

    async def GetRolePolicy(self, ctx: RequestContext, params: Params) -> Result:
        role_name, policy_name = params["RoleName"], params["PolicyName"]

        def fn(c: sqlite3.Connection) -> Result:
            role = _role_or_404(c, ctx.account_id, role_name)
            for name, document in sql.role_policies(c, role.pk).items():
                if name.lower() == policy_name.lower():
                    return {
                        "RoleName": role.name,
                        "PolicyName": name,
                        "PolicyDocument": encode_document(document),
                    }
            raise not_found(f"The role policy with name {policy_name} cannot be found.")

        return await self._store.read(fn)

    async def ListRolePolicies(self, ctx: RequestContext, params: Params) -> Result:
        def fn(c: sqlite3.Connection) -> list[str]:
            role = _role_or_404(c, ctx.account_id, params["RoleName"])
            return list(sql.role_policies(c, role.pk))

        names = await self._store.read(fn)
        page, meta = _page(names, str.lower, params)
        return {"PolicyNames": list(page), **meta}

    async def DeleteRolePolicy(self, ctx: RequestContext, params: Params) -> Result:
        role_name, policy_name = params["RoleName"], params["PolicyName"]

        def fn(c: sqlite3.Connection) -> None:
            role = _role_or_404(c, ctx.account_id, role_name)
            if not sql.delete_role_policy(c, role.pk, policy_name):
                raise not_found(f"The role policy with name {policy_name} cannot be found.")

        await self._store.write(fn)
        return {}

    # ============================================================================================
    # attached (managed) role policies
    # ============================================================================================

    async def AttachRolePolicy(self, ctx: RequestContext, params: Params) -> Result:
        role_name, arn = params["RoleName"], params["PolicyArn"]
        at = int(self._clock.now() * 1_000_000)

        def fn(c: sqlite3.Connection) -> None:
            role = _role_or_404(c, ctx.account_id, role_name)
            try:
                self._policy(c, ctx, arn)
            except ServiceError as err:
                if err.code == "NoSuchEntity":
                    raise not_found(f"Policy {arn} does not exist or is not attachable.") from None
                raise
            attached = sql.attached_arns(c, role.pk)
            if arn not in attached and len(attached) >= MAX_ATTACHED_PER_ROLE:
                raise limit_exceeded(f"Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED_PER_ROLE}")
            sql.attach(c, role.pk, ctx.account_id, arn, at)

        await self._store.write(fn)
        return {}

    async def DetachRolePolicy(self, ctx: RequestContext, params: Params) -> Result:
        role_name, arn = params["RoleName"], params["PolicyArn"]

        def fn(c: sqlite3.Connection) -> None:
            role = _role_or_404(c, ctx.account_id, role_name)
            if not sql.detach(c, role.pk, arn):
                raise not_found(f"Policy {arn} was not found.")

        await self._store.write(fn)
        return {}

    async def ListAttachedRolePolicies(self, ctx: RequestContext, params: Params) -> Result:
        prefix = params.get("PathPrefix") or "/"

        def fn(c: sqlite3.Connection) -> list[ManagedPolicy]:
            role = _role_or_404(c, ctx.account_id, params["RoleName"])
            out = []
            for arn in sql.attached_arns(c, role.pk):
                try:
                    policy = self._policy(c, ctx, arn)
                except ServiceError:
                    continue
                if policy.path.startswith(prefix):
                    out.append(policy)
            return out

        items, key = _positional(await self._store.read(fn))
        page, meta = _page(items, key, params)
        return {"AttachedPolicies": [{"PolicyName": p.name, "PolicyArn": p.arn} for _, p in page], **meta}

    # ============================================================================================
    # managed policies
    # ============================================================================================

    async def CreatePolicy(self, ctx: RequestContext, params: Params) -> Result:
        name, document = params["PolicyName"], params["PolicyDocument"]
        _check_size(
            document, MANAGED_POLICY_SIZE, f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}"
        )
        check_document(document, "identity")
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
            policy = self._policy(c, ctx, arn)
            return policy.to_api(sql.attachment_count(c, ctx.account_id, arn))

        return {"Policy": await self._store.read(fn)}

    async def ListPolicies(self, ctx: RequestContext, params: Params) -> Result:
        scope = params.get("Scope") or "All"
        prefix = params.get("PathPrefix") or "/"
        only_attached = bool(params.get("OnlyAttached"))

        def fn(c: sqlite3.Connection) -> tuple[list[ManagedPolicy], dict[str, int]]:
            found: list[ManagedPolicy] = []
            if scope in ("All", "AWS"):
                found.extend(p for p, _ in AWS_MANAGED.values())
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
        page, meta = _page(chosen, lambda p: f"{p.name.lower()}\0{p.arn}", params)
        return {"Policies": [p.to_api(counts.get(p.arn, 0), full=False) for p in page], **meta}

    async def DeletePolicy(self, ctx: RequestContext, params: Params) -> Result:
        arn = params["PolicyArn"]

        def fn(c: sqlite3.Connection) -> None:
            policy = self._local(c, ctx, "DeletePolicy", arn)
            if sql.attachment_count(c, ctx.account_id, arn):
                raise _conflict("Cannot delete a policy attached to entities.")
            if len(sql.versions(c, policy)) > 1:
                raise _conflict(
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
        _check_size(
            document, MANAGED_POLICY_SIZE, f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}"
        )
        check_document(document, "identity")
        now = self._now()

        def fn(c: sqlite3.Connection) -> PolicyVersion:
            policy = self._local(c, ctx, "CreatePolicyVersion", arn)
            if len(sql.versions(c, policy)) >= MAX_POLICY_VERSIONS:
                raise limit_exceeded(
                    f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a "
                    "new version, you must delete an existing version."
                )
            version_id = sql.add_version(c, policy, document, now, set_default)
            return PolicyVersion(version_id, document, set_default, now)

        version = await self._store.write(fn)
        return {"PolicyVersion": version.to_api(with_document=False)}

    def _version(
        self, c: sqlite3.Connection, ctx: RequestContext, arn: str, version_id: str
    ) -> PolicyVersion:
        policy = self._policy(c, ctx, arn)
        for version in self._versions(c, policy):
            if version.version_id == version_id:
                return version
        raise not_found(f"Policy {arn} version {version_id} does not exist or is not attachable.")

    async def GetPolicyVersion(self, ctx: RequestContext, params: Params) -> Result:
        arn, version_id = params["PolicyArn"], params["VersionId"]
        version = await self._store.read(lambda c: self._version(c, ctx, arn, version_id))
        return {"PolicyVersion": version.to_api()}

    async def ListPolicyVersions(self, ctx: RequestContext, params: Params) -> Result:
        arn = params["PolicyArn"]
        found = await self._store.read(lambda c: self._versions(c, self._policy(c, ctx, arn)))
        page, meta = _page(found, lambda v: f"{10**9 - int(v.version_id[1:]):010d}", params)
        return {"Versions": [v.to_api(with_document=False) for v in page], **meta}

    async def SetDefaultPolicyVersion(self, ctx: RequestContext, params: Params) -> Result:
        arn, version_id = params["PolicyArn"], params["VersionId"]
        now = self._now()

        def fn(c: sqlite3.Connection) -> None:
            policy = self._local(c, ctx, "SetDefaultPolicyVersion", arn)
            self._version(c, ctx, arn, version_id)
            sql.set_default_version(c, policy.pk, version_id, now)

        await self._store.write(fn)
        return {}

    async def DeletePolicyVersion(self, ctx: RequestContext, params: Params) -> Result:
        arn, version_id = params["PolicyArn"], params["VersionId"]

        def fn(c: sqlite3.Connection) -> None:
            policy = self._local(c, ctx, "DeletePolicyVersion", arn)
            version = self._version(c, ctx, arn, version_id)
            if version.is_default:
                raise _conflict("Cannot delete the default version of a policy.")
            sql.delete_version(c, policy.pk, version_id)

        await self._store.write(fn)
        return {}

    # ============================================================================================
    # users and access keys
    # ============================================================================================

    async def CreateUser(self, ctx: RequestContext, params: Params) -> Result:
        name = params["UserName"]
        user = User(
            account=ctx.account_id,
            name=name,
            path=params.get("Path") or "/",
            user_id=new_id("AIDA"),
            create_date=self._now(),
            permissions_boundary=params.get("PermissionsBoundary"),
            tags=check_tags(params.get("Tags")),
        )
        if not await self._store.write(lambda c: sql.insert_user(c, user)):
            raise client_error("EntityAlreadyExists", f"User with name {name} already exists.", 409)
        return {"User": user.to_api()}

    async def GetUser(self, ctx: RequestContext, params: Params) -> Result:
        name = params.get("UserName")
        if name is None:  # the caller: the account's root until callers are identified by signature
            return {
                "User": {
                    "UserId": ctx.account_id,
                    "Arn": f"arn:aws:iam::{ctx.account_id}:root",
                    "CreateDate": 0.0,
                }
            }
        user = await self._store.read(lambda c: _user_or_404(c, ctx.account_id, name))
        return {"User": user.to_api()}

    async def ListUsers(self, ctx: RequestContext, params: Params) -> Result:
        prefix = params.get("PathPrefix") or "/"
        users = await self._store.read(lambda c: sql.list_users(c, ctx.account_id, prefix))
        page, meta = _page(users, lambda u: u.name.lower(), params)
        return {"Users": [u.to_api(full=False) for u in page], **meta}

    async def DeleteUser(self, ctx: RequestContext, params: Params) -> Result:
        def fn(c: sqlite3.Connection) -> None:
            user = _user_or_404(c, ctx.account_id, params["UserName"])
            if sql.user_keys(c, user.pk):
                raise _conflict("Cannot delete entity, must delete access keys first.")
            sql.delete_user(c, user.pk)

        await self._store.write(fn)
        return {}

    async def CreateAccessKey(self, ctx: RequestContext, params: Params) -> Result:
        name = params.get("UserName")
        if name is None:
            raise client_error(
                "ValidationError", "Must specify userName when calling with non-User credentials", 400
            )
        key_id, secret, now = new_id("AKIA", 16), new_secret(), self._now()

        def fn(c: sqlite3.Connection) -> AccessKey:
            user = _user_or_404(c, ctx.account_id, name)
            if len(sql.user_keys(c, user.pk)) >= MAX_ACCESS_KEYS:
                raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}")
            sql.insert_key(c, user.pk, key_id, secret, now)
            return AccessKey(key_id, secret, "Active", user.account, user.name, user.arn, now, user.user_id)

        key = await self._store.write(fn)
        return {"AccessKey": key.to_api(with_secret=True)}

    async def ListAccessKeys(self, ctx: RequestContext, params: Params) -> Result:
        name = params.get("UserName")

        def fn(c: sqlite3.Connection) -> list[AccessKey]:
            if name is None:
                return []  # the root's keys are not IAM's to list
            return sql.user_keys(c, _user_or_404(c, ctx.account_id, name).pk)

        items, key = _positional(await self._store.read(fn))
        page, meta = _page(items, key, params)
        return {"AccessKeyMetadata": [k.to_api() for _, k in page], **meta}

    def _own_key(self, c: sqlite3.Connection, ctx: RequestContext, params: Params) -> AccessKey:
        key_id, name = params["AccessKeyId"], params.get("UserName")
        if name is not None:
            _user_or_404(c, ctx.account_id, name)
        key = sql.get_key(c, key_id)
        if (
            key is None
            or key.account != ctx.account_id
            or (name is not None and key.user_name.lower() != name.lower())
        ):
            raise _no_key(key_id)
        return key

    async def UpdateAccessKey(self, ctx: RequestContext, params: Params) -> Result:
        def fn(c: sqlite3.Connection) -> None:
            key = self._own_key(c, ctx, params)
            sql.set_key_status(c, key.access_key_id, params["Status"])

        await self._store.write(fn)
        return {}

    async def DeleteAccessKey(self, ctx: RequestContext, params: Params) -> Result:
        def fn(c: sqlite3.Connection) -> None:
            sql.delete_key(c, self._own_key(c, ctx, params).access_key_id)

        await self._store.write(fn)
        return {}
