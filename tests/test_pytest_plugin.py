"""lambdabox's pytest plugin as a user gets it: the fixtures `lambdabox` (in process) and
`lambdabox_process` (a `lambdabox serve` subprocess), both on a manual clock with the same
interface, loaded through the `pytest11` entry point (or `-p` / `pytest_plugins`, without a double
registration), importing nothing heavy until used; the README's example runs as written; faults
go to `/_lambdabox/faults` over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conftest import ROOT
from lambdabox.testing.handle import AdminError, Handle

EXAMPLE = """
import io, json, time, zipfile

import pytest


def zipped(source):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


@pytest.fixture(params=["lambdabox", "lambdabox_process"])
def server(request):
    return request.getfixturevalue(request.param)


def test_the_interface(server, tmp_path):
    assert server.url.startswith("http://127.0.0.1:")
    data_dir = server.data_dir if hasattr(server, "data_dir") else server.settings.data_dir
    assert str(data_dir).startswith(str(tmp_path))
    start = server.now()
    assert abs(start - time.time()) < 60
    assert server.advance("PT2M") == start + 120
    assert server.advance(30) == start + 150
    assert server.set(start + 1000) == start + 1000
    assert server.now() == start + 1000
    with pytest.raises(Exception):
        server.set(start)
    lam = server.client("lambda")
    lam.create_function(
        FunctionName="f", Runtime="python3.12", Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/any",
        Code={"ZipFile": zipped("def handler(e, c):\\n    return c.get_remaining_time_in_millis()\\n")},
        Timeout=3,
    )
    left = json.loads(lam.invoke(FunctionName="f")["Payload"].read())
    assert 1000 < left <= 3000, left  # the deadline is real time: the clock is 1000 s ahead
    server.settle()
"""


def run_pytest(tmp_path: Path, files: dict[str, str], *args: str, site: Path | None = None) -> str:
    """Run pytest on `files` in a fresh directory (a subprocess, as a user's run); its output."""
    work = tmp_path / "project"
    work.mkdir()
    for name, text in files.items():
        (work / name).write_text(text)
    paths = [str(site)] if site is not None else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def entry_point_site(tmp_path: Path) -> Path:
    """A directory holding an installed distribution's metadata with lambdabox's pytest11 entry
    point, as `pip install lambdabox` writes it (the checkout's own may not be reinstalled yet)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    points = pyproject["project"]["entry-points"]["pytest11"]
    site = tmp_path / "site"
    dist = site / "lambdabox_entry_point-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lambdabox-entry-point\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{name} = {target}\n" for name, target in points.items())
    )
    return site


def test_both_fixtures_give_the_same_interface(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, {"test_example.py": EXAMPLE}, "-p", "lambdabox.pytest_plugin")
    assert "2 passed" in out


def test_the_entry_point_loads_it_once_whichever_way_it_is_asked_for(tmp_path: Path) -> None:
    site = entry_point_site(tmp_path)
    points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    assert points == {"lambdabox.pytest_plugin": "lambdabox.pytest_plugin"}
    files = {
        "test_auto.py": "def test_auto(lambdabox):\n    assert lambdabox.advance(1) > 0\n",
        "test_named.py": 'pytest_plugins = ["lambdabox.pytest_plugin"]\n\n'
        "def test_named(lambdabox):\n    assert lambdabox.now() > 0\n",
    }
    out = run_pytest(tmp_path, files, "-p", "lambdabox.pytest_plugin", site=site)
    assert "2 passed" in out


def test_the_plugin_imports_nothing_heavy_until_a_fixture_is_used() -> None:
    code = "import sys, lambdabox.pytest_plugin; print(sorted(m for m in sys.modules if m.startswith('lambdabox')))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == "['lambdabox', 'lambdabox.pytest_plugin']"


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "# test_retries.py" in b]
    return block


def test_the_readme_example_runs_as_written(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, {"test_retries.py": readme_example()}, "-p", "lambdabox.pytest_plugin")
    assert "1 passed" in out


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in for lambdabox's /_lambdabox/faults: records what it is sent."""

    seen: ClassVar[list[tuple[str, str, Any]]] = []

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        self.seen.append(("POST", self.path, body))
        if body.get("kind") == "bogus":
            self._answer(400, {"message": "kind must be error, timeout, latency or throttle"})
        else:
            self._answer(201, {"id": "f-1"})

    def do_DELETE(self) -> None:
        self.seen.append(("DELETE", self.path, None))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _At(Handle):
    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_faults_are_injected_and_cleared_over_http(recorder: str) -> None:
    handle = _At(recorder)
    fault = handle.inject_fault(function="checkout", kind="error", error_type="Boom", latency_ms=5, count=2)
    assert fault == "f-1"
    handle.clear_faults(fault)
    handle.clear_faults()
    with pytest.raises(AdminError, match="kind must be") as exc:
        handle.inject_fault(function="checkout", kind="bogus")
    assert exc.value.status == 400
    assert _Recorder.seen == [
        ("POST", "/_lambdabox/faults",
         {"function": "checkout", "kind": "error", "errorType": "Boom", "latencyMs": 5, "count": 2}),
        ("DELETE", "/_lambdabox/faults/f-1", None),
        ("DELETE", "/_lambdabox/faults", None),
        ("POST", "/_lambdabox/faults", {"function": "checkout", "kind": "bogus"}),
    ]  # fmt: skip
