"""Does a resource-based policy allow a request? The evaluation of one policy's statements.

A request is a principal (an AWS service such as `sns.amazonaws.com`, or a caller: its ARN and
account), an action (`lambda:InvokeFunction`, `lambda:GetFunction` …), the resource named (a
function ARN, qualified as invoked) and the condition keys the caller brings (`aws:SourceArn`,
`aws:SourceAccount`, `lambda:FunctionUrlAuthType` …). As IAM evaluates a policy: an explicit Deny
in any matching statement wins; else a matching Allow allows; else nothing allows (implicit deny).

A statement matches when its Principal (or NotPrincipal), Action (NotAction), Resource
(NotResource) and every Condition match. Principals: `"*"` and `{"AWS": "*"}` are anyone;
`{"Service": name}` that service; `{"AWS": account or arn:aws:iam::ACCOUNT:root}` any identity of
that account (the account's own IAM policies decide the rest, and lambdabox enforces none);
`{"AWS": a user's or role's ARN}` that user, or that role's sessions (`arn:aws:sts::ACCOUNT:
assumed-role/NAME/…`). Condition operators: the String, Arn (each of the six colon-separated parts
matched on its own, as ArnLike does), Bool and Null families, with `…IfExists`; condition keys are
case-insensitive, values case-sensitive (but for `…IgnoreCase`). A key the request lacks fails a
positive operator and satisfies a negated one (`StringNotEquals`, `ArnNotLike` …), as in IAM;
with the set qualifiers it satisfies any `ForAllValues:` operator and fails any `ForAnyValue:` one.
Whatever cannot be evaluated fails closed, as iam/trust.py does for trust policies: an `Allow`
with an unknown operator (or with `NotPrincipal`) does not allow, a `Deny` that might apply
does. Pure: no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

_ACCOUNT = re.compile(r"\d{12}", re.ASCII)
_ARN_ACCOUNT = re.compile(r"arn:[^:]*:(?:iam|sts)::(\d{12}):", re.ASCII)


class Decision(enum.Enum):
    """What the policy says of a request."""

    ALLOW = "allow"
    DENY = "deny"  # an explicit Deny statement matched
    NO_ALLOW = "no allow"  # no statement allows it (implicit deny)


@dataclass(frozen=True)
class Principal:
    """Who asks: an AWS service (`service`) or a caller (`arn`, whose `account` it is)."""

    service: str | None = None
    arn: str | None = None
    account: str | None = None

    @classmethod
    def of_service(cls, name: str) -> Principal:
        return cls(service=name.lower())

    @classmethod
    def of_caller(cls, arn: str) -> Principal:
        m = _ARN_ACCOUNT.match(arn)
        return cls(arn=arn, account=m.group(1) if m else None)


@dataclass(frozen=True)
class AccessRequest:
    """One request to judge."""

    principal: Principal
    action: str
    resource: str
    #: condition keys and values the request carries (keys in any case)
    context: Mapping[str, str] = field(default_factory=dict)


def evaluate(statements: Iterable[Mapping[str, Any]], request: AccessRequest) -> Decision:
    """What the statements of one policy say of `request`: explicit Deny beats Allow."""
    context = {k.lower(): v for k, v in request.context.items()}
    allowed = False
    for st in statements:
        effect = st.get("Effect")
        if effect not in ("Allow", "Deny") or not _applies(st, request, deny=effect == "Deny"):
            continue
        holds = _conditions_hold(st.get("Condition"), context)
        if effect == "Deny" and holds is not False:
            return Decision.DENY  # a Deny that applies, or might (failing closed)
        if effect == "Allow" and holds is True:
            allowed = True
    return Decision.ALLOW if allowed else Decision.NO_ALLOW


def _applies(st: Mapping[str, Any], req: AccessRequest, *, deny: bool) -> bool:
    """Whether the statement's principal, action and resource parts name the request."""
    if "Principal" in st:
        if not _principal_matches(st["Principal"], req.principal):
            return False
    elif "NotPrincipal" in st:  # a Deny applies to everyone it leaves out; an Allow never allows
        if not deny or _principal_matches(st["NotPrincipal"], req.principal):
            return False
    else:
        return False  # a resource-based policy statement names whom it is for
    if "Action" in st:
        if not any(_glob(a, req.action, ignore_case=True) for a in _values(st["Action"])):
            return False
    elif "NotAction" in st:
        if any(_glob(a, req.action, ignore_case=True) for a in _values(st["NotAction"])):
            return False
    else:
        return False
    if "Resource" in st and not any(_glob(r, req.resource) for r in _values(st["Resource"])):
        return False
    return not ("NotResource" in st and any(_glob(r, req.resource) for r in _values(st["NotResource"])))


# -- principals ------------------------------------------------------------------------------
def _principal_matches(spec: Any, who: Principal) -> bool:
    if spec == "*":
        return True
    if not isinstance(spec, Mapping):
        return False
    for kind, values in spec.items():
        for value in _values(values):
            if kind == "Service" and who.service is not None and value.lower() == who.service:
                return True
            if kind == "AWS" and _aws_principal_matches(value, who):
                return True
    return False


def _aws_principal_matches(value: str, who: Principal) -> bool:
    if value == "*":
        return True  # {"AWS": "*"} is anyone, as "*" is
    if who.arn is None:
        return False  # a service is no AWS account's identity
    if _ACCOUNT.fullmatch(value):
        return who.account == value
    m = re.fullmatch(r"arn:[^:]*:iam::(\d{12}):(.+)", value)
    if m is None:
        return value == who.arn
    account, rest = m.groups()
    if rest == "root":
        return who.account == account
    if value == who.arn:
        return True
    if rest.startswith("role/"):  # a role's sessions speak for it (its path is not in theirs)
        role_name = rest.rsplit("/", 1)[1]
        return who.arn.startswith(f"arn:aws:sts::{account}:assumed-role/{role_name}/")
    return False


# -- conditions ------------------------------------------------------------------------------
def _conditions_hold(condition: Any, context: Mapping[str, str]) -> bool | None:
    """Whether every condition holds: True, False, or None when one cannot be evaluated (an
    unknown operator, an unreadable block)."""
    if condition is None:
        return True
    if not isinstance(condition, Mapping):
        return None
    for operator, block in condition.items():
        holds = _condition_holds(str(operator), block, context)
        if holds is not True:
            return holds
    return True


def _condition_holds(operator: str, block: Any, context: Mapping[str, str]) -> bool | None:
    if not isinstance(block, Mapping):
        return None
    # set operators: every key here has one value, so they test it as the plain operator does,
    # but for a key the request lacks (ForAllValues: true, its empty set has no value failing it;
    # ForAnyValue: false, no value matches)
    set_operator = None
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        set_operator, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    test = _OPERATORS.get(base)
    if test is None:
        return None
    negated = "Not" in base
    for key, wanted in block.items():
        have = context.get(str(key).lower())
        wanted_values = _values(wanted)
        if base == "Null":  # "true": the key must be absent; "false": present
            if not wanted_values or wanted_values[0].lower() not in ("true", "false"):
                return None
            if (have is None) != (wanted_values[0].lower() == "true"):
                return False
            continue
        if have is None:
            if if_exists or set_operator == "ForAllValues" or (negated and set_operator is None):
                continue
            return False
        if not test(have, wanted_values):
            return False
    return True


def _string_equals(have: str, wanted: list[str]) -> bool:
    return have in wanted


def _string_equals_ic(have: str, wanted: list[str]) -> bool:
    return have.lower() in (w.lower() for w in wanted)


def _string_like(have: str, wanted: list[str]) -> bool:
    return any(_glob(w, have) for w in wanted)


def _arn_like(have: str, wanted: list[str]) -> bool:
    parts = have.split(":", 5)
    if len(parts) != 6:
        return False
    for w in wanted:
        pattern = w.split(":", 5)
        if len(pattern) == 6 and all(_glob(p, h) for p, h in zip(pattern, parts, strict=True)):
            return True
    return False


def _bool(have: str, wanted: list[str]) -> bool:
    return have.lower() in (w.lower() for w in wanted)


def _negate(test: Any) -> Any:
    return lambda have, wanted: not test(have, wanted)


_OPERATORS: dict[str, Any] = {
    "StringEquals": _string_equals,
    "StringNotEquals": _negate(_string_equals),
    "StringEqualsIgnoreCase": _string_equals_ic,
    "StringNotEqualsIgnoreCase": _negate(_string_equals_ic),
    "StringLike": _string_like,
    "StringNotLike": _negate(_string_like),
    "ArnEquals": _arn_like,  # (IAM matches ArnEquals with wildcards too)
    "ArnLike": _arn_like,
    "ArnNotEquals": _negate(_arn_like),
    "ArnNotLike": _negate(_arn_like),
    "Bool": _bool,
    "Null": _bool,  # (handled in _condition_holds)
}


# -- shared ----------------------------------------------------------------------------------
def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` any one."""
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _pattern(pattern, ignore_case).fullmatch(value) is not None
