"""Tests for lambdabox's Node.js runtime client (bootstrap_node.js).

Each test starts the real `node bootstrap_node.js` against a minimal, recording Lambda Runtime API
served by aiohttp on 127.0.0.1, with handler code written to a temporary directory, and asserts
what the runtime posts (bodies, headers) and what it writes to stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import termios
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

NODE = shutil.which("node")
BOOTSTRAP = (
    Path(__file__).resolve().parents[1] / "src" / "lambdabox" / "lambda_" / "runtimes" / "bootstrap_node.js"
)
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
GUARD_SECONDS = 15.0  # only a guard against hangs; no test waits for time to pass

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

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


# --- handlers -----------------------------------------------------------------------------------


def test_async_handler_result_logs_and_flush_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
exports.handler = async (event, context) => {
  console.log('hello', event.name, {n: 1});
  console.info('info line');
  console.warn('warn line');
  console.error('error line');
  console.debug('debug line');
  process.stdout.write('x'.repeat(1 << 20) + '\\n');
  console.log('last line');
  return { greeting: 'hi ' + event.name };
};
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke({"name": "ana"}, request_id="req-1")
            assert posted.kind == "response"
            assert posted.request_id == "req-1"
            assert posted.json() == {"greeting": "hi ana"}
            assert posted.headers["Content-Type"] == "application/json"
            # Everything logged before the result was in the pipe when the result arrived.
            assert b"\tlast line\n" in posted.stdout_at_post
            logged = records(posted.stdout_at_post.decode())
            assert ("req-1", "INFO", "hello ana { n: 1 }") in logged
            assert ("req-1", "INFO", "info line") in logged
            assert ("req-1", "WARN", "warn line") in logged
            assert ("req-1", "ERROR", "error line") in logged
            assert ("req-1", "DEBUG", "debug line") in logged

    run(scenario())


def test_callback_handler_waits_for_empty_event_loop(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
exports.handler = (event, context, callback) => {
  setTimeout(() => console.log('timer fired'), 20);
  callback(null, { via: 'callback', waits: context.callbackWaitsForEmptyEventLoop });
};
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke({})
            assert posted.json() == {"via": "callback", "waits": True}
            # The response was held back until the handler's timer had run.
            assert b"\tINFO\ttimer fired\n" in posted.stdout_at_post

    run(scenario())


def test_callback_without_waiting_responds_with_pending_timer(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
let calls = 0;
exports.handler = (event, context, callback) => {
  calls += 1;
  context.callbackWaitsForEmptyEventLoop = false;
  setTimeout(() => console.log('an hour later'), 3600 * 1000);
  callback(null, { calls });
};
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            assert (await rt.invoke({})).json() == {"calls": 1}
            assert (await rt.invoke({})).json() == {"calls": 2}
            assert rt.proc.returncode is None

    run(scenario())


def test_sync_handler_without_callback_answers_null_as_aws(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": "exports.handler = (event) => 42;\n"})

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke({})
            assert posted.kind == "response"
            assert posted.body == b"null"

    run(scenario())


def test_undefined_result_is_null_and_deprecated_context_methods(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
exports.handler = async (event, context) => {
  if (event.mode === 'succeed') { context.succeed({ ok: 1 }); return; }
  if (event.mode === 'fail') { context.fail(new RangeError('failed via context')); return; }
  if (event.mode === 'done') { context.done(null, 'done!'); return; }
  return undefined;
};
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            assert (await rt.invoke({})).body == b"null"
            assert (await rt.invoke({"mode": "succeed"})).json() == {"ok": 1}
            assert (await rt.invoke({"mode": "done"})).json() == "done!"
            failed = await rt.invoke({"mode": "fail"})
            assert failed.kind == "error"
            assert failed.json()["errorType"] == "RangeError"
            assert failed.json()["errorMessage"] == "failed via context"

    run(scenario())


def test_globals_persist_across_invocations(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
let count = 0;
const started = Date.now();
exports.handler = async () => ({ count: ++count, started });
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            first = (await rt.invoke({})).json()
            second = (await rt.invoke({})).json()
            third = (await rt.invoke({})).json()
            assert [first["count"], second["count"], third["count"]] == [1, 2, 3]
            assert first["started"] == third["started"]

    run(scenario())


def test_context_fields(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
exports.handler = async (event, context) => ({
  keys: Object.keys(context),
  awsRequestId: context.awsRequestId,
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  invokedFunctionArn: context.invokedFunctionArn,
  memoryLimitInMB: context.memoryLimitInMB,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  clientContext: context.clientContext,
  identity: context.identity,
  remaining: context.getRemainingTimeInMillis(),
  waits: context.callbackWaitsForEmptyEventLoop,
  methods: [typeof context.done, typeof context.succeed, typeof context.fail],
  traceId: process.env._X_AMZN_TRACE_ID,
});
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke(
                {},
                request_id="abc-123",
                Lambda_Runtime_Client_Context=json.dumps({"custom": {"k": "v"}}),
                Lambda_Runtime_Cognito_Identity=json.dumps({"cognitoIdentityId": "id-1"}),
            )
            ctx = posted.json()
            assert ctx["awsRequestId"] == "abc-123"
            assert ctx["functionName"] == "fn"
            assert ctx["functionVersion"] == "$LATEST"
            assert ctx["invokedFunctionArn"] == FUNCTION_ARN
            assert ctx["memoryLimitInMB"] == "128"
            assert ctx["logGroupName"] == "/aws/lambda/fn"
            assert ctx["logStreamName"] == "2024/01/01/[$LATEST]abcdef"
            assert ctx["clientContext"] == {"custom": {"k": "v"}}
            assert ctx["identity"] == {"cognitoIdentityId": "id-1"}
            assert 0 < ctx["remaining"] <= 60_000
            assert ctx["waits"] is True
            assert ctx["methods"] == ["function", "function", "function"]
            assert ctx["traceId"] == "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
            assert ctx["keys"][:4] == ["callbackWaitsForEmptyEventLoop", "succeed", "fail", "done"]
            assert "getRemainingTimeInMillis" in ctx["keys"]

    run(scenario())


# --- module resolution ----------------------------------------------------------------------------


def test_esm_mjs_with_top_level_await(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.mjs": """
import { basename } from 'node:path';
const base = await Promise.resolve(41);
export const handler = async (event) => ({ value: base + 1, file: basename(import.meta.url) });
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            assert (await rt.invoke({})).json() == {"value": 42, "file": "index.mjs"}

    run(scenario())


def test_package_type_module_loads_js_as_esm(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "package.json": json.dumps({"type": "module"}),
            "src/app.js": "export async function handler() { return typeof require; }\n",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "src/app.handler") as rt:
            assert (await rt.invoke({})).json() == "undefined"

    run(scenario())


def test_commonjs_cjs_and_nested_property(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "package.json": json.dumps({"type": "module"}),
            "lib/mod.cjs": "module.exports = { a: { b: async () => typeof require } };\n",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "lib/mod.a.b") as rt:
            assert (await rt.invoke({})).json() == "function"

    run(scenario())


# --- init errors --------------------------------------------------------------------------------


async def init_failure(rt: Runtime) -> tuple[Posted, dict[str, Any], int]:
    posted = await rt.api.posts.get()
    code = await rt.exit_code()
    await rt.stdout.wait_for(b"Uncaught Exception")
    (rid, level, message) = next(r for r in records(rt.stdout.text()) if "Uncaught Exception" in r[2])
    assert (rid, level) == ("undefined", "ERROR")
    return posted, error_json(message, "Uncaught Exception"), code


def test_import_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted, logged, code = await init_failure(rt)
            assert posted.kind == "init/error"
            assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.ImportModuleError"
            body = posted.json()
            assert set(body) == {"errorType", "errorMessage", "trace"}
            assert body["errorType"] == "Runtime.ImportModuleError"
            assert body["errorMessage"].startswith("Error: Cannot find module 'index'\nRequire stack:\n- ")
            assert body["trace"][0] == "Runtime.ImportModuleError: Error: Cannot find module 'index'"
            assert logged["errorType"] == "Runtime.ImportModuleError"
            assert logged["errorMessage"] == body["errorMessage"]
            assert isinstance(logged["stack"], list)
            assert code != 0
            assert rt.api.next_calls == 0

    run(scenario())


def test_handler_not_exported(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": "exports.handler = async () => 1;\n"})

    async def scenario() -> None:
        async with runtime(tmp_path, "index.nope") as rt:
            posted, logged, code = await init_failure(rt)
            assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.HandlerNotFound"
            assert posted.json()["errorMessage"] == "index.nope is undefined or not exported"
            assert logged["errorType"] == "Runtime.HandlerNotFound"
            assert code != 0

    run(scenario())


def test_malformed_handler_name(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": "exports.handler = async () => 1;\n"})

    async def scenario() -> None:
        async with runtime(tmp_path, "index") as rt:
            posted, _, code = await init_failure(rt)
            assert posted.json()["errorType"] == "Runtime.MalformedHandlerName"
            assert posted.json()["errorMessage"] == "Bad handler"
            assert code != 0

    run(scenario())


def test_syntax_error(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": "exports.handler = async () => {;\n"})

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted, _, code = await init_failure(rt)
            body = posted.json()
            assert body["errorType"] == "Runtime.UserCodeSyntaxError"
            assert body["errorMessage"].startswith("SyntaxError: ")
            assert code != 0

    run(scenario())


def test_error_thrown_at_module_load(tmp_path: Path) -> None:
    write(tmp_path, {"index.mjs": "throw new TypeError('no config');\nexport const handler = () => 1;\n"})

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted, _, code = await init_failure(rt)
            assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "TypeError"
            assert posted.json()["errorMessage"] == "no config"
            assert code != 0

    run(scenario())


# --- invoke errors ------------------------------------------------------------------------------


def test_thrown_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
exports.handler = async () => {
  const err = new TypeError('bad input');
  err.code = 'E_BAD';
  throw err;
};
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke({}, request_id="req-err")
            assert posted.kind == "error"
            assert posted.request_id == "req-err"
            assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "TypeError"
            body = posted.json()
            assert set(body) == {"errorType", "errorMessage", "trace"}
            assert body["errorType"] == "TypeError"
            assert body["errorMessage"] == "bad input"
            assert body["trace"][0] == "TypeError: bad input"
            assert any("index.js" in line for line in body["trace"][1:])
            (message,) = [m for rid, lvl, m in records(posted.stdout_at_post.decode()) if lvl == "ERROR"]
            logged = error_json(message, "Invoke Error")
            assert logged["errorType"] == "TypeError"
            assert logged["errorMessage"] == "bad input"
            assert logged["code"] == "E_BAD"
            assert logged["stack"][0] == "TypeError: bad input"
            # The runtime keeps serving after a handler error.
            rt.api.events.put_nowait((b"{}", {"Lambda-Runtime-Aws-Request-Id": "again"}))
            assert (await rt.api.posts.get()).request_id == "again"

    run(scenario())


def test_rejected_promise_and_callback_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
exports.handler = (event, context, callback) => {
  if (event.mode === 'reject') return Promise.reject(new Error('rejected'));
  if (event.mode === 'string') return callback('plain string');
  if (event.mode === 'sync-throw') throw new SyntaxError('sync');
  return Promise.reject(undefined);
};
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            rejected = await rt.invoke({"mode": "reject"})
            assert rejected.kind == "error"
            assert rejected.json()["errorType"] == "Error"
            assert rejected.json()["errorMessage"] == "rejected"
            string = await rt.invoke({"mode": "string"})
            assert string.json() == {"errorType": "string", "errorMessage": "plain string", "trace": []}
            thrown = await rt.invoke({"mode": "sync-throw"})
            assert thrown.json()["errorType"] == "SyntaxError"
            empty = await rt.invoke({"mode": "undefined"})
            assert empty.json() == {"errorType": "string", "errorMessage": "handled", "trace": []}

    run(scenario())


def test_unhandled_rejection_during_invoke_reports_and_exits(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
exports.handler = async () => {
  Promise.reject(new Error('nobody waits for me'));
  await new Promise(() => setTimeout(() => {}, 3600 * 1000));
};
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke({}, request_id="req-ur")
            assert posted.kind == "error"
            assert posted.request_id == "req-ur"
            body = posted.json()
            assert body["errorType"] == "Runtime.UnhandledPromiseRejection"
            assert body["errorMessage"] == "Error: nobody waits for me"
            assert await rt.exit_code() == 128
            assert "\tERROR\tUnhandled Promise Rejection \t{" in rt.stdout.text()

    run(scenario())


def test_uncaught_exception_during_invoke_reports_and_exits(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
exports.handler = (event, context, callback) => {
  setImmediate(() => { throw new RangeError('out of range'); });
};
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke({}, request_id="req-ue")
            assert (posted.kind, posted.request_id) == ("error", "req-ue")
            assert posted.json()["errorType"] == "RangeError"
            assert posted.json()["errorMessage"] == "out of range"
            assert await rt.exit_code() == 129
            assert "\treq-ue\tERROR\tUncaught Exception \t{" in rt.stdout.text()

    run(scenario())


def test_async_handler_that_never_settles(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": "exports.handler = async () => new Promise(() => {});\n"})

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke({})
            assert posted.kind == "error"
            assert posted.json()["errorType"] == "Runtime.NodeJsExit"
            # The environment stays usable.
            assert (await rt.invoke({})).json()["errorType"] == "Runtime.NodeJsExit"

    run(scenario())


def test_unserializable_result(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": "exports.handler = async () => { const a = {}; a.a = a; return a; };\n"})

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke({})
            assert posted.kind == "error"
            assert posted.json()["errorMessage"] == "Unable to stringify response body"

    run(scenario())


# --- logging, streaming, signals --------------------------------------------------------------


def test_json_log_format_and_level(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.js": """
exports.handler = async () => {
  console.debug('hidden');
  console.info('shown', 1);
  console.error(new Error('as json'));
  return 'ok';
};
""",
        },
    )

    async def scenario() -> None:
        env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
        async with runtime(tmp_path, "index.handler", env) as rt:
            posted = await rt.invoke({}, request_id="req-json")
            lines = [json.loads(line) for line in posted.stdout_at_post.decode().splitlines()]
            assert [line["level"] for line in lines] == ["INFO", "ERROR"]
            assert lines[0]["message"] == "shown 1"
            assert lines[0]["requestId"] == "req-json"
            assert lines[1]["message"]["errorMessage"] == "as json"

    run(scenario())


def test_streaming_handler(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.mjs": """
export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  responseStream.setContentType('text/plain');
  responseStream.write('hello ');
  responseStream.write(context.awsRequestId);
  responseStream.end();
});
""",
        },
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke({}, request_id="req-stream")
            assert posted.kind == "response"
            assert posted.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
            assert posted.headers["Content-Type"] == "text/plain"
            assert posted.body == b"hello req-stream"

    run(scenario())


ECHO_HANDLER = "exports.handler = async (event, context) => ({ echo: event, id: context.awsRequestId });\n"
NON_ASCII = {"text": "h\u00e9llo \u2713 \U0001f600", "n": 1}


def test_non_ascii_event_and_result(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": ECHO_HANDLER})

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.invoke(NON_ASCII, request_id="req-utf8")
            assert posted.json() == {"echo": NON_ASCII, "id": "req-utf8"}
            assert int(posted.headers["Content-Length"]) == len(posted.body)
            assert posted.headers["Content-Type"] == "application/json"

    run(scenario())


def test_one_persistent_connection(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": ECHO_HANDLER})

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            for i in range(4):
                assert (await rt.invoke(i)).json()["echo"] == i
            # /next, response, /next, response, ... all on one keep-alive connection.
            assert len(rt.api.peer_ports) >= 8
            assert len(set(rt.api.peer_ports)) == 1

    run(scenario())


def test_chunked_responses_and_connection_close(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": ECHO_HANDLER})

    async def scenario() -> None:
        api = RuntimeAPI(chunked_and_closing=True)
        async with runtime(tmp_path, "index.handler", api=api) as rt:
            first = await rt.invoke(NON_ASCII, request_id="req-1")
            assert first.json() == {"echo": NON_ASCII, "id": "req-1"}
            second = await rt.invoke([1, 2, 3], request_id="req-2")
            assert second.json() == {"echo": [1, 2, 3], "id": "req-2"}
            # Every response closed its connection, so the runtime reconnected for each request.
            assert len(api.peer_ports) >= 4
            assert len(set(api.peer_ports)) == len(api.peer_ports)
            assert rt.proc.returncode is None

    run(scenario())


def test_sigterm_exits_promptly(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": "exports.handler = async () => 'ok';\n"})

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            assert (await rt.invoke({})).json() == "ok"
            rt.proc.send_signal(signal.SIGTERM)
            assert await rt.exit_code() == -signal.SIGTERM

    run(scenario())


def test_unhandled_rejection_at_module_load(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"index.js": "Promise.reject(new Error('floating'));\nexports.handler = async () => 1;\n"},
    )

    async def scenario() -> None:
        async with runtime(tmp_path, "index.handler") as rt:
            posted = await rt.api.posts.get()
            assert posted.kind == "init/error"
            assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.UnhandledPromiseRejection"
            assert posted.json()["errorMessage"] == "Error: floating"
            assert await rt.exit_code() == 128

    run(scenario())
