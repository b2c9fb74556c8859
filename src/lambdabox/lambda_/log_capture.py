"""Capture an environment's stdout/stderr as log events: the pipes' lines, batched into a `LogSink`.

`LogCapture` reads the process's pipes without blocking, cuts what it reads into lines (at most
`MAX_EVENT` bytes each, ``\\r`` inside a line kept as a line break), stops reading while the sink
is congested (so the function's writes block instead of the server's memory growing), and hands
lines to the sink in batches, one per event-loop turn. Platform lines (START, REPORT …) go the same
way through `emit()`. Each line is also added to the current `LogTail` if one is set (what
LogType=Tail returns); which tail that is, is the caller's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from typing import Protocol

from lambdabox.clock import Clock

#: largest log event CloudWatch accepts (bytes); longer lines are split
MAX_EVENT = 256 * 1024
#: LogType=Tail returns this much of the end of an invocation's log
TAIL_BYTES = 4096


class LogSink(Protocol):
    """Where an environment's log lines go (its CloudWatch log stream)."""

    def append(self, events: list[tuple[int, str]]) -> None: ...

    @property
    def congested(self) -> bool:
        """True while lines arrive faster than they are stored: stop reading the process."""
        ...

    async def wait_for_room(self) -> None: ...


class LogTail:
    """The end of a log (what LogType=Tail returns): keeps only the last few KB of lines."""

    def __init__(self) -> None:
        self._lines: deque[str] = deque()
        self._size = 0

    def add(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line) + 1
        while self._size > TAIL_BYTES * 2 and len(self._lines) > 1:
            self._size -= len(self._lines.popleft()) + 1

    def text(self, *more: str) -> str:
        text = "\n".join([*self._lines, *more]) + "\n"
        return text[-TAIL_BYTES:]


class LogCapture:
    """One environment's log lines: read from its pipes or emitted, batched into `sink`."""

    def __init__(self, sink: LogSink, clock: Clock) -> None:
        self._sink = sink
        self._clock = clock
        #: the tail every line is also added to (the current invocation's, or the init phase's)
        self.tail: LogTail | None = None
        self._partial: dict[int, bytearray] = {}  # per attached fd: the line read so far
        self._batch: list[tuple[int, str]] = []
        self._flush_scheduled = False
        self._paused = False
        self._resume_task: asyncio.Task[None] | None = None
        self._closed = False

    def attach(self, *fds: int) -> None:
        """Start reading these (non-blocking) pipe fds; the capture closes them in `close_pipes()`."""
        loop = asyncio.get_running_loop()
        for fd in set(fds):  # stdout and stderr may be one pipe
            self._partial[fd] = bytearray()
            loop.add_reader(fd, self._on_output, fd)

    def drain(self) -> None:
        """Read whatever the process already wrote (it wrote before it answered the Runtime API)."""
        for fd in list(self._partial):
            while True:
                try:
                    data = os.read(fd, 1 << 16)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                self._feed(fd, data)

    def close_pipes(self) -> None:
        """Drain the pipes, emit their last unterminated lines, stop reading and close them.

        `emit()` still works afterwards (platform lines written after the process is gone)."""
        self._closed = True
        self.drain()
        for buf in self._partial.values():  # a last line without its newline
            if buf:
                self.emit(buf.decode("utf-8", "replace"))
                buf.clear()
        for fd in list(self._partial):
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
        self._partial.clear()

    def emit(self, line: str) -> None:
        """One log line (the process's or a platform line), stamped now; stored with the next flush."""
        if self.tail is not None:
            self.tail.add(line)
        self._batch.append((int(self._clock.now() * 1000), line))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Hand the lines emitted so far to the sink now."""
        self._flush_scheduled = False
        if self._batch:
            batch, self._batch = self._batch, []
            self._sink.append(batch)

    def _on_output(self, fd: int) -> None:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(fd)
            buf = self._partial.get(fd)
            if buf:
                self.emit(buf.decode("utf-8", "replace"))
                buf.clear()
            return
        self._feed(fd, data)
        if self._sink.congested and not self._paused:
            self._pause_reading()

    def _pause_reading(self) -> None:
        """Backpressure: stop reading the pipes (the function's writes block) until logs catch up."""
        loop = asyncio.get_running_loop()
        self._paused = True
        for fd in self._partial:
            loop.remove_reader(fd)

        async def resume() -> None:
            await self._sink.wait_for_room()
            self._paused = False
            if not self._closed:
                for fd in self._partial:
                    loop.add_reader(fd, self._on_output, fd)

        self._resume_task = loop.create_task(resume())

    def _feed(self, fd: int, data: bytes) -> None:
        buf = self._partial.setdefault(fd, bytearray())
        buf += data
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) >= MAX_EVENT:
                    self.emit(bytes(buf[:MAX_EVENT]).decode("utf-8", "replace"))
                    del buf[:MAX_EVENT]
                    continue
                break
            line = bytes(buf[: min(nl, MAX_EVENT)])
            del buf[: nl + 1]
            # AWS's runtimes write one multi-line record (a traceback) as one line with \r between its
            # lines; CloudWatch shows it as one event with line breaks
            self.emit(line.rstrip(b"\r").replace(b"\r", b"\n").decode("utf-8", "replace"))
