"""What AWS's Python runtime shows user code and the platform, in the same shapes.

The ``context`` object, events and results as JSON, the ``Runtime.*`` faults and error documents, the
root logging handler and the text/JSON log record formats on stdout. Part of lambdabox's Python runtime
client (``bootstrap_python.py`` loads it by file path, under this private name, before user code runs;
it is never on ``sys.path``). Standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

    ErrorDoc = dict[str, Any]

# The files of the runtime client itself, whose leading frames tracebacks of user errors leave out. This
# module's own frames carry this name however it was loaded; the entry script adds its own.
RUNTIME_FILES = {sys._getframe().f_code.co_filename}

# How AWS's runtime writes an error record to a plain stdout: the lines of one record joined by CR, so
# that a reader splitting on LF keeps it as one log event, and each line's leading spaces turned into
# NO-BREAK SPACEs.
_RECORD_LINE_JOIN = "\r"
_RECORD_INDENT = "\u00a0"

_TEXT_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
_TEXT_LOG_DATEFMT = "%Y-%m-%dT%H:%M:%S"
_JSON_LOG_DATEFMT = "%Y-%m-%dT%H:%M:%SZ"
# LogRecord attributes that JSON log records do not copy as extra keys.
_RESERVED_RECORD_KEYS = frozenset(
    (
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
        "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
        "threadName", "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
    )
)  # fmt: skip


class Fault(Exception):
    """A failure the runtime itself detects, reported with one of AWS's ``Runtime.*`` error types."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


# ---------------------------------------------------------------------------------------------------
# The context object handed to the handler


class CognitoIdentity:
    """``context.identity``: the Amazon Cognito identity that authorised the request, if any."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity: dict[str, Any] | None) -> None:
        identity = identity or {}
        self.cognito_identity_id = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    """``context.client_context.client``: the mobile client application that invoked."""

    FIELDS = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")
    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __init__(self, client: dict[str, Any]) -> None:
        for name in self.FIELDS:
            setattr(self, name, client.get(name))

    def __repr__(self) -> str:
        fields = ",".join(f"{name}={getattr(self, name)}" for name in self.FIELDS)
        return f"{type(self).__name__}([{fields}])"


class ClientContext:
    """``context.client_context``: what the invoking client sent in its ClientContext."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, context: dict[str, Any]) -> None:
        self.custom = context.get("custom")
        self.env = context.get("env")
        client = context.get("client")
        self.client = None if client is None else Client(client)

    def __repr__(self) -> str:
        return f"{type(self).__name__}([custom={self.custom},env={self.env},client={self.client}])"


_W3C_FIELDS = ("traceparent", "tracestate", "baggage")


def _parse_json_header(value: str, name: str) -> Any:
    try:
        return json.loads(value)
    except Exception as exc:
        raise Fault("Runtime.LambdaContextUnmarshalError", f"Unable to parse {name} JSON: {exc}") from None


class LambdaContext:
    """The ``context`` argument: the same attributes and methods as AWS's Python ``LambdaContext``."""

    # Values from the environment, read once at start-up.
    _function_name: str | None = None
    _function_version: str | None = None
    _memory_limit_in_mb: str | None = None
    _log_group_name: str | None = None
    _log_stream_name: str | None = None

    def __init__(
        self,
        request_id: str,
        client_context_json: str | None,
        cognito_identity_json: str | None,
        deadline_ms: int,
        invoked_function_arn: str | None,
        tenant_id: str | None,
    ) -> None:
        self.aws_request_id = request_id
        self.log_group_name = self._log_group_name
        self.log_stream_name = self._log_stream_name
        self.function_name = self._function_name
        self.memory_limit_in_mb = self._memory_limit_in_mb
        self.function_version = self._function_version
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self._epoch_deadline_time_in_ms = deadline_ms
        self._w3c_fields: dict[str, str] = {}
        self.client_context: ClientContext | None = None
        if client_context_json:
            client_context = _parse_json_header(client_context_json, "Client Context")
            if isinstance(client_context, dict) and "w3c" in client_context:
                w3c = client_context.pop("w3c")
                if isinstance(w3c, dict):
                    for key in _W3C_FIELDS:
                        value = w3c.get(key)
                        if isinstance(value, str):
                            self._w3c_fields[key] = value
            if client_context is not None:
                self.client_context = ClientContext(client_context)
        identity = None
        if cognito_identity_json:
            identity = _parse_json_header(cognito_identity_json, "Cognito Identity")
        self.identity = CognitoIdentity(identity)

    @classmethod
    def read_environment(cls) -> None:
        env = os.environ
        cls._function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        cls._function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        # A string, as on AWS (the environment variable's value, not an int).
        cls._memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        cls._log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        cls._log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")

    def get_remaining_time_in_millis(self) -> int:
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def w3c(self) -> dict[str, str]:
        """The W3C trace context (traceparent, tracestate, baggage) the invoker sent, if any."""
        return dict(self._w3c_fields)

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},identity={self.identity},tenant_id={self.tenant_id}])"
        )


# ---------------------------------------------------------------------------------------------------
# JSON in and out


class ResponseEncoder(json.JSONEncoder):
    """JSON for responses and error documents, as AWS's runtime writes them.

    Like AWS (which uses simplejson), ``decimal.Decimal`` values are written as the exact number they
    hold, and NaN/Infinity are allowed. The standard library cannot emit raw JSON from ``default``, so
    a Decimal is first written as a marker string and the marker then replaced.
    """

    def __init__(self, ensure_ascii: bool) -> None:
        super().__init__(ensure_ascii=ensure_ascii, allow_nan=True)
        self._token = os.urandom(6).hex()
        self._raw: list[str] = []

    def default(self, o: Any) -> Any:
        decimal = sys.modules.get("decimal")
        if decimal is not None and isinstance(o, decimal.Decimal):
            if o.is_nan():
                return float("nan")
            self._raw.append(str(o))
            return f"\x00{self._token}-{len(self._raw) - 1}\x00"
        return super().default(o)

    def encode(self, o: Any) -> str:
        self._raw = []
        text = super().encode(o)
        if self._raw:
            for index, raw in enumerate(self._raw):
                text = text.replace(f'"\\u0000{self._token}-{index}\\u0000"', raw, 1)
            self._raw = []
        return text


def _media_type(content_type: str | None) -> str:
    return "application/json" if content_type is None else content_type.split(";", 1)[0].strip().lower()


def unmarshal_event(body: bytes | bytearray, content_type: str | None) -> Any:
    if content_type is not None and _media_type(content_type) != "application/json":
        return bytes(body)
    try:
        return json.loads(body)
    except Exception as exc:
        raise Fault("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from None


def marshal_result(encoder: ResponseEncoder, result: Any) -> tuple[bytes, str]:
    if isinstance(result, bytes):
        return result, "application/unknown"
    try:
        return encoder.encode(result).encode("utf-8"), "application/json"
    except Exception as exc:
        raise Fault("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None


# ---------------------------------------------------------------------------------------------------
# Errors and log records


def error_document(
    message: str | None, error_type: str | None, trace: list[str] | None, request_id: str | None = None
) -> ErrorDoc:
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": trace or [],
    }


def _user_frames(tb: TracebackType | None) -> list[tuple[str, int, str, str]]:
    """The traceback's frames as (file, line, function, code), less this runtime's own leading frames."""
    import traceback

    frames = [(f.filename, f.lineno or 0, f.name, f.line or "") for f in traceback.extract_tb(tb)]
    for index, frame in enumerate(frames):
        if frame[0] not in RUNTIME_FILES:
            return frames[index:]
    return frames


def describe_exception(exc: BaseException, request_id: str | None) -> ErrorDoc:
    """AWS's error document for an exception raised by user code (or by the import of its module)."""
    import traceback

    frames = _user_frames(exc.__traceback__)
    return error_document(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


class LogState:
    """What log records of the moment carry: the current invocation's request and tenant ids."""

    def __init__(self) -> None:
        self.request_id = ""
        self.tenant_id: str | None = None


class StdoutLogHandler(logging.Handler):
    """The root logger's handler on AWS: every record formatted onto stdout."""

    def emit(self, record: logging.LogRecord) -> None:
        # one record is one log event: its inner line breaks travel as \r (as AWS's runtime does)
        sys.stdout.write(self.format(record).rstrip("\n").replace("\n", "\r") + "\n")


class RequestIdFilter(logging.Filter):
    """Stamps records with the current request id (``%(aws_request_id)s``) and tenant id."""

    def __init__(self, state: LogState) -> None:
        super().__init__()
        self._state = state

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self._state.request_id
        record.tenant_id = self._state.tenant_id
        return True


class JsonLogFormatter(logging.Formatter):
    """AWS's JSON log format (``LoggingConfig.LogFormat = JSON``): one JSON object per record."""

    def __init__(self) -> None:
        super().__init__(datefmt=_JSON_LOG_DATEFMT)
        self._encoder = json.JSONEncoder(ensure_ascii=False, default=str)

    def format(self, record: logging.LogRecord) -> str:
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc_info = record.exc_info if record.exc_info and record.exc_info[0] is not None else None
        message = record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage()
        out: dict[str, Any] = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": message,
            "logger": record.name,
        }
        if exc_info is not None:
            import traceback

            out["stackTrace"] = traceback.format_tb(exc_info[2])
            out["errorType"] = exc_info[0].__name__ if exc_info[0] is not None else None
            out["errorMessage"] = str(exc_info[1])
        out["requestId"] = getattr(record, "aws_request_id", None)
        if exc_info is not None:
            out["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        tenant_id = getattr(record, "tenant_id", None)
        if tenant_id is not None:
            out["tenantId"] = tenant_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED_RECORD_KEYS and key not in out:
                out[key] = value
        return self._encoder.encode({k: v for k, v in out.items() if v is not None}) + "\n"


def _indent_with_nbsp(line: str) -> str:
    stripped = line.lstrip(" ")
    return _RECORD_INDENT * (len(line) - len(stripped)) + stripped


class ErrorLog:
    """Writes AWS's ``[ERROR]`` record for an error document to stdout, in one write."""

    def __init__(self, json_format: bool, encoder: ResponseEncoder) -> None:
        self._json_format = json_format
        self.encoder = encoder

    def format(self, doc: ErrorDoc) -> str:
        if self._json_format:
            stamp = time.strftime(_JSON_LOG_DATEFMT, time.gmtime())
            return self.encoder.encode({"timestamp": stamp, "level": "ERROR", **doc}) + "\n"
        error_type = doc.get("errorType")
        message = doc.get("errorMessage")
        title = "[ERROR]"
        if error_type:
            title += " " + error_type
        if message:
            title += (":" if error_type else "") + " " + message
        lines = [title]
        trace = doc.get("stackTrace")
        if trace is not None:
            lines.append("Traceback (most recent call last):")
            for element in trace:
                if element == "":
                    lines.append("")
                else:
                    lines.extend(_indent_with_nbsp(line) for line in element.splitlines())
        return _RECORD_LINE_JOIN.join(lines) + "\n"

    def write(self, doc: ErrorDoc) -> None:
        sys.stdout.write(self.format(doc))


def setup_logging(state: LogState, json_format: bool, level: str) -> None:
    """Install AWS's root logging handler: records go to stdout, stamped with the request id."""
    logging.Formatter.converter = time.gmtime
    handler = StdoutLogHandler()
    if json_format:
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_LOG_FORMAT, _TEXT_LOG_DATEFMT))
    handler.addFilter(RequestIdFilter(state))
    root = logging.getLogger()
    if level and isinstance(logging.getLevelName(level), int):
        root.setLevel(level)
    root.addHandler(handler)
