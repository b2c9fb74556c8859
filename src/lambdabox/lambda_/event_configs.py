"""Asynchronous invocation configuration: PutFunctionEventInvokeConfig, UpdateFunctionEventInvokeConfig,
GetFunctionEventInvokeConfig, ListFunctionEventInvokeConfigs, DeleteFunctionEventInvokeConfig.

Each qualifier of a function (`$LATEST`, a published version, an alias; unqualified means
`$LATEST`) has at most one configuration: MaximumRetryAttempts (0 to 2), MaximumEventAgeInSeconds
(60 to 21600; the model's ranges, checked by the protocol layer) and a DestinationConfig (OnSuccess,
OnFailure: a Lambda function, an SQS queue, an SNS topic, an EventBridge bus or, on failure only,
an S3 bucket). Put replaces the whole configuration; Update changes what it names (a
DestinationConfig given replaces the destinations) and needs one to exist. An invocation uses
the configuration of the qualifier it was invoked with, else AWS's defaults (2 retries, 6 hours):
`async_limits` and `destinations` answer that for the dispatcher. A configuration goes with its
function, version or alias.
"""

from __future__ import annotations

import re
from typing import Any

from lambdabox.aws.arns import function_arn
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.lambda_ import store as sql
from lambdabox.lambda_.async_engine import DEFAULT_MAX_AGE, DEFAULT_MAX_RETRIES
from lambdabox.lambda_.base import LambdaOperations, Params, Result
from lambdabox.lambda_.models import LATEST, EventInvokeConfig
from lambdabox.lambda_.paging import page
from lambdabox.lambda_.records import FunctionRecord, is_version_number

_ARN = re.compile(
    r"arn:aws[a-zA-Z0-9-]*:(?P<service>[a-zA-Z0-9-]+):(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.*)",
    re.ASCII | re.DOTALL,
)
_REGION = re.compile(r"(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d", re.ASCII)
#: what a destination of each service names, after the account
_RESOURCES = {
    "lambda": re.compile(
        r"function:(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
    ),
    "sqs": re.compile(r"[a-zA-Z0-9_-]{1,80}(?:\.fifo)?"),
    "sns": re.compile(r"[a-zA-Z0-9_-]{1,256}(?:\.fifo)?"),
    "events": re.compile(r"event-bus/[a-zA-Z0-9._/-]{1,256}"),
}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)


def _invalid(message: str) -> ServiceError:
    return client_error("InvalidParameterValueException", message, Type="User")


def _not_found(message: str) -> ServiceError:
    return client_error("ResourceNotFoundException", message, 404, Type="User")


def _no_function() -> ServiceError:
    return _not_found("The function doesn't exist.")


def _no_config(arn: str) -> ServiceError:
    return _not_found(f"The function {arn} doesn't have an EventInvokeConfig")


def _destination(member: Any) -> str | None:
    """The Destination of an OnSuccess/OnFailure member ("" and none alike: no destination)."""
    return (member or {}).get("Destination") or None


def _config_invalid(config: dict[str, Any]) -> ServiceError:
    """AWS's answer to a destination of a kind it does not take there, naming the whole config
    as its (Java) service prints it."""

    def part(kind: str, key: str) -> str:
        if key not in config or config[key] is None:
            return "null"
        return f"{kind}(destination={_destination(config[key]) or 'null'})"

    return _invalid(
        f"The provided destination config DestinationConfig(onSuccess={part('OnSuccess', 'OnSuccess')}, "
        f"onFailure={part('OnFailure', 'OnFailure')}) is invalid."
    )


def _sort_key(config: EventInvokeConfig) -> str:
    """`$LATEST`, then the versions by number, then the aliases by name."""
    q = config.qualifier
    if q == LATEST:
        return "0"
    return f"1{int(q):012d}" if is_version_number(q) else f"2{q}"


class EventInvokeConfigOperations(LambdaOperations):
    """The asynchronous invocation configurations of functions, versions and aliases."""

    # -- for the asynchronous dispatcher -------------------------------------------------------
    def _event_config(
        self, region: str, account: str, function_name: str, qualifier: str | None
    ) -> EventInvokeConfig | None:
        rec = self._functions.get((region, account, function_name))
        return None if rec is None else rec.event_configs.get(qualifier or LATEST)

    def async_limits(
        self, region: str, account: str, function_name: str, qualifier: str | None
    ) -> tuple[int, int]:
        """(maximum retry attempts, maximum event age in seconds) for an event invoked with
        `qualifier` (None: unqualified, which is `$LATEST`): its configuration's, else AWS's
        defaults (2, 21600)."""
        config = self._event_config(region, account, function_name, qualifier)
        retries = config.maximum_retry_attempts if config is not None else None
        age = config.maximum_event_age if config is not None else None
        return (
            DEFAULT_MAX_RETRIES if retries is None else retries,
            DEFAULT_MAX_AGE if age is None else age,
        )

    def destinations(
        self, region: str, account: str, function_name: str, qualifier: str | None
    ) -> tuple[str | None, str | None]:
        """(on-success, on-failure) destination ARNs for an event invoked with `qualifier`."""
        config = self._event_config(region, account, function_name, qualifier)
        if config is None:
            return None, None
        return config.on_success, config.on_failure

    # -- naming what is configured -------------------------------------------------------------
    def _configured(self, ctx: RequestContext, params: Params) -> tuple[FunctionRecord, str]:
        """The function and qualifier a Put or Update names, or "The function doesn't exist."."""
        ref = self._ref(ctx, params["FunctionName"], params.get("Qualifier"))
        rec = self._functions.get((ctx.region, ctx.account_id, ref.name))
        q = ref.qualifier or LATEST
        if rec is None or (rec.version(q) is None and q not in rec.aliases):
            raise _no_function()
        return rec, q

    def _check_destinations(self, ctx: RequestContext, rec: FunctionRecord, config: dict[str, Any]) -> None:
        """Lambda's checks of a DestinationConfig, with its answers."""
        for key in ("OnSuccess", "OnFailure"):
            arn = _destination(config.get(key))
            if arn is None:
                continue
            m = _ARN.fullmatch(arn)
            if m is None:  # kafka:// (event source mappings only) or not an ARN Lambda reads
                raise _config_invalid(config)
            service = m["service"]
            if service == "s3":
                if key != "OnFailure":
                    raise _config_invalid(config)
                if m["region"] or m["account"] or not _BUCKET.fullmatch(m["resource"]):
                    raise _invalid(f"The destination ARN {arn} is invalid.")
                continue
            shape = _RESOURCES.get(service)
            if shape is None:
                raise _config_invalid(config)
            resource = shape.fullmatch(m["resource"])
            bad = _invalid(f"The destination ARN {arn} is invalid.")
            if resource is None or not _REGION.fullmatch(m["region"]) or m["account"] != ctx.account_id:
                raise bad
            if service == "lambda":
                self._check_function_destination(ctx, rec, m["region"], resource, bad)

    def _check_function_destination(
        self,
        ctx: RequestContext,
        rec: FunctionRecord,
        region: str,
        resource: re.Match[str],
        bad: ServiceError,
    ) -> None:
        target = self._functions.get((region, ctx.account_id, resource["name"]))
        q = resource["qualifier"]
        if region != ctx.region or target is None:
            raise bad
        if q is not None and target.version(q) is None and q not in target.aliases:
            raise bad
        if target is rec:
            raise _invalid("You can't specify the function as a destination for itself.")

    @staticmethod
    def _require_setting(params: Params) -> None:
        if all(
            params.get(k) is None
            for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
        ):
            raise _invalid("You must specify at least one of error handling or destination setting.")

    # -- the operations ------------------------------------------------------------------------
    async def PutFunctionEventInvokeConfig(self, ctx: RequestContext, params: Params) -> Result:
        self._require_setting(params)
        rec, q = self._configured(ctx, params)
        async with self._lock(rec.key):
            rec, q = self._configured(ctx, params)  # as it is now
            dest = params.get("DestinationConfig") or {}
            self._check_destinations(ctx, rec, dest)
            config = EventInvokeConfig(
                *rec.key,
                qualifier=q,
                last_modified=self._last_modified(),
                maximum_retry_attempts=params.get("MaximumRetryAttempts"),
                maximum_event_age=params.get("MaximumEventAgeInSeconds"),
                on_success=_destination(dest.get("OnSuccess")),
                on_failure=_destination(dest.get("OnFailure")),
            )
            await self._store.write(sql.put_event_config(config))
            rec.event_configs[q] = config
        return config.to_api()

    async def UpdateFunctionEventInvokeConfig(self, ctx: RequestContext, params: Params) -> Result:
        self._require_setting(params)
        rec, q = self._configured(ctx, params)
        async with self._lock(rec.key):
            rec, q = self._configured(ctx, params)
            old = rec.event_configs.get(q)
            if old is None:
                raise _no_config(function_arn(*rec.key, q))
            changes: dict[str, Any] = {"last_modified": self._last_modified()}
            if params.get("MaximumRetryAttempts") is not None:
                changes["maximum_retry_attempts"] = params["MaximumRetryAttempts"]
            if params.get("MaximumEventAgeInSeconds") is not None:
                changes["maximum_event_age"] = params["MaximumEventAgeInSeconds"]
            dest = params.get("DestinationConfig")
            if dest is not None:
                self._check_destinations(ctx, rec, dest)
                changes["on_success"] = _destination(dest.get("OnSuccess"))
                changes["on_failure"] = _destination(dest.get("OnFailure"))
            config = old.replace(**changes)
            await self._store.write(sql.put_event_config(config))
            rec.event_configs[q] = config
        return config.to_api()

    async def GetFunctionEventInvokeConfig(self, ctx: RequestContext, params: Params) -> Result:
        ref = self._ref(ctx, params["FunctionName"], params.get("Qualifier"))
        key = (ctx.region, ctx.account_id, ref.name)
        q = ref.qualifier or LATEST
        rec = self._functions.get(key)
        config = None if rec is None else rec.event_configs.get(q)
        if config is None:
            raise _no_config(function_arn(*key, q))
        return config.to_api()

    async def ListFunctionEventInvokeConfigs(self, ctx: RequestContext, params: Params) -> Result:
        ref = self._ref(ctx, params["FunctionName"])
        rec = self._functions.get((ctx.region, ctx.account_id, ref.name))
        if rec is None:
            raise _no_function()
        configs = sorted(rec.event_configs.values(), key=_sort_key)
        return page(
            "FunctionEventInvokeConfigs", configs, params, _sort_key, EventInvokeConfig.to_api, most=50
        )

    async def DeleteFunctionEventInvokeConfig(self, ctx: RequestContext, params: Params) -> Result:
        ref = self._ref(ctx, params["FunctionName"], params.get("Qualifier"))
        key = (ctx.region, ctx.account_id, ref.name)
        q = ref.qualifier or LATEST
        missing = _no_config(function_arn(*key, ref.qualifier))  # AWS names it as it was asked for
        if key not in self._functions:
            raise missing
        async with self._lock(key):
            rec = self._functions.get(key)
            if rec is None or q not in rec.event_configs:
                raise missing
            await self._store.write(sql.delete_event_config(*key, q))
            del rec.event_configs[q]
        return {}

    def _last_modified(self) -> float:
        return round(self._clock.now(), 3)
