"""The platform records Lambda writes into a function's log: INIT_START, START, END, REPORT, timeouts."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any


def log_stream_name(now: float, version: str, suffix: str) -> str:
    day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{suffix}"


def _runtime_label(runtime: str | None) -> str:
    return (runtime or "provided").replace("python", "python:").replace("nodejs", "nodejs:").replace(".x", "")


@dataclass(frozen=True)
class PlatformLog:
    """Lambda's platform records in a function's log format: Text lines or JSON objects.

    With `LoggingConfig.LogFormat=JSON` Lambda writes `{"time", "type": "platform.*", "record"}`
    objects instead of INIT_START/START/REPORT lines, and no END line.
    """

    json_format: bool = False

    def _record(self, now: float, kind: str, record: dict[str, Any]) -> str:
        return json.dumps({"time": iso_ms(now), "type": kind, "record": record}, separators=(",", ":"))

    def init_start(
        self,
        now: float,
        runtime: str | None,
        arn: str,
        function: str,
        version: str,
        initialization_type: str = "on-demand",
    ) -> str:
        label = f"{_runtime_label(runtime)}.v1"
        if self.json_format:
            return self._record(
                now,
                "platform.initStart",
                {
                    "initializationType": initialization_type,
                    "phase": "init",
                    "runtimeVersion": label,
                    "runtimeVersionArn": arn,
                    "functionName": function,
                    "functionVersion": version,
                },
            )
        return f"INIT_START Runtime Version: {label}\tRuntime Version ARN: {arn}"

    def start(self, now: float, request_id: str, version: str) -> str:
        if self.json_format:
            return self._record(now, "platform.start", {"requestId": request_id, "version": version})
        return f"START RequestId: {request_id} Version: {version}"

    def end(self, request_id: str) -> str | None:
        return None if self.json_format else f"END RequestId: {request_id}"

    def report(
        self,
        now: float,
        request_id: str,
        duration_ms: float,
        memory_size: int,
        max_memory_mb: int,
        init_duration_ms: float | None,
        status: str | None = None,
        error_type: str | None = None,
    ) -> str:
        billed = max(math.ceil(duration_ms + (init_duration_ms or 0.0)), 1)
        if self.json_format:
            metrics: dict[str, Any] = {
                "durationMs": round(duration_ms, 3),
                "billedDurationMs": billed,
                "memorySizeMB": memory_size,
                "maxMemoryUsedMB": max_memory_mb,
            }
            if init_duration_ms is not None:
                metrics["initDurationMs"] = round(init_duration_ms, 3)
            record: dict[str, Any] = {
                "requestId": request_id,
                "metrics": metrics,
                "status": status or "success",
            }
            if error_type is not None:
                record["errorType"] = error_type
            return self._record(now, "platform.report", record)
        parts = [
            f"REPORT RequestId: {request_id}",
            f"Duration: {duration_ms:.2f} ms",
            f"Billed Duration: {billed} ms",
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
