"""The apigatewayv2 integration operations: Lambda proxy integrations (`AWS_PROXY`, payload format
1.0 or 2.0) to a function, version or alias ARN, given as the ARN itself or API Gateway's
`arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations`.
"""

from __future__ import annotations

import re

from lambdabox.aws.context import RequestContext
from lambdabox.gateway.models import HttpApi, Integration
from lambdabox.gateway.v2_base import (
    STAGE_VARIABLE,
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


class IntegrationsMixin(V2Base):
    """Integrations of an HTTP API, and checking a route's target against them."""

    @staticmethod
    def _integration(integration_id: str, params: Params, old: Integration | None = None) -> Integration:
        itype = params.get("IntegrationType", old.integration_type if old else None)
        if itype in ("AWS", "HTTP", "MOCK"):
            raise bad(
                "Currently, an API with a protocol type of HTTP may only be associated with proxy "
                "integrations (AWS_PROXY, HTTP_PROXY)"
            )
        if itype != "AWS_PROXY":
            raise bad(f"lambdabox serves AWS_PROXY integrations to Lambda only, not {itype}")
        uri = params.get("IntegrationUri", old.integration_uri if old else None)
        # (stage variables are filled in per request: any name stands for them here)
        if not uri or lambda_target(STAGE_VARIABLE.sub("x", uri)) is None:
            raise bad(f"Invalid integration URI specified: {uri}" if uri else "IntegrationUri is required")
        version = params.get("PayloadFormatVersion", old.payload_format_version if old else None)
        if version is None:  # required for HTTP APIs: AWS defaults nothing
            raise bad("PayloadFormatVersion is a required parameter for integration")
        if version not in ("1.0", "2.0"):
            raise bad(f"Invalid payload format version specified: {version}")
        timeout = int(params.get("TimeoutInMillis", old.timeout_ms if old else 30_000))
        if not 50 <= timeout <= 30_000:
            raise bad("Timeout must be between 50 milliseconds and 30 seconds.")
        return Integration(
            integration_id=integration_id,
            integration_type=itype,
            integration_uri=uri,
            payload_format_version=version,
            timeout_ms=timeout,
            integration_method=params.get("IntegrationMethod", old.integration_method if old else "POST"),
            description=params.get("Description", old.description if old else None),
        )

    def _check_target(self, api: HttpApi, target: str | None) -> None:
        if target is None:
            return
        m = re.fullmatch(r"integrations/([a-z0-9]+)", target)
        if m is None or m.group(1) not in api.integrations:
            raise bad(f"Invalid target specified: {target}")

    # -- integrations ------------------------------------------------------------------------
    def _find_integration(self, ctx: RequestContext, api: HttpApi, integration_id: str) -> Integration:
        found = api.integrations.get(integration_id)
        if found is None:
            raise not_found(
                f"Invalid Integration identifier specified {ctx.account_id}:{api.api_id}:{integration_id}"
            )
        return found

    async def CreateIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            integration = self._integration(new_id(7), params)
            api.integrations[integration.integration_id] = integration
            await self._commit(api, redeploy=True)
        return integration.to_api()

    async def GetIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return self._find_integration(ctx, api, params["IntegrationId"]).to_api()

    async def GetIntegrations(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return page(list(api.integrations.values()), params)

    async def UpdateIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            old = self._find_integration(ctx, api, params["IntegrationId"])
            integration = self._integration(old.integration_id, params, old)
            api.integrations[integration.integration_id] = integration
            await self._commit(api, redeploy=True)
        return integration.to_api()

    async def DeleteIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            integration = self._find_integration(ctx, api, params["IntegrationId"])
            target = f"integrations/{integration.integration_id}"
            if any(r.target == target for r in api.routes.values()):
                raise conflict(
                    f"Integration {integration.integration_id} is in use by a route and cannot be deleted"
                )
            del api.integrations[integration.integration_id]
            await self._commit(api, redeploy=True)
        return {}
