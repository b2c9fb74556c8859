"""The apigatewayv2 authorizer operations (Create/Get/Update/Delete Authorizer, GetAuthorizers):
Lambda REQUEST authorizers and JWT authorizers (https://docs.aws.amazon.com/apigateway/latest/
developerguide/http-api-jwt-authorizer.html), and what a route's AuthorizationType may name (NONE,
AWS_IAM, CUSTOM with a REQUEST authorizer, JWT with a JWT authorizer and AuthorizationScopes).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

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

#: where a JWT authorizer reads the token unless told otherwise
DEFAULT_JWT_SOURCE = "$request.header.Authorization"
JWT_SOURCE = re.compile(r"\$request\.(header|querystring)\.[A-Za-z0-9_.-]+")


class AuthorizersMixin(V2Base):
    """Authorizers of an HTTP API, and checking a route's authorization against them."""

    @staticmethod
    def _authorization(api: HttpApi, params: Params) -> tuple[str, str | None, tuple[str, ...]]:
        """A route's AuthorizationType, authorizer and scopes, checked: NONE, AWS_IAM, CUSTOM with
        a Lambda authorizer of this API, or JWT with a JWT authorizer of this API (and scopes)."""
        auth_type = params.get("AuthorizationType") or "NONE"
        scopes = tuple(params.get("AuthorizationScopes") or ())
        if scopes and auth_type != "JWT":
            raise bad("AuthorizationScopes are supported only for JWT authorizers")
        if auth_type in ("NONE", "AWS_IAM"):
            return auth_type, None, ()
        if auth_type not in ("CUSTOM", "JWT"):
            raise bad(f"Invalid authorization type specified: {auth_type}")
        authorizer_id = params.get("AuthorizerId")
        found = api.authorizers.get(authorizer_id or "")
        wanted = "JWT" if auth_type == "JWT" else "REQUEST"
        if found is None or found.authorizer_type != wanted:
            raise bad(
                f"Invalid authorizer ID specified. Setting the authorization type to {auth_type} "
                f"requires a valid {wanted} authorizer."
            )
        return auth_type, authorizer_id, scopes

    # -- authorizers -------------------------------------------------------------------------
    @classmethod
    def _authorizer(cls, authorizer_id: str, params: Params, old: Authorizer | None = None) -> Authorizer:
        kind = params.get("AuthorizerType", old.authorizer_type if old else None)
        if kind == "JWT":
            return cls._jwt_authorizer(
                authorizer_id, params, old if old and old.authorizer_type == kind else None
            )
        if kind != "REQUEST":
            raise bad(f"Invalid authorizer type specified: {kind}. HTTP APIs support REQUEST and JWT")
        if old is not None and old.authorizer_type != kind:
            old = None
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

    @staticmethod
    def _jwt_authorizer(authorizer_id: str, params: Params, old: Authorizer | None) -> Authorizer:
        """A JWT authorizer: an issuer (where its keys are found: `{issuer}/.well-known/
        openid-configuration`), its audiences, one identity source (a header or query string)."""
        config = params.get("JwtConfiguration")
        if config is None and old is None:
            raise bad("JwtConfiguration is required for authorizer type JWT")
        config = config or {}
        issuer = config.get("Issuer", old.jwt_issuer if old else None)
        audience = tuple(config.get("Audience", old.jwt_audience if old else ()) or ())
        if not issuer:
            raise bad("Issuer is required in JwtConfiguration for authorizer type JWT")
        parts = urlsplit(issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise bad(f"Invalid issuer specified: {issuer}. The issuer must be a URL")
        sources = tuple(params.get("IdentitySource", old.identity_source if old else ()) or ())
        sources = sources or (DEFAULT_JWT_SOURCE,)
        if len(sources) != 1 or not JWT_SOURCE.fullmatch(sources[0]):
            raise bad(
                "Invalid identity source specified. A JWT authorizer takes one identity source, "
                "a header or query string ($request.header.<name> or $request.querystring.<name>)"
            )
        return Authorizer(
            authorizer_id=authorizer_id, name=params.get("Name", old.name if old else ""), authorizer_uri="",
            identity_source=sources, authorizer_type="JWT", jwt_issuer=issuer, jwt_audience=audience,
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
