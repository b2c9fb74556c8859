"""HTTP APIs through the apigatewayv2 API: AWS::ApiGatewayV2::Api (tagged with the stack), and its
Route, Integration, Stage and Authorizer, found through the API and matched by natural key: a
route by RouteKey, an integration by (IntegrationType, IntegrationUri, PayloadFormatVersion), a
stage by StageName, an authorizer by Name. These resources are compared with what GetApis /
GetRoutes / ... answer rather than fingerprinted; an API defined by an OpenAPI `Body` (SAM's) is
imported (ImportApi, then TagResource, as CloudFormation does), reimported when the document's
fingerprint in its `lambdabox:body-sha` tag differs, and its routes are the import's.
CloudFormation's property names are the API's own here.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/AWS_ApiGatewayV2.html
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from lambdabox.deploy.resources.base import (
    BODY_TAG,
    LOGICAL_TAG,
    STACK_TAG,
    Clients,
    Deployed,
    Handler,
    Props,
    body_sha,
    body_text,
    function_name,
    of_stack,
    same,
    stack_tags,
    tag_map,
)


def _pages(call: Any, items: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        page = call(**kwargs)
        yield from page.get(items, [])
        if not page.get("NextToken"):
            return
        kwargs["NextToken"] = page["NextToken"]


def _arn(c: Clients, api_id: str) -> str:
    return f"arn:aws:apigateway:{c.region}::/apis/{api_id}"


def _changed(props: Props, observed: dict[str, Any] | Any, fields: Sequence[str]) -> list[str]:
    return sorted(f for f in fields if not same(props.get(f), observed.get(f)))


class Api(Handler):
    type = "AWS::ApiGatewayV2::Api"
    _updatable = (
        "Name",
        "Description",
        "CorsConfiguration",
        "Version",
        "DisableExecuteApiEndpoint",
        "RouteSelectionExpression",
    )
    properties = frozenset(
        [
            *_updatable,
            "ProtocolType",
            "Tags",
            "Target",
            "RouteKey",
            "CredentialsArn",
            "Body",
            "FailOnWarnings",
            "Basepath",
        ]
    )
    attributes = frozenset(["ApiEndpoint", "ApiId"])
    immutable = frozenset(["ProtocolType", "Target", "RouteKey", "CredentialsArn"])
    delete_rank = 70

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        return [
            self._deployed(api)
            for api in _pages(c("apigatewayv2").get_apis, "Items")
            if of_stack(api.get("Tags"), stack)
        ]

    def _deployed(self, api: dict[str, Any]) -> Deployed:
        tags = dict(api.get("Tags", {}))
        return Deployed(
            self.type,
            api["ApiId"],
            tags.get(LOGICAL_TAG),
            observed=api,
            tags=tags,
            attributes={"ApiEndpoint": api.get("ApiEndpoint", ""), "ApiId": api["ApiId"]},
        )

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        if "Body" in props:  # an imported API: its OpenAPI document decides (fingerprinted in a tag)
            given = [
                f for f in self._updatable if f in props and not same(props[f], deployed.observed.get(f))
            ]
            body = [] if deployed.tags.get(BODY_TAG) == body_sha(props["Body"]) else ["Body"]
            return sorted(body + given)
        want = {
            "RouteSelectionExpression": "$request.method $request.path",
            "DisableExecuteApiEndpoint": False,
            **props,
        }
        return _changed(want, deployed.observed, self._updatable)

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        if "Body" in props:  # as CloudFormation does: ImportApi, then the tags
            v2 = c("apigatewayv2")
            made = v2.import_api(
                Body=body_text(props["Body"]), FailOnWarnings=bool(props.get("FailOnWarnings", False)),
                **({"Basepath": props["Basepath"]} if "Basepath" in props else {}),
            )  # fmt: skip
            tags = {
                **tag_map(props.get("Tags")),
                **stack_tags(stack, logical_id),
                BODY_TAG: body_sha(props["Body"]),
            }
            v2.tag_resource(ResourceArn=_arn(c, made["ApiId"]), Tags=tags)
            return self._deployed(v2.get_api(ApiId=made["ApiId"]))
        args = {k: v for k, v in props.items() if k != "Tags"}
        args.setdefault("ProtocolType", "HTTP")
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, logical_id)}
        return self._deployed(c("apigatewayv2").create_api(Tags=tags, **args))

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        v2 = c("apigatewayv2")
        api_id = deployed.physical_id
        if "Body" in props:
            v2.reimport_api(ApiId=api_id, Body=body_text(props["Body"]))
            v2.tag_resource(ResourceArn=_arn(c, api_id), Tags={BODY_TAG: body_sha(props["Body"])})
            return self._deployed(v2.get_api(ApiId=api_id))
        args = {k: props[k] for k in self._updatable if k in props and k != "CorsConfiguration"}
        if "CorsConfiguration" in props:
            args["CorsConfiguration"] = props["CorsConfiguration"]
        elif deployed.observed.get("CorsConfiguration"):
            v2.delete_cors_configuration(ApiId=api_id)
        args.setdefault("Description", "")
        v2.update_api(ApiId=api_id, **args)
        return self._deployed(v2.get_api(ApiId=api_id))

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        return {k: deployed.observed[k] for k in self._updatable if k in deployed.observed}

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("apigatewayv2").delete_api(ApiId=deployed.physical_id)


class _Child(Handler):
    """A part of an HTTP API, described by the names of its API operations and fields."""

    tagged = False
    parent_type = "AWS::ApiGatewayV2::Api"
    noun: ClassVar[str]  # "Route": GetRoutes, CreateRoute, UpdateRoute, DeleteRoute
    id_field: ClassVar[str]
    key_fields: ClassVar[tuple[str, ...]]
    updatable: ClassVar[tuple[str, ...]]
    defaults: ClassVar[dict[str, Any]] = {}

    def describe(self, deployed: Deployed) -> str:
        return f"{self.noun} {' '.join(deployed.key[1:]) if deployed.key else deployed.physical_id}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        v2 = c("apigatewayv2")
        list_call = getattr(v2, f"get_{self.noun.lower()}s")
        out = []
        for api in parents:
            if BODY_TAG in api.tags and self.noun != "Stage":
                continue  # an imported API's routes, integrations and authorizers are its document's
            for item in _pages(list_call, "Items", ApiId=api.physical_id):
                if not item.get("ApiGatewayManaged"):
                    out.append(self._deployed(api.physical_id, item))
        return out

    def _deployed(self, api_id: str, item: dict[str, Any]) -> Deployed:
        key = (api_id, *(str(item.get(f, "")) for f in self.key_fields))
        return Deployed(
            self.type,
            str(item[self.id_field]),
            key=key,
            parent=api_id,
            observed=item,
            attributes={self.id_field: item[self.id_field]},
            tags=dict(item.get("Tags") or {}),
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (str(props["ApiId"]), *(str(props.get(f, "")) for f in self.key_fields))

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        return _changed({**self.defaults, **props}, deployed.observed, self.updatable)

    def _args(self, props: Props) -> dict[str, Any]:
        return {k: v for k, v in props.items() if k != "Tags"}

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        create = getattr(c("apigatewayv2"), f"create_{self.noun.lower()}")
        return self._deployed(str(props["ApiId"]), create(**self._args(props)))

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        update = getattr(c("apigatewayv2"), f"update_{self.noun.lower()}")
        args = {k: v for k, v in self._args(props).items() if k in self.updatable}
        item = update(ApiId=deployed.parent, **{self.id_field: deployed.physical_id}, **args)
        return self._deployed(str(deployed.parent), item)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        fields = (*self.key_fields, *self.updatable)
        return {
            "ApiId": deployed.parent,
            **{k: deployed.observed[k] for k in fields if k in deployed.observed},
        }

    def delete(self, c: Clients, deployed: Deployed) -> None:
        delete = getattr(c("apigatewayv2"), f"delete_{self.noun.lower()}")
        delete(ApiId=deployed.parent, **{self.id_field: deployed.physical_id})


class Route(_Child):
    type = "AWS::ApiGatewayV2::Route"
    noun, id_field, key_fields = "Route", "RouteId", ("RouteKey",)
    updatable = (
        "Target",
        "AuthorizationType",
        "AuthorizerId",
        "AuthorizationScopes",
        "ApiKeyRequired",
        "OperationName",
    )
    defaults: ClassVar[dict[str, Any]] = {"AuthorizationType": "NONE", "ApiKeyRequired": False}
    properties = frozenset(["ApiId", "RouteKey", *updatable])
    immutable = frozenset(["ApiId"])
    delete_rank = 15


class Integration(_Child):
    type = "AWS::ApiGatewayV2::Integration"
    noun, id_field = "Integration", "IntegrationId"
    key_fields = ("IntegrationType", "IntegrationUri", "PayloadFormatVersion")
    updatable = (
        "IntegrationMethod",
        "TimeoutInMillis",
        "Description",
        "RequestParameters",
        "ResponseParameters",
        "CredentialsArn",
    )
    defaults: ClassVar[dict[str, Any]] = {"TimeoutInMillis": 30000}
    properties = frozenset(["ApiId", *key_fields, *updatable, "ConnectionType"])
    immutable = frozenset(["ApiId"])
    delete_rank = 25

    def describe(self, deployed: Deployed) -> str:
        o = deployed.observed
        uri = str(o.get("IntegrationUri", ""))
        if str(o.get("IntegrationType", "")).upper() == "AWS_PROXY" and ":lambda:" in uri:
            return f"Integration → {function_name(uri)}"
        return f"Integration {o.get('IntegrationType', '')} {uri}".rstrip()


class Authorizer(_Child):
    type = "AWS::ApiGatewayV2::Authorizer"
    noun, id_field, key_fields = "Authorizer", "AuthorizerId", ("Name",)
    updatable = (
        "AuthorizerType",
        "IdentitySource",
        "JwtConfiguration",
        "AuthorizerUri",
        "AuthorizerPayloadFormatVersion",
        "EnableSimpleResponses",
        "AuthorizerResultTtlInSeconds",
        "AuthorizerCredentialsArn",
    )
    properties = frozenset(["ApiId", "Name", *updatable])
    attributes = frozenset(["AuthorizerId"])
    immutable = frozenset(["ApiId"])
    delete_rank = 27


class Stage(_Child):
    type = "AWS::ApiGatewayV2::Stage"
    noun, id_field, key_fields = "Stage", "StageName", ("StageName",)
    updatable = (
        "AutoDeploy",
        "Description",
        "StageVariables",
        "DefaultRouteSettings",
        "RouteSettings",
        "DeploymentId",
    )
    defaults: ClassVar[dict[str, Any]] = {"AutoDeploy": False}
    properties = frozenset(["ApiId", "StageName", "Tags", *updatable])
    immutable = frozenset(["ApiId", "StageName"])
    delete_rank = 35

    def describe(self, deployed: Deployed) -> str:
        return deployed.tags.get(LOGICAL_TAG) or f"Stage {deployed.physical_id}"

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        fields = [f for f in self.updatable if f != "DeploymentId" or not props.get("AutoDeploy")]
        return _changed({**self.defaults, **props}, deployed.observed, fields)

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, logical_id)}
        item = c("apigatewayv2").create_stage(Tags=tags, **self._args(props))
        return self._deployed(str(props["ApiId"]), item)

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        return [d for d in super().find(c, stack, parents) if d.tags.get(STACK_TAG) == stack]
