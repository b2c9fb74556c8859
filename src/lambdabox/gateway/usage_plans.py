"""The apigateway usage plan operations: plans (with their API stages, throttle and quota), the
keys they hold, and the usage of those keys (GetUsage, UpdateUsage), together with the API key
operations of `api_keys` — one class, `UsagePlansService`, served as the `apigateway` service
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html,
https://docs.aws.amazon.com/apigateway/latest/api/API_GetUsage.html).

GetUsage answers, for each key of the plan (or the one asked for), one `[used, remaining]` pair
per UTC day from startDate to endDate (`yyyy-MM-dd`): the requests of that day, and what the
key's quota had left at its end. A plan's quota `offset` is taken from the limit in the period in
which the plan was created. An API key serves at most one plan per API stage.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.gateway import rest_patch, tag_arns
from lambdabox.gateway import usage_store as sql
from lambdabox.gateway.api_keys import (
    KEY_NOT_FOUND,
    PLAN_NOT_FOUND,
    Params,
    Result,
    UsageState,
    bad,
    conflict,
    new_id,
    not_found,
    page,
)
from lambdabox.gateway.usage_models import (
    ApiStage,
    Quota,
    Throttle,
    UsagePlan,
    api_stage,
    day_of,
    period_end,
    period_start,
)

_PERIODS = ("DAY", "WEEK", "MONTH")


def quota_limit(plan: UsagePlan, start: dt.date) -> int:
    """The plan's quota for the period starting on `start`, before UpdateUsage's changes."""
    assert plan.quota is not None
    first = period_start(plan.quota.period, day_of(plan.created))
    return plan.quota.limit - (plan.quota.offset if start == first else 0)


def _quota(given: dict[str, Any] | None) -> Quota | None:
    if given is None:
        return None
    period = given.get("period")
    if period not in _PERIODS:
        raise bad(f"Invalid quota period specified: {period}")
    limit, offset = int(given.get("limit") or 0), int(given.get("offset") or 0)
    if limit < 0 or offset < 0 or offset >= max(limit, 1):
        raise bad("Quota offset must be less than the quota limit")
    return Quota(limit, period, offset)


def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise bad(f"Invalid {what}: {text}. The date must be in the format yyyy-MM-dd") from exc


class UsagePlansService(UsageState):
    """API keys, usage plans and their usage, of every account and region of one server."""

    def _plan(self, ctx: RequestContext, plan_id: str) -> UsagePlan:
        plan = self.plans.get(plan_id)
        if plan is None or plan.account != ctx.account_id or plan.region != ctx.region:
            raise not_found(PLAN_NOT_FOUND)
        return plan

    def _api_stages(self, ctx: RequestContext, given: list[dict[str, Any]]) -> tuple[ApiStage, ...]:
        stages: list[ApiStage] = []
        for item in given:
            stage = api_stage(item)
            if (err := self._stages(ctx.region, ctx.account_id, stage.api_id, stage.stage)) is not None:
                raise err
            if any(s.api_id == stage.api_id and s.stage == stage.stage for s in stages):
                raise bad(f"Duplicate API stage {stage.api_id}:{stage.stage} specified")
            stages.append(stage)
        return tuple(stages)

    def _check_one_plan_per_stage(self, plan: UsagePlan, key_ids: set[str]) -> None:
        """A key may not reach one API stage through two plans (the data plane must know which
        plan's throttle and quota a request counts against)."""
        for other in self.plans.values():
            if other.plan_id == plan.plan_id or not key_ids & self.plan_keys.get(other.plan_id, set()):
                continue
            for stage in plan.api_stages:
                if other.stage(stage.api_id, stage.stage) is not None:
                    raise conflict(
                        f"API Key cannot be added to usage plan {plan.plan_id}: it is already in usage plan "
                        f"{other.plan_id}, which serves API stage {stage.api_id}:{stage.stage}"
                    )

    # -- plans ------------------------------------------------------------------------------
    async def CreateUsagePlan(self, ctx: RequestContext, params: Params) -> Result:
        plan = UsagePlan(
            plan_id=new_id(6), region=ctx.region, account=ctx.account_id, name=params["name"],
            created=self._clock.now(), description=params.get("description"),
            api_stages=self._api_stages(ctx, params.get("apiStages") or []),
            throttle=Throttle.from_api(params.get("throttle")), quota=_quota(params.get("quota")),
            tags=tag_arns.checked(params.get("tags")),
        )  # fmt: skip
        await self._store.write(sql.put_plan(plan))
        self.plans[plan.plan_id] = plan
        return plan.to_api()

    async def GetUsagePlan(self, ctx: RequestContext, params: Params) -> Result:
        return self._plan(ctx, params["usagePlanId"]).to_api()

    async def GetUsagePlans(self, ctx: RequestContext, params: Params) -> Result:
        key_id = params.get("keyId")
        mine = sorted(
            (
                p for p in self.plans.values()
                if p.account == ctx.account_id and p.region == ctx.region
                and (not key_id or key_id in self.plan_keys.get(p.plan_id, set()))
            ),
            key=lambda p: p.created,
        )  # fmt: skip
        return page([p.to_api() for p in mine], params)

    async def UpdateUsagePlan(self, ctx: RequestContext, params: Params) -> Result:
        plan = self._plan(ctx, params["usagePlanId"])
        for patch in rest_patch.operations(params.get("patchOperations")):
            plan = self._patched(ctx, plan, patch)
        self._check_one_plan_per_stage(plan, self.plan_keys.get(plan.plan_id, set()))
        await self._store.write(sql.put_plan(plan))
        self.plans[plan.plan_id] = plan
        return plan.to_api()

    def _patched(self, ctx: RequestContext, plan: UsagePlan, patch: rest_patch.Patch) -> UsagePlan:
        seg, op = patch.segments, patch.op
        if op == "replace" and seg in (("name",), ("description",), ("productCode",)):
            attr = {"productCode": "product_code"}.get(seg[0], seg[0])
            if attr == "name" and not patch.value:
                raise bad("Usage plan name must not be empty")
            changes: dict[str, Any] = {attr: patch.value}
            return dataclasses.replace(plan, **changes)
        if seg == ("apiStages",) and op in ("add", "remove"):
            api_id, _, stage = (patch.value or "").partition(":")
            if op == "add":
                if plan.stage(api_id, stage) is not None:
                    raise conflict(f"API stage {api_id}:{stage} is already in the usage plan")
                added = self._api_stages(ctx, [{"apiId": api_id, "stage": stage}])
                return dataclasses.replace(plan, api_stages=plan.api_stages + added)
            if plan.stage(api_id, stage) is None:
                raise not_found(f"Invalid API stage {api_id}:{stage} specified")
            rest = tuple(s for s in plan.api_stages if (s.api_id, s.stage) != (api_id, stage))
            return dataclasses.replace(plan, api_stages=rest)
        if len(seg) >= 3 and seg[0] == "apiStages" and seg[2] == "throttle":
            return self._patched_stage_throttle(plan, patch)
        if seg[0] == "throttle" and (op == "remove" and len(seg) == 1):
            return dataclasses.replace(plan, throttle=None)
        if seg[0] == "quota" and (op == "remove" and len(seg) == 1):
            return dataclasses.replace(plan, quota=None)
        if (
            op in ("replace", "add")
            and len(seg) == 2
            and seg[0] == "throttle"
            and seg[1] in ("rateLimit", "burstLimit")
        ):
            old = plan.throttle or Throttle()
            value = rest_patch.as_number(patch)
            new = dataclasses.replace(
                old, **({"rate": value} if seg[1] == "rateLimit" else {"burst": int(value)})
            )
            return dataclasses.replace(plan, throttle=new)
        if (
            op in ("replace", "add")
            and len(seg) == 2
            and seg[0] == "quota"
            and seg[1] in ("limit", "offset", "period")
        ):
            old_quota = plan.quota.to_api() if plan.quota else {"limit": 0, "offset": 0, "period": "DAY"}
            given: Any = patch.value if seg[1] == "period" else int(rest_patch.as_number(patch))
            return dataclasses.replace(plan, quota=_quota({**old_quota, seg[1]: given}))
        raise rest_patch.invalid(op, patch.path)

    @staticmethod
    def _patched_stage_throttle(plan: UsagePlan, patch: rest_patch.Patch) -> UsagePlan:
        """`/apiStages/<api>:<stage>/throttle/<resource path>/<method>[/rateLimit|burstLimit]`."""
        seg = patch.segments
        api_id, _, stage_name = seg[1].partition(":")
        stage = plan.stage(api_id, stage_name)
        if stage is None:
            raise not_found(f"Invalid API stage {api_id}:{stage_name} specified")
        throttle = dict(stage.throttle)
        if len(seg) in (5, 6):
            method = f"{seg[3]}/{seg[4]}"
            if patch.op == "remove" and len(seg) == 5:
                throttle.pop(method, None)
            elif patch.op in ("add", "replace") and len(seg) == 6 and seg[5] in ("rateLimit", "burstLimit"):
                old = throttle.get(method, Throttle())
                value = rest_patch.as_number(patch)
                throttle[method] = dataclasses.replace(
                    old, **({"rate": value} if seg[5] == "rateLimit" else {"burst": int(value)})
                )
            else:
                raise rest_patch.invalid(patch.op, patch.path)
        else:
            raise rest_patch.invalid(patch.op, patch.path)
        new_stage = dataclasses.replace(stage, throttle=throttle)
        return dataclasses.replace(
            plan, api_stages=tuple(new_stage if s is stage else s for s in plan.api_stages)
        )

    async def DeleteUsagePlan(self, ctx: RequestContext, params: Params) -> Result:
        plan = self._plan(ctx, params["usagePlanId"])
        await self._store.write(sql.delete_plan(plan.plan_id))
        self.plans.pop(plan.plan_id, None)
        self.plan_keys.pop(plan.plan_id, None)
        self.ledger.forget(plan.plan_id)
        return {}

    # -- the keys of a plan ---------------------------------------------------------------------
    def _plan_key(self, ctx: RequestContext, plan: UsagePlan, key_id: str) -> Result:
        key = self.keys.get(key_id)
        if key is None or key.account != ctx.account_id or key.region != ctx.region:
            raise not_found(KEY_NOT_FOUND)
        if key_id not in self.plan_keys.get(plan.plan_id, set()):
            raise not_found(PLAN_NOT_FOUND)
        return {
            "id": key.key_id,
            "type": "API_KEY",
            "value": key.value,
            **({"name": key.name} if key.name else {}),
        }

    async def CreateUsagePlanKey(self, ctx: RequestContext, params: Params) -> Result:
        plan = self._plan(ctx, params["usagePlanId"])
        if params["keyType"] != "API_KEY":
            raise bad(f"Invalid key type specified: {params['keyType']}")
        key_id = params["keyId"]
        self._key(ctx, key_id)
        if key_id in self.plan_keys.get(plan.plan_id, set()):
            raise conflict("Usage Plan Key already exists")
        self._check_one_plan_per_stage(plan, {key_id})
        await self._store.write(sql.link(plan.plan_id, key_id))
        self.plan_keys.setdefault(plan.plan_id, set()).add(key_id)
        return self._plan_key(ctx, plan, key_id)

    async def GetUsagePlanKey(self, ctx: RequestContext, params: Params) -> Result:
        return self._plan_key(ctx, self._plan(ctx, params["usagePlanId"]), params["keyId"])

    async def GetUsagePlanKeys(self, ctx: RequestContext, params: Params) -> Result:
        plan = self._plan(ctx, params["usagePlanId"])
        name = params.get("nameQuery")
        keys = sorted(
            (self.keys[k] for k in self.plan_keys.get(plan.plan_id, set()) if k in self.keys),
            key=lambda k: k.created,
        )
        items = [
            self._plan_key(ctx, plan, k.key_id) for k in keys if not name or (k.name or "").startswith(name)
        ]
        return page(items, params)

    async def DeleteUsagePlanKey(self, ctx: RequestContext, params: Params) -> Result:
        plan = self._plan(ctx, params["usagePlanId"])
        key_id = params["keyId"]
        self._plan_key(ctx, plan, key_id)
        await self._store.write(sql.unlink(plan.plan_id, key_id))
        self.plan_keys.get(plan.plan_id, set()).discard(key_id)
        self.ledger.forget(plan.plan_id, key_id)
        return {}

    # -- usage ----------------------------------------------------------------------------------
    async def GetUsage(self, ctx: RequestContext, params: Params) -> Result:
        plan = self._plan(ctx, params["usagePlanId"])
        first, last = _date(params["startDate"], "startDate"), _date(params["endDate"], "endDate")
        if last < first:
            raise bad("The endDate must not be before the startDate")
        if (last - first).days > 90:
            raise bad("The usage data can be requested for at most 90 days")
        key_ids = sorted(self.plan_keys.get(plan.plan_id, set()))
        if params.get("keyId"):
            if params["keyId"] not in key_ids:
                raise not_found(KEY_NOT_FOUND)
            key_ids = [params["keyId"]]
        since = period_start(plan.quota.period, first) if plan.quota else first
        counted = await self.ledger.usage(plan.plan_id, since, last)
        adjusted = await self.ledger.adjustments(plan.plan_id)
        items: dict[str, list[list[int]]] = {}
        for key_id in key_ids:
            days, day, used_in_period, start = [], since, 0, None
            while day <= last:
                used = counted.get((key_id, day.isoformat()), 0)
                remaining = 0
                if plan.quota is not None:
                    if (here := period_start(plan.quota.period, day)) != start:
                        start, used_in_period = here, 0
                    used_in_period += used
                    allowed = quota_limit(plan, here) + adjusted.get((key_id, here.isoformat()), 0)
                    remaining = max(0, allowed - used_in_period)
                if day >= first:
                    days.append([used, remaining])
                day += dt.timedelta(days=1)
            items[key_id] = days
        return {
            "usagePlanId": plan.plan_id,
            "startDate": params["startDate"],
            "endDate": params["endDate"],
            "items": items,
        }

    async def UpdateUsage(self, ctx: RequestContext, params: Params) -> Result:
        plan = self._plan(ctx, params["usagePlanId"])
        key_id = params["keyId"]
        self._plan_key(ctx, plan, key_id)
        today = day_of(self._clock.now())
        for patch in rest_patch.operations(params.get("patchOperations")):
            if patch.op != "replace" or patch.segments != ("remaining",):
                raise rest_patch.invalid(patch.op, patch.path)
            if plan.quota is None:
                raise bad("The usage plan has no quota")
            remaining = int(rest_patch.as_number(patch))
            start = period_start(plan.quota.period, today)
            used = await self.ledger.used(plan.plan_id, key_id, start, period_end(plan.quota.period, start))
            adjustment = remaining - (quota_limit(plan, start) - used)
            await self.ledger.set_adjustment(plan.plan_id, key_id, start, adjustment)
        return await self.GetUsage(
            ctx,
            {
                "usagePlanId": plan.plan_id,
                "keyId": key_id,
                "startDate": today.isoformat(),
                "endDate": today.isoformat(),
            },
        )
