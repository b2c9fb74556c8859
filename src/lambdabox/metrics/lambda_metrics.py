"""Lambda's metrics as CloudWatch has them: each value Lambda reports (`lambda_.metric_hooks`) is
recorded in namespace AWS/Lambda under every dimension set AWS gives it: none (the account's
aggregate), FunctionName, FunctionName + Resource (`name:qualifier`) for an invocation with a
qualifier, and FunctionName + Resource + ExecutedVersion for one through an alias.
ConcurrentExecutions is the number running, sampled each time one begins (so its Maximum per
minute is the peak) and, while any runs, once in each minute that saw no start (before each of
the recorder's flushes), so a long invocation shows in every minute it spans."""

from __future__ import annotations

from lambdabox.lambda_ import metric_hooks as names
from lambdabox.lambda_.metric_hooks import Subject
from lambdabox.metrics.models import MINUTE, Aggregate, Dimensions, MetricKey
from lambdabox.metrics.recorder import Recorder

NAMESPACE = "AWS/Lambda"

_UNITS = {names.DURATION: "Milliseconds", names.ASYNC_EVENT_AGE: "Milliseconds"}


def dimension_sets(subject: Subject) -> list[Dimensions]:
    """The dimension sets a value about `subject` is recorded under."""
    name = (("FunctionName", subject.function),)
    sets: list[Dimensions] = [(), name]
    if subject.qualifier is not None:
        resource = (*name, ("Resource", f"{subject.function}:{subject.qualifier}"))
        sets.append(resource)
        executed = subject.executed_version
        if executed is not None and executed != subject.qualifier and not subject.qualifier.isdigit():
            sets.append((("ExecutedVersion", executed), *resource))
    return sets


class LambdaRecorder:
    """`lambda_.metric_hooks.LambdaMetrics` over a `Recorder`."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._running: dict[tuple[str, str, Dimensions], int] = {}
        #: the last minute (epoch seconds) each running count was recorded in
        self._sampled: dict[tuple[str, str, Dimensions], int] = {}
        recorder.on_flush(self.sample)

    def count(self, metric: str, subject: Subject, value: float = 1.0, times: int = 1) -> None:
        unit = _UNITS.get(metric, "Count")
        for dims in dimension_sets(subject):
            key = MetricKey(subject.region, subject.account, NAMESPACE, metric, dims)
            self._recorder.add(key, Aggregate.of(value, unit, times))

    def running(self, subject: Subject, delta: int) -> None:
        for dims in dimension_sets(subject):
            key = (subject.region, subject.account, dims)
            now = self._running.get(key, 0) + delta
            if now > 0:
                self._running[key] = now
            else:
                self._running.pop(key, None)
                self._sampled.pop(key, None)
            if delta > 0:
                self._record(key, now, None)

    def sample(self, now: float) -> None:
        """Record each running count not recorded yet in the minute of `now`."""
        minute = int(now // MINUTE * MINUTE)
        for key, n in self._running.items():
            if self._sampled.get(key, -1) < minute:
                self._record(key, n, now)

    def _record(self, key: tuple[str, str, Dimensions], n: int, at: float | None) -> None:
        region, account, dims = key
        self._recorder.record(region, account, NAMESPACE, names.CONCURRENT_EXECUTIONS, dims, n, "Count", at)
        self._sampled[key] = int(self._recorder.minute(at))

    def running_now(self) -> dict[tuple[str, str, str], int]:
        """(region, account, function) -> its invocations running now."""
        return {
            (region, account, dims[0][1]): n
            for (region, account, dims), n in self._running.items()
            if len(dims) == 1 and dims[0][0] == "FunctionName"
        }
