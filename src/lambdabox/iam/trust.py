"""Trust policies read for one question: may this principal assume the role?

A role's trust policy (its AssumeRolePolicyDocument) lets a principal assume it when a statement with
`Effect: Allow`, an `Action` of `sts:AssumeRole` (or `sts:*`, `*`; action names are matched without
regard to case) and a `Principal` naming it allows it, and no `Deny` statement of the same kind (or
with `Principal: "*"`) names it. Two kinds of principal are asked about:

- a service (`allows_service`): `{"Service": <service>}`, a string or a list; `"*"` does not allow
  a service. This is what Lambda's `--check-roles` asks of an execution role.
- an AWS caller (`allows_caller`, STS's AssumeRole): `{"AWS": …}` naming `*`, the caller's account
  (`123456789012` or `arn:aws:iam::123456789012:root`), its ARN, or for a role session the role's
  ARN; `Principal: "*"` allows anyone. A role in another account is assumed only when its trust
  policy names the caller: that is what keeps tenants (accounts) apart.

Conditions are not evaluated (taken as met); `NotAction` / `NotPrincipal` statements are ignored.
"""

from __future__ import annotations

import json
from typing import Any

_ASSUME = frozenset({"sts:assumerole", "sts:*", "*"})


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _names(statement: dict[str, Any], kind: str, names: frozenset[str], anyone: bool) -> bool:
    """Whether the statement is about one of `names` (principals of `kind`) assuming the role;
    `anyone`: whether `"*"` (as the principal, or as an AWS principal) counts for them."""
    actions = {a.lower() for a in _strings(statement.get("Action"))}
    if not actions & _ASSUME:
        return False
    principal = statement.get("Principal")
    if principal == "*":  # everyone: a Deny covers them; an Allow only where `anyone` says so
        return anyone or statement.get("Effect") == "Deny"
    if not isinstance(principal, dict):
        return False
    named = set(_strings(principal.get(kind)))
    return bool(named & names) or (anyone and "*" in named)


def allows_service(document: str, service: str) -> bool:
    """Whether the trust policy `document` (JSON) lets `service` (e.g. lambda.amazonaws.com) assume
    the role; False for anything that is not a policy."""
    return _allows(document, "Service", frozenset({service}), anyone=False)


def allows_caller(document: str, account: str, arns: tuple[str, ...]) -> bool:
    """Whether the trust policy lets an AWS caller of `account`, known by `arns` (its own ARN and,
    for a role session, the role's), assume the role."""
    names = frozenset({account, f"arn:aws:iam::{account}:root", *arns})
    return _allows(document, "AWS", names, anyone=True)


def _allows(document: str, kind: str, names: frozenset[str], *, anyone: bool) -> bool:
    try:
        policy = json.loads(document)
    except ValueError:
        return False
    if not isinstance(policy, dict):
        return False
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return False
    naming = [s for s in statements if isinstance(s, dict) and _names(s, kind, names, anyone)]
    denied = any(s.get("Effect") == "Deny" for s in naming)
    return not denied and any(s.get("Effect") == "Allow" for s in naming)
