"""Which function policy governs a request, and Lambda's answer when it does not allow it.

Used only with `--enforce-resource-policies` (`LambdaDeps.enforce_resource_policies`). A request
naming a function is judged against the policy of exactly what it names, as Lambda does: an
alias's or a version's own policy for `f:alias` / `f:3`, the function's for `f` and `f:$LATEST`
(a statement AddPermission added to the function does not cover its aliases or versions).

Two kinds of requests are judged here:

- an AWS service invoking a function for one of its resources (`ServiceSource`: SNS for a topic,
  API Gateway for a route or an authorizer; later S3 for a bucket, EventBridge for a rule) or a
  function URL's caller (`FunctionUrlCaller`, for when URLs come), all through
  `LambdaService.authorize_service`: the policy is all there is on AWS (Lambda "considers only
  the resource-based policy"), in the function's own account as in another;
- a caller of another account using the Lambda API (`CROSS_ACCOUNT_ACTIONS`): the policy must
  allow the caller's account or its ARN. Callers of the function's own account are governed by
  their IAM identity policies on AWS, not by the resource policy, and are never judged here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lambdabox.aws.arns import function_arn
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.lambda_.models import LATEST
from lambdabox.lambda_.policy_eval import AccessRequest, Decision, Principal, evaluate
from lambdabox.lambda_.records import FunctionRecord

#: the Lambda operations another account may be granted through a function's policy, each with the
#: one IAM action its statement must allow: Lambda's documented cross-account APIs (Developer
#: Guide, "Using resource-based policies for Lambda"); any other operation on another account's
#: function stays AccessDeniedException, whatever the policy
CROSS_ACCOUNT_ACTIONS: Mapping[str, str] = {
    "Invoke": "lambda:InvokeFunction",
    "InvokeWithResponseStream": "lambda:InvokeFunction",
    "GetFunction": "lambda:GetFunction",
    "GetFunctionConfiguration": "lambda:GetFunctionConfiguration",
    "GetAlias": "lambda:GetAlias",
    "ListAliases": "lambda:ListAliases",
    "ListVersionsByFunction": "lambda:ListVersionsByFunction",
    "GetPolicy": "lambda:GetPolicy",
    "ListTags": "lambda:ListTags",
    "TagResource": "lambda:TagResource",
    "UntagResource": "lambda:UntagResource",
    "PutFunctionConcurrency": "lambda:PutFunctionConcurrency",
    "DeleteFunctionConcurrency": "lambda:DeleteFunctionConcurrency",
    "PublishVersion": "lambda:PublishVersion",
    "CreateAlias": "lambda:CreateAlias",
    "UpdateAlias": "lambda:UpdateAlias",
    "DeleteAlias": "lambda:DeleteAlias",
    "UpdateFunctionCode": "lambda:UpdateFunctionCode",
    "DeleteFunction": "lambda:DeleteFunction",
}


class InvokeSource(Protocol):
    """Who invokes a function from outside the Lambda API, as the policy check sees it."""

    @property
    def name(self) -> str:
        """Who it is, for the AccessDeniedException."""
        ...

    def request(self, resource: str) -> AccessRequest:
        """The request to judge against the function policy (`resource`: the ARN it governs)."""
        ...


@dataclass(frozen=True)
class ServiceSource:
    """An AWS service invoking a function on behalf of one of its resources: the principal
    (`sns.amazonaws.com`), the resource (`aws:SourceArn`) and its owner (`aws:SourceAccount`);
    `context`: further condition keys it brings (a function URL's `lambda:FunctionUrlAuthType`)."""

    service: str
    source_arn: str
    source_account: str
    action: str = "lambda:InvokeFunction"
    context: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.service

    def request(self, resource: str) -> AccessRequest:
        keys = {"aws:SourceArn": self.source_arn, "aws:SourceAccount": self.source_account, **self.context}
        return AccessRequest(Principal.of_service(self.service), self.action, resource, keys)


@dataclass(frozen=True)
class FunctionUrlCaller:
    """A request to a function URL: `lambda:InvokeFunctionUrl` with the URL's
    `lambda:FunctionUrlAuthType`, or (`action`) the `lambda:InvokeFunction` it implies, with
    `lambda:InvokedViaFunctionUrl` true; by an anonymous caller (AuthType NONE: only `"*"`
    principals match) or by the signing caller's ARN (AWS_IAM; a caller of the function's own
    account is governed by its IAM policies instead, and is not to be judged here)."""

    auth_type: str
    caller_arn: str | None = None
    action: str = "lambda:InvokeFunctionUrl"

    @property
    def name(self) -> str:
        return self.caller_arn or "anonymous"

    def request(self, resource: str) -> AccessRequest:
        who = Principal.of_caller(self.caller_arn) if self.caller_arn else Principal()
        keys = {"lambda:FunctionUrlAuthType": self.auth_type, "lambda:InvokedViaFunctionUrl": "true"}
        return AccessRequest(who, self.action, resource, keys)


def governing(rec: FunctionRecord, qualifier: str | None) -> tuple[list[dict[str, Any]], str]:
    """The statements that govern a request naming `qualifier` of the function, and the ARN
    they are judged against (the function's own for `$LATEST`)."""
    key = "" if qualifier in (None, LATEST) else str(qualifier)
    cfg = rec.latest
    return rec.policies.get(key, []), function_arn(cfg.region, cfg.account, cfg.name, key or None)


def judge(
    rec: FunctionRecord, qualifier: str | None, request_for: Callable[[str], AccessRequest]
) -> Decision:
    """What the governing policy says of the request `request_for(resource ARN)` builds."""
    statements, resource = governing(rec, qualifier)
    return evaluate(statements, request_for(resource))


def access_denied(principal_arn: str, action: str, arn: str, decision: Decision) -> ServiceError:
    """AWS's AccessDeniedException for `principal_arn` on `arn` (as named)."""
    why = (
        "with an explicit deny in a resource-based policy"
        if decision is Decision.DENY
        else f"because no resource-based policy allows the {action} action"
    )
    return client_error(
        "AccessDeniedException",
        f"User: {principal_arn} is not authorized to perform: {action} on resource: {arn} {why}",
        403,
    )
