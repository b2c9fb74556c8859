"""Tags on event source mappings: TagResource, UntagResource and ListTags on a mapping's ARN
(`arn:aws:lambda:<region>:<account>:event-source-mapping:<uuid>`), and CreateEventSourceMapping's
`Tags`, within AWS's limits (at most 50, none in the reserved `aws:` space). Tags are not
configuration: changing them neither restarts the mapping's pollers nor changes LastModified."""

from __future__ import annotations

import dataclasses

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.lambda_ import checks, esm_store
from lambdabox.lambda_.base import LambdaOperations, Result
from lambdabox.lambda_.esm_store import Mapping

MARK = ":event-source-mapping:"


def names_mapping(arn: str) -> bool:
    """Whether a tagging operation's Resource is an event source mapping's ARN."""
    return MARK in arn


class MappingTagOperations(LambdaOperations):
    """The tags of event source mappings (TagOperations hands them a mapping's ARN)."""

    def _tagged_mapping(self, ctx: RequestContext, arn: str) -> Mapping:
        engine = self._deps.event_sources
        parts = arn.split(":")
        m = None
        if engine is not None and len(parts) == 7 and (parts[3], parts[4]) == (ctx.region, ctx.account_id):
            m = engine.mappings.get(parts[6])
        if m is None or m.arn != arn:
            raise client_error(
                "ResourceNotFoundException", "The resource you requested does not exist.", 404, Type="User"
            )
        return m

    async def _retag(self, m: Mapping, tags: dict[str, str]) -> None:
        checks.check_tag_count(tags)
        await self._store.write(esm_store.put(dataclasses.replace(m, tags=tags)))
        m.tags = tags  # the engine's own record: its pollers run on

    async def tag_mapping(self, ctx: RequestContext, arn: str, adding: dict[str, str]) -> Result:
        m = self._tagged_mapping(ctx, arn)
        await self._retag(m, {**m.tags, **adding})
        return {}

    async def untag_mapping(self, ctx: RequestContext, arn: str, keys: list[str]) -> Result:
        m = self._tagged_mapping(ctx, arn)
        await self._retag(m, {k: v for k, v in m.tags.items() if k not in set(keys)})
        return {}

    def mapping_tags(self, ctx: RequestContext, arn: str) -> Result:
        return {"Tags": dict(self._tagged_mapping(ctx, arn).tags)}
