"""The platform lines Lambda writes into a function's log: INIT_START, START, END, REPORT, timeouts."""

from __future__ import annotations

import datetime as dt
import math


def log_stream_name(now: float, version: str, suffix: str) -> str:
    day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{suffix}"


def init_start(runtime: str | None, region: str, version_hash: str) -> str:
    label = (
        (runtime or "provided").replace("python", "python:").replace("nodejs", "nodejs:").replace(".x", "")
    )
    return (
        f"INIT_START Runtime Version: {label}.v1\t"
        f"Runtime Version ARN: arn:aws:lambda:{region}::runtime:{version_hash}"
    )


def start(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report(
    request_id: str,
    duration_ms: float,
    memory_size: int,
    max_memory_mb: int,
    init_duration_ms: float | None,
    status: str | None = None,
    error_type: str | None = None,
) -> str:
    billed = math.ceil(duration_ms + (init_duration_ms or 0.0))
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {max(billed, 1)} ms",
        f"Memory Size: {memory_size} MB",
        f"Max Memory Used: {max_memory_mb} MB",
    ]
    if init_duration_ms is not None:
        parts.append(f"Init Duration: {init_duration_ms:.2f} ms")
    if status is not None:
        parts.append(f"Status: {status}")
    if error_type is not None:
        parts.append(f"Error Type: {error_type}")
    return "\t".join(parts) + "\t"


def iso_ms(epoch: float) -> str:
    t = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def timed_out(now: float, request_id: str, timeout: float) -> str:
    return f"{iso_ms(now)} {request_id} Task timed out after {timeout:.2f} seconds"


def exited(request_id: str, reason: str) -> str:
    return f"RequestId: {request_id} Error: Runtime exited with error: {reason}"


#: Go's wording for signals, which Lambda's messages use ("signal: killed")
_SIGNAL_WORDS = {
    "SIGKILL": "killed",
    "SIGTERM": "terminated",
    "SIGSEGV": "segmentation fault",
    "SIGABRT": "aborted",
    "SIGBUS": "bus error",
    "SIGINT": "interrupt",
    "SIGILL": "illegal instruction",
    "SIGFPE": "floating point exception",
    "SIGPIPE": "broken pipe",
    "SIGHUP": "hangup",
}


def exit_reason(returncode: int | None, signal_name: str | None) -> str:
    if signal_name:
        return f"signal: {_SIGNAL_WORDS.get(signal_name, signal_name.removeprefix('SIG').lower())}"
    return f"exit status {returncode}"
