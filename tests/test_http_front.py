"""The public port against bad clients (issue 13): malformed HTTP, oversized heads and bodies, slow
and stalled clients. Each gets a short 4xx (or its connection closed after a read timeout), the
server logs no traceback and keeps serving everyone else.

Malformed requests and body limits go to a real `lambdabox serve` by raw socket (and boto3 for the
limits); timeouts to an in-process server on the manual clock, so no test waits for them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROLE, Server, aws_error, make_zip, unique, wait_until
from lambdabox.clock import ManualClock
from lambdabox.http_limits import HttpLimits
from lambdabox.http_messages import BodyTooLarge, Request, Response
from lambdabox.http_server import HttpServer
from lambdabox.testing import LocalLambdabox

HEALTH = b"GET /_lambdabox/health HTTP/1.1\r\nHost: x\r\n\r\n"
HELLO: dict[str, str | bytes] = {"app.py": "def handler(event, context):\n    return 'hello'\n"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def parse(data: bytes) -> Reply:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.1 "), data[:200]
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), headers, body)


def address(url: str) -> tuple[str, int]:
    u = urlparse(url)
    assert u.hostname is not None and u.port is not None
    return u.hostname, u.port


def read_to_close(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (fails if it does not)."""
    sock.settimeout(timeout)
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def read_response(sock: socket.socket) -> Reply:
    """One whole response (by its Content-Length) from a connection that stays open."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    reply = parse(data)
    while len(reply.body) < int(reply.headers["content-length"]):
        reply.body += sock.recv(65536)
    return reply


def exchange(url: str, data: bytes) -> bytes:
    """Send `data` on a fresh connection; what came back before the server closed it."""
    with socket.create_connection(address(url), timeout=10) as sock:
        sock.sendall(data)
        return read_to_close(sock)


def still_open(sock: socket.socket) -> bool:
    """Nothing was sent to us and the server has not closed the connection."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(timeout)
    return False


class ServerLog:
    """What a `lambdabox serve` wrote to its log since the last look."""

    def __init__(self, server: Server) -> None:
        self._path = server.log_path
        self._offset = self._path.stat().st_size

    def new(self) -> str:
        with self._path.open() as f:
            f.seek(self._offset)
            text = f.read()
        self._offset += len(text.encode())
        return text


@pytest.fixture
def server_log(server: Server) -> Iterator[ServerLog]:
    watch = ServerLog(server)
    yield watch
    assert "Traceback" not in watch.new()


def serves(url: str) -> bool:
    """The server answers a plain request on a new connection."""
    return parse(exchange(url, HEALTH.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))).status == 200


# -- malformed HTTP: a plain 4xx and the connection closed ---------------------------------------
INVOKE = b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: x\r\n"
MALFORMED = {
    "garbage": (b"\x00\x01\x02 not http at all\r\n\r\n", 400),
    "tls-hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, 400),
    "http2-preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "http-0.9": (b"GET / HTTP/0.9\r\n\r\n", 400),
    "bare-lf": (b"GET / HTTP/1.1\nHost: x\n\n", 400),
    "unknown-method": (b"BREW /coffee HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "unserved-method": (b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    "connect": (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 405),
    "utf8-target": (b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "utf8-query": (b"GET /?a=\xc3 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "utf8-header": (b"GET /_lambdabox/health HTTP/1.1\r\nHost: x\r\nX-A: \xff\xfe\r\n\r\n", 400),
    "nul-in-header": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    "bad-header-name": (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "negative-length": (INVOKE + b"Content-Length: -5\r\n\r\n", 400),
    "non-numeric-length": (INVOKE + b"Content-Length: abc\r\n\r\n", 400),
    "two-lengths": (INVOKE + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    "length-and-chunked": (INVOKE + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "unknown-coding": (INVOKE + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    "bad-chunk-size": (INVOKE + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    "chunk-size-overflow": (INVOKE + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", 400),
    "chunk-without-crlf": (INVOKE + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX", 400),
    "upgrade-with-body": (INVOKE + b"Connection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\n{}", 400),
    "long-target": (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "huge-header": (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n", 431),
    "many-header-bytes": (b"GET / HTTP/1.1\r\n" + b"X-A: " + b"b" * 1000 + b"\r\n" * 1 + b"".join(b"X-%d: %s\r\n" % (i, b"c" * 1000) for i in range(40)) + b"\r\n", 431),
    "many-headers": (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(300)) + b"\r\n", 431),
}  # fmt: skip


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_requests_get_a_plain_4xx_and_close(
    server: Server, server_log: ServerLog, case: str
) -> None:
    data, status = MALFORMED[case]
    reply = parse(exchange(server.url, data))  # (the server closed the connection)
    assert reply.status == status
    assert reply.headers["connection"] == "close"
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.body.startswith(f"{status} ".encode()) and len(reply.body) < 64
    assert serves(server.url)
    assert "Traceback" not in server_log.new()


def test_headers_up_to_api_gateways_limit_are_accepted(server: Server, server_log: ServerLog) -> None:
    # API Gateway accepts 10,240 bytes of headers in total; so does the edge (and more)
    headers = b"Host: x\r\n" + b"".join(b"X-Pad-%02d: %s\r\n" % (i, b"p" * 500) for i in range(19))
    headers += b"X-Last: " + b"q" * (10_240 - len(headers) - 10) + b"\r\n"
    assert len(headers) == 10_240
    request = (
        b"GET /_lambdabox/health?"
        + b"k=v&" * 2000
        + b" HTTP/1.1\r\n"
        + headers
        + b"Connection: close\r\n\r\n"
    )
    reply = parse(exchange(server.url, request))
    assert reply.status == 200 and json.loads(reply.body)["status"] == "running"


def test_a_bad_request_behind_a_good_one_on_a_connection(server: Server, server_log: ServerLog) -> None:
    # pipelined: the good one is answered, then the broken one, then the connection closes
    data = exchange(server.url, HEALTH + b"BREW / HTTP/1.1\r\n\r\n")
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 400 Bad Request" in rest


def test_a_protocol_upgrade_is_answered_in_http_1_1(server: Server, server_log: ServerLog) -> None:
    # (curl --http2 on http:// asks for h2c this way): the request is served, no protocol switched
    data = exchange(
        server.url,
        HEALTH.replace(
            b"\r\n\r\n",
            b"\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        ),
    )
    reply = parse(data)
    assert reply.status == 200 and reply.headers["connection"] == "close"


def test_pipelined_requests_are_answered_in_order(server: Server, server_log: ServerLog) -> None:
    health_close = HEALTH.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    data = exchange(server.url, HEALTH + b"GET /_lambdabox/none HTTP/1.1\r\nHost: x\r\n\r\n" + health_close)
    statuses = [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    assert statuses == [200, 404, 200]


def test_many_pipelined_requests_in_one_write_are_all_answered(server: Server, server_log: ServerLog) -> None:
    health_close = HEALTH.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    data = exchange(server.url, HEALTH * 199 + health_close)
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200"] * 200


def test_requests_of_a_client_that_half_closes_are_still_answered(
    server: Server, server_log: ServerLog
) -> None:
    with socket.create_connection(address(server.url), timeout=10) as sock:
        sock.sendall(HEALTH + HEALTH)
        sock.shutdown(socket.SHUT_WR)
        data = read_to_close(sock)
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200", b"200"]


def test_a_client_that_vanishes_mid_body_leaves_the_server_serving(
    server: Server, server_log: ServerLog
) -> None:
    with socket.create_connection(address(server.url), timeout=10) as sock:
        sock.sendall(b'POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"a":')
    assert serves(server.url)


# -- body limits per operation, from Content-Length, before the body is read ----------------------
def lambda_error(reply: Reply) -> tuple[int, str, str]:
    """(status, x-amzn-ErrorType, message) of a Lambda error answer."""
    body = json.loads(reply.body)
    assert body["Type"] == "User"
    return reply.status, reply.headers["x-amzn-errortype"], body["message"]


@pytest.mark.parametrize(
    ("head", "size", "message"),
    [
        (
            b"POST /2015-03-31/functions HTTP/1.1\r\n",
            80_000_000,
            "Request must be smaller than 69905067 bytes for the CreateFunction operation",
        ),
        (
            b"PUT /2015-03-31/functions/f/code HTTP/1.1\r\n",
            69_905_068,
            "Request must be smaller than 69905067 bytes for the UpdateFunctionCode operation",
        ),
        (
            b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\n",
            6_291_457,
            "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        ),
        (
            b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nX-Amz-Invocation-Type: Event\r\n",
            1_048_577,
            "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)",
        ),
        (
            b"GET /2015-03-31/functions/ HTTP/1.1\r\n",
            10_485_761,
            "Request must be smaller than 10485760 bytes for the ListFunctions operation",
        ),
    ],
)
def test_a_body_over_the_operations_limit_is_refused_before_it_is_sent(
    server: Server, server_log: ServerLog, head: bytes, size: int, message: str
) -> None:
    # the body is declared and never sent: the answer comes at once, not after a read timeout
    reply = parse(exchange(server.url, head + b"Host: x\r\nContent-Length: %d\r\n\r\n" % size))
    assert lambda_error(reply) == (413, "RequestEntityTooLargeException", message)
    assert reply.headers["connection"] == "close" and reply.headers["x-amzn-requestid"]
    assert serves(server.url)


def test_a_client_expecting_100_continue_is_refused_without_it(server: Server, server_log: ServerLog) -> None:
    head = b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
    data = exchange(server.url, head + b"Content-Length: 80000000\r\n\r\n")
    assert b"100 Continue" not in data and parse(data).status == 413
    with socket.create_connection(address(server.url), timeout=10) as sock:
        sock.sendall(
            b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        )
        sock.settimeout(10)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        assert read_response(sock).status == 400  # CreateFunction without its members: invalid


@pytest.mark.parametrize(
    ("event", "limit"), [(True, 1_048_576), (False, 6_291_456)], ids=["event", "request-response"]
)
def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(
    server: Server, server_log: ServerLog, event: bool, limit: int
) -> None:
    head = b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    if event:
        head += b"X-Amz-Invocation-Type: Event\r\n"
    with socket.create_connection(address(server.url), timeout=10) as sock:
        sock.sendall(head + b"\r\n")
        piece = b"a" * 65536
        for _ in range(limit // len(piece)):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"1\r\nb\r\n")  # one byte over; the last chunk (0) never comes
        reply = parse(read_to_close(sock))
    status, code, message = lambda_error(reply)
    assert (status, code) == (413, "RequestEntityTooLargeException")
    if event:
        assert (
            message
            == f"{limit + 1} byte payload is too large for the Event invocation type (limit {limit} bytes)"
        )
    else:
        assert message == f"Request must be smaller than {limit} bytes for the InvokeFunction operation"


def test_other_services_limits_are_the_default(server: Server, server_log: ServerLog) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Logs_20140328.PutLogEvents\r\n"
    head += b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 10485761\r\n\r\n"
    reply = parse(exchange(server.url, head))
    assert reply.status == 413 and reply.headers["connection"] == "close"
    body = json.loads(reply.body)
    assert body["__type"].endswith("RequestEntityTooLargeException")
    assert body["message"] == "Request must be smaller than 10485760 bytes for the PutLogEvents operation"


def test_boto3_invoke_over_the_limits(lam: Any, server_log: ServerLog) -> None:
    name = unique()
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip(HELLO)},
    )
    try:
        with pytest.raises(ClientError) as exc:
            lam.invoke(FunctionName=name, Payload=b'"' + b"a" * (6_291_456 - 1) + b'"')
        assert aws_error(exc) == (
            "RequestEntityTooLargeException",
            "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
            413,
        )
        with pytest.raises(ClientError) as exc:
            lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'"' + b"a" * 1_048_576 + b'"')
        assert aws_error(exc) == (
            "RequestEntityTooLargeException",
            "1048578 byte payload is too large for the Event invocation type (limit 1048576 bytes)",
            413,
        )
        # the connection pool recovers: the next call on the same client is served
        assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "hello"
    finally:
        lam.delete_function(FunctionName=name)


@pytest.mark.slow
def test_boto3_create_function_over_the_limit(lam: Any, server_log: ServerLog) -> None:
    # a zip of 52,428,800 bytes is 69,905,068 base64 characters: one over the request limit
    # (slow: boto3 builds, signs and sends 70 MB)
    zip_bytes = base64.b64decode(b"A" * 69_905_068)[:52_428_800]
    with pytest.raises(ClientError) as exc:
        lam.create_function(
            FunctionName=unique(),
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": zip_bytes},
        )
    code, message, status = aws_error(exc)
    assert (code, status) == ("RequestEntityTooLargeException", 413)
    assert message == "Request must be smaller than 69905067 bytes for the CreateFunction operation"


# -- slow and stalled clients: on the manual clock -------------------------------------------------
class Tracebacks(logging.Handler):
    """Records anything logged with a traceback (or at ERROR and above)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.bad.append(record)


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(
        tmp_path_factory.mktemp("http-front") / "data", manual_clock=True, transport_on_clock=True
    ) as server:
        yield server


@pytest.fixture
def tracebacks() -> Iterator[Tracebacks]:
    handler = Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    assert not handler.bad, [r.getMessage() for r in handler.bad]


def connect(lbx: LocalLambdabox, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(address(lbx.url), timeout=10)
    if data:
        sock.sendall(data)
    return sock


def settle(lbx: LocalLambdabox) -> None:
    """Let the server take in what was sent before: it answers a request on a later connection."""
    assert serves(lbx.url)


def test_slowloris_headers_time_out(lbx: LocalLambdabox, tracebacks: Tracebacks) -> None:
    sock = connect(lbx, b"GET /_lambdabox/health HTTP/1.1\r\nHo")
    with sock:
        dribble = b"st: x\r\nX-Slow:"
        for byte in dribble:  # dribbled: each byte in time, the head as a whole is not
            settle(lbx)
            lbx.advance(2)
            sock.sendall(bytes([byte]))
        settle(lbx)
        assert still_open(sock)  # 28 s after its first byte
        lbx.advance(30 - 2 * len(dribble))
        reply = parse(read_to_close(sock))
    assert reply.status == 408 and reply.headers["connection"] == "close"


def test_a_silent_connection_is_closed(lbx: LocalLambdabox, tracebacks: Tracebacks) -> None:
    with connect(lbx) as sock:
        settle(lbx)
        lbx.advance(29)
        assert still_open(sock)
        lbx.advance(2)
        assert read_to_close(sock) == b""


def test_a_body_declared_larger_than_sent_times_out(lbx: LocalLambdabox, tracebacks: Tracebacks) -> None:
    head = b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    with connect(lbx, head + b'{"a":') as sock:
        settle(lbx)
        lbx.advance(25)
        settle(lbx)
        assert still_open(sock)
        lbx.advance(6)
        reply = parse(read_to_close(sock))
    assert reply.status == 408 and reply.headers["connection"] == "close"
    assert serves(lbx.url)


def test_a_body_dripped_slower_than_the_minimum_rate_is_cut_off(
    lbx: LocalLambdabox, tracebacks: Tracebacks
) -> None:
    """A byte now and then never lets the pause timeout fire; the body's average pace does."""
    head = b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    with connect(lbx, head + b'{"a":') as sock:
        for _ in range(2):
            settle(lbx)
            lbx.advance(10)
            sock.sendall(b" ")
        settle(lbx)
        assert still_open(sock)  # within the grace
        lbx.advance(11)
        reply = parse(read_to_close(sock))
    assert reply.status == 408 and reply.headers["connection"] == "close"
    assert serves(lbx.url)


def test_a_body_arriving_at_a_steady_pace_is_waited_for(lbx: LocalLambdabox, tracebacks: Tracebacks) -> None:
    body = b'{"FunctionName": "' + b"x" * 599_950 + b'"}'
    head = b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    chunks = [body[i : i + 200_000] for i in range(0, len(body), 200_000)]
    with connect(lbx, head) as sock:
        for chunk in chunks[:-1]:  # 20 kB/s: slow, but over the minimum rate
            sock.sendall(chunk)
            settle(lbx)
            lbx.advance(10)
            settle(lbx)
            assert still_open(sock)
        sock.sendall(chunks[-1])
        reply = read_response(sock)
    assert reply.status == 400  # answered by Lambda (the name is invalid), not cut off
    assert serves(lbx.url)


def test_an_idle_keep_alive_connection_is_closed(lbx: LocalLambdabox, tracebacks: Tracebacks) -> None:
    with connect(lbx, HEALTH) as sock:
        assert read_response(sock).status == 200
        lbx.advance(100)
        assert still_open(sock)
        sock.sendall(HEALTH)  # a request in time renews it
        assert read_response(sock).status == 200
        lbx.advance(119)
        assert still_open(sock)
        lbx.advance(2)
        assert read_to_close(sock) == b""


def test_slowloris_clients_do_not_delay_a_boto3_client(lbx: LocalLambdabox, tracebacks: Tracebacks) -> None:
    slow = [connect(lbx, b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nX-A: ") for _ in range(50)]
    slow += [
        connect(lbx, b"POST /2015-03-31/functions HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{")
        for _ in range(50)
    ]
    stop = threading.Event()

    def dribble() -> None:  # one more, sending a byte of its headers at a time without end
        with connect(lbx, b"GET / HTTP/1.1\r\nX-A: ") as sock, contextlib.suppress(OSError):
            while not stop.wait(0.005):
                sock.sendall(b"X")

    dribbler = threading.Thread(target=dribble)
    dribbler.start()
    try:
        lam = lbx.client("lambda", read_timeout=60)
        name = unique()
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip(HELLO)},
        )
        assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "hello"
        assert any(f["FunctionName"] == name for f in lam.list_functions()["Functions"])
        lam.delete_function(FunctionName=name)
        # served while every slow client still holds its connection (the clock has not moved)
        assert all(still_open(sock) for sock in slow)
        lbx.advance(31)
        for sock in slow:
            assert parse(read_to_close(sock)).status == 408
    finally:
        stop.set()
        dribbler.join(10)
        for sock in slow:
            sock.close()


def test_a_client_that_does_not_read_its_answer_is_dropped(
    lbx: LocalLambdabox, tracebacks: Tracebacks
) -> None:
    # a code zip is streamed: a client that stops reading is dropped once it stalled the server
    # for the send timeout (60 s of the clock)
    lam = lbx.client("lambda")
    name = unique()
    big = make_zip({"app.py": HELLO["app.py"], "blob.bin": os.urandom(16 << 20)})
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": big}
    )
    try:
        location = urlparse(lam.get_function(FunctionName=name)["Code"]["Location"])
        sock = socket.create_connection(address(lbx.url), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with sock:
            sock.sendall(f"GET {location.path}?{location.query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
            # the server fills the socket and waits; once it does, 61 s later it drops the client
            deadline = time.monotonic() + 30
            while sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != errno.ECONNRESET:
                assert time.monotonic() < deadline, "the stalled client was not dropped"
                settle(lbx)
                lbx.advance(61)
                time.sleep(0.02)
    finally:
        lam.delete_function(FunctionName=name)


# -- the server alone, fuzzed ----------------------------------------------------------------------
class EchoServer:
    """An `HttpServer` on a loop of its own whose handler echoes bodies of at most 64 bytes."""

    def __init__(self, limits: HttpLimits | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.http = HttpServer(self._echo, clock=ManualClock(), limits=limits)
        sock = socket.create_server(("127.0.0.1", 0))
        sock.setblocking(False)
        self.address = sock.getsockname()
        asyncio.run_coroutine_threadsafe(self.http.serve(sock), self._loop).result(10)

    @staticmethod
    async def _echo(request: Request) -> Response:
        try:
            return Response(200, {"Content-Type": "application/octet-stream"}, await request.read(64))
        except BodyTooLarge:
            return Response(413, {}, b"too large")

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.http.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def test_bodies_held_at_once_are_bounded_across_connections() -> None:
    """Clients declaring large bodies cannot hold the server's memory between them: a body that does
    not fit in the budget waits, unread, until one held before it is done."""
    server = EchoServer(HttpLimits(max_buffered_bytes=100))
    try:
        first = socket.create_connection(server.address, timeout=10)
        first.sendall(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n" + b"a" * 10)
        wait_until(lambda: server.http.budget.free == 40)  # the first holds its 60 bytes
        second = socket.create_connection(server.address, timeout=10)
        second.sendall(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n" + b"b" * 10)
        wait_until(lambda: server.http.budget.waiting == 1)  # the second waits for room
        second.sendall(b"b" * 50)
        second.settimeout(0.5)
        with pytest.raises(TimeoutError):
            second.recv(1)  # waiting for room: 60 + 60 > 100
        first.sendall(b"a" * 50)
        first.settimeout(10)
        assert read_response(first).body == b"a" * 60
        second.settimeout(10)
        assert read_response(second).body == b"b" * 60  # the first one's room went to it
        first.close()
        second.close()
    finally:
        server.close()


STARTS = [
    b"GET / HTTP/1.1\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
    b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /x HTTP/1.0\r\nContent-Length: 100\r\n\r\n",
]
INPUTS = st.one_of(
    st.binary(max_size=400),
    st.builds(bytes.__add__, st.sampled_from(STARTS), st.binary(max_size=200)),
    st.builds(bytes.__add__, st.sampled_from(STARTS), st.sampled_from(STARTS)),
)
#: what the server may answer anything with
STATUSES = {b"200", b"400", b"405", b"413", b"414", b"431"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=INPUTS)
def test_any_input_gets_a_well_formed_answer_or_a_close(
    echo: EchoServer, tracebacks: Tracebacks, data: bytes
) -> None:
    with socket.create_connection(echo.address, timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        reply = read_to_close(sock)
    if reply:
        assert reply.startswith(b"HTTP/1.1 "), reply[:100]
        assert set(re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)) <= STATUSES, reply[:300]
