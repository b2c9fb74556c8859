"""What Lambda tells its metrics: the narrow interface the invoke paths, the async engine and the
outbox report through (app.py hands in the metrics package's implementation; `NO_METRICS` when
none is wired). The names are AWS/Lambda's CloudWatch metric names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

INVOCATIONS = "Invocations"
ERRORS = "Errors"
THROTTLES = "Throttles"
DURATION = "Duration"
CONCURRENT_EXECUTIONS = "ConcurrentExecutions"
ASYNC_EVENTS_RECEIVED = "AsyncEventsReceived"
ASYNC_EVENT_AGE = "AsyncEventAge"
ASYNC_EVENTS_DROPPED = "AsyncEventsDropped"
DEAD_LETTER_ERRORS = "DeadLetterErrors"
DESTINATION_DELIVERY_FAILURES = "DestinationDeliveryFailures"
RECURSIVE_INVOCATIONS_DROPPED = "RecursiveInvocationsDropped"
PROVISIONED_CONCURRENCY_INVOCATIONS = "ProvisionedConcurrencyInvocations"
PROVISIONED_CONCURRENCY_SPILLOVER_INVOCATIONS = "ProvisionedConcurrencySpilloverInvocations"


@dataclass(frozen=True, slots=True)
class Subject:
    """What a metric value is about: a function as invoked (`qualifier` as the caller named it,
    None for the unqualified name) and the version that ran, when one did."""

    region: str
    account: str
    function: str
    qualifier: str | None = None
    executed_version: str | None = None


class LambdaMetrics(Protocol):
    def count(self, metric: str, subject: Subject, value: float = 1.0, times: int = 1) -> None:
        """One value of `metric` (a count of 1, a duration or an age in milliseconds), `times`
        times over."""

    def running(self, subject: Subject, delta: int) -> None:
        """An invocation of `subject` began (+1) or ended (-1): its ConcurrentExecutions."""


class _NoMetrics:
    def count(self, metric: str, subject: Subject, value: float = 1.0, times: int = 1) -> None:
        return None

    def running(self, subject: Subject, delta: int) -> None:
        return None


NO_METRICS: LambdaMetrics = _NoMetrics()


def qualifier_of(function_arn: str) -> str | None:
    """The qualifier of a function ARN (`arn:aws:lambda:r:a:function:name:qualifier`), if any."""
    parts = function_arn.split(":")
    return parts[7] if len(parts) > 7 and parts[7] else None
