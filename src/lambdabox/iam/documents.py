"""Policy documents as IAM checks them before storing one: AWS's MalformedPolicyDocument answers.

Three kinds of document are checked, each as AWS checks it:

- a managed policy's (CreatePolicy, CreatePolicyVersion): its `Version` must be `2012-10-17`;
- an inline policy's (PutRolePolicy): `Version` may be left out or be the older `2008-10-17`;
- a role's trust policy (CreateRole, UpdateAssumeRolePolicy): as an inline policy's `Version`,
  with principals and no resources, each `AWS` principal an account (`123456789012`), its root,
  an IAM user or role, an assumed-role or federated-user session, or `*`.

A `Version` that is neither of IAM's two policy-language versions is a syntax error. What is
checked is the document's form; the principals a trust policy names are not looked up.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from lambdabox.aws.errors import ServiceError, client_error

#: the policy-language versions IAM knows, the current one first
VERSIONS = ("2012-10-17", "2008-10-17")

Kind = Literal["managed", "inline", "trust"]

_PARTITION = r"arn:aws(?:-cn|-us-gov|-iso|-iso-b)?"
_NAME = r"[\w+=,.@-]+"
#: what an `AWS` principal may be: anyone, an account, its root, a user or role (paths allowed),
#: a role session or federated user, or the unique id IAM shows for one that was deleted
_AWS_PRINCIPAL = re.compile(
    rf"\*|\d{{12}}"
    rf"|{_PARTITION}:iam::\d{{12}}:(?:root|(?:user|role)/(?:[\x21-\x7e]*/)?{_NAME})"
    rf"|{_PARTITION}:sts::\d{{12}}:(?:assumed-role/{_NAME}/{_NAME}|federated-user/{_NAME})"
    r"|A(?:IDA|ROA)[A-Z0-9]{17}"
)


def malformed(message: str) -> ServiceError:
    return client_error("MalformedPolicyDocument", message, 400)


def _syntax_error() -> ServiceError:
    return malformed("Syntax errors in policy.")


def _strings(value: Any) -> list[str]:
    """A principal's value: a string or a list of strings, else a syntax error."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    raise _syntax_error()


def _check_principal(principal: Any) -> None:
    """AWS's answer to a Principal (or NotPrincipal) block it refuses."""
    if principal == "*":
        return
    if not isinstance(principal, dict):
        raise _syntax_error()
    for kind, value in principal.items():
        names = _strings(value)
        if kind != "AWS":
            continue
        for name in names:
            if _AWS_PRINCIPAL.fullmatch(name) is None:
                raise malformed(f'Invalid principal in policy: "AWS":"{name}"')


def check_document(document: str, kind: Kind) -> None:
    """Raise AWS's MalformedPolicyDocument if `document` is not a policy of `kind`."""
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than any policy is
        raise malformed("This policy contains invalid Json") from None
    if not isinstance(parsed, dict):
        raise malformed("This policy contains invalid Json")
    if "Version" in parsed and parsed["Version"] not in VERSIONS:
        raise _syntax_error()
    statements = parsed.get("Statement")
    if statements is None:
        raise _syntax_error()
    if not isinstance(statements, list):
        statements = [statements]
    if not statements or not all(isinstance(st, dict) for st in statements):
        raise _syntax_error()
    if kind == "managed" and parsed.get("Version") != VERSIONS[0]:
        raise malformed(f"Policy document must be version {VERSIONS[0]} or greater.")
    for st in statements:
        if "Effect" not in st:
            raise malformed("Missing required field Effect")
        if st["Effect"] not in ("Allow", "Deny"):
            raise _syntax_error()
        if "Action" not in st and "NotAction" not in st:
            raise malformed("Policy statement must contain actions.")
        if kind == "trust":
            if "Resource" in st or "NotResource" in st:
                raise malformed("Has prohibited field Resource")
            if "Principal" not in st and "NotPrincipal" not in st:
                raise malformed("Missing required field Principal")
            for block in ("Principal", "NotPrincipal"):
                if block in st:
                    _check_principal(st[block])
        else:
            if "Principal" in st or "NotPrincipal" in st:
                raise malformed("Policy document should not specify a principal.")
            if "Resource" not in st and "NotResource" not in st:
                raise malformed("Policy statement must contain resources.")
