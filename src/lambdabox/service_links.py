"""The narrow callables one service is handed to reach another through Lambda (DESIGN.md: services
reach each other through interfaces `app.py` hands them): API Gateway's and SNS's invokes (each
checked against the function's resource policy as the calling service's), an event source
mapping's batch invoke, and how long an API Gateway invocation can take."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lambdabox.aws import ids
from lambdabox.aws.arns import function_arn as arn_of
from lambdabox.aws.arns import parse_function_ref
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
from lambdabox.gateway.lambda_run import Invoked, InvokeFunction, LongestInvocation
from lambdabox.lambda_.api import LambdaService
from lambdabox.lambda_.esm_engine import InvokeBatch
from lambdabox.lambda_.esm_engine import Invoked as BatchInvoked
from lambdabox.lambda_.esm_store import Mapping
from lambdabox.lambda_.resource_access import ServiceSource
from lambdabox.sns.engine import Undeliverable


def invoke_through(lambda_: LambdaService) -> InvokeFunction:
    """API Gateway's invoke of a function for a route, method or authorizer (`source`, an
    execute-api ARN the function's policy may refuse): Lambda's Invoke, in the API's region and
    account."""

    async def invoke(region: str, account: str, function_arn: str, payload: bytes, source: str) -> Invoked:
        ctx = RequestContext(ids.request_id(), region, account, "lambda", "Invoke")
        named = parse_function_ref(function_arn)
        qualified = arn_of(named.region or region, named.account or account, named.name, named.qualifier)
        lambda_.authorize_service(qualified, ServiceSource("apigateway.amazonaws.com", source, account))
        out = await lambda_.invoke_event(ctx, function_arn, payload)
        return Invoked(bytes(out["Payload"]), "FunctionError" in out)

    return invoke


def async_invoke_through(lambda_: LambdaService) -> Callable[[str, bytes, str], Awaitable[None]]:
    """SNS's delivery to a function for a topic: Lambda's Invoke with InvocationType Event, in
    the function's region and account; a refusal that retrying cannot change (no such function,
    a payload Lambda refuses, a policy that does not let the topic in) is `Undeliverable`,
    throttles and service errors are raised as they are (retried)."""

    async def invoke(function_arn: str, payload: bytes, topic_arn: str) -> None:
        ref = parse_function_ref(function_arn)
        ctx = RequestContext(ids.request_id(), ref.region or "", ref.account or "", "lambda", "Invoke")
        params = {"FunctionName": function_arn, "InvocationType": "Event", "Payload": payload}
        topic_account = topic_arn.split(":")[4] if topic_arn.count(":") >= 5 else ""
        try:
            lambda_.authorize_service(
                function_arn, ServiceSource("sns.amazonaws.com", topic_arn, topic_account)
            )
            await lambda_.Invoke(ctx, params)
        except ServiceError as exc:
            if exc.status < 500 and exc.code != "TooManyRequestsException":
                raise Undeliverable(f"{exc.code}: {exc.message}") from exc
            raise

    return invoke


def batches_through(lambda_: LambdaService) -> InvokeBatch:
    """An event source mapping's invocation of a batch: Lambda's synchronous Invoke of the
    function the mapping names, in the mapping's region and account, continuing the chain of
    invocations (recursive loop detection) its messages carry."""

    async def invoke(m: Mapping, event: bytes, trace_header: str | None) -> BatchInvoked:
        ctx = RequestContext(
            ids.request_id(), m.region, m.account, "lambda", "Invoke", trace_header=trace_header
        )
        out = await lambda_.invoke_event(ctx, m.function_arn, event)
        return BatchInvoked(bytes(out["Payload"]), "FunctionError" in out)

    return invoke


def longest_through(lambda_: LambdaService) -> LongestInvocation:
    """How long an invocation API Gateway makes can take (None for a function that is not there)."""

    def longest(region: str, account: str, function_arn: str) -> float | None:
        ctx = RequestContext("", region, account, "lambda", "Invoke")
        try:
            return lambda_.longest_invocation(ctx, function_arn)
        except ServiceError:
            return None

    return longest
