"""Tags of REST APIs and their stages (TagResource, UntagResource, GetTags), named by ARN:
`arn:aws:apigateway:<region>::/restapis/<api-id>` and `.../restapis/<api-id>/stages/<stage>`."""

from __future__ import annotations

import dataclasses
import re

from lambdabox.aws.context import RequestContext
from lambdabox.gateway.rest_api import Params, RestApiCore, Result, bad, not_found
from lambdabox.gateway.rest_models import RestApi

_ARN = re.compile(
    r"arn:aws[a-z-]*:apigateway:(?P<region>[a-z0-9-]+)::/restapis/(?P<api>[^/]+)(?:/stages/(?P<stage>[^/]+))?"
)


class TagOps(RestApiCore):
    """Tags by resource ARN."""

    def _tagged(self, ctx: RequestContext, arn: str) -> tuple[RestApi, str | None]:
        m = _ARN.fullmatch(arn)
        if m is None:
            raise bad(f"Invalid resource ARN specified: {arn}")
        if m.group("region") != ctx.region:
            raise not_found(f"Invalid API identifier specified {ctx.account_id}:{m.group('api')}")
        api = self._get(ctx, m.group("api"))
        stage = m.group("stage")
        if stage is not None and stage not in api.stages:
            raise not_found("Invalid Stage identifier specified")
        return api, stage

    async def _retag(self, ctx: RequestContext, arn: str, add: dict[str, str], drop: set[str]) -> None:
        api, stage = self._tagged(ctx, arn)
        async with self._lock(api.api_id):
            if stage is None:
                api.tags = {k: v for k, v in {**api.tags, **add}.items() if k not in drop}
            else:
                old = api.stages[stage]
                tags = {k: v for k, v in {**old.tags, **add}.items() if k not in drop}
                api.stages[stage] = dataclasses.replace(old, tags=tags)
            await self._commit(api)

    async def TagResource(self, ctx: RequestContext, params: Params) -> Result:
        await self._retag(ctx, params["resourceArn"], dict(params.get("tags") or {}), set())
        return {}

    async def UntagResource(self, ctx: RequestContext, params: Params) -> Result:
        await self._retag(ctx, params["resourceArn"], {}, set(params.get("tagKeys") or []))
        return {}

    async def GetTags(self, ctx: RequestContext, params: Params) -> Result:
        api, stage = self._tagged(ctx, params["resourceArn"])
        return {"tags": dict(api.tags if stage is None else api.stages[stage].tags)}
