"""The Python runtime client (lambdabox/lambda_/runtimes/bootstrap_python.py), run as a real process:
init errors, sys.path, and the process (cached bytecode, signals, a vanished Runtime API).
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from bootstrap_python_helpers import (
    BOOTSTRAP,
    CLIENT_PYTHON,
    WAIT,
    FakeRuntimeAPI,
    StartRuntime,
)

# The fixtures these tests use, re-exported here so that pytest finds them.
from bootstrap_python_helpers import api_fixture as api_fixture
from bootstrap_python_helpers import start_fixture as start_fixture

# ---------------------------------------------------------------------------------------------------
# Init


def init_error_record(error_type: str, message: str) -> str:
    return f"[ERROR] {error_type}: {message}\rTraceback (most recent call last):\n"


def test_import_error(start: StartRuntime) -> None:
    runtime = start(handler="missing.handler")
    post = runtime.init_error()
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.ImportModuleError"
    message = "Unable to import module 'missing': No module named 'missing'"
    assert post.json() == {
        "errorMessage": message,
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    out = runtime.stdout.drain()
    assert init_error_record("Runtime.ImportModuleError", message) in out
    assert "\t\tLAMBDA_WARNING: Unhandled exception." in out
    assert out.index("LAMBDA_WARNING") < out.index("[ERROR]")


def test_import_error_of_a_dependency(start: StartRuntime) -> None:
    runtime = start("import not_installed_dependency\n")
    post = runtime.init_error()
    assert (
        post.json()["errorMessage"]
        == "Unable to import module 'app': No module named 'not_installed_dependency'"
    )


def test_handler_missing(start: StartRuntime) -> None:
    runtime = start("def other(event, context):\n    pass\n", handler="app.handler")
    post = runtime.init_error()
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.HandlerNotFound"
    assert post.json() == {
        "errorMessage": "Handler 'handler' missing on module 'app'",
        "errorType": "Runtime.HandlerNotFound",
        "requestId": "",
        "stackTrace": [],
    }
    assert init_error_record("Runtime.HandlerNotFound", "Handler 'handler' missing on module 'app'") in (
        runtime.stdout.drain()
    )


def test_syntax_error(start: StartRuntime, tmp_path: Path) -> None:
    runtime = start("x = 1\ndef handler(:\n    pass\n")
    post = runtime.init_error()
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.UserCodeSyntaxError"
    doc = post.json()
    assert doc["errorType"] == "Runtime.UserCodeSyntaxError"
    assert doc["errorMessage"] == "Syntax error in module 'app': invalid syntax (app.py, line 2)"
    assert doc["stackTrace"] == [f'  File "{tmp_path / "app.py"}" Line 2\n    def handler(:\n']
    assert doc["requestId"] == ""
    assert "[ERROR] Runtime.UserCodeSyntaxError: Syntax error in module 'app'" in runtime.stdout.drain()


def test_malformed_handler_name(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    pass\n", handler="app")
    post = runtime.init_error()
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.MalformedHandlerName"
    assert post.json()["errorMessage"] == "Bad handler 'app': not enough values to unpack (expected 2, got 1)"


def test_exception_at_import_time(start: StartRuntime, tmp_path: Path) -> None:
    runtime = start("x = 1\nraise RuntimeError('config missing')\n")
    post = runtime.init_error()
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "RuntimeError"
    doc = post.json()
    assert (doc["errorType"], doc["errorMessage"], doc["requestId"]) == ("RuntimeError", "config missing", "")
    # As on AWS: the trace starts in importlib, not in the runtime, and ends in the user's module.
    assert "importlib" in doc["stackTrace"][0]
    assert doc["stackTrace"][-1] == (
        f"  File \"{tmp_path / 'app.py'}\", line 2, in <module>\n    raise RuntimeError('config missing')\n"
    )
    assert not any(str(BOOTSTRAP) in frame for frame in doc["stackTrace"])


def test_handler_in_a_subdirectory_and_sys_path(start: StartRuntime, tmp_path: Path) -> None:
    code = "import sys\ndef handler(event, context):\n    return [sys.version_info[:2], sys.path[:3]]\n"
    runtime = start(files={"src/app.py": code, "src/__init__.py": ""}, handler="src/app.handler")
    (major, minor), paths = runtime.invoke().json()
    version = f"{major}.{minor}"
    assert paths == [str(tmp_path), f"/opt/python/lib/python{version}/site-packages", "/opt/python"]


def test_runtime_files_are_not_importable_by_user_code(start: StartRuntime) -> None:
    code = (
        "import importlib.util\n"
        "def handler(event, context):\n"
        "    return importlib.util.find_spec('bootstrap_python') is None\n"
    )
    assert start(code).invoke().json() is True


# ---------------------------------------------------------------------------------------------------
# Process


def test_runs_from_cached_bytecode(start: StartRuntime, tmp_path: Path) -> None:
    """lambdabox may start the client from its compiled .pyc, which skips compiling it on every cold start."""
    pyc = tmp_path / "cache" / "bootstrap_python.pyc"
    compile_it = (
        f"import py_compile; py_compile.compile({str(BOOTSTRAP)!r}, cfile={str(pyc)!r}, doraise=True)"
    )
    subprocess.run([CLIENT_PYTHON, "-c", compile_it], check=True)
    runtime = start("def handler(event, context):\n    raise TypeError('bad')\n", script=pyc)
    trace = runtime.invoke().json()["stackTrace"]
    assert len(trace) == 1 and trace[0].startswith(f'  File "{tmp_path / "app.py"}", line 2, in handler')


def test_sigterm_while_idle_exits_promptly(start: StartRuntime, api: FakeRuntimeAPI) -> None:
    runtime = start("def handler(event, context):\n    return 1\n")
    assert runtime.invoke().json() == 1
    runtime.proc.send_signal(signal.SIGTERM)
    assert runtime.proc.wait(WAIT) == -signal.SIGTERM


def test_exits_when_the_runtime_api_is_gone(start: StartRuntime, api: FakeRuntimeAPI) -> None:
    runtime = start(
        "def handler(event, context):\n    return 1\n", env={"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:1"}
    )
    assert runtime.proc.wait(WAIT) == 1
    assert "lambdabox runtime: the Runtime API is gone" in runtime.stderr.drain()
