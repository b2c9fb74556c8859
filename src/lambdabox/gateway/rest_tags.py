"""Tags of REST APIs and their stages (TagResource, UntagResource, GetTags), named by ARN:
`arn:aws:apigateway:<region>::/restapis/<api-id>` and `.../restapis/<api-id>/stages/<stage>`."""

from __future__ import annotations

import dataclasses

from lambdabox.aws.context import RequestContext
from lambdabox.gateway import tag_arns
from lambdabox.gateway.rest_api import Params, RestApiCore, Result, bad, not_found
from lambdabox.gateway.rest_models import RestApi


class TagOps(RestApiCore):
    """Tags by resource ARN."""

    def _tagged(self, ctx: RequestContext, arn: str) -> tuple[RestApi, str | None]:
        named = tag_arns.parse(arn, "restapis")
        if named is None:
            raise bad(f"Invalid resource ARN specified: {arn}")
        if named.region != ctx.region:
            raise not_found(f"Invalid API identifier specified {ctx.account_id}:{named.api_id}")
        api = self._get(ctx, named.api_id)
        if named.stage is not None and named.stage not in api.stages:
            raise not_found("Invalid Stage identifier specified")
        return api, named.stage

    async def _retag(self, ctx: RequestContext, arn: str, add: dict[str, str], drop: set[str]) -> None:
        api, stage = self._tagged(ctx, arn)
        async with self._lock(api.api_id):
            if stage is None:
                api.tags = tag_arns.retagged(api.tags, add, drop)
            else:
                old = api.stages[stage]
                api.stages[stage] = dataclasses.replace(old, tags=tag_arns.retagged(old.tags, add, drop))
            await self._commit(api)

    async def TagResource(self, ctx: RequestContext, params: Params) -> Result:
        await self._retag(ctx, params["resourceArn"], tag_arns.checked(params.get("tags")), set())
        return {}

    async def UntagResource(self, ctx: RequestContext, params: Params) -> Result:
        await self._retag(ctx, params["resourceArn"], {}, set(params.get("tagKeys") or []))
        return {}

    async def GetTags(self, ctx: RequestContext, params: Params) -> Result:
        api, stage = self._tagged(ctx, params["resourceArn"])
        return {"tags": dict(api.tags if stage is None else api.stages[stage].tags)}
