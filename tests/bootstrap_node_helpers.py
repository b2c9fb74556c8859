"""Helpers for the Node.js runtime client's tests (bootstrap_node.js).

The real `node bootstrap_node.js` started against a minimal, recording Lambda Runtime API served by
aiohttp on 127.0.0.1, with handler code written to a temporary directory; log record parsing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import termios
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

NODE = shutil.which("node")
BOOTSTRAP = (
    Path(__file__).resolve().parents[1] / "src" / "lambdabox" / "lambda_" / "runtimes" / "bootstrap_node.js"
)
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
GUARD_SECONDS = 15.0  # only a guard against hangs; no test waits for time to pass

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(coro, GUARD_SECONDS)

    return asyncio.run(guarded())


@dataclass(frozen=True)
class Posted:
    """One POST the runtime made to the Runtime API."""

    kind: str  # "response", "error" or "init/error"
    request_id: str | None
    headers: Mapping[str, str]
    body: bytes
    stdout_at_post: bytes  # everything the runtime had put into its stdout pipe by then

    def json(self) -> Any:
        return json.loads(self.body)


class StdoutPipe(asyncio.Protocol):
    """Reads the runtime's stdout; knows how many bytes are still unread in the pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = bytearray()
        self.changed = asyncio.Event()
        self.eof = False

    def data_received(self, data: bytes) -> None:
        self.data.extend(data)
        self.changed.set()

    def eof_received(self) -> None:
        self.eof = True
        self.changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.changed.set()

    def snapshot(self) -> bytes:
        """All bytes written so far: those read plus those still waiting in the pipe."""
        unread = bytearray(4)
        fcntl.ioctl(self.fd, termios.FIONREAD, unread)
        waiting = int.from_bytes(unread, "little")
        pending = os.read(self.fd, waiting) if waiting else b""
        self.data.extend(pending)
        return bytes(self.data)

    async def wait_for(self, needle: bytes) -> None:
        while needle not in self.data:
            if self.eof:
                raise AssertionError(f"stdout ended without {needle!r}: {bytes(self.data)!r}")
            self.changed.clear()
            await self.changed.wait()

    def text(self) -> str:
        return self.data.decode()


@dataclass
class RuntimeAPI:
    """A minimal Runtime API: hands queued events to /next and records every POST."""

    stdout: StdoutPipe | None = None
    events: asyncio.Queue[tuple[bytes, dict[str, str]]] = field(default_factory=asyncio.Queue)
    posts: asyncio.Queue[Posted] = field(default_factory=asyncio.Queue)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    next_calls: int = 0
    # Answer /next chunked, in small pieces, and close the connection after every response.
    chunked_and_closing: bool = False
    peer_ports: list[int] = field(default_factory=list)  # the client port of each request

    def note_peer(self, request: web.Request) -> None:
        transport = request.transport
        assert transport is not None
        self.peer_ports.append(transport.get_extra_info("peername")[1])

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/2018-06-01/runtime/invocation/next", self.next)
        app.router.add_post("/2018-06-01/runtime/invocation/{id}/response", self.record("response"))
        app.router.add_post("/2018-06-01/runtime/invocation/{id}/error", self.record("error"))
        app.router.add_post("/2018-06-01/runtime/init/error", self.record("init/error"))
        return app

    async def next(self, request: web.Request) -> web.StreamResponse:
        self.next_calls += 1
        self.note_peer(request)
        get = asyncio.ensure_future(self.events.get())
        closing = asyncio.ensure_future(self.closing.wait())
        await asyncio.wait({get, closing}, return_when=asyncio.FIRST_COMPLETED)
        closing.cancel()
        if not get.done():
            get.cancel()
            return web.Response(status=410)
        payload, headers = get.result()
        if not self.chunked_and_closing:
            return web.Response(body=payload, headers=headers, content_type="application/json")
        stream = web.StreamResponse(headers={**headers, "Content-Type": "application/json"})
        stream.enable_chunked_encoding()
        stream.force_close()
        await stream.prepare(request)
        for start in range(0, len(payload), 3):  # pieces that split multi-byte characters
            await stream.write(payload[start : start + 3])
        await stream.write_eof()
        return stream

    def record(self, kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            stdout_at_post = self.stdout.snapshot() if self.stdout is not None else b""
            self.note_peer(request)
            body = await request.read()
            await self.posts.put(
                Posted(kind, request.match_info.get("id"), dict(request.headers), body, stdout_at_post)
            )
            response = web.json_response({"status": "OK"}, status=202)
            if self.chunked_and_closing:
                response.force_close()
            return response

        return handler


@dataclass
class Runtime:
    """A running `node bootstrap_node.js` and the Runtime API it talks to."""

    api: RuntimeAPI
    proc: asyncio.subprocess.Process
    stdout: StdoutPipe

    async def invoke(self, payload: Any = None, *, request_id: str | None = None, **headers: str) -> Posted:
        await self.send(payload, request_id=request_id, **headers)
        return await self.api.posts.get()

    async def send(self, payload: Any = None, *, request_id: str | None = None, **headers: str) -> str:
        request_id = request_id or str(uuid.uuid4())
        wire = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
            "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        }
        wire.update({name.replace("_", "-"): value for name, value in headers.items()})
        await self.api.events.put((json.dumps(payload).encode(), wire))
        return request_id

    async def exit_code(self) -> int:
        return await self.proc.wait()


@contextlib.asynccontextmanager
async def runtime(
    task_root: Path, handler: str, env: Mapping[str, str] | None = None, api: RuntimeAPI | None = None
) -> AsyncIterator[Runtime]:
    api = api or RuntimeAPI()
    runner = web.AppRunner(api.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    read_fd, write_fd = os.pipe()
    loop = asyncio.get_running_loop()
    transport, stdout = await loop.connect_read_pipe(
        lambda: StdoutPipe(read_fd), os.fdopen(read_fd, "rb", buffering=0)
    )
    api.stdout = stdout
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abcdef",
        "AWS_REGION": "us-east-1",
    }
    full_env.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        str(NODE),
        str(BOOTSTRAP),
        cwd=task_root,
        env=full_env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=write_fd,
        stderr=asyncio.subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        yield Runtime(api, proc, stdout)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        api.closing.set()
        transport.close()
        await runner.cleanup()


def write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t(?P<rid>[^\t]+)\t(?P<level>[A-Z]+)\t(?P<msg>.*)$"
)


def records(text: str) -> list[tuple[str, str, str]]:
    """(request id, level, message) of each AWS-format log line in stdout."""
    found = []
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if match:
            found.append((match["rid"], match["level"], match["msg"]))
    return found


def error_json(message: str, label: str) -> Any:
    """The JSON that follows `<label> \\t` in an AWS error log line."""
    prefix = f"{label} \t"
    assert message.startswith(prefix), message
    return json.loads(message[len(prefix) :])
