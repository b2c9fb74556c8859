"""The AWS json protocol (e.g. CloudWatch Logs), and the JSON value codec rest-json shares.

json protocol: every request is `POST /` naming its operation in `X-Amz-Target:
<targetPrefix>.<Operation>`; the body is the input structure as JSON (blobs base64, timestamps
epoch seconds). Success is 200 with the output structure as JSON; errors are
`{"__type": "<Shape>", "message": "..."}` with the error's status (`__type` is the error shape's
name, or the error's code when the model has no shape for it). Services marked
`awsQueryCompatible` (SQS, CloudWatch) also send `x-amzn-query-error: <Code>;<Sender|Receiver>`
with the query-era code (`query_errors`).

`JsonValues` converts between JSON values and params as boto3 passes them (bytes for blobs,
aware datetimes for timestamps), checking JSON types on the way in.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from lambdabox.aws.errors import ServiceError, UnknownOperationError
from lambdabox.aws.protocol import WireRequest, WireResponse
from lambdabox.aws.query_errors import QueryErrors
from lambdabox.aws.validation import Validator

_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_TYPE_WORD = {
    "string": "a String",
    "integer": "an Integer",
    "long": "a Long",
    "boolean": "a Boolean",
    "double": "a Double",
    "float": "a Float",
    "blob": "a ByteBuffer",
    "timestamp": "a Date",
    "structure": "a Structure",
    "map": "a Map",
    "list": "a List",
}
#: the body AWS's front door sends for a request that names no operation (HTTP 404)
UNKNOWN_OPERATION_BODY = b"<UnknownOperationException/>\n"


class MalformedInput(Exception):
    """The request cannot be read as the model describes it (bad JSON, JSON type, base64, number)."""


def _token(value: Any) -> str:
    """The JSON token name AWS uses in its serialization messages."""
    if isinstance(value, bool):
        return "TRUE_VALUE" if value else "FALSE_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    return "VALUE_NULL"


def _mismatch(shape: Shape, value: Any) -> MalformedInput:
    if isinstance(value, dict):
        return MalformedInput("Start of structure or map found where not expected.")
    if isinstance(value, list):
        return MalformedInput("Start of list found where not expected")
    return MalformedInput(f"{_token(value)} can not be converted to {_TYPE_WORD.get(shape.type_name, 'it')}")


def to_datetime(value: Any) -> datetime:
    """A timestamp result value (datetime, epoch seconds or a string) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return parse_timestamp(str(value))


def parse_timestamp(text: str) -> datetime:
    """Read a timestamp sent as epoch seconds, ISO 8601 or RFC 822 (whatever the model said)."""
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as exc:
            raise MalformedInput(f"Unable to parse timestamp '{text}'") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_timestamp(value: Any, fmt: str) -> Any:
    """A timestamp in the model's format: unixTimestamp (number), iso8601 or rfc822 (strings)."""
    if isinstance(value, str):
        return value  # already formatted by the service
    dt = to_datetime(value).astimezone(UTC)
    fmt = fmt.lower()
    if fmt == "iso8601":
        ms = dt.microsecond // 1000
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms:03d}Z" if ms else "Z")
    if fmt == "rfc822":
        return email.utils.format_datetime(dt.replace(microsecond=0), usegmt=True)
    epoch = round(dt.timestamp(), 3)
    return int(epoch) if epoch.is_integer() else epoch


def dump_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as AWS sends it.

    A lone surrogate (in a row stored before requests holding one were refused) cannot be UTF-8:
    then the whole document is written with ASCII escapes, which spell it, so the answer is
    still sent rather than failing.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


# a \uD800-\uDFFF escape: the only way a lone surrogate gets into text decoded from UTF-8
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any) -> str | None:
    """The first lone UTF-16 surrogate in any string (key or value) of a decoded JSON value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    return str(exc.object[exc.start])
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def load_json(body: bytes) -> Any:
    """The request body (or a header) as a JSON value; raises MalformedInput.

    Besides bad syntax and bad UTF-8 this refuses a ``\\uD800``-``\\uDFFF`` escape that is not
    half of a pair: Python reads it as a lone surrogate, which no UTF-8 text (so no stored row,
    no response) can hold, so the request is malformed like any other unreadable body.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedInput(str(exc)) from exc
    # a UTF-8 body (every SDK's) can only spell a surrogate as an escape: look for one before walking
    utf8 = json.detect_encoding(body).startswith("utf-8")
    if not utf8 or _SURROGATE_ESCAPE.search(body) is not None:
        lone = _lone_surrogate(data)
        if lone is not None:
            raise MalformedInput(
                f"Invalid UTF-16 surrogate \\u{ord(lone):04x}: not half of a surrogate pair, not valid Unicode"
            )
    return data


def load_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is an empty object."""
    if not body.strip():
        return {}
    data = load_json(body)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MalformedInput(
            "Start of list found where not expected" if isinstance(data, list) else "Expected an object"
        )
    return data


def _same(value: Any) -> Any:
    return value


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _base64(value: Any) -> str:
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return base64.b64encode(raw).decode("ascii")


class JsonValues:
    """JSON <-> boto3-style params for the shapes of one model; field tables cached per shape."""

    def __init__(self, body_timestamp_format: str = "unixTimestamp") -> None:
        self._fields: dict[str, dict[str, tuple[str, Shape]]] = {}
        #: id(shape) -> (the shape, its encoder): see `_encoder`
        self._encoders: dict[int, tuple[Shape, Callable[[Any], Any]]] = {}
        self._decoders: dict[int, tuple[Shape, Callable[[Any], Any]]] = {}
        self._ts_format = body_timestamp_format

    def fields(self, shape: Shape) -> dict[str, tuple[str, Shape]]:
        """JSON key -> (member name, member shape) of a structure."""
        table = self._fields.get(shape.name)
        if table is None:
            table = {m.serialization.get("name", n): (n, m) for n, m in shape.members.items()}
            self._fields[shape.name] = table
        return table

    def decode(self, shape: Shape, value: Any) -> Any:
        """A JSON value as boto3 would pass it, checking JSON types; raises MalformedInput."""
        return self._decoder(shape)(value)

    def _decoder(self, shape: Shape) -> Callable[[Any], Any]:
        """`decode` for one shape as a function, made once per shape object (see `_encoder`)."""
        hit = self._decoders.get(id(shape))
        if hit is not None:
            return hit[1]
        made = self._make_decoder(shape)
        self._decoders[id(shape)] = (shape, made)
        return made

    def _make_decoder(self, shape: Shape) -> Callable[[Any], Any]:
        kind = shape.type_name

        def mismatch(value: Any) -> Any:
            raise _mismatch(shape, value)

        if kind == "string":
            return lambda value: value if isinstance(value, str) else mismatch(value)
        if kind in ("integer", "long"):
            lo, hi = _INT_RANGE[kind]

            def integer(value: Any) -> Any:
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                if isinstance(value, int) and not isinstance(value, bool):
                    if lo <= value <= hi:
                        return value
                    raise MalformedInput(f"NUMBER_VALUE {value} is out of range for {_TYPE_WORD[kind]}")
                return mismatch(value)

            return integer
        if kind == "boolean":
            return lambda value: value if isinstance(value, bool) else mismatch(value)
        if kind in ("double", "float"):
            return lambda value: (
                float(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else mismatch(value)
            )
        if kind == "structure":
            if shape.metadata.get("document"):
                return _same
            # filled at the first value (a recursive shape: see `_make_encoder`)
            table: dict[str, tuple[str, Callable[[Any], Any]]] = {}

            def structure(value: Any) -> Any:
                if not isinstance(value, dict):
                    return mismatch(value)
                if not table:
                    for key, (name, member) in self.fields(shape).items():
                        table[key] = (name, self._decoder(member))
                out: dict[str, Any] = {}
                for key, item in value.items():
                    entry = table.get(key)
                    if entry is not None and item is not None:
                        out[entry[0]] = entry[1](item)
                return out

            return structure
        if kind == "list":
            each = self._decoder(shape.member)
            return lambda value: (
                [None if v is None else each(v) for v in value]
                if isinstance(value, list)
                else mismatch(value)
            )
        if kind == "map":
            keys, values = self._decoder(shape.key), self._decoder(shape.value)
            return lambda value: (
                {keys(k): None if v is None else values(v) for k, v in value.items()}
                if isinstance(value, dict)
                else mismatch(value)
            )
        if kind == "blob":

            def blob(value: Any) -> Any:
                if isinstance(value, str):
                    try:
                        return base64.b64decode(value, validate=True)
                    except (binascii.Error, ValueError) as exc:
                        raise MalformedInput(f"Base64 encoded value is not valid: {exc}") from exc
                return mismatch(value)

            return blob
        if kind == "timestamp":

            def timestamp(value: Any) -> Any:
                if isinstance(value, int | float) and not isinstance(value, bool):
                    try:
                        return datetime.fromtimestamp(value, UTC)
                    except (ValueError, OverflowError, OSError) as exc:
                        raise MalformedInput(f"NUMBER_VALUE {value} is not a valid timestamp") from exc
                if isinstance(value, str):
                    return parse_timestamp(value)
                return mismatch(value)

            return timestamp
        return _same

    def decode_members(self, shape: Shape, data: Mapping[str, Any], out: dict[str, Any]) -> None:
        """Decode the body members of structure `shape` found in JSON object `data` into `out`."""
        table = self.fields(shape)
        for key, item in data.items():
            entry = table.get(key)
            if entry is not None and item is not None and "location" not in entry[1].serialization:
                out[entry[0]] = self._decoder(entry[1])(item)

    def encode(self, shape: Shape, value: Any) -> Any:
        """A result value as JSON for `shape`: None members dropped, blobs base64, timestamps formatted."""
        return self._encoder(shape)(value)

    def _encoder(self, shape: Shape) -> Callable[[Any], Any]:
        """`encode` for one shape as a function, made once per shape object: the shape's kind,
        members and wire names are looked up when it is made, not for every value."""
        hit = self._encoders.get(id(shape))
        if hit is not None:
            return hit[1]
        made = self._make_encoder(shape)
        self._encoders[id(shape)] = (shape, made)  # (the shape is kept: its id stays its own)
        return made

    def _member_encoder(self, shape: Shape) -> Callable[[Any], Any] | None:
        """A member's encoder, None where the value is its own JSON (strings, booleans)."""
        return None if shape.type_name in ("string", "boolean") else self._encoder(shape)

    def _make_encoder(self, shape: Shape) -> Callable[[Any], Any]:
        kind = shape.type_name
        if kind == "structure":
            if shape.metadata.get("document"):
                return _same
            # filled at the first value, not now: a recursive shape's members are new shape
            # objects at every level, so only a value's own depth may be walked
            table: dict[str, tuple[str, Callable[[Any], Any] | None]] = {}

            def structure(value: Mapping[str, Any]) -> dict[str, Any]:
                if not table:
                    for n, m in shape.members.items():
                        table[n] = (m.serialization.get("name", n), self._member_encoder(m))
                out: dict[str, Any] = {}
                for name, item in value.items():
                    entry = table.get(name)
                    if entry is not None and item is not None:
                        f = entry[1]
                        out[entry[0]] = item if f is None else f(item)
                return out

            return structure
        if kind == "list":
            member = shape.member
            each = self._member_encoder(member)
            if each is None:
                return list
            return lambda value: [each(v) for v in value]
        if kind == "map":
            values = self._member_encoder(shape.value)
            if values is None:
                return lambda value: {str(k): v for k, v in value.items()}
            return lambda value: {str(k): values(v) for k, v in value.items()}
        if kind == "blob":
            return _base64
        if kind == "timestamp":
            fmt = shape.serialization.get("timestampFormat", self._ts_format)
            return lambda value: format_timestamp(value, fmt)
        return _number

    def encode_members(
        self, shape: Shape, result: Mapping[str, Any], names: frozenset[str]
    ) -> dict[str, Any]:
        """The JSON object of the members `names` of `shape` present in `result`."""
        members = shape.members
        out: dict[str, Any] = {}
        for name, item in result.items():
            if item is not None and name in names:
                member = members[name]
                out[member.serialization.get("name", name)] = self.encode(member, item)
        return out


def error_shapes(model: ServiceModel) -> dict[str, Shape]:
    """Error code -> error shape for the service's modeled errors."""
    table: dict[str, Shape] = {}
    for shape in model.error_shapes:
        table[shape.name] = shape
        code = shape.metadata.get("error", {}).get("code")
        if code:
            table[code] = shape
    return table


def error_status(shape: Shape | None, error: ServiceError) -> int:
    """The model's httpStatusCode for this error shape, else the error's own status."""
    if shape is not None:
        status = shape.metadata.get("error", {}).get("httpStatusCode")
        if status:
            return int(status)
    return error.status


def error_members(
    shape: Shape, error: ServiceError, values: JsonValues
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(body, header members) of a modeled error: message, Type, then the error's fields."""
    body: dict[str, Any] = {}
    located: dict[str, Any] = {}
    for name, member in shape.members.items():
        if name.lower() == "message":
            value: Any = error.message
        elif name == "Type":
            value = error.type
        else:
            value = error.fields.get(name)
        if value is None:
            continue
        if "location" in member.serialization:
            located[name] = value
        else:
            body[member.serialization.get("name", name)] = values.encode(member, value)
    for name, value in error.fields.items():
        if name not in shape.members and value is not None:
            body[name] = value
    return body, located


class DocumentRpcCodec:
    """What the json and smithy-rpc-v2-cbor codecs share: a POST whose operation is named outside
    the body (a header, a path) and whose body is one document of the operation's input shape.
    Subclasses say where the name is (`_operation_name`) and how the body is read (`_load`)."""

    _ops: dict[str, OperationModel]
    _values: JsonValues | Any
    _validator: Validator

    def _operation_name(self, req: WireRequest) -> str | None:
        raise NotImplementedError

    def _load(self, body: bytes) -> dict[str, Any]:
        raise NotImplementedError

    def unknown_operation_error(self, req: WireRequest) -> ServiceError:
        raise NotImplementedError

    def match(self, req: WireRequest) -> str | None:
        if req.method != "POST":
            return None
        op = self._operation_name(req)
        return op if op in self._ops else None

    def parse(self, req: WireRequest) -> tuple[str, dict[str, Any]]:
        name = self.match(req)
        if name is None:
            raise self.unknown_operation_error(req)
        shape = self._ops[name].input_shape
        params: dict[str, Any] = {}
        try:
            data = self._load(req.body)
            if shape is not None:
                self._values.decode_members(shape, data, params)
        except MalformedInput as exc:
            raise ServiceError(str(exc), code="SerializationException", status=400) from exc
        except RecursionError as exc:  # a shape recursing deeper than the stack (depth limits prevent it)
            raise ServiceError("Input is nested too deeply", code="SerializationException") from exc
        self._validator.validate(shape, params)
        return name, params


class JsonCodec(DocumentRpcCodec):
    """The json protocol for one service model."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self.target_prefix: str = model.metadata["targetPrefix"]
        self.content_type = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"
        self._ops: dict[str, OperationModel] = {
            name: model.operation_model(name) for name in model.operation_names
        }
        self._errors = error_shapes(model)
        self._query_errors = QueryErrors(model)
        self._values = JsonValues()
        self._validator = Validator(model.service_name)

    def _operation_name(self, req: WireRequest) -> str | None:
        target = req.headers.get("x-amz-target")
        if target is None:
            return None
        prefix, dot, op = target.partition(".")
        return op if dot and prefix == self.target_prefix else None

    def _load(self, body: bytes) -> dict[str, Any]:
        return load_json_object(body)

    def serialize(self, operation: str, result: Mapping[str, Any], request_id: str) -> WireResponse:
        shape = self._ops[operation].output_shape
        headers = {"x-amzn-RequestId": request_id}
        if shape is None:
            return WireResponse(200, headers, b"")
        headers["Content-Type"] = self.content_type
        return WireResponse(200, headers, dump_json(self._values.encode(shape, result)))

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: str | None = None
    ) -> WireResponse:
        shape = self._errors.get(error.code)
        status = error_status(shape, error)
        if shape is None and error.code == UnknownOperationError.code and status == 404:
            return WireResponse(404, {"x-amzn-RequestId": request_id}, UNKNOWN_OPERATION_BODY)
        body: dict[str, Any] = {"__type": error.code if shape is None else shape.name}
        if shape is not None:
            members, _ = error_members(shape, error, self._values)
            body.update(members)
            if not any(k.lower() == "message" for k in members) and error.message:
                body["message"] = error.message
        else:
            if error.message:
                body["message"] = error.message
            body.update((k, v) for k, v in error.fields.items() if v is not None)
        headers = {"x-amzn-RequestId": request_id, "Content-Type": self.content_type}
        headers.update(self._query_errors.headers(shape, error))
        return WireResponse(status, headers, dump_json(body))

    def unknown_operation_error(self, req: WireRequest) -> ServiceError:
        if req.method != "POST":
            return UnknownOperationError("", status=404)
        # AWS names no operation and gives no message here
        return UnknownOperationError("", status=400)
