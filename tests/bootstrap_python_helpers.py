"""Helpers for the Python runtime client's tests (lambdabox/lambda_/runtimes/bootstrap_python.py).

A minimal Runtime API (aiohttp on 127.0.0.1, in a thread) that hands out events and records what the
client posts, the client process spawned on a handler written to a temporary directory, and the
`api` and `start` fixtures over them.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
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


@pytest.fixture(name="api")
def api_fixture() -> Iterator[FakeRuntimeAPI]:
    server = FakeRuntimeAPI()
    yield server
    server.close()


StartRuntime = Callable[..., Runtime]


@pytest.fixture(name="start")
def start_fixture(api: FakeRuntimeAPI, tmp_path: Path) -> Iterator[StartRuntime]:
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
