"""The apigateway (v1) operations on a REST API's resource tree: resources (path parts, `{param}`
and greedy `{proxy+}` variables), their methods (ANY included), each method's integration (Lambda
proxy `AWS_PROXY`, or `MOCK`), and the method and integration responses the usual SDK and
CloudFormation sequences put (https://docs.aws.amazon.com/apigateway/latest/api/API_Resource.html,
API_Method.html, API_Integration.html).

A Lambda proxy integration's `uri` is API Gateway's
`arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations`; the
function ARN may name a version or alias, or hold `${stageVariables.name}` references, filled in
per stage at each request. Its timeout is 50 ms to 29 s, 29 s by default
(https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.gateway import rest_patch
from lambdabox.gateway.rest_api import Params, RestApiCore, Result, bad, conflict, not_found, page
from lambdabox.gateway.rest_models import RestApi, RestIntegration, RestMethod, RestResource
from lambdabox.gateway.v2_api import lambda_target

HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "ANY")
_AUTHORIZATION_TYPES = ("NONE", "CUSTOM", "AWS_IAM")
_PATH_PART = re.compile(r"[a-zA-Z0-9._-]+|\{[a-zA-Z0-9._-]+\+?\}")
_STATUS = re.compile(r"[1-5]\d\d")
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.[A-Za-z0-9_]+\}")
_LAMBDA_URI = re.compile(
    r"arn:aws[a-zA-Z-]*:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/.+/invocations"
)


def _is_variable(part: str | None) -> bool:
    return part is not None and part.startswith("{")


class ResourceOps(RestApiCore):
    """Resources, methods, integrations and their responses."""

    # -- lookups ------------------------------------------------------------------------------
    @staticmethod
    def _resource(api: RestApi, resource_id: str) -> RestResource:
        found = api.resources.get(resource_id)
        if found is None:
            raise not_found("Invalid Resource identifier specified")
        return found

    def _method(self, api: RestApi, params: Params) -> tuple[RestResource, RestMethod]:
        resource = self._resource(api, params["resourceId"])
        method = resource.methods.get(params["httpMethod"])
        if method is None:
            raise not_found("Invalid Method identifier specified")
        return resource, method

    @staticmethod
    def _with_method(api: RestApi, resource: RestResource, method: RestMethod | None, name: str) -> None:
        methods = dict(resource.methods)
        if method is None:
            methods.pop(name, None)
        else:
            methods[name] = method
        api.resources[resource.resource_id] = dataclasses.replace(resource, methods=methods)

    # -- resources ------------------------------------------------------------------------------
    async def GetResources(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        embed = "methods" in (params.get("embed") or [])
        ordered = sorted(api.resources.values(), key=lambda r: r.path)
        return page([r.to_api(embed) for r in ordered], params)

    async def GetResource(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        embed = "methods" in (params.get("embed") or [])
        return self._resource(api, params["resourceId"]).to_api(embed)

    def _new_resource(self, api: RestApi, parent: RestResource, part: str) -> RestResource:
        """A child of `parent` named `part`, checked as CreateResource checks it (not yet added)."""
        if not _PATH_PART.fullmatch(part):
            raise bad(
                "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and "
                "the end and an optional plus sign before the closing brace."
            )
        if parent.path_part is not None and parent.path_part.endswith("+}"):
            raise bad(f"Cannot create a child of a resource with a greedy path variable: {parent.path_part}")
        siblings = [r for r in api.resources.values() if r.parent_id == parent.resource_id]
        if any(r.path_part == part for r in siblings):
            raise conflict(f"Another resource with the same parent already has this name: {part}")
        if _is_variable(part):
            other = next((r for r in siblings if _is_variable(r.path_part)), None)
            if other is not None:
                raise bad(
                    f"A sibling ({other.path_part}) of this resource already has a variable path part -- "
                    "only one is allowed"
                )
        path = f"{parent.path.rstrip('/')}/{part}"
        return RestResource(self._new_child_id(api.resources.__contains__), parent.resource_id, part, path)

    async def CreateResource(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            parent = self._resource(api, params["parentId"])
            resource = self._new_resource(api, parent, params["pathPart"])
            api.resources[resource.resource_id] = resource
            await self._commit(api)
        return resource.to_api()

    async def DeleteResource(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            resource = self._resource(api, params["resourceId"])
            if resource.resource_id == api.root_id:
                raise bad("Cannot delete root resource")
            doomed = {resource.resource_id}
            grew = True
            while grew:  # the resource and everything under it
                more = {r.resource_id for r in api.resources.values() if r.parent_id in doomed}
                grew = not more <= doomed
                doomed |= more
            for resource_id in doomed:
                del api.resources[resource_id]
            await self._commit(api)
        return {}

    # -- methods --------------------------------------------------------------------------------
    @staticmethod
    def _authorization(api: RestApi, kind: str, authorizer_id: str | None) -> tuple[str, str | None]:
        if kind == "COGNITO_USER_POOLS":
            raise bad("lambdabox does not serve COGNITO_USER_POOLS authorization yet")
        if kind not in _AUTHORIZATION_TYPES:
            raise bad(f"Invalid authorization type specified: {kind}")
        if kind != "CUSTOM":
            return kind, None
        if authorizer_id is None or authorizer_id not in api.authorizers:
            raise bad(
                "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
                "COGNITO_USER_POOLS requires a valid authorizer."
            )
        return kind, authorizer_id

    async def PutMethod(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            resource = self._resource(api, params["resourceId"])
            name = params["httpMethod"]
            if name not in HTTP_METHODS:
                raise bad(
                    "Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY"
                )
            if name in resource.methods:
                raise conflict("Method already exists for this resource")
            kind, authorizer_id = self._authorization(
                api, params["authorizationType"], params.get("authorizerId")
            )
            method = RestMethod(
                http_method=name,
                authorization_type=kind,
                authorizer_id=authorizer_id,
                api_key_required=bool(params.get("apiKeyRequired", False)),
                operation_name=params.get("operationName"),
                request_parameters=dict(params.get("requestParameters") or {}),
                request_models=dict(params.get("requestModels") or {}),
            )
            self._with_method(api, resource, method, name)
            await self._commit(api)
        return method.to_api()

    async def GetMethod(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        return self._method(api, params)[1].to_api()

    async def DeleteMethod(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            resource, method = self._method(api, params)
            self._with_method(api, resource, None, method.http_method)
            await self._commit(api)
        return {}

    async def UpdateMethod(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            resource, method = self._method(api, params)
            changes: dict[str, Any] = {}
            request_parameters = dict(method.request_parameters)
            kind, authorizer_id = method.authorization_type, method.authorizer_id
            for patch in rest_patch.operations(params.get("patchOperations")):
                head = patch.segments[0]
                if head == "requestParameters" and len(patch.segments) == 2:
                    if patch.op == "remove":
                        request_parameters.pop(patch.segments[1], None)
                    else:
                        request_parameters[patch.segments[1]] = (patch.value or "false").lower() == "true"
                elif patch.op != "replace" or len(patch.segments) != 1:
                    raise rest_patch.invalid(patch.op, patch.path)
                elif head == "authorizationType":
                    kind = patch.value or "NONE"
                elif head == "authorizerId":
                    authorizer_id = patch.value or None
                elif head == "apiKeyRequired":
                    changes["api_key_required"] = rest_patch.as_bool(patch)
                elif head == "operationName":
                    changes["operation_name"] = patch.value or None
                else:
                    raise rest_patch.invalid(patch.op, patch.path)
            changes["authorization_type"], changes["authorizer_id"] = self._authorization(
                api, kind, authorizer_id
            )
            method = dataclasses.replace(method, request_parameters=request_parameters, **changes)
            self._with_method(api, resource, method, method.http_method)
            await self._commit(api)
        return method.to_api()

    # -- integrations ---------------------------------------------------------------------------
    @staticmethod
    def _integration(params: Params, old: RestIntegration | None) -> RestIntegration:
        kind = params["type"]
        if kind not in ("AWS_PROXY", "MOCK"):
            raise bad(f"lambdabox serves AWS_PROXY (Lambda) and MOCK integrations only, not {kind}")
        timeout = params.get("timeoutInMillis")
        timeout = 29_000 if timeout is None else int(timeout)
        if not 50 <= timeout <= 29_000:
            raise bad("Timeout should be between 50 ms and 29000 ms")
        http_method, uri = params.get("integrationHttpMethod"), params.get("uri")
        if kind == "AWS_PROXY":
            if not http_method:
                raise bad("Enumeration value for HttpMethod must be non-empty")
            if not uri:
                raise bad("Invalid ARN specified in the request")
            # (stage variables are filled in per request: any name stands for them here)
            function = _STAGE_VARIABLE.sub("x", uri)
            if not _LAMBDA_URI.fullmatch(function) or lambda_target(function) is None:
                raise bad(
                    "Integrations of type 'AWS_PROXY' currently only supports Lambda function and "
                    "Firehose stream invocations."
                )
        return RestIntegration(
            type=kind,
            http_method=http_method,
            uri=uri,
            timeout_ms=timeout,
            passthrough_behavior=params.get("passthroughBehavior") or "WHEN_NO_MATCH",
            content_handling=params.get("contentHandling"),
            cache_namespace=params.get("cacheNamespace"),
            cache_key_parameters=tuple(params.get("cacheKeyParameters") or ()),
            request_parameters=dict(params.get("requestParameters") or {}),
            request_templates=dict(params.get("requestTemplates") or {}),
            responses=dict(old.responses) if old is not None else {},
        )

    def _found_integration(
        self, api: RestApi, params: Params
    ) -> tuple[RestResource, RestMethod, RestIntegration]:
        resource, method = self._method(api, params)
        if method.integration is None:
            raise not_found("Invalid Integration identifier specified")
        return resource, method, method.integration

    async def PutIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            resource, method = self._method(api, params)
            integration = self._integration(params, method.integration)
            if integration.cache_namespace is None:  # AWS names it after the resource
                integration = dataclasses.replace(integration, cache_namespace=resource.resource_id)
            self._with_method(
                api, resource, dataclasses.replace(method, integration=integration), method.http_method
            )
            await self._commit(api)
        return integration.to_api()

    async def GetIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        return self._found_integration(api, params)[2].to_api()

    async def DeleteIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            resource, method, _ = self._found_integration(api, params)
            self._with_method(
                api, resource, dataclasses.replace(method, integration=None), method.http_method
            )
            await self._commit(api)
        return {}

    # -- method and integration responses -----------------------------------------------------------
    @staticmethod
    def _status(params: Params) -> str:
        status = str(params["statusCode"])
        if not _STATUS.fullmatch(status):
            raise bad("Invalid status code specified")
        return status

    async def PutMethodResponse(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            resource, method = self._method(api, params)
            status = self._status(params)
            given = {
                k: dict(params[k])
                for k in ("responseParameters", "responseModels")
                if params.get(k) is not None
            }
            method = dataclasses.replace(method, responses={**method.responses, status: given})
            self._with_method(api, resource, method, method.http_method)
            await self._commit(api)
        return {"statusCode": status, **given}

    async def GetMethodResponse(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        _, method = self._method(api, params)
        found = method.responses.get(str(params["statusCode"]))
        if found is None:
            raise not_found("Invalid Response status code specified")
        return {"statusCode": str(params["statusCode"]), **found}

    async def DeleteMethodResponse(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            resource, method = self._method(api, params)
            status = str(params["statusCode"])
            if status not in method.responses:
                raise not_found("Invalid Response status code specified")
            responses = {k: v for k, v in method.responses.items() if k != status}
            self._with_method(
                api, resource, dataclasses.replace(method, responses=responses), method.http_method
            )
            await self._commit(api)
        return {}

    async def PutIntegrationResponse(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            resource, method, integration = self._found_integration(api, params)
            status = self._status(params)
            given = {
                k: params[k]
                for k in ("selectionPattern", "responseParameters", "responseTemplates", "contentHandling")
                if params.get(k) is not None
            }
            integration = dataclasses.replace(integration, responses={**integration.responses, status: given})
            self._with_method(
                api, resource, dataclasses.replace(method, integration=integration), method.http_method
            )
            await self._commit(api)
        return {"statusCode": status, **given}

    async def GetIntegrationResponse(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        _, _, integration = self._found_integration(api, params)
        found = integration.responses.get(str(params["statusCode"]))
        if found is None:
            raise not_found("Invalid Response status code specified")
        return {"statusCode": str(params["statusCode"]), **found}

    async def DeleteIntegrationResponse(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            resource, method, integration = self._found_integration(api, params)
            status = str(params["statusCode"])
            if status not in integration.responses:
                raise not_found("Invalid Response status code specified")
            integration = dataclasses.replace(
                integration, responses={k: v for k, v in integration.responses.items() if k != status}
            )
            self._with_method(
                api, resource, dataclasses.replace(method, integration=integration), method.http_method
            )
            await self._commit(api)
        return {}
