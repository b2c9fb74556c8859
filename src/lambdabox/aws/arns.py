"""ARNs: building them and reading the name forms AWS accepts for a Lambda function."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: reads a FunctionName the model's validation has accepted (its NamespacedFunctionName pattern,
#: a superset of FunctionName's): a name, a partial ARN or a full ARN, maybe with a qualifier.
#: Optional parts are taken greedily, as the (Java) pattern AWS validates with takes them.
_FUNCTION_REF = re.compile(
    r"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_-]+))?",
    re.ASCII,
)


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def log_group_arn(region: str, account: str, group: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{group}:*"


@dataclass(frozen=True)
class FunctionRef:
    """A parsed FunctionName parameter: bare name, partial ARN or full ARN, maybe with a qualifier."""

    name: str
    region: str | None
    account: str | None
    qualifier: str | None


def parse_function_ref(value: str) -> FunctionRef:
    """The parts of a function name or ARN. Checking it is the model's job (the protocol layer
    validates every request against it first); a value this does not read is taken as a name,
    which no function has."""
    m = _FUNCTION_REF.fullmatch(value)
    if m is None:
        return FunctionRef(name=value, region=None, account=None, qualifier=None)
    return FunctionRef(
        name=m.group("name"),
        region=m.group("region"),
        account=m.group("account"),
        qualifier=m.group("qualifier"),
    )
