"""The Smithy RPC v2 CBOR protocol (`smithy-rpc-v2-cbor`, e.g. CloudWatch), from botocore's model.

Every request is `POST /service/<serviceName>/operation/<Operation>` with the header
`smithy-protocol: rpc-v2-cbor`; `serviceName` is the model's `targetPrefix` (what botocore
sends). The body is the input structure as one CBOR map (`Content-Type: application/cbor`),
or empty when there is no input. Success is 200 with the output structure as a CBOR map (no
body when the operation has no output); errors are a map `{"__type": "<namespace>#<Shape>",
"message": ...}` with the model's status. Every response carries `smithy-protocol:
rpc-v2-cbor`. Services marked `awsQueryCompatible` also send `x-amzn-query-error:
<Code>;<Sender|Receiver>`, from which botocore takes the error code of the old query protocol
(`query_errors`, shared with the json codec).

Values: blobs are CBOR byte strings, timestamps CBOR tag 1 (epoch seconds, integer or float),
numbers CBOR integers and floats. CBOR itself is read and written by cbor2; reading is bounded
by the body: nesting is capped, map keys must be strings (no hash-collision maps), shared
references (which can build cycles) are refused, and anything not in the model's type system
(other tags, simple values, undefined) is a `SerializationException` like any wrong type.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import cbor2
from botocore.model import OperationModel, ServiceModel, Shape

from lambdabox.aws.errors import ServiceError, UnknownOperationError
from lambdabox.aws.protocol import WireRequest, WireResponse
from lambdabox.aws.protocol_json import (
    UNKNOWN_OPERATION_BODY,
    DocumentRpcCodec,
    MalformedInput,
    error_shapes,
    error_status,
    to_datetime,
)
from lambdabox.aws.query_errors import QueryErrors
from lambdabox.aws.validation import Validator

SMITHY_PROTOCOL = "rpc-v2-cbor"
CONTENT_TYPE = "application/cbor"
#: deepest container nesting a request may have (botocore's models nest a handful of levels)
MAX_DEPTH = 64
_INT_RANGE = {
    "byte": (-(2**7), 2**7 - 1),
    "short": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
}
_TYPE_WORD = {
    "string": "a string",
    "byte": "a byte",
    "short": "a short",
    "integer": "an integer",
    "long": "a long",
    "boolean": "a boolean",
    "double": "a double",
    "float": "a float",
    "blob": "a blob",
    "timestamp": "a timestamp",
    "structure": "a structure",
    "map": "a map",
    "list": "a list",
}
#: /service/<serviceName>/operation/<Operation>, possibly below a path prefix
_PATH = re.compile(r"(?:/[^/]+)*/service/([^/]+)/operation/([^/]+)")


def _refuse_shared(*_: Any) -> Any:
    raise cbor2.CBORDecodeError("shared references are not supported")


#: tags 28/29 (shared values) can make cyclic structures; nothing in Smithy uses them
_SEMANTIC_DECODERS = {28: _refuse_shared, 29: _refuse_shared}


def _kind(value: Any) -> str:
    """The CBOR type of a decoded value, as the error messages name it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "text string"
    if isinstance(value, bytes):
        return "byte string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, datetime):
        return "timestamp"
    if value is cbor2.undefined:
        return "undefined"
    return "unsupported CBOR value"


def _mismatch(shape: Shape, value: Any) -> MalformedInput:
    return MalformedInput(
        f"Expected {_TYPE_WORD.get(shape.type_name, shape.type_name)} but found {_kind(value)}"
    )


def load_cbor_map(body: bytes) -> dict[str, Any]:
    """The request body as one CBOR map; an empty body (or CBOR null) is an empty map."""
    if not body:
        return {}
    stream = io.BytesIO(body)
    try:
        decoder = cbor2.CBORDecoder(
            stream,
            max_depth=MAX_DEPTH,
            strict_hashable_types=True,
            semantic_decoders=_SEMANTIC_DECODERS,
        )
        data = decoder.decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        raise MalformedInput(f"Unable to parse CBOR body: {exc}") from exc
    if stream.tell() != len(body):
        raise MalformedInput("Unable to parse CBOR body: unexpected data after the top-level value")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MalformedInput(f"Expected the body to be a CBOR map but found {_kind(data)}")
    return data


class CborValues:
    """Decoded CBOR <-> boto3-style params for the shapes of one model."""

    def __init__(self) -> None:
        self._fields: dict[str, dict[str, tuple[str, Shape]]] = {}

    def fields(self, shape: Shape) -> dict[str, tuple[str, Shape]]:
        """Map key -> (member name, member shape) of a structure (as botocore's serializer names them)."""
        table = self._fields.get(shape.name)
        if table is None:
            table = {m.serialization.get("name", n): (n, m) for n, m in shape.members.items()}
            self._fields[shape.name] = table
        return table

    def decode(self, shape: Shape, value: Any) -> Any:
        """A decoded CBOR value as boto3 would pass it, checking types; raises MalformedInput."""
        kind = shape.type_name
        if kind == "string":
            if isinstance(value, str):
                return value
        elif kind in _INT_RANGE:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                lo, hi = _INT_RANGE[kind]
                if lo <= value <= hi:
                    return value
                raise MalformedInput(f"Integer value is out of range for {_TYPE_WORD[kind]}")
        elif kind == "boolean":
            if isinstance(value, bool):
                return value
        elif kind in ("double", "float"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    return float(value)
                except OverflowError as exc:
                    raise MalformedInput(f"Integer value is out of range for {_TYPE_WORD[kind]}") from exc
        elif kind == "structure":
            if shape.metadata.get("document"):
                return value
            if isinstance(value, dict):
                out: dict[str, Any] = {}
                self.decode_members(shape, value, out)
                return out
        elif kind == "list":
            if isinstance(value, list):
                member = shape.member
                return [None if v is None else self.decode(member, v) for v in value]
        elif kind == "map":
            if isinstance(value, dict):
                key_shape, value_shape = shape.key, shape.value
                return {
                    self.decode(key_shape, k): None if v is None else self.decode(value_shape, v)
                    for k, v in value.items()
                }
        elif kind == "blob":
            if isinstance(value, bytes):
                return value
        elif kind == "timestamp":
            if isinstance(value, datetime):
                return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            # an untagged epoch number is read too (Smithy says tag 1; being lenient costs nothing)
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    return datetime.fromtimestamp(value, UTC)
                except (ValueError, OverflowError, OSError) as exc:
                    raise MalformedInput("Epoch value is not a valid timestamp") from exc
        else:
            return value
        raise _mismatch(shape, value)

    def decode_members(self, shape: Shape, data: Mapping[str, Any], out: dict[str, Any]) -> None:
        """Decode the members of structure `shape` found in map `data` into `out` (unknown keys ignored)."""
        table = self.fields(shape)
        for key, item in data.items():
            entry = table.get(key) if isinstance(key, str) else None
            if entry is not None and item is not None:
                out[entry[0]] = self.decode(entry[1], item)

    def encode(self, shape: Shape, value: Any) -> Any:
        """A result value as a cbor2-encodable value for `shape` (None members dropped)."""
        kind = shape.type_name
        if kind == "structure":
            if shape.metadata.get("document"):
                return value
            members = shape.members
            out: dict[str, Any] = {}
            for name, item in value.items():
                member = members.get(name)
                # botocore's parser reads members by their member name
                if item is not None and member is not None:
                    out[name] = self.encode(member, item)
            return out
        if kind == "list":
            member = shape.member
            return [None if v is None else self.encode(member, v) for v in value]
        if kind == "map":
            value_shape = shape.value
            return {str(k): None if v is None else self.encode(value_shape, v) for k, v in value.items()}
        if kind == "blob":
            return value.encode() if isinstance(value, str) else bytes(value)
        if kind == "timestamp":
            dt = to_datetime(value)
            epoch = round(dt.timestamp(), 3)
            return cbor2.CBORTag(1, int(epoch) if epoch.is_integer() else epoch)
        if kind in ("double", "float"):
            return float(value)
        if isinstance(value, Decimal):
            return float(value)
        return value


def shape_id_namespace(model: ServiceModel) -> str:
    """The Smithy namespace of the service's shapes, e.g. `com.amazonaws.cloudwatch`."""
    service_id = str(model.metadata.get("serviceId") or model.service_name)
    return "com.amazonaws." + service_id.lower().replace(" ", "")


class CborCodec(DocumentRpcCodec):
    """The smithy-rpc-v2-cbor protocol for one service model."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        #: the `serviceName` path segment botocore sends: the model's targetPrefix
        self.service_name: str = model.metadata.get("targetPrefix") or model.metadata["serviceId"]
        self.namespace = shape_id_namespace(model)
        self._query_errors = QueryErrors(model)
        self._ops: dict[str, OperationModel] = {
            name: model.operation_model(name) for name in model.operation_names
        }
        self._errors = error_shapes(model)
        self._values = CborValues()
        self._validator = Validator(model.service_name)

    def speaks(self, req: WireRequest) -> bool:
        """Whether `req` is an RPC v2 CBOR request addressed to this service (any operation name)."""
        return self._operation_name(req) is not None

    def _operation_name(self, req: WireRequest) -> str | None:
        if req.headers.get("smithy-protocol") != SMITHY_PROTOCOL:
            return None
        m = _PATH.fullmatch(req.path)
        if m is None or m.group(1) != self.service_name:
            return None
        return m.group(2)

    def _load(self, body: bytes) -> dict[str, Any]:
        return load_cbor_map(body)

    def _headers(self, request_id: str) -> dict[str, str]:
        return {"x-amzn-RequestId": request_id, "smithy-protocol": SMITHY_PROTOCOL}

    def serialize(self, operation: str, result: Mapping[str, Any], request_id: str) -> WireResponse:
        shape = self._ops[operation].output_shape
        headers = self._headers(request_id)
        if shape is None:
            return WireResponse(200, headers, b"")
        headers["Content-Type"] = CONTENT_TYPE
        return WireResponse(200, headers, cbor2.dumps(self._values.encode(shape, result)))

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: str | None = None
    ) -> WireResponse:
        shape = self._errors.get(error.code)
        status = error_status(shape, error)
        headers = self._headers(request_id)
        if shape is None and error.code == UnknownOperationError.code and status == 404:
            return WireResponse(404, headers, UNKNOWN_OPERATION_BODY)
        body: dict[str, Any] = {}
        if shape is not None:
            body["__type"] = f"{self.namespace}#{shape.name}"
            for name, member in shape.members.items():
                if name.lower() == "message":
                    value: Any = error.message or None
                elif name == "Type":
                    value = error.type
                else:
                    value = error.fields.get(name)
                if value is not None:
                    body[name] = self._values.encode(member, value)
            body.update((k, v) for k, v in error.fields.items() if k not in shape.members and v is not None)
        else:
            body["__type"] = error.code
            body.update((k, v) for k, v in error.fields.items() if v is not None)
        if error.message and not any(k.lower() == "message" for k in body):
            body["message"] = error.message
        headers.update(self._query_errors.headers(shape, error))
        headers["Content-Type"] = CONTENT_TYPE
        return WireResponse(status, headers, cbor2.dumps(body))

    def unknown_operation_error(self, req: WireRequest) -> ServiceError:
        if req.method != "POST":
            return UnknownOperationError("", status=404)
        # as the json protocol: no operation named, no message
        return UnknownOperationError("", status=400)
