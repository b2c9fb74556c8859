"""The IAM API: `IamService` over params dicts, durable in the store; policies stored, not enforced.

`IamService` takes a `RequestContext` and the params dict as boto3 sends it (the query codec has
checked it against botocore's model) and returns each operation's result dict; the edge finds an
operation as the attribute of its name. The operations live with their entities and share one
store and clock (`base.py`): `roles.py` (roles, their inline and attached policies),
`policies.py` (managed policies and their versions), `users.py` (users and access keys),
`credentials.py` (a user's other credentials, none of which exist here). Documents are checked
by `documents.py`; an operation about "the caller" finds it from the signing key (`caller.py`).
IAM is global: its ARNs carry the account but no region. Every check that depends on stored state runs
inside the `Store.write` that makes the change, so concurrent requests cannot both pass it; every
write is committed (fsynced) before its answer.

For SigV4 verification elsewhere: `await iam.access_key(key_id)` gives the stored key (secret,
status, owning user and account) or None; for other services `await iam.role(arn)` the role.
"""

from __future__ import annotations

import re
from typing import ClassVar

from lambdabox.iam import store as sql
from lambdabox.iam.credentials import CredentialOperations
from lambdabox.iam.models import AccessKey, Role, User
from lambdabox.iam.policies import PolicyOperations
from lambdabox.iam.roles import RoleOperations
from lambdabox.iam.users import UserOperations

_ROLE_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}):role/(?:[\x21-\x7e]*/)?(?P<name>[\w+=,.@-]+)")
_USER_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}):user/(?:[\x21-\x7e]*/)?(?P<name>[\w+=,.@-]+)")


class IamService(RoleOperations, PolicyOperations, UserOperations, CredentialOperations):
    """IAM roles, managed and inline policies, users, access keys and other credentials, per account."""

    SCHEMA: ClassVar[list[str]] = sql.SCHEMA

    # -- for other services ---------------------------------------------------------------------

    async def access_key(self, access_key_id: str) -> AccessKey | None:
        """The stored access key with this id (any account, Active or Inactive), or None."""
        return await self._store.read(lambda c: sql.get_key(c, access_key_id))

    async def deleted_key_account(self, access_key_id: str) -> str | None:
        """The account of an access key that was deleted (it must not act as a root key), or None."""
        return await self._store.read(lambda c: sql.deleted_key_account(c, access_key_id))

    async def user(self, arn: str) -> User | None:
        """The user with this ARN (its account's, path included), or None."""
        m = _USER_ARN.fullmatch(arn)
        if m is None:
            return None
        user = await self._store.read(lambda c: sql.get_user(c, m["account"], m["name"]))
        return user if user is not None and user.arn == arn else None

    async def role(self, arn: str) -> Role | None:
        """The role with this ARN (its account's, path included), or None."""
        m = _ROLE_ARN.fullmatch(arn)
        if m is None:
            return None
        role = await self._store.read(lambda c: sql.get_role(c, m["account"], m["name"]))
        return role if role is not None and role.arn == arn else None
