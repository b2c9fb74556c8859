"""lambdabox's Python runtime client: imports a function's handler and serves its invocations.

It runs inside an execution environment, started by lambdabox as ``python3.X -u bootstrap_python.py``
with the working directory at the unpacked code and the environment variables AWS sets
(``_HANDLER``, ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_RUNTIME_API``, ``AWS_LAMBDA_FUNCTION_NAME`` ...). It
speaks the Lambda Runtime API 2018-06-01 and shows user code and the platform what AWS's own Python
runtime (awslambdaric) shows them: the same ``sys.path`` order, context object, ``Runtime.*`` error
documents, root logging handler and log record formats on stdout.

Standard library only, and any CPython from 3.8 on. It is on every warm invoke's path and every idle
environment pays for its memory, so it stays lean: the HTTP/1.1 keep-alive client is a few lines over
the raw ``_socket`` module (``http.client`` would pull in ``email`` and ``ssl``: +6 MB resident), and
nothing is imported that the common path does not need. Started from a compiled ``.pyc`` it also skips
compiling itself on every cold start.
"""

from __future__ import annotations

import _socket
import contextlib
import json
import logging
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any

    Handler = Callable[[Any, "LambdaContext"], Any]
    ErrorDoc = dict[str, Any]

_RUNTIME = "/2018-06-01/runtime"
_NEXT = _RUNTIME + "/invocation/next"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
# The file name this module's frames carry, however it was started (source, cached bytecode, import).
_THIS_FILE = sys._getframe().f_code.co_filename

# How AWS's runtime writes an error record to a plain stdout: the lines of one record joined by CR, so
# that a reader splitting on LF keeps it as one log event, and each line's leading spaces turned into
# NO-BREAK SPACEs.
_RECORD_LINE_JOIN = "\r"
_RECORD_INDENT = "\u00a0"

_TEXT_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
_TEXT_LOG_DATEFMT = "%Y-%m-%dT%H:%M:%S"
_JSON_LOG_DATEFMT = "%Y-%m-%dT%H:%M:%SZ"
_UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. To determine if the runtime has been updated, check the runtime "
    "version in the INIT_START log entry. If this error correlates with a change in the runtime version, "
    "you may be able to mitigate this error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)
# Runtimes whose JSON output keeps non-ASCII characters as they are (AWS changed this in python3.12).
_UNESCAPED_JSON_RUNTIMES = frozenset(
    ("AWS_Lambda_python3.12", "AWS_Lambda_python3.13", "AWS_Lambda_python3.14", "AWS_Lambda_python3.15")
)
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
# HTTP


class StaleConnection(ConnectionError):
    """A reused keep-alive connection turned out closed before any byte of the response arrived."""


class RuntimeAPIClient:
    """One HTTP/1.1 keep-alive connection to the Runtime API; requests go strictly one at a time."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._family = _socket.AF_INET
        if host.startswith("["):
            self._family = _socket.AF_INET6
            host = host[1:-1]
        self._address = (host or "127.0.0.1", int(port))
        version = ".".join(str(part) for part in sys.version_info[:3])
        self._fixed_headers = f"Host: {address}\r\nUser-Agent: lambdabox-python/{version}\r\n"
        self._sock: _socket.socket | None = None
        self._buf = bytearray()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buf.clear()

    def _connect(self) -> _socket.socket:
        sock = _socket.socket(self._family, _socket.SOCK_STREAM)
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            sock.connect(self._address)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return sock

    def request(
        self, method: str, path: str, body: bytes = b"", headers: str = ""
    ) -> tuple[int, dict[str, str], bytes | bytearray]:
        """Send one request and return (status, lower-cased headers, body).

        A connection the server has closed meanwhile (its keep-alive timeout may be shorter than a
        handler's run) is noticed before sending and replaced. A request on a reused connection that
        fails before one byte of a response came back is sent once more, on a new connection: the
        server cannot have acted on it.
        """
        if method == "GET":
            head = f"GET {path} HTTP/1.1\r\n{self._fixed_headers}{headers}\r\n"
        else:
            head = f"{method} {path} HTTP/1.1\r\n{self._fixed_headers}{headers}Content-Length: {len(body)}\r\n\r\n"
        data = head.encode("latin-1")
        if len(body) < 65536:
            data += body
            body = b""
        # Only POSTs follow a wait (the handler's run); a GET follows a response just read.
        if method != "GET" and self._sock is not None and self._closed_by_server(self._sock):
            self.close()
        for attempt in (1, 2):
            reused = self._sock is not None
            sock = self._sock or self._connect()
            try:
                try:
                    sock.sendall(data)
                    if body:
                        sock.sendall(body)
                except OSError as exc:
                    raise StaleConnection(str(exc)) from exc
                return self._read_response(sock)
            except StaleConnection:
                self.close()
                if not reused or attempt == 2:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def _closed_by_server(self, sock: _socket.socket) -> bool:
        if self._buf:
            return False
        try:
            return not sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _read_response(self, sock: _socket.socket) -> tuple[int, dict[str, str], bytes | bytearray]:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            started = len(buf) > 0
            try:
                chunk = sock.recv(65536)
            except OSError as exc:
                if started:
                    raise
                raise StaleConnection(str(exc)) from exc
            if not chunk:
                if started:
                    raise ConnectionError("Runtime API closed the connection mid-response")
                raise StaleConnection("Runtime API closed the connection")
            buf += chunk
            end = buf.find(b"\r\n\r\n", max(0, len(buf) - len(chunk) - 3))
        lines = buf[:end].decode("utf-8", "replace").split("\r\n")
        del buf[: end + 4]
        status_line = lines[0].split(" ", 2)
        status = int(status_line[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            colon = line.find(":")
            headers[line[:colon].lower()] = line[colon + 1 :].strip()
        keep_alive = status_line[0] != "HTTP/1.0"
        connection = headers.get("connection")
        if connection is not None:
            keep_alive = connection.lower() != "close" if keep_alive else connection.lower() == "keep-alive"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body: bytes | bytearray = self._read_chunked(sock)
        elif "content-length" in headers:
            body = self._read_exact(sock, int(headers["content-length"]))
        elif status < 200 or status in (204, 304):
            body = b""
        else:
            body = self._read_to_close(sock)
            keep_alive = False
        if not keep_alive:
            self.close()
        return status, headers, body

    def _fill(self, sock: _socket.socket) -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("Runtime API closed the connection mid-response")
        self._buf += chunk

    def _read_exact(self, sock: _socket.socket, size: int) -> bytes | bytearray:
        buf = self._buf
        if len(buf) >= size:
            body = bytes(buf[:size])
            del buf[:size]
            return body
        out = bytearray(size)
        have = len(buf)
        out[:have] = buf
        buf.clear()
        view = memoryview(out)
        while have < size:
            got = sock.recv_into(view[have:])
            if not got:
                raise ConnectionError("Runtime API closed the connection mid-response")
            have += got
        return out

    def _read_line(self, sock: _socket.socket) -> bytes:
        buf = self._buf
        end = buf.find(b"\r\n")
        while end < 0:
            self._fill(sock)
            end = buf.find(b"\r\n")
        line = bytes(buf[:end])
        del buf[: end + 2]
        return line

    def _read_chunked(self, sock: _socket.socket) -> bytearray:
        out = bytearray()
        while True:
            size = int(self._read_line(sock).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self._read_line(sock):  # trailers, up to the blank line
                    pass
                return out
            out += self._read_exact(sock, size)
            self._read_line(sock)

    def _read_to_close(self, sock: _socket.socket) -> bytearray:
        out = bytearray(self._buf)
        self._buf.clear()
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            out += chunk


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
        if frame[0] != _THIS_FILE:
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
        sys.stdout.write(self.format(record))


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


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


# ---------------------------------------------------------------------------------------------------
# Start-up


def prepare_sys_path(task_root: str) -> None:
    """AWS's order: the task root, then the layers' /opt/python/lib/pythonX.Y/site-packages and /opt/python.

    The directory of this script, which Python puts first, is taken out so that no user import can
    resolve to lambdabox's own files.
    """
    path = sys.path
    ours = {os.path.dirname(os.path.realpath(name)) for name in (_THIS_FILE, __file__)}
    path[:] = [entry for entry in path if os.path.realpath(entry or os.curdir) not in ours]
    if "PYTHONPATH" not in os.environ:
        path.insert(0, "/opt/python")
        path.insert(0, f"/opt/python/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages")
    path.insert(0, task_root)
    if sys.flags.no_site:
        # lambdabox starts interpreters with -S so that the host's .pth start-up hooks stay out of the
        # environment; the interpreter's own site-packages (boto3, as on AWS) stays importable, last.
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        for base in dict.fromkeys((sys.prefix, sys.base_prefix)):
            for leaf in (f"lib/{version}/site-packages", "lib/python3/dist-packages"):
                candidate = os.path.join(base, leaf)
                if os.path.isdir(candidate) and candidate not in path:
                    path.append(candidate)


def _prepare_stdio() -> None:
    # AWS's environments write UTF-8 whatever the locale; records contain NO-BREAK SPACEs.
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("_", "-")
        if encoding not in ("utf-8", "utf8"):
            with contextlib.suppress(Exception):
                stream.reconfigure(encoding="utf-8")  # type: ignore[union-attr]


def load_handler(handler: str) -> Handler:
    """Import the handler's module and return the function, raising ``Fault`` as AWS does."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from None
    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise Fault(
                "Runtime.BuiltInModuleConflict",
                f"Cannot use built-in module {module_name} as a handler module",
            )
        import importlib

        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise Fault("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise Fault(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", trace
        ) from None
    try:
        return getattr(module, function_name)  # type: ignore[no-any-return]
    except AttributeError:
        raise Fault(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from None


def _fatal(message: str) -> None:
    sys.stderr.write(f"lambdabox runtime: {message}\n")
    _flush_output()
    raise SystemExit(1)


def report_init_error(client: RuntimeAPIClient, errors: ErrorLog, doc: ErrorDoc) -> None:
    logging.getLogger().warning(_UNHANDLED_WARNING)
    errors.write(doc)
    _flush_output()
    body = errors.encoder.encode(doc).encode("utf-8")
    header = f"{_ERROR_TYPE_HEADER}: {doc['errorType']}\r\nContent-Type: application/json\r\n"
    try:
        client.request("POST", _RUNTIME + "/init/error", body, header)
    except OSError as exc:
        sys.stderr.write(f"lambdabox runtime: could not report the init error: {exc}\n")


# ---------------------------------------------------------------------------------------------------
# The invocation loop


def serve(client: RuntimeAPIClient, handler: Handler, state: LogState, errors: ErrorLog) -> None:
    """Serve invocations until the process is stopped."""
    encoder = errors.encoder
    environ = os.environ
    response_headers = {
        "application/json": "Content-Type: application/json\r\n",
        "application/unknown": "Content-Type: application/unknown\r\n",
    }
    # AWS's Invoke reports every function error as X-Amz-Function-Error: Unhandled.
    error_headers = f"{_ERROR_TYPE_HEADER}: Unhandled\r\nContent-Type: application/json\r\n"
    while True:
        try:
            status, headers, body = client.request("GET", _NEXT)
        except OSError as exc:
            _fatal(f"the Runtime API is gone ({exc})")
        if status != 200:
            _fatal(f"GET {_NEXT} answered {status}: {bytes(body[:500])!r}")
        request_id = headers.get("lambda-runtime-aws-request-id", "")
        tenant_id = headers.get("lambda-runtime-aws-tenant-id")
        state.request_id = request_id
        state.tenant_id = tenant_id
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id is not None:
            environ["_X_AMZN_TRACE_ID"] = trace_id
        elif "_X_AMZN_TRACE_ID" in environ:
            del environ["_X_AMZN_TRACE_ID"]

        error: ErrorDoc | None = None
        try:
            context = LambdaContext(
                request_id,
                headers.get("lambda-runtime-client-context"),
                headers.get("lambda-runtime-cognito-identity"),
                int(headers.get("lambda-runtime-deadline-ms") or 0),
                headers.get("lambda-runtime-invoked-function-arn"),
                tenant_id,
            )
            event = unmarshal_event(body, headers.get("content-type"))
            payload, content_type = marshal_result(encoder, handler(event, context))
        except Fault as fault:
            error = error_document(fault.message, fault.error_type, fault.trace, request_id)
        except Exception as exc:
            error = describe_exception(exc, request_id)

        # Everything the handler printed reaches the pipes before the invocation is reported done.
        if error is None:
            _flush_output()
            path = f"{_RUNTIME}/invocation/{request_id}/response"
            extra = response_headers[content_type]
        else:
            errors.write(error)
            _flush_output()
            path = f"{_RUNTIME}/invocation/{request_id}/error"
            extra = error_headers
            payload = encoder.encode(error).encode("utf-8", "replace")
        try:
            status, _, answer = client.request("POST", path, payload, extra)
        except OSError as exc:
            # The next GET tells whether the Runtime API is still there.
            sys.stderr.write(f"lambdabox runtime: POST {path} failed: {exc}\n")
            continue
        # 413 (response too large) is the platform's to report; anything else unexpected is noted.
        if status != 202 and status != 413:
            sys.stderr.write(f"lambdabox runtime: POST {path} answered {status}: {bytes(answer[:500])!r}\n")


def main() -> None:
    env = os.environ
    task_root = env.get("LAMBDA_TASK_ROOT") or os.getcwd()
    prepare_sys_path(task_root)
    _prepare_stdio()
    LambdaContext.read_environment()
    json_format = (env.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
    level = (env.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    level = "DEBUG" if level == "TRACE" else level
    execution_env = env.get("AWS_EXECUTION_ENV")
    unescaped = execution_env in _UNESCAPED_JSON_RUNTIMES if execution_env else sys.version_info >= (3, 12)
    encoder = ResponseEncoder(ensure_ascii=not unescaped)
    errors = ErrorLog(json_format, encoder)
    state = LogState()
    setup_logging(state, json_format, level)
    client = RuntimeAPIClient(env.get("AWS_LAMBDA_RUNTIME_API") or "127.0.0.1:9001")

    try:
        handler = load_handler(env.get("_HANDLER") or "")
    except Fault as fault:
        report_init_error(client, errors, error_document(fault.message, fault.error_type, fault.trace))
        raise SystemExit(1) from None
    except Exception as exc:
        report_init_error(client, errors, describe_exception(exc, None))
        raise SystemExit(1) from None
    serve(client, handler, state, errors)


if __name__ == "__main__":
    main()
