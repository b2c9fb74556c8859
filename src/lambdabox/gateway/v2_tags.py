"""Tags of HTTP APIs and their stages (TagResource, UntagResource, GetTags), named by ARN:
`arn:aws:apigateway:<region>::/apis/<api-id>` and `.../apis/<api-id>/stages/<stage>`."""

from __future__ import annotations

import dataclasses

from lambdabox.aws.context import RequestContext
from lambdabox.gateway import tag_arns
from lambdabox.gateway.models import HttpApi
from lambdabox.gateway.v2_base import Params, Result, V2Base, bad, not_found


class TagsMixin(V2Base):
    """Tags by resource ARN."""

    def _tagged(self, ctx: RequestContext, arn: str) -> tuple[HttpApi, str | None]:
        named = tag_arns.parse(arn, "apis")
        if named is None:
            raise bad(f"Invalid resource ARN specified: {arn}")
        if named.region != ctx.region:
            raise not_found(f"Invalid API identifier specified {ctx.account_id}:{named.api_id}")
        api = self._get(ctx, named.api_id)
        if named.stage is not None and named.stage not in api.stages:
            raise not_found("Invalid stage identifier specified")
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
        await self._retag(ctx, params["ResourceArn"], tag_arns.checked(params.get("Tags")), set())
        return {}

    async def UntagResource(self, ctx: RequestContext, params: Params) -> Result:
        await self._retag(ctx, params["ResourceArn"], {}, set(params.get("TagKeys") or []))
        return {}

    async def GetTags(self, ctx: RequestContext, params: Params) -> Result:
        api, stage = self._tagged(ctx, params["ResourceArn"])
        return {"Tags": dict(api.tags if stage is None else api.stages[stage].tags)}
