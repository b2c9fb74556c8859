"""CloudWatch Logs tags: TagLogGroup, UntagLogGroup, ListTagsLogGroup and the ARN-named
TagResource, UntagResource, ListTagsForResource (at most 50 per group)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.logs import store as sql
from lambdabox.logs.base import LogsBase
from lambdabox.logs.params import (
    NO_GROUP,
    check_group_name,
    check_tags,
    invalid,
    not_found,
    required,
)


class LogTagOperations(LogsBase):
    """The tag operations of log groups."""

    async def _change_tags(
        self,
        ctx: RequestContext,
        name: str,
        add: dict[str, str],
        remove: Sequence[str],
        too_many: ServiceError | None = None,
    ) -> None:
        """Remove then add tags; `too_many` is raised if that leaves more than 50."""

        def change(tags: dict[str, str]) -> dict[str, str]:
            for key in remove:
                tags.pop(key, None)
            tags.update(add)
            if too_many is not None and len(tags) > 50:
                raise too_many
            return tags

        result = await self._store.write(
            lambda c: sql.update_tags(c, ctx.region, ctx.account_id, name, change)
        )
        if result is None:
            raise not_found(NO_GROUP)

    async def TagLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_group_name("logGroupName", params.get("logGroupName"))
        tags = check_tags("tags", required(params, "tags"))
        await self._change_tags(ctx, name, tags, (), invalid("A log group can have no more than 50 tags."))
        return {}

    async def UntagLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_group_name("logGroupName", params.get("logGroupName"))
        keys = required(params, "tags")
        await self._change_tags(ctx, name, {}, [str(k) for k in keys])
        return {}

    async def ListTagsLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_group_name("logGroupName", params.get("logGroupName"))
        group = await self._load_group(ctx, name)
        return {"tags": dict(group.tags)}

    async def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = self._arn_group(ctx, params.get("resourceArn"))
        tags = check_tags("tags", required(params, "tags"))
        too_many = client_error("TooManyTagsException", "A resource can have no more than 50 tags.")
        await self._change_tags(ctx, name, tags, (), too_many)
        return {}

    async def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = self._arn_group(ctx, params.get("resourceArn"))
        keys = required(params, "tagKeys")
        await self._change_tags(ctx, name, {}, [str(k) for k in keys])
        return {}

    async def ListTagsForResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = self._arn_group(ctx, params.get("resourceArn"))
        group = await self._load_group(ctx, name)
        return {"tags": dict(group.tags)}
