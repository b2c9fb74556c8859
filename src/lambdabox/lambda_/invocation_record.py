"""What an asynchronous invocation leaves behind for other services, in AWS's shapes: the
invocation record a destination receives, and the message attributes of a dead-letter message.

The record (Lambda developer guide, "Capturing records of Lambda asynchronous invocations"):
`version` "1.0", `timestamp` (ISO 8601, milliseconds, UTC), `requestContext` {requestId,
functionArn (as invoked, `:$LATEST` when unqualified), condition (Success, RetriesExhausted,
EventAgeExceeded), approximateInvokeCount}, `requestPayload` (the event), and when the function
ran, `responseContext` {statusCode, executedVersion, functionError (failures only)} and
`responsePayload` (what it returned). A dead-letter message is the event itself, unchanged, with
the attributes RequestID (String), ErrorCode (Number: the invocation's 3-digit status) and
ErrorMessage (String, at most 1 KB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SUCCESS, RETRIES_EXHAUSTED, EVENT_AGE_EXCEEDED = "Success", "RetriesExhausted", "EventAgeExceeded"
#: a dead-letter message's ErrorMessage is cut to this many bytes
ERROR_MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class AttemptResponse:
    """How the last attempt of an event answered (what `responseContext` reports)."""

    status_code: int
    executed_version: str
    function_error: str | None
    payload: bytes

    def to_row(self) -> dict[str, Any]:
        return {
            "status": self.status_code,
            "version": self.executed_version,
            "error": self.function_error,
            "payload": self.payload.decode("utf-8", "replace"),
        }

    @classmethod
    def from_row(cls, d: dict[str, Any]) -> AttemptResponse:
        return cls(int(d["status"]), str(d["version"]), d.get("error"), str(d["payload"]).encode())


def record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    request_payload: bytes,
    response: AttemptResponse | None,
    timestamp: float,
) -> bytes:
    """The invocation record, as JSON."""
    out: dict[str, Any] = {
        "version": "1.0",
        "timestamp": _iso(timestamp),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": _json_or_text(request_payload),
    }
    if response is not None:
        context: dict[str, Any] = {
            "statusCode": response.status_code,
            "executedVersion": response.executed_version,
        }
        if response.function_error and condition != SUCCESS:
            context["functionError"] = response.function_error
        out["responseContext"] = context
        out["responsePayload"] = _json_or_text(response.payload)
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode()


def dead_letter_attributes(request_id: str, response: AttemptResponse | None) -> dict[str, tuple[str, str]]:
    """RequestID, ErrorCode and ErrorMessage for a dead-letter message: the last attempt's status
    and error message (429 "Rate Exceeded." when the event never got to run)."""
    if response is None:
        code, message = 429, "Rate Exceeded."
    else:
        code, message = response.status_code, _error_message(response.payload)
    cut = message.encode()[:ERROR_MESSAGE_LIMIT].decode("utf-8", "ignore")
    return {
        "RequestID": ("String", request_id),
        "ErrorCode": ("Number", str(code)),
        "ErrorMessage": ("String", cut or "Unhandled"),
    }


def _error_message(payload: bytes) -> str:
    text = payload.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if isinstance(body, dict) and isinstance(body.get("errorMessage"), str):
        return str(body["errorMessage"])
    return text


def _json_or_text(payload: bytes) -> Any:
    if not payload.strip():
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"
