"""Helpers for the AWS protocol layer's tests: the lambda/logs/widgets protocols as module fixtures,
botocore's serializers and parsers on our side of the wire (in the model's protocol or any other it
lists), and FakeAws, a real boto3 client whose requests are answered in-process by our protocol layer
(made to speak a protocol botocore would not pick through a model copy on its data path).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.awsrequest
import botocore.loaders
import botocore.parsers
import botocore.serialize
import botocore.session
import pytest
from botocore.config import Config
from botocore.model import ServiceModel
from botocore.response import StreamingBody

from lambdabox.aws.errors import ServiceError
from lambdabox.aws.protocol import ServiceProtocol, WireRequest, WireResponse
from lambdabox.aws.protocol_restjson import RestJsonCodec

EVENTS = Path(__file__).parent / "events" / "protocol"
ENDPOINT = "http://127.0.0.1:4566"
FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:my-fn"


@pytest.fixture(scope="module", name="lam")
def lam_fixture() -> ServiceProtocol:
    return ServiceProtocol("lambda")


@pytest.fixture(scope="module", name="logs")
def logs_fixture() -> ServiceProtocol:
    return ServiceProtocol("logs")


@pytest.fixture(scope="module", name="widgets")
def widgets_fixture() -> RestJsonCodec:
    return RestJsonCodec(widgets_model())


def widgets_model() -> ServiceModel:
    data = json.loads((EVENTS / "widgets-rest-json.json").read_text())
    return ServiceModel(data, service_name="widgets")


# ------------------------------------------------------------------ botocore on both sides


def to_wire(prepared: Any) -> WireRequest:
    """A botocore prepared request as the edge would hand it to us."""
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in prepared.headers.items()}
    return WireRequest(prepared.method, url.path, parse_qs(url.query, keep_blank_values=True), headers, body)


def botocore_request_object(
    model: ServiceModel,
    operation: str,
    params: dict[str, Any],
    protocol: str | None = None,
    endpoint: str = ENDPOINT,
) -> botocore.awsrequest.AWSRequest:
    """The (unsigned) request botocore builds for `operation(**params)` in `protocol`
    (default: the model's `protocol`, the first it lists)."""
    serializer = botocore.serialize.create_serializer(protocol or model.protocol, include_validation=False)
    request_dict = serializer.serialize_to_request(params, model.operation_model(operation))
    botocore.awsrequest.prepare_request_dict(request_dict, endpoint)
    return botocore.awsrequest.create_request_object(request_dict)


def botocore_request(
    model: ServiceModel, operation: str, params: dict[str, Any], protocol: str | None = None
) -> WireRequest:
    """The request boto3 sends for `operation(**params)`, built with botocore's own serializer."""
    return to_wire(botocore_request_object(model, operation, params, protocol).prepare())


def botocore_parse(
    model: ServiceModel, operation: str, resp: WireResponse, protocol: str | None = None
) -> dict[str, Any]:
    """What botocore makes of our response in `protocol` (default: the model's), modeled error
    fields included (as the client does)."""
    op = model.operation_model(operation)
    parser = botocore.parsers.create_parser(protocol or model.protocol)
    body: Any = resp.body
    if resp.status < 300 and op.has_streaming_output:
        body = StreamingBody(io.BytesIO(resp.body), len(resp.body))
    http = {
        "status_code": resp.status,
        "headers": botocore.awsrequest.HeadersDict(resp.headers),
        "body": body,
    }
    parsed: dict[str, Any] = parser.parse(http, op.output_shape)
    if resp.status >= 300:
        shape = model.shape_for_error_code(parsed["Error"]["Code"])
        if shape is not None:
            parsed.update(parser.parse(http, shape))
    return parsed


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


Handler = Callable[[str, dict[str, Any]], Mapping[str, Any]]


def session_speaking(service: str, protocol: str, data_path: Path) -> botocore.session.Session:
    """A botocore session whose clients for `service` speak `protocol`: a copy of botocore's model
    listing only that protocol, put on the session's data path (where botocore looks first)."""
    model = botocore.loaders.Loader().load_service_model(service, "service-2")
    model["metadata"] = {**model["metadata"], "protocol": protocol, "protocols": [protocol]}
    target = data_path / service / model["metadata"]["apiVersion"]
    target.mkdir(parents=True, exist_ok=True)
    (target / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.Session()
    session.set_config_variable("data_path", str(data_path))
    return session


class FakeAws:
    """A real boto3 client whose requests are answered in-process by our protocol layer, in the
    protocol each request is written in (as the edge answers)."""

    def __init__(
        self,
        service: str,
        validate_client_side: bool = True,
        session: botocore.session.Session | None = None,
    ) -> None:
        """`session`: the botocore session to make the client from (see `session_speaking`)."""
        self.proto = ServiceProtocol(service)
        self.handler: Handler = lambda op, params: {}
        self.seen: list[tuple[str, dict[str, Any]]] = []
        #: the last request the client sent, as the edge would see it
        self.last_request: WireRequest | None = None
        self.client = boto3.Session(botocore_session=session).client(
            service,
            region_name="us-east-1",
            endpoint_url=ENDPOINT,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate_client_side),
        )
        self.client.meta.events.register(f"before-send.{self.proto.endpoint_prefix}", self._send)

    def _send(self, request: Any, **_: Any) -> botocore.awsrequest.AWSResponse:
        req = self.last_request = to_wire(request)
        op: str | None = None
        try:
            op, params = self.proto.parse(req)
            self.seen.append((op, params))
            resp = self.proto.serialize(op, self.handler(op, params), "req-0001", req=req)
        except ServiceError as exc:
            resp = self.proto.serialize_error(exc, "req-0001", op, req=req)
        return botocore.awsrequest.AWSResponse(request.url, resp.status, resp.headers, _Raw(resp.body))


@pytest.fixture(scope="module", name="lambda_client")
def lambda_client_fixture() -> FakeAws:
    return FakeAws("lambda")


@pytest.fixture(scope="module", name="raw_lambda_client")
def raw_lambda_client_fixture() -> FakeAws:
    return FakeAws("lambda", validate_client_side=False)


@pytest.fixture(scope="module", name="logs_client")
def logs_client_fixture() -> FakeAws:
    return FakeAws("logs", validate_client_side=False)


def answer(fake: FakeAws, handler: Handler) -> FakeAws:
    fake.handler = handler
    fake.seen.clear()
    return fake
