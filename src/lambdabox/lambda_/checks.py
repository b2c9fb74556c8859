"""Lambda's own checks of a request, worded as Lambda words them.

The protocol layer has checked every request against the model's constraints (names, lengths,
ranges, patterns, enums) before an operation runs; these are what Lambda itself judges: runtimes,
its tighter limits (Timeout 900, MemorySize and EphemeralStorage 10240, 4 KB of environment,
50 tags), payloads and client contexts.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from lambdabox.aws import tag_keys
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.aws.validation import failure, validation_error
from lambdabox.lambda_.invoker import RESERVED_ENV
from lambdabox.lambda_.runtime_catalog import BLOCKED, lambda_runtimes, runnable, runs

MAX_PAYLOAD = 6_291_456
MAX_CLIENT_CONTEXT = 3583
MAX_ENV_BYTES = 4096


def validation(value: Any, member: str, constraint: str) -> ServiceError:
    return validation_error([failure(value, member, constraint)])


def check_tag_count(tags: Mapping[str, str]) -> None:
    """At most 50 tags, none in AWS's reserved `aws:` space (aws/tag_keys.py)."""
    if tag_keys.reserved(tags) is not None:
        raise client_error(
            "InvalidParameterValueException", "Tag keys starting with 'aws:' are reserved for internal use."
        )
    if len(tags) > 50:
        raise client_error("InvalidParameterValueException", "Number of tags exceeds resource tag limit.")


def check_runtime(runtime: str) -> None:
    """Lambda's answer to a Runtime it does not accept (it checks the enum itself: a runtime may
    also be an ARN), then lambdabox's to one it accepts but does not run."""
    if runtime in BLOCKED:
        raise client_error(
            "InvalidParameterValueException",
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions.",
            Type="User",
        )
    if runtime.startswith("arn:"):
        raise client_error(
            "InvalidParameterValueException",
            f"lambdabox does not run customer-managed runtimes ({runtime}); it runs the runtimes "
            f"[{', '.join(runnable())}]",
            Type="User",
        )
    if runtime not in lambda_runtimes():
        raise client_error(
            "InvalidParameterValueException",
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(lambda_runtimes())}] or be a valid ARN",
            Type="User",
        )
    if not runs(runtime):
        raise client_error(
            "InvalidParameterValueException",
            f"lambdabox does not run {runtime} functions; it runs the runtimes [{', '.join(runnable())}]",
            Type="User",
        )


def check_timeout(timeout: int) -> None:
    """Lambda's limit where botocore's model allows more (5400; its minimum, 1, is checked before)."""
    if timeout > 900:
        raise validation(timeout, "timeout", "Member must have value less than or equal to 900")


def check_memory(memory: int | None, ephemeral: Mapping[str, Any] | None) -> None:
    """Lambda's limits where botocore's model allows more (it says 32768 for both)."""
    if memory is not None and int(memory) > 10240:
        raise validation(memory, "memorySize", "Member must have value less than or equal to 10240")
    size = (ephemeral or {}).get("Size")
    if size is not None and int(size) > 10240:
        raise validation(size, "ephemeralStorage.size", "Member must have value less than or equal to 10240")


def check_environment(env: Mapping[str, Any] | None) -> dict[str, str] | None:
    if env is None:
        return None
    variables = dict(env.get("Variables") or {})
    reserved = sorted(k for k in variables if k in RESERVED_ENV)
    if reserved:
        raise client_error(
            "InvalidParameterValueException",
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}",
        )
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > MAX_ENV_BYTES:
        raise client_error(
            "InvalidParameterValueException",
            "Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {measured}",
        )
    return {str(k): str(v) for k, v in variables.items()}


def variables_sent(env: Mapping[str, Any] | None) -> bool:
    """Whether Environment.Variables was sent: AWS then reports it, `{}` included."""
    return env is not None and env.get("Variables") is not None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}': not valid JSON")


#: one decoder for every payload (json.loads with an option builds one per call)
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def check_json(payload: bytes) -> None:
    try:  # what json.loads does with bytes: UTF-8, -16 or -32, told apart by their first bytes
        _DECODER.decode(payload.decode(json.detect_encoding(payload), "surrogatepass"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # (nested too deeply)
        raise client_error(
            "InvalidRequestContentException",
            f"Could not parse request body into json: Could not parse payload into json: {exc}",
            400,
            Type="User",
        ) from exc


def client_context(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_CLIENT_CONTEXT:
        raise client_error(
            "InvalidRequestContentException",
            f"Client context must be at most {MAX_CLIENT_CONTEXT} bytes of Base64-encoded JSON.",
            400,
        )
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
        parsed = json.loads(text)
        if not isinstance(parsed, dict):
            raise ValueError("not an object")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise client_error(
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
            400,
        ) from exc
    return text
