"""Outside review of the Node.js runtime against AWS's Node.js runtime docs: context, log records,
error shapes, rejections, module kinds, and a runtime version missing on the host."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from review_helpers import gate_fixture as gate_fixture
from review_helpers import invoke, messages, request_id

# ---------------------------------------------------------------------------------------------
# Behaviour that matches AWS (not covered elsewhere).
# ---------------------------------------------------------------------------------------------

NODE_CONTEXT = (
    "exports.handler = async (event, ctx) => {\n"
    "  console.log('info', {a: 1});\n"
    "  console.info('i');\n"
    "  console.warn('w');\n"
    "  console.error('e');\n"
    "  console.debug('d');\n"
    "  return {fn: ctx.functionName, ver: ctx.functionVersion, arn: ctx.invokedFunctionArn,\n"
    "          mem: ctx.memoryLimitInMB, rid: ctx.awsRequestId, group: ctx.logGroupName,\n"
    "          stream: ctx.logStreamName, remaining: ctx.getRemainingTimeInMillis(),\n"
    "          waits: ctx.callbackWaitsForEmptyEventLoop, cc: ctx.clientContext};\n"
    "};\n"
)


# Node.js context (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-context.html) and the
# console record format `<ISO time>\t<request id>\t<LEVEL>\t<message>`
# (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-logging.html).
def test_node_context_and_console_record_format(lam: Any, logs: Any, create_fn: Callable[..., str]) -> None:
    name = create_fn(
        {"index.js": NODE_CONTEXT}, runtime="nodejs20.x", handler="index.handler", MemorySize=256
    )
    client_context = {"custom": {"k": "v"}, "env": {"platform": "p"}, "client": {"app_title": "t"}}
    _, body, tail = invoke(
        lam, name, ClientContext=base64.b64encode(json.dumps(client_context).encode()).decode()
    )
    rid = request_id(tail)
    assert body["fn"] == name
    assert body["ver"] == "$LATEST"
    assert body["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert body["mem"] == "256"  # a string in the Node.js runtime
    assert body["rid"] == rid
    assert body["group"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", body["stream"])
    assert 0 < body["remaining"] <= 3000
    assert body["waits"] is True
    assert body["cc"] == client_context
    levels = {}
    for m in messages(logs, name):
        parts = m.rstrip("\n").split("\t")
        if len(parts) == 4 and parts[1] == rid:
            assert time.strptime(parts[0], "%Y-%m-%dT%H:%M:%S.%fZ")
            levels[parts[3]] = parts[2]
    assert levels == {"info { a: 1 }": "INFO", "i": "INFO", "w": "WARN", "e": "ERROR", "d": "DEBUG"}


# Node.js errors (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-exceptions.html): the body
# is {errorType, errorMessage, trace}; a thrown non-Error keeps its typeof as errorType.
@pytest.mark.parametrize(
    ("src", "error_type", "error_message", "has_trace"),
    [
        (
            "class MyErr extends Error { constructor(m) { super(m); this.name = 'MyErr'; } }\n"
            "exports.handler = async () => { throw new MyErr('custom'); };\n",
            "MyErr",
            "custom",
            True,
        ),
        ("exports.handler = (e, c, cb) => cb(new TypeError('bad'));\n", "TypeError", "bad", True),
        ("exports.handler = (e, c, cb) => cb('plain');\n", "string", "plain", False),
        ("exports.handler = async () => { throw {foo: 1}; };\n", "object", "[object Object]", False),
    ],
)
def test_node_error_shapes(
    lam: Any, create_fn: Callable[..., str], src: str, error_type: str, error_message: str, has_trace: bool
) -> None:
    name = create_fn({"index.js": src}, runtime="nodejs20.x", handler="index.handler")
    resp, body, tail = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type
    assert body["errorMessage"] == error_message
    assert isinstance(body["trace"], list) and bool(body["trace"]) == has_trace
    assert "\tERROR\tInvoke Error \t{" in tail


# An unhandled rejection fails the invocation as Runtime.UnhandledPromiseRejection; process.exit()
# in a handler is Runtime.ExitError "exit status N"; the next invocation gets a fresh environment.
def test_node_unhandled_rejection_and_process_exit(lam: Any, create_fn: Callable[..., str]) -> None:
    src = (
        "let calls = 0;\n"
        "exports.handler = async (e) => {\n"
        "  calls++;\n"
        "  if (e.reject) { Promise.reject(new Error('lost')); await new Promise(r => setTimeout(r, 50)); }\n"
        "  if (e.exit !== undefined) process.exit(e.exit);\n"
        "  return calls;\n"
        "};\n"
    )
    name = create_fn({"index.js": src}, runtime="nodejs20.x", handler="index.handler")
    resp, body, _ = invoke(lam, name, {"reject": True})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.UnhandledPromiseRejection"
    assert body["errorMessage"] == "Error: lost"
    resp, body, tail = invoke(lam, name, {"exit": 3})
    rid = request_id(tail)
    assert body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: exit status 3",
    }
    assert "Runtime.ExitError" in tail
    _, body, _ = invoke(lam, name)
    assert body == 1  # a new environment


def test_node_esm_and_type_module(lam: Any, create_fn: Callable[..., str]) -> None:
    mjs = create_fn(
        {"index.mjs": "const x = await Promise.resolve(2);\nexport const handler = async (e) => ({x, e});\n"},
        runtime="nodejs20.x",
        handler="index.handler",
    )
    assert invoke(lam, mjs, {"a": 1})[1] == {"x": 2, "e": {"a": 1}}
    typed = create_fn(
        {"lib/h.js": "export const go = async () => 'esm';\n", "package.json": '{"type": "module"}'},
        runtime="nodejs20.x",
        handler="lib/h.go",
    )
    assert invoke(lam, typed)[1] == "esm"


# Issue 3: "A runtime identifier whose interpreter is not installed runs on the nearest installed
# one, with a warning in the function's log"; AWS_EXECUTION_ENV still names the configured runtime.
def test_nodejs22_runs_and_says_so_in_the_log(lam: Any, logs: Any, create_fn: Callable[..., str]) -> None:
    src = "exports.handler = async () => ({v: process.versions.node, env: process.env.AWS_EXECUTION_ENV});\n"
    name = create_fn({"index.js": src}, runtime="nodejs22.x", handler="index.handler")
    _, body, _ = invoke(lam, name)
    assert body["env"] == "AWS_Lambda_nodejs22.x"
    if not body["v"].startswith("22."):
        assert any("nodejs22.x is not installed here" in m for m in messages(logs, name))


# Concurrent callers each get an environment (Lambda scales one environment per concurrent
# request, https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html); later callers
# reuse those warm environments, whose module state persists.
