"""A full disk refuses what cannot be stored and loses nothing that was acknowledged: with the
data directory on a small tmpfs that the test fills, asynchronous invocations are answered 500
ServiceException (never 202), reads and synchronous invocations still work, and once space is
freed the server accepts again; every event answered 202 runs, none answered 500 does."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import deploy, start_server, wait_until

HANDLER = {"app.py": "def handler(event, context):\n    print('ran', event['n'])\n"}


@contextlib.contextmanager
def small_disk(path: Path, megabytes: int) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> None:
    """Take every free byte of the file system `path` is on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 4096, 64):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


def ran(logs: object, name: str) -> set[str]:
    found = logs.filter_log_events(  # type: ignore[attr-defined]
        logGroupName=f"/aws/lambda/{name}", filterPattern='"ran"'
    )
    return {e["message"].split()[-1] for e in found["events"]}


@pytest.mark.slow
def test_a_full_disk_answers_500_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", 64) as disk:
        srv = start_server(disk / "data")
        try:
            lam = srv.client("lambda")
            name = deploy(lam, HANDLER)
            lam.invoke(FunctionName=name, Payload=b'{"n": "warm"}')
            accepted = {"warm"}
            for i in range(5):
                got = lam.invoke(FunctionName=name, InvocationType="Event", Payload=f'{{"n": "a{i}"}}')
                assert got["StatusCode"] == 202
                accepted.add(f"a{i}")
            logs = srv.client("logs")
            wait_until(lambda: accepted <= ran(logs, name), limit=60)  # (their logs are stored)
            fill(disk / "filler")
            refused = []
            padding = " " * 100_000  # each event needs pages the disk no longer has
            for i in range(5):
                with pytest.raises(ClientError) as err:
                    lam.invoke(FunctionName=name, InvocationType="Event", Payload=f'{{"n": "r{i}"}}{padding}')
                assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
                assert err.value.response["Error"]["Code"] == "ServiceException"
                refused.append(f"r{i}")
            assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
            os.unlink(disk / "filler")
            for i in range(5):
                got = lam.invoke(FunctionName=name, InvocationType="Event", Payload=f'{{"n": "b{i}"}}')
                assert got["StatusCode"] == 202
                accepted.add(f"b{i}")
            wait_until(lambda: accepted <= ran(logs, name), limit=60)
            assert not ran(logs, name) & set(refused)
        finally:
            srv.stop()
