"""Shared fixtures: a real `lambdabox serve` subprocess on a free port, boto3 clients, zip builders."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def aws_client(url: str, service: str, credentials: Mapping[str, Any] | None = None, **kw: Any) -> Any:
    """A boto3 client of the lambdabox at `url`: signed with the root keys test/test, or with
    `credentials` (AccessKeyId, SecretAccessKey, SessionToken: STS's shape); no retries."""
    keys = (
        {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
        if credentials
        else {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    )
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=kw.pop("region_name", "us-east-1"),
        config=Config(retries={"max_attempts": 0}, read_timeout=120, **kw),
        **keys,
    )


def aws_error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    """What boto3 saw of an AWS error: (code, message, HTTP status)."""
    r = exc.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


@dataclass
class Server:
    """A running lambdabox server process."""

    proc: subprocess.Popen[str]
    url: str
    data_dir: Path
    log_path: Path

    def client(self, service: str, *, key: str = "test", secret: str = "test", **kw: Any) -> Any:
        """A boto3 client signed with `key`/`secret` (the root keys test/test by default)."""
        creds = {"AccessKeyId": key, "SecretAccessKey": secret, "SessionToken": None}
        return aws_client(self.url, service, creds, **kw)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def start_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Server:
    """Start `lambdabox serve --port 0` and wait for its ready line."""
    log_path = data_dir.parent / f"{data_dir.name}-server-{uuid.uuid4().hex[:6]}.log"
    cmd = [sys.executable, "-m", "lambdabox", "serve", "--port", "0", "--data-dir", str(data_dir), *extra]
    full_env = {**os.environ, **(env or {})}
    logf = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logf, text=True, env=full_env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    url = None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"ready on (http://\S+)", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        raise RuntimeError(f"server did not start; log:\n{log_path.read_text()}")
    return Server(proc, url, data_dir, log_path)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("lbx") / "data")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def lam(server: Server) -> Any:
    return server.client("lambda")


@pytest.fixture(scope="session")
def lam_raw(server: Server) -> Any:
    """A Lambda client that sends what it is given (no client-side validation), to see the server's answer."""
    return server.client("lambda", parameter_validation=False)


@pytest.fixture(scope="session")
def logs(server: Server) -> Any:
    return server.client("logs")


def wait_until(cond: Callable[[], object], limit: float = 30.0, what: str = "the condition") -> None:
    """Poll a condition about the server's state, for background work to finish (bounded; not a
    semantic delay: those go on the manual clock)."""
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def make_zip(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def deploy(
    lam: Any,
    files: dict[str, str | bytes],
    *,
    runtime: str = "python3.11",
    handler: str = "app.handler",
    modes: dict[str, int] | None = None,
    role: str = ROLE,
    **kw: Any,
) -> str:
    """CreateFunction from source files (a fresh name unless FunctionName is given); returns the name."""
    name = kw.pop("FunctionName", None) or unique()
    lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role,
        Handler=handler,
        Code={"ZipFile": make_zip(files, modes)},
        **kw,
    )
    return name


@pytest.fixture
def create_fn(lam: Any) -> Iterator[Callable[..., str]]:
    """Create a function from source files; deleted after the test."""
    made: list[str] = []

    def create(files: dict[str, str | bytes], **kw: Any) -> str:
        name = deploy(lam, files, **kw)
        made.append(name)
        return name

    yield create
    for name in made:
        with contextlib.suppress(Exception):
            lam.delete_function(FunctionName=name)


#: the environment variable tests set on a function (Environment Variables) to find its
#: environments' processes on the host: inside, each environment has pid namespace of its own
MARKER = "LBX_TEST_MARKER"


def host_pids_with_env(name: str, value: str) -> set[int]:
    """Host pids (not zombies: their environ reads empty) whose environment holds `name=value`:
    an environment's init, runtime and whatever they forked, found from outside (as root)."""
    needle = f"{name}={value}".encode()
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.add(int(entry.name))
        except OSError:  # gone meanwhile, or a kernel thread
            continue
    return found


def marked(value: str | None = None) -> tuple[str, dict[str, dict[str, str]]]:
    """A fresh marker and the `Environment` argument that puts it on a function."""
    value = value or uuid.uuid4().hex
    return value, {"Variables": {MARKER: value}}


#: a handler that waits at a `Gate` (event {"gate": port}) and returns what the test sends it
GATED_HANDLER = (
    "import socket\n\n"
    "def handler(event, context):\n"
    "    s = socket.create_connection(('127.0.0.1', event['gate']), timeout=60)\n"
    "    return s.makefile().readline().strip()\n"
)


class Gate:
    """A loopback socket that `GATED_HANDLER` invocations wait at: the test sees each one arrive
    (so it knows the invocation is running) and decides when they finish. No sleeping, no files
    (an environment's /tmp is its own)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(30)
        self.port: int = self._listener.getsockname()[1]
        self._inside: list[socket.socket] = []

    def arrivals(self, n: int) -> None:
        """Wait (bounded: 30 s each) until `n` invocations are inside their handlers."""
        while len(self._inside) < n:
            self._inside.append(self._listener.accept()[0])

    def release(self, answer: str = "released") -> None:
        """Let every invocation at the gate go on; each receives `answer` and a newline."""
        for conn in self._inside:
            with contextlib.suppress(OSError):
                conn.sendall(answer.encode() + b"\n")
                conn.close()
        self._inside.clear()

    def close(self) -> None:
        self.release()
        self._listener.close()
