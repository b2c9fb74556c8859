"""Provisioned concurrency configurations: PutProvisionedConcurrencyConfig,
GetProvisionedConcurrencyConfig, ListProvisionedConcurrencyConfigs,
DeleteProvisionedConcurrencyConfig.

A configuration belongs to a published version or an alias of one (never `$LATEST`, nor an alias
of it, nor an alias with weighted routing: AWS refuses them), and not to both an alias and the
version it names. What it provisions is counted against the function's reserved concurrency, or
else the account's unreserved concurrency (`concurrency.py`), and is run by
`provisioned_engine.py`, which reports how far it is (Status, Allocated and Available).
"""

from __future__ import annotations

import datetime as dt

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.lambda_.base import Key, LambdaOperations, Params, Result, Target
from lambdabox.lambda_.models import LATEST, FunctionConfig
from lambdabox.lambda_.paging import page
from lambdabox.lambda_.provisioned_engine import FAILED, ProvisionedConfig, ProvisionedEngine

_UNPUBLISHED = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."


def _invalid(message: str) -> ServiceError:
    return client_error("InvalidParameterValueException", message, Type="User")


def _conflict(message: str) -> ServiceError:
    return client_error("ResourceConflictException", message, 409, Type="User")


def check_alias_move(engine: ProvisionedEngine | None, key: Key, alias: str, version: str) -> None:
    """AWS's refusal of moving an alias that has a provisioned concurrency configuration onto
    $LATEST, or onto a version that has one of its own (an alias and the version it names never
    both have one)."""
    if engine is None or engine.get(*key, alias) is None:
        return
    if version == LATEST:
        raise _invalid(_UNPUBLISHED)
    if engine.get(*key, version) is not None:
        raise _conflict(
            "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
        )


def _not_found() -> ServiceError:
    return client_error(
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
        404,
        Type="User",
    )


def _whole_seconds(epoch: float) -> str:
    """LastModified as AWS gives it for these configurations: 2019-12-31T20:28:49+0000."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


class ProvisionedConcurrencyOperations(LambdaOperations):
    """The provisioned concurrency of a function's versions and aliases."""

    @property
    def _engine(self) -> ProvisionedEngine:
        engine = self._deps.provisioned
        if engine is None:
            raise client_error("ServiceException", "Provisioned concurrency is not available.", 500)
        return engine

    def provisioned_version(
        self, region: str, account: str, name: str, qualifier: str
    ) -> FunctionConfig | None:
        """The published version a qualifier of a function names now (an alias: its version), or
        None when there is no such function, version or alias (what the engine runs)."""
        rec = self._functions.get((region, account, name))
        if rec is None or qualifier == LATEST:
            return None
        cfg = rec.version(qualifier)
        if cfg is None and (alias := rec.aliases.get(qualifier)) is not None:
            cfg = rec.version(alias.function_version)
        return cfg if cfg is not None and cfg.published else None

    def _render(self, cfg: ProvisionedConfig, *, listed: bool = False) -> Result:
        allocated = self._engine.allocated(cfg)
        out: Result = {
            "RequestedProvisionedConcurrentExecutions": cfg.requested,
            "AvailableProvisionedConcurrentExecutions": allocated,
            "AllocatedProvisionedConcurrentExecutions": allocated,
            "Status": cfg.status,
            "LastModified": _whole_seconds(cfg.last_modified),
        }
        if cfg.status == FAILED and cfg.reason is not None:
            out["StatusReason"] = cfg.reason
        if listed:
            out = {"FunctionArn": cfg.arn, **out}
        return out

    def _qualified(self, ctx: RequestContext, params: Params) -> Target:
        return self._target(ctx, params["FunctionName"], params.get("Qualifier"))

    async def PutProvisionedConcurrencyConfig(self, ctx: RequestContext, params: Params) -> Result:
        target = self._qualified(ctx, params)
        value = int(params["ProvisionedConcurrentExecutions"])
        key = target.key
        async with self._lock(key):
            rec = self._current(key, target.arn)
            q = target.qualifier
            if q is None or q == LATEST:
                raise _invalid(_UNPUBLISHED)
            engine = self._engine
            alias = rec.aliases.get(q) if rec.version(q) is None else None
            if alias is not None:
                if alias.function_version == LATEST:
                    raise _invalid(_UNPUBLISHED)
                if alias.weights:
                    raise _invalid("Alias with weights can not be used with Provisioned Concurrency")
                if engine.get(*key, alias.function_version) is not None:
                    raise _conflict(
                        "Alias can't be used for Provisioned Concurrency configuration on an already "
                        "Provisioned version"
                    )
            elif any(
                engine.get(*key, a.name) is not None for a in rec.aliases.values() if a.function_version == q
            ):
                raise _conflict("Version is pointed by a Provisioned Concurrency alias")
            self._deps.concurrency.check_provisioned(*key, q, value)
            cfg = await engine.put(ProvisionedConfig(*key, q, value, self._clock.now()))
        return self._render(cfg)

    async def GetProvisionedConcurrencyConfig(self, ctx: RequestContext, params: Params) -> Result:
        target = self._qualified(ctx, params)
        cfg = None if target.qualifier is None else self._engine.get(*target.key, target.qualifier)
        if cfg is None:
            raise _not_found()
        return self._render(cfg)

    async def ListProvisionedConcurrencyConfigs(self, ctx: RequestContext, params: Params) -> Result:
        rec = self._record(ctx, params["FunctionName"])
        configs = sorted(self._engine.of_function(*rec.key), key=lambda c: c.qualifier)
        return page(
            "ProvisionedConcurrencyConfigs",
            configs,
            params,
            lambda c: c.qualifier,
            lambda c: self._render(c, listed=True),
        )

    async def DeleteProvisionedConcurrencyConfig(self, ctx: RequestContext, params: Params) -> Result:
        target = self._qualified(ctx, params)
        key = target.key
        async with self._lock(key):
            self._current(key, target.arn)
            q = target.qualifier
            if q is not None and self._engine.get(*key, q) is not None:
                await self._engine.delete(*key, q)
        return {}
