"""AWS::ApiGateway::Authorizer through the apigateway (v1) API: a Lambda (TOKEN or REQUEST)
authorizer of a REST API, found through its API (GetAuthorizers) and matched by (RestApiId, Name),
as an HTTP API's authorizer is; every other property updates in place (UpdateAuthorizer), as in
CloudFormation, where only RestApiId needs a replacement. `Ref` and Fn::GetAtt AuthorizerId are its
id. A deployment snapshots its API's authorizers too, so the plan replaces the Deployment when one
changes. lambdabox's REST APIs serve no COGNITO_USER_POOLS authorizers: such an authorizer is an
error of the plan, naming its line, rather than a failed apply.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigateway-authorizer.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lambdabox.deploy.resources.apigateway import api_name, pages
from lambdabox.deploy.resources.base import (
    BODY_TAG,
    Clients,
    Deployed,
    Handler,
    Props,
    Severity,
    same,
)

_UPDATABLE = (
    "Type",
    "AuthorizerUri",
    "IdentitySource",
    "IdentityValidationExpression",
    "AuthorizerResultTtlInSeconds",
    "AuthorizerCredentials",
    "AuthType",
)


class Authorizer(Handler):
    type = "AWS::ApiGateway::Authorizer"
    properties = frozenset(["RestApiId", "Name", "ProviderARNs", *_UPDATABLE])
    attributes = frozenset(["AuthorizerId"])
    immutable = frozenset(["RestApiId"])
    tagged = False
    parent_type = "AWS::ApiGateway::RestApi"
    delete_rank = 42  # after the methods that name it (DeleteAuthorizer refuses one in use)

    def check(self, props: Mapping[str, Any]) -> list[tuple[Severity, str, str]]:
        if str(props.get("Type", "")).upper() == "COGNITO_USER_POOLS":
            return [
                (
                    "error",
                    "Type",
                    "COGNITO_USER_POOLS authorizers are not supported by lambdabox yet "
                    "(REST APIs serve Lambda TOKEN and REQUEST authorizers)",
                )
            ]
        return []

    def describe(self, deployed: Deployed) -> str:
        return f"Authorizer {deployed.observed.get('name', deployed.physical_id)}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        return [
            self._deployed(api.physical_id, a)
            for api in parents
            if BODY_TAG not in api.tags  # an imported API's authorizers are its document's
            for a in pages(c("apigateway").get_authorizers, restApiId=api.physical_id)
        ]

    def _deployed(self, api_id: str, a: dict[str, Any]) -> Deployed:
        return Deployed(
            self.type,
            a["id"],
            key=(api_id, str(a.get("name", ""))),
            parent=api_id,
            attributes={"AuthorizerId": a["id"]},
            observed=a,
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (str(props["RestApiId"]), str(props["Name"]))

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        want = {"AuthorizerResultTtlInSeconds": 300, **props}
        o = deployed.observed
        return sorted(f for f in _UPDATABLE if not same(want.get(f), o.get(api_name(f))))

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        args = {api_name(k): props[k] for k in _UPDATABLE if props.get(k) is not None}
        if props.get("ProviderARNs"):
            args["providerARNs"] = list(props["ProviderARNs"])
        a = c("apigateway").create_authorizer(restApiId=props["RestApiId"], name=props["Name"], **args)
        return self._deployed(str(props["RestApiId"]), a)

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        ops = [
            {"op": "replace", "path": f"/{api_name(k)}", "value": str(props[k])}
            for k in ("Name", *_UPDATABLE)
            if props.get(k) is not None
        ]
        a = c("apigateway").update_authorizer(
            restApiId=deployed.parent, authorizerId=deployed.physical_id, patchOperations=ops
        )
        return self._deployed(str(deployed.parent), a)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        o = deployed.observed
        props: Props = {"RestApiId": deployed.parent, "Name": o.get("name", "")}
        props.update({f: o[api_name(f)] for f in _UPDATABLE if o.get(api_name(f)) is not None})
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("apigateway").delete_authorizer(restApiId=deployed.parent, authorizerId=deployed.physical_id)
