"""IAM authorization of HTTP API routes (AuthorizationType AWS_IAM; and of function URLs with
AuthType AWS_IAM, signed for `lambda`): the request must carry a
valid SigV4 signature for the service `execute-api`, made with a key the server knows
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-access-control-iam.html).

The signature is checked by the edge's own verifier (`lambdabox.aws.verify`), always, whether or
not the server verifies signatures of AWS API calls: a route that asks for IAM is never open. The
caller's identity reaches the function as `requestContext.authorizer.iam`. IAM policies are not
evaluated: a verified signature of any known key is let through (AWS would also require an
identity policy allowing `execute-api:Invoke` on the route).

Refusals are 403, with API Gateway's messages: unsigned `Missing Authentication Token`, an
Authorization header that is no SigV4 signature (`Bearer ...`) IncompleteSignatureException's
`Authorization header requires 'Credential' parameter. ...` / `'x' not a valid key=value pair
(missing equal-sign) ...`, a
signature that does not match AWS's `The request signature we calculated does not match …`, an
unknown or revoked key `The security token included in the request is invalid.`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from lambdabox.aws.sigv4 import parse_caller
from lambdabox.aws.verify import Authenticator, AuthFailure, SignedRequest
from lambdabox.gateway.proxy import GatewayResponse, error_response


def incomplete_signature(value: str, headers: Any) -> str:
    """API Gateway's IncompleteSignatureException message for an Authorization header that is no
    SigV4 signature: a part of it that is no `key=value` pair is named, else what is missing."""
    _scheme, _, rest = value.partition(" ")
    pairs = [p.strip() for p in rest.split(",") if p.strip()] if rest else []
    for part in pairs:
        if "=" not in part:
            return f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
    names = {p.split("=", 1)[0].strip() for p in pairs}
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if name not in names
    ]
    if not headers.get("X-Amz-Date") and not headers.get("Date"):
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    return " ".join([*missing, f"Authorization={value}"])


@dataclass(frozen=True)
class Principal:
    """Who holds an access key: its user id and ARN (GetCallerIdentity's UserId and Arn)."""

    user_id: str
    arn: str


#: identify(access key id, account) -> the key's principal (None: a root key of that account)
Identify = Callable[[str, str], Awaitable[Principal | None]]


class IamAuthorizer:
    """Checks AWS_IAM routes' signatures and names their callers."""

    def __init__(self, authenticator: Authenticator, identify: Identify) -> None:
        self._auth = authenticator
        self._identify = identify

    async def check(
        self,
        method: str,
        raw_target: str,
        headers: Any,
        body: bytes,
        region: str,
        service: str = "execute-api",
    ) -> dict[str, Any] | GatewayResponse:
        """The `iam` identity for the function, or API Gateway's 403. `raw_target`: the request
        target as sent (percent-encoded path and query: what was signed); `service`: the signing
        name it must be signed for (`lambda` for a function URL)."""
        raw_path, _, raw_query = raw_target.partition("?")
        caller = parse_caller(headers, parse_qs(raw_query, keep_blank_values=True))
        if caller.access_key_id is None:
            given = headers.get("Authorization")
            if given:  # something else than a SigV4 signature
                return error_response(403, incomplete_signature(given, headers))
            return error_response(403, "Missing Authentication Token")
        if caller.region != region:
            return error_response(
                403, f"Credential should be scoped to a valid region, not '{caller.region}'. "
            )
        signed = SignedRequest(method, raw_path, raw_query, headers, body)
        try:
            key = await self._auth.authenticate(caller, signed, unsigned_ok=False, services=(service,))
        except AuthFailure as failure:
            return error_response(403, failure.message)
        if key is None:  # (a verifying authenticator answers a key or fails)
            return error_response(403, "Missing Authentication Token")
        principal = await self._identify(key.access_key_id, key.account)
        user_id = principal.user_id if principal else key.account
        arn = principal.arn if principal else f"arn:aws:iam::{key.account}:root"
        return {
            "accessKey": key.access_key_id,
            "accountId": key.account,
            "callerId": user_id,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": arn,
            "userId": user_id,
        }
