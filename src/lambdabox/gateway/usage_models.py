"""API keys and usage plans (API Gateway v1) as stored, and the quota periods they count in.

An `ApiKey` is a caller's credential (its value goes in the `x-api-key` header); a `UsagePlan`
names the API stages its keys may call, with a throttle (token bucket) and a quota (requests per
DAY, WEEK or MONTH). Quota periods are UTC calendar periods: a day from midnight, a week from
Sunday midnight (AWS documents offset 0 of a WEEK period as Sunday), a month from its first day
(https://docs.aws.amazon.com/apigateway/latest/api/API_QuotaSettings.html,
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    region: str
    account: str
    value: str
    name: str | None
    enabled: bool
    created: float
    updated: float
    description: str | None = None
    customer_id: str | None = None
    stage_keys: tuple[str, ...] = ()  # "restApiId/stageName" (deprecated by usage plans)
    tags: dict[str, str] = field(default_factory=dict)

    def to_api(self, *, include_value: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.key_id,
            "enabled": self.enabled,
            "createdDate": self.created,
            "lastUpdatedDate": self.updated,
            "stageKeys": list(self.stage_keys),
        }
        if include_value:
            out["value"] = self.value
        for name, value in (
            ("name", self.name),
            ("description", self.description),
            ("customerId", self.customer_id),
        ):
            if value is not None:
                out[name] = value
        if self.tags:
            out["tags"] = dict(self.tags)
        return out

    def to_row(self) -> dict[str, Any]:
        return {**self.__dict__, "stage_keys": list(self.stage_keys)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ApiKey:
        return cls(**{**row, "stage_keys": tuple(row.get("stage_keys") or ())})


@dataclass(frozen=True)
class Throttle:
    """A token bucket's size (burstLimit) and refill per second (rateLimit)."""

    burst: int | None = None
    rate: float | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.burst is not None:
            out["burstLimit"] = self.burst
        if self.rate is not None:
            out["rateLimit"] = self.rate
        return out

    @classmethod
    def from_api(cls, given: dict[str, Any] | None) -> Throttle | None:
        if given is None:
            return None
        return cls(given.get("burstLimit"), given.get("rateLimit"))


@dataclass(frozen=True)
class Quota:
    limit: int
    period: str  # DAY | WEEK | MONTH
    offset: int = 0

    def to_api(self) -> dict[str, Any]:
        return {"limit": self.limit, "offset": self.offset, "period": self.period}


@dataclass(frozen=True)
class ApiStage:
    api_id: str
    stage: str
    throttle: dict[str, Throttle] = field(default_factory=dict)  # "/path/METHOD" -> limits

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"apiId": self.api_id, "stage": self.stage}
        if self.throttle:
            out["throttle"] = {k: v.to_api() for k, v in self.throttle.items()}
        return out


@dataclass(frozen=True)
class UsagePlan:
    plan_id: str
    region: str
    account: str
    name: str
    created: float
    description: str | None = None
    api_stages: tuple[ApiStage, ...] = ()
    throttle: Throttle | None = None
    quota: Quota | None = None
    product_code: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.plan_id,
            "name": self.name,
            "apiStages": [s.to_api() for s in self.api_stages],
        }
        if self.description is not None:
            out["description"] = self.description
        if self.throttle is not None:
            out["throttle"] = self.throttle.to_api()
        if self.quota is not None:
            out["quota"] = self.quota.to_api()
        if self.product_code is not None:
            out["productCode"] = self.product_code
        if self.tags:
            out["tags"] = dict(self.tags)
        return out

    def stage(self, api_id: str, stage: str) -> ApiStage | None:
        return next((s for s in self.api_stages if s.api_id == api_id and s.stage == stage), None)

    def to_row(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "api_stages": [s.to_api() for s in self.api_stages],
            "throttle": self.throttle.to_api() if self.throttle else None,
            "quota": self.quota.to_api() if self.quota else None,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> UsagePlan:
        quota = row.get("quota")
        return cls(
            **{
                **row,
                "api_stages": tuple(api_stage(s) for s in row.get("api_stages") or ()),
                "throttle": Throttle.from_api(row.get("throttle")),
                "quota": Quota(quota["limit"], quota["period"], quota.get("offset", 0)) if quota else None,
            }
        )


def api_stage(given: dict[str, Any]) -> ApiStage:
    throttle = {
        k: Throttle(v.get("burstLimit"), v.get("rateLimit")) for k, v in (given.get("throttle") or {}).items()
    }
    return ApiStage(given["apiId"], given["stage"], throttle)


# -- quota periods ---------------------------------------------------------------------------


def day_of(epoch: float) -> dt.date:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).date()


def period_start(period: str, day: dt.date) -> dt.date:
    """The first day of the quota period that holds `day` (UTC)."""
    if period == "WEEK":
        return day - dt.timedelta(days=(day.weekday() + 1) % 7)  # back to Sunday
    if period == "MONTH":
        return day.replace(day=1)
    return day


def period_end(period: str, start: dt.date) -> dt.date:
    """The first day after the quota period starting on `start`."""
    if period == "WEEK":
        return start + dt.timedelta(days=7)
    if period == "MONTH":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + dt.timedelta(days=1)
