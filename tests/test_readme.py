"""The README is the manual a new user follows: every command and flag of `lambdabox --help` is in
it, and its examples run as written (against a fresh server), leaving nothing in the checkout."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, Server, start_server
from lambdabox.cli import _parser

README = (ROOT / "README.md").read_text()
#: the address the README's examples use
README_URL = "http://localhost:4566"


def _commands(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command words, parser) for the top level and every subcommand."""
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*words, name))


def _in_readme(option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", README) is not None


def test_every_command_and_flag_of_the_cli_is_in_the_readme() -> None:
    missing: list[str] = []
    commands = list(_commands(_parser()))
    assert len(commands) >= 3  # lambdabox, serve, logs
    for words, parser in commands:
        if words and f"lambdabox {' '.join(words)}" not in README:
            missing.append(f"lambdabox {' '.join(words)}")
        for action in parser._actions:
            missing += [f"{' '.join(words)} {o}" for o in action.option_strings if not _in_readme(o)]
    assert not missing, f"not in README.md: {missing}"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data")
    yield srv
    srv.stop()


@pytest.mark.slow
def test_readme_examples_run_as_written(fresh: Server, tmp_path: Path) -> None:
    # a checkout after `make run`: its .venv (here: the one running the tests)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}

    (python,) = [b for b in _blocks("python") if README_URL in b]
    run = subprocess.run(
        [sys.executable, "-c", python.replace(README_URL, fresh.url)],
        capture_output=True, text=True, cwd=checkout, env=env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert """b'{"hi": {"x": 1}}'""" in run.stdout

    shell = [b for b in _blocks("sh") if README_URL in b]
    assert len(shell) == 9
    # `--follow` never ends: the same command without it prints what it would print first
    port = urlsplit(fresh.url).port
    script = "set -euo pipefail\n" + "\n".join(shell).replace(README_URL, fresh.url).replace(" --follow", "")
    script = script.replace(".localhost:4566", f".localhost:{port}")  # an HTTP API by host
    run = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, cwd=checkout, env=env, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert '"FunctionName": "hi2"' in out and '"StatusCode": 200' in out
    assert (
        '"State": "Creating"' in out
        and '"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:orders"' in out
    )
    assert "REPORT RequestId:" in out  # lambdabox logs
    assert "parcel 42 left the depot" in out and "Notification" in out  # SNS, through the filter
    assert '"Arn": "arn:aws:iam::000000000000:root"' in out
    assert '"FunctionName": "hello-role"' in out
    assert '"Arn": "arn:aws:iam::000000000000:user/ci"' in out
    # the canary release: versions 1 and 2, an alias sending a share to 2, then promoted
    assert '"Version": "1"' in out and '"Version": "2"' in out
    counts = {v: int(n) for n, v in re.findall(r"^\s+(\d+) (\d+)$", out, flags=re.M)}
    assert set(counts) <= {"1", "2"} and sum(counts.values()) == 20, out
    assert re.search(r"^X-Amz-Executed-Version: [12]\r?$", out, flags=re.M | re.I), out
    assert re.search(r"^1\tfirst$", out, flags=re.M), out
    # the HTTP API, by path and by host, and the function URL: the function's answer to a 2.0 event
    assert out.count('"rawPath": "/hello"') == 3, out
    assert '"FunctionUrl": "http://' in out and '"InvokeMode": "BUFFERED"' in out, out
    assert '"rawQueryString": "x=1"' in out and '"accountId": "anonymous"' in out, out
    # the REST API, by path and by host: the function's answer to a REST proxy event
    assert out.count('{"path": "/hello", "resource": "/{proxy+}"}') == 2, out
    # fault injection: an injected error, what is left of its count, the faults deleted
    assert '"FunctionError": "Unhandled"' in out, out
    assert '{"errorType": "InjectedFault", "errorMessage": "disk full"}' in out, out
    assert '"remaining": 1' in out and '{"deleted": 1}' in out, out
    assert sorted(p.name for p in checkout.iterdir()) == [".venv"]  # nothing left in the checkout
