"""AWS::ApiGateway::Method through the apigateway (v1) API: a method of a REST API resource, found
through its API (GetResources with methods embedded) and matched by (resource id, HttpMethod),
with its integration and the method and integration responses (a MOCK OPTIONS method's CORS
headers live there). An update deletes the method and puts it again: the stage serves its
deployment's snapshot meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lambdabox.deploy.resources.apigateway import api_name, pages
from lambdabox.deploy.resources.base import BODY_TAG, Clients, Deployed, Handler, Props, same

_METHOD_FIELDS = (
    "AuthorizationType",
    "AuthorizerId",
    "ApiKeyRequired",
    "OperationName",
    "RequestParameters",
    "AuthorizationScopes",
)
_INTEGRATION_FIELDS = (
    "Type",
    "IntegrationHttpMethod",
    "Uri",
    "TimeoutInMillis",
    "RequestParameters",
    "RequestTemplates",
    "PassthroughBehavior",
    "ContentHandling",
    "Credentials",
)


def _responses(given: Any) -> dict[str, dict[str, Any]]:
    """MethodResponses / IntegrationResponses of a template, by status code, in the API's names
    (ResponseParameters, ResponseTemplates, SelectionPattern, ContentHandling, ResponseModels)."""
    out: dict[str, dict[str, Any]] = {}
    for r in given if isinstance(given, list) else []:
        if isinstance(r, dict) and "StatusCode" in r:
            out[str(r["StatusCode"])] = {
                api_name(k): v for k, v in r.items() if k != "StatusCode" and v is not None
            }
    return out


def _observed(found: Any) -> dict[str, dict[str, Any]]:
    """What GetMethod answers for a method's or integration's responses, as `_responses` reads a template."""
    if not isinstance(found, dict):
        return {}
    return {str(k): {f: v for f, v in dict(v).items() if f != "statusCode"} for k, v in found.items()}


class Method(Handler):
    type = "AWS::ApiGateway::Method"
    properties = frozenset(
        ["RestApiId", "ResourceId", "HttpMethod", "Integration", "MethodResponses", *_METHOD_FIELDS]
    )
    immutable = frozenset(["RestApiId", "ResourceId", "HttpMethod"])
    tagged = False
    parent_type = "AWS::ApiGateway::RestApi"
    delete_rank = 40

    def describe(self, deployed: Deployed) -> str:
        verb = deployed.key[2] if deployed.key else "?"
        return f"Method {verb} {deployed.attributes.get('Path') or deployed.physical_id}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        out = []
        for api in parents:
            if BODY_TAG in api.tags:  # an imported API's methods are its document's
                continue
            for r in pages(c("apigateway").get_resources, restApiId=api.physical_id, embed=["methods"]):
                for verb, m in (r.get("resourceMethods") or {}).items():
                    out.append(self._deployed(api.physical_id, r["id"], verb, m, r.get("path")))
        return out

    def _deployed(
        self, api_id: str, resource_id: str, verb: str, m: dict[str, Any], path: str | None = None
    ) -> Deployed:
        return Deployed(
            self.type,
            f"{api_id}|{resource_id}|{verb}",
            key=(api_id, resource_id, verb),
            parent=api_id,
            observed=m,
            attributes={"Path": path} if path else {},  # (for `describe`: no Fn::GetAtt of a Method)
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (str(props["RestApiId"]), str(props["ResourceId"]), str(props["HttpMethod"]).upper())

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        o = deployed.observed
        want = {"AuthorizationType": "NONE", "ApiKeyRequired": False, **props}
        changed = [f for f in _METHOD_FIELDS if not same(want.get(f), o.get(api_name(f)))]
        integration = props.get("Integration") or {}
        have = o.get("methodIntegration") or {}
        names = {"Type": "type", "Uri": "uri", "IntegrationHttpMethod": "httpMethod"}
        if (
            bool(integration) != bool(have)
            or any(
                not same(
                    str(integration.get(f, "")).upper() if f == "Type" else integration.get(f), have.get(n)
                )
                for f, n in names.items()
            )
            or _responses(integration.get("IntegrationResponses"))
            != _observed(have.get("integrationResponses"))
        ):
            changed.append("Integration")
        if _responses(props.get("MethodResponses")) != _observed(o.get("methodResponses")):
            changed.append("MethodResponses")
        return sorted(changed)

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        v1 = c("apigateway")
        api, resource, verb = self.key(c, logical_id, props) or ("", "", "")
        args = {api_name(k): props[k] for k in _METHOD_FIELDS if k in props}
        args.setdefault("authorizationType", "NONE")
        m = v1.put_method(restApiId=api, resourceId=resource, httpMethod=verb, **args)
        integration = props.get("Integration")
        if integration:
            i_args = {api_name(k): integration[k] for k in _INTEGRATION_FIELDS if k in integration}
            i_args["type"] = str(i_args.get("type", "")).upper()
            m["methodIntegration"] = v1.put_integration(
                restApiId=api, resourceId=resource, httpMethod=verb, **i_args
            )
        where = {"restApiId": api, "resourceId": resource, "httpMethod": verb}
        for status, given in _responses(props.get("MethodResponses")).items():
            v1.put_method_response(**where, statusCode=status, **given)
        for status, given in _responses((integration or {}).get("IntegrationResponses")).items():
            v1.put_integration_response(**where, statusCode=status, **given)
        fresh = v1.get_method(**where)  # with its responses, as a later plan reads it
        return self._deployed(api, resource, verb, fresh)

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        self.delete(c, deployed)  # a stage serves its deployment's snapshot meanwhile
        return self.create(c, stack, "", props)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        api, resource, verb = deployed.key or ("", "", "")
        o = deployed.observed
        props: Props = {"RestApiId": api, "ResourceId": resource, "HttpMethod": verb}
        props.update({f: o[api_name(f)] for f in _METHOD_FIELDS if api_name(f) in o})
        if o.get("methodIntegration"):
            i = o["methodIntegration"]
            props["Integration"] = {f: i[api_name(f)] for f in _INTEGRATION_FIELDS if api_name(f) in i}
            if "httpMethod" in i:
                props["Integration"]["IntegrationHttpMethod"] = i["httpMethod"]
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        api, resource, verb = deployed.key or ("", "", "")
        c("apigateway").delete_method(restApiId=api, resourceId=resource, httpMethod=verb)
