"""Invoke: the payload checked as Lambda checks it, the chain of invocations it continues
(the Lineage of its X-Amzn-Trace-Id header: a recursive loop is stopped, `recursion.py`), the
version chosen (an alias's weights drawn per invocation), the invocation run by the invoker
(through the fault injector, `fault_runs.py`, when one is wired), and the answer with
X-Amz-Executed-Version; `authorize_service`, the resource-policy check AWS services' invokes pass."""

from __future__ import annotations

import base64
import functools
import json

from lambdabox.aws.arns import FunctionRef, parse_function_ref
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.lambda_ import checks
from lambdabox.lambda_ import limits as lambda_limits
from lambdabox.lambda_.async_engine import Attempt, AttemptResult
from lambdabox.lambda_.async_store import AsyncEvent
from lambdabox.lambda_.base import LambdaOperations, Params, Result, Target
from lambdabox.lambda_.environment import INIT_LIMIT
from lambdabox.lambda_.invocation_record import AttemptResponse
from lambdabox.lambda_.lineage import NO_LINEAGE, Lineage
from lambdabox.lambda_.metric_hooks import (
    DURATION,
    ERRORS,
    INVOCATIONS,
    PROVISIONED_CONCURRENCY_INVOCATIONS,
    PROVISIONED_CONCURRENCY_SPILLOVER_INVOCATIONS,
    THROTTLES,
    Subject,
)
from lambdabox.lambda_.models import FunctionConfig
from lambdabox.lambda_.policy_eval import Decision
from lambdabox.lambda_.recursion import RECURSIVE, continued
from lambdabox.lambda_.resource_access import InvokeSource, access_denied, judge
from lambdabox.lambda_.response_stream import ResponseStream

#: what a cold start may add to the init and invoke phases' limits (the process, its credentials)
_START_MARGIN = 1.0


class InvokeOperations(LambdaOperations):
    """Synchronous invocation, and the acceptance of asynchronous events (run by async_engine.py)."""

    def longest_invocation(self, ctx: RequestContext, function_name: str) -> float:
        """The longest (seconds) an Invoke of `function_name` can take, a cold start included: the
        init phase's limit and the function's timeout (of every version an alias may run), and
        what an injected latency fault adds; raises as Invoke would for no such function."""
        target = self._target(ctx, function_name)
        timeouts = [target.config.timeout]
        if target.alias is not None:
            for version, _ in target.alias.weights:
                cfg = target.record.version(version)
                timeouts.append(cfg.timeout if cfg is not None else 0)
        longest = float(max(timeouts))
        injected = self._deps.faults.longest_latency(target.config) if self._deps.faults else 0.0
        return max(INIT_LIMIT, longest) + longest + injected + _START_MARGIN

    def authorize_service(self, function_arn: str, source: InvokeSource) -> None:
        """The one check every AWS service's invoke of a function passes first (SNS's, API
        Gateway's; S3's, EventBridge's and function URLs' when they come): with
        `enforce_resource_policies`, AccessDeniedException unless the policy of what
        `function_arn` names (its alias's or version's for a qualified ARN) allows `source`.
        Without it, or for a function, version or alias that is not there (the invoke answers
        that), nothing is refused."""
        if not self._deps.enforce_resource_policies:
            return
        ref = parse_function_ref(function_arn)
        rec = self._functions.get((ref.region or "", ref.account or "", ref.name))
        q = ref.qualifier
        if rec is None or (q is not None and rec.version(q) is None and q not in rec.aliases):
            return
        decision = judge(rec, ref.qualifier, source.request)
        if decision is not Decision.ALLOW:
            raise access_denied(source.name, source.request(function_arn).action, function_arn, decision)

    def fault_function(self, function: str, region: str, account: str) -> FunctionRef:
        """What a fault's `function` names: a name (in `region` and `account`), a partial or full
        ARN, maybe qualified (`name:alias`, `name:3`); raises Invoke's ResourceNotFoundException
        when there is no such function, version or alias."""
        ref = parse_function_ref(function)
        ctx = RequestContext("", ref.region or region, ref.account or account, "lambda", "Invoke")
        target = self._target(ctx, function)
        cfg = target.record.latest
        return FunctionRef(cfg.name, cfg.region, cfg.account, target.qualifier)

    async def Invoke(self, ctx: RequestContext, params: Params) -> Result:
        target = self._target(ctx, params["FunctionName"], params.get("Qualifier"))
        payload = checked_payload(params)
        client_context = checks.client_context(params.get("ClientContext"))
        itype = params.get("InvocationType", "RequestResponse")
        if itype == "DryRun":
            return {"StatusCode": 204, "Payload": b""}
        lineage = Lineage.of_trace_header(ctx.trace_header)
        if itype == "Event":
            return await self._accept_event(ctx, target, payload, lineage)
        return await self._run_target(
            ctx, target, payload, client_context, tail=params.get("LogType") == "Tail", lineage=lineage
        )

    async def _accept_event(
        self, ctx: RequestContext, target: Target, payload: bytes, lineage: Lineage
    ) -> Result:
        """InvocationType Event: 202 once the event is committed in the store (async_engine.py),
        with the lineage its caller sent (whether it is a loop's is decided when it runs); its 1 MB
        payload limit is the edge's (limits.py)."""
        if self._deps.async_engine is None:
            raise client_error("ServiceException", "Asynchronous invocation is not available.", 500)
        cfg = target.config
        await self._deps.async_engine.accept(
            AsyncEvent(
                ctx.request_id,
                cfg.region,
                cfg.account,
                cfg.name,
                target.qualifier,
                payload,
                self._clock.now(),
                lineage=str(lineage),
            )
        )
        return {"StatusCode": 202, "Payload": b""}

    async def run_async_event(self, ev: AsyncEvent) -> AttemptResult:
        """One attempt of an accepted event, through the synchronous path with its request id."""
        ctx = RequestContext(ev.request_id, ev.region, ev.account, "lambda", "Invoke")
        try:
            target = self._target(ctx, ev.function_name, ev.qualifier)
        except ServiceError as exc:
            if exc.code == "ResourceNotFoundException":
                return AttemptResult(Attempt.GONE)
            raise
        try:
            result = await self._run_target(
                ctx, target, ev.payload, None, tail=False, lineage=Lineage.parse(ev.lineage)
            )
        except ServiceError as exc:
            if exc.code == RECURSIVE:  # not run, not retried: to its dead-letter queue / OnFailure
                body = json.dumps({"errorMessage": exc.message, "errorType": exc.code}).encode()
                return AttemptResult(
                    Attempt.STOPPED, AttemptResponse(exc.status, target.config.version, None, body)
                )
            if exc.code == "TooManyRequestsException" or exc.status >= 500:
                # AWS: throttles and system errors put the event back, for up to its maximum age
                return AttemptResult(Attempt.THROTTLED)
            if exc.code == "ResourceNotFoundException":
                return AttemptResult(Attempt.GONE)
            return AttemptResult(
                Attempt.FAILED, AttemptResponse(exc.status, target.config.version, None, b"")
            )
        error = result.get("FunctionError")
        response = AttemptResponse(200, str(result["ExecutedVersion"]), error, bytes(result["Payload"]))
        return AttemptResult(Attempt.FAILED if error else Attempt.SUCCEEDED, response)

    async def invoke_event(self, ctx: RequestContext, function_name: str, event: bytes) -> Result:
        """A synchronous invocation one of lambdabox's own services makes (API Gateway's, an event
        source mapping's): the event is JSON it wrote, so only its size is checked, as Lambda
        checks every payload; `ctx.trace_header` (a message's AWSTraceHeader) continues a chain."""
        target = self._target(ctx, function_name)
        check_size(event)
        lineage = Lineage.of_trace_header(ctx.trace_header)
        return await self._run_target(ctx, target, event, None, tail=False, lineage=lineage)

    async def _run_target(
        self,
        ctx: RequestContext,
        target: Target,
        payload: bytes,
        client_context: str | None,
        *,
        tail: bool,
        lineage: Lineage = NO_LINEAGE,
        cfg: FunctionConfig | None = None,
        stream: ResponseStream | None = None,
    ) -> Result:
        """Run an invocation of `target` (its version `cfg`, else `pick`ed now) continuing the
        chain `lineage` (or stop a recursive loop); `stream`: where a streamed answer goes."""
        lineage = continued(target, lineage, self._deps.metrics)
        cfg = cfg if cfg is not None else self.pick(target)
        run = functools.partial(
            self._invoker.invoke,
            cfg,
            payload,
            invoked_arn=target.arn,
            request_id=ctx.request_id,
            client_context=client_context,
            lineage=lineage,
            stream=stream,
        )
        faults = self._deps.faults
        metrics, subject = (
            self._deps.metrics,
            Subject(cfg.region, cfg.account, cfg.name, target.qualifier, cfg.version),
        )
        try:
            outcome = await (
                run() if faults is None else faults.invoke(cfg, target.qualifier, ctx.request_id, run)
            )
        except ServiceError as exc:
            if exc.code == "TooManyRequestsException":
                metrics.count(THROTTLES, subject)
            raise
        metrics.count(INVOCATIONS, subject)
        metrics.count(DURATION, subject, outcome.duration_ms)
        if outcome.error_type:
            metrics.count(ERRORS, subject)
        if outcome.provisioned is not None:
            spilled = PROVISIONED_CONCURRENCY_SPILLOVER_INVOCATIONS
            metrics.count(PROVISIONED_CONCURRENCY_INVOCATIONS if outcome.provisioned else spilled, subject)
        out: Result = {"StatusCode": 200, "ExecutedVersion": cfg.version, "Payload": outcome.payload}
        if outcome.error_type:
            out["FunctionError"] = outcome.error_type
        if tail:
            out["LogResult"] = base64.b64encode(outcome.log_tail.encode("utf-8", "replace")[-4096:]).decode()
        return out

    def pick(self, target: Target) -> FunctionConfig:
        """The version an invocation of `target` runs (an alias's weights drawn now)."""
        if target.alias is not None and target.alias.weights:
            version = target.record.version(target.alias.pick(self._deps.draw()))
            if version is not None:
                return version
        return target.config


def checked_payload(params: Params) -> bytes:
    """An Invoke request's Payload as Lambda takes it: at most 6 MB, JSON, `{}` when empty."""
    payload: bytes = params.get("Payload") or b""
    check_size(payload)
    if not payload.strip():
        return b"{}"
    checks.check_json(payload)
    return payload


def check_size(payload: bytes) -> None:
    """The synchronous payload quota, refused in the words the edge uses for a body over it."""
    if len(payload) > checks.MAX_PAYLOAD:
        raise lambda_limits.request_limit("Invoke", {}).error(len(payload))
