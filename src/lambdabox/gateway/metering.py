"""The API key check of the REST data plane: for a method with `apiKeyRequired`, whether the
request's `x-api-key` names an enabled key of a usage plan serving the API stage, within the
plan's throttle and quota; an allowed request is counted against the key's quota period.

API Gateway's answers (its default gateway responses,
https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html,
and https://repost.aws/knowledge-center/api-gateway-429-limit): no key, an unknown or disabled
one, or one of no plan serving the stage → 403 `{"message":"Forbidden"}` (INVALID_API_KEY);
the quota used up → 429 `{"message":"Limit Exceeded"}` (QUOTA_EXCEEDED); over the throttle
(the method's own limits in the plan's API stage, else the plan's) → 429
`{"message":"Too Many Requests"}` (THROTTLED). A throttled request is not counted against the
quota. Quota periods and token buckets run on the one clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lambdabox.clock import Clock
from lambdabox.gateway.throttle import Throttle as Buckets
from lambdabox.gateway.usage_models import Throttle, UsagePlan, day_of, period_end, period_start
from lambdabox.gateway.usage_plans import UsagePlansService, quota_limit


@dataclass(frozen=True)
class Refusal:
    """API Gateway's answer to a request the key check refuses."""

    status: int
    message: str
    error_type: str  # x-amzn-ErrorType

    @property
    def body(self) -> bytes:
        return json.dumps({"message": self.message}, separators=(",", ":")).encode()


FORBIDDEN = Refusal(403, "Forbidden", "ForbiddenException")
LIMIT_EXCEEDED = Refusal(429, "Limit Exceeded", "LimitExceededException")
TOO_MANY_REQUESTS = Refusal(429, "Too Many Requests", "ThrottlingException")


def _limits(throttle: Throttle | None) -> tuple[float, float] | None:
    """(rate per second, burst) of a throttle; None: no limit set."""
    if throttle is None or (throttle.rate is None and throttle.burst is None):
        return None
    rate = throttle.rate if throttle.rate is not None else 10_000.0
    burst = throttle.burst if throttle.burst is not None else max(1.0, rate)
    return float(rate), float(burst)


def method_key(resource_path: str, http_method: str) -> str:
    """How a usage plan's API stage names a method in its throttle: `/pets/GET`, `//GET` for the
    root resource's."""
    return f"{resource_path}/{http_method}"


class Metering:
    """Checks and counts requests with API keys against the usage plans of `plans`."""

    def __init__(self, plans: UsagePlansService, clock: Clock) -> None:
        self._plans = plans
        self._clock = clock
        self._buckets = Buckets(clock)

    def _plan(self, account: str, key_id: str, api_id: str, stage: str) -> UsagePlan | None:
        for plan in self._plans.plans_of(key_id):
            if plan.account == account and plan.stage(api_id, stage) is not None:
                return plan
        return None

    def key_id(self, region: str, account: str, api_key: str) -> str | None:
        """The id of the API key whose value is `api_key`."""
        key = self._plans.key_by_value(region, account, api_key)
        return None if key is None else key.key_id

    async def check(
        self, region: str, account: str, api_id: str, stage: str, method_key: str, api_key: str | None
    ) -> Refusal | None:
        """None: allowed (and counted); else the answer. `method_key` is `<resource path>/<HTTP
        method>` (`/pets/GET`), as usage plans name methods in their per-method throttles."""
        if not api_key:
            return FORBIDDEN
        key = self._plans.key_by_value(region, account, api_key)
        if key is None or not key.enabled:
            return FORBIDDEN
        plan = self._plan(account, key.key_id, api_id, stage)
        if plan is None:
            return FORBIDDEN
        api_stage = plan.stage(api_id, stage)
        assert api_stage is not None
        own = api_stage.throttle.get(method_key)
        limits = _limits(own) if own is not None else _limits(plan.throttle)
        if limits is not None:
            scope = method_key if own is not None else "*"
            if not self._buckets.admit((f"{plan.plan_id}:{key.key_id}", f"{api_id}:{stage}", scope), *limits):
                return TOO_MANY_REQUESTS
        if plan.quota is None:
            return None
        today = day_of(self._clock.now())
        start = period_start(plan.quota.period, today)
        ledger = self._plans.ledger
        allowed = quota_limit(plan, start) + await ledger.adjustment(plan.plan_id, key.key_id, start)
        # (no await between reading the count and counting: concurrent requests cannot both take
        # the last request of a quota)
        used = await ledger.used(plan.plan_id, key.key_id, start, period_end(plan.quota.period, start))
        if used >= allowed:
            return LIMIT_EXCEEDED
        ledger.count(plan.plan_id, key.key_id, start, today)
        return None
