"""`GET /_lambdabox/metrics`: Lambda's metrics in Prometheus' text exposition format (0.0.4).

Per function (labels region, account, function), over the server's whole life (the totals
survive a restart, kept in the store apart from the minutes, which are pruned):

    lambdabox_lambda_invocations_total, _errors_total, _throttles_total,
    _async_events_received_total, _async_events_dropped_total, _dead_letter_errors_total,
    _destination_delivery_failures_total, _recursive_invocations_dropped_total,
    _provisioned_concurrency_invocations_total,
    _provisioned_concurrency_spillover_invocations_total                  counters
    lambdabox_lambda_duration_milliseconds, _async_event_age_milliseconds  summaries (quantiles 0.5,
                                                                           0.9, 0.99, _sum, _count)
    lambdabox_lambda_concurrent_executions                                 gauge: running now
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lambdabox.edge import AdminEndpoint
from lambdabox.http_messages import Request, Response, json_response
from lambdabox.lambda_ import metric_hooks as names
from lambdabox.metrics.models import Aggregate, MetricKey

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: CloudWatch metric -> (Prometheus name, help)
COUNTERS = {
    names.INVOCATIONS: ("lambdabox_lambda_invocations_total", "Invocations that ran, errors included."),
    names.ERRORS: ("lambdabox_lambda_errors_total", "Invocations that ended in a function error or timeout."),
    names.THROTTLES: ("lambdabox_lambda_throttles_total", "Invocations refused for want of concurrency (429)."),
    names.ASYNC_EVENTS_RECEIVED: (
        "lambdabox_lambda_async_events_received_total", "Asynchronous events accepted.",
    ),
    names.ASYNC_EVENTS_DROPPED: (
        "lambdabox_lambda_async_events_dropped_total", "Asynchronous events given up without a success.",
    ),
    names.DEAD_LETTER_ERRORS: (
        "lambdabox_lambda_dead_letter_errors_total", "Failed deliveries to a dead-letter queue or topic.",
    ),
    names.DESTINATION_DELIVERY_FAILURES: (
        "lambdabox_lambda_destination_delivery_failures_total", "Failed deliveries to a destination.",
    ),
    names.RECURSIVE_INVOCATIONS_DROPPED: (
        "lambdabox_lambda_recursive_invocations_dropped_total",
        "Invocations stopped as a recursive loop's (lineage.py).",
    ),
    names.PROVISIONED_CONCURRENCY_INVOCATIONS: (
        "lambdabox_lambda_provisioned_concurrency_invocations_total",
        "Invocations run by a provisioned environment.",
    ),
    names.PROVISIONED_CONCURRENCY_SPILLOVER_INVOCATIONS: (
        "lambdabox_lambda_provisioned_concurrency_spillover_invocations_total",
        "Invocations of a qualifier with provisioned concurrency run on demand (all were busy).",
    ),
}  # fmt: skip
SUMMARIES = {
    names.DURATION: ("lambdabox_lambda_duration_milliseconds", "Time invocations ran."),
    names.ASYNC_EVENT_AGE: (
        "lambdabox_lambda_async_event_age_milliseconds", "Time from an event's acceptance to its attempts.",
    ),
}  # fmt: skip
GAUGE = ("lambdabox_lambda_concurrent_executions", "Invocations running now.")

#: (region, account, function) -> invocations running now
Running = Callable[[], Mapping[tuple[str, str, str], int]]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


#: the quantiles of each summary
QUANTILES = (0.5, 0.9, 0.99)


def _labels(region: str, account: str, function: str, quantile: float | None = None) -> str:
    extra = "" if quantile is None else f',quantile="{quantile}"'
    return f'{{region="{_label(region)}",account="{_label(account)}",function="{_label(function)}"{extra}}}'


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def exposition(totals: Mapping[MetricKey, Aggregate], running: Mapping[tuple[str, str, str], int]) -> str:
    """The text of every per-function total and running count."""
    per_function: dict[str, list[tuple[tuple[str, str, str], Aggregate]]] = {}
    for key, agg in totals.items():
        if len(key.dims) == 1 and key.dims[0][0] == "FunctionName":
            per_function.setdefault(key.name, []).append(((key.region, key.account, key.dims[0][1]), agg))
    lines: list[str] = []
    for metric, (prom, help_text) in COUNTERS.items():
        lines += [f"# HELP {prom} {help_text}", f"# TYPE {prom} counter"]
        lines += [
            f"{prom}{_labels(*where)} {_number(agg.total)}"
            for where, agg in sorted(per_function.get(metric, []), key=lambda x: x[0])
        ]
    for metric, (prom, help_text) in SUMMARIES.items():
        lines += [f"# HELP {prom} {help_text}", f"# TYPE {prom} summary"]
        for where, agg in sorted(per_function.get(metric, []), key=lambda x: x[0]):
            for q in QUANTILES:
                value = agg.percentile(q * 100)
                if value is not None:
                    lines.append(f"{prom}{_labels(*where, q)} {_number(value)}")
            labels = _labels(*where)
            lines += [
                f"{prom}_sum{labels} {_number(agg.total)}",
                f"{prom}_count{labels} {_number(agg.count)}",
            ]
    prom, help_text = GAUGE
    lines += [f"# HELP {prom} {help_text}", f"# TYPE {prom} gauge"]
    lines += [f"{prom}{_labels(*where)} {n}" for where, n in sorted(running.items())]
    return "\n".join(lines) + "\n"


def metrics_endpoint(totals: Callable[[], Mapping[MetricKey, Aggregate]], running: Running) -> AdminEndpoint:
    """`/_lambdabox/metrics` over the recorder's AWS/Lambda totals (`totals`) and `running`."""

    async def endpoint(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return json_response({"message": f"{request.method} is not allowed here: GET"}, status=405)
        if request.path.rstrip("/") != "/_lambdabox/metrics":
            return json_response({"message": f"no such endpoint: {request.path}"}, status=404)
        return Response(200, {"Content-Type": CONTENT_TYPE}, exposition(totals(), running()).encode())

    return endpoint
