"""Tests for lambdabox's Node.js runtime client (bootstrap_node.js): init errors and invoke errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bootstrap_node_helpers import (
    NODE,
    Posted,
    Runtime,
    error_json,
    records,
    run,
    runtime,
    write,
)

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

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
