"""Tags of HTTP APIs and their stages (TagResource, UntagResource, GetTags), named by ARN:
`arn:aws:apigateway:<region>::/apis/<api-id>` and `.../apis/<api-id>/stages/<stage>`."""

from __future__ import annotations

from lambdabox.aws.context import RequestContext
from lambdabox.gateway import tag_arns
from lambdabox.gateway.v2_base import Params, Result, V2Base


class TagsMixin(V2Base):
    """Tags by resource ARN."""

    def _tagging(self) -> tag_arns.Tagging:
        return tag_arns.Tagging(
            "apis", self._get, self._lock, self._commit, "Invalid stage identifier specified"
        )

    async def TagResource(self, ctx: RequestContext, params: Params) -> Result:
        await self._tagging().retag(ctx, params["ResourceArn"], tag_arns.checked(params.get("Tags")), set())
        return {}

    async def UntagResource(self, ctx: RequestContext, params: Params) -> Result:
        await self._tagging().retag(ctx, params["ResourceArn"], {}, set(params.get("TagKeys") or []))
        return {}

    async def GetTags(self, ctx: RequestContext, params: Params) -> Result:
        return {"Tags": self._tagging().tags_of(ctx, params["ResourceArn"])}
