"""Recursive loop detection: PutFunctionRecursionConfig, GetFunctionRecursionConfig, and the
check every invocation passes (`continued`).

A function's setting (Terminate, the default, or Allow) belongs to the function itself, so a
qualified name is refused (the model's UnqualifiedFunctionName pattern already refuses it at the
edge). It is committed with the function's row before it is answered. An invocation whose
lineage (`lineage.py`) already holds `MAX_INVOCATIONS` of the function is stopped unless the
function allows loops: a synchronous Invoke gets RecursiveInvocationException, an asynchronous
event is given up (invoke.py, async_engine.py); each stop counts in the function's
RecursiveInvocationsDropped metric.
"""

from __future__ import annotations

from lambdabox.aws.arns import function_arn
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.lambda_ import store as sql
from lambdabox.lambda_.base import Key, LambdaOperations, Params, Result, Target
from lambdabox.lambda_.lineage import Lineage, function_hash
from lambdabox.lambda_.metric_hooks import RECURSIVE_INVOCATIONS_DROPPED, LambdaMetrics, Subject
from lambdabox.lambda_.records import ALLOW

_FUNCTIONS_ONLY = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support "
    "this operation. Please specify either a function name or an unqualified function ARN."
)
RECURSIVE = "RecursiveInvocationException"


def recursive_invocation() -> ServiceError:
    return client_error(
        RECURSIVE,
        "Lambda has detected your function being invoked in a recursive loop with other AWS "
        "resources and stopped your function's invocation.",
        400,
        Type="User",
    )


class RecursionConfigOperations(LambdaOperations):
    """A function's recursive loop detection."""

    def _recursion_key(self, ctx: RequestContext, name: str) -> Key:
        return self._function_only(ctx, name, _FUNCTIONS_ONLY)

    async def PutFunctionRecursionConfig(self, ctx: RequestContext, params: Params) -> Result:
        key = self._recursion_key(ctx, params["FunctionName"])
        value = str(params["RecursiveLoop"])  # Allow or Terminate: the model's enum, checked at the edge
        async with self._lock(key):
            rec = self._current(key, function_arn(*key))
            await self._store.write(sql.set_recursive_loop(*key, value))
            rec.recursive_loop = value
        return {"RecursiveLoop": value}

    async def GetFunctionRecursionConfig(self, ctx: RequestContext, params: Params) -> Result:
        key = self._recursion_key(ctx, params["FunctionName"])
        return {"RecursiveLoop": self._current(key, function_arn(*key)).recursive_loop}


def continued(target: Target, lineage: Lineage, metrics: LambdaMetrics) -> Lineage:
    """The lineage an invocation of `target` runs with (its count one higher), or
    RecursiveInvocationException (counted in `metrics`) when the chain already holds the most
    invocations of the function it may and the function does not allow loops."""
    fn = function_hash(*target.key)
    if lineage.stops(fn) and target.record.recursive_loop != ALLOW:
        region, account, name = target.key
        metrics.count(RECURSIVE_INVOCATIONS_DROPPED, Subject(region, account, name, target.qualifier))
        raise recursive_invocation()
    return lineage.incremented(fn)
