"""IAM users and their access keys (at most two each); a user is deleted only once keyless."""

from __future__ import annotations

import sqlite3

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.iam import paging
from lambdabox.iam import store as sql
from lambdabox.iam.base import IamOperations, Params, Result
from lambdabox.iam.errors import conflict, no_key, no_user
from lambdabox.iam.models import (
    MAX_ACCESS_KEYS,
    AccessKey,
    User,
    check_tags,
    limit_exceeded,
    new_id,
    new_secret,
)


def _user_or_404(c: sqlite3.Connection, account: str, name: str) -> User:
    user = sql.get_user(c, account, name)
    if user is None:
        raise no_user(name)
    return user


def _own_key(c: sqlite3.Connection, ctx: RequestContext, params: Params) -> AccessKey:
    """The key `AccessKeyId` if it is the caller's account's (and `UserName`'s, if given)."""
    key_id, name = params["AccessKeyId"], params.get("UserName")
    if name is not None:
        _user_or_404(c, ctx.account_id, name)
    key = sql.get_key(c, key_id)
    if (
        key is None
        or key.account != ctx.account_id
        or (name is not None and key.user_name.lower() != name.lower())
    ):
        raise no_key(key_id)
    return key


class UserOperations(IamOperations):
    """CreateUser … DeleteAccessKey."""

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
        page, meta = paging.page(users, lambda u: u.name.lower(), params)
        return {"Users": [u.to_api(full=False) for u in page], **meta}

    async def DeleteUser(self, ctx: RequestContext, params: Params) -> Result:
        def fn(c: sqlite3.Connection) -> None:
            user = _user_or_404(c, ctx.account_id, params["UserName"])
            if sql.user_keys(c, user.pk):
                raise conflict("Cannot delete entity, must delete access keys first.")
            sql.delete_user(c, user.pk)

        await self._store.write(fn)
        return {}

    # -- access keys ----------------------------------------------------------------------------

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
