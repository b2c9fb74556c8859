"""The REST data plane's API key check: a method that requires a key asks the usage plans'
metering, with the key from the `x-api-key` header (or, for an API whose apiKeySource is
AUTHORIZER, the `usageIdentifierKey` its Lambda authorizer answered)."""

from __future__ import annotations

from lambdabox.gateway.metering import Metering, method_key
from lambdabox.gateway.proxy import GatewayResponse
from lambdabox.gateway.rest_dataplane import ApiKeyCheck, ApiKeys, ApiKeyUsed
from lambdabox.gateway.rest_proxy import error


def metered(metering: Metering) -> ApiKeys:
    """The `ApiKeys` check of a REST data plane, through `metering`."""

    async def check(asked: ApiKeyCheck) -> GatewayResponse | ApiKeyUsed:
        api = asked.api
        if api.api_key_source == "AUTHORIZER":
            value = asked.authorizer_key
        else:
            value = next((v for n, v in asked.headers if n.lower() == "x-api-key"), None)
        key = method_key(asked.resource_path, asked.method.http_method)
        refusal = await metering.check(api.region, api.account, api.api_id, asked.stage.name, key, value)
        if refusal is not None:
            return error(refusal.status, refusal.message, refusal.error_type)
        assert value is not None  # (no key is refused)
        return ApiKeyUsed(value, metering.key_id(api.region, api.account, value) or "")

    return check
