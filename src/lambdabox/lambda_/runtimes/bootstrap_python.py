"""lambdabox's Python runtime client: imports a function's handler and serves its invocations.

It runs inside an execution environment, started by lambdabox as ``python3.X -u -S bootstrap_python.py``
with the working directory at the unpacked code and the environment variables AWS sets
(``_HANDLER``, ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_RUNTIME_API``, ``AWS_LAMBDA_FUNCTION_NAME`` ...). It
speaks the Lambda Runtime API 2018-06-01 and shows user code and the platform what AWS's own Python
runtime (awslambdaric) shows them: the same ``sys.path`` order, context object, ``Runtime.*`` error
documents, root logging handler and log record formats on stdout.

This script is the start-up (``sys.path``, stdio, logging, importing the handler's module) and the
invocation loop. Its two siblings, loaded by file path before user code runs and kept out of
``sys.path`` and ``sys.modules`` (blocked there when lambdabox puts the runtime directory on
``PYTHONPATH``, as Lambda does /var/runtime) so that user imports can neither reach nor shadow them:
``_lambdabox_rt_http.py`` (the Runtime API's HTTP client) and ``_lambdabox_rt_shapes.py`` (the context
object, JSON in and out, error documents and log records).

Standard library only, and any CPython from 3.8 on. It is on every warm invoke's path and every idle
environment pays for its memory, so it stays lean: nothing is imported that the common path does not
need. The siblings are loaded through their cached bytecode; started from a compiled ``.pyc`` this
script also skips compiling itself on every cold start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    Handler = Callable[[Any, "LambdaContext"], Any]
    ErrorDoc = dict[str, Any]

_RUNTIME = "/2018-06-01/runtime"
_NEXT = _RUNTIME + "/invocation/next"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
# The file name this module's frames carry, however it was started (source, cached bytecode, import).
_THIS_FILE = sys._getframe().f_code.co_filename
# Where the sibling modules are: next to the source, also when this script runs from a .pyc elsewhere.
_RUNTIME_DIR = os.path.dirname(os.path.abspath(_THIS_FILE))
# A template process (lambdabox's sandbox/template.py) runs this top level once, outside any
# environment, handing in how to read a sibling's source there, and calls main() in each
# environment it forks. Never set when this runs as a script.
_TEMPLATE_SOURCE = globals().pop("_LAMBDABOX_TEMPLATE_SOURCE", None)


def _load_sibling(name: str) -> ModuleType:
    """Execute the sibling module ``name``.py (from its cached bytecode when valid) without importing it.

    It gets a module object of its own but no entry in ``sys.modules``, and its directory is never on
    ``sys.path`` once user code runs: no user import can reach it, or shadow it.
    """
    from importlib.machinery import ModuleSpec, SourceFileLoader

    path = os.path.join(_RUNTIME_DIR, name + ".py")
    loader = SourceFileLoader(name, path)
    spec = ModuleSpec(name, loader, origin=path)
    spec.has_location = True
    module = type(sys)(name)
    module.__spec__ = spec
    module.__loader__ = loader
    module.__file__ = path
    if _TEMPLATE_SOURCE is not None:  # the same code, under the path environments see
        exec(compile(_TEMPLATE_SOURCE(name), path, "exec", dont_inherit=True), module.__dict__)
    else:
        loader.exec_module(module)
    return module


_http = _load_sibling("_lambdabox_rt_http")
_shapes = _load_sibling("_lambdabox_rt_shapes")
_shapes.RUNTIME_FILES.add(_THIS_FILE)
RuntimeAPIClient = _http.RuntimeAPIClient
Fault = _shapes.Fault
LambdaContext = _shapes.LambdaContext
ResponseEncoder = _shapes.ResponseEncoder
LogState = _shapes.LogState
ErrorLog = _shapes.ErrorLog
error_document = _shapes.error_document
describe_exception = _shapes.describe_exception
unmarshal_event = _shapes.unmarshal_event
marshal_result = _shapes.marshal_result
setup_logging = _shapes.setup_logging

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


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


# ---------------------------------------------------------------------------------------------------
# Start-up


def prepare_sys_path(task_root: str, opt: str = "/opt") -> None:
    """AWS's order: the task root, the layers' /opt/python/lib/pythonX.Y/site-packages and /opt/python,
    then the ``PYTHONPATH`` entries (the runtime directory and the bundled AWS SDK, as Lambda's
    /var/runtime), then the standard library. `opt`: where the layers are (/opt but without a root
    of its own, where lambdabox passes the host's merged layers dir).

    The directory of this script, which Python puts first, is taken out. Where the runtime directory
    is on ``PYTHONPATH`` too (on Lambda it also holds the SDK), lambdabox's own modules in it are
    blocked instead, so that no user import can resolve to lambdabox's own files.
    """
    path = sys.path
    ours = {os.path.dirname(os.path.realpath(name)) for name in (_THIS_FILE, __file__)}
    if path and os.path.realpath(path[0] or os.curdir) in ours:
        del path[0]
    if any(os.path.realpath(entry or os.curdir) in ours for entry in path):
        for name in ("bootstrap_python", "_lambdabox_rt_http", "_lambdabox_rt_shapes"):
            sys.modules.setdefault(name, None)  # type: ignore[assignment]
    path.insert(0, f"{opt}/python")
    path.insert(0, f"{opt}/python/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages")
    path.insert(0, task_root)
    if sys.flags.no_site:
        # lambdabox starts interpreters with -S so that the host's .pth start-up hooks stay out of the
        # environment; the interpreter's own site-packages stays importable, last (after the bundled SDK).
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
    # where the layers are when not at /opt (lambdabox without a root of its own): internal, removed
    prepare_sys_path(task_root, env.pop("_LAMBDABOX_OPT_DIR", "") or "/opt")
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


if __name__ == "__main__" and _TEMPLATE_SOURCE is None:
    main()
