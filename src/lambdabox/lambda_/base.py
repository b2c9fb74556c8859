"""What every group of Lambda operations shares: state, the function lock, and naming a function.

`FunctionOperations`, `VersionOperations`, `AliasOperations`, `PermissionOperations`,
`TagOperations` and `InvokeOperations` derive from `LambdaOperations`; `api.py` composes them into
the one `LambdaService`. Functions are held as `FunctionRecord`s in memory (write-through to the
store), so reading a function and the invoke path never touch SQLite. A change to a function (its
configuration, versions, aliases, policies or tags) is made under that function's lock: checks of
the current state and the write that follows cannot interleave with another change.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambdabox.aws.arns import FunctionRef, function_arn, parse_function_ref
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.clock import Clock
from lambdabox.lambda_ import store as sql
from lambdabox.lambda_.async_engine import AsyncEngine
from lambdabox.lambda_.code import CodeStore
from lambdabox.lambda_.code_gc import CodeCollector
from lambdabox.lambda_.code_url import CodeUrls
from lambdabox.lambda_.concurrency import Concurrency
from lambdabox.lambda_.esm_engine import EventSourceEngine
from lambdabox.lambda_.fault_runs import FaultInjector
from lambdabox.lambda_.invoker import Invoker
from lambdabox.lambda_.layer_trees import LayerTrees, merge_key
from lambdabox.lambda_.metric_hooks import NO_METRICS, LambdaMetrics
from lambdabox.lambda_.models import Alias, FunctionConfig
from lambdabox.lambda_.policy_eval import AccessRequest, Decision, Principal
from lambdabox.lambda_.provisioned_engine import ProvisionedEngine
from lambdabox.lambda_.records import FunctionRecord
from lambdabox.lambda_.resource_access import CROSS_ACCOUNT_ACTIONS, access_denied, judge
from lambdabox.lambda_.url_index import FunctionUrls
from lambdabox.store.db import Store

Params = dict[str, Any]
Result = dict[str, Any]
Key = tuple[str, str, str]
#: whether Lambda can assume a role: it exists and its trust policy names lambda.amazonaws.com
RoleAssumable = Callable[[str], Awaitable[bool]]

#: the IAM action of an operation, where it is not the operation's own name
_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}


def not_found(arn: str) -> ServiceError:
    return client_error("ResourceNotFoundException", f"Function not found: {arn}", 404, Type="User")


def precondition_failed() -> ServiceError:
    return client_error(
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        412,
        Type="User",
    )


def _action(ctx: RequestContext) -> str:
    """The IAM action of the operation the caller asks for."""
    return "lambda:" + _ACTIONS.get(ctx.operation, ctx.operation)


@dataclass(frozen=True)
class Target:
    """What a FunctionName (+ Qualifier) names: the function, and the version or alias."""

    record: FunctionRecord
    qualifier: str | None  # as the caller named it: None, "$LATEST", "3" or an alias name
    config: FunctionConfig  # the version named, or the alias's (primary) version
    alias: Alias | None = None

    @property
    def key(self) -> Key:
        return self.record.key

    @property
    def arn(self) -> str:
        """The ARN as the caller qualified it."""
        cfg = self.record.latest
        return function_arn(cfg.region, cfg.account, cfg.name, self.qualifier)


@dataclass(frozen=True)
class LambdaDeps:
    """What the Lambda service is built from (wired in app.py)."""

    store: Store
    code: CodeStore
    code_gc: CodeCollector
    code_urls: CodeUrls
    invoker: Invoker
    clock: Clock
    endpoint_url: str
    #: the account limits and reserved concurrency invocations count against (shared with the invoker)
    concurrency: Concurrency
    #: when given, functions may only name roles for which it answers True (`--check-roles`)
    role_assumable: RoleAssumable | None = None
    #: draws in [0, 1) choosing the version of a weighted alias
    draw: Callable[[], float] = random.random
    #: accepts and runs InvocationType Event invocations (None: refused)
    async_engine: AsyncEngine | None = None
    #: the faults injected into invocations (POST /_lambdabox/faults); None: none ever are
    faults: FaultInjector | None = None
    #: told of every invocation (Invocations, Errors, Throttles, Duration)
    metrics: LambdaMetrics = NO_METRICS
    #: runs the event source mappings' pollers (None: event source mappings are refused)
    event_sources: EventSourceEngine | None = None
    #: `--enforce-resource-policies`: function policies decide AWS services' invokes and other
    #: accounts' calls (resource_access.py); off, services always may and other accounts never do
    enforce_resource_policies: bool = False
    #: keeps provisioned concurrency's environments (None: provisioned concurrency is refused)
    provisioned: ProvisionedEngine | None = None
    #: the merged /opt trees of functions' layers (None: functions' layers are not merged)
    layer_trees: LayerTrees | None = None
    #: the function URL configurations (None: function URLs are refused)
    urls: FunctionUrls | None = None


class LambdaOperations:
    """The state Lambda operations share."""

    def __init__(self, deps: LambdaDeps) -> None:
        self._deps = deps
        self._store = deps.store
        self._code = deps.code
        self._code_gc = deps.code_gc
        self._invoker = deps.invoker
        self._clock = deps.clock
        self._functions: dict[Key, FunctionRecord] = {}
        self._locks: dict[Key, asyncio.Lock] = {}

    async def load(self) -> None:
        """Rebuild the in-memory view from the store (start-up)."""
        for stored in await self._store.read(sql.load_all):
            rec = FunctionRecord.from_stored(stored)
            self._functions[rec.key] = rec
            if stored.reserved is not None:
                self._deps.concurrency.set_reserved(*rec.key, stored.reserved)
        # make sure all code is unpacked (a crash may have interrupted it)
        keys = {cfg.code_key for rec in self._functions.values() for cfg in rec.all_versions()}
        for code_key in keys:
            await asyncio.to_thread(self._code.unpack, code_key)
        trees = self._deps.layer_trees
        if trees is not None:
            trees.referenced = self.layer_merge_keys
            layer_lists = {
                tuple(la.code_key for la in cfg.layers)
                for rec in self._functions.values()
                for cfg in rec.all_versions()
                if cfg.layers
            }
            for layer_keys in layer_lists:
                await asyncio.to_thread(trees.ensure, layer_keys)

    def layer_merge_keys(self) -> set[str]:
        """The merged /opt trees the functions' versions name now."""
        return {
            merge_key([la.code_key for la in cfg.layers])
            for rec in self._functions.values()
            for cfg in rec.all_versions()
            if cfg.layers
        }

    # -- naming a function -----------------------------------------------------------------
    def _ref(self, ctx: RequestContext, value: str, qualifier: str | None = None) -> FunctionRef:
        """FunctionName (+ the Qualifier parameter) in the caller's region and account, or AWS's
        answer for a function ARN of another account (403: unless its policy grants the caller
        the operation, with `enforce_resource_policies`) or region (404)."""
        ref = parse_function_ref(value)
        account = ctx.account_id
        if ref.account is not None and ref.account != ctx.account_id:
            arn = function_arn(ref.region or ctx.region, ref.account, ref.name, ref.qualifier)
            self._check_other_account(ctx, ref, qualifier, arn)
            account = ref.account
        if ref.region is not None and ref.region != ctx.region:
            raise client_error(
                "ResourceNotFoundException",
                f"Functions from '{ref.region}' are not reachable in this region ('{ctx.region}')",
                404,
                Type="User",
            )
        q = ref.qualifier
        if qualifier is not None:
            if q is not None and q != qualifier:
                raise client_error(
                    "InvalidParameterValueException",
                    "The derived qualifier from the function name does not match the specified qualifier.",
                    Type="User",
                )
            q = qualifier
        return FunctionRef(name=ref.name, region=ctx.region, account=account, qualifier=q)

    def _check_other_account(
        self, ctx: RequestContext, ref: FunctionRef, qualifier: str | None, arn: str
    ) -> None:
        """Raise AccessDeniedException unless the policy of what a caller of another account names
        grants it the operation (never, without `enforce_resource_policies`)."""
        action = _action(ctx)
        decision = Decision.NO_ALLOW
        if self._deps.enforce_resource_policies and ctx.operation in CROSS_ACCOUNT_ACTIONS:
            action = CROSS_ACCOUNT_ACTIONS[ctx.operation]
            rec = self._functions.get((ref.region or ctx.region, str(ref.account), ref.name))
            if rec is not None:
                who = Principal.of_caller(ctx.caller_arn)
                named = qualifier if qualifier is not None else ref.qualifier
                decision = judge(rec, named, lambda resource: AccessRequest(who, action, resource))
        if decision is not Decision.ALLOW:
            raise access_denied(ctx.caller_arn, action, arn, decision)

    def _other_account_may(self, ctx: RequestContext, rec: FunctionRecord, action: str) -> bool:
        """Whether the caller may perform `action` on the function `rec` (its own policy, not a
        version's or an alias's): always in its own account, else only if that policy allows it
        (never, without `enforce_resource_policies`)."""
        if rec.latest.account == ctx.account_id:
            return True
        if not self._deps.enforce_resource_policies:
            return False
        who = Principal.of_caller(ctx.caller_arn)
        return judge(rec, None, lambda resource: AccessRequest(who, action, resource)) is Decision.ALLOW

    def _record(self, ctx: RequestContext, name: str, qualifier: str | None = None) -> FunctionRecord:
        """The function FunctionName names (whatever its qualifier), or ResourceNotFoundException."""
        ref = self._ref(ctx, name, qualifier)
        rec = self._functions.get((ctx.region, str(ref.account), ref.name))
        if rec is None:
            raise not_found(function_arn(ctx.region, str(ref.account), ref.name, ref.qualifier))
        return rec

    def _target(self, ctx: RequestContext, name: str, qualifier: str | None = None) -> Target:
        """The function and the version or alias FunctionName (+ Qualifier) names, or AWS's
        ResourceNotFoundException naming the ARN as qualified."""
        ref = self._ref(ctx, name, qualifier)
        account = str(ref.account)
        rec = self._functions.get((ctx.region, account, ref.name))
        q = ref.qualifier
        if rec is None:
            raise not_found(function_arn(ctx.region, account, ref.name, q))
        if q is None:
            return Target(rec, None, rec.latest)
        cfg = rec.version(q)
        if cfg is not None:
            return Target(rec, q, cfg)
        alias = rec.aliases.get(q)
        if alias is None:
            raise not_found(function_arn(ctx.region, account, ref.name, q))
        cfg = rec.version(alias.function_version)
        if cfg is None:  # its version was deleted: AWS refuses that while an alias names it
            raise not_found(function_arn(ctx.region, account, ref.name, q))
        return Target(rec, q, cfg, alias)

    def _unqualified(self, ctx: RequestContext, name: str, qualifier: str | None = None) -> FunctionRecord:
        """The function for an operation on `$LATEST` only (updates): a name qualified with
        anything but `$LATEST` is not found."""
        target = self._target(ctx, name, qualifier)
        if target.config.published or target.alias is not None:
            raise not_found(target.arn)
        return target.record

    def _function_only(self, ctx: RequestContext, name: str, refusal: str) -> Key:
        """The key of the function itself for an operation AWS refuses on versions and aliases
        (with InvalidParameterValueException `refusal`); a function that is not there is not found."""
        ref = self._ref(ctx, name)
        if ref.qualifier is not None:
            raise client_error("InvalidParameterValueException", refusal, Type="User")
        key = (ctx.region, str(ref.account), ref.name)  # (another account's only where _ref allowed it)
        if key not in self._functions:
            raise not_found(function_arn(*key))
        return key

    def _lock(self, key: Key) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _current(self, key: Key, arn: str) -> FunctionRecord:
        """The function's record as it is now (under its lock: it may have gone meanwhile)."""
        rec = self._functions.get(key)
        if rec is None:
            raise not_found(arn)
        return rec

    @staticmethod
    def _check_revision(current: str, params: Mapping[str, Any]) -> None:
        rev = params.get("RevisionId")
        if rev is not None and rev != current:
            raise precondition_failed()

    def _region_records(self, ctx: RequestContext) -> list[FunctionRecord]:
        return [
            r for (reg, acc, _), r in self._functions.items() if reg == ctx.region and acc == ctx.account_id
        ]
