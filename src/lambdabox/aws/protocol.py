"""Turn AWS wire requests into `(operation, params)` and results or errors back into wire responses.

One `ServiceProtocol` per AWS service, built once at start-up from botocore's service model. It
picks the codec for the service's protocol (rest-json in `protocol_restjson`, json in
`protocol_json`, query in `protocol_query`; rest-xml would be a further codec with the same
methods, reusing `protocol_query.XmlValues`) and offers the edge one surface:

    proto = ServiceProtocol("lambda")
    op = proto.match(req)                      # None: not one of ours
    op, params = proto.parse(req)              # params exactly as boto3 would pass them
    resp = proto.serialize(op, result, request_id)
    resp = proto.serialize_error(error, request_id, op)

Parsing validates the params against the model (required members, lengths, ranges, patterns;
enums included) and raises `ServiceError` with AWS's code and message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import botocore.loaders
import botocore.model

from lambdabox.aws.errors import ServiceError


@dataclass(frozen=True, slots=True)
class WireRequest:
    """An HTTP request as received: the path still percent-encoded, the query already split."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    #: header lookups must be case-insensitive: a CIMultiDict, or a dict with lowercase keys
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class WireResponse:
    """An HTTP response ready to send."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class ProtocolCodec(Protocol):
    """What every protocol implementation offers `ServiceProtocol` (one class per protocol)."""

    def match(self, req: WireRequest) -> str | None: ...

    def parse(self, req: WireRequest) -> tuple[str, dict[str, Any]]: ...

    def serialize(self, operation: str, result: Mapping[str, Any], request_id: str) -> WireResponse: ...

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: str | None = None
    ) -> WireResponse: ...

    def unknown_operation_error(self, req: WireRequest) -> ServiceError: ...


#: protocols we speak, in the order we prefer them when a model lists several
SUPPORTED_PROTOCOLS = ("rest-json", "json", "query")


def load_service_model(service_name: str, api_version: str | None = None) -> botocore.model.ServiceModel:
    """botocore's model for `service_name` (e.g. "lambda", "logs"), newest API version by default."""
    loader = botocore.loaders.Loader()
    data = loader.load_service_model(service_name, "service-2", api_version)
    return botocore.model.ServiceModel(data, service_name=service_name)


def _make_codec(protocol: str, model: botocore.model.ServiceModel) -> ProtocolCodec:
    # imported here: the codec modules import WireRequest/WireResponse from this module
    if protocol == "rest-json":
        from lambdabox.aws.protocol_restjson import RestJsonCodec

        return RestJsonCodec(model)
    if protocol == "json":
        from lambdabox.aws.protocol_json import JsonCodec

        return JsonCodec(model)
    if protocol == "query":
        from lambdabox.aws.protocol_query import QueryCodec

        return QueryCodec(model)
    raise ValueError(f"protocol {protocol!r} is not supported (yet)")


class ServiceProtocol:
    """The wire protocol of one AWS service, driven by botocore's model of it."""

    def __init__(self, service_name: str, api_version: str | None = None) -> None:
        self.model = load_service_model(service_name, api_version)
        meta = self.model.metadata
        offered = list(meta.get("protocols") or [meta["protocol"]])
        chosen = next((p for p in offered if p in SUPPORTED_PROTOCOLS), None)
        if chosen is None:
            raise ValueError(f"{service_name}: none of its protocols {offered} is supported")
        self.service_name: str = service_name
        self.api_version: str = meta["apiVersion"]
        self.protocol: str = chosen
        self.target_prefix: str | None = meta.get("targetPrefix")
        self.endpoint_prefix: str = meta["endpointPrefix"]
        self.signing_name: str = meta.get("signingName") or self.endpoint_prefix
        self._codec = _make_codec(chosen, self.model)

    def match(self, req: WireRequest) -> str | None:
        """The operation this request calls, or None if it is not one of this service's."""
        return self._codec.match(req)

    def parse(self, req: WireRequest) -> tuple[str, dict[str, Any]]:
        """(operation, params as boto3 would pass them); raises ServiceError on bad input."""
        return self._codec.parse(req)

    def serialize(self, operation: str, result: Mapping[str, Any], request_id: str) -> WireResponse:
        """The success response for `operation` with output members `result` (None members omitted)."""
        return self._codec.serialize(operation, result, request_id)

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: str | None = None
    ) -> WireResponse:
        """The error response exactly as this service sends it, parseable by botocore."""
        return self._codec.serialize_error(error, request_id, operation)

    def unknown_operation_error(self, req: WireRequest) -> ServiceError:
        """What this service answers to a request that names none of its operations."""
        return self._codec.unknown_operation_error(req)

    def __repr__(self) -> str:
        return f"ServiceProtocol({self.service_name!r}, {self.protocol!r}, {self.api_version!r})"
