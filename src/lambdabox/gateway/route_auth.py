"""The authorization of JWT and AWS_IAM routes, for the data plane: the verdict, and where the
function finds what was granted (https://docs.aws.amazon.com/apigateway/latest/developerguide/
http-api-develop-integrations-lambda.html).

Payload 2.0 names it `requestContext.authorizer.jwt` `{claims, scopes}` or
`requestContext.authorizer.iam` `{accessKey, accountId, callerId, cognitoIdentity, principalOrgId,
userArn, userId}`; payload 1.0 `requestContext.authorizer` `{claims, scopes}` for JWT, and the
caller in `requestContext.identity` (accessKey, accountId, caller, user, userArn) for IAM.
A JWT route whose request lacks the token is 401 `{"message":"Unauthorized"}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdabox.clock import Clock
from lambdabox.gateway import authorizer, jwt_auth
from lambdabox.gateway.iam_auth import IamAuthorizer
from lambdabox.gateway.models import HttpApi, Route
from lambdabox.gateway.proxy import GatewayRequest, GatewayResponse, error_response


@dataclass(frozen=True)
class Grant:
    """What a JWT or IAM route's check let through: the claims granted or the caller."""

    jwt: jwt_auth.Granted | None = None
    iam: dict[str, Any] | None = None

    def apply(self, event: dict[str, Any], v1: bool) -> None:
        """Tell the function, in its payload format's place."""
        context = event["requestContext"]
        if self.jwt is not None:
            granted = {"claims": self.jwt.claims, "scopes": self.jwt.scopes}
            context["authorizer"] = granted if v1 else {"jwt": granted}
        elif self.iam is not None:
            if not v1:
                context["authorizer"] = {"iam": self.iam}
                return
            identity = context["identity"]
            identity.update(
                accessKey=self.iam["accessKey"], accountId=self.iam["accountId"],
                caller=self.iam["callerId"], user=self.iam["userId"], userArn=self.iam["userArn"],
            )  # fmt: skip


class RouteAuth:
    """Checks JWT routes (with the issuers' cached keys) and AWS_IAM routes (signatures)."""

    def __init__(
        self, clock: Clock, iam: IamAuthorizer | None, keys: jwt_auth.KeyCache | None = None
    ) -> None:
        self._clock = clock
        self._iam = iam
        self._keys = keys or jwt_auth.KeyCache(clock)

    async def check(
        self, api: HttpApi, route: Route, greq: GatewayRequest, raw_target: str, headers: Any
    ) -> Grant | GatewayResponse:
        """The grant, or API Gateway's refusal. `raw_target`, `headers`: the request as sent."""
        if route.authorization_type == "AWS_IAM":
            if self._iam is None:
                return error_response(500, "Internal Server Error")
            verdict = await self._iam.check(greq.method, raw_target, headers, greq.body, api.region)
            return verdict if isinstance(verdict, GatewayResponse) else Grant(iam=verdict)
        found = api.authorizers.get(route.authorizer_id or "")
        if found is None or found.authorizer_type != "JWT" or found.jwt_issuer is None:
            return error_response(500, "Internal Server Error")
        values = authorizer.identity(greq, found.identity_source)
        if values is None:
            return error_response(401, "Unauthorized")
        judged = await jwt_auth.judge(
            values[0], issuer=found.jwt_issuer, audience=found.jwt_audience,
            scopes=route.authorization_scopes, keys=self._keys, now=self._clock.now(),
        )  # fmt: skip
        if isinstance(judged, jwt_auth.Refused):
            refusal = error_response(judged.status, "Unauthorized" if judged.status == 401 else "Forbidden")
            if judged.www_authenticate is not None:
                refusal.headers.append(("www-authenticate", judged.www_authenticate))
            return refusal
        return Grant(jwt=judged)
