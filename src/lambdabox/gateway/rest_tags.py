"""Tags of REST APIs and their stages (TagResource, UntagResource, GetTags), named by ARN:
`arn:aws:apigateway:<region>::/restapis/<api-id>` and `.../restapis/<api-id>/stages/<stage>`."""

from __future__ import annotations

from lambdabox.aws.context import RequestContext
from lambdabox.gateway import tag_arns
from lambdabox.gateway.rest_api import Params, RestApiCore, Result


class TagOps(RestApiCore):
    """Tags by resource ARN."""

    def _tagging(self) -> tag_arns.Tagging:
        return tag_arns.Tagging(
            "restapis", self._get, self._lock, self._commit, "Invalid Stage identifier specified"
        )

    async def TagResource(self, ctx: RequestContext, params: Params) -> Result:
        await self._tagging().retag(ctx, params["resourceArn"], tag_arns.checked(params.get("tags")), set())
        return {}

    async def UntagResource(self, ctx: RequestContext, params: Params) -> Result:
        await self._tagging().retag(ctx, params["resourceArn"], {}, set(params.get("tagKeys") or []))
        return {}

    async def GetTags(self, ctx: RequestContext, params: Params) -> Result:
        return {"tags": self._tagging().tags_of(ctx, params["resourceArn"])}
