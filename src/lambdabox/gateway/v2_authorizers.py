"""The apigatewayv2 authorizer operations (Create/Get/Update/Delete Authorizer, GetAuthorizers) and
what a route's AuthorizationType may name.
"""

from __future__ import annotations

from lambdabox.aws.context import RequestContext
from lambdabox.gateway.models import Authorizer, HttpApi
from lambdabox.gateway.v2_base import (
    IDENTITY_SOURCE,
    Params,
    Result,
    V2Base,
    bad,
    conflict,
    lambda_target,
    new_id,
    not_found,
    page,
)


class AuthorizersMixin(V2Base):
    """Authorizers of an HTTP API, and checking a route's authorization against them."""

    @staticmethod
    def _authorization(api: HttpApi, params: Params) -> tuple[str, str | None]:
        """A route's AuthorizationType and authorizer, checked: NONE, or CUSTOM with a Lambda
        authorizer of this API."""
        auth_type = params.get("AuthorizationType") or "NONE"
        if auth_type == "NONE":
            return "NONE", None
        if auth_type != "CUSTOM":
            raise bad(f"lambdabox does not authorize routes with {auth_type} yet (NONE and CUSTOM only)")
        authorizer_id = params.get("AuthorizerId")
        if authorizer_id is None or authorizer_id not in api.authorizers:
            raise bad(f"Invalid authorizer ID specified: {authorizer_id}")
        return auth_type, authorizer_id

    # -- authorizers -------------------------------------------------------------------------
    @staticmethod
    def _authorizer(authorizer_id: str, params: Params, old: Authorizer | None = None) -> Authorizer:
        kind = params.get("AuthorizerType", "REQUEST" if old else None)
        if kind != "REQUEST":
            raise bad(f"lambdabox serves REQUEST (Lambda) authorizers only, not {kind}")
        uri = params.get("AuthorizerUri", old.authorizer_uri if old else None)
        if not uri or lambda_target(uri) is None:
            raise bad(f"Invalid authorizer URI specified: {uri}" if uri else "AuthorizerUri is required")
        version = params.get("AuthorizerPayloadFormatVersion", old.payload_format_version if old else None)
        if version not in ("1.0", "2.0"):
            raise bad("AuthorizerPayloadFormatVersion must be 1.0 or 2.0 for REQUEST authorizers")
        simple = bool(params.get("EnableSimpleResponses", old.simple_responses if old else False))
        if simple and version != "2.0":
            raise bad("EnableSimpleResponses is only supported for AuthorizerPayloadFormatVersion 2.0")
        sources = tuple(params.get("IdentitySource", old.identity_source if old else ()) or ())
        ttl = int(params.get("AuthorizerResultTtlInSeconds", old.ttl if old else 0))
        if not 0 <= ttl <= 3600:
            raise bad("AuthorizerResultTtlInSeconds must be between 0 and 3600")
        if ttl > 0 and not sources:
            raise bad("IdentitySource is required when authorizer caching is enabled")
        for source in sources:
            if not IDENTITY_SOURCE.fullmatch(source):
                raise bad(f"Invalid identity source specified: {source}")
        return Authorizer(
            authorizer_id=authorizer_id, name=params.get("Name", old.name if old else ""), authorizer_uri=uri,
            payload_format_version=version, simple_responses=simple, identity_source=sources, ttl=ttl,
        )  # fmt: skip

    def _find_authorizer(self, ctx: RequestContext, api: HttpApi, authorizer_id: str) -> Authorizer:
        found = api.authorizers.get(authorizer_id)
        if found is None:
            raise not_found(
                f"Invalid Authorizer identifier specified {ctx.account_id}:{api.api_id}:{authorizer_id}"
            )
        return found

    async def CreateAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            authorizer = self._authorizer(new_id(6), params)
            api.authorizers[authorizer.authorizer_id] = authorizer
            await self._commit(api)
        return authorizer.to_api()

    async def GetAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return self._find_authorizer(ctx, api, params["AuthorizerId"]).to_api()

    async def GetAuthorizers(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return page(list(api.authorizers.values()), params)

    async def UpdateAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            old = self._find_authorizer(ctx, api, params["AuthorizerId"])
            authorizer = self._authorizer(old.authorizer_id, params, old)
            api.authorizers[authorizer.authorizer_id] = authorizer
            await self._commit(api)
        return authorizer.to_api()

    async def DeleteAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            authorizer = self._find_authorizer(ctx, api, params["AuthorizerId"])
            if any(r.authorizer_id == authorizer.authorizer_id for r in api.routes.values()):
                raise conflict(
                    f"Authorizer {authorizer.authorizer_id} is in use by a route and cannot be deleted"
                )
            del api.authorizers[authorizer.authorizer_id]
            await self._commit(api)
        return {}
