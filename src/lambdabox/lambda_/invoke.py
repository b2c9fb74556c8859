"""Invoke: the payload checked as Lambda checks it, the version chosen (an alias's weights drawn
per invocation), the invocation run by the invoker, and the answer with X-Amz-Executed-Version."""

from __future__ import annotations

import base64

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.lambda_ import checks
from lambdabox.lambda_.base import LambdaOperations, Params, Result


class InvokeOperations(LambdaOperations):
    """Synchronous invocation."""

    async def Invoke(self, ctx: RequestContext, params: Params) -> Result:
        target = self._target(ctx, params["FunctionName"], params.get("Qualifier"))
        payload: bytes = params.get("Payload") or b""
        if len(payload) > checks.MAX_PAYLOAD:
            raise client_error(
                "RequestTooLargeException",
                f"Request must be smaller than {checks.MAX_PAYLOAD} bytes for the InvokeFunction operation",
                413,
                Type="User",
            )
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
        if params.get("LogType") == "Tail":
            out["LogResult"] = base64.b64encode(outcome.log_tail.encode("utf-8", "replace")[-4096:]).decode()
        return out
