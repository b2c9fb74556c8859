"""Resource-based policies: AddPermission, RemovePermission, GetPolicy.

Each function, version and alias has a policy of its own (the function's, stored under the
qualifier "", also covers `$LATEST`). A statement is built from AddPermission's parameters as AWS
builds it: the principal as a service, an account's root or an ARN, and its conditions from
SourceArn, SourceAccount, PrincipalOrgID, EventSourceToken and FunctionUrlAuthType. A change to a
policy is a new revision of what it belongs to (checked against RevisionId first); the
environments of a version keep running through it. Policies are stored and answered here;
resource_access.py enforces them (with `--enforce-resource-policies`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from lambdabox.aws import ids
from lambdabox.aws.arns import function_arn
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.lambda_ import store as sql
from lambdabox.lambda_.base import LambdaOperations, Params, Result, Target
from lambdabox.lambda_.models import LATEST

_ACCOUNT = re.compile(r"\d{12}", re.ASCII)
_IAM_ARN = re.compile(r"arn:aws[a-zA-Z-]*:(iam|sts)::\d{12}:\S+", re.ASCII)
_SERVICE = re.compile(r"[a-z0-9*][a-z0-9.*-]*\.amazonaws\.com(\.cn)?|[a-z0-9-]+\.amazon\.com", re.ASCII)


#: AddPermission's parameters that become StringEquals conditions, in the order AWS writes them
_STRING_EQUALS = (
    ("FunctionUrlAuthType", "lambda:FunctionUrlAuthType"),
    ("PrincipalOrgID", "aws:PrincipalOrgID"),
    ("SourceAccount", "AWS:SourceAccount"),
    ("EventSourceToken", "lambda:EventSourceToken"),
)


def _principal(value: str) -> Any:
    """The statement's Principal for AddPermission's, as AWS writes it."""
    if value == "*":
        return "*"
    if _ACCOUNT.fullmatch(value):
        return {"AWS": f"arn:aws:iam::{value}:root"}
    if _IAM_ARN.fullmatch(value):
        return {"AWS": value}
    if _SERVICE.fullmatch(value):
        return {"Service": value}
    raise client_error(
        "InvalidParameterValueException",
        "The provided principal was invalid. Please check the principal and try again.",
        Type="User",
    )


def statement(params: Params, resource: str) -> dict[str, Any]:
    """The policy statement AddPermission adds, keys in AWS's order."""
    out: dict[str, Any] = {
        "Sid": params["StatementId"],
        "Effect": "Allow",
        "Principal": _principal(params["Principal"]),
        "Action": params["Action"],
        "Resource": resource,
    }
    equals: dict[str, str] = {}
    for param, condition_key in _STRING_EQUALS:
        if params.get(param):
            equals[condition_key] = params[param]
    condition: dict[str, Any] = {}
    if equals:
        condition["StringEquals"] = equals
    if params.get("InvokedViaFunctionUrl"):
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    if params.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
    if condition:
        out["Condition"] = condition
    return out


def _policy_key(target: Target) -> str:
    """Where a qualifier's policy is kept: the function's under "" (`$LATEST` has none of its own)."""
    return target.qualifier or ""


def _not_found(message: str) -> ServiceError:
    return client_error("ResourceNotFoundException", message, 404, Type="User")


class PermissionOperations(LambdaOperations):
    """The resource-based policies of functions, versions and aliases."""

    def _revision(self, target: Target) -> str:
        if target.alias is not None:
            return target.alias.revision_id
        return target.config.revision_id

    async def _set_policy(self, target: Target, statements: list[dict[str, Any]]) -> None:
        """Store a qualifier's new statements and, in the same commit, a new revision of what the
        policy belongs to (its environments keep running); then take both in memory."""
        rec = target.record
        key = _policy_key(target)
        policy = sql.set_policy(*target.key, key, statements)
        if target.alias is not None:
            alias = target.alias.replace(revision_id=ids.revision_id())
            await self._store.write(sql.all_of(policy, sql.put_alias(alias)))
            rec.aliases[alias.name] = alias
        else:
            old = rec.version(target.config.version) or target.config
            new = old.replace(revision_id=ids.revision_id())
            await self._store.write(sql.all_of(policy, sql.update(new)))
            if new.published:
                rec.versions[int(new.version)] = new
            else:
                rec.latest = new
            self._invoker.adopt(old, new)
        if statements:
            rec.policies[key] = statements
        else:
            rec.policies.pop(key, None)

    def _policy_target(
        self, ctx: RequestContext, params: Params, no_function: str = "Function not found: "
    ) -> Target:
        """What a policy operation names, or AWS's answers: a missing alias is "Cannot find alias",
        a missing function `no_function` + its ARN."""
        ref = self._ref(ctx, params["FunctionName"], params.get("Qualifier"))
        key = (ctx.region, str(ref.account), ref.name)  # (another account's only where _ref allowed it)
        rec = self._functions.get(key)
        if rec is None:
            raise _not_found(no_function + function_arn(*key))
        q = ref.qualifier
        if q is not None and q != LATEST and not q.isdigit() and q not in rec.aliases:
            raise _not_found(f"Cannot find alias arn: {function_arn(*key, q)}")
        return self._target(ctx, params["FunctionName"], params.get("Qualifier"))

    async def AddPermission(self, ctx: RequestContext, params: Params) -> Result:
        target = self._policy_target(ctx, params)
        if target.qualifier == LATEST:
            raise client_error(
                "InvalidParameterValueException", "We currently do not support adding policies for $LATEST.",
                Type="User",
            )  # fmt: skip
        async with self._lock(target.key):
            target = self._policy_target(ctx, params)  # as it is now
            self._check_revision(self._revision(target), params)
            key = _policy_key(target)
            statements = target.record.policies.get(key, [])
            if any(s.get("Sid") == params["StatementId"] for s in statements):
                raise client_error(
                    "ResourceConflictException",
                    f"The statement id ({params['StatementId']}) provided already exists. Please provide a "
                    "new statement id, or remove the existing statement.",
                    409,
                    Type="User",
                )
            added = statement(params, target.arn)
            await self._set_policy(target, [*statements, added])
        return {"Statement": json.dumps(added, separators=(",", ":"))}

    async def RemovePermission(self, ctx: RequestContext, params: Params) -> Result:
        target = self._policy_target(ctx, params, no_function="No policy found for: ")
        async with self._lock(target.key):
            target = self._policy_target(ctx, params, no_function="No policy found for: ")  # as it is now
            self._check_revision(self._revision(target), params)
            key = _policy_key(target)
            statements = target.record.policies.get(key)
            if not statements:
                raise _not_found("No policy is associated with the given resource.")
            sid = params["StatementId"]
            kept = [s for s in statements if s.get("Sid") != sid]
            if len(kept) == len(statements):
                raise _not_found(f"Statement {sid} is not found in resource policy.")
            await self._set_policy(target, kept)
        return {}

    async def GetPolicy(self, ctx: RequestContext, params: Params) -> Result:
        missing = _not_found("The resource you requested does not exist.")
        ref = self._ref(ctx, params["FunctionName"], params.get("Qualifier"))
        rec = self._functions.get((ctx.region, str(ref.account), ref.name))
        q = ref.qualifier
        if rec is not None and q is not None and (q == LATEST or q.isdigit()) and rec.version(q) is None:
            raise missing  # a version that does not exist has no policy either
        target = self._policy_target(ctx, params)
        statements = target.record.policies.get(_policy_key(target))
        if not statements:
            raise missing
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
        return {"Policy": json.dumps(policy, separators=(",", ":")), "RevisionId": self._revision(target)}
