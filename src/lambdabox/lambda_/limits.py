"""Lambda's request size limits, as AWS's front end enforces them before an operation runs.

- Invoke, synchronous (RequestResponse, DryRun): 6 MB, "Request must be smaller than 6291456 bytes
  for the InvokeFunction operation" (RequestEntityTooLargeException, 413; AWS names the operation
  InvokeFunction here);
- Invoke, asynchronous (`X-Amz-Invocation-Type: Event`): 1 MB, "<n> byte payload is too large for
  the Event invocation type (limit 1048576 bytes)";
- CreateFunction and UpdateFunctionCode: 69,905,067 bytes of request (a 50 MB zip, base64-encoded
  in the JSON body), "Request must be smaller than 69905067 bytes for the CreateFunction operation";
- InvokeAsync (deprecated): 256 KB, worded like the other operations';
- every other operation: the edge's default.
"""

from __future__ import annotations

from collections.abc import Mapping

from lambdabox.aws.limits import RequestLimit, operation_limit

#: the synchronous invocation payload quota
SYNC_INVOKE = 6_291_456
#: the asynchronous invocation payload quota
ASYNC_INVOKE = 1_048_576
#: a CreateFunction or UpdateFunctionCode request: a 50 MB zip, base64-encoded, in JSON
CODE_REQUEST = 69_905_067
#: InvokeAsync's payload limit
INVOKE_ASYNC_ARGS = 262_144

_SYNC = operation_limit("InvokeFunction", SYNC_INVOKE)
_EVENT = RequestLimit(
    ASYNC_INVOKE, "{size} byte payload is too large for the Event invocation type (limit {limit} bytes)"
)
_OWN = {
    "CreateFunction": operation_limit("CreateFunction", CODE_REQUEST),
    "UpdateFunctionCode": operation_limit("UpdateFunctionCode", CODE_REQUEST),
    "InvokeAsync": operation_limit("InvokeAsync", INVOKE_ASYNC_ARGS),
}


def request_limit(operation: str | None, headers: Mapping[str, str]) -> RequestLimit:
    """The body limit of a Lambda request for `operation` (an `aws.limits.Limits`)."""
    if operation == "Invoke":
        return _EVENT if headers.get("X-Amz-Invocation-Type") == "Event" else _SYNC
    own = _OWN.get(operation) if operation is not None else None
    return own if own is not None else operation_limit(operation)
