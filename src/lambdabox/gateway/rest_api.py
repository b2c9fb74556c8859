"""The apigateway (v1) API's core and its REST API operations: create, read, list (position and
limit paging), update by patch operations, delete; durable in the store, one document per API.

The operations on resources, methods and integrations are in `rest_resources`, those on
deployments, stages and authorizers in `rest_stages`; `rest_service` puts them together. Each
change is committed (fsynced) before its answer. Error codes and messages are AWS's
(https://docs.aws.amazon.com/apigateway/latest/api/CommonErrors.html; messages as AWS words them,
recorded by LocalStack's and moto's tests of the real service).

REST API ids and HTTP API ids share one space on AWS (both serve `<id>.execute-api…`): a new
REST API never takes an id an HTTP API has (`taken`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.clock import Clock
from lambdabox.gateway import rest_patch, tag_arns
from lambdabox.gateway import rest_store as sql
from lambdabox.gateway.rest_models import RestApi, RestResource
from lambdabox.gateway.v2_base import new_id
from lambdabox.store.db import Store

Params = dict[str, Any]
Result = dict[str, Any]
_ENDPOINT_TYPES = ("EDGE", "REGIONAL", "PRIVATE")


def bad(message: str) -> ServiceError:
    return client_error("BadRequestException", message, 400)


def not_found(message: str) -> ServiceError:
    return client_error("NotFoundException", message, 404)


def conflict(message: str) -> ServiceError:
    return client_error("ConflictException", message, 409)


def page(items: Sequence[Result], params: Params) -> Result:
    """One page of `items`: `limit` of them (25 by default, 500 at most) from `position`."""
    start = 0
    if params.get("position"):
        token = str(params["position"])
        if not token.isdigit():
            raise bad("Invalid position parameter")
        start = int(token)
    limit = params.get("limit")
    size = 25 if limit is None else int(limit)
    if not 1 <= size <= 500:
        raise bad("1 validation error detected: Value at 'limit' failed to satisfy constraint")
    out: Result = {"items": list(items[start : start + size])}
    if start + size < len(items):
        out["position"] = str(start + size)
    return out


class RestApiCore:
    """REST APIs of every account and region of one server: state, lookups and the API ops."""

    def __init__(self, store: Store, clock: Clock, taken: Callable[[str], bool] = lambda _id: False) -> None:
        """`taken(id)`: whether an id is an HTTP API's already."""
        self._store = store
        self._clock = clock
        self._taken = taken
        self._apis: dict[str, RestApi] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def load(self) -> None:
        for api in await self._store.read(sql.load_all):
            self._apis[api.api_id] = api

    # -- for the data plane ---------------------------------------------------------------
    def api(self, api_id: str) -> RestApi | None:
        return self._apis.get(api_id)

    # -- helpers ----------------------------------------------------------------------------
    def _get(self, ctx: RequestContext, api_id: str) -> RestApi:
        api = self._apis.get(api_id)
        if api is None or api.account != ctx.account_id or api.region != ctx.region:
            raise not_found(f"Invalid API identifier specified {ctx.account_id}:{api_id}")
        return api

    def _lock(self, api_id: str) -> asyncio.Lock:
        lock = self._locks.get(api_id)
        if lock is None:
            lock = self._locks[api_id] = asyncio.Lock()
        return lock

    async def _commit(self, api: RestApi) -> None:
        await self._store.write(sql.put(api))
        self._apis[api.api_id] = api

    def _new_api_id(self) -> str:
        while True:
            candidate = new_id(10)
            if candidate not in self._apis and not self._taken(candidate):
                return candidate

    @staticmethod
    def _new_child_id(existing: Callable[[str], bool]) -> str:
        while True:
            candidate = new_id(10)
            if not existing(candidate):
                return candidate

    # -- REST APIs ----------------------------------------------------------------------------
    async def CreateRestApi(self, ctx: RequestContext, params: Params) -> Result:
        if params.get("cloneFrom"):
            raise bad("lambdabox does not clone REST APIs (cloneFrom) yet")
        types = list((params.get("endpointConfiguration") or {}).get("types") or ["EDGE"])
        if len(types) != 1 or types[0] not in _ENDPOINT_TYPES:
            raise bad(f"Invalid endpoint configuration types specified: {types}")
        root_id = new_id(10)
        api = RestApi(
            api_id=self._new_api_id(),
            region=ctx.region,
            account=ctx.account_id,
            name=params["name"],
            created=self._clock.now(),
            root_id=root_id,
            description=params.get("description") or None,
            version=params.get("version"),
            binary_media_types=list(dict.fromkeys(params.get("binaryMediaTypes") or [])),
            endpoint_types=types,
            disable_execute_api_endpoint=bool(params.get("disableExecuteApiEndpoint", False)),
            api_key_source=params.get("apiKeySource") or "HEADER",
            minimum_compression_size=params.get("minimumCompressionSize"),
            policy=params.get("policy"),
            tags=tag_arns.checked(params.get("tags")),
            resources={root_id: RestResource(root_id, None, None, "/")},
        )
        await self._commit(api)
        return api.to_api()

    async def GetRestApi(self, ctx: RequestContext, params: Params) -> Result:
        return self._get(ctx, params["restApiId"]).to_api()

    async def GetRestApis(self, ctx: RequestContext, params: Params) -> Result:
        mine = sorted(
            (a for a in self._apis.values() if a.account == ctx.account_id and a.region == ctx.region),
            key=lambda a: (a.created, a.api_id),
        )
        return page([a.to_api() for a in mine], params)

    async def UpdateRestApi(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            media = list(api.binary_media_types)
            changes: dict[str, Any] = {}
            for patch in rest_patch.operations(params.get("patchOperations")):
                head = patch.segments[0]
                if head == "binaryMediaTypes" and len(patch.segments) == 2:
                    kind = patch.segments[1]
                    if patch.op == "add" and kind not in media:
                        media.append(kind)
                    elif patch.op == "remove" and kind in media:
                        media.remove(kind)
                    elif patch.op == "replace" and kind in media and patch.value:
                        media[media.index(kind)] = rest_patch.unescape(patch.value)
                    elif patch.op not in ("add", "remove", "replace"):
                        raise rest_patch.invalid(patch.op, patch.path)
                    continue
                if patch.op != "replace" or len(patch.segments) != 1:
                    if head == "endpointConfiguration" and patch.op == "replace":
                        value = patch.value or ""
                        if value not in _ENDPOINT_TYPES:
                            raise bad(f"Invalid endpoint configuration type specified: {value}")
                        changes["endpoint_types"] = [value]
                        continue
                    raise rest_patch.invalid(patch.op, patch.path)
                if head in ("name", "description", "version", "policy", "apiKeySource"):
                    if head == "name" and not patch.value:
                        raise bad("Name cannot be empty")
                    if head == "apiKeySource" and patch.value not in ("HEADER", "AUTHORIZER"):
                        raise bad(f"Invalid apiKeySource specified: {patch.value}")
                    attr = {"apiKeySource": "api_key_source"}.get(head, head)
                    changes[attr] = patch.value or None
                elif head == "disableExecuteApiEndpoint":
                    changes["disable_execute_api_endpoint"] = rest_patch.as_bool(patch)
                elif head == "minimumCompressionSize":
                    changes["minimum_compression_size"] = (
                        int(rest_patch.as_number(patch)) if patch.value else None
                    )
                else:
                    raise rest_patch.invalid(patch.op, patch.path)
            if changes.get("policy") is not None:
                try:
                    json.loads(changes["policy"])
                except ValueError as exc:
                    raise bad("Invalid policy document specified") from exc
            for attr, value in changes.items():
                setattr(api, attr, value)
            api.binary_media_types = media
            await self._commit(api)
        return api.to_api()

    async def DeleteRestApi(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            await self._store.write(sql.delete(api.api_id))
            self._apis.pop(api.api_id, None)
        return {}
