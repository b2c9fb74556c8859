"""Reserved concurrency: PutFunctionConcurrency, GetFunctionConcurrency, DeleteFunctionConcurrency.

A reservation belongs to the function itself (all its versions and aliases share it), so a
qualified FunctionName is refused, as AWS refuses it. The value is committed with the function's
row before it is answered, and counted by `concurrency.py` from the next invocation on.
"""

from __future__ import annotations

from lambdabox.aws.arns import function_arn
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.lambda_ import store as sql
from lambdabox.lambda_.base import Key, LambdaOperations, Params, Result

_FUNCTIONS_ONLY = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support "
    "this operation. Please specify either a function name or an unqualified function ARN."
)


class ReservedConcurrencyOperations(LambdaOperations):
    """A function's reserved concurrency."""

    def _reserving(self, ctx: RequestContext, name: str) -> Key:
        return self._function_only(ctx, name, _FUNCTIONS_ONLY)

    async def PutFunctionConcurrency(self, ctx: RequestContext, params: Params) -> Result:
        key = self._reserving(ctx, params["FunctionName"])
        value = int(params["ReservedConcurrentExecutions"])
        concurrency = self._deps.concurrency
        async with self._lock(key):
            self._current(key, function_arn(*key))
            concurrency.check_reservation(*key, value)
            provisioned = concurrency.provisioned(*key)
            if value < provisioned:
                raise client_error(
                    "InvalidParameterValueException",
                    "Specified ReservedConcurrentExecutions for function is less than the function's "
                    f"provisioned concurrency [{provisioned}].",
                    Type="User",
                )
            # taken before the write (no await in between): two functions' reservations made at
            # once cannot both pass the check
            before = concurrency.reserved(*key)
            concurrency.set_reserved(*key, value)
            try:
                await self._store.write(sql.set_reserved(*key, value))
            except BaseException:
                concurrency.set_reserved(*key, before)
                raise
        return {"ReservedConcurrentExecutions": value}

    async def GetFunctionConcurrency(self, ctx: RequestContext, params: Params) -> Result:
        key = self._reserving(ctx, params["FunctionName"])
        reserved = self._deps.concurrency.reserved(*key)
        return {} if reserved is None else {"ReservedConcurrentExecutions": reserved}

    async def DeleteFunctionConcurrency(self, ctx: RequestContext, params: Params) -> Result:
        key = self._reserving(ctx, params["FunctionName"])
        async with self._lock(key):
            self._current(key, function_arn(*key))
            await self._store.write(sql.set_reserved(*key, None))
            self._deps.concurrency.set_reserved(*key, None)
        return {}
