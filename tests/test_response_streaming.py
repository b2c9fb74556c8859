"""Response streaming end to end: boto3's invoke_with_response_stream and RESPONSE_STREAM function
URLs over plain HTTP, with a Node.js `awslambda.streamifyResponse` handler and a Python streaming
handler (a custom runtime, tests/apps/python-streaming/bootstrap).

Bytes must reach the client while the function is still running: the functions write a first
piece, then wait for a message on an SQS queue the test controls (a long poll), and only the test,
once it has read that first piece, sends the message. Also: errors half-way (InvokeComplete's
ErrorCode and ErrorDetails; a cut-off HTTP body), the 20 MB limit, timeouts while streaming,
functions that do not stream, clients that go away mid-stream."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError

from conftest import Server, aws_error, deploy, unique
from lambdabox.aws.event_stream import encode_event, encode_message

BOOTSTRAP = (Path(__file__).parent / "apps" / "python-streaming" / "bootstrap").read_text()

# the gate: long-poll the queue named in the command until the test puts a message on it
NODE = """
const gate = async (queue) => {
  for (;;) {
    const r = await fetch(process.env.AWS_ENDPOINT_URL, {
      method: 'POST',
      headers: {'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'AmazonSQS.ReceiveMessage'},
      body: JSON.stringify({QueueUrl: queue, WaitTimeSeconds: 20}),
    });
    const out = await r.json();
    if (out.Messages && out.Messages.length) return out.Messages[0].Body;
  }
};
exports.handler = awslambda.streamifyResponse(async (event, stream, context) => {
  const cmd = event.rawPath !== undefined ? JSON.parse(event.body || '{}') : event;
  if (cmd.http) {
    stream = awslambda.HttpResponseStream.from(stream, {
      statusCode: 201, headers: {'X-Streamed': 'yes'}, cookies: ['s=1'],
    });
  } else {
    stream.setContentType('text/plain');
  }
  stream.write('first;');
  if (cmd.queue) stream.write('gate:' + (await gate(cmd.queue)) + ';');
  if (cmd.fail) throw new Error('broken half-way');
  if (cmd.sleep) await new Promise((r) => setTimeout(r, cmd.sleep));
  if (cmd.big) {
    const mb = Buffer.alloc(1024 * 1024, 120);
    for (let i = 0; i < cmd.big; i++) {
      if (!stream.write(mb)) await new Promise((r) => stream.once('drain', r));
    }
  }
  stream.write('last');
  stream.end();
});
"""

PYTHON = """
import json, os, time, urllib.request

def gate(queue):
    while True:
        req = urllib.request.Request(
            os.environ['AWS_ENDPOINT_URL'],
            data=json.dumps({'QueueUrl': queue, 'WaitTimeSeconds': 20}).encode(),
            headers={'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'AmazonSQS.ReceiveMessage'},
        )
        out = json.loads(urllib.request.urlopen(req, timeout=60).read())
        if out.get('Messages'):
            return out['Messages'][0]['Body']

def handler(event, context):
    cmd = json.loads(event.get('body') or '{}') if 'rawPath' in event else event
    context.content_type = 'text/plain'
    yield 'first;'
    if cmd.get('queue'):
        yield 'gate:' + gate(cmd['queue']) + ';'
    if cmd.get('fail'):
        raise ValueError('broken half-way')
    if cmd.get('sleep'):
        time.sleep(cmd['sleep'] / 1000)
    yield 'last'

def whole(event, context):
    return {'whole': True}
"""

KINDS = ("node", "python")
ERROR_TYPE = {"node": "Error", "python": "ValueError"}


def make(lam: Any, kind: str, **kw: Any) -> str:
    if kind == "node":
        return deploy(lam, {"index.js": NODE}, runtime="nodejs20.x", handler="index.handler", **kw)
    files: dict[str, str | bytes] = {"app.py": PYTHON, "bootstrap": BOOTSTRAP}
    modes = {"bootstrap": 0o755}
    handler = kw.pop("handler", "app.handler")
    return deploy(lam, files, runtime="provided.al2023", handler=handler, modes=modes, **kw)


@pytest.fixture(scope="module")
def functions(server: Server) -> Iterator[dict[str, str]]:
    lam = server.client("lambda")
    made = {kind: make(lam, kind, Timeout=60) for kind in KINDS}
    yield made
    for name in made.values():
        lam.delete_function(FunctionName=name)


@pytest.fixture
def queue(server: Server) -> Iterator[str]:
    sqs = server.client("sqs")
    url = str(sqs.create_queue(QueueName=unique("gate"))["QueueUrl"])
    yield url
    sqs.delete_queue(QueueUrl=url)


def events(response: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for event in response["EventStream"]:
        ((name, members),) = event.items()
        yield name, members


# -- the encoding ------------------------------------------------------------------------------


def test_events_are_read_by_botocore_s_own_decoder() -> None:
    buf = EventStreamBuffer()
    buf.add_data(encode_event("PayloadChunk", b"\x00abc", "application/octet-stream"))
    buf.add_data(encode_event("InvokeComplete", b'{"ErrorCode":"E"}', "application/json"))
    got = [(m.headers, m.payload) for m in buf]
    assert got == [
        (
            {
                ":event-type": "PayloadChunk",
                ":content-type": "application/octet-stream",
                ":message-type": "event",
            },
            b"\x00abc",
        ),
        (
            {":event-type": "InvokeComplete", ":content-type": "application/json", ":message-type": "event"},
            b'{"ErrorCode":"E"}',
        ),
    ]


def test_a_message_is_framed_as_the_spec_says() -> None:
    raw = encode_message({"a": "b"}, b"xy")
    total, headers_len, prelude_crc = struct.unpack("!III", raw[:12])
    assert (total, headers_len, len(raw)) == (len(raw), 1 + 1 + 1 + 2 + 1, 12 + 6 + 2 + 4)
    assert prelude_crc == zlib.crc32(raw[:8])
    assert struct.unpack("!I", raw[-4:])[0] == zlib.crc32(raw[:-4])


# -- InvokeWithResponseStream ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_pieces_arrive_while_the_function_runs(
    server: Server, functions: dict[str, str], queue: str, kind: str
) -> None:
    lam, sqs = server.client("lambda"), server.client("sqs")
    resp = lam.invoke_with_response_stream(FunctionName=functions[kind], Payload=json.dumps({"queue": queue}))
    assert (resp["StatusCode"], resp["ExecutedVersion"], resp["ResponseStreamContentType"]) == (
        200,
        "$LATEST",
        "text/plain",
    )
    stream = events(resp)
    # the function is blocked on the queue until the message below is sent: this piece came first
    assert next(stream) == ("PayloadChunk", {"Payload": b"first;"})
    sqs.send_message(QueueUrl=queue, MessageBody="open")
    rest = list(stream)
    body = b"".join(m["Payload"] for name, m in rest if name == "PayloadChunk")
    assert body == b"gate:open;last"
    assert rest[-1] == ("InvokeComplete", {})


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_half_way_is_in_invoke_complete(
    server: Server, functions: dict[str, str], kind: str
) -> None:
    lam = server.client("lambda")
    resp = lam.invoke_with_response_stream(
        FunctionName=functions[kind], Payload=json.dumps({"fail": True}), LogType="Tail"
    )
    got = list(events(resp))
    assert got[0] == ("PayloadChunk", {"Payload": b"first;"})
    name, complete = got[-1]
    assert name == "InvokeComplete" and len(got) == 2
    assert (complete["ErrorCode"], complete["ErrorDetails"]) == (ERROR_TYPE[kind], "broken half-way")
    assert "broken half-way" in __import__("base64").b64decode(complete["LogResult"]).decode()


@pytest.mark.parametrize("kind", KINDS)
def test_plain_invoke_of_a_streaming_function_collects_the_stream(
    server: Server, functions: dict[str, str], kind: str
) -> None:
    lam = server.client("lambda")
    resp = lam.invoke(FunctionName=functions[kind], Payload=b"{}")
    assert ("FunctionError" not in resp, resp["Payload"].read()) == (True, b"first;last")
    failed = lam.invoke(FunctionName=functions[kind], Payload=b'{"fail": true}')
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorMessage"] == "broken half-way"


def test_a_function_that_does_not_stream_is_one_chunk(server: Server) -> None:
    lam = server.client("lambda")
    name = make(lam, "python", handler="app.whole")
    fails = deploy(lam, {"app.py": "def handler(e, c):\n    raise KeyError('k')\n"})
    try:
        got = list(events(lam.invoke_with_response_stream(FunctionName=name)))
        assert got == [("PayloadChunk", {"Payload": b'{"whole": true}'}), ("InvokeComplete", {})]
        got = list(events(lam.invoke_with_response_stream(FunctionName=fails)))
        assert json.loads(got[0][1]["Payload"])["errorType"] == "KeyError"
        assert got[1] == ("InvokeComplete", {"ErrorCode": "KeyError", "ErrorDetails": "'k'"})
    finally:
        lam.delete_function(FunctionName=name)
        lam.delete_function(FunctionName=fails)


def test_refusals_come_before_any_stream(server: Server, functions: dict[str, str]) -> None:
    lam = server.client("lambda")
    assert (
        lam.invoke_with_response_stream(FunctionName=functions["node"], InvocationType="DryRun")["StatusCode"]
        == 204
    )
    with pytest.raises(ClientError) as exc:
        lam.invoke_with_response_stream(FunctionName="no-such-function-here")
    code, message, status = aws_error(exc)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message.startswith("Function not found: arn:aws:lambda:us-east-1:")
    with pytest.raises(ClientError) as exc:
        lam.invoke_with_response_stream(FunctionName=functions["node"], Payload=b"{not json")
    assert aws_error(exc)[0] == "InvalidRequestContentException"


def test_a_stream_over_20_mb_is_cut_off(server: Server, functions: dict[str, str]) -> None:
    lam = server.client("lambda")
    resp = lam.invoke_with_response_stream(FunctionName=functions["node"], Payload=json.dumps({"big": 21}))
    got = list(events(resp))
    size = sum(len(m["Payload"]) for name, m in got if name == "PayloadChunk")
    assert size <= 20 * 1024 * 1024
    assert got[-1][1]["ErrorCode"] == "Function.ResponseSizeTooLarge"
    assert got[-1][1]["ErrorDetails"] == (
        "Response payload size exceeded maximum allowed payload size (20971520 bytes)."
    )
    again = lam.invoke(FunctionName=functions["node"], Payload=b"{}")  # the function still serves
    assert again["Payload"].read() == b"first;last"


def test_a_timeout_while_streaming_ends_the_stream(server: Server) -> None:
    lam = server.client("lambda")
    name = make(lam, "node", Timeout=1)
    try:
        got = list(events(lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"sleep": 5000}')))
        assert got[0] == ("PayloadChunk", {"Payload": b"first;"})
        assert got[-1][0] == "InvokeComplete" and got[-1][1]["ErrorCode"] == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in got[-1][1]["ErrorDetails"]
    finally:
        lam.delete_function(FunctionName=name)


# -- RESPONSE_STREAM function URLs over plain HTTP ---------------------------------------------


@pytest.fixture(scope="module")
def urls(server: Server, functions: dict[str, str]) -> dict[str, str]:
    lam = server.client("lambda")
    out = {}
    for kind, name in functions.items():
        cfg = lam.create_function_url_config(
            FunctionName=name,
            AuthType="NONE",
            InvokeMode="RESPONSE_STREAM",
            Cors={"AllowOrigins": ["https://app.example"]},
        )
        out[kind] = str(cfg["FunctionUrl"])
    return out


def url_id(url: str) -> str:
    return url.split("//", 1)[1].split(".", 1)[0]


def open_url(server: Server, url: str, command: dict[str, Any], *, by_host: bool) -> tuple[Any, Any]:
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Origin": "https://app.example", "Content-Type": "application/json"}
    path = "/stream"
    if by_host:
        headers["Host"] = urlsplit(url).netloc
    else:
        path = f"/_urls/{url_id(url)}/stream"
    conn.request("POST", path, body=json.dumps(command).encode(), headers=headers)
    return conn, conn.getresponse()


def read_until(resp: Any, want: bytes) -> bytes:
    got = b""
    while want not in got:
        piece = resp.read1(65536)
        assert piece, f"the stream ended before {want!r}: {got!r}"
        got += piece
    return got


@pytest.mark.parametrize("kind", KINDS)
def test_a_url_streams_while_the_function_runs(
    server: Server, urls: dict[str, str], queue: str, kind: str
) -> None:
    command: dict[str, Any] = {"queue": queue, "http": kind == "node"}
    conn, resp = open_url(server, urls[kind], command, by_host=kind == "python")
    try:
        assert resp.getheader("Transfer-Encoding") == "chunked"
        assert resp.getheader("Access-Control-Allow-Origin") == "https://app.example"
        assert resp.getheader("x-amzn-RequestId")
        if kind == "node":  # the prelude of awslambda.HttpResponseStream.from
            assert (resp.status, resp.getheader("X-Streamed"), resp.getheader("Set-Cookie")) == (
                201,
                "yes",
                "s=1",
            )
        else:
            assert (resp.status, resp.getheader("Content-Type")) == (200, "text/plain")
        first = read_until(resp, b"first;")  # before the function can end
        server.client("sqs").send_message(QueueUrl=queue, MessageBody="open")
        assert first + resp.read() == b"first;gate:open;last"
    finally:
        conn.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_url_stream_that_fails_half_way_is_cut_off(server: Server, urls: dict[str, str], kind: str) -> None:
    conn, resp = open_url(server, urls[kind], {"fail": True}, by_host=False)
    try:
        assert resp.status == 200
        with pytest.raises(http.client.IncompleteRead) as exc:
            resp.read()
        assert exc.value.partial == b"first;"
    finally:
        conn.close()
    conn, resp = open_url(server, urls[kind], {}, by_host=False)  # the URL serves on
    try:
        assert resp.read() == b"first;last"
    finally:
        conn.close()


def test_a_client_that_goes_away_mid_stream_harms_nothing(
    server: Server, functions: dict[str, str], urls: dict[str, str], queue: str
) -> None:
    conn, resp = open_url(server, urls["node"], {"queue": queue}, by_host=False)
    read_until(resp, b"first;")
    sock = conn.sock
    sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    # the function runs on to its end (and its environment is free again afterwards)
    server.client("sqs").send_message(QueueUrl=queue, MessageBody="open")
    lam = server.client("lambda")
    for _ in range(3):
        assert lam.invoke(FunctionName=functions["node"], Payload=b"{}")["Payload"].read() == b"first;last"
    conn, resp = open_url(server, urls["node"], {}, by_host=True)
    try:
        assert resp.read() == b"first;last"
    finally:
        conn.close()


def test_a_buffered_url_of_a_streaming_function_answers_whole(
    server: Server, functions: dict[str, str]
) -> None:
    lam = server.client("lambda")
    name = make(lam, "python", handler="app.whole")
    try:
        url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM")
        conn, resp = open_url(server, str(url["FunctionUrl"]), {}, by_host=False)
        try:
            assert (resp.status, json.loads(resp.read())) == (200, {"whole": True})
        finally:
            conn.close()
    finally:
        lam.delete_function(FunctionName=name)


HUGE_TRAILERS = """#!/usr/bin/env python3
import http.client, os, socket, time
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
host, port = api.rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port))
conn.request("GET", "/2018-06-01/runtime/invocation/next")
resp = conn.getresponse()
request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
resp.read()
sock = socket.create_connection((host, int(port)))
sock.sendall(
    f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\\r\\nHost: {api}\\r\\n"
    "Lambda-Runtime-Function-Response-Mode: streaming\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
    "1\\r\\nx\\r\\n0\\r\\nLambda-Runtime-Function-Error-Type: ".encode()
)
try:
    for _ in range(64):  # a trailer of 4 MB, never ended
        sock.sendall(b"E" * 65536)
except OSError:
    pass
sock.settimeout(5)
print("runtime api answered:", sock.recv(200).split(b"\\r\\n")[0].decode(), flush=True)
time.sleep(60)
"""


def test_a_runtime_s_trailers_are_bounded(server: Server) -> None:
    """A streamed response's framing and trailers are held to the head's limit (1 MB): 431."""
    lam = server.client("lambda")
    name = deploy(
        lam, {"bootstrap": HUGE_TRAILERS}, runtime="provided.al2023", handler="x", modes={"bootstrap": 0o755},
        Timeout=2,
    )  # fmt: skip
    try:
        resp = lam.invoke_with_response_stream(FunctionName=name, LogType="Tail")
        got = list(events(resp))
        assert got[0] == ("PayloadChunk", {"Payload": b"x"})
        assert got[-1][1]["ErrorCode"] == "Sandbox.Timedout"
        log = __import__("base64").b64decode(got[-1][1]["LogResult"]).decode()
        assert "runtime api answered: HTTP/1.1 431 Request Header Fields Too Large" in log, log
    finally:
        lam.delete_function(FunctionName=name)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_reader_that_falls_behind_holds_the_function_back_not_the_server(
    server: Server, functions: dict[str, str], urls: dict[str, str]
) -> None:
    """Backpressure: 16 MB streamed to a client that reads nothing for a while cost the server
    about its buffers, not the stream; others are served meanwhile; then every byte arrives."""
    lam = server.client("lambda")
    lam.invoke(FunctionName=functions["python"], Payload=b"{}")  # (warm: no allocation of its own below)
    before = rss_kb(server.proc.pid)
    conn, resp = open_url(server, urls["node"], {"big": 16}, by_host=False)
    try:
        read_until(resp, b"first;")
        for _ in range(5):  # the stream waits on its reader; the server does not
            assert (
                lam.invoke(FunctionName=functions["python"], Payload=b"{}")["Payload"].read() == b"first;last"
            )
        grown = rss_kb(server.proc.pid) - before
        assert grown < 8 * 1024, f"the server grew by {grown} kB while a 16 MB stream waited"
        rest = resp.read()
        assert len(rest) == 16 * 1024 * 1024 + len(b"last")
    finally:
        conn.close()


def test_an_http_1_0_client_gets_the_stream_ended_by_the_close(server: Server, urls: dict[str, str]) -> None:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"GET /_urls/{url_id(urls['python'])}/ HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        got = b""
        while piece := sock.recv(65536):
            got += piece
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head
    assert b"Transfer-Encoding" not in head and body == b"first;last"
