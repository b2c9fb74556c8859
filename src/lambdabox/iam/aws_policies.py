"""Every AWS managed policy (`arn:aws:iam::aws:policy/...`): the few built in with their real
documents (`managed.py`), and the rest of IAM's list by name and path, without their documents.

The rest comes from the copy of IAM's list that aws-sam-translator (a dependency) bundles,
`samtranslator/internal/data/aws_managed_policies.json` (partition -> policy name -> ARN; the
`aws` partition's ~1,200 are used). The file is found through the package's import spec and read
as JSON, so `samtranslator` itself is never imported; it is read the first time an AWS managed
ARN that is not built in is asked for, or the whole list is (ListPolicies with Scope AWS or All).

Those policies exist for GetPolicy, GetPolicyVersion, ListPolicyVersions, ListPolicies,
AttachRolePolicy, ListAttachedRolePolicies, ListEntitiesForPolicy and permissions boundaries,
with what the list tells: name, path (from the ARN), read-only, attachable. What it does not tell
is a fixed stand-in: default version `v1`, no description, created and updated on 2015-02-06 (the
oldest AWS managed policies' date), a policy id derived from the ARN, and as the document of `v1`
a policy with no statements (`{"Version": "2012-10-17", "Statement": []}`): it grants nothing,
which is what lambdabox can say truthfully without the real text. IAM policies are not enforced
today; when they are, these policies will need their real documents.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from lambdabox.iam.managed import AWS_MANAGED
from lambdabox.iam.models import AWS_POLICY_PREFIX, ManagedPolicy, PolicyVersion

#: where aws-sam-translator keeps IAM's list, relative to its package directory
_BUNDLED = Path("internal", "data", "aws_managed_policies.json")
_PARTITION = "aws"
_DATE = datetime(2015, 2, 6, tzinfo=UTC).timestamp()
#: the v1 document of a policy whose real document lambdabox does not have
EMPTY_DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": []}, indent=4)


def _bundled_list() -> dict[str, str]:
    """IAM's list of AWS managed policies (name -> ARN) as aws-sam-translator bundles it, or {}."""
    spec = importlib.util.find_spec("samtranslator")  # a top-level package: found, not imported
    if spec is None or not spec.submodule_search_locations:
        return {}
    for location in spec.submodule_search_locations:
        try:
            with (Path(location) / _BUNDLED).open(encoding="utf-8") as f:
                table = json.load(f)
        except (OSError, ValueError):
            continue
        found = table.get(_PARTITION) if isinstance(table, dict) else None
        if isinstance(found, dict):
            return {str(k): str(v) for k, v in found.items()}
    return {}


def _policy_id(arn: str) -> str:
    """An IAM-shaped policy id (ANPA + 17 of [A-Z2-7]), the same for the ARN in every run."""
    return "ANPA" + base64.b32encode(hashlib.sha256(arn.encode()).digest()).decode("ascii")[:17]


def _listed(name: str, arn: str) -> tuple[ManagedPolicy, PolicyVersion] | None:
    """The policy `arn` of IAM's list, or None if the entry is not a well-formed AWS managed ARN."""
    if not arn.startswith(AWS_POLICY_PREFIX) or not arn.endswith("/" + name):
        return None
    path = "/" + arn[len(AWS_POLICY_PREFIX) : len(arn) - len(name)]
    policy = ManagedPolicy(
        arn=arn,
        account="aws",
        name=name,
        path=path,
        policy_id=_policy_id(arn),
        default_version="v1",
        create_date=_DATE,
        update_date=_DATE,
    )
    return policy, PolicyVersion("v1", EMPTY_DOCUMENT, True, _DATE)


@cache
def _catalog() -> dict[str, tuple[ManagedPolicy, PolicyVersion]]:
    """ARN -> (policy, its default version): every AWS managed policy, the built-in ones as built."""
    out: dict[str, tuple[ManagedPolicy, PolicyVersion]] = {}
    for name, arn in _bundled_list().items():
        entry = _listed(name, arn)
        if entry is not None:
            out[arn] = entry
    out.update(AWS_MANAGED)
    return out


def aws_policy(arn: str) -> tuple[ManagedPolicy, PolicyVersion] | None:
    """The AWS managed policy `arn` and its default version, or None if AWS has no such policy."""
    found = AWS_MANAGED.get(arn)
    if found is not None:
        return found
    return _catalog().get(arn)


def aws_policies() -> list[ManagedPolicy]:
    """Every AWS managed policy (unordered)."""
    return [policy for policy, _ in _catalog().values()]
