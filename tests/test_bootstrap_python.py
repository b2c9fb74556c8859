"""The Python runtime client (lambdabox/lambda_/runtimes/bootstrap_python.py), run as a real process.

Each test starts a minimal Runtime API (aiohttp on 127.0.0.1, in a thread) that hands out events and
records what the client posts, spawns the client on a handler written to a temporary directory, and
checks the posted bodies and headers and what the client printed on stdout.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

#: the interpreter that runs the client (set it to try the client on other Python versions)
CLIENT_PYTHON = os.environ.get("LAMBDABOX_TEST_CLIENT_PYTHON", sys.executable)
BOOTSTRAP = Path(__file__).resolve().parents[1] / "src/lambdabox/lambda_/runtimes/bootstrap_python.py"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
WAIT = 20.0  # a safety net for a broken client, never a semantic delay
NBSP = "\u00a0"


class Capture:
    """Collects one pipe of the client without blocking; `drain` takes whatever is in the pipe now."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        self._data = bytearray()
        self._lock = threading.Lock()

    def drain(self) -> str:
        with self._lock:
            while True:
                try:
                    chunk = os.read(self._fd, 65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                self._data += chunk
            return self._data.decode("utf-8", "replace")


@dataclass
class Post:
    kind: str  # "response", "error" or "init"
    request_id: str | None
    headers: dict[str, str]
    body: bytes
    stdout: str  # everything the client had written to stdout when the POST arrived

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Event:
    body: bytes
    headers: dict[str, str]
    chunked: bool = False
    drop_after: bool = False  # close the connection once the event is sent, without saying so


@dataclass
class FakeRuntimeAPI:
    """A test-only Runtime API: serves queued events on /next and records every POST."""

    posts: list[Post] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)
    close_after_response: bool = False
    post_status: int = 202
    stdout: Capture | None = None

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._polls: set[asyncio.Task[Any]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._queue: asyncio.Queue[Event] = asyncio.run_coroutine_threadsafe(
            self._make_queue(), self._loop
        ).result()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{sock.getsockname()[1]}"
        self._runner = asyncio.run_coroutine_threadsafe(self._start(sock), self._loop).result(WAIT)

    async def _make_queue(self) -> asyncio.Queue[Event]:
        return asyncio.Queue()

    async def _start(self, sock: socket.socket) -> web.AppRunner:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        prefix = "/2018-06-01/runtime"
        app.router.add_get(prefix + "/invocation/next", self._next)
        app.router.add_post(prefix + "/invocation/{id}/response", self._post)
        app.router.add_post(prefix + "/invocation/{id}/error", self._post)
        app.router.add_post(prefix + "/init/error", self._post)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return runner

    def _note_peer(self, request: web.Request) -> None:
        assert request.transport is not None
        self.peers.add(request.transport.get_extra_info("peername"))

    async def _next(self, request: web.Request) -> web.StreamResponse:
        self._note_peer(request)
        task = asyncio.current_task()
        assert task is not None
        self._polls.add(task)
        try:
            event = await self._queue.get()
        finally:
            self._polls.discard(task)
        if not (event.chunked or event.drop_after):
            return web.Response(body=event.body, headers=event.headers)
        response = web.StreamResponse(headers=event.headers)
        if event.chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = len(event.body)
        await response.prepare(request)
        half = len(event.body) // 2
        await response.write(event.body[:half])
        await response.write(event.body[half:])
        await response.write_eof()
        if event.drop_after and request.transport is not None:
            request.transport.close()
        return response

    async def _post(self, request: web.Request) -> web.Response:
        self._note_peer(request)
        kind = request.path.rsplit("/", 1)[1]
        post = Post(
            kind="init" if request.path.endswith("/init/error") else kind,
            request_id=request.match_info.get("id"),
            headers=dict(request.headers),
            body=await request.read(),
            stdout=self.stdout.drain() if self.stdout is not None else "",
        )
        with self._cond:
            self.posts.append(post)
            self._cond.notify_all()
        response = web.Response(
            status=self.post_status, body=b'{"status":"OK"}', content_type="application/json"
        )
        if self.close_after_response:
            response.force_close()
        return response

    def put(self, event: Event) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def wait_post(self, match: Callable[[Post], bool], alive: Callable[[], bool]) -> Post:
        deadline = time.monotonic() + WAIT
        with self._cond:
            while True:
                for post in self.posts:
                    if match(post):
                        return post
                if time.monotonic() > deadline or not alive():
                    raise AssertionError(f"no matching POST; got {self.posts!r}")
                self._cond.wait(0.05)

    async def _stop(self) -> None:
        for task in self._polls:  # long polls of clients that are gone
            task.cancel()
        await self._runner.cleanup()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(WAIT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        self._loop.close()


class Runtime:
    """The client process under test, with its captured stdout and stderr."""

    def __init__(
        self, api: FakeRuntimeAPI, code_dir: Path, handler: str, env: dict[str, str], script: Path = BOOTSTRAP
    ) -> None:
        self.api = api
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abcdef",
            "AWS_REGION": "us-east-1",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            **env,
        }
        self.proc = subprocess.Popen(
            [CLIENT_PYTHON, "-u", str(script)],
            cwd=code_dir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.stdout = Capture(self.proc.stdout.fileno())
        self.stderr = Capture(self.proc.stderr.fileno())
        api.stdout = self.stdout

    def alive(self) -> bool:
        return self.proc.poll() is None

    def invoke(
        self, body: bytes | str = b"{}", chunked: bool = False, drop_after: bool = False, **headers: str
    ) -> Post:
        request_id = headers.pop("request_id", None) or str(uuid.uuid4())
        all_headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
            "Lambda-Runtime-Invoked-Function-Arn": ARN,
            "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        }
        for name, value in headers.items():
            header = "-".join(part.capitalize() for part in name.split("_"))
            if value == "":
                all_headers.pop(header, None)
            else:
                all_headers[header] = value
        self.api.put(
            Event(body.encode() if isinstance(body, str) else body, all_headers, chunked, drop_after)
        )
        return self.api.wait_post(lambda p: p.request_id == request_id, self.alive)

    def init_error(self) -> Post:
        post = self.api.wait_post(lambda p: p.kind == "init", self.alive)
        assert self.proc.wait(WAIT) != 0
        return post

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait(WAIT)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def api() -> Iterator[FakeRuntimeAPI]:
    server = FakeRuntimeAPI()
    yield server
    server.close()


StartRuntime = Callable[..., Runtime]


@pytest.fixture
def start(api: FakeRuntimeAPI, tmp_path: Path) -> Iterator[StartRuntime]:
    """start(code, handler="app.handler", files={...}, env={...}) -> Runtime"""
    started: list[Runtime] = []

    def _start(
        code: str | None = None,
        handler: str = "app.handler",
        files: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        script: Path = BOOTSTRAP,
    ) -> Runtime:
        all_files = dict(files or {})
        if code is not None:
            all_files["app.py"] = code
        for name, text in all_files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        runtime = Runtime(api, tmp_path, handler, env or {}, script)
        started.append(runtime)
        return runtime

    yield _start
    for runtime in started:
        runtime.stop()


def stdout_lines(runtime: Runtime) -> list[str]:
    return runtime.stdout.drain().split("\n")


# ---------------------------------------------------------------------------------------------------
# Invocations


def test_success_posts_the_json_result_after_the_handler_output(start: StartRuntime) -> None:
    runtime = start(
        "def handler(event, context):\n    print('hello from', event['name'])\n    return {'got': event}\n"
    )
    post = runtime.invoke(b'{"name": "lambdabox", "n": [1, 2.5, null]}')
    assert post.kind == "response"
    assert post.json() == {"got": {"name": "lambdabox", "n": [1, 2.5, None]}}
    assert post.headers["Content-Type"] == "application/json"
    # The print reached the pipe before the response was posted.
    assert "hello from lambdabox\n" in post.stdout


def test_none_result_is_json_null(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    pass\n")
    post = runtime.invoke()
    assert post.kind == "response"
    assert post.body == b"null"


def test_decimals_bytes_and_non_ascii_are_marshalled_as_aws_does(start: StartRuntime) -> None:
    code = (
        "from decimal import Decimal\n"
        "def handler(event, context):\n"
        "    if event == 'bytes':\n"
        "        return b'\\x00raw'\n"
        "    return {'d': Decimal('1.10'), 'i': Decimal('7'), 'e': Decimal('1E+3'), 's': 'caf\\u00e9'}\n"
    )
    runtime = start(code)
    post = runtime.invoke(b'"json"')
    assert post.body == b'{"d": 1.10, "i": 7, "e": 1E+3, "s": "caf\\u00e9"}'
    raw = runtime.invoke(b'"bytes"')
    assert raw.body == b"\x00raw"
    assert raw.headers["Content-Type"] == "application/unknown"


def test_python312_runtimes_keep_non_ascii_characters(start: StartRuntime) -> None:
    runtime = start(
        "def handler(event, context):\n    return 'caf\\u00e9'\n",
        env={"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"},
    )
    assert runtime.invoke().body == '"café"'.encode()


def test_unhandled_exception_posts_aws_error_document_and_logs_one_record(
    start: StartRuntime, tmp_path: Path
) -> None:
    code = "def handler(event, context):\n    print('before')\n    helper()\n\ndef helper():\n    raise ValueError('boom')\n"
    runtime = start(code)
    post = runtime.invoke(request_id="req-1")
    assert post.kind == "error"
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "Unhandled"
    app = tmp_path / "app.py"
    assert post.json() == {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "req-1",
        "stackTrace": [
            f'  File "{app}", line 3, in handler\n    helper()\n',
            f"  File \"{app}\", line 6, in helper\n    raise ValueError('boom')\n",
        ],
    }
    # Both the handler's print and the error record were on stdout before the POST.
    assert "before\n" in post.stdout
    record = (
        "[ERROR] ValueError: boom\rTraceback (most recent call last):\r"
        f'{NBSP * 2}File "{app}", line 3, in handler\r{NBSP * 4}helper()\r'
        f"{NBSP * 2}File \"{app}\", line 6, in helper\r{NBSP * 4}raise ValueError('boom')\n"
    )
    assert record in post.stdout
    # The environment survives and serves the next invocation.
    assert runtime.invoke().kind == "error"


def test_bad_json_event_is_an_unmarshal_error(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    print('not called')\n")
    post = runtime.invoke(b"{not json", request_id="req-2")
    assert post.kind == "error"
    assert post.json() == {
        "errorMessage": "Unable to unmarshal input: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "errorType": "Runtime.UnmarshalError",
        "requestId": "req-2",
        "stackTrace": [],
    }
    assert "not called" not in post.stdout
    assert (
        "[ERROR] Runtime.UnmarshalError: Unable to unmarshal input: Expecting property name enclosed in "
        "double quotes: line 1 column 2 (char 1)\rTraceback (most recent call last):\n"
    ) in post.stdout


def test_unserializable_result_is_a_marshal_error(start: StartRuntime) -> None:
    runtime = start(
        "import datetime\ndef handler(event, context):\n    return {'at': datetime.date(2024, 1, 2)}\n"
    )
    post = runtime.invoke(request_id="req-3")
    assert post.json() == {
        "errorMessage": "Unable to marshal response: Object of type date is not JSON serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": "req-3",
        "stackTrace": [],
    }


CONTEXT_HANDLER = """
import os
def handler(event, context):
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "tenant_id": context.tenant_id,
        "remaining": context.get_remaining_time_in_millis(),
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": None if cc is None else {
            "custom": cc.custom, "env": cc.env,
            "client": None if cc.client is None else [cc.client.installation_id, cc.client.app_title],
        },
        "w3c": context.w3c(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "repr_starts": repr(context)[:35],
    }
"""


def test_context_carries_what_aws_provides(start: StartRuntime) -> None:
    runtime = start(CONTEXT_HANDLER)
    client_context = {
        "custom": {"k": "v"},
        "env": {"platform": "x"},
        "client": {"installation_id": "inst", "app_title": "app"},
        "w3c": {"traceparent": "00-abc-def-01", "junk": "dropped"},
    }
    identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    deadline = int(time.time() * 1000) + 30_000
    post = runtime.invoke(
        request_id="req-ctx",
        lambda_runtime_deadline_ms=str(deadline),
        lambda_runtime_client_context=json.dumps(client_context),
        lambda_runtime_cognito_identity=json.dumps(identity),
        lambda_runtime_trace_id="Root=1-abc;Sampled=0",
    )
    got = post.json()
    assert 0 < got.pop("remaining") <= 30_000
    assert got == {
        "aws_request_id": "req-ctx",
        "function_name": "fn",
        "function_version": "$LATEST",
        "invoked_function_arn": ARN,
        "memory_limit_in_mb": "256",  # a string, as AWS's runtime gives it
        "log_group_name": "/aws/lambda/fn",
        "log_stream_name": "2024/01/01/[$LATEST]abcdef",
        "tenant_id": None,
        "identity": ["id-1", "pool-1"],
        "client_context": {"custom": {"k": "v"}, "env": {"platform": "x"}, "client": ["inst", "app"]},
        "w3c": {"traceparent": "00-abc-def-01"},
        "trace": "Root=1-abc;Sampled=0",
        "repr_starts": "LambdaContext([aws_request_id=req-c",
    }

    # Without the optional headers: no client context, an empty identity, no trace id.
    bare = runtime.invoke(lambda_runtime_trace_id="", lambda_runtime_aws_tenant_id="tenant-7").json()
    assert bare["client_context"] is None
    assert bare["identity"] == [None, None]
    assert bare["trace"] is None
    assert bare["tenant_id"] == "tenant-7"
    assert bare["w3c"] == {}


def test_remaining_time_decreases_and_stops_at_zero(start: StartRuntime) -> None:
    code = (
        "def handler(event, context):\n"
        "    first = context.get_remaining_time_in_millis()\n"
        "    while context.get_remaining_time_in_millis() == first:\n"
        "        pass\n"
        "    return [first, context.get_remaining_time_in_millis()]\n"
    )
    runtime = start(code)
    first, second = runtime.invoke().json()
    assert 0 < second < first <= 60_000


def test_remaining_time_is_zero_past_the_deadline(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    return context.get_remaining_time_in_millis()\n")
    past = str(int(time.time() * 1000) - 5_000)
    assert runtime.invoke(lambda_runtime_deadline_ms=past).json() == 0


def test_globals_persist_across_invocations_on_one_connection(
    start: StartRuntime, api: FakeRuntimeAPI
) -> None:
    code = "count = 0\ndef handler(event, context):\n    global count\n    count += 1\n    return count\n"
    runtime = start(code)
    assert [runtime.invoke().json() for _ in range(3)] == [1, 2, 3]
    assert len(api.peers) == 1  # one keep-alive connection for every call


def test_reconnects_when_the_server_closes_the_connection(start: StartRuntime, api: FakeRuntimeAPI) -> None:
    api.close_after_response = True
    runtime = start("def handler(event, context):\n    return event\n")
    assert [runtime.invoke(str(n)).json() for n in range(3)] == [0, 1, 2]
    assert len(api.peers) > 1


def test_chunked_event(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    return event\n")
    assert runtime.invoke(json.dumps({"k": "v" * 1000}), chunked=True).json() == {"k": "v" * 1000}


def test_a_refused_post_does_not_stop_the_runtime(start: StartRuntime, api: FakeRuntimeAPI) -> None:
    runtime = start("def handler(event, context):\n    return event\n")
    api.post_status = 500
    runtime.invoke("1")
    api.post_status = 202
    assert runtime.invoke("2").json() == 2
    assert "lambdabox runtime: POST /2018-06-01/runtime/invocation/" in runtime.stderr.drain()


def test_a_connection_the_server_dropped_during_the_handler_is_replaced(
    start: StartRuntime, api: FakeRuntimeAPI
) -> None:
    # As when a handler outlives the server's keep-alive timeout; the response is too big to resend blindly.
    runtime = start("def handler(event, context):\n    return 'x' * 100_000\n")
    assert runtime.invoke(drop_after=True).json() == "x" * 100_000
    assert runtime.invoke(drop_after=True).json() == "x" * 100_000
    assert len(api.peers) == 3


def test_large_event_and_response(start: StartRuntime) -> None:
    runtime = start("def handler(event, context):\n    return {'echo': event, 'n': len(event)}\n")
    big = "x" * 3_000_000
    post = runtime.invoke(json.dumps(big))
    assert post.json() == {"echo": big, "n": 3_000_000}


def test_logging_goes_to_stdout_in_aws_text_format(start: StartRuntime) -> None:
    code = (
        "import logging\n"
        "logger = logging.getLogger()\n"
        "logger.setLevel(logging.INFO)\n"
        "def handler(event, context):\n"
        "    logger.info('info %s', 'line')\n"
        "    logging.getLogger('child').warning('careful')\n"
    )
    runtime = start(code)
    post = runtime.invoke(request_id="req-log")
    lines = [line for line in post.stdout.split("\n") if line.startswith("[")]
    assert len(lines) == 2
    level, stamp, request_id, message = lines[0].split("\t")
    assert (level, request_id, message) == ("[INFO]", "req-log", "info line")
    assert time.strptime(stamp[:-5], "%Y-%m-%dT%H:%M:%S") and stamp.endswith("Z") and stamp[-5] == "."
    assert lines[1].startswith("[WARNING]\t") and lines[1].endswith("\treq-log\tcareful")


def test_json_log_format(start: StartRuntime) -> None:
    code = (
        "import logging\n"
        "def handler(event, context):\n"
        "    logging.getLogger('app').info('hi %s', 1, extra={'order': 7})\n"
        "    logging.getLogger('app').debug('hidden')\n"
        "    raise KeyError('k')\n"
    )
    runtime = start(code, env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
    post = runtime.invoke(request_id="req-json")
    records = [json.loads(line) for line in post.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 2
    info, error = records
    assert info.pop("timestamp").endswith("Z")
    assert info == {"level": "INFO", "message": "hi 1", "logger": "app", "requestId": "req-json", "order": 7}
    assert error.pop("timestamp").endswith("Z")
    assert error["level"] == "ERROR" and error["errorType"] == "KeyError" and error["errorMessage"] == "'k'"
    assert error["requestId"] == "req-json" and len(error["stackTrace"]) == 1


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
