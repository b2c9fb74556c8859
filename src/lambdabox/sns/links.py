"""The URLs SNS's messages carry, served on lambdabox's port (an edge data plane): the signing
certificate (`GET /SimpleNotificationService-<id>.pem`), the SubscribeURL (`GET
/?Action=ConfirmSubscription&TopicArn=…&Token=…`) and the UnsubscribeURL (`GET
/?Action=Unsubscribe&SubscriptionArn=…`), unsigned as AWS's are and answered in SNS's XML.

A request naming a Version or carrying credentials is not one of these: it goes to the AWS API as
any other call does.
"""

from __future__ import annotations

from collections.abc import Awaitable
from urllib.parse import parse_qs

from lambdabox.aws import ids
from lambdabox.aws.errors import ServiceError
from lambdabox.aws.protocol import ServiceProtocol
from lambdabox.http_messages import Request, Response
from lambdabox.sns.api import Result, SnsService
from lambdabox.sns.checks import invalid
from lambdabox.sns.signing import Signer

_ACTIONS = ("ConfirmSubscription", "Unsubscribe")


class SnsLinks:
    """Answers the requests a subscriber makes of the URLs in SNS's messages."""

    def __init__(self, sns: SnsService, protocol: ServiceProtocol, signer: Signer) -> None:
        self._sns = sns
        self._protocol = protocol
        self._signer = signer

    def route(self, request: Request) -> Awaitable[Response] | None:
        """The answer to one of SNS's URLs (the edge's `DataPlane`), else None."""
        if request.method != "GET":
            return None
        if request.path == self._signer.cert_path:
            return self._certificate()
        if request.path != "/" or "Authorization" in request.headers:
            return None
        query = parse_qs(request.query_string, keep_blank_values=True)
        action = (query.get("Action") or [""])[0]
        if action not in _ACTIONS or "Version" in query or "X-Amz-Credential" in query:
            return None
        return self._answer(action, {k: v[0] for k, v in query.items()})

    async def _certificate(self) -> Response:
        return Response(200, {"Content-Type": "application/x-x509-ca-cert"}, self._signer.cert_pem)

    async def _answer(self, action: str, query: dict[str, str]) -> Response:
        request_id = ids.request_id()
        try:
            result: Result
            if action == "ConfirmSubscription":
                if not query.get("TopicArn") or not query.get("Token"):
                    raise invalid("TopicArn or Token Reason: no value for required parameter")
                result = await self._sns.confirm_by_url(query["TopicArn"], query["Token"])
            else:
                if not query.get("SubscriptionArn"):
                    raise invalid("SubscriptionArn Reason: no value for required parameter")
                result = await self._sns.unsubscribe_by_url(query["SubscriptionArn"])
            wire = self._protocol.serialize(action, result, request_id)
        except ServiceError as err:
            wire = self._protocol.serialize_error(err, request_id, action)
        return Response(wire.status, wire.headers, wire.body)
