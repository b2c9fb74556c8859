"""The ARNs API Gateway's TagResource, UntagResource and GetTags name, for both API types:
`arn:aws:apigateway:<region>::/<apis|restapis>/<api-id>[/stages/<stage>]`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lambdabox.aws import tag_keys
from lambdabox.aws.errors import client_error

_ARN = re.compile(
    r"arn:aws[a-z-]*:apigateway:(?P<region>[a-z0-9-]+)::/(?P<kind>apis|restapis)/(?P<api>[^/]+)"
    r"(?:/stages/(?P<stage>[^/]+))?"
)


@dataclass(frozen=True)
class Tagged:
    region: str
    api_id: str
    stage: str | None


def parse(arn: str, kind: str) -> Tagged | None:
    """The API (and stage) `arn` names, if it names one of `kind` ("apis" or "restapis")."""
    m = _ARN.fullmatch(arn)
    if m is None or m.group("kind") != kind:
        return None
    return Tagged(m.group("region"), m.group("api"), m.group("stage"))


def checked(given: object) -> dict[str, str]:
    """Tags as given, or API Gateway's BadRequestException for a key in AWS's reserved space."""
    tags = {str(k): str(v) for k, v in given.items()} if isinstance(given, Mapping) else {}
    if tag_keys.reserved(tags) is not None:
        raise client_error(
            "BadRequestException",
            "Invalid tag key. Tag keys cannot start with 'aws:' (case insensitive)",
            400,
        )
    return tags


def retagged(tags: Mapping[str, str], add: Mapping[str, str], drop: set[str]) -> dict[str, str]:
    """`tags` with `add` set and the keys in `drop` removed."""
    return {k: v for k, v in {**tags, **add}.items() if k not in drop}
