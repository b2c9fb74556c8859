"""Tests for lambdabox's Node.js runtime client (bootstrap_node.js): logging, streaming, the connection
and signals.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from bootstrap_node_helpers import (
    NODE,
    RuntimeAPI,
    run,
    runtime,
    write,
)

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

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
