"""IAM users and their access keys (at most two each); a user is deleted only once keyless.

GetUser, ListAccessKeys, CreateAccessKey, UpdateAccessKey and DeleteAccessKey without a UserName
are about the caller (`caller.py`): the IAM user whose key signed the request, or the account's
root, whose keys are not IAM's to list or change. Users have no inline or attached policies and
belong to no groups here, so those lists are empty once the user is known to exist.
"""

from __future__ import annotations

import sqlite3

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.iam import paging
from lambdabox.iam import store as sql
from lambdabox.iam.base import IamOperations, Params, Result
from lambdabox.iam.caller import named_user, subject_user
from lambdabox.iam.errors import conflict, no_key, non_user_credentials
from lambdabox.iam.models import (
    MAX_ACCESS_KEYS,
    AccessKey,
    User,
    check_tags,
    limit_exceeded,
    new_id,
    new_secret,
)
from lambdabox.iam.policies import boundary_policy


def _own_key(c: sqlite3.Connection, ctx: RequestContext, params: Params) -> AccessKey:
    """The key `AccessKeyId` if it is `UserName`'s or, without one, the calling user's."""
    key_id = params["AccessKeyId"]
    owner = subject_user(c, ctx, params.get("UserName"))
    key = sql.get_key(c, key_id)
    if key is None or owner is None or key.account != owner.account or key.user_id != owner.user_id:
        raise no_key(key_id)
    return key


def _root(account: str) -> Result:
    """GetUser's answer for the account's root user (not an IAM user: no name, no path)."""
    return {"UserId": account, "Arn": f"arn:aws:iam::{account}:root", "CreateDate": 0.0}


class UserOperations(IamOperations):
    """CreateUser … DeleteAccessKey, and the user's (empty) policies, groups and tags."""

    async def CreateUser(self, ctx: RequestContext, params: Params) -> Result:
        name = params["UserName"]
        boundary = params.get("PermissionsBoundary")
        user = User(
            account=ctx.account_id,
            name=name,
            path=params.get("Path") or "/",
            user_id=new_id("AIDA"),
            create_date=self._now(),
            permissions_boundary=boundary,
            tags=check_tags(params.get("Tags")),
        )

        def fn(c: sqlite3.Connection) -> bool:
            if boundary is not None:
                boundary_policy(c, ctx, boundary)
            return sql.insert_user(c, user)

        if not await self._store.write(fn):
            raise client_error("EntityAlreadyExists", f"User with name {name} already exists.", 409)
        return {"User": user.to_api()}

    async def GetUser(self, ctx: RequestContext, params: Params) -> Result:
        name = params.get("UserName")
        user = await self._store.read(lambda c: subject_user(c, ctx, name))
        return {"User": user.to_api() if user is not None else _root(ctx.account_id)}

    async def ListUsers(self, ctx: RequestContext, params: Params) -> Result:
        prefix = params.get("PathPrefix") or "/"
        users = await self._store.read(lambda c: sql.list_users(c, ctx.account_id, prefix))
        page, meta = paging.page(users, lambda u: u.name.lower(), params)
        return {"Users": [u.to_api(full=False) for u in page], **meta}

    async def DeleteUser(self, ctx: RequestContext, params: Params) -> Result:
        def fn(c: sqlite3.Connection) -> None:
            user = named_user(c, ctx.account_id, params["UserName"])
            if sql.user_keys(c, user.pk):
                raise conflict("Cannot delete entity, must delete access keys first.")
            sql.delete_user(c, user.pk)

        await self._store.write(fn)
        return {}

    # -- what a user has (tags) and has not (policies, groups) ----------------------------------

    async def ListUserTags(self, ctx: RequestContext, params: Params) -> Result:
        user = await self._store.read(lambda c: named_user(c, ctx.account_id, params["UserName"]))
        items, key = paging.positional(user.tags)
        page, meta = paging.page(items, key, params)
        return {"Tags": [dict(t) for _, t in page], **meta}

    async def ListUserPolicies(self, ctx: RequestContext, params: Params) -> Result:
        await self._store.read(lambda c: named_user(c, ctx.account_id, params["UserName"]))
        return paging.empty("PolicyNames")

    async def ListAttachedUserPolicies(self, ctx: RequestContext, params: Params) -> Result:
        await self._store.read(lambda c: named_user(c, ctx.account_id, params["UserName"]))
        return paging.empty("AttachedPolicies")

    async def ListGroupsForUser(self, ctx: RequestContext, params: Params) -> Result:
        await self._store.read(lambda c: named_user(c, ctx.account_id, params["UserName"]))
        return paging.empty("Groups")

    # -- access keys ----------------------------------------------------------------------------

    async def CreateAccessKey(self, ctx: RequestContext, params: Params) -> Result:
        name = params.get("UserName")
        key_id, secret, now = new_id("AKIA", 16), new_secret(), self._now()

        def fn(c: sqlite3.Connection) -> AccessKey:
            user = subject_user(c, ctx, name)
            if user is None:  # the root: its keys are lambdabox's configured ones, not IAM's
                raise non_user_credentials()
            if len(sql.user_keys(c, user.pk)) >= MAX_ACCESS_KEYS:
                raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}")
            sql.insert_key(c, user.pk, key_id, secret, now)
            return AccessKey(key_id, secret, "Active", user.account, user.name, user.arn, now, user.user_id)

        key = await self._store.write(fn)
        return {"AccessKey": key.to_api(with_secret=True)}

    async def ListAccessKeys(self, ctx: RequestContext, params: Params) -> Result:
        name = params.get("UserName")

        def fn(c: sqlite3.Connection) -> list[AccessKey]:
            user = subject_user(c, ctx, name)
            return [] if user is None else sql.user_keys(c, user.pk)  # the root's keys are not IAM's

        items, key = paging.positional(await self._store.read(fn))
        page, meta = paging.page(items, key, params)
        return {"AccessKeyMetadata": [k.to_api() for _, k in page], **meta}

    async def UpdateAccessKey(self, ctx: RequestContext, params: Params) -> Result:
        def fn(c: sqlite3.Connection) -> None:
            key = _own_key(c, ctx, params)
            sql.set_key_status(c, key.access_key_id, params["Status"])

        await self._store.write(fn)
        return {}

    async def DeleteAccessKey(self, ctx: RequestContext, params: Params) -> Result:
        def fn(c: sqlite3.Connection) -> None:
            key = _own_key(c, ctx, params)
            sql.delete_key(c, key.access_key_id, key.account)

        await self._store.write(fn)
        return {}
