"""Access keys the server knows: what a key id stands for (its account, its secret, its session).

Three kinds of keys sign requests to lambdabox, each answered by its owner (wired in app.py):

- **root keys**, from `--root-keys` (`test:test` by default): `ID:SECRET[:ACCOUNT]`, comma
  separated; a key without an account acts in `--account-id`. `RootKeys` parses and holds them.
- **IAM users' access keys** (`AKIA…`, CreateAccessKey), in IAM's store;
- **temporary keys** (`ASIA…`) that STS issued, with their session token and expiration.

A `KnownKey` is the one shape the edge sees for all three. Without signature verification a key
nobody issued still acts as a root key of the configured account (any `test`-style key works);
with it, only known keys are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

_ACCOUNT = re.compile(r"\d{12}")
_KEY_ID = re.compile(r"[A-Za-z0-9+/=_.-]{1,128}")


@dataclass(frozen=True, slots=True)
class KnownKey:
    """An access key the server issued or was configured with."""

    access_key_id: str
    secret_access_key: str
    account: str
    #: the session token temporary keys must be presented with (None: a long-term key)
    session_token: str | None = None
    #: when a temporary key stops working, on the server's clock (None: never)
    expiration: float | None = None
    #: False for an IAM access key made Inactive (it is refused, as AWS does)
    active: bool = True
    #: whom the key speaks for: an IAM user's ARN, an STS session's; None for a root key
    principal_arn: str | None = None

    def expired(self, now: float) -> bool:
        return self.expiration is not None and now >= self.expiration


FindKey = Callable[[str], Awaitable[KnownKey | None]]


class RootKeys:
    """The configured root keys: `ID:SECRET[:ACCOUNT]`, comma separated."""

    def __init__(self, spec: str, default_account: str) -> None:
        self._keys: dict[str, KnownKey] = {}
        for entry in (e.strip() for e in spec.split(",")):
            if not entry:
                continue
            parts = entry.split(":")
            if len(parts) not in (2, 3) or not all(parts):
                raise ValueError(f"root key {entry.split(':')[0]!r} must be ID:SECRET or ID:SECRET:ACCOUNT")
            key_id, secret = parts[0], parts[1]
            account = parts[2] if len(parts) == 3 else default_account
            if _KEY_ID.fullmatch(key_id) is None:
                raise ValueError(f"root key id {key_id!r} has characters an access key id cannot have")
            if _ACCOUNT.fullmatch(account) is None:
                raise ValueError(f"root key {key_id!r}: the account must be 12 digits, not {account!r}")
            if key_id in self._keys:
                raise ValueError(f"root key {key_id!r} is given twice")
            self._keys[key_id] = KnownKey(key_id, secret, account)
        if not self._keys:
            raise ValueError("at least one root key is needed (ID:SECRET)")

    def get(self, access_key_id: str) -> KnownKey | None:
        return self._keys.get(access_key_id)

    def of_account(self, account: str) -> KnownKey | None:
        """The first root key given for `account`, if any."""
        return next((k for k in self._keys.values() if k.account == account), None)

    @property
    def accounts(self) -> frozenset[str]:
        return frozenset(k.account for k in self._keys.values())
