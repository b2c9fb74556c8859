"""`/_lambdabox/faults`: inject faults into a function's invocations, list and delete them.

    POST   /_lambdabox/faults         {"function": …, "kind": …, …}  → 201, the fault (with its id)
    GET    /_lambdabox/faults         → 200 {"faults": [...]} (what is left of each count, expiry)
    GET    /_lambdabox/faults/<id>    → 200 the fault, 404 if there is none of that id
    DELETE /_lambdabox/faults         → 200 {"deleted": n}
    DELETE /_lambdabox/faults/<id>    → 200 {"deleted": 1}, 404 if there is none of that id

A bad request is answered 400 with `{"message": …}` saying what is wrong; a function (or its
qualifier) that does not exist 404 with Lambda's own message, as Invoke answers it. The book
and what a fault does are `lambda_/faults.py` and `lambda_/fault_runs.py`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from lambdabox.aws.arns import FunctionRef
from lambdabox.aws.errors import ServiceError
from lambdabox.edge import AdminEndpoint
from lambdabox.http_messages import BodyTooLarge, Request, Response, json_response
from lambdabox.lambda_.faults import (
    DEFAULT_ERROR_MESSAGE,
    DEFAULT_ERROR_TYPE,
    FaultBook,
    FaultKind,
    FaultSpec,
)

PREFIX = "/_lambdabox/faults"
#: the largest request body accepted
MAX_BODY = 64 * 1024
#: the longest latency a fault may add: Lambda's longest function timeout
MAX_LATENCY_MS = 900_000
#: the longest a fault may last (a year)
MAX_DURATION_SECONDS = 366 * 86_400
FIELDS = (
    "function",
    "kind",
    "errorType",
    "errorMessage",
    "latencyMs",
    "probability",
    "count",
    "durationSeconds",
)
_KINDS = ", ".join(k.value for k in FaultKind)

#: what a fault's `function` names, or a ServiceError (ResourceNotFoundException) for nothing
ResolveFunction = Callable[[str], FunctionRef]


class BadRequest(Exception):
    """The request is refused: `message` says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def faults_endpoint(book: FaultBook, resolve: ResolveFunction) -> AdminEndpoint:
    """The endpoint over `book`; `resolve` reads a fault's function (and checks it exists)."""

    async def endpoint(request: Request) -> Response:
        rest = request.path[len(PREFIX) :]
        try:
            if rest in ("", "/"):
                return await _collection(book, resolve, request)
            if rest.startswith("/") and "/" not in rest[1:].rstrip("/"):
                return _one(book, request, rest[1:].rstrip("/"))
            raise BadRequest(f"no such endpoint: {request.path}", 404)
        except BadRequest as bad:
            return json_response({"message": bad.message}, status=bad.status)

    return endpoint


async def _collection(book: FaultBook, resolve: ResolveFunction, request: Request) -> Response:
    if request.method == "GET":
        now = book.clock.now()
        return json_response({"faults": [f.to_json(now) for f in book.faults()]})
    if request.method == "DELETE":
        return json_response({"deleted": book.clear()})
    if request.method == "POST":
        try:
            body = await request.read(MAX_BODY)
        except BodyTooLarge as exc:
            raise BadRequest(f"the request body must be at most {MAX_BODY} bytes", 413) from exc
        spec = parse_spec(_json_object(body), resolve)
        fault = book.add(spec)
        return json_response(fault.to_json(book.clock.now()), status=201)
    return _not_allowed(request, "GET, POST, DELETE")


def _one(book: FaultBook, request: Request, fault_id: str) -> Response:
    if request.method not in ("GET", "DELETE"):
        return _not_allowed(request, "GET, DELETE")
    fault = book.get(fault_id)
    if fault is None:
        raise BadRequest(f"no fault with id {fault_id!r}", 404)
    if request.method == "GET":
        return json_response(fault.to_json(book.clock.now()))
    book.remove(fault_id)
    return json_response({"deleted": 1})


def _not_allowed(request: Request, allow: str) -> Response:
    body = json.dumps({"message": f"method {request.method} not allowed here (allowed: {allow})"})
    headers = {"Content-Type": "application/json; charset=utf-8", "Allow": allow}
    return Response(405, headers, body.encode())


def _json_object(body: bytes) -> dict[str, Any]:
    def refuse_constant(name: str) -> None:
        raise ValueError(f"{name} is not a JSON number")

    try:
        data = json.loads(body, parse_constant=refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # (nested too deeply)
        raise BadRequest(f"the request body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def parse_spec(data: dict[str, Any], resolve: ResolveFunction) -> FaultSpec:
    """The fault a POST body asks for, or BadRequest saying what is wrong with it."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)} (known: {', '.join(FIELDS)})")
    function = data.get("function")
    if not isinstance(function, str) or not function:
        raise BadRequest("function is required: a function name or ARN, maybe qualified (name:alias)")
    kind_name = data.get("kind")
    if not isinstance(kind_name, str) or kind_name not in {k.value for k in FaultKind}:
        raise BadRequest(f"kind must be one of {_KINDS}, not {json.dumps(kind_name)}")
    kind = FaultKind(kind_name)
    for name in ("errorType", "errorMessage"):
        if name in data and kind is not FaultKind.ERROR:
            raise BadRequest(f"{name} applies to kind error only")
        if name in data and not isinstance(data[name], str):
            raise BadRequest(f"{name} must be a string")
    if data.get("errorType") == "":
        raise BadRequest("errorType must not be empty")
    if "latencyMs" in data and kind is not FaultKind.LATENCY:
        raise BadRequest("latencyMs applies to kind latency only")
    if kind is FaultKind.LATENCY and "latencyMs" not in data:
        raise BadRequest("latencyMs is required for kind latency")
    latency = _number(data, "latencyMs", 0.0)
    if not 0 <= latency <= MAX_LATENCY_MS:
        raise BadRequest(f"latencyMs must be between 0 and {MAX_LATENCY_MS}")
    probability = _number(data, "probability", 1.0)
    if not 0 <= probability <= 1:
        raise BadRequest("probability must be between 0 and 1")
    count = data.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise BadRequest("count must be a positive integer (how many invocations the fault hits)")
    duration: float | None = None
    if data.get("durationSeconds") is not None:
        duration = _number(data, "durationSeconds", 0.0)
        if not 0 < duration <= MAX_DURATION_SECONDS:
            raise BadRequest(
                f"durationSeconds must be a positive number of at most {MAX_DURATION_SECONDS} "
                "(how long the fault lasts)"
            )
    ref = _resolve(resolve, function)
    assert ref.region is not None and ref.account is not None
    return FaultSpec(
        region=ref.region,
        account=ref.account,
        function=ref.name,
        qualifier=ref.qualifier,
        kind=kind,
        error_type=data.get("errorType", DEFAULT_ERROR_TYPE),
        error_message=data.get("errorMessage", DEFAULT_ERROR_MESSAGE),
        latency_ms=latency,
        probability=probability,
        count=count,
        duration_seconds=duration,
    )


def _number(data: dict[str, Any], name: str, default: float) -> float:
    value = data.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{name} must be a number")
    try:
        number = float(value)  # an integer too large for a float overflows
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise BadRequest(f"{name} must be a finite number")
    return number


def _resolve(resolve: ResolveFunction, function: str) -> FunctionRef:
    try:
        return resolve(function)
    except ServiceError as err:
        raise BadRequest(err.message, err.status) from err
