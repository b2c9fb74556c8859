"""Review 20: function URLs and response streaming attacked as a hostile tenant would.

Every test runs real clients against a real `lambdabox serve`. A test marked
`xfail(strict=True)` demonstrates a problem (it fails today, and must start passing once the
problem is fixed); the others are defences that held.

Functions are Python streaming custom runtimes (tests/apps/python-streaming/bootstrap, a generator
handler streams what it yields) or hand-written bootstraps speaking the Runtime API over raw
sockets, so the function can do what a hostile runtime would (oversized trailers, wrong request
ids, a streaming POST never finished)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import Server, aws_error, deploy, start_server
from lambdabox.aws.event_stream import encode_event

BOOTSTRAP = (Path(__file__).parent / "apps" / "python-streaming" / "bootstrap").read_text()
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
MAX_SYNC = 6_291_556  # Lambda's synchronous response limit (runtime_api.MAX_RESPONSE)

# generator handlers for the Python streaming custom runtime
STREAMER = """
import base64, json, time

def handler(event, context):
    body = event.get('body') or '{}'
    if event.get('isBase64Encoded'):
        body = base64.b64decode(body)
    cmd = json.loads(body) if 'rawPath' in event else event
    q = event.get('rawQueryString') or ''
    if 'prelude' in cmd:
        context.content_type = 'application/vnd.awslambda.http-integration-response'
        yield cmd['prelude'].encode('latin-1')
    else:
        context.content_type = 'text/plain'
    if 'slow' in q or cmd.get('slow'):
        time.sleep(1)
    for _ in range(int(cmd.get('mb', 4)) * 16):
        yield b'x' * 65536
    yield b'END'
"""

# a bootstrap whose streamed response ends with an error trailer of `mb` MB (valid base64)
BIG_TRAILER = r"""#!/usr/bin/env python3
import http.client, json, os, socket
API = os.environ["AWS_LAMBDA_RUNTIME_API"]; HOST, PORT = API.rsplit(":", 1)
while True:
    c = http.client.HTTPConnection(HOST, int(PORT)); c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse(); rid = r.getheader("Lambda-Runtime-Aws-Request-Id"); ev = json.loads(r.read()); c.close()
    s = socket.create_connection((HOST, int(PORT)))
    s.sendall((f"POST /2018-06-01/runtime/invocation/{rid}/response HTTP/1.1\r\nHost: x\r\n"
               "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
               "Content-Type: text/plain\r\n\r\n2\r\nhi\r\n0\r\nLambda-Runtime-Function-Error-Type: Big\r\n"
               "Lambda-Runtime-Function-Error-Body: ").encode())
    piece = b"QUFB" * 16384  # 64 KiB of base64 ("AAA" repeated)
    for _ in range(int(ev.get("mb", 1)) * 16):
        s.sendall(piece)
    s.sendall(b"\r\n\r\n")
    s.recv(65536); s.close()
"""

# a bootstrap that misuses the streaming mode: another request's id, a second response, a POST
# never finished; every Runtime API answer it got is reported in its next response body
ROGUE = r"""#!/usr/bin/env python3
import http.client, json, os, socket, time
API = os.environ["AWS_LAMBDA_RUNTIME_API"]; HOST, PORT = API.rsplit(":", 1)
seen = {}

def stream(rid, body, finish=True):
    s = socket.create_connection((HOST, int(PORT)))
    s.sendall((f"POST /2018-06-01/runtime/invocation/{rid}/response HTTP/1.1\r\nHost: x\r\n"
               "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
               "Content-Type: text/plain\r\n\r\n").encode() + b"%x\r\n%s\r\n" % (len(body), body))
    if not finish:
        return s
    s.sendall(b"0\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        got = s.recv(65536)
        if not got:
            break
        answer += got
    s.close()
    return int(answer.split(b" ", 2)[1]) if answer else 0

while True:
    c = http.client.HTTPConnection(HOST, int(PORT)); c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse(); rid = r.getheader("Lambda-Runtime-Aws-Request-Id"); ev = json.loads(r.read()); c.close()
    if ev.get("hang"):
        held = stream(rid, b"hello", finish=False)
        time.sleep(3600)
    seen["other_id"] = stream("8476a536-e9f4-11e8-9739-2dfe598c3fcd", b"forged")
    report = json.dumps(seen).encode()
    seen["first"] = stream(rid, report)
    seen["again"] = stream(rid, b"again")
"""


def streaming_fn(lam: Any, app: str = STREAMER, **kw: Any) -> str:
    files: dict[str, str | bytes] = {"app.py": app, "bootstrap": BOOTSTRAP}
    return deploy(lam, files, runtime="provided.al2023", modes={"bootstrap": 0o755}, **kw)


def bootstrap_fn(lam: Any, bootstrap: str, **kw: Any) -> str:
    return deploy(lam, {"bootstrap": bootstrap}, runtime="provided.al2023", handler="x",
                  modes={"bootstrap": 0o755}, **kw)  # fmt: skip


def url_id(url: str) -> str:
    return url.split("//", 1)[1].split(".", 1)[0]


def make_url(lam: Any, name: str, **kw: Any) -> str:
    kw.setdefault("AuthType", "NONE")
    return url_id(str(lam.create_function_url_config(FunctionName=name, **kw)["FunctionUrl"]))


def hostport(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def request(
    server: Server, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, bytes, Any]:
    conn = http.client.HTTPConnection(*hostport(server), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp
    finally:
        conn.close()


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


def health_latency(server: Server) -> float:
    t0 = time.monotonic()
    status, _, _ = request(server, "GET", "/_lambdabox/health")
    assert status == 200
    return time.monotonic() - t0


def status_within(server: Server, path: str, want: int, limit: float) -> int:
    """GET `path` until it answers `want` (bounded by `limit` seconds); the last status."""
    deadline = time.monotonic() + limit
    while True:
        status, _, _ = request(server, "GET", path)
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


class Prober:
    """Measures the public port's latency (GET /_lambdabox/health) in the background."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for _ in range(200):
            if self._stop.is_set():
                return
            self.latencies.append(health_latency(self.server))
            time.sleep(0.1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(timeout=60)
        return max(self.latencies, default=0.0)


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return server.client("lambda")


# -- 1. trailers are never bounded: the public port ---------------------------------------------


# fixed (was a strict xfail of review 20b)
def test_an_anonymous_client_cannot_make_the_server_hold_an_unbounded_trailer(
    server: Server, lam: Any
) -> None:
    name = deploy(lam, {"app.py": "def handler(e, c):\n    return {'statusCode': 200, 'body': 'ok'}\n"})
    uid = make_url(lam, name)
    pid = server.proc.pid
    before = rss_mb(pid)
    sock = socket.create_connection(hostport(server), timeout=30)
    prober = Prober(server)
    try:
        head = f"POST /_urls/{uid}/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
        sock.sendall(head.encode() + b"X-Padding: ")
        piece = b"a" * 65536
        sent = 0
        try:
            for _ in range(80 * 16):  # 80 MB of one trailer field's value, never ended
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # refused and closed: the defence holds
        time.sleep(0.5)
        grown = rss_mb(pid) - before
        worst = prober.stop()
        print(
            f"trailer bytes taken {sent >> 20} MB, server RSS +{grown} MB, worst health latency {worst:.2f}s"
        )
        # the head's limit is ~10 KB (max_header_bytes): nothing near 80 MB may be held for it
        assert grown < 32, f"the server holds {grown} MB for one client's trailer"
        assert worst < 1.0, f"the public port stalled {worst:.2f}s"
    finally:
        prober.stop()
        sock.close()
        lam.delete_function(FunctionName=name)


# -- 2. trailers are never bounded: the Runtime API (a function's own runtime) -------------------


@pytest.fixture(scope="module")
def big_trailer(lam: Any) -> Iterator[str]:
    name = bootstrap_fn(lam, BIG_TRAILER, Timeout=60)
    yield name
    lam.delete_function(FunctionName=name)


# fixed (was a strict xfail of review 20b)
def test_a_streamed_error_trailer_is_bounded_as_any_error_body(
    server: Server, lam: Any, big_trailer: str
) -> None:
    resp = lam.invoke(FunctionName=big_trailer, Payload=json.dumps({"mb": 32}))
    payload = resp["Payload"].read()
    print(f"FunctionError {resp.get('FunctionError')}, Payload {len(payload)} bytes")
    assert len(payload) <= MAX_SYNC


# fixed (was a strict xfail of review 20b)
def test_a_huge_error_trailer_does_not_break_the_callers_event_stream(lam: Any, big_trailer: str) -> None:
    resp = lam.invoke_with_response_stream(FunctionName=big_trailer, Payload=json.dumps({"mb": 40}))
    got = [next(iter(e)) for e in resp["EventStream"]]
    assert got[-1] == "InvokeComplete"


# -- 3. a streamed answer nobody will read holds its environment until the function's timeout ----


@pytest.fixture
def capped(lam: Any) -> Iterator[tuple[str, str]]:
    """A streaming function (4 MB, then it ends) of reserved concurrency 1 and its URL's path."""
    name = streaming_fn(lam, Timeout=6)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    uid = make_url(lam, name, InvokeMode="RESPONSE_STREAM")
    yield name, f"/_urls/{uid}/"
    lam.delete_function(FunctionName=name)


def test_a_streamed_url_answers_and_frees_its_environment(server: Server, capped: tuple[str, str]) -> None:
    _, path = capped
    for _ in range(3):  # one environment, reused: each stream read to its end frees it at once
        status, body, _ = request(server, "GET", path)
        assert (status, len(body), body[-3:]) == (200, 4 * 1024 * 1024 + 3, b"END")


# fixed (was a strict xfail of review 20b)
def test_a_head_request_does_not_hold_the_environment_until_the_timeout(
    server: Server, capped: tuple[str, str]
) -> None:
    _, path = capped
    assert request(server, "GET", path)[0] == 200  # warm
    status, body, _resp = request(server, "HEAD", path)
    assert (status, body) == (200, b"")
    # the function writes 4 MB and ends: its environment is free again within moments
    assert status_within(server, path, 200, limit=3) == 200


# fixed (was a strict xfail of review 20b)
def test_a_204_prelude_does_not_hold_the_environment(server: Server, capped: tuple[str, str]) -> None:
    _, path = capped
    prelude = json.dumps({"statusCode": 204}) + "\0" * 8
    status, body, _ = request(server, "POST", path, json.dumps({"prelude": prelude}).encode())
    assert (status, body) == (204, b"")
    assert status_within(server, path, 200, limit=3) == 200


# fixed (was a strict xfail of review 20b)
def test_a_client_gone_before_the_head_does_not_hold_the_environment(
    server: Server, capped: tuple[str, str]
) -> None:
    _, path = capped
    assert request(server, "GET", path)[0] == 200  # warm
    sock = socket.create_connection(hostport(server), timeout=10)
    sock.sendall(f"GET {path}?slow HTTP/1.1\r\nHost: x\r\n\r\n".encode())  # the function sleeps 1 s first
    time.sleep(0.3)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # a reset, before any byte of the answer
    time.sleep(1.2)
    assert status_within(server, path, 200, limit=3) == 200


def test_clients_going_away_mid_stream_leak_no_environment(server: Server, lam: Any) -> None:
    name = streaming_fn(lam, Timeout=30)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    path = f"/_urls/{make_url(lam, name, InvokeMode='RESPONSE_STREAM')}/"
    try:
        throttled = 0
        for _ in range(30):
            deadline = time.monotonic() + 3  # (a stream abandoned runs on for moments: not 30 s)
            while True:
                sock = socket.create_connection(hostport(server), timeout=10)
                sock.sendall(
                    f'POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{{"mb": 8}}'.encode()
                )
                head = sock.recv(4096)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                if head.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
                    break
                throttled += 1
                sock.close()
                time.sleep(0.1)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            sock.recv(65536)  # a piece of the body, then a reset
            sock.close()
        print(f"throttled {throttled} times while abandoned streams ran on")
        status, body, _ = request(server, "GET", path)  # (at most 2 at once: no leak, or 429)
        assert (status, body[-3:]) == (200, b"END")
        envs = json.loads(request(server, "GET", "/_lambdabox/health")[1])["environments"]
        assert sum(envs.values()) < 40, envs
    finally:
        lam.delete_function(FunctionName=name)


# -- 4. slow readers: backpressure holds -------------------------------------------------------


def test_a_client_that_does_not_read_costs_the_server_little(server: Server, lam: Any) -> None:
    name = streaming_fn(lam, Timeout=60)
    path = f"/_urls/{make_url(lam, name, InvokeMode='RESPONSE_STREAM')}/"
    pid = server.proc.pid
    try:
        assert request(server, "GET", path)[0] == 200  # warm
        before = rss_mb(pid)
        socks = []
        for _ in range(3):
            s = socket.create_connection(hostport(server), timeout=30)
            s.sendall(f'POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{{"mb": 19}}'.encode())
            socks.append(s)
        time.sleep(3)  # 57 MB written by the functions, nothing read
        grown = rss_mb(pid) - before
        assert health_latency(server) < 0.5
        assert grown < 30, f"server RSS grew {grown} MB for 3 clients that do not read"
        # and each stream is whole when finally read
        s = socks[0]
        data = b""
        while not data.endswith(b"END\r\n0\r\n\r\n") and len(data) < 25 * 1024 * 1024:
            got = s.recv(1 << 20)
            if not got:
                break
            data += got
        assert data.endswith(b"END\r\n0\r\n\r\n")
        for s in socks:
            s.close()
    finally:
        lam.delete_function(FunctionName=name)


# -- 5. a function's prelude cannot reframe the response ----------------------------------------


def test_a_prelude_cannot_inject_or_reframe_headers(server: Server, lam: Any) -> None:
    name = streaming_fn(lam, Timeout=30)
    path = f"/_urls/{make_url(lam, name, InvokeMode='RESPONSE_STREAM')}/"
    try:
        prelude = (
            json.dumps(
                {
                    "statusCode": 200,
                    "headers": {
                        "Content-Length": "3",
                        "Transfer-Encoding": "identity",
                        "Connection": "close",
                        "X-Evil": "a\r\nSet-Cookie: injected=1",
                        "Bad Name": "x",
                        "x-amzn-RequestId": "forged",
                    },
                    "cookies": ["ok=1", "bad=1\r\nX-Injected: 1"],
                }
            )
            + "\0" * 8
        )
        status, body, resp = request(server, "POST", path, json.dumps({"prelude": prelude, "mb": 1}).encode())
        assert status == 200 and len(body) == 1024 * 1024 + 3
        assert resp.getheader("Transfer-Encoding") == "chunked" and resp.getheader("Content-Length") is None
        assert resp.getheader("X-Evil") is None and resp.getheader("X-Injected") is None
        assert resp.msg.get_all("Set-Cookie") == ["ok=1"]
        assert resp.getheader("x-amzn-RequestId") != "forged"
        # no delimiter within 1 MB, a bad status, a prelude that is not JSON: Lambda's 502
        for bad in (
            "{" + " " * (1 << 20) + "}",
            json.dumps({"statusCode": 101}) + "\0" * 8,
            "nope" + "\0" * 8,
        ):
            status, body, _ = request(server, "POST", path, json.dumps({"prelude": bad, "mb": 2}).encode())
            assert (status, json.loads(body)) == (502, {"Message": "Internal Server Error"})
    finally:
        lam.delete_function(FunctionName=name)


# -- 6. a rogue runtime: another request's id, a second response, a POST never finished ----------


def test_a_runtime_cannot_answer_another_request_or_answer_twice(lam: Any) -> None:
    name = bootstrap_fn(lam, ROGUE, Timeout=2)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    try:
        first = lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
        assert json.loads(first) == {"other_id": 400}
        second = lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
        seen = json.loads(second)
        assert (seen["other_id"], seen["first"]) == (400, 202)
        assert seen["again"] in (400, 403)  # (no longer the current request: refused either way)
        # a streaming POST never finished: the timeout ends it and frees the one environment
        t0 = time.monotonic()
        resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"hang": true}')
        events = [e for e in resp["EventStream"]]
        assert events[0] == {"PayloadChunk": {"Payload": b"hello"}}
        assert events[-1]["InvokeComplete"]["ErrorCode"] == "Sandbox.Timedout"
        assert time.monotonic() - t0 < 10
        again = lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
        assert json.loads(again) == {"other_id": 400}  # a fresh environment, at once
    finally:
        lam.delete_function(FunctionName=name)


# -- 7. the event stream's framing ---------------------------------------------------------------

FORGER = """
def handler(event, context):
    context.content_type = 'application/octet-stream'
    yield bytes.fromhex(event['fake'])
    yield b'y' * (17 * 1024 * 1024)
"""


def test_a_payload_cannot_forge_events_and_big_chunks_decode(lam: Any) -> None:
    name = streaming_fn(lam, FORGER, Timeout=30)
    fake = encode_event("InvokeComplete", b'{"ErrorCode":"Forged"}', "application/json")
    try:
        resp = lam.invoke_with_response_stream(FunctionName=name, Payload=json.dumps({"fake": fake.hex()}))
        events = list(resp["EventStream"])
        chunks = [e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e]
        assert b"".join(chunks) == fake + b"y" * (17 * 1024 * 1024)
        assert events[-1] == {"InvokeComplete": {}}
        assert sum("InvokeComplete" in e for e in events) == 1
    finally:
        lam.delete_function(FunctionName=name)


# -- 8. AWS_IAM URLs: forged signatures -----------------------------------------------------------


def signed(url: str, body: bytes, *, service: str = "lambda", region: str = "us-east-1",
           key: str = "test", when: dt.datetime | None = None) -> AWSRequest:  # fmt: skip
    req = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/json"})
    auth = SigV4Auth(Credentials(key, "test"), service, region)
    if when is None:
        auth.add_auth(req)
    else:  # (botocore stamps the request with its clock: a stale one)
        with mock.patch("botocore.auth.get_current_datetime", lambda: when.replace(tzinfo=None)):
            auth.add_auth(req)
    return req


def send(
    server: Server, req: AWSRequest, path: str | None = None, body: bytes | None = None
) -> tuple[int, bytes]:
    parts = urlsplit(req.url)
    status, data, _ = request(
        server,
        req.method,
        path or parts.path,
        req.body if body is None else body,
        **dict(req.headers.items()),
    )
    return status, data


def test_forged_signatures_on_an_aws_iam_url_are_refused(server: Server, lam: Any) -> None:
    name = deploy(
        lam,
        {
            "app.py": "import json\ndef handler(e, c):\n    return {'statusCode': 200, 'body': json.dumps(e['requestContext']['authorizer'])}\n"
        },
    )
    uid = make_url(lam, name, AuthType="AWS_IAM")
    url = f"{server.url}/_urls/{uid}/x"
    body = b'{"a": 1}'
    try:
        status, data = send(server, signed(url, body))
        assert status == 200 and json.loads(data)["iam"]["accountId"] == "000000000000"
        cases = {
            "execute-api": send(server, signed(url, body, service="execute-api")),
            "other region": send(server, signed(url, body, region="us-west-2")),
            "body altered": send(server, signed(url, body), body=b'{"a": 2}'),
            "path altered": send(server, signed(url, body), path=f"/_urls/{uid}/y"),
            "path traversal": send(server, signed(url, body), path=f"/_urls/{uid}/x/../x"),
            "unknown key": send(server, signed(url, body, key="AKIAUNKNOWNKEY000000")),
            "expired": send(
                server, signed(url, body, when=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20))
            ),
            "unsigned": request(server, "POST", f"/_urls/{uid}/x", body)[:2],
        }
        assert {k: v[0] for k, v in cases.items()} == dict.fromkeys(cases, 403), cases
        # ids: unknown, upper-cased in the path form, another region's host, traversal out of /_urls
        assert request(server, "GET", "/_urls/" + "a" * 32 + "/")[0] == 403
        assert request(server, "GET", f"/_urls/{uid.upper()}/")[0] == 403
        host = f"{uid}.lambda-url.eu-west-1.localhost"
        assert request(server, "GET", "/", Host=host)[0] == 403
        status, data, _ = request(server, "GET", f"/_urls/{uid}/../../_lambdabox/health")
        assert status == 403  # the URL's own answer (unsigned), never the path it names
    finally:
        lam.delete_function(FunctionName=name)


# -- 9. cross-tenant ----------------------------------------------------------------------------

ACCOUNT_B = "222222222222"


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("r20-tenants") / "data",
        "--root-keys", f"test:test,AKIDTEAMB:s3cret:{ACCOUNT_B}",
        "--verify-signatures", "--enforce-resource-policies",
    )  # fmt: skip
    yield srv
    srv.stop()


def test_another_tenant_cannot_use_or_touch_a_function_url(tenants: Server) -> None:
    a = tenants.client("lambda")
    b = tenants.client("lambda", key="AKIDTEAMB", secret="s3cret")
    iam_fn = streaming_fn(a, Timeout=10)
    arn = a.get_function(FunctionName=iam_fn)["Configuration"]["FunctionArn"]
    iam_id = make_url(a, iam_fn, AuthType="AWS_IAM", InvokeMode="RESPONSE_STREAM")
    open_fn = streaming_fn(a, Timeout=10)
    open_id = make_url(a, open_fn, AuthType="NONE", InvokeMode="RESPONSE_STREAM")
    url = f"{tenants.url}/_urls/{iam_id}/"
    try:
        # A's own signed caller gets in; B's validly signed request does not
        assert send(tenants, signed(url, b'{"mb": 0}'))[0] == 200
        req = AWSRequest("POST", url, data=b'{"mb": 0}', headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials("AKIDTEAMB", "s3cret"), "lambda", "us-east-1").add_auth(req)
        assert send(tenants, req) == (403, b'{"Message":"Forbidden"}')
        # B cannot read, create, change or delete A's URL configs, nor stream A's function
        for call, kw in (
            (b.get_function_url_config, {}),
            (b.create_function_url_config, {"AuthType": "NONE"}),
            (b.update_function_url_config, {"AuthType": "NONE"}),
            (b.delete_function_url_config, {}),
            (b.list_function_url_configs, {}),
            (b.invoke_with_response_stream, {}),
        ):
            with pytest.raises(ClientError) as exc:
                call(FunctionName=arn, **kw)
            assert aws_error(exc)[0] == "AccessDeniedException", call
        assert a.get_function_url_config(FunctionName=iam_fn)["AuthType"] == "AWS_IAM"
        # AuthType NONE without the public permissions is refused under enforcement
        assert request(tenants, "GET", f"/_urls/{open_id}/")[0] == 403
        # granting B only lambda:InvokeFunction does not open the AWS_IAM URL to it
        a.add_permission(
            FunctionName=iam_fn, StatementId="b", Action="lambda:InvokeFunction", Principal=ACCOUNT_B
        )
        req = AWSRequest("POST", url, data=b'{"mb": 0}', headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials("AKIDTEAMB", "s3cret"), "lambda", "us-east-1").add_auth(req)
        assert send(tenants, req)[0] == 403
    finally:
        a.delete_function(FunctionName=iam_fn)
        a.delete_function(FunctionName=open_fn)
