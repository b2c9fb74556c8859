"""Tag keys AWS keeps for itself: every service refuses user tags whose key starts with `aws:`
(case-insensitive), each in its own words. lambdabox's deployer sets CloudFormation's own
`aws:cloudformation:stack-name` / `aws:cloudformation:logical-id` in CloudFormation's place, so
that prefix is let through (for every caller: lambdabox has no CloudFormation service principal
to tell the deployer from a user)."""

from __future__ import annotations

from collections.abc import Iterable

RESERVED_PREFIX = "aws:"
CLOUDFORMATION_PREFIX = "aws:cloudformation:"


def reserved(keys: Iterable[str]) -> str | None:
    """The first key in AWS's reserved space, if any."""
    for key in keys:
        low = key.lower()
        if low.startswith(RESERVED_PREFIX) and not low.startswith(CLOUDFORMATION_PREFIX):
            return key
    return None
