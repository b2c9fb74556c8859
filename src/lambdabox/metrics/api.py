"""The CloudWatch metrics API: GetMetricStatistics, GetMetricData, ListMetrics, PutMetricData over
the recorder's per-minute aggregates (AWS/Lambda's own, and custom namespaces put by clients).

What is kept per minute is SampleCount, Sum, Minimum, Maximum and a histogram of the values, so
the statistics answered are those, Average and percentiles (ExtendedStatistics, `p99` Stats;
within 1 %, see `percentiles.py`); metric math expressions are refused. GetMetricData pages by
MaxDatapoints. Errors are AWS's: InvalidParameterValue, InvalidParameterCombination and
MissingParameter for GetMetricStatistics and PutMetricData, ValidationError for GetMetricData.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import datetime
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.clock import Clock
from lambdabox.metrics import percentiles
from lambdabox.metrics import statistics as stats
from lambdabox.metrics.models import Aggregate, Dimensions, MetricKey, dimensions
from lambdabox.metrics.recorder import Recorder

Params = dict[str, Any]
Result = dict[str, Any]

#: AWS: at most 1,440 datapoints in one GetMetricStatistics answer
MAX_DATAPOINTS = 1440
#: the most MetricDataQueries in one GetMetricData
MAX_QUERIES = 500
#: what a MetricDataQuery's Id looks like
_QUERY_ID = re.compile(r"[a-z][a-zA-Z0-9_]*")
#: GetMetricData's default MaxDatapoints
MAX_DATA_POINTS = 100_800
#: ListMetrics' page
LIST_PAGE = 500
#: metrics ListMetrics lists: those with data in the last two weeks (RecentlyActive PT3H: three hours)
LISTED_FOR, RECENT = 14 * 86400, 3 * 3600
#: PutMetricData: at most 1,000 metrics a request, 150 values a datum, values within AWS's range
MAX_METRICS, MAX_VALUES = 1000, 150
VALUE_MIN, VALUE_MAX = 2.0**-260, 2.0**360
#: PutMetricData: a timestamp at most two weeks old and two hours ahead
PUT_PAST, PUT_FUTURE = 14 * 86400, 2 * 3600


def _invalid(message: str) -> ServiceError:
    return client_error("InvalidParameterValueException", message)


def _combination(message: str) -> ServiceError:
    return client_error("InvalidParameterCombinationException", message)


def _missing(message: str) -> ServiceError:
    return client_error("MissingRequiredParameterException", message)


def _validation(message: str) -> ServiceError:
    return client_error("ValidationError", message)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _dims(params: list[dict[str, str]] | None) -> Dimensions:
    return dimensions([(d["Name"], d["Value"]) for d in params or []])


def _wire_dims(dims: Dimensions) -> list[dict[str, str]]:
    return [{"Name": n, "Value": v} for n, v in dims]


class CloudWatchService:
    """CloudWatch's metric operations."""

    def __init__(self, recorder: Recorder, clock: Clock) -> None:
        self._recorder = recorder
        self._clock = clock

    async def GetMetricStatistics(self, ctx: RequestContext, params: Params) -> Result:
        wanted = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if not wanted and not extended:
            raise _combination("Must specify either Statistics or ExtendedStatistics.")
        if wanted and extended:
            raise _combination("Must specify either Statistics or ExtendedStatistics, but not both.")
        for name in extended:
            if percentiles.percentile_of(name) is None:
                raise _invalid(
                    f"The value {name} for parameter ExtendedStatistics is not a valid percentile."
                )
        start, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
        period = int(params["Period"])
        if not stats.valid_period(period):
            raise _invalid("The parameter Period must be a multiple of 60.")
        if start >= end:
            raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
        count = stats.datapoint_count(start, end, period)
        if count > MAX_DATAPOINTS:
            raise _combination(
                f"You have requested up to {count:,} datapoints, which exceeds the limit of "
                f"{MAX_DATAPOINTS:,}. You may reduce the datapoints requested by increasing Period, "
                "or decreasing the time range."
            )
        name = params["MetricName"]
        points = await self._recorder.points(
            ctx.region, ctx.account_id, params["Namespace"], name, stats.aligned_start(start, period), end
        )
        by_period = stats.periods(
            points, _dims(params.get("Dimensions")), start, end, period, params.get("Unit")
        )
        datapoints = []
        for at, agg in sorted(by_period.items()):
            point: Result = {"Timestamp": float(at), "Unit": agg.unit}
            for statistic in wanted:
                point[statistic] = agg.statistic(statistic)
            if extended:
                point["ExtendedStatistics"] = {p: v for p in extended if (v := agg.statistic(p)) is not None}
            datapoints.append(point)
        return {"Label": name, "Datapoints": datapoints}

    async def GetMetricData(self, ctx: RequestContext, params: Params) -> Result:
        offset = _data_offset(params.get("NextToken"))
        start, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
        if start >= end:
            raise _validation("The parameter StartTime must be less than the parameter EndTime.")
        queries = params["MetricDataQueries"]
        if len(queries) > MAX_QUERIES:
            raise _validation(
                f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}."
            )
        most = params.get("MaxDatapoints")
        if most is not None and most < 1:
            raise _validation(f"The value {most} for parameter MaxDatapoints is invalid.")
        seen: set[str] = set()
        for n, query in enumerate(queries, start=1):
            _check_query(query, n, seen)
        ascending = params.get("ScanBy") == "TimestampAscending"
        results = []
        for query in queries:
            if query.get("ReturnData") is False:
                continue
            stat_params = query["MetricStat"]
            metric = stat_params["Metric"]
            period = int(stat_params["Period"])
            points = await self._recorder.points(
                ctx.region, ctx.account_id, metric.get("Namespace", ""), metric.get("MetricName", ""),
                stats.aligned_start(start, period), end,
            )  # fmt: skip
            by_period = stats.periods(
                points, _dims(metric.get("Dimensions")), start, end, period, stat_params.get("Unit")
            )
            ordered = sorted(by_period.items(), reverse=not ascending)
            values = [
                (float(at), v) for at, agg in ordered if (v := agg.statistic(stat_params["Stat"])) is not None
            ]
            results.append((query["Id"], query.get("Label") or metric.get("MetricName", ""), values))
        return _data_page(results, offset, int(params.get("MaxDatapoints") or MAX_DATA_POINTS))

    async def ListMetrics(self, ctx: RequestContext, params: Params) -> Result:
        offset = _page_offset(params.get("NextToken"))
        now = self._clock.now()
        since = now - (RECENT if params.get("RecentlyActive") == "PT3H" else LISTED_FOR)
        namespace, name = params.get("Namespace"), params.get("MetricName")
        filters = [(f["Name"], f.get("Value")) for f in params.get("Dimensions") or []]
        found = []
        for key in await self._recorder.metrics(ctx.region, ctx.account_id, since):
            if namespace is not None and key.namespace != namespace:
                continue
            if name is not None and key.name != name:
                continue
            have = dict(key.dims)
            if all(d in have and (v is None or have[d] == v) for d, v in filters):
                found.append(key)
        found.sort(key=lambda k: (k.namespace, k.name, k.dims))
        page = found[offset : offset + LIST_PAGE]
        out: Result = {
            "Metrics": [
                {"Namespace": k.namespace, "MetricName": k.name, "Dimensions": _wire_dims(k.dims)}
                for k in page
            ]
        }
        if offset + LIST_PAGE < len(found):
            out["NextToken"] = base64.urlsafe_b64encode(str(offset + LIST_PAGE).encode()).decode()
        return out

    async def PutMetricData(self, ctx: RequestContext, params: Params) -> Result:
        namespace: str = params["Namespace"]
        if namespace.startswith("AWS/"):
            raise _invalid(f"The value {namespace} for parameter Namespace is invalid.")
        # each datum with its parameter name (the entity of an EntityMetricData item is not kept)
        data = [(d, f"MetricData.member.{n}") for n, d in enumerate(params.get("MetricData") or [], start=1)]
        for e, entity in enumerate(params.get("EntityMetricData") or [], start=1):
            data += [
                (d, f"EntityMetricData.member.{e}.MetricData.member.{n}")
                for n, d in enumerate(entity.get("MetricData") or [], start=1)
            ]
        if not data:
            raise _missing("The parameter MetricData is required.")
        if len(data) > MAX_METRICS:
            raise _invalid(f"The collection MetricData must not have a size greater than {MAX_METRICS}.")
        now = self._clock.now()
        added: list[tuple[MetricKey, Aggregate, float]] = []
        for datum, where in data:
            key = MetricKey(
                ctx.region, ctx.account_id, namespace, datum["MetricName"], _dims(datum.get("Dimensions"))
            )
            resolution = datum.get("StorageResolution")
            if resolution is not None and resolution not in (1, 60):
                raise _invalid(f"The value {resolution} for parameter {where}.StorageResolution is invalid.")
            at = _epoch(datum["Timestamp"]) if "Timestamp" in datum else now
            if at < now - PUT_PAST or at > now + PUT_FUTURE:
                raise _invalid(
                    f"The parameter {where}.Timestamp must specify a time no more than two weeks "
                    "in the past and no more than two hours in the future."
                )
            added.extend((key, agg, at) for agg in _datum_aggregates(datum, where))
        for key, agg, at in added:
            self._recorder.add(key, agg, at)
        return {}


def _check_query(query: Params, n: int, seen: set[str]) -> None:
    """AWS's refusals of one MetricDataQuery (the `n`th)."""
    qid = query["Id"]
    if not _QUERY_ID.fullmatch(qid):
        raise _validation(
            f"The value {qid} for parameter MetricDataQueries.member.{n}.Id is invalid: it must start "
            "with a lowercase letter and contain only letters, numbers and underscores."
        )
    if qid in seen:
        raise _validation(f"The value {qid} for parameter MetricDataQueries.member.{n}.Id is duplicated.")
    seen.add(qid)
    has_stat, has_expr = "MetricStat" in query, "Expression" in query
    if has_stat and has_expr:
        raise _validation(
            f"The parameter MetricDataQueries.member.{n}.MetricStat and MetricDataQueries.member.{n}.Expression "
            "are mutually exclusive."
        )
    if has_expr:
        raise _validation(
            f"Error in expression '{qid}': metric math expressions are not supported by lambdabox."
        )
    if not has_stat:
        raise _validation(
            f"The parameter MetricDataQueries.member.{n}.MetricStat is required when Expression is not specified."
        )
    stat_params = query["MetricStat"]
    period = int(stat_params["Period"])
    if not stats.valid_period(period):
        raise _validation(
            f"The value {period} for parameter MetricDataQueries.member.{n}.MetricStat.Period must be a "
            "multiple of 60."
        )
    stat = stat_params["Stat"]
    if stat not in stats.STATISTICS and percentiles.percentile_of(stat) is None:
        raise _validation(
            f"The value {stat} for parameter MetricDataQueries.member.{n}.MetricStat.Stat is not supported by "
            "lambdabox (SampleCount, Average, Sum, Minimum, Maximum, pNN.NN)."
        )


def _data_page(results: list[tuple[str, str, list[tuple[float, float]]]], offset: int, size: int) -> Result:
    """One page of GetMetricData's answer: the datapoints of every query, in order, from the
    `offset`th on, at most `size` of them; a query cut short is PartialData and a NextToken
    follows."""
    out: list[Result] = []
    end, first, more = offset + size, 0, False
    for qid, label, values in results:
        lo, hi = first, first + len(values)
        first = hi
        if (offset > 0 and hi <= offset) or (not values and offset > 0):
            continue  # given on an earlier page (a query without datapoints: on the first)
        if values and lo >= end:
            more = True  # on a later page
            continue
        taken = values[max(offset, lo) - lo : min(end, hi) - lo]
        partial = hi > end
        more = more or partial
        out.append(
            {
                "Id": qid,
                "Label": label,
                "Timestamps": [at for at, _ in taken],
                "Values": [v for _, v in taken],
                "StatusCode": "PartialData" if partial else "Complete",
            }
        )
    page: Result = {"MetricDataResults": out, "Messages": []}
    if more:
        page["NextToken"] = base64.urlsafe_b64encode(f"data:{offset + size}".encode()).decode()
    return page


def _data_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, n = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "data" and n.isdigit():
            return int(n)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise client_error("InvalidNextToken", "The service cannot process the token.")


def _datum_aggregates(datum: Params, where: str) -> list[Aggregate]:
    """What one MetricDatum (`where`: its parameter name, `MetricData.member.1`) adds: a Value, a
    StatisticSet, or Values with their Counts."""
    unit = datum.get("Unit") or "None"
    given = [f for f in ("Value", "StatisticValues", "Values") if f in datum]
    if len(given) > 1:
        a, b = given[0], given[1]
        raise _combination(
            f"The parameters {where}.{a} and {where}.{b} are mutually exclusive and you have specified both."
        )
    if "StatisticValues" in datum:
        s = datum["StatisticValues"]
        values = [s["SampleCount"], s["Sum"], s["Minimum"], s["Maximum"]]
        _check_finite(values, f"{where}.StatisticValues")
        if s["SampleCount"] <= 0:
            raise _invalid(f"The parameter {where}.StatisticValues.SampleCount must be greater than 0.")
        if s["Minimum"] > s["Maximum"]:
            raise _invalid(
                f"The parameter {where}.StatisticValues.Minimum must be less than or equal to "
                f"{where}.StatisticValues.Maximum."
            )
        # as on AWS, a statistic set has percentiles only when its values are known: one, or all equal
        known = s["SampleCount"] == 1 or s["Minimum"] == s["Maximum"]
        return [
            Aggregate(
                s["SampleCount"], s["Sum"], s["Minimum"], s["Maximum"], unit,
                percentiles.of(s["Minimum"], s["SampleCount"]) if known else None,
            )
        ]  # fmt: skip
    if "Values" in datum:
        values, counts = datum["Values"], datum.get("Counts")
        if len(values) > MAX_VALUES:
            raise _invalid(f"The collection {where}.Values must not have a size greater than {MAX_VALUES}.")
        if counts is not None and len(counts) != len(values):
            raise _invalid(f"The parameters {where}.Values and {where}.Counts must be of the same size.")
        _check_finite(values, f"{where}.Values")
        weights = counts if counts is not None else [1.0] * len(values)
        for c in weights:
            if not math.isfinite(c) or c < 0:
                raise _invalid(f"The value {c} for parameter {where}.Counts is invalid.")
        return [Aggregate.of(v, unit, c) for v, c in zip(values, weights, strict=True) if c > 0]
    if "Value" not in datum:
        raise _missing(f"The parameter {where}.Value is required.")
    _check_finite([datum["Value"]], f"{where}.Value")
    return [Aggregate.of(float(datum["Value"]), unit)]


def _check_finite(values: list[float], field: str) -> None:
    """AWS's range of a value: finite, of magnitude 2**-260 to 2**360 (or 0)."""
    for v in values:
        if not math.isfinite(v) or abs(v) > VALUE_MAX or (v != 0 and abs(v) < VALUE_MIN):
            raise _invalid(f"The value {v} for parameter {field} is invalid.")


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid("Invalid NextToken.") from exc
