"""The apigateway API keys operations (CreateApiKey, GetApiKey(s), UpdateApiKey, DeleteApiKey)
over the in-memory view of the stored keys, each change committed before its answer
(https://docs.aws.amazon.com/apigateway/latest/api/API_CreateApiKey.html,
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-basic-concept.html#apigateway-definition-api-key).

A generated key value is 40 letters and digits, as API Gateway generates them; a given one must
have at least 20 characters. Values are unique in an account and region (ConflictException
"API Key already exists", as AWS answers).
"""

from __future__ import annotations

import dataclasses
import secrets
import string
from collections.abc import Callable, Collection
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.clock import Clock
from lambdabox.gateway import rest_patch, tag_arns
from lambdabox.gateway import usage_store as sql
from lambdabox.gateway.usage_ledger import Ledger
from lambdabox.gateway.usage_models import ApiKey, UsagePlan
from lambdabox.store.db import Store

Params = dict[str, Any]
Result = dict[str, Any]
_VALUE_ALPHABET = string.ascii_letters + string.digits
_ID_ALPHABET = string.ascii_lowercase + string.digits

#: whether a REST API and stage exist: (region, account, rest api id, stage name) -> an error to
#: answer (NotFoundException for a missing API or stage), None when both exist
StageLookup = Callable[[str, str, str, str], ServiceError | None]


def accept_any_stage(region: str, account: str, api_id: str, stage: str) -> ServiceError | None:
    return None


def stage_lookup(stages: Callable[[str, str, str], Collection[str] | None]) -> StageLookup:
    """A `StageLookup` from `stages(region, account, api id)`: the names of that REST API's
    stages, None when the account has no such API in the region."""

    def lookup(region: str, account: str, api_id: str, stage: str) -> ServiceError | None:
        names = stages(region, account, api_id)
        if names is None:
            return not_found(f"Invalid API identifier specified {account}:{api_id}")
        if stage not in names:
            return not_found("Invalid stage identifier specified")
        return None

    return lookup


def new_id(n: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(n))


def bad(message: str) -> ServiceError:
    return client_error("BadRequestException", message, 400)


def not_found(message: str) -> ServiceError:
    return client_error("NotFoundException", message, 404)


def conflict(message: str) -> ServiceError:
    return client_error("ConflictException", message, 409)


KEY_NOT_FOUND = "Invalid API Key identifier specified"
PLAN_NOT_FOUND = "Invalid Usage Plan ID specified"


def page(items: list[Result], params: Params) -> Result:
    """One page (`limit`, 25 by default, at most 500) after `position` (an opaque offset)."""
    start = 0
    if params.get("position"):
        token = str(params["position"])
        if not token.isdigit():
            raise bad("Invalid position parameter")
        start = int(token)
    size = min(500, int(params.get("limit") or 25))
    if size < 1:
        raise bad("Invalid limit parameter")
    out: Result = {"items": items[start : start + size]}
    if start + size < len(items):
        out["position"] = str(start + size)
    return out


class UsageState:
    """API keys, usage plans and which keys each plan holds, of every account and region."""

    def __init__(self, store: Store, clock: Clock, stages: StageLookup = accept_any_stage) -> None:
        self._store = store
        self._clock = clock
        self._stages = stages
        self.keys: dict[str, ApiKey] = {}
        self.plans: dict[str, UsagePlan] = {}
        self.plan_keys: dict[str, set[str]] = {}  # plan id -> key ids
        self._by_value: dict[tuple[str, str, str], str] = {}  # (region, account, value) -> key id
        self.ledger = Ledger(store)

    async def load(self) -> None:
        loaded = await self._store.read(sql.load_all)
        self.keys = {k.key_id: k for k in loaded.keys}
        self._by_value = {(k.region, k.account, k.value): k.key_id for k in loaded.keys}
        self.plans = {p.plan_id: p for p in loaded.plans}
        for plan_id, key_id in loaded.plan_keys:
            self.plan_keys.setdefault(plan_id, set()).add(key_id)

    # -- for the data plane ---------------------------------------------------------------
    def key_by_value(self, region: str, account: str, value: str) -> ApiKey | None:
        key_id = self._by_value.get((region, account, value))
        return self.keys.get(key_id) if key_id is not None else None

    def plans_of(self, key_id: str) -> list[UsagePlan]:
        return [self.plans[p] for p, keys in self.plan_keys.items() if key_id in keys and p in self.plans]

    # -- helpers ----------------------------------------------------------------------------
    def _key(self, ctx: RequestContext, key_id: str) -> ApiKey:
        key = self.keys.get(key_id)
        if key is None or key.account != ctx.account_id or key.region != ctx.region:
            raise not_found(KEY_NOT_FOUND)
        return key

    def _stage_keys(self, ctx: RequestContext, given: list[dict[str, Any]] | None) -> tuple[str, ...]:
        out = []
        for item in given or ():
            api_id, stage = str(item.get("restApiId") or ""), str(item.get("stageName") or "")
            if (err := self._stages(ctx.region, ctx.account_id, api_id, stage)) is not None:
                raise err
            out.append(f"{api_id}/{stage}")
        return tuple(out)

    # -- operations ---------------------------------------------------------------------------
    async def CreateApiKey(self, ctx: RequestContext, params: Params) -> Result:
        value = params.get("value")
        if value is None:
            value = "".join(secrets.choice(_VALUE_ALPHABET) for _ in range(40))
        elif len(value) < 20:
            raise bad("API Key value should be at least 20 characters")
        if self.key_by_value(ctx.region, ctx.account_id, value) is not None:
            raise conflict("API Key already exists")
        now = self._clock.now()
        key = ApiKey(
            key_id=new_id(10), region=ctx.region, account=ctx.account_id, value=value,
            name=params.get("name"), enabled=bool(params.get("enabled", False)), created=now, updated=now,
            description=params.get("description"), customer_id=params.get("customerId"),
            stage_keys=self._stage_keys(ctx, params.get("stageKeys")), tags=tag_arns.checked(params.get("tags")),
        )  # fmt: skip
        slot = (key.region, key.account, key.value)
        self._by_value[slot] = key.key_id  # (taken before the write: a concurrent create conflicts)
        try:
            await self._store.write(sql.put_key(key))
        except BaseException:
            self._by_value.pop(slot, None)
            raise
        self.keys[key.key_id] = key
        return key.to_api(include_value=True)

    async def GetApiKey(self, ctx: RequestContext, params: Params) -> Result:
        return self._key(ctx, params["apiKey"]).to_api(include_value=bool(params.get("includeValue")))

    async def GetApiKeys(self, ctx: RequestContext, params: Params) -> Result:
        name, customer = params.get("nameQuery"), params.get("customerId")
        mine = sorted(
            (
                k for k in self.keys.values()
                if k.account == ctx.account_id and k.region == ctx.region
                and (not name or (k.name or "").startswith(name))
                and (not customer or k.customer_id == customer)
            ),
            key=lambda k: k.created,
        )  # fmt: skip
        include = bool(params.get("includeValues"))
        return page([k.to_api(include_value=include) for k in mine], params)

    async def UpdateApiKey(self, ctx: RequestContext, params: Params) -> Result:
        key = self._key(ctx, params["apiKey"])
        changes: dict[str, Any] = {}
        stage_keys = list(key.stage_keys)
        for patch in rest_patch.operations(params.get("patchOperations")):
            head = patch.segments[0] if len(patch.segments) == 1 else None
            if patch.op == "replace" and head in ("name", "description", "customerId"):
                changes[{"customerId": "customer_id"}.get(head, head)] = patch.value
            elif patch.op == "replace" and head == "enabled":
                changes["enabled"] = rest_patch.as_bool(patch)
            elif patch.op in ("add", "remove") and head == "stages":
                api_id, _, stage = (patch.value or "").partition("/")
                if patch.op == "add":
                    stage_keys.extend(self._stage_keys(ctx, [{"restApiId": api_id, "stageName": stage}]))
                elif patch.value in stage_keys:
                    stage_keys.remove(patch.value)
            else:
                raise rest_patch.invalid(patch.op, patch.path)
        key = dataclasses.replace(key, **changes, stage_keys=tuple(stage_keys), updated=self._clock.now())
        await self._store.write(sql.put_key(key))
        self.keys[key.key_id] = key
        return key.to_api(include_value=False)

    async def DeleteApiKey(self, ctx: RequestContext, params: Params) -> Result:
        key = self._key(ctx, params["apiKey"])
        await self._store.write(sql.delete_key(key.key_id))
        self.keys.pop(key.key_id, None)
        self._by_value.pop((key.region, key.account, key.value), None)
        for keys in self.plan_keys.values():
            keys.discard(key.key_id)
        self.ledger.forget_key(key.key_id)
        return {}
