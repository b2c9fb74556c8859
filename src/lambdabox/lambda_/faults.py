"""The fault book: faults injected into a function's invocations, which invocation each one hits.

A `Fault` names a function (region, account, name) and maybe a qualifier, a kind (error,
timeout, latency, throttle), a probability, and optionally how many invocations it may hit
(`count`) and for how long it lasts (`duration_seconds`, on the one clock). `FaultBook.hit`
decides for one invocation which fault applies: the oldest matching fault whose draw succeeds
(one fault per invocation), consuming one of its count. Pure bookkeeping: what a hit does to the
invocation is `fault_runs.py`'s; the HTTP endpoint that fills the book is `admin/faults.py`.
Faults live in memory (a test tool, like the manual clock): a restart clears them.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdabox.aws import ids
from lambdabox.aws.arns import function_arn
from lambdabox.clock import Clock
from lambdabox.lambda_.logs import iso_ms

DEFAULT_ERROR_TYPE = "InjectedFault"
DEFAULT_ERROR_MESSAGE = "lambdabox injected this error"


class FaultKind(enum.StrEnum):
    ERROR = "error"  # a function error (FunctionError Unhandled), the handler not run
    TIMEOUT = "timeout"  # a timeout after the function's timeout, the handler not run
    LATENCY = "latency"  # the invocation runs normally, latency_ms later
    THROTTLE = "throttle"  # refused as over-concurrency (429), the handler not run


@dataclass(frozen=True)
class FaultSpec:
    """What a client asked for (checked by the endpoint)."""

    region: str
    account: str
    function: str  # the function's name
    qualifier: str | None  # a version or an alias; None: every invocation of the function
    kind: FaultKind
    error_type: str = DEFAULT_ERROR_TYPE
    error_message: str = DEFAULT_ERROR_MESSAGE
    latency_ms: float = 0.0
    probability: float = 1.0
    count: int | None = None  # how many invocations it may hit; None: unlimited
    duration_seconds: float | None = None  # how long it lasts; None: until deleted

    @property
    def arn(self) -> str:
        return function_arn(self.region, self.account, self.function, self.qualifier)

    def matches(self, region: str, account: str, name: str, qualifier: str | None, version: str) -> bool:
        """Whether it applies to an invocation of `name` through `qualifier` (as the caller named
        it: None, a version or an alias) running `version`: a fault without a qualifier applies
        to every invocation, one naming an alias to invocations through that alias, one naming a
        version to invocations that run that version (named directly or chosen by an alias)."""
        if (self.region, self.account, self.function) != (region, account, name):
            return False
        return self.qualifier is None or self.qualifier in (qualifier, version)


@dataclass
class Fault:
    """A fault in the book, with what is left of it."""

    id: str
    spec: FaultSpec
    created: float  # clock.now()
    expires: float | None  # clock.now() at which it ends
    remaining: int | None  # invocations it may still hit
    hits: int = 0

    def expired(self, now: float) -> bool:
        return (self.expires is not None and now >= self.expires) or self.remaining == 0

    def to_json(self, now: float) -> dict[str, Any]:
        """Its view for GET /_lambdabox/faults."""
        s = self.spec
        out: dict[str, Any] = {
            "id": self.id,
            "function": s.arn,
            "functionName": s.function,
            "qualifier": s.qualifier,
            "kind": s.kind.value,
            "probability": s.probability,
            "count": s.count,
            "remaining": self.remaining,
            "durationSeconds": s.duration_seconds,
            "createdAt": iso_ms(self.created),
            "expiresAt": iso_ms(self.expires) if self.expires is not None else None,
            "secondsLeft": max(0.0, self.expires - now) if self.expires is not None else None,
            "hits": self.hits,
        }
        if s.kind is FaultKind.ERROR:
            out["errorType"], out["errorMessage"] = s.error_type, s.error_message
        if s.kind is FaultKind.LATENCY:
            out["latencyMs"] = s.latency_ms
        return out


@dataclass(frozen=True)
class Hit:
    """A fault that hits one invocation: what the invocation becomes."""

    fault_id: str
    spec: FaultSpec

    @property
    def kind(self) -> FaultKind:
        return self.spec.kind


class FaultBook:
    """The faults of one server. `draw()` gives numbers in [0, 1) for the probabilities (injected
    so tests are deterministic); expiry is on `clock`."""

    def __init__(self, clock: Clock, draw: Callable[[], float] = random.random) -> None:
        self.clock = clock
        self.draw = draw
        self._faults: dict[str, Fault] = {}

    def add(self, spec: FaultSpec) -> Fault:
        now = self.clock.now()
        expires = now + spec.duration_seconds if spec.duration_seconds is not None else None
        fault = Fault("fault-" + ids.hex_id(8), spec, now, expires, spec.count)
        self._faults[fault.id] = fault
        return fault

    def faults(self) -> list[Fault]:
        """The faults in force, oldest first (expired ones are dropped)."""
        self._sweep()
        return list(self._faults.values())

    def get(self, fault_id: str) -> Fault | None:
        self._sweep()
        return self._faults.get(fault_id)

    def remove(self, fault_id: str) -> bool:
        """Delete one fault; False if there is none of that id (or it has expired)."""
        self._sweep()
        return self._faults.pop(fault_id, None) is not None

    def clear(self) -> int:
        """Delete every fault; how many were in force."""
        self._sweep()
        n = len(self._faults)
        self._faults.clear()
        return n

    def hit(self, region: str, account: str, name: str, qualifier: str | None, version: str) -> Hit | None:
        """The fault that hits this invocation, if any (its count consumed): the oldest matching
        fault whose draw succeeds."""
        if not self._faults:
            return None
        self._sweep()
        for fault in list(self._faults.values()):
            spec = fault.spec
            if not spec.matches(region, account, name, qualifier, version) or not self._fires(spec):
                continue
            fault.hits += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[fault.id]
            return Hit(fault.id, spec)
        return None

    def longest_latency(self, region: str, account: str, name: str) -> float:
        """The largest latency (seconds) a fault may add to an invocation of the function."""
        self._sweep()
        return max(
            (
                f.spec.latency_ms / 1000.0
                for f in self._faults.values()
                if f.spec.kind is FaultKind.LATENCY
                and (f.spec.region, f.spec.account, f.spec.function) == (region, account, name)
            ),
            default=0.0,
        )

    def _fires(self, spec: FaultSpec) -> bool:
        if spec.probability >= 1.0:
            return True
        if spec.probability <= 0.0:
            return False
        return self.draw() < spec.probability

    def _sweep(self) -> None:
        now = self.clock.now()
        for fault_id in [f.id for f in self._faults.values() if f.expired(now)]:
            del self._faults[fault_id]
