"""ARNs: building them and resolving the name forms AWS accepts for a Lambda function."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdabox.aws.errors import ServiceError, client_error

_FUNCTION_REF = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d{1}):"
    r"(?P<account>\d{12}):function:|(?P<account2>\d{12}):function:)?"
    r"(?P<name>[a-zA-Z0-9-_\.]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$"
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
    """Parse any of AWS's accepted function-name forms, or raise AWS's validation error."""
    m = _FUNCTION_REF.match(value)
    if not m or len(m.group("name")) > 64:
        raise ServiceError(
            "1 validation error detected: Value '"
            + value
            + "' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression "
            "pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
            "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
            code="ValidationException",
        )
    return FunctionRef(
        name=m.group("name"),
        region=m.group("region"),
        account=m.group("account") or m.group("account2"),
        qualifier=m.group("qualifier"),
    )


def resolve_function(value: str, region: str, account: str, qualifier: str | None = None) -> FunctionRef:
    """Resolve FunctionName (+ optional Qualifier parameter) against the caller's region/account."""
    ref = parse_function_ref(value)
    if ref.region and ref.region != region:
        raise client_error(
            "InvalidParameterValueException",
            f"Region {ref.region} in the function ARN does not match the region of the request ({region}).",
        )
    if ref.account and ref.account != account:
        raise client_error(
            "AccessDeniedException", "The caller is not authorized to access this function.", 403
        )
    q = ref.qualifier
    if qualifier is not None:
        if q is not None and q != qualifier:
            raise client_error(
                "InvalidParameterValueException",
                "The derived qualifier from the function name does not match the specified qualifier.",
            )
        q = qualifier
    return FunctionRef(name=ref.name, region=region, account=account, qualifier=q)
