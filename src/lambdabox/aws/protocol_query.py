"""The AWS query protocol (e.g. STS, IAM, SNS): form-encoded requests, XML responses.

A request is `POST /` with an `application/x-www-form-urlencoded` body (or a `GET` with the same
fields in the query string) naming its operation in `Action` and the API in `Version`. Members
are flattened into dotted keys as botocore's `QuerySerializer` writes them:

    Name=v                          a scalar member (its locationName if the model gives one)
    Outer.Inner=v                   structures
    Tags.member.1=v                 lists (`member`: the list member's locationName if any)
    Tags.1=v                        flattened lists (`Item.1` if the member has a locationName)
    Attributes.entry.1.key=k        maps; `.value` for the value; both renamed by locationName,
    Attributes.entry.1.value=v      `entry` dropped when the map is flattened

Fields become a tree once (one dict walk per dotted segment), and the model drives the walk, so
the work is linear in the request; unknown fields are ignored as AWS does. The number of fields,
list and map indices and the depth of keys are bounded (`MAX_FIELDS`, `MAX_INDEX`, `MAX_DEPTH`).

Success is `<{Op}Response xmlns=...><{Op}Result>...</{Op}Result><ResponseMetadata>...`; errors
are `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
`XmlValues` writes shapes as XML (members by locationName, lists of `<member>` or flattened,
maps of `<entry><key/><value/></entry>`) and is meant to be shared with a future rest-xml codec.

A service whose botocore model is not a query model (SQS: json, `awsQueryCompatible`) brings a
`QueryDialect`: the query traits its model lacks, put on a copy of the model for this codec
alone, and the form fields a request implies beyond its own (SQS reads the queue from the path).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

from botocore.model import OperationModel, ServiceModel, Shape

from lambdabox.aws.errors import ServiceError
from lambdabox.aws.protocol import WireRequest, WireResponse
from lambdabox.aws.protocol_json import (
    MalformedInput,
    error_shapes,
    error_status,
    format_timestamp,
    parse_timestamp,
    to_datetime,
)
from lambdabox.aws.query_errors import QueryErrors
from lambdabox.aws.validation import Validator, camel

#: more fields than this in one request are refused (AWS's own limits are far lower in practice)
MAX_FIELDS = 10_000
#: list and map indices above this are refused
MAX_INDEX = 10_000
#: dotted segments in one key, whatever the model (recursive shapes could otherwise go on forever)
MAX_DEPTH = 64

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
XML_CONTENT_TYPE = "text/xml"

_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_INT = re.compile(r"[+-]?\d{1,20}")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Infinity|NaN")
_INDEX = re.compile(r"[1-9]\d*")
_BOOL = {"true": True, "false": False}
_TAG = re.compile(r"[A-Za-z_][\w-]*")
#: characters XML 1.0 cannot carry at all, not even as character references
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: a carriage return would reach the client as a newline unless written as a reference
_TEXT_ENTITIES = {"\r": "&#xD;"}


@dataclass(frozen=True, slots=True)
class QueryDialect:
    """How one service's query API departs from its botocore model."""

    #: the model's service-2 data -> a copy carrying the query traits the query API has
    traits: Callable[[dict[str, Any]], dict[str, Any]]
    #: (request, operation) -> form fields the request implies, read where the form lacks them
    implied_fields: Callable[[WireRequest, OperationModel], list[tuple[str, str]]] | None = None
    #: whether a flattened list or map may give its only item without an index (`Attribute.Name=k`
    #: for `Attribute.1.Name=k`, as SQS's API reference writes SetQueueAttributes)
    unindexed: bool = False


class _Refused(Exception):
    """The request is beyond what we read (too many fields, too deep, index too large)."""


# ---------------------------------------------------------------------------- the field tree


@dataclass(slots=True)
class _Node:
    """One dotted segment of the form's keys: its value (if a key ends here) and its children."""

    value: str | None = None
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(fields: list[tuple[str, str]], max_depth: int) -> _Node:
    root = _Node()
    for key, value in fields:
        parts = key.split(".", max_depth)
        if len(parts) > max_depth:
            raise _Refused(f"Parameter {key[:100]!r} is nested deeper than the operation allows")
        node = root
        for part in parts:
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _Node()
            node = child
        node.value = value
    return root


def _indexed(node: _Node) -> list[_Node]:
    """The children `1`, `2`, ... of a list or map node, in index order (gaps allowed)."""
    found: list[tuple[int, _Node]] = []
    for key, child in node.children.items():
        if _INDEX.fullmatch(key):
            if len(key) > 5 or int(key) > MAX_INDEX:
                raise _Refused(f"Index {key[:20]} is above the maximum of {MAX_INDEX}")
            found.append((int(key), child))
    found.sort(key=lambda pair: pair[0])
    return [child for _, child in found]


def _max_depth(shape: Shape | None) -> int:
    """The most dotted segments any key of `shape` can have (MAX_DEPTH for recursive shapes)."""
    if shape is None:
        return 1

    def depth(s: Shape, seen: frozenset[str]) -> int:
        if s.name in seen:
            return MAX_DEPTH
        seen = seen | {s.name}
        kind = s.type_name
        if kind == "structure":
            return 1 + max((depth(m, seen) for m in s.members.values()), default=0)
        if kind == "list":
            return (1 if s.serialization.get("flattened") else 2) + depth(s.member, seen)
        if kind == "map":
            inner = max(depth(s.key, seen), depth(s.value, seen))
            return (2 if s.serialization.get("flattened") else 3) + inner
        return 0

    # the input structure's members are the first segment; Action and Version have one
    return min(MAX_DEPTH, max(1, depth(shape, frozenset())))


# ---------------------------------------------------------------------------- reading values


def member_key(member: Shape, name: str) -> str:
    """The wire name of a structure member, as botocore writes (and reads) it.

    A flattened list whose member has a locationName is named after that member
    (`Attribute.1`, not `Attributes.1`); otherwise the member's locationName or its name.
    """
    if member.type_name == "list" and member.serialization.get("flattened"):
        named = member.member.serialization.get("name")
        if named is not None:
            return str(named)
    return str(member.serialization.get("name", name))


class QueryValues:
    """Form fields -> boto3-style params for the shapes of one model; member tables cached."""

    def __init__(self, unindexed: bool = False) -> None:
        """`unindexed`: a flattened list or map may give its only item without an index."""
        self._members: dict[str, tuple[tuple[str, str, Shape], ...]] = {}
        self._unindexed = unindexed

    def members(self, shape: Shape) -> tuple[tuple[str, str, Shape], ...]:
        """(member name, wire key, member shape) of a structure."""
        table = self._members.get(shape.name)
        if table is None:
            table = tuple((n, member_key(m, n), m) for n, m in shape.members.items())
            self._members[shape.name] = table
        return table

    def read_structure(self, shape: Shape, node: _Node, path: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, key, member in self.members(shape):
            child = node.children.get(key)
            if child is not None:
                value = self.read(member, child, f"{path}.{camel(name)}" if path else camel(name), depth)
                if value is not None:
                    out[name] = value
        return out

    def read(self, shape: Shape, node: _Node, path: str, depth: int) -> Any:
        """The value at `node` as boto3 would pass it; None if there is none; raises MalformedInput."""
        if depth > MAX_DEPTH:
            raise _Refused(f"Parameter '{path[:100]}' is nested deeper than the operation allows")
        kind = shape.type_name
        if kind == "structure":
            if not node.children:
                return None
            return self.read_structure(shape, node, path, depth + 1)
        if kind == "list":
            flattened = shape.serialization.get("flattened")
            if not node.children:
                if node.value == "":
                    return []
                if not (flattened and self._unindexed and node.value is not None):
                    return None
            elif not flattened:
                inner = node.children.get(shape.member.serialization.get("name", "member"))
                if inner is None:
                    return [] if node.value == "" else None
                node = inner
            nodes = _indexed(node)
            if not nodes and flattened and self._unindexed:
                nodes = [node]  # `TagKey=k`, `Entry.Id=a`: the one item
            items = (
                self.read(shape.member, n, f"{path}.{i}.member", depth + 1) for i, n in enumerate(nodes, 1)
            )
            return [v for v in items if v is not None]
        if kind == "map":
            flattened = shape.serialization.get("flattened")
            if not flattened:
                inner = node.children.get("entry")
                if inner is None:
                    return None
                node = inner
            key_name = shape.key.serialization.get("name", "key")
            value_name = shape.value.serialization.get("name", "value")
            out: dict[Any, Any] = {}
            entries = _indexed(node)
            if not entries and flattened and self._unindexed:
                entries = [node]  # `Attribute.Name=k&Attribute.Value=v`: the one entry
            for entry in entries:
                k, v = entry.children.get(key_name), entry.children.get(value_name)
                if k is None or v is None:
                    continue
                key = self.read(shape.key, k, path, depth + 1)
                value = self.read(shape.value, v, f"{path}.{key}.member", depth + 1)
                if key is not None and value is not None:
                    out[key] = value
            return out or None
        if node.value is None:
            return None
        return _from_text(shape, node.value, path)


def _from_text(shape: Shape, text: str, path: str) -> Any:
    """A form value as the member's type; raises MalformedInput worded for `path`."""
    kind = shape.type_name
    if kind in ("string", "character"):
        return text
    stripped = text.strip()
    if kind in ("integer", "long"):
        if _INT.fullmatch(stripped):
            number = int(stripped)
            lo, hi = _INT_RANGE[kind]
            if lo <= number <= hi:
                return number
    elif kind in ("float", "double"):
        if _FLOAT.fullmatch(stripped):
            return float(stripped)
    elif kind == "boolean":
        flag = _BOOL.get(stripped.lower())
        if flag is not None:
            return flag
    elif kind == "timestamp":
        try:
            return parse_timestamp(stripped)
        except MalformedInput:
            pass
    elif kind == "blob":
        try:
            return base64.b64decode(stripped, validate=True)
        except (binascii.Error, ValueError):
            pass
    else:
        return text
    shown = text if len(text) <= 100 else text[:100] + "..."
    raise MalformedInput(
        f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must be {_WORDS[kind]}"
    )


_WORDS = {
    "integer": "an integer",
    "long": "a long",
    "float": "a number",
    "double": "a number",
    "boolean": "true or false",
    "timestamp": "a timestamp (ISO 8601 or epoch seconds)",
    "blob": "base64-encoded",
}


# ---------------------------------------------------------------------------- writing XML


def xml_text(value: str) -> str:
    """`value` as XML character data (escaped; CR kept; characters XML cannot carry replaced)."""
    if _NOT_XML.search(value):
        value = _NOT_XML.sub("\ufffd", value)
    return escape(value, _TEXT_ENTITIES)


class XmlValues:
    """Result values -> XML for the shapes of one model (query now; rest-xml shares the rules)."""

    def __init__(self, timestamp_format: str = "iso8601") -> None:
        self._ts_format = timestamp_format

    def element(self, out: list[str], tag: str, shape: Shape, value: Any) -> None:
        """Append `<tag>value</tag>` for `shape` (flattened lists and maps repeat `tag` instead)."""
        kind = shape.type_name
        if kind == "list" and shape.serialization.get("flattened"):
            for item in value:
                if item is not None:
                    self.element(out, tag, shape.member, item)
            return
        if kind == "map" and shape.serialization.get("flattened"):
            for k, v in value.items():
                if v is not None:
                    out.append(f"<{tag}>")
                    self._entry(out, shape, k, v)
                    out.append(f"</{tag}>")
            return
        out.append(f"<{tag}>")
        self.content(out, shape, value)
        out.append(f"</{tag}>")

    def content(self, out: list[str], shape: Shape, value: Any) -> None:
        """Append what goes inside the element of `shape` holding `value`."""
        kind = shape.type_name
        if kind == "structure":
            self.members(out, shape, value)
        elif kind == "list":
            member = shape.member
            tag = member.serialization.get("name", "member")
            for item in value:
                if item is not None:
                    self.element(out, tag, member, item)
        elif kind == "map":
            for k, v in value.items():
                if v is not None:
                    out.append("<entry>")
                    self._entry(out, shape, k, v)
                    out.append("</entry>")
        else:
            out.append(xml_text(self.scalar(shape, value)))

    def members(self, out: list[str], shape: Shape, value: Mapping[str, Any]) -> None:
        """Append the members of structure `shape` present in `value`, in the model's order."""
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                self.element(out, member_key(member, name), member, item)

    def _entry(self, out: list[str], shape: Shape, key: Any, value: Any) -> None:
        self.element(out, shape.key.serialization.get("name", "key"), shape.key, key)
        self.element(out, shape.value.serialization.get("name", "value"), shape.value, value)

    def scalar(self, shape: Shape, value: Any) -> str:
        """A scalar result value as XML text (before escaping)."""
        kind = shape.type_name
        if kind == "boolean":
            return "true" if value else "false"
        if kind == "timestamp":
            fmt = str(shape.serialization.get("timestampFormat", self._ts_format))
            if fmt.lower() == "iso8601" and not isinstance(value, str):
                dt = to_datetime(value)
                return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}Z"
            return str(format_timestamp(value, fmt))
        if kind == "blob":
            raw = value.encode() if isinstance(value, str) else bytes(value)
            return base64.b64encode(raw).decode("ascii")
        if kind in ("float", "double") and isinstance(value, float | int | Decimal):
            number = float(value)
            if number != number:
                return "NaN"
            if number in (float("inf"), float("-inf")):
                return "Infinity" if number > 0 else "-Infinity"
            return repr(number)
        return str(value)


# ---------------------------------------------------------------------------- the codec


def _content_type(headers: Mapping[str, str]) -> str:
    return (headers.get("content-type") or "").split(";", 1)[0].strip().lower()


class QueryCodec:
    """The query protocol for one service model."""

    def __init__(
        self,
        model: ServiceModel,
        implied_fields: Callable[[WireRequest, OperationModel], list[tuple[str, str]]] | None = None,
        unindexed: bool = False,
    ) -> None:
        """`implied_fields`, `unindexed`: a `QueryDialect`'s (the fields a request implies beyond its
        form; whether a flattened list or map may give its only item without an index)."""
        self.model = model
        self._implied = implied_fields
        meta = model.metadata
        self.api_version: str = meta["apiVersion"]
        self.namespace: str = meta.get("xmlNamespace") or (
            f"https://{meta['endpointPrefix']}.amazonaws.com/doc/{self.api_version}/"
        )
        self._ops: dict[str, OperationModel] = {
            name: model.operation_model(name) for name in model.operation_names
        }
        self._depths: dict[str, int] = {}
        self._errors = error_shapes(model)
        self._query_errors = QueryErrors(model)
        self._values = QueryValues(unindexed)
        self._xml = XmlValues()
        self._validator = Validator(model.service_name)
        # AWS's query services answer constraint failures as ValidationError unless they model one
        self._validation_code = (
            "ValidationException" if "ValidationException" in self._errors else "ValidationError"
        )

    # -- requests

    def _fields(self, req: WireRequest) -> list[tuple[str, str]] | None:
        """The request's form fields (query string, then body), or None if it is not a query request."""
        if req.method not in ("GET", "POST"):
            return None
        count = 0
        fields: list[tuple[str, str]] = []
        for key, values in req.query.items():
            count += len(values)
            if count > MAX_FIELDS:
                raise _Refused(f"The request has more than {MAX_FIELDS} parameters")
            fields.extend((key, v) for v in values)
        if req.method == "POST" and req.body:
            if _content_type(req.headers) != FORM_CONTENT_TYPE:
                return None
            try:
                text = req.body.decode("utf-8")
                fields.extend(
                    parse_qsl(
                        text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS - count
                    )
                )
            except UnicodeDecodeError as exc:
                raise MalformedInput("The request body is not UTF-8") from exc
            except ValueError as exc:
                raise _Refused(f"The request has more than {MAX_FIELDS} parameters") from exc
        return fields

    def _action(self, fields: list[tuple[str, str]]) -> tuple[str | None, str | None]:
        action = version = None
        for key, value in fields:
            if key == "Action":
                action = value
            elif key == "Version":
                version = value
        return action, version

    def _action_fields(self, req: WireRequest) -> list[tuple[str, str]] | None:
        """The request's fields, or just its Action and Version if it is too big or broken to read
        (parse() answers those with the right error); None if it is not a query request."""
        try:
            return self._fields(req)
        except (_Refused, MalformedInput):
            fields = [(k, v) for k, vs in req.query.items() if k in ("Action", "Version") for v in vs[:1]]
            if req.method == "POST" and _content_type(req.headers) == FORM_CONTENT_TYPE:
                text = req.body[:4096].decode("utf-8", "replace")
                fields += [(k, v) for k, v in _head_fields(text) if k in ("Action", "Version")]
            return fields

    def match(self, req: WireRequest) -> str | None:
        fields = self._action_fields(req)
        if fields is None:
            return None
        action, version = self._action(fields)
        if action in self._ops and version == self.api_version:
            return action
        return None

    def speaks(self, req: WireRequest) -> bool:
        """Whether `req` is a query request naming an Action, whichever action and version (an
        unknown one is answered InvalidAction, as AWS does)."""
        fields = self._action_fields(req)
        return fields is not None and self._action(fields)[0] is not None

    def parse(self, req: WireRequest) -> tuple[str, dict[str, Any]]:
        try:
            fields = self._fields(req)
        except MalformedInput as exc:
            raise self._malformed(str(exc)) from exc
        except _Refused as exc:
            raise self._refused(str(exc)) from exc
        if fields is None:
            raise self.unknown_operation_error(req)
        action, version = self._action(fields)
        if action not in self._ops or version != self.api_version:
            raise self._invalid_action(action, version)
        assert action is not None
        op = self._ops[action]
        if self._implied is not None:
            given = {key for key, _ in fields}
            fields += [(k, v) for k, v in self._implied(req, op) if k not in given]
        shape = op.input_shape
        params: dict[str, Any] = {}
        if shape is not None:
            depth = self._depths.get(action)
            if depth is None:
                depth = self._depths[action] = _max_depth(shape)
            try:
                tree = _tree(fields, depth)
                params = self._values.read_structure(shape, tree, "", 1)
            except MalformedInput as exc:
                raise self._malformed(str(exc)) from exc
            except _Refused as exc:
                raise self._refused(str(exc)) from exc
        try:
            self._validator.validate(shape, params)
        except ServiceError as exc:
            if exc.code == "ValidationException" and self._validation_code != exc.code:
                raise ServiceError(exc.message, code=self._validation_code, status=exc.status) from None
            raise
        return action, params

    def _malformed(self, message: str) -> ServiceError:
        return ServiceError(f"1 validation error detected: {message}", code=self._validation_code, status=400)

    def _refused(self, message: str) -> ServiceError:
        return ServiceError(message, code=self._validation_code, status=400)

    def _invalid_action(self, action: str | None, version: str | None) -> ServiceError:
        if not action:
            return ServiceError("Missing required parameter: Action", code="MissingAction", status=400)
        shown = action if len(action) <= 100 else action[:100] + "..."
        return ServiceError(
            f"Could not find operation {shown} for version {(version or 'NO_VERSION_SPECIFIED')[:40]}",
            code="InvalidAction",
            status=400,
        )

    def unknown_operation_error(self, req: WireRequest) -> ServiceError:
        try:
            fields = self._fields(req) or []
        except (_Refused, MalformedInput):
            fields = []
        return self._invalid_action(*self._action(fields))

    # -- responses

    def _document(self, root: str, inner: list[str]) -> bytes:
        return "".join([f"<{root} xmlns={quoteattr(self.namespace)}>", *inner, f"</{root}>"]).encode()

    def serialize(self, operation: str, result: Mapping[str, Any], request_id: str) -> WireResponse:
        op = self._ops[operation]
        shape = op.output_shape
        out: list[str] = []
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper")
            if wrapper:
                out.append(f"<{wrapper}>")
                self._xml.members(out, shape, result)
                out.append(f"</{wrapper}>")
            else:
                self._xml.members(out, shape, result)
        out.append(f"<ResponseMetadata><RequestId>{xml_text(request_id)}</RequestId></ResponseMetadata>")
        headers = {"x-amzn-RequestId": request_id, "Content-Type": XML_CONTENT_TYPE}
        return WireResponse(200, headers, self._document(f"{operation}Response", out))

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: str | None = None
    ) -> WireResponse:
        shape = self._errors.get(error.code)
        status = error_status(shape, error)
        code, sender = self._query_errors.code_and_fault(shape, error)
        out = ["<Error>", f"<Type>{'Sender' if sender else 'Receiver'}</Type>"]
        out.append(f"<Code>{xml_text(code)}</Code>")
        out.append(f"<Message>{xml_text(error.message)}</Message>")
        written = {"type", "code", "message"}
        if shape is not None:
            for name, member in shape.members.items():
                value = error.fields.get(name)
                if value is not None and name.lower() not in written:
                    self._xml.element(out, member_key(member, name), member, value)
                    written.add(name.lower())
        for name, value in error.fields.items():
            if value is not None and name.lower() not in written and _TAG.fullmatch(name):
                out.append(f"<{name}>{xml_text(str(value))}</{name}>")
        out.append("</Error>")
        out.append(f"<RequestId>{xml_text(request_id)}</RequestId>")
        headers = {"x-amzn-RequestId": request_id, "Content-Type": XML_CONTENT_TYPE}
        return WireResponse(status, headers, self._document("ErrorResponse", out))


def _head_fields(text: str) -> list[tuple[str, str]]:
    """The fields in the first few KiB of a form body, however long or broken the rest is."""
    return parse_qsl(text.rsplit("&", 1)[0] if len(text) >= 4096 else text, keep_blank_values=True)
