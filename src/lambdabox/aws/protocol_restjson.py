"""The AWS rest-json protocol (e.g. Lambda): HTTP method + URI template routing, members in the
URI, query string, headers, a raw payload or a JSON body; errors with `x-amzn-ErrorType`.

Routing is a trie over path segments built once from every operation's `requestUri`: literal
segments first, then `{Label}` (one segment), then `{Label+}` (the rest of the path); literal
query parts of a template (`?versions`, `?List=ALL`) must be present, and the most specific
template wins. Labels are matched on the raw path and percent-decoded afterwards, so an encoded
`/` (%2F) stays inside its label.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape

from lambdabox.aws.errors import ServiceError, UnknownOperationError
from lambdabox.aws.event_stream import encode_events, stream_member
from lambdabox.aws.protocol import WireRequest, WireResponse
from lambdabox.aws.protocol_json import (
    UNKNOWN_OPERATION_BODY,
    JsonValues,
    MalformedInput,
    dump_json,
    error_members,
    error_shapes,
    error_status,
    format_timestamp,
    load_json,
    load_json_object,
    parse_timestamp,
)
from lambdabox.aws.validation import Validator

_LABEL = re.compile(r"\{([^{}+]+)\}")
_GREEDY = re.compile(r"\{([^{}+]+)\+\}")
_INT = re.compile(r"[+-]?\d+")
_BOOL = {"true": True, "false": False}
_NO_BODY_STATUS = frozenset({204, 304})


# ---------------------------------------------------------------------------- routing


@dataclass(slots=True)
class _Route:
    operation: str
    labels: tuple[str, ...]  # label names in path order
    query: tuple[tuple[str, str | None], ...]  # literal query parts: (key, value or None)

    def accepts(self, query: Mapping[str, list[str]]) -> bool:
        for key, value in self.query:
            values = query.get(key)
            if values is None or (value is not None and value not in values):
                return False
        return True


@dataclass(slots=True)
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    patterns: dict[str, tuple[re.Pattern[str], _Node]] = field(default_factory=dict)
    label: _Node | None = None
    greedy: _Node | None = None
    routes: list[_Route] = field(default_factory=list)


def _segments(path: str) -> list[str]:
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []


#: at most this many remembered routes (then forgotten all at once, and learnt again)
_SEEN_MAX = 4096


class Router:
    """(method, raw path, query) -> (operation, raw label values), most specific template first."""

    def __init__(self, operations: Sequence[OperationModel]) -> None:
        self._roots: dict[str, _Node] = {}
        #: answers for requests without a query string (most of them), by (method, path): a
        #: client calling the same operation on the same resource is routed once
        self._seen: dict[tuple[str, str], tuple[_Route, list[str]] | None] = {}
        for op in operations:
            self._add(op.http.get("method", "POST"), op.http.get("requestUri", "/"), op.name)

    def _add(self, method: str, uri: str, operation: str) -> None:
        path, _, query = uri.partition("?")
        node = self._roots.setdefault(method.upper(), _Node())
        labels: list[str] = []
        for seg in _segments(path):
            if m := _GREEDY.fullmatch(seg):
                node.greedy = node.greedy or _Node()
                node = node.greedy
                labels.append(m.group(1))
            elif m := _LABEL.fullmatch(seg):
                node.label = node.label or _Node()
                node = node.label
                labels.append(m.group(1))
            elif "{" in seg:  # literal text around labels inside one segment
                if seg not in node.patterns:
                    parts = re.split(r"(\{[^{}]+\})", seg)
                    rx = "".join("(.+)" if p.startswith("{") else re.escape(p) for p in parts)
                    node.patterns[seg] = (re.compile(rx), _Node())
                labels.extend(p.strip("{}+") for p in parts if p.startswith("{"))
                node = node.patterns[seg][1]
            else:
                node = node.literal.setdefault(seg, _Node())
        literals = tuple(
            (k, v if sep else None)
            for k, sep, v in (part.partition("=") for part in query.split("&") if part)
        )
        node.routes.append(_Route(operation, tuple(labels), literals))
        node.routes.sort(key=lambda r: -len(r.query))

    def route(
        self, method: str, path: str, query: Mapping[str, list[str]]
    ) -> tuple[_Route, list[str]] | None:
        if not query:
            key = (method, path)
            if key in self._seen:
                return self._seen[key]
            if len(self._seen) >= _SEEN_MAX:
                self._seen.clear()
            found = self._seen[key] = self._route(method, path, query)
            return found
        return self._route(method, path, query)

    def _route(
        self, method: str, path: str, query: Mapping[str, list[str]]
    ) -> tuple[_Route, list[str]] | None:
        root = self._roots.get(method.upper())
        if root is None:
            return None
        return self._walk(root, _segments(path), 0, [], query)

    def _walk(
        self, node: _Node, segs: list[str], i: int, caps: list[str], query: Mapping[str, list[str]]
    ) -> tuple[_Route, list[str]] | None:
        if i == len(segs):
            for route in node.routes:
                if route.accepts(query):
                    return route, caps
            return None
        seg = segs[i]
        child = node.literal.get(seg)
        if child is not None and (found := self._walk(child, segs, i + 1, caps, query)):
            return found
        for rx, sub in node.patterns.values():
            if (m := rx.fullmatch(seg)) and (
                found := self._walk(sub, segs, i + 1, [*caps, *m.groups()], query)
            ):
                return found
        if (
            node.label is not None
            and seg
            and (found := self._walk(node.label, segs, i + 1, [*caps, seg], query))
        ):
            return found
        if node.greedy is not None:
            for j in range(len(segs), i, -1):
                rest = "/".join(segs[i:j])
                if found := self._walk(node.greedy, segs, j, [*caps, rest], query):
                    return found
        return None


# ---------------------------------------------------------------------------- text values


def _from_text(shape: Shape, text: str) -> Any:
    """A URI, query or header string as the member's type; raises MalformedInput."""
    kind = shape.type_name
    if kind == "string":
        return text
    if kind in ("integer", "long"):
        if _INT.fullmatch(text.strip()):
            return int(text)
    elif kind == "boolean":
        flag = _BOOL.get(text.strip().lower())
        if flag is not None:
            return flag
    elif kind in ("double", "float"):
        try:
            return float(text)
        except ValueError:
            pass
    elif kind == "timestamp":
        return parse_timestamp(text)
    elif kind == "blob":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
    else:
        return text
    raise MalformedInput(f"Unable to parse '{text}' as {kind}")


def _header_text(text: str) -> str:
    """A header value as text: bytes that are not UTF-8 (which the HTTP parser hands over as lone
    surrogates, `surrogateescape`) become U+FFFD, as in the query string."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _split_header_list(text: str) -> list[str]:
    """`a, "b,c", d` -> ['a', 'b,c', 'd'] (RFC 7230 list, quoted strings unescaped)."""
    items: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            buf.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
    items.append("".join(buf).strip())
    return items


def _from_header(shape: Shape, text: str) -> Any:
    kind = shape.type_name
    if kind == "string":
        if shape.serialization.get("jsonvalue"):
            try:
                return load_json(base64.b64decode(text))
            except (binascii.Error, ValueError, MalformedInput) as exc:
                raise MalformedInput(f"Header value is not base64-encoded JSON: {exc}") from exc
        return text
    if kind == "list":
        return [_from_header(shape.member, item) for item in _split_header_list(text)]
    return _from_text(shape, text)


def _to_header(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "string":
        if shape.serialization.get("jsonvalue"):
            return base64.b64encode(dump_json(value)).decode("ascii")
        return str(value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return str(format_timestamp(value, shape.serialization.get("timestampFormat", "rfc822")))
    if kind == "list":
        member = shape.member
        texts = (_to_header(member, v) for v in value if v is not None)
        return ",".join(
            f'"{t.replace(chr(34), chr(92) + chr(34))}"' if '"' in t or "," in t else t for t in texts
        )
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    return str(value)


# ---------------------------------------------------------------------------- per-operation plans

_Located = tuple[str, str, Shape]  # (member name, wire name, shape)


@dataclass(frozen=True, slots=True)
class _InputPlan:
    shape: Shape | None
    uri: dict[str, tuple[str, Shape]]  # label -> (member, shape)
    query: tuple[_Located, ...]
    query_map: tuple[str, Shape] | None
    headers: tuple[_Located, ...]  # wire name lowercased
    header_maps: tuple[_Located, ...]  # wire name = lowercased prefix
    payload: tuple[str, Shape] | None
    has_body: bool


@dataclass(frozen=True, slots=True)
class _OutputPlan:
    shape: Shape | None
    status: int
    headers: tuple[_Located, ...]
    header_maps: tuple[_Located, ...]
    status_member: str | None
    payload: tuple[str, Shape] | None
    body_names: frozenset[str]
    sets_content_type: bool
    event_stream: tuple[str, Shape] | None  # the event-stream member


def _located(shape: Shape | None, location: str) -> tuple[_Located, ...]:
    if shape is None:
        return ()
    return tuple(
        (name, m.serialization.get("name", name), m)
        for name, m in shape.members.items()
        if m.serialization.get("location") == location
    )


def _payload(shape: Shape | None) -> tuple[str, Shape] | None:
    name = shape.serialization.get("payload") if shape is not None else None
    return (name, shape.members[name]) if shape is not None and name else None


def _body_names(shape: Shape | None) -> frozenset[str]:
    if shape is None or shape.serialization.get("payload"):
        return frozenset()
    return frozenset(n for n, m in shape.members.items() if "location" not in m.serialization)


def _input_plan(op: OperationModel) -> _InputPlan:
    shape = op.input_shape
    query_maps = [(n, m) for n, _, m in _located(shape, "querystring") if m.type_name == "map"]
    return _InputPlan(
        shape=shape,
        uri={wire: (name, m) for name, wire, m in _located(shape, "uri")},
        query=tuple(q for q in _located(shape, "querystring") if q[2].type_name != "map"),
        query_map=query_maps[0] if query_maps else None,
        headers=tuple((n, w.lower(), m) for n, w, m in _located(shape, "header")),
        header_maps=tuple((n, w.lower(), m) for n, w, m in _located(shape, "headers")),
        payload=_payload(shape),
        has_body=bool(_body_names(shape)),
    )


def _output_plan(op: OperationModel) -> _OutputPlan:
    shape = op.output_shape
    headers = _located(shape, "header")
    status = [n for n, _, _ in _located(shape, "statusCode")]
    return _OutputPlan(
        shape=shape,
        status=int(op.http.get("responseCode", 200)),
        headers=headers,
        header_maps=_located(shape, "headers"),
        status_member=status[0] if status else None,
        payload=_payload(shape),
        body_names=_body_names(shape),
        sets_content_type=any(w.lower() == "content-type" for _, w, _ in headers),
        event_stream=stream_member(shape),
    )


# ---------------------------------------------------------------------------- the codec


class RestJsonCodec:
    """The rest-json protocol for one service model."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self._ops: dict[str, OperationModel] = {
            name: model.operation_model(name) for name in model.operation_names
        }
        self._router = Router(list(self._ops.values()))
        self._inputs: dict[str, _InputPlan] = {}
        self._outputs: dict[str, _OutputPlan] = {}
        self._errors = error_shapes(model)
        self._values = JsonValues()
        self._validator = Validator(model.service_name)
        # what this service answers to content it cannot read (Lambda models its own code)
        self._bad_content_code = (
            "InvalidRequestContentException"
            if "InvalidRequestContentException" in self._errors
            else "SerializationException"
        )
        # constraint failures: a ValidationException where the service models one, else its own
        # client error (API Gateway's BadRequestException), so the SDK's modeled class catches it
        self._validation_code = (
            "ValidationException"
            if "ValidationException" in self._errors or "BadRequestException" not in self._errors
            else "BadRequestException"
        )

    def match(self, req: WireRequest) -> str | None:
        found = self._router.route(req.method, req.path, req.query)
        return found[0].operation if found else None

    def parse(self, req: WireRequest) -> tuple[str, dict[str, Any]]:
        found = self._router.route(req.method, req.path, req.query)
        if found is None:
            raise self.unknown_operation_error(req)
        route, caps = found
        plan = self._inputs.get(route.operation)
        if plan is None:
            plan = self._inputs[route.operation] = _input_plan(self._ops[route.operation])
        params: dict[str, Any] = {}
        try:
            self._read_uri(plan, route, caps, params)
            if plan.query or plan.query_map:
                self._read_query(plan, route, req.query, params)
            if plan.headers or plan.header_maps:
                self._read_headers(plan, req.headers, params)
        except MalformedInput as exc:
            raise self._bad_content(str(exc)) from exc
        try:
            if plan.payload is not None:
                self._read_payload(plan.payload, req.body, params)
            elif plan.has_body and plan.shape is not None:
                self._values.decode_members(plan.shape, load_json_object(req.body), params)
        except MalformedInput as exc:
            raise self._bad_content(f"Could not parse request body into json: {exc}") from exc
        try:
            self._validator.validate(plan.shape, params)
        except ServiceError as exc:
            if exc.code == "ValidationException" and self._validation_code != exc.code:
                raise ServiceError(exc.message, code=self._validation_code, status=exc.status) from None
            raise
        return route.operation, params

    def _bad_content(self, message: str) -> ServiceError:
        return ServiceError(message, code=self._bad_content_code, status=400, sender_fault=True)

    @staticmethod
    def _read_uri(plan: _InputPlan, route: _Route, caps: list[str], params: dict[str, Any]) -> None:
        for label, raw in zip(route.labels, caps, strict=True):
            entry = plan.uri.get(label)
            if entry is not None:
                text = unquote(raw) if "%" in raw else raw
                params[entry[0]] = text if entry[1].type_name == "string" else _from_text(entry[1], text)

    @staticmethod
    def _read_query(
        plan: _InputPlan, route: _Route, query: Mapping[str, list[str]], params: dict[str, Any]
    ) -> None:
        for name, key, shape in plan.query:
            values = query.get(key)
            if values:
                if shape.type_name == "list":
                    params[name] = [_from_text(shape.member, v) for v in values]
                else:
                    params[name] = _from_text(shape, values[0])
        if plan.query_map is not None:
            name, shape = plan.query_map
            claimed = {key for _, key, _ in plan.query} | {key for key, _ in route.query}
            value_shape = shape.value
            rest = {k: v for k, v in query.items() if k not in claimed and v}
            if rest:
                if value_shape.type_name == "list":
                    params[name] = {
                        k: [_from_text(value_shape.member, x) for x in v] for k, v in rest.items()
                    }
                else:
                    params[name] = {k: _from_text(value_shape, v[0]) for k, v in rest.items()}

    @staticmethod
    def _read_headers(plan: _InputPlan, headers: Mapping[str, str], params: dict[str, Any]) -> None:
        for name, lname, shape in plan.headers:
            text = headers.get(lname)
            if text is not None:
                params[name] = _from_header(shape, _header_text(text))
        for name, prefix, _ in plan.header_maps:
            found = {
                _header_text(k[len(prefix) :]): _header_text(v)
                for k, v in headers.items()
                if k.lower().startswith(prefix)
            }
            if found:
                params[name] = found

    def _read_payload(self, payload: tuple[str, Shape], body: bytes, params: dict[str, Any]) -> None:
        name, shape = payload
        if not body:
            return
        if shape.type_name == "blob":
            params[name] = body
        elif shape.type_name == "string":
            try:
                params[name] = body.decode()
            except UnicodeDecodeError as exc:
                raise MalformedInput(f"Request body is not UTF-8: {exc}") from exc
        else:
            data = load_json(body)
            if data is not None:
                params[name] = self._values.decode(shape, data)

    def serialize(self, operation: str, result: Mapping[str, Any], request_id: str) -> WireResponse:
        plan = self._outputs.get(operation)
        if plan is None:
            plan = self._outputs[operation] = _output_plan(self._ops[operation])
        headers = {"x-amzn-RequestId": request_id}
        status = plan.status
        for name, wire, shape in plan.headers:
            value = result.get(name)
            if value is not None:
                headers[wire] = _to_header(shape, value)
        for name, prefix, _ in plan.header_maps:
            for key, value in (result.get(name) or {}).items():
                headers[prefix + key] = str(value)
        if plan.status_member is not None and (code := result.get(plan.status_member)) is not None:
            status = int(code)
        body = b""
        if status in _NO_BODY_STATUS:
            pass
        elif plan.event_stream is not None and (events := result.get(plan.event_stream[0])) is not None:
            union = plan.event_stream[1]
            stream = encode_events(union, events, self._event_members)
            headers.setdefault("Content-Type", "application/vnd.amazon.eventstream")
            return WireResponse(status, headers, b"", stream=stream)
        elif plan.payload is not None:
            name, shape = plan.payload
            value = result.get(name)
            if value is not None:
                if shape.type_name in ("blob", "string"):
                    body = value.encode() if isinstance(value, str) else bytes(value)
                else:
                    body = dump_json(self._values.encode(shape, value))
        elif plan.body_names and plan.shape is not None:
            body = dump_json(self._values.encode_members(plan.shape, result, plan.body_names))
        if body and not plan.sets_content_type:
            headers["Content-Type"] = "application/json"
        return WireResponse(status, headers, body)

    def _event_members(self, shape: Shape, members: Mapping[str, Any]) -> dict[str, Any]:
        return self._values.encode_members(shape, members, frozenset(shape.members))

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: str | None = None
    ) -> WireResponse:
        shape = self._errors.get(error.code)
        status = error_status(shape, error)
        if shape is None and error.code == UnknownOperationError.code and status == 404:
            return WireResponse(404, {"x-amzn-RequestId": request_id}, UNKNOWN_OPERATION_BODY)
        headers = {
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": error.code,
            "Content-Type": "application/json",
        }
        if shape is not None:
            body, located = error_members(shape, error, self._values)
            if not any(k.lower() == "message" for k in body):
                body["message"] = error.message
            for name, value in located.items():
                member = shape.members[name]
                if member.serialization.get("location") == "header":
                    headers[member.serialization.get("name", name)] = _to_header(member, value)
        else:
            body = {"Type": error.type, "message": error.message}
            body.update((k, v) for k, v in error.fields.items() if v is not None)
        return WireResponse(status, headers, dump_json(body))

    def unknown_operation_error(self, req: WireRequest) -> ServiceError:
        return UnknownOperationError(f"No operation matches {req.method} {req.path}", status=404)
