"""Trust policies read for one question: may this principal assume the role? Failing closed.

A role's trust policy (its AssumeRolePolicyDocument) lets a principal assume it when some `Allow`
statement applies to the request and no `Deny` statement does. A statement applies when

- its `Action` matches the action (`sts:AssumeRole`; `*` and `?` wildcards, any letter case), or
  its `NotAction` does not;
- its `Principal` names the principal — `"*"`, or for an AWS caller (`allows_caller`, STS's
  AssumeRole) `{"AWS": …}` with `*`, the caller's account (`123456789012`,
  `arn:aws:iam::123456789012:root`), its ARN or, for a role session, the role's ARN; for a service
  (`allows_service`, Lambda's `--check-roles`) `{"Service": …}` naming it (`"*"` does not allow a
  service). A `Deny` with `NotPrincipal` applies to everyone it does not name;
  For a web identity (`allows_web_identity`, STS's AssumeRoleWithWebIdentity, action
  `sts:AssumeRoleWithWebIdentity`) `{"Federated": …}` naming its provider: the issuer without
  `https://` (`accounts.google.com`, `token.actions.githubusercontent.com`) or the account's
  `oidc-provider/<issuer>` ARN;
- its `Condition` holds for the request's context keys (`aws:PrincipalAccount`,
  `aws:PrincipalArn`, `sts:ExternalId`, `sts:RoleSessionName`, `aws:SourceAccount`, …) under the
  String*, Arn*, Bool and Null operators, `…IfExists` and `ForAnyValue:`/`ForAllValues:` included.

Whatever cannot be evaluated fails closed: an `Allow` with an unknown operator or a key the
context lacks does not allow, an `Allow` with `NotPrincipal` never allows, and a `Deny` that might
apply does. One account assuming another's role only when its trust policy really names the
caller is what keeps tenants (accounts) apart.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping
from typing import Any

ASSUME_ROLE = "sts:AssumeRole"
ASSUME_WEB = "sts:AssumeRoleWithWebIdentity"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _wild(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM's wildcards: `*` any run, `?` one character (no character classes)."""
    if not case:
        pattern, value = pattern.lower(), value.lower()
    escaped = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(value, escaped)


def _action_applies(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(_wild(a, action, case=False) for a in _strings(statement["Action"]))
    if "NotAction" in statement:
        return not any(_wild(a, action, case=False) for a in _strings(statement["NotAction"]))
    return False


def _names(principal: Any, kind: str, names: frozenset[str], anyone: bool) -> bool:
    """Whether a Principal block names one of `names` (principals of `kind`)."""
    if principal == "*":
        return anyone
    if not isinstance(principal, dict):
        return False
    named = set(_strings(principal.get(kind)))
    return bool(named & names) or (anyone and "*" in named)


def _principal_applies(
    statement: Mapping[str, Any], kind: str, names: frozenset[str], anyone: bool, deny: bool
) -> bool:
    if "Principal" in statement:
        return _names(statement["Principal"], kind, names, anyone or (deny and statement["Principal"] == "*"))
    if "NotPrincipal" in statement:
        # a Deny applies to everyone NotPrincipal leaves out; an Allow with it never allows
        return deny and not _names(statement["NotPrincipal"], kind, names, anyone=False)
    return False


_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringNotEquals": lambda want, got: want != got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringNotEqualsIgnoreCase": lambda want, got: want.lower() != got.lower(),
    "StringLike": lambda want, got: _wild(want, got),
    "StringNotLike": lambda want, got: not _wild(want, got),
    "ArnEquals": lambda want, got: want == got,
    "ArnNotEquals": lambda want, got: want != got,
    "ArnLike": lambda want, got: _wild(want, got),
    "ArnNotLike": lambda want, got: not _wild(want, got),
    "Bool": lambda want, got: want.lower() == got.lower(),
}
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _condition_holds(condition: Any, context: Mapping[str, str]) -> bool | None:
    """True/False, or None when it cannot be evaluated (unknown operator, unreadable block)."""
    if condition is None:
        return True
    if not isinstance(condition, dict):
        return None
    for raw_op, block in condition.items():
        if not isinstance(raw_op, str) or not isinstance(block, dict):
            return None
        op = raw_op.split(":", 1)[1] if raw_op.startswith(("ForAnyValue:", "ForAllValues:")) else raw_op
        if_exists = op.endswith("IfExists")
        op = op.removesuffix("IfExists")
        for key, wanted in block.items():
            values = _strings(wanted)
            got = next((v for k, v in context.items() if k.lower() == str(key).lower()), None)
            if op == "Null":
                if not values or values[0].lower() not in ("true", "false"):
                    return None
                if (got is None) != (values[0].lower() == "true"):
                    return False
                continue
            test = _STRING_OPS.get(op)
            if test is None or not values:
                return None
            if got is None:
                if if_exists or op in _NEGATED:
                    continue
                return False
            if op in _NEGATED:
                if not all(test(w, got) for w in values):
                    return False
            elif not any(test(w, got) for w in values):
                return False
    return True


def _allows(
    document: str,
    kind: str,
    names: frozenset[str],
    context: Mapping[str, str],
    *,
    anyone: bool,
    action: str = ASSUME_ROLE,
) -> bool:
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
    allowed = False
    for s in statements:
        if not isinstance(s, dict) or s.get("Effect") not in ("Allow", "Deny"):
            continue
        deny = s["Effect"] == "Deny"
        if not _action_applies(s, action) or not _principal_applies(s, kind, names, anyone, deny):
            continue
        holds = _condition_holds(s.get("Condition"), context)
        if deny and holds is not False:
            return False  # a Deny that applies, or might: refused
        if not deny and holds is True:
            allowed = True
    return allowed


def allows_service(document: str, service: str, context: Mapping[str, str] | None = None) -> bool:
    """Whether the trust policy `document` (JSON) lets `service` (e.g. lambda.amazonaws.com) assume
    the role; `context`: the condition keys the service's request carries (aws:SourceAccount…)."""
    return _allows(document, "Service", frozenset({service}), context or {}, anyone=False)


def allows_caller(
    document: str, account: str, arns: tuple[str, ...], context: Mapping[str, str] | None = None
) -> bool:
    """Whether the trust policy lets an AWS caller of `account`, known by `arns` (its own ARN and,
    for a role session, the role's), assume the role; `context`: further condition keys of the
    request (sts:ExternalId, sts:RoleSessionName…). aws:PrincipalAccount and aws:PrincipalArn are
    filled in from `account` and `arns`."""
    names = frozenset({account, f"arn:aws:iam::{account}:root", *arns})
    keys = {"aws:PrincipalAccount": account, "aws:PrincipalArn": arns[-1] if arns else "", **(context or {})}
    return _allows(document, "AWS", names, keys, anyone=True)


def allows_web_identity(document: str, account: str, issuer: str, claims: Mapping[str, str]) -> bool:
    """Whether the trust policy lets a web identity of `issuer` (its `iss`, e.g.
    https://token.actions.githubusercontent.com) assume the role; `claims`: the token's `sub`,
    `aud`… offered as the provider's condition keys (`token.actions.githubusercontent.com:sub`)."""
    provider = issuer.removeprefix("https://").rstrip("/")
    if not provider:
        return False
    names = frozenset({provider, f"arn:aws:iam::{account}:oidc-provider/{provider}"})
    context = {f"{provider}:{name}": value for name, value in claims.items()}
    return _allows(document, "Federated", names, context, anyone=False, action=ASSUME_WEB)
