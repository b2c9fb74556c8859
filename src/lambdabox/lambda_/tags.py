"""Tags: TagResource, UntagResource, ListTags, on the function itself only (as AWS: not on versions
or aliases), or on an event source mapping (`esm_tags.py`). Tags are not configuration: changing
them keeps the function's revision."""

from __future__ import annotations

from lambdabox.aws.arns import function_arn
from lambdabox.aws.context import RequestContext
from lambdabox.lambda_ import checks
from lambdabox.lambda_ import store as sql
from lambdabox.lambda_.base import Key, Params, Result
from lambdabox.lambda_.esm_tags import MappingTagOperations, names_mapping


class TagOperations(MappingTagOperations):
    """A function's tags."""

    def _tagged(self, ctx: RequestContext, arn: str) -> Key:
        return self._function_only(
            ctx,
            arn,
            "Tags on function aliases and versions are not supported. Please specify a function ARN.",
        )

    async def TagResource(self, ctx: RequestContext, params: Params) -> Result:
        if names_mapping(params["Resource"]):
            return await self.tag_mapping(ctx, params["Resource"], dict(params["Tags"]))
        key = self._tagged(ctx, params["Resource"])
        async with self._lock(key):
            rec = self._current(key, function_arn(*key))
            tags = {**rec.tags, **params["Tags"]}
            checks.check_tag_count(tags)
            await self._store.write(sql.set_tags(*key, tags))
            rec.tags = tags
        return {}

    async def UntagResource(self, ctx: RequestContext, params: Params) -> Result:
        if names_mapping(params["Resource"]):
            return await self.untag_mapping(ctx, params["Resource"], list(params["TagKeys"]))
        key = self._tagged(ctx, params["Resource"])
        async with self._lock(key):
            rec = self._current(key, function_arn(*key))
            gone = set(params["TagKeys"])
            tags = {k: v for k, v in rec.tags.items() if k not in gone}
            await self._store.write(sql.set_tags(*key, tags))
            rec.tags = tags
        return {}

    async def ListTags(self, ctx: RequestContext, params: Params) -> Result:
        if names_mapping(params["Resource"]):
            return self.mapping_tags(ctx, params["Resource"])
        key = self._tagged(ctx, params["Resource"])
        return {"Tags": dict(self._current(key, function_arn(*key)).tags)}
