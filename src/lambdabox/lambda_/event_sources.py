"""Event source mappings: CreateEventSourceMapping, GetEventSourceMapping, UpdateEventSourceMapping,
DeleteEventSourceMapping, ListEventSourceMappings — for SQS queues (other sources are refused
until lambdabox serves them).

What Lambda checks is checked here, in AWS's words: the queue must exist in the caller's account
and region, its visibility timeout must not be shorter than the function's timeout, a BatchSize
over 10 needs a batching window (which a FIFO queue does not take, so its batches are at most 10), stream and Kafka settings do not apply to a queue, filter
patterns must parse, and one queue maps to one function once. A mapping is committed before the
answer (202, State `Creating`, `Updating`/`Enabling`/`Disabling`, `Deleting`) and its pollers
(`esm_engine.py`) start, change or stop with it; a later Get shows `Enabled` or `Disabled`.
"""

from __future__ import annotations

import uuid as uuids
from typing import Any

from lambdabox.aws.arns import function_arn
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.lambda_ import checks, esm_store
from lambdabox.lambda_.base import LambdaOperations, Params, Result
from lambdabox.lambda_.esm_engine import EventSourceEngine
from lambdabox.lambda_.esm_store import Mapping
from lambdabox.lambda_.paging import page
from lambdabox.patterns import PatternError, compile_pattern

#: settings of stream, Kafka, MQ and DocumentDB sources that a queue does not take
_NOT_FOR_QUEUES = (
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "TumblingWindowInSeconds",
    "DestinationConfig",
    "Topics",
    "Queues",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
    "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
)
#: the most filters of one mapping (Lambda's default quota)
MAX_FILTERS = 5
#: SQS's default batch size
DEFAULT_BATCH = 10


def _invalid(message: str) -> ServiceError:
    return client_error("InvalidParameterValueException", message, Type="User")


def _no_mapping() -> ServiceError:
    return client_error(
        "ResourceNotFoundException", "The resource you requested does not exist.", 404, Type="User"
    )


class EventSourceMappingOperations(LambdaOperations):
    """Event source mappings from SQS queues."""

    @property
    def _esm(self) -> EventSourceEngine:
        engine = self._deps.event_sources
        if engine is None:
            raise client_error("ServiceException", "event source mappings are not running", 500)
        return engine

    async def CreateEventSourceMapping(self, ctx: RequestContext, params: Params) -> Result:
        source = params.get("EventSourceArn")
        if not source:
            raise _invalid("EventSourceArn is required for this type of event source mapping.")
        self._check_source(ctx, source)
        self._check_queue_settings(params)
        name, qualifier = await self._checked_target(ctx, params["FunctionName"], source)
        self._check_unmapped(ctx, source, name, qualifier, None)
        batch = int(params.get("BatchSize") or DEFAULT_BATCH)
        window = int(params.get("MaximumBatchingWindowInSeconds") or 0)
        _check_batching(batch, window, source)
        m = Mapping(
            uuid=str(uuids.uuid4()),
            region=ctx.region,
            account=ctx.account_id,
            function_name=name,
            qualifier=qualifier,
            source_arn=source,
            batch_size=batch,
            window=window,
            enabled=params.get("Enabled", True) is not False,
            last_modified=self._clock.now(),
            filters=_filters(params.get("FilterCriteria")),
            response_types=list(params.get("FunctionResponseTypes") or []),
            max_concurrency=(params.get("ScalingConfig") or {}).get("MaximumConcurrency"),
            tags=dict(params.get("Tags") or {}),
            metrics=_metrics(params.get("MetricsConfig")),
        )
        checks.check_tag_count(m.tags)
        await self._store.write(esm_store.put(m))
        self._esm.apply(m)
        return _render(m, "Creating")

    async def GetEventSourceMapping(self, ctx: RequestContext, params: Params) -> Result:
        m = self._mapping(ctx, params["UUID"])
        return _render(m, "Enabled" if m.enabled else "Disabled")

    async def UpdateEventSourceMapping(self, ctx: RequestContext, params: Params) -> Result:
        m = self._mapping(ctx, params["UUID"])
        self._check_queue_settings(params)
        changed = Mapping(**{**m.__dict__})
        if params.get("FunctionName"):
            changed.function_name, changed.qualifier = await self._checked_target(
                ctx, params["FunctionName"], m.source_arn
            )
            self._check_unmapped(ctx, m.source_arn, changed.function_name, changed.qualifier, m.uuid)
        if "BatchSize" in params:
            changed.batch_size = int(params["BatchSize"])
        if "MaximumBatchingWindowInSeconds" in params:
            changed.window = int(params["MaximumBatchingWindowInSeconds"])
        _check_batching(changed.batch_size, changed.window, m.source_arn)
        if "FilterCriteria" in params:
            changed.filters = _filters(params["FilterCriteria"])
        if "FunctionResponseTypes" in params:
            changed.response_types = list(params["FunctionResponseTypes"] or [])
        if "ScalingConfig" in params:
            changed.max_concurrency = (params["ScalingConfig"] or {}).get("MaximumConcurrency")
        if "MetricsConfig" in params:
            changed.metrics = _metrics(params["MetricsConfig"])
        state = "Updating"
        if "Enabled" in params and bool(params["Enabled"]) != m.enabled:
            changed.enabled = bool(params["Enabled"])
            state = "Enabling" if changed.enabled else "Disabling"
        changed.last_modified = self._clock.now()
        await self._store.write(esm_store.put(changed))
        self._esm.apply(changed)
        return _render(changed, state)

    async def DeleteEventSourceMapping(self, ctx: RequestContext, params: Params) -> Result:
        m = self._mapping(ctx, params["UUID"])
        await self._store.write(esm_store.delete(m.uuid))
        self._esm.remove(m.uuid)
        return _render(m, "Deleting")

    async def ListEventSourceMappings(self, ctx: RequestContext, params: Params) -> Result:
        mine = [
            m for m in self._esm.mappings.values() if (m.region, m.account) == (ctx.region, ctx.account_id)
        ]
        source = params.get("EventSourceArn")
        if source:
            mine = [m for m in mine if m.source_arn == source]
        if params.get("FunctionName"):
            ref = self._ref(ctx, params["FunctionName"])
            mine = [
                m
                for m in mine
                if m.function_name == ref.name and (ref.qualifier is None or m.qualifier == ref.qualifier)
            ]
        mine.sort(key=lambda m: m.uuid)
        return page(
            "EventSourceMappings",
            mine,
            params,
            key=lambda m: m.uuid,
            render=lambda m: _render(m, "Enabled" if m.enabled else "Disabled"),
            most=10_000,
        )

    # -- checks ----------------------------------------------------------------------------------
    def _mapping(self, ctx: RequestContext, uuid: str) -> Mapping:
        m = self._esm.mappings.get(uuid)
        if m is None or (m.region, m.account) != (ctx.region, ctx.account_id):
            raise _no_mapping()
        return m

    def _check_unmapped(
        self, ctx: RequestContext, source: str, name: str, qualifier: str | None, own: str | None
    ) -> None:
        """A queue maps to a function (as qualified) once: another mapping of the pair conflicts."""
        target_arn = function_arn(ctx.region, ctx.account_id, name, qualifier)
        for other in self._esm.mappings.values():
            if other.uuid != own and other.source_arn == source and other.function_arn == target_arn:
                raise client_error(
                    "ResourceConflictException",
                    f'An event source mapping with SQS arn (" {source} ") and function (" {name} ") already '
                    f"exists. Please update or delete the existing mapping with UUID {other.uuid}",
                    409,
                    Type="User",
                )

    def _check_source(self, ctx: RequestContext, source: str) -> None:
        parts = source.split(":")
        service = parts[2] if len(parts) > 2 and parts[0] == "arn" else ""
        if service != "sqs":
            raise _invalid(
                f"lambdabox serves event source mappings from SQS queues only (not {service or source!r} yet)."
            )
        if len(parts) != 6 or not parts[5]:
            raise _invalid(f"{source} is not a valid SQS queue ARN.")
        if parts[3] != ctx.region or parts[4] != ctx.account_id:
            raise _no_queue()

    def _check_queue_settings(self, params: Params) -> None:
        for name in _NOT_FOR_QUEUES:
            if params.get(name) not in (None, [], {}):
                raise _invalid(f"Unsupported {name} parameter for given event source mapping type.")

    async def _checked_target(
        self, ctx: RequestContext, function_name: str, source: str
    ) -> tuple[str, str | None]:
        """The function a mapping invokes (name, qualifier as named), its timeout checked against
        the queue's visibility timeout."""
        target = self._target(ctx, function_name)
        visibility = await self._esm.source.visibility_timeout(source)
        if visibility is None:
            raise _no_queue()
        timeout = int(target.config.timeout)
        if visibility < timeout:
            raise _invalid(
                f"Queue visibility timeout: {visibility} seconds is less than Function timeout: {timeout} seconds"
            )
        return target.record.latest.name, target.qualifier


def _no_queue() -> ServiceError:
    return _invalid(
        "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
        "SQS Error Message: The specified queue does not exist for this wsdl version."
    )


def _check_batching(batch: int, window: int, source: str) -> None:
    if window > 0 and source.endswith(".fifo"):
        raise _invalid("Batching window is not supported for FIFO queues")
    if batch > 10 and window <= 0:
        raise _invalid(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        )


def _filters(criteria: dict[str, Any] | None) -> list[str]:
    filters = (criteria or {}).get("Filters") or []
    if len(filters) > MAX_FILTERS:
        raise _invalid(f"The number of filters ({len(filters)}) exceeds the limit of {MAX_FILTERS}.")
    patterns = []
    for f in filters:
        text = f.get("Pattern")
        if not text:
            raise _invalid("Invalid filter pattern definition.")
        try:
            compile_pattern(text)
        except PatternError as exc:
            raise _invalid("Invalid filter pattern definition.") from exc
        patterns.append(text)
    return patterns


def _metrics(config: dict[str, Any] | None) -> list[str]:
    """MetricsConfig's Metrics: SQS mappings produce EventCount only (ErrorCount and KafkaMetrics
    are Kafka's)."""
    metrics = list((config or {}).get("Metrics") or [])
    for name in metrics:
        if name != "EventCount":
            raise _invalid(f"Unsupported metric {name} for given event source mapping type.")
    return sorted(set(metrics))


def _render(m: Mapping, state: str) -> Result:
    out: Result = {
        "UUID": m.uuid,
        "BatchSize": m.batch_size,
        "MaximumBatchingWindowInSeconds": m.window,
        "EventSourceArn": m.source_arn,
        "FunctionArn": m.function_arn,
        "LastModified": m.last_modified,
        "State": state,
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": list(m.response_types),
        "EventSourceMappingArn": m.arn,
    }
    if m.filters:
        out["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in m.filters]}
    if m.max_concurrency is not None:
        out["ScalingConfig"] = {"MaximumConcurrency": m.max_concurrency}
    if m.metrics:
        out["MetricsConfig"] = {"Metrics": list(m.metrics)}
    return out
