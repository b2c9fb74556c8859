"""Aliases: CreateAlias, GetAlias, ListAliases, UpdateAlias, DeleteAlias.

An alias names a published version (or `$LATEST`) and may send a share of its invocations to one
additional published version (`RoutingConfig.AdditionalVersionWeights`): the canary of a release.
Which version an invocation runs is drawn per invocation (`Alias.pick`).
"""

from __future__ import annotations

from typing import Any

from lambdabox.aws import ids
from lambdabox.aws.arns import function_arn
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.lambda_ import store as sql
from lambdabox.lambda_.base import LambdaOperations, Params, Result, not_found
from lambdabox.lambda_.models import LATEST, Alias
from lambdabox.lambda_.paging import page
from lambdabox.lambda_.provisioned import check_alias_move
from lambdabox.lambda_.records import FunctionRecord


def _alias_not_found(message: str) -> ServiceError:
    return client_error("ResourceNotFoundException", message, 404, Type="User")


def _invalid(message: str) -> ServiceError:
    return client_error("InvalidParameterValueException", message, Type="User")


class AliasOperations(LambdaOperations):
    """A function's aliases."""

    def _check_versions(
        self, rec: FunctionRecord, version: str, routing: Any
    ) -> tuple[tuple[str, float], ...]:
        """The alias's routing weights, once its versions are checked as Lambda checks them."""
        cfg = rec.latest
        if rec.version(version) is None:
            raise not_found(function_arn(cfg.region, cfg.account, cfg.name, version))
        weights = dict((routing or {}).get("AdditionalVersionWeights") or {})
        if not weights:
            return ()
        if len(weights) > 1:
            raise _invalid("Number of items in AdditionalVersionWeights cannot be greater than 1")
        if version == LATEST:
            raise _invalid("$LATEST is not supported for an alias pointing to more than 1 version")
        ((extra, weight),) = weights.items()
        if extra == version:
            raise _invalid(
                f"Invalid function version {extra}. Function version {extra} is already included in "
                "routing configuration."
            )
        if rec.version(extra) is None:
            raise not_found(function_arn(cfg.region, cfg.account, cfg.name, extra))
        return ((extra, float(weight)),)

    @staticmethod
    def _alias(rec: FunctionRecord, name: str, missing: str = "Cannot find alias arn: ") -> Alias:
        alias = rec.aliases.get(name)
        if alias is None:
            cfg = rec.latest
            raise _alias_not_found(missing + function_arn(cfg.region, cfg.account, cfg.name, name))
        return alias

    async def CreateAlias(self, ctx: RequestContext, params: Params) -> Result:
        ref = self._ref(ctx, params["FunctionName"])
        account = str(ref.account)  # (another account's only where _ref allowed it)
        if (ctx.region, account, ref.name) not in self._functions:  # AWS names the version asked for
            raise not_found(function_arn(ctx.region, account, ref.name, params["FunctionVersion"]))
        rec = self._unqualified(ctx, params["FunctionName"])
        key = rec.key
        async with self._lock(key):
            rec = self._current(key, rec.latest.arn)
            name = params["Name"]
            if name in rec.aliases:
                raise client_error(
                    "ResourceConflictException",
                    f"Alias already exists: {function_arn(*key, name)}",
                    409,
                    Type="User",
                )
            version = params["FunctionVersion"]
            weights = self._check_versions(rec, version, params.get("RoutingConfig"))
            alias = Alias(
                region=key[0],
                account=key[1],
                function=key[2],
                name=name,
                function_version=version,
                description=params.get("Description", ""),
                weights=weights,
                revision_id=ids.revision_id(),
            )
            await self._store.write(sql.put_alias(alias))
            rec.aliases[name] = alias
        return alias.to_api()

    async def GetAlias(self, ctx: RequestContext, params: Params) -> Result:
        rec = self._unqualified(ctx, params["FunctionName"])
        return self._alias(rec, params["Name"]).to_api()

    async def ListAliases(self, ctx: RequestContext, params: Params) -> Result:
        rec = self._unqualified(ctx, params["FunctionName"])
        aliases = [rec.aliases[n] for n in sorted(rec.aliases)]
        version = params.get("FunctionVersion")
        if version is not None:
            aliases = [a for a in aliases if a.routes_to(version)]
        return page("Aliases", aliases, params, lambda a: a.name, Alias.to_api)

    async def UpdateAlias(self, ctx: RequestContext, params: Params) -> Result:
        rec = self._unqualified(ctx, params["FunctionName"])
        key = rec.key
        async with self._lock(key):
            rec = self._current(key, rec.latest.arn)
            alias = self._alias(rec, params["Name"], missing="Alias not found: ")
            self._check_revision(alias.revision_id, params)
            version = params.get("FunctionVersion", alias.function_version)
            routing = (
                params["RoutingConfig"]
                if "RoutingConfig" in params
                else {"AdditionalVersionWeights": dict(alias.weights)}
            )
            weights = self._check_versions(rec, version, routing)
            check_alias_move(self._deps.provisioned, key, alias.name, version)
            new = alias.replace(
                function_version=version,
                description=params.get("Description", alias.description),
                weights=weights,
                revision_id=ids.revision_id(),
            )
            await self._store.write(sql.put_alias(new))
            rec.aliases[new.name] = new
            if self._deps.provisioned is not None:  # its provisioned environments follow it
                self._deps.provisioned.moved(*key, new.name)
        return new.to_api()

    async def DeleteAlias(self, ctx: RequestContext, params: Params) -> Result:
        rec = self._unqualified(ctx, params["FunctionName"])
        key = rec.key
        async with self._lock(key):
            rec = self._current(key, rec.latest.arn)
            alias = rec.aliases.get(params["Name"])
            if alias is not None:  # deleting an alias that is not there succeeds, as on AWS
                await self._store.write(sql.delete_alias(alias))
                del rec.aliases[alias.name]
                rec.policies.pop(alias.name, None)
                rec.event_configs.pop(alias.name, None)
                if self._deps.provisioned is not None:
                    await self._deps.provisioned.delete(*key, alias.name)
                if self._deps.urls is not None:
                    await self._deps.urls.forget(key, alias.name)
        return {}
