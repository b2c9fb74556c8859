"""A clock users control: `lambdabox serve --clock manual` (or LAMBDABOX_CLOCK=manual) and
`/_lambdabox/clock`, which reads it, moves it (an ISO 8601 duration, seconds, or a time to set)
and fires what became due; a system clock is read, never moved; bad bodies get a 400 and change
nothing; execution environments cannot reach it. Waits clients are blocked on end at their
deadline in real time on a paused clock, and at once when it is advanced past it."""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import deploy, wait_until
from lambdabox.admin.clock import MAX_EPOCH
from lambdabox.config import Settings
from lambdabox.testing import LambdaboxProcess, LocalLambdabox
from lambdabox.testing.handle import AdminError, Handle

FAILS = {
    "app.py": "def handler(event, context):\n    print('attempt', event)\n    raise RuntimeError('no')\n"
}
SLEEPS = {
    "app.py": "import time\n\ndef handler(event, context):\n    time.sleep(event['s'])\n    return 'woke'\n"
}
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    """(status, JSON answer) of a request to the server's `/_lambdabox/<path>`."""
    request = urllib.request.Request(f"{url}/_lambdabox/{path}", data=body, method=method)
    try:
        with OPENER.open(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post(url: str, body: object, path: str = "clock") -> tuple[int, Any]:
    return call(url, "POST", path, json.dumps(body).encode())


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    """One manual-clock server for the tests that only send it bodies."""
    with LocalLambdabox(tmp_path_factory.mktemp("clock") / "data", manual_clock=True) as server:
        yield server


def test_a_manual_clock_starts_now_paused_and_moves_by_durations_seconds_and_set(lbx: LocalLambdabox) -> None:
    status, got = call(lbx.url, "GET", "clock")
    assert status == 200 and got["mode"] == "manual" and got["busy"] == 0
    start = got["now"]
    assert abs(start - time.time()) < 60
    time.sleep(0.05)
    assert call(lbx.url, "GET", "clock")[1]["now"] == start  # paused
    assert post(lbx.url, {"advance": "PT2M"}) == (200, {"now": start + 120, "mode": "manual", "busy": 0})
    assert post(lbx.url, {"advance": 30})[1]["now"] == start + 150
    assert post(lbx.url, {"advance": "P1DT0.5S"})[1]["now"] == start + 150 + 86_400.5
    assert post(lbx.url, {"set": start + 200_000})[1]["now"] == start + 200_000
    assert post(lbx.url, {"set": start + 200_000})[1]["now"] == start + 200_000  # now itself: no move
    assert lbx.now() == start + 200_000
    # the server's own timestamps follow it (the Date header, what it stores)
    with OPENER.open(f"{lbx.url}/_lambdabox/clock", timeout=60) as resp:
        date = resp.headers["Date"]
    assert date == time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(start + 200_000)))


BAD = [
    (b"not json", "not JSON"),
    (b'"PT1M"', "JSON object"),
    (b"[]", "JSON object"),
    (b"{}", "exactly one of advance and set, got neither"),
    (b'{"advance": 1, "set": 2}', "exactly one of advance and set, got advance, set"),
    (b'{"speed": 2}', "exactly one of advance and set, got speed"),
    (b'{"advance": -1}', "advance must be a duration forward"),
    (b'{"advance": "-PT1M"}', "not an ISO 8601 duration"),
    (b'{"advance": "P1M"}', "years and months have no fixed length"),
    (b'{"advance": "P1Y2M"}', "years and months have no fixed length"),
    (b'{"advance": "PT"}', "not an ISO 8601 duration"),
    (b'{"advance": "P"}', "not an ISO 8601 duration"),
    (b'{"advance": "2 minutes"}', "not an ISO 8601 duration"),
    (b'{"advance": "PT1.5H30M"}', "only the smallest component"),
    (b'{"advance": "60"}', "not an ISO 8601 duration"),
    (b'{"advance": true}', "advance must be a number"),
    (b'{"advance": null}', "advance must be a number"),
    (b'{"advance": NaN}', "finite"),
    (b'{"advance": Infinity}', "finite"),
    (b'{"advance": 1e300}', "past the year 9999"),
    (b'{"advance": "P99999999W"}', "past the year 9999"),
    (b'{"advance": 1' + b"0" * 400 + b"}", "too large"),
    (b'{"advance": 1' + b"0" * 5000 + b"}", "not JSON"),
    (b'{"set": "tomorrow"}', "set must be a number"),
    (b'{"set": 1000}', "before the clock's now"),
    (b'{"set": 1e20}', "before the year 10000"),
    (b"\xff\xfe", "not JSON"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[b[:30].decode(errors="replace") for b, _ in BAD])
def test_bad_bodies_get_400_with_a_reason_and_move_nothing(
    shared: LocalLambdabox, body: bytes, message: str
) -> None:
    before = shared.now()
    status, got = call(shared.url, "POST", "clock", body)
    assert status == 400, got
    assert message in got["message"], got
    assert shared.now() == before
    assert post(shared.url, {"advance": 1})[1]["now"] == before + 1  # the clock still moves


def test_methods_paths_and_sizes_the_endpoint_does_not_serve(shared: LocalLambdabox) -> None:
    status, got = call(shared.url, "PUT", "clock", b"{}")
    assert status == 405 and "allowed: GET, POST" in got["message"]
    assert call(shared.url, "DELETE", "clock")[0] == 405
    assert call(shared.url, "GET", "clock/settle")[0] == 405
    assert call(shared.url, "GET", "clock/nope")[0] == 404
    assert call(shared.url, "POST", "clocks", b"{}")[0] == 404
    status, got = call(shared.url, "POST", "clock", b'{"advance": "' + b"9" * 70_000 + b'"}')
    assert status == 413 and "larger than" in got["message"]
    # settle's body
    for body, message in [
        (b'{"timeout": -1}', "between 0 and 300"),
        (b'{"timeout": 301}', "between 0 and 300"),
        (b'{"timeout": "x"}', "timeout must be a number"),
        (b'{"wait": 1}', "unknown field 'wait'"),
        (b"nope", "not JSON"),
    ]:
        status, got = call(shared.url, "POST", "clock/settle", body)
        assert (status, message in got["message"]) == (400, True), got
    assert call(shared.url, "POST", "clock/settle")[1]["busy"] == 0  # no body: the default timeout


def test_a_system_clock_is_read_never_moved(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data") as server:
        status, got = call(server.url, "GET", "clock")
        assert status == 200 and got["mode"] == "system"
        assert abs(got["now"] - time.time()) < 5
        for body in (b'{"advance": "PT1M"}', b'{"set": 4000000000}', b"not even json"):
            status, got = call(server.url, "POST", "clock", body)
            assert status == 409, got
            assert "system clock" in got["message"] and "--clock manual" in got["message"]
        assert abs(call(server.url, "GET", "clock")[1]["now"] - time.time()) < 5
        assert call(server.url, "POST", "clock/settle", b"{}")[0] == 200  # settling needs no manual clock
        with pytest.raises(TypeError):
            server.advance(1)
        with pytest.raises(AdminError) as exc:
            Handle.advance(server, "PT1M")  # the HTTP path of the subprocess variant
        assert exc.value.status == 409


def test_the_setting_resolves_like_the_others() -> None:
    assert Settings.resolve({}, env={}).clock == "system"
    assert Settings.resolve({}, env={"LAMBDABOX_CLOCK": "manual"}).clock == "manual"
    assert Settings.resolve({"clock": "system"}, env={"LAMBDABOX_CLOCK": "manual"}).clock == "system"
    with pytest.raises(ValueError, match="clock must be 'system' or 'manual'"):
        Settings.resolve({}, env={"LAMBDABOX_CLOCK": "fast"})


def test_serve_takes_the_clock_from_the_environment_and_moves_it_over_http(tmp_path: Path) -> None:
    env = {**os.environ, "LAMBDABOX_CLOCK": "manual"}
    with LambdaboxProcess(tmp_path / "data", clock=None, env=env) as server:
        assert call(server.url, "GET", "clock")[1]["mode"] == "manual"
        start = server.now()
        assert server.advance("PT2M") == start + 120
        assert server.set(start + 3600) == start + 3600
        with pytest.raises(AdminError, match="before the clock's now") as exc:
            server.set(start)
        assert exc.value.status == 400
        health = json.loads(OPENER.open(f"{server.url}/_lambdabox/health", timeout=60).read())
        assert health["clock"] == "manual"


def test_an_environment_cannot_move_the_clock(lbx: LocalLambdabox) -> None:
    health = json.loads(OPENER.open(f"{lbx.url}/_lambdabox/health", timeout=60).read())
    if health["isolation"] != "full":
        pytest.skip(f"isolation is {health['isolation']!r}: environments' uids are not told apart")
    src = (
        "import json, os, urllib.request, urllib.error\n"
        "def handler(event, context):\n"
        "    url = os.environ['AWS_ENDPOINT_URL'] + '/_lambdabox/clock'\n"
        "    req = urllib.request.Request(url, data=b'{\"advance\": 3600}', method='POST')\n"
        "    try:\n"
        "        with urllib.request.urlopen(req, timeout=10) as r:\n"
        "            return [r.status, r.read().decode()]\n"
        "    except urllib.error.HTTPError as e:\n"
        "        return [e.code, e.read().decode()]\n"
    )
    lam = lbx.client("lambda")
    name = deploy(lam, {"app.py": src})
    before = lbx.now()
    status, body = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert status == 403 and "not reachable from execution environments" in body
    assert lbx.now() == before


def test_a_sync_invoke_ends_at_its_timeout_in_real_time_on_a_paused_clock(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda", read_timeout=60)
    name = deploy(lam, SLEEPS, Timeout=1)
    lam.invoke(FunctionName=name, Payload=b'{"s": 0}')  # warm
    before, t0 = lbx.now(), time.monotonic()
    out = lam.invoke(FunctionName=name, Payload=b'{"s": 30}', LogType="Tail")
    took = time.monotonic() - t0
    body = json.loads(out["Payload"].read())
    assert out["FunctionError"] == "Unhandled" and body["errorType"] == "Sandbox.Timedout", body
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    assert 0.9 <= took < 10, took
    assert lbx.now() == before  # the clock did not move: real time ended it
    report = base64.b64decode(out["LogResult"]).decode()
    duration = float(re.search(r"\tDuration: ([0-9.]+) ms", report).group(1))  # type: ignore[union-attr]
    assert 900 <= duration < 10_000, report  # the real time it took, not the paused clock's 0


def test_advancing_the_clock_ends_a_sync_invoke_at_once(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda", read_timeout=120)
    name = deploy(lam, SLEEPS, Timeout=60)
    lam.invoke(FunctionName=name, Payload=b'{"s": 0}')  # warm
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(out=lam.invoke(FunctionName=name, Payload=b'{"s": 600}'))
    )
    t0 = time.monotonic()
    worker.start()
    wait_until(lambda: lbx.app.invoker.inflight > 0)
    lbx.advance("PT1M")
    worker.join(30)
    assert time.monotonic() - t0 < 30
    body = json.loads(result["out"]["Payload"].read())
    assert "Task timed out after 60.00 seconds" in body["errorMessage"]


def test_an_http_api_integration_timeout_ends_in_real_time_on_a_paused_clock(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(
        lam, {"app.py": "import time\n\ndef handler(event, context):\n    time.sleep(30)\n"}, Timeout=60
    )
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="slow", ProtocolType="HTTP", Target=arn)["ApiId"]
    integration = gw.get_integrations(ApiId=api_id)["Items"][0]["IntegrationId"]
    gw.update_integration(ApiId=api_id, IntegrationId=integration, TimeoutInMillis=1000)
    t0 = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as exc:
        OPENER.open(f"{lbx.url}/_apis/{api_id}/hang", timeout=60)
    assert exc.value.code == 503
    assert time.monotonic() - t0 < 20


def attempts(lbx: LocalLambdabox, name: str, request_id: str) -> int:
    """How many attempts of `request_id` the function's logs show (a START line each)."""
    events = lbx.client("logs").filter_log_events(
        logGroupName=f"/aws/lambda/{name}", filterPattern=f'"START RequestId: {request_id}"'
    )["events"]
    return len(events)


def test_advancing_fires_the_retries_of_an_async_event(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, FAILS)
    rid = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["ResponseMetadata"][
        "RequestId"
    ]
    assert post(lbx.url, {}, "clock/settle")[1]["busy"] == 0
    assert attempts(lbx, name, rid) == 1
    assert post(lbx.url, {"advance": "PT59S"})[1]["busy"] == 0  # not due yet
    status, got = post(lbx.url, {"advance": "PT1S"})
    assert (status, got["busy"]) == (200, 1)  # the first retry was handed on before the answer
    assert post(lbx.url, {"timeout": 60}, "clock/settle")[1]["busy"] == 0
    assert attempts(lbx, name, rid) == 2
    assert post(lbx.url, {"advance": "PT2M"})[1]["busy"] == 1  # the second retry, two minutes later
    lbx.settle()
    assert attempts(lbx, name, rid) == 3
    assert post(lbx.url, {"advance": "PT6H"})[1]["busy"] == 0  # given up: nothing more is due
    assert attempts(lbx, name, rid) == 3


def test_max_epoch_is_a_date() -> None:
    assert time.gmtime(MAX_EPOCH).tm_year == 9999


def test_advancing_the_clock_keeps_clients_connections_open(shared: LocalLambdabox) -> None:
    """Connection timeouts run in real time: an advance of a day neither closes an idle keep-alive
    connection nor cuts a request whose head is still arriving."""
    import http.client

    host, port = shared.url.removeprefix("http://").split(":")
    idle = http.client.HTTPConnection(host, int(port), timeout=10)
    idle.request("GET", "/_lambdabox/health")
    assert idle.getresponse().read() and True
    partial = http.client.HTTPConnection(host, int(port), timeout=10)
    partial.connect()
    assert partial.sock is not None
    partial.sock.sendall(b"GET /_lambdabox/health HTTP/1.1\r\nHost: x\r\n")  # the head, half sent
    shared.advance("P1D")
    shared.advance(600)
    partial.sock.sendall(b"\r\n")
    reply = partial.sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:80]
    idle.request("GET", "/_lambdabox/health")  # the same socket, answered
    response = idle.getresponse()
    assert response.status == 200 and response.read()
    idle.close()
    partial.close()
