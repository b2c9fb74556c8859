"""Tags of HTTP APIs and their stages (TagResource, UntagResource, GetTags), named by ARN:
`arn:aws:apigateway:<region>::/apis/<api-id>` and `.../apis/<api-id>/stages/<stage>`."""

from __future__ import annotations

import dataclasses
import re

from lambdabox.aws.context import RequestContext
from lambdabox.gateway.models import HttpApi
from lambdabox.gateway.v2_base import Params, Result, V2Base, bad, not_found

_ARN = re.compile(
    r"arn:aws[a-z-]*:apigateway:(?P<region>[a-z0-9-]+)::/apis/(?P<api>[^/]+)(?:/stages/(?P<stage>[^/]+))?"
)


class TagsMixin(V2Base):
    """Tags by resource ARN."""

    def _tagged(self, ctx: RequestContext, arn: str) -> tuple[HttpApi, str | None]:
        m = _ARN.fullmatch(arn)
        if m is None:
            raise bad(f"Invalid resource ARN specified: {arn}")
        if m.group("region") != ctx.region:
            raise not_found(f"Invalid API identifier specified {ctx.account_id}:{m.group('api')}")
        api = self._get(ctx, m.group("api"))
        stage = m.group("stage")
        if stage is not None and stage not in api.stages:
            raise not_found("Invalid stage identifier specified")
        return api, stage

    async def TagResource(self, ctx: RequestContext, params: Params) -> Result:
        api, stage = self._tagged(ctx, params["ResourceArn"])
        tags = dict(params.get("Tags") or {})
        async with self._lock(api.api_id):
            if stage is None:
                api.tags = {**api.tags, **tags}
            else:
                old = api.stages[stage]
                api.stages[stage] = dataclasses.replace(old, tags={**old.tags, **tags})
            await self._commit(api)
        return {}

    async def UntagResource(self, ctx: RequestContext, params: Params) -> Result:
        api, stage = self._tagged(ctx, params["ResourceArn"])
        gone = set(params.get("TagKeys") or [])
        async with self._lock(api.api_id):
            if stage is None:
                api.tags = {k: v for k, v in api.tags.items() if k not in gone}
            else:
                old = api.stages[stage]
                api.stages[stage] = dataclasses.replace(
                    old, tags={k: v for k, v in old.tags.items() if k not in gone}
                )
            await self._commit(api)
        return {}

    async def GetTags(self, ctx: RequestContext, params: Params) -> Result:
        api, stage = self._tagged(ctx, params["ResourceArn"])
        return {"Tags": dict(api.tags if stage is None else api.stages[stage].tags)}
