"""Tests for lambdabox's Node.js runtime client (bootstrap_node.js): handlers and module resolution.

Each test starts the real `node bootstrap_node.js` against a minimal, recording Lambda Runtime API
served by aiohttp on 127.0.0.1, with handler code written to a temporary directory, and asserts
what the runtime posts (bodies, headers) and what it writes to stdout (bootstrap_node_helpers).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bootstrap_node_helpers import (
    FUNCTION_ARN,
    NODE,
    records,
    run,
    runtime,
    write,
)

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

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
