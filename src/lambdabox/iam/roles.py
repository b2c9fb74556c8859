"""IAM roles: their trust policies, tags and permissions boundaries, inline and attached policies.

Every check that depends on stored state runs inside the `Store.write` that makes the change, so
concurrent requests cannot both pass it. A role is deleted only once it has no inline policies
and no attached ones, as AWS requires. Instance profiles do not exist here: a role is in none.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.iam import paging
from lambdabox.iam import store as sql
from lambdabox.iam.base import IamOperations, Params, Result
from lambdabox.iam.documents import check_document
from lambdabox.iam.errors import check_size, conflict, no_role, not_found
from lambdabox.iam.models import (
    INLINE_ROLE_POLICIES_SIZE,
    MAX_ATTACHED_PER_ROLE,
    TRUST_POLICY_SIZE,
    ManagedPolicy,
    Role,
    check_tags,
    encode_document,
    limit_exceeded,
    merge_tags,
    new_id,
    policy_size,
)
from lambdabox.iam.policies import boundary_policy, visible_policy


def _role_or_404(c: sqlite3.Connection, account: str, name: str) -> Role:
    role = sql.get_role(c, account, name)
    if role is None:
        raise no_role(name)
    return role


class RoleOperations(IamOperations):
    """CreateRole … ListAttachedRolePolicies."""

    async def CreateRole(self, ctx: RequestContext, params: Params) -> Result:
        name = params["RoleName"]
        trust = params["AssumeRolePolicyDocument"]
        check_size(trust, TRUST_POLICY_SIZE, f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}")
        check_document(trust, "trust")
        boundary = params.get("PermissionsBoundary")
        role = Role(
            account=ctx.account_id,
            name=name,
            path=params.get("Path") or "/",
            role_id=new_id("AROA"),
            create_date=self._now(),
            trust_policy=trust,
            description=params.get("Description"),
            max_session_duration=params.get("MaxSessionDuration") or 3600,
            permissions_boundary=boundary,
            tags=check_tags(params.get("Tags")),
        )

        def fn(c: sqlite3.Connection) -> bool:
            if boundary is not None:
                boundary_policy(c, ctx, boundary)
            return sql.insert_role(c, role)

        if not await self._store.write(fn):
            raise client_error("EntityAlreadyExists", f"Role with name {name} already exists.", 409)
        return {"Role": role.to_api()}

    async def GetRole(self, ctx: RequestContext, params: Params) -> Result:
        role = await self._store.read(lambda c: _role_or_404(c, ctx.account_id, params["RoleName"]))
        return {"Role": role.to_api()}

    async def ListRoles(self, ctx: RequestContext, params: Params) -> Result:
        prefix = params.get("PathPrefix") or "/"
        roles = await self._store.read(lambda c: sql.list_roles(c, ctx.account_id, prefix))
        page, meta = paging.page(roles, lambda r: r.name.lower(), params)
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
        check_size(trust, TRUST_POLICY_SIZE, f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}")
        check_document(trust, "trust")
        await self._change_role(ctx, params["RoleName"], lambda _: {"trust_policy": trust})
        return {}

    async def DeleteRole(self, ctx: RequestContext, params: Params) -> Result:
        def fn(c: sqlite3.Connection) -> None:
            role = _role_or_404(c, ctx.account_id, params["RoleName"])
            if sql.role_policies(c, role.pk):
                raise conflict("Cannot delete entity, must delete policies first.")
            if sql.attached_arns(c, role.pk):
                raise conflict("Cannot delete entity, must detach all policies first.")
            sql.delete_role(c, role.pk)

        await self._store.write(fn)
        return {}

    async def PutRolePermissionsBoundary(self, ctx: RequestContext, params: Params) -> Result:
        arn = params["PermissionsBoundary"]

        def fn(c: sqlite3.Connection) -> None:
            role = _role_or_404(c, ctx.account_id, params["RoleName"])
            boundary_policy(c, ctx, arn)
            sql.update_role(c, role.pk, permissions_boundary=arn)

        await self._store.write(fn)
        return {}

    async def DeleteRolePermissionsBoundary(self, ctx: RequestContext, params: Params) -> Result:
        await self._change_role(ctx, params["RoleName"], lambda _: {"permissions_boundary": None})
        return {}

    async def ListInstanceProfilesForRole(self, ctx: RequestContext, params: Params) -> Result:
        await self._store.read(lambda c: _role_or_404(c, ctx.account_id, params["RoleName"]))
        return paging.empty("InstanceProfiles")

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
        items, key = paging.positional(role.tags)
        page, meta = paging.page(items, key, params)
        return {"Tags": [dict(t) for _, t in page], **meta}

    # -- inline role policies -------------------------------------------------------------------

    async def PutRolePolicy(self, ctx: RequestContext, params: Params) -> Result:
        role_name, policy_name, document = params["RoleName"], params["PolicyName"], params["PolicyDocument"]
        check_document(document, "inline")

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
        page, meta = paging.page(names, str.lower, params)
        return {"PolicyNames": list(page), **meta}

    async def DeleteRolePolicy(self, ctx: RequestContext, params: Params) -> Result:
        role_name, policy_name = params["RoleName"], params["PolicyName"]

        def fn(c: sqlite3.Connection) -> None:
            role = _role_or_404(c, ctx.account_id, role_name)
            if not sql.delete_role_policy(c, role.pk, policy_name):
                raise not_found(f"The role policy with name {policy_name} cannot be found.")

        await self._store.write(fn)
        return {}

    # -- attached (managed) role policies -------------------------------------------------------

    async def AttachRolePolicy(self, ctx: RequestContext, params: Params) -> Result:
        role_name, arn = params["RoleName"], params["PolicyArn"]
        at = int(self._clock.now() * 1_000_000)

        def fn(c: sqlite3.Connection) -> None:
            role = _role_or_404(c, ctx.account_id, role_name)
            try:
                policy = visible_policy(c, ctx, arn)
            except ServiceError as err:
                if err.code == "NoSuchEntity":
                    raise not_found(f"Policy {arn} does not exist or is not attachable.") from None
                raise
            # service-linked roles' policies: AWS refuses them for any other role (aws/aws-cdk#6131)
            if policy.aws_managed and policy.path == "/aws-service-role/":
                raise client_error(
                    "PolicyNotAttachable", "Cannot attach a Service Role Policy to a Customer Role.", 400
                )
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
                    policy = visible_policy(c, ctx, arn)
                except ServiceError:
                    continue
                if policy.path.startswith(prefix):
                    out.append(policy)
            return out

        items, key = paging.positional(await self._store.read(fn))
        page, meta = paging.page(items, key, params)
        return {"AttachedPolicies": [{"PolicyName": p.name, "PolicyArn": p.arn} for _, p in page], **meta}
