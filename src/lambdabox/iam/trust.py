"""Trust policies read for one question: may this AWS service assume the role?

A role's trust policy (its AssumeRolePolicyDocument) lets a service assume it when a statement with
`Effect: Allow`, an `Action` of `sts:AssumeRole` (or `sts:*`, `*`; action names are matched without
regard to case) and a `Principal` of `{"Service": <service>}` (a string or a list of them) names it,
and no `Deny` statement of the same kind (or with `Principal: "*"`) does. Only a Service principal
allows (`"*"` does not); conditions are not evaluated (taken as met); `NotAction` / `NotPrincipal`
statements are ignored.
This is what Lambda's `--check-roles` asks of an execution role.
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


def _names(statement: dict[str, Any], service: str) -> bool:
    """Whether the statement is about `service` assuming the role."""
    actions = {a.lower() for a in _strings(statement.get("Action"))}
    if not actions & _ASSUME:
        return False
    principal = statement.get("Principal")
    if principal == "*":
        return statement.get("Effect") == "Deny"  # everyone: a Deny covers the service too
    if not isinstance(principal, dict):
        return False
    return service in _strings(principal.get("Service"))


def allows_service(document: str, service: str) -> bool:
    """Whether the trust policy `document` (JSON) lets `service` (e.g. lambda.amazonaws.com) assume
    the role; False for anything that is not a policy."""
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
    naming = [s for s in statements if isinstance(s, dict) and _names(s, service)]
    denied = any(s.get("Effect") == "Deny" for s in naming)
    return not denied and any(s.get("Effect") == "Allow" for s in naming)
