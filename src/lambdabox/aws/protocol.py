"""Turn AWS wire requests into `(operation, params)` and results or errors back into wire responses.

One `ServiceProtocol` per AWS service, built once at start-up from botocore's service model. It
picks the codec for the service's protocol (rest-json in `protocol_restjson`, json in
`protocol_json`, query in `protocol_query`, smithy-rpc-v2-cbor in `protocol_cbor`; rest-xml would
be a further codec with the same methods, reusing `protocol_query.XmlValues`) and offers the edge
one surface:

    proto = ServiceProtocol("lambda")
    op = proto.match(req)                      # None: not one of ours
    op, params = proto.parse(req)              # params exactly as boto3 would pass them
    resp = proto.serialize(op, result, request_id, req=req)
    resp = proto.serialize_error(error, request_id, op, req=req)

A model may list several protocols (CloudWatch: smithy-rpc-v2-cbor, json, query), all of which
AWS accepts, and SDKs differ in which they send. We speak every listed protocol we have a codec
for: `match` and `parse` read a request in whichever of them it is written, and `serialize` /
`serialize_error` answer in the protocol of `req`. Without `req` they answer in `protocol`, the
one botocore's own client picks (its priority order over the model's list; botocore 1.44 puts
json before smithy-rpc-v2-cbor, so a boto3 CloudWatch client sends json).

A service whose query API departs from its botocore model (SQS: a json model, still served over
query by its query-era names) brings a `protocol_query.QueryDialect`; only its query codec reads
it, on a copy of the model.

Parsing validates the params against the model (required members, lengths, ranges, patterns;
enums included) and raises `ServiceError` with AWS's code and message.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import botocore.loaders
import botocore.model

from lambdabox.aws.errors import ServiceError

if TYPE_CHECKING:
    from lambdabox.aws.protocol_query import QueryDialect


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
    #: an event-stream body, sent as its messages come (instead of `body`)
    stream: AsyncIterable[bytes] | None = None


class ProtocolCodec(Protocol):
    """What every protocol implementation offers `ServiceProtocol` (one class per protocol)."""

    def match(self, req: WireRequest) -> str | None: ...

    def parse(self, req: WireRequest) -> tuple[str, dict[str, Any]]: ...

    def serialize(self, operation: str, result: Mapping[str, Any], request_id: str) -> WireResponse: ...

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: str | None = None
    ) -> WireResponse: ...

    def unknown_operation_error(self, req: WireRequest) -> ServiceError: ...


#: protocols we speak
SUPPORTED_PROTOCOLS = ("rest-json", "json", "query", "smithy-rpc-v2-cbor")

try:  # botocore's client's order of preference when a model lists several protocols
    from botocore.utils import PRIORITY_ORDERED_SUPPORTED_PROTOCOLS as _CLIENT_PREFERENCE
except ImportError:  # botocore before multi-protocol models: they list one protocol
    _CLIENT_PREFERENCE = ("json", "rest-json", "rest-xml", "smithy-rpc-v2-cbor", "query", "ec2")


@functools.cache
def load_service_data(service_name: str, api_version: str | None = None) -> dict[str, Any]:
    """botocore's service-2 data for `service_name`, newest API version by default; loaded once
    (read-only: copy it to change it)."""
    data: dict[str, Any] = botocore.loaders.Loader().load_service_model(
        service_name, "service-2", api_version
    )
    return data


@functools.cache
def load_service_model(service_name: str, api_version: str | None = None) -> botocore.model.ServiceModel:
    """botocore's model for `service_name` (e.g. "lambda", "logs"), newest API version by default;
    loaded once (read-only: codecs and services share it)."""
    return botocore.model.ServiceModel(
        load_service_data(service_name, api_version), service_name=service_name
    )


def _make_codec(
    protocol: str, model: botocore.model.ServiceModel, query: QueryDialect | None = None
) -> ProtocolCodec:
    # imported here: the codec modules import WireRequest/WireResponse from this module
    if protocol == "rest-json":
        from lambdabox.aws.protocol_restjson import RestJsonCodec

        return RestJsonCodec(model)
    if protocol == "json":
        from lambdabox.aws.protocol_json import JsonCodec

        return JsonCodec(model)
    if protocol == "query":
        from lambdabox.aws.protocol_query import QueryCodec

        if query is None:
            return QueryCodec(model)
        data = query.traits(load_service_data(model.service_name, model.api_version))
        overlaid = botocore.model.ServiceModel(data, service_name=model.service_name)
        return QueryCodec(overlaid, query.implied_fields, query.unindexed)
    if protocol == "smithy-rpc-v2-cbor":
        from lambdabox.aws.protocol_cbor import CborCodec

        return CborCodec(model)
    raise ValueError(f"protocol {protocol!r} is not supported (yet)")


class ServiceProtocol:
    """The wire protocol of one AWS service, driven by botocore's model of it."""

    def __init__(
        self, service_name: str, api_version: str | None = None, *, query: QueryDialect | None = None
    ) -> None:
        """`query`: how the service's query API departs from its model (SQS's, `sqs.query_traits`)."""
        self.model = load_service_model(service_name, api_version)
        meta = self.model.metadata
        offered = list(meta.get("protocols") or [meta["protocol"]])
        if "awsQueryCompatible" in meta and "query" not in offered:
            offered.append("query")  # such a service (SQS) still answers its query-era clients
        spoken = [p for p in offered if p in SUPPORTED_PROTOCOLS]
        if not spoken:
            raise ValueError(f"{service_name}: none of its protocols {offered} is supported")
        ranked = [p for p in _CLIENT_PREFERENCE if p in spoken]
        chosen = ranked[0] if ranked else spoken[0]
        self.service_name: str = service_name
        self.api_version: str = meta["apiVersion"]
        self.protocol: str = chosen
        self.target_prefix: str | None = meta.get("targetPrefix")
        self.endpoint_prefix: str = meta["endpointPrefix"]
        self.signing_name: str = meta.get("signingName") or self.endpoint_prefix
        #: every protocol of the model we speak, the default (`protocol`) first
        self.protocols: tuple[str, ...] = (chosen, *(p for p in spoken if p != chosen))
        self._codecs: dict[str, ProtocolCodec] = {
            p: _make_codec(p, self.model, query) for p in self.protocols
        }
        self._codec = self._codecs[chosen]
        #: whether clients may gzip request bodies (an operation with the `requestcompression` trait)
        self.compressed_requests: bool = any(
            self.model.operation_model(op).request_compression for op in self.model.operation_names
        )

    def codec_for(self, req: WireRequest | None) -> ProtocolCodec:
        """The codec `req` is written in: the one that knows its operation, else the one whose
        shape it has (an RPC v2 CBOR path or a query Action naming an unknown operation), else
        the default."""
        if req is None or len(self._codecs) == 1:
            return self._codec
        for codec in self._codecs.values():
            if codec.match(req) is not None:
                return codec
        for codec in self._codecs.values():
            speaks = getattr(codec, "speaks", None)  # the codecs whose requests name it in the path
            if speaks is not None and speaks(req):
                return codec
        return self._codec

    def match(self, req: WireRequest) -> str | None:
        """The operation this request calls, or None if it is not one of this service's."""
        for codec in self._codecs.values():
            op = codec.match(req)
            if op is not None:
                return op
        return None

    def unsigned(self, operation: str) -> bool:
        """Whether AWS serves `operation` to unsigned requests (STS's AssumeRoleWithWebIdentity)."""
        op = self.model.operation_model(operation)
        return op.auth_type == "none" or "smithy.api#noAuth" in (getattr(op, "auth", None) or ())

    def speaks(self, req: WireRequest) -> bool:
        """Whether `req` is written in one of this service's protocols although it names none of
        its operations (an RPC v2 CBOR path or a query Action; other protocols cannot tell)."""
        for codec in self._codecs.values():
            speaks = getattr(codec, "speaks", None)
            if speaks is not None and speaks(req):
                return True
        return False

    def parse(self, req: WireRequest) -> tuple[str, dict[str, Any]]:
        """(operation, params as boto3 would pass them); raises ServiceError on bad input."""
        return self.codec_for(req).parse(req)

    def serialize(
        self, operation: str, result: Mapping[str, Any], request_id: str, req: WireRequest | None = None
    ) -> WireResponse:
        """The success response for `operation` with output members `result` (None members omitted),
        in the protocol of `req` (default: `protocol`)."""
        return self.codec_for(req).serialize(operation, result, request_id)

    def serialize_error(
        self,
        error: ServiceError,
        request_id: str,
        operation: str | None = None,
        req: WireRequest | None = None,
    ) -> WireResponse:
        """The error response exactly as this service sends it, parseable by botocore, in the
        protocol of `req` (default: `protocol`)."""
        return self.codec_for(req).serialize_error(error, request_id, operation)

    def unknown_operation_error(self, req: WireRequest) -> ServiceError:
        """What this service answers to a request that names none of its operations."""
        return self.codec_for(req).unknown_operation_error(req)

    def __repr__(self) -> str:
        return f"ServiceProtocol({self.service_name!r}, {self.protocol!r}, {self.api_version!r})"
