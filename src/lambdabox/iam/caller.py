"""Whom a user operation is about: the user `UserName` names or, without one, the caller.

AWS: "If you do not specify a user name, IAM determines the user name implicitly based on the
AWS access key ID used to sign the request." The caller is found the same way here, from the
access key id the edge read from the request's signature (`RequestContext.caller`):

- a key IAM issued (an IAM user's, `CreateAccessKey`) makes the caller that user;
- any other long-term key (a root key: `test`, the configured ones) is the account's root user,
  who is not an IAM user: `None`;
- temporary credentials (`ASIA…`, an STS session) are nobody's user, and AWS refuses such a
  request: ValidationError "Must specify userName when calling with non-User credentials".
"""

from __future__ import annotations

import sqlite3

from lambdabox.aws.context import RequestContext
from lambdabox.iam import store as sql
from lambdabox.iam.errors import no_user, non_user_credentials
from lambdabox.iam.models import User


def named_user(c: sqlite3.Connection, account: str, name: str) -> User:
    """The account's user `name`, else NoSuchEntity."""
    user = sql.get_user(c, account, name)
    if user is None:
        raise no_user(name)
    return user


def calling_user(c: sqlite3.Connection, ctx: RequestContext) -> User | None:
    """The IAM user whose access key signed the request; None for the account's root."""
    if ctx.caller.temporary:
        raise non_user_credentials()
    key_id = ctx.caller.access_key_id
    return None if key_id is None else sql.key_owner(c, key_id, ctx.account_id)


def subject_user(c: sqlite3.Connection, ctx: RequestContext, name: str | None) -> User | None:
    """The user `name` (NoSuchEntity if there is none) or, when `name` is None, the caller."""
    return named_user(c, ctx.account_id, name) if name is not None else calling_user(c, ctx)
