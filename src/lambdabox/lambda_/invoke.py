"""Invoke: the payload checked as Lambda checks it, the version chosen (an alias's weights drawn
per invocation), the invocation run by the invoker, and the answer with X-Amz-Executed-Version."""

from __future__ import annotations

import base64

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.lambda_ import checks
from lambdabox.lambda_.base import LambdaOperations, Params, Result, Target
from lambdabox.lambda_.environment import INIT_LIMIT

#: what a cold start may add to the init and invoke phases' limits (the process, its credentials)
_START_MARGIN = 1.0


class InvokeOperations(LambdaOperations):
    """Synchronous invocation."""

    def longest_invocation(self, ctx: RequestContext, function_name: str) -> float:
        """The longest (seconds) an Invoke of `function_name` can take, a cold start included: the
        init phase's limit and the function's timeout (of every version an alias may run); raises
        as Invoke would for no such function."""
        target = self._target(ctx, function_name)
        timeouts = [target.config.timeout]
        if target.alias is not None:
            for version, _ in target.alias.weights:
                cfg = target.record.version(version)
                timeouts.append(cfg.timeout if cfg is not None else 0)
        longest = float(max(timeouts))
        return max(INIT_LIMIT, longest) + longest + _START_MARGIN

    async def Invoke(self, ctx: RequestContext, params: Params) -> Result:
        target = self._target(ctx, params["FunctionName"], params.get("Qualifier"))
        payload: bytes = params.get("Payload") or b""
        _check_size(payload)
        if not payload.strip():
            payload = b"{}"
        else:
            checks.check_json(payload)
        client_context = checks.client_context(params.get("ClientContext"))
        itype = params.get("InvocationType", "RequestResponse")
        if itype == "DryRun":
            return {"StatusCode": 204, "Payload": b""}
        if itype == "Event":
            raise client_error(
                "InvalidParameterValueException",
                "lambdabox does not run asynchronous (Event) invocations yet; use RequestResponse.",
            )
        return await self._run_target(
            ctx, target, payload, client_context, tail=params.get("LogType") == "Tail"
        )

    async def invoke_event(self, ctx: RequestContext, function_name: str, event: bytes) -> Result:
        """A synchronous invocation one of lambdabox's own services makes (API Gateway's): the
        event is JSON it wrote, so only its size is checked, as Lambda checks every payload."""
        target = self._target(ctx, function_name)
        _check_size(event)
        return await self._run_target(ctx, target, event, None, tail=False)

    async def _run_target(
        self, ctx: RequestContext, target: Target, payload: bytes, client_context: str | None, *, tail: bool
    ) -> Result:
        cfg = target.config
        if target.alias is not None and target.alias.weights:
            version = target.record.version(target.alias.pick(self._deps.draw()))
            cfg = version if version is not None else cfg
        outcome = await self._invoker.invoke(
            cfg, payload, invoked_arn=target.arn, request_id=ctx.request_id, client_context=client_context
        )
        out: Result = {"StatusCode": 200, "ExecutedVersion": cfg.version, "Payload": outcome.payload}
        if outcome.error_type:
            out["FunctionError"] = outcome.error_type
        if tail:
            out["LogResult"] = base64.b64encode(outcome.log_tail.encode("utf-8", "replace")[-4096:]).decode()
        return out


def _check_size(payload: bytes) -> None:
    if len(payload) > checks.MAX_PAYLOAD:
        raise client_error(
            "RequestTooLargeException",
            f"Request must be smaller than {checks.MAX_PAYLOAD} bytes for the InvokeFunction operation",
            413,
            Type="User",
        )
