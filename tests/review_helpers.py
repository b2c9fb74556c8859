"""Helpers of the outside-review tests: invoking with the log tail, a loopback gate, background calls."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import Gate


def invoke(lam: Any, name: str, event: Any = None, **kw: Any) -> tuple[dict[str, Any], Any, str]:
    """Invoke with LogType=Tail; returns (response, decoded payload, log tail)."""
    payload = json.dumps(event if event is not None else {}).encode()
    resp = lam.invoke(FunctionName=name, Payload=payload, LogType="Tail", **kw)
    body = resp["Payload"].read()
    tail = base64.b64decode(resp.get("LogResult", "")).decode("utf-8", "replace")
    return resp, json.loads(body) if body else None, tail


def request_id(tail: str) -> str:
    """The invocation's request id, from the START line of its log tail."""
    m = re.search(r"START RequestId: ([0-9a-f-]{36}) ", tail)
    assert m, tail
    return m.group(1)


def messages(logs: Any, name: str, **kw: Any) -> list[str]:
    """Every event message of the function's log group (README: a read sees every printed line)."""
    out: list[str] = []
    params: dict[str, Any] = {"logGroupName": f"/aws/lambda/{name}", **kw}
    while True:
        page = logs.filter_log_events(**params)
        out += [e["message"] for e in page["events"]]
        if "nextToken" not in page:
            return out
        params["nextToken"] = page["nextToken"]


def wait_for(cond: Callable[[], bool], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


@pytest.fixture(name="gate")
def gate_fixture() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.close()


# Python handler that, given {"gate": port}, blocks at the gate; returns its environment's id and
# how many invocations that environment has served.
GATED_PY = (
    "import socket, uuid\n"
    "ENV = uuid.uuid4().hex\n"
    "COUNT = 0\n\n"
    "def handler(event, context):\n"
    "    global COUNT\n"
    "    COUNT += 1\n"
    "    if event.get('gate'):\n"
    "        s = socket.create_connection(('127.0.0.1', event['gate']), timeout=60)\n"
    "        s.recv(2)\n"
    "        s.close()\n"
    "    return {'env': ENV, 'count': COUNT, 'code': VERSION}\n"
)


def gated(version: str) -> dict[str, str | bytes]:
    return {"app.py": f"VERSION = {version!r}\n" + GATED_PY}


class Background:
    """An invocation running on a thread."""

    def __init__(self, lam: Any, name: str, event: Any) -> None:
        self.result: tuple[dict[str, Any], Any, str] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(lam, name, event), daemon=True)
        self._thread.start()

    def _run(self, lam: Any, name: str, event: Any) -> None:
        try:
            self.result = invoke(lam, name, event)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self) -> tuple[dict[str, Any], Any, str]:
        self._thread.join(60)
        assert not self._thread.is_alive(), "invocation did not finish"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result
