"""The ARNs API Gateway's TagResource, UntagResource and GetTags name, for both API types:
`arn:aws:apigateway:<region>::/<apis|restapis>/<api-id>[/stages/<stage>]`."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambdabox.aws import tag_keys
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error

_ARN = re.compile(
    r"arn:aws[a-z-]*:apigateway:(?P<region>[a-z0-9-]+)::/(?P<kind>apis|restapis)/(?P<api>[^/]+)"
    r"(?:/stages/(?P<stage>[^/]+))?"
)


@dataclass(frozen=True)
class Tagged:
    region: str
    api_id: str
    stage: str | None


def parse(arn: str, kind: str) -> Tagged | None:
    """The API (and stage) `arn` names, if it names one of `kind` ("apis" or "restapis")."""
    m = _ARN.fullmatch(arn)
    if m is None or m.group("kind") != kind:
        return None
    return Tagged(m.group("region"), m.group("api"), m.group("stage"))


def checked(given: object) -> dict[str, str]:
    """Tags as given, or API Gateway's BadRequestException for a key in AWS's reserved space."""
    tags = {str(k): str(v) for k, v in given.items()} if isinstance(given, Mapping) else {}
    if tag_keys.reserved(tags) is not None:
        raise client_error(
            "BadRequestException",
            "Invalid tag key. Tag keys cannot start with 'aws:' (case insensitive)",
            400,
        )
    return tags


def retagged(tags: Mapping[str, str], add: Mapping[str, str], drop: set[str]) -> dict[str, str]:
    """`tags` with `add` set and the keys in `drop` removed."""
    return {k: v for k, v in {**tags, **add}.items() if k not in drop}


class Tagging:
    """TagResource / UntagResource / GetTags over one API type's store: `get` finds an API of the
    caller (NotFoundException otherwise), `lock` and `commit` are its service's; an API and its
    stages carry `tags` (the stages in `api.stages`, frozen dataclasses)."""

    def __init__(
        self,
        kind: str,
        get: Callable[[RequestContext, str], Any],
        lock: Callable[[str], asyncio.Lock],
        commit: Callable[[Any], Awaitable[None]],
        stage_missing: str,
    ) -> None:
        self.kind, self._get, self._lock, self._commit = kind, get, lock, commit
        self._stage_missing = stage_missing

    def _named(self, ctx: RequestContext, arn: str) -> tuple[Any, str | None]:
        named = parse(arn, self.kind)
        if named is None:
            raise client_error("BadRequestException", f"Invalid resource ARN specified: {arn}", 400)
        if named.region != ctx.region:
            raise client_error(
                "NotFoundException", f"Invalid API identifier specified {ctx.account_id}:{named.api_id}", 404
            )
        api = self._get(ctx, named.api_id)
        if named.stage is not None and named.stage not in api.stages:
            raise client_error("NotFoundException", self._stage_missing, 404)
        return api, named.stage

    async def retag(self, ctx: RequestContext, arn: str, add: Mapping[str, str], drop: set[str]) -> None:
        api, stage = self._named(ctx, arn)
        async with self._lock(api.api_id):
            if stage is None:
                api.tags = retagged(api.tags, add, drop)
            else:
                old = api.stages[stage]
                api.stages[stage] = dataclasses.replace(old, tags=retagged(old.tags, add, drop))
            await self._commit(api)

    def tags_of(self, ctx: RequestContext, arn: str) -> dict[str, str]:
        api, stage = self._named(ctx, arn)
        return dict(api.tags if stage is None else api.stages[stage].tags)
