"""Run `lambdabox serve` as a subprocess for a test: the server as users run it, on a manual clock.

    with LambdaboxProcess(tmp_path / "data") as lbx:   # lambdabox serve --clock manual --port 0
        lbx.client("lambda").list_functions()
        lbx.advance("PT2M")                            # POST /_lambdabox/clock

It listens on a free loopback port (`--port 0`) and announces its URL in its ready line, which is
read from its standard output; everything it prints (and its log, on standard error) goes to
`log_path`. Stopping it sends SIGTERM (SIGKILL after `stop`'s timeout).
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from lambdabox.testing.handle import Handle

_READY = re.compile(r"ready on (http://\S+)")


class LambdaboxProcess(Handle):
    """A `lambdabox serve` subprocess (the clock, faults and settle over HTTP)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: str | None = "manual",
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        python: str = sys.executable,
        startup_timeout: float = 60.0,
    ) -> None:
        """`clock`: its `--clock` ("manual", "system"; None: no flag, LAMBDABOX_CLOCK decides);
        `args`: further `lambdabox serve` flags; `env`: its environment (default: this one's);
        `python`: the interpreter lambdabox is installed in."""
        self.data_dir = Path(data_dir)
        self.log_path = log_path or self.data_dir.with_name(self.data_dir.name + "-server.log")
        self.command = [
            python, "-m", "lambdabox", "serve", "--host", "127.0.0.1", "--port", "0",
            "--data-dir", str(self.data_dir), *(["--clock", clock] if clock else []), *args,
        ]  # fmt: skip
        self._env = None if env is None else dict(env)
        self._startup_timeout = startup_timeout
        self._url: str | None = None
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the server is not started: use start() or `with`")
        return self._url

    def start(self) -> LambdaboxProcess:
        """Start the server and wait for its ready line (RuntimeError with its log if none comes)."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a", buffering=1)  # noqa: SIM115 - closed by the reader
        self.proc = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
            env=self._env,
        )  # fmt: skip
        assert self.proc.stdout is not None
        found: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(
            target=_read_stdout, args=(self.proc.stdout, log, found), name="lambdabox-stdout", daemon=True
        )
        self._reader.start()
        try:
            url = found.get(timeout=self._startup_timeout)
        except queue.Empty:
            url = None
        if url is None:
            self.stop()
            raise RuntimeError(f"lambdabox serve did not start; its log:\n{self.log_path.read_text()}")
        self._url = url
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Stop the server (SIGKILL if it has not exited after `timeout` s); its exit status."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if self._reader is not None:
            self._reader.join(10)
        return code

    def __enter__(self) -> LambdaboxProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _read_stdout(stdout: IO[str], log: IO[str], found: queue.Queue[str | None]) -> None:
    """Copy the server's standard output to its log; the URL of its ready line goes to `found`
    (None if it ends without one)."""
    announced = False
    try:
        for line in stdout:
            log.write(line)
            if not announced and (m := _READY.search(line)):
                announced = True
                found.put(m.group(1))
    finally:
        if not announced:
            found.put(None)
        log.close()
        stdout.close()
