"""The API key check of the REST data plane (`gateway.metering`) over a real store and the
manual clock: API Gateway's 403/429 answers, quotas per UTC period, throttles per plan and per
method, usage that survives a restart and shows in GetUsage."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
from lambdabox.clock import ManualClock
from lambdabox.gateway import usage_store
from lambdabox.gateway.api_keys import stage_lookup
from lambdabox.gateway.metering import FORBIDDEN, LIMIT_EXCEEDED, TOO_MANY_REQUESTS, Metering, Refusal
from lambdabox.gateway.usage_models import period_end, period_start
from lambdabox.gateway.usage_plans import UsagePlansService
from lambdabox.store.db import Store

REGION, ACCOUNT = "us-east-1", "111122223333"
# a Wednesday, 12:00 UTC
NOON = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC).timestamp()


def ctx(account: str = ACCOUNT) -> RequestContext:
    return RequestContext("req", REGION, account, "apigateway", "op")


class World:
    def __init__(self, path: Path, clock: ManualClock) -> None:
        self.path, self.clock = path, clock
        self.store = Store(path)
        self.store.open()
        self.store.migrate("gateway_usage", usage_store.SCHEMA)
        self.plans = UsagePlansService(self.store, clock)
        self.metering = Metering(self.plans, clock)

    async def check(
        self, value: str | None, method: str = "/pets/GET", stage: str = "prod"
    ) -> Refusal | None:
        return await self.metering.check(REGION, ACCOUNT, "api1", stage, method, value)

    async def key_in_plan(self, **plan: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        created = await self.plans.CreateUsagePlan(
            ctx(), {"name": "p", "apiStages": [{"apiId": "api1", "stage": "prod"}], **plan}
        )
        key = await self.plans.CreateApiKey(ctx(), {"name": "k", "enabled": True})
        await self.plans.CreateUsagePlanKey(
            ctx(), {"usagePlanId": created["id"], "keyId": key["id"], "keyType": "API_KEY"}
        )
        return created, key

    async def close(self) -> None:
        await self.plans.ledger.close()
        await asyncio.to_thread(self.store.close)


def with_world(test: Callable[[World], Awaitable[None]]) -> Callable[[Path], None]:
    """A test of a fresh world: its store in the test's tmp dir, the clock at NOON."""

    def run(tmp_path: Path) -> None:
        async def go() -> None:
            w = World(tmp_path / "db.sqlite", ManualClock(start=NOON))
            await w.plans.load()
            try:
                await test(w)
            finally:
                await w.close()

        asyncio.run(go())

    run.__name__ = test.__name__
    return run


async def times(n: int, call: Callable[[], Awaitable[Refusal | None]]) -> list[Refusal | None]:
    return [await call() for _ in range(n)]


@with_world
async def test_refusals_are_api_gateways_forbidden(world: World) -> None:
    _, key = await world.key_in_plan()
    assert await world.check(None) is FORBIDDEN
    assert await world.check("no-such-key-value-at-all") is FORBIDDEN
    assert await world.check(key["value"]) is None
    assert await world.check(key["value"], stage="dev") is FORBIDDEN  # the plan does not serve it
    other = await world.plans.CreateApiKey(ctx(), {"enabled": True})  # in no plan
    assert await world.check(other["value"]) is FORBIDDEN
    await world.plans.UpdateApiKey(
        ctx(),
        {"apiKey": key["id"], "patchOperations": [{"op": "replace", "path": "/enabled", "value": "false"}]},
    )
    assert await world.check(key["value"]) is FORBIDDEN
    assert (FORBIDDEN.status, FORBIDDEN.body) == (403, b'{"message":"Forbidden"}')


@with_world
async def test_a_key_of_another_account_is_unknown(world: World) -> None:
    plan = await world.plans.CreateUsagePlan(
        ctx("999999999999"), {"name": "p", "apiStages": [{"apiId": "api1", "stage": "prod"}]}
    )
    key = await world.plans.CreateApiKey(ctx("999999999999"), {"enabled": True})
    await world.plans.CreateUsagePlanKey(
        ctx("999999999999"), {"usagePlanId": plan["id"], "keyId": key["id"], "keyType": "API_KEY"}
    )
    assert await world.check(key["value"]) is FORBIDDEN


@with_world
async def test_a_daily_quota_runs_out_and_comes_back_at_utc_midnight(world: World) -> None:
    _, key = await world.key_in_plan(quota={"limit": 3, "period": "DAY"})
    assert await times(4, lambda: world.check(key["value"])) == [None, None, None, LIMIT_EXCEEDED]
    assert (LIMIT_EXCEEDED.status, LIMIT_EXCEEDED.body) == (429, b'{"message":"Limit Exceeded"}')
    world.clock.advance(11 * 3600 + 59 * 60)  # 23:59
    assert await world.check(key["value"]) is LIMIT_EXCEEDED
    world.clock.advance(60)  # midnight
    assert await world.check(key["value"]) is None


@with_world
async def test_the_offset_is_taken_from_the_first_period(world: World) -> None:
    _, key = await world.key_in_plan(quota={"limit": 3, "offset": 2, "period": "DAY"})
    assert await times(2, lambda: world.check(key["value"])) == [None, LIMIT_EXCEEDED]
    world.clock.advance(86400)
    assert await times(4, lambda: world.check(key["value"])) == [None, None, None, LIMIT_EXCEEDED]


def test_quota_periods_are_utc_days_weeks_from_sunday_and_months() -> None:
    wednesday = dt.date(2026, 12, 2)
    assert period_start("DAY", wednesday) == wednesday
    assert period_start("WEEK", wednesday) == dt.date(2026, 11, 29)  # Sunday
    assert period_start("WEEK", dt.date(2026, 11, 29)) == dt.date(2026, 11, 29)
    assert period_end("WEEK", dt.date(2026, 11, 29)) == dt.date(2026, 12, 6)
    assert period_start("MONTH", wednesday) == dt.date(2026, 12, 1)
    assert period_end("MONTH", dt.date(2026, 12, 1)) == dt.date(2027, 1, 1)
    assert period_end("MONTH", dt.date(2027, 2, 1)) == dt.date(2027, 3, 1)


@with_world
async def test_a_weekly_quota_lasts_until_sunday(world: World) -> None:
    _, key = await world.key_in_plan(quota={"limit": 2, "period": "WEEK"})
    assert await times(3, lambda: world.check(key["value"])) == [None, None, LIMIT_EXCEEDED]
    world.clock.advance(3 * 86400)  # Saturday noon
    assert await world.check(key["value"]) is LIMIT_EXCEEDED
    world.clock.advance(86400)  # Sunday noon
    assert await world.check(key["value"]) is None


@with_world
async def test_the_plans_throttle_and_a_methods_own(world: World) -> None:
    throttle = {"/pets/POST": {"burstLimit": 1, "rateLimit": 1.0}}
    _, key = await world.key_in_plan(
        throttle={"burstLimit": 2, "rateLimit": 1.0},
        apiStages=[{"apiId": "api1", "stage": "prod", "throttle": throttle}],
    )
    assert await times(3, lambda: world.check(key["value"])) == [None, None, TOO_MANY_REQUESTS]
    assert (TOO_MANY_REQUESTS.status, TOO_MANY_REQUESTS.body) == (429, b'{"message":"Too Many Requests"}')
    assert await times(2, lambda: world.check(key["value"], "/pets/POST")) == [None, TOO_MANY_REQUESTS]
    world.clock.advance(1)
    assert await world.check(key["value"]) is None
    assert await world.check(key["value"], "/pets/POST") is None


@with_world
async def test_throttled_requests_do_not_use_the_quota(world: World) -> None:
    plan, key = await world.key_in_plan(
        throttle={"burstLimit": 1, "rateLimit": 1.0}, quota={"limit": 2, "period": "DAY"}
    )
    assert await times(3, lambda: world.check(key["value"])) == [None, TOO_MANY_REQUESTS, TOO_MANY_REQUESTS]
    world.clock.advance(1)
    assert await world.check(key["value"]) is None
    today = dt.date(2026, 12, 2).isoformat()
    usage = await world.plans.GetUsage(
        ctx(), {"usagePlanId": plan["id"], "startDate": today, "endDate": today}
    )
    assert usage["items"] == {key["id"]: [[2, 0]]}


@with_world
async def test_concurrent_requests_take_no_more_than_the_quota(world: World) -> None:
    _, key = await world.key_in_plan(quota={"limit": 5, "period": "DAY"})
    answers = await asyncio.gather(*(world.check(key["value"]) for _ in range(20)))
    assert answers.count(None) == 5 and answers.count(LIMIT_EXCEEDED) == 15


@with_world
async def test_get_usage_counts_per_day_and_update_usage_changes_what_remains(world: World) -> None:
    plan, key = await world.key_in_plan(quota={"limit": 10, "period": "WEEK"})
    await times(3, lambda: world.check(key["value"]))
    world.clock.advance(86400)
    await times(2, lambda: world.check(key["value"]))
    usage = await world.plans.GetUsage(
        ctx(), {"usagePlanId": plan["id"], "startDate": "2026-12-01", "endDate": "2026-12-04"}
    )
    assert usage == {
        "usagePlanId": plan["id"], "startDate": "2026-12-01", "endDate": "2026-12-04",
        "items": {key["id"]: [[0, 10], [3, 7], [2, 5], [0, 5]]},
    }  # fmt: skip
    await world.plans.UpdateUsage(
        ctx(),
        {"usagePlanId": plan["id"], "keyId": key["id"],
         "patchOperations": [{"op": "replace", "path": "/remaining", "value": "1"}]},
    )  # fmt: skip
    assert await times(2, lambda: world.check(key["value"])) == [None, LIMIT_EXCEEDED]
    with pytest.raises(ServiceError) as exc:
        await world.plans.GetUsage(
            ctx(),
            {
                "usagePlanId": plan["id"],
                "keyId": "nosuch",
                "startDate": "2026-12-01",
                "endDate": "2026-12-01",
            },
        )
    assert exc.value.code == "NotFoundException"


def test_usage_survives_a_restart(tmp_path: Path) -> None:
    asyncio.run(_usage_survives_a_restart(tmp_path))


async def _usage_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(start=NOON)
    first = World(tmp_path / "db.sqlite", clock)
    await first.plans.load()
    plan, key = await first.key_in_plan(quota={"limit": 4, "period": "MONTH"})
    assert await times(3, lambda: first.check(key["value"])) == [None, None, None]
    await first.close()
    again = World(tmp_path / "db.sqlite", clock)
    await again.plans.load()
    try:
        assert await times(2, lambda: again.check(key["value"])) == [None, LIMIT_EXCEEDED]
        today = "2026-12-02"
        usage = await again.plans.GetUsage(
            ctx(), {"usagePlanId": plan["id"], "startDate": today, "endDate": today}
        )
        assert usage["items"] == {key["id"]: [[4, 0]]}
    finally:
        await again.close()


@with_world
async def test_counts_reach_the_store_without_close(world: World) -> None:
    plan, key = await world.key_in_plan(quota={"limit": 100, "period": "DAY"})
    await times(7, lambda: world.check(key["value"]))
    await world.plans.ledger.flush()
    stored = await world.store.read(usage_store.usage(plan["id"], "2026-12-02", "2026-12-02"))
    assert stored == {(key["id"], "2026-12-02"): 7}


def test_api_stages_are_checked_by_the_injected_lookup(tmp_path: Path) -> None:
    async def go() -> None:
        store = Store(tmp_path / "db.sqlite")
        store.open()
        store.migrate("gateway_usage", usage_store.SCHEMA)
        apis = {(REGION, ACCOUNT, "api1"): {"prod"}}
        plans = UsagePlansService(
            store, ManualClock(start=NOON), stage_lookup(lambda r, a, i: apis.get((r, a, i)))
        )
        try:
            await plans.CreateUsagePlan(
                ctx(), {"name": "ok", "apiStages": [{"apiId": "api1", "stage": "prod"}]}
            )
            for stage, message in (
                ({"apiId": "nope", "stage": "prod"}, f"Invalid API identifier specified {ACCOUNT}:nope"),
                ({"apiId": "api1", "stage": "dev"}, "Invalid stage identifier specified"),
            ):
                with pytest.raises(ServiceError) as exc:
                    await plans.CreateUsagePlan(ctx(), {"name": "bad", "apiStages": [stage]})
                assert (exc.value.code, exc.value.message) == ("NotFoundException", message)
            with pytest.raises(ServiceError):  # another account's API of that id is not found
                await plans.CreateUsagePlan(
                    ctx("999999999999"), {"name": "x", "apiStages": [{"apiId": "api1", "stage": "prod"}]}
                )
        finally:
            await asyncio.to_thread(store.close)

    asyncio.run(go())
