"""Functions: create, read, list, update code and configuration, delete (the whole function or one
version), and the account's settings.

A function's RevisionId changes with every change of its configuration and with every state
transition, as AWS's do: CreateFunction answers with the Pending function's revision and the
function is Active (under a new one) at once; an update answers InProgress and is Successful
(under another) at once. Tags and policies are not part of the configuration. `Publish=True` on
CreateFunction and UpdateFunctionCode publishes a version in the same commit. With an injected
`role_assumable(role_arn)` (`--check-roles`) CreateFunction and UpdateFunctionConfiguration refuse
an execution role Lambda could not assume, as AWS does. Code no function or version names any more
is removed by the `CodeCollector` once no environment runs it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lambdabox.aws import ids
from lambdabox.aws.arns import function_arn
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.aws.protocol import load_service_model
from lambdabox.lambda_ import checks, dead_letter
from lambdabox.lambda_ import store as sql
from lambdabox.lambda_.base import Key, Params, Result
from lambdabox.lambda_.code import CONTAINER_IMAGES, MAX_UNZIPPED, MAX_ZIPPED, CodeInfo, inspect_zip, zip_from
from lambdabox.lambda_.code_gc import Holds
from lambdabox.lambda_.layers import LayerOperations, check_combined_size
from lambdabox.lambda_.models import LATEST, FunctionConfig
from lambdabox.lambda_.paging import page
from lambdabox.lambda_.records import FunctionRecord
from lambdabox.lambda_.versions import VersionOperations, listed, version_key

#: longest function name (the model allows longer FunctionName values: ARNs)
MAX_NAME = 64
#: the largest CreateFunction / UpdateFunctionCode request: a 50 MB zip, base64-encoded in JSON
MAX_CODE_REQUEST = 69_905_067
TOTAL_CODE_LIMIT = 80_530_636_800


class FunctionOperations(VersionOperations, LayerOperations):
    """The function itself: its `$LATEST` and its lifecycle."""

    # -- roles and code --------------------------------------------------------------------
    async def _check_role(self, ctx: RequestContext, role_arn: str) -> None:
        """A function's role is its own account's (AWS refuses to pass another account's role: its
        credentials would act there), and with `--check-roles` one Lambda may assume."""
        parts = role_arn.split(":")
        if len(parts) > 4 and parts[4] != ctx.account_id:
            raise client_error("AccessDeniedException", "Cross-account pass role is not allowed.", 403)
        assumable = self._deps.role_assumable
        if assumable is not None and not await assumable(role_arn):
            raise client_error(
                "InvalidParameterValueException",
                "The role defined for the function cannot be assumed by Lambda.",
            )

    async def _check_code(self, ctx: RequestContext, zip_bytes: bytes) -> CodeInfo:
        """Inspect an upload as Lambda does (nothing is written)."""
        if len(zip_bytes) > MAX_ZIPPED:  # its request was larger than AWS's limit for it
            raise client_error(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {MAX_CODE_REQUEST} bytes for the {ctx.operation} operation",
                413,
                Type="User",
            )
        info = await asyncio.to_thread(inspect_zip, zip_bytes)  # hashes up to 50 MB: off the loop
        total = sum(rec.code_size() for rec in self._functions.values()) + info.size
        if total > TOTAL_CODE_LIMIT:
            raise client_error(
                "CodeStorageExceededException", "Code storage limit exceeded.", 400, Type="User"
            )
        return info

    async def _save_code(self, ctx: RequestContext, zip_bytes: bytes, holds: Holds) -> CodeInfo:
        """Inspect an upload, then store and unpack it, held (so not collected) until the
        operation's `holds` end."""
        info = await self._check_code(ctx, zip_bytes)
        await holds.add(info.key)
        await asyncio.to_thread(self._code.save, info, zip_bytes)
        return info

    # -- create ----------------------------------------------------------------------------
    async def CreateFunction(self, ctx: RequestContext, params: Params) -> Result:
        name = self._new_name(ctx, params["FunctionName"])
        key = (ctx.region, ctx.account_id, name)
        if params.get("PackageType", "Zip") != "Zip":
            raise client_error("InvalidParameterValueException", CONTAINER_IMAGES)
        runtime = params.get("Runtime")
        handler = params.get("Handler")
        if runtime is None or handler is None:
            raise client_error(
                "InvalidParameterValueException",
                "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
            )
        checks.check_runtime(runtime)
        env = checks.check_environment(params.get("Environment"))
        timeout = int(params.get("Timeout", 3))
        checks.check_timeout(timeout)
        checks.check_memory(params.get("MemorySize"), params.get("EphemeralStorage"))
        await self._check_role(ctx, params["Role"])
        tags = dict(params.get("Tags") or {})
        checks.check_tag_count(tags)
        layers = await self._function_layers(ctx, params.get("Layers") or ())
        async with self._lock(key), self._code_gc.holding() as holds:
            if key in self._functions:
                raise _exists(name)
            info = await self._save_code(ctx, zip_from(params.get("Code") or {}), holds)
            check_combined_size(info.unzipped, layers)
            logging_cfg = params.get("LoggingConfig") or {}
            cfg = FunctionConfig(
                region=ctx.region,
                account=ctx.account_id,
                name=name,
                runtime=runtime,
                role=params["Role"],
                handler=handler,
                code_sha256=info.sha256_b64,
                code_size=info.size,
                code_key=info.key,
                description=params.get("Description", ""),
                timeout=timeout,
                memory_size=int(params.get("MemorySize", 128)),
                ephemeral_storage=int((params.get("EphemeralStorage") or {}).get("Size", 512)),
                environment=env if env is not None else {},
                environment_given=checks.variables_sent(params.get("Environment")),
                architectures=tuple(params.get("Architectures") or ["x86_64"]),
                tracing_mode=(params.get("TracingConfig") or {}).get("Mode", "PassThrough"),
                dead_letter_arn=dead_letter.target_of(params.get("DeadLetterConfig"), ctx.region),
                log_format=logging_cfg.get("LogFormat", "Text"),
                log_group=logging_cfg.get("LogGroup"),
                application_log_level=logging_cfg.get("ApplicationLogLevel"),
                system_log_level=logging_cfg.get("SystemLogLevel"),
                last_modified=self._clock.now(),
                revision_id=ids.revision_id(),  # Active's: the Pending revision is the answer's
                layers=layers,
            )
            rec = FunctionRecord(latest=cfg, tags=tags)
            version = self._next_version(rec, None) if params.get("Publish") else None
            write = sql.insert(cfg, tags)
            if version is not None:
                write = sql.all_of(write, sql.publish(version))
            async with self._opt_ready(layers, holds):
                if not await self._store.write(write):
                    raise _exists(name)
            if version is not None:
                self._published(rec, version)
            self._functions[key] = rec
        # the new function (its version 1 when published, under its unqualified ARN, as AWS answers)
        return _pending((version or cfg).replace(revision_id=ids.revision_id()).to_api())

    def _new_name(self, ctx: RequestContext, value: str) -> str:
        """The name CreateFunction's FunctionName gives, or Lambda's answer: it may be an ARN but
        not name a version, and the name itself is at most 64 characters."""
        ref = self._ref(ctx, value)
        if ref.qualifier is not None:
            pattern = load_service_model("lambda").shape_for("FunctionName").metadata["pattern"]
            raise checks.validation(
                value, "functionName", f"Member must satisfy regular expression pattern: {pattern}"
            )
        if len(ref.name) > MAX_NAME:
            raise client_error(
                "InvalidParameterValueException",
                checks.validation(
                    ref.name, "functionName", f"Member must have length less than or equal to {MAX_NAME}"
                ).message,
                Type="User",
            )
        return ref.name

    # -- read ------------------------------------------------------------------------------
    async def GetFunctionConfiguration(self, ctx: RequestContext, params: Params) -> Result:
        target = self._target(ctx, params["FunctionName"], params.get("Qualifier"))
        return target.config.to_api(target.qualifier)

    async def GetFunction(self, ctx: RequestContext, params: Params) -> Result:
        target = self._target(ctx, params["FunctionName"], params.get("Qualifier"))
        cfg = target.config
        out: Result = {
            "Configuration": cfg.to_api(target.qualifier),
            "Code": {
                "RepositoryType": "S3",
                "Location": self._deps.code_urls.sign(self._deps.endpoint_url, cfg.code_key),
            },
        }
        # tags only for a caller that may ListTags them (another account: if the policy says so)
        if target.record.tags and self._other_account_may(ctx, target.record, "lambda:ListTags"):
            out["Tags"] = dict(target.record.tags)
        if (reserved := self._deps.concurrency.reserved(*target.key)) is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return out

    async def ListFunctions(self, ctx: RequestContext, params: Params) -> Result:
        every_version = params.get("FunctionVersion") == "ALL"
        configs = []
        for rec in sorted(self._region_records(ctx), key=lambda r: r.latest.name):
            configs.extend(rec.all_versions() if every_version else [rec.latest])
        if every_version:
            return page(
                "Functions", configs, params, _every_version_key, lambda c: listed(c.to_api(c.version))
            )
        return page("Functions", configs, params, _name_key, lambda c: listed(c.to_api()))

    # -- update ----------------------------------------------------------------------------
    async def UpdateFunctionCode(self, ctx: RequestContext, params: Params) -> Result:
        rec = self._unqualified(ctx, params["FunctionName"])
        key = rec.key
        async with self._lock(key), self._code_gc.holding() as holds:
            rec = self._current(key, rec.latest.arn)
            cfg = rec.latest
            await holds.add(cfg.code_key)  # collected when this ends, if nothing names it any more
            self._check_revision(cfg.revision_id, params)
            code: dict[str, Any] = {
                k: params[k]
                for k in ("ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")
                if k in params
            }
            zip_bytes = zip_from(code)
            if params.get("DryRun"):
                # validate only (code plus layers included): nothing stored, nothing unpacked, the
                # function unchanged
                info = await self._check_code(ctx, zip_bytes)
                check_combined_size(info.unzipped, cfg.layers)
                return cfg.replace(code_sha256=info.sha256_b64, code_size=info.size).to_api()
            info = await self._save_code(ctx, zip_bytes, holds)
            check_combined_size(info.unzipped, cfg.layers)
            archs = params.get("Architectures")
            new = cfg.replace(
                code_sha256=info.sha256_b64,
                code_size=info.size,
                code_key=info.key,
                architectures=tuple(archs) if archs else cfg.architectures,
                last_modified=self._clock.now(),
                revision_id=ids.revision_id(),  # Successful's: the answer's is InProgress's
            )
            version = await self._commit(rec, new, publish=bool(params.get("Publish")))
        if version is not None:  # the version published, being created
            return _pending(version.replace(revision_id=ids.revision_id()).to_api(version.version))
        return _in_progress(new)

    async def UpdateFunctionConfiguration(self, ctx: RequestContext, params: Params) -> Result:
        rec = self._unqualified(ctx, params["FunctionName"])
        key = rec.key
        if "Role" in params:
            await self._check_role(ctx, params["Role"])
        layers = await self._function_layers(ctx, params["Layers"]) if "Layers" in params else None
        async with self._lock(key), self._code_gc.holding() as holds:
            rec = self._current(key, rec.latest.arn)
            cfg = rec.latest
            self._check_revision(cfg.revision_id, params)
            changes = _changes(cfg, params)
            if layers is not None:
                await self._check_combined_size(cfg.code_key, layers)
                changes["layers"] = layers
            # the revision is Successful's: the answer's is InProgress's
            new = cfg.replace(**changes, last_modified=self._clock.now(), revision_id=ids.revision_id())
            async with self._opt_ready(new.layers, holds):
                await self._commit(rec, new, publish=False)
        if layers is not None:
            await self._code_gc.collect([la.code_key for la in cfg.layers])
            await self._collect_trees()
        return _in_progress(new)

    async def _commit(
        self, rec: FunctionRecord, new: FunctionConfig, *, publish: bool
    ) -> FunctionConfig | None:
        """Store a new `$LATEST` (and the version publishing it makes, returned) and retire the
        environments of the old one."""
        write = sql.update(new)
        version = None
        if publish:
            probe = FunctionRecord(latest=new, last_version=rec.last_version, versions=rec.versions)
            version = self._next_version(probe, None)
            if version is not None:
                new, write = self._publish_write(new, version)
        await self._store.write(write)
        rec.latest = new
        if version is not None:
            self._published(rec, version)
        await self._invoker.retire(new)
        return version

    # -- delete ----------------------------------------------------------------------------
    async def DeleteFunction(self, ctx: RequestContext, params: Params) -> Result:
        ref = self._ref(ctx, params["FunctionName"], params.get("Qualifier"))
        key = (ctx.region, str(ref.account), ref.name)  # (another account's only where _ref allowed it)
        rec = self._current(key, function_arn(*key))  # AWS names the function unqualified here
        if ref.qualifier == LATEST:
            raise client_error(
                "InvalidParameterValueException",
                "$LATEST version cannot be deleted without deleting the function.",
                Type="User",
            )
        if ref.qualifier is not None:
            if not ref.qualifier.isascii() or not ref.qualifier.isdigit():
                raise client_error(
                    "InvalidParameterValueException", "Deletion of aliases is not currently supported.",
                    Type="User",
                )  # fmt: skip
            version = rec.version(ref.qualifier)
            if version is None:  # not a version (any more): deleting it again succeeds, as on AWS
                return {"StatusCode": 204}
            return await self._delete_version(key, version)
        async with self._lock(key):
            rec = self._current(key, function_arn(*key))
            await self._store.write(sql.delete(*key))
            self._functions.pop(key, None)
            self._deps.concurrency.set_reserved(*key, None)  # a new function of its name has none
            if self._deps.provisioned is not None:  # its provisioned concurrency goes with it
                await self._deps.provisioned.delete(*key)
            if self._deps.urls is not None:  # and its URLs
                await self._deps.urls.forget(key)
            for cfg in rec.all_versions():
                await self._invoker.retire(cfg)
        # kept while another function or an environment uses it
        await self._code_gc.collect(
            [key for cfg in rec.all_versions() for key in (cfg.code_key, *(la.code_key for la in cfg.layers))]
        )
        await self._collect_trees()
        return {"StatusCode": 204}

    async def _delete_version(self, key: Key, version: FunctionConfig) -> Result:
        async with self._lock(key):
            rec = self._current(key, function_arn(*key))
            if int(version.version) not in rec.versions:
                return {"StatusCode": 204}
            aliases = rec.aliases_of(version.version)
            if aliases:
                raise client_error(
                    "ResourceConflictException",
                    f"Unable to delete version because the following aliases reference it: "
                    f"[{', '.join(aliases)}]",
                    409,
                    Type="User",
                )
            await self._store.write(sql.delete_version(*key, version.version))
            del rec.versions[int(version.version)]
            rec.policies.pop(version.version, None)
            rec.event_configs.pop(version.version, None)
            if self._deps.provisioned is not None:
                await self._deps.provisioned.delete(*key, version.version)
            await self._invoker.retire(version)
        await self._code_gc.collect([version.code_key, *(la.code_key for la in version.layers)])
        await self._collect_trees()
        return {"StatusCode": 204}

    # -- the account -----------------------------------------------------------------------
    async def GetAccountSettings(self, ctx: RequestContext, params: Params) -> Result:
        mine = self._region_records(ctx)
        concurrency = self._deps.concurrency
        limit = concurrency.limit
        return {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_LIMIT,
                "CodeSizeUnzipped": MAX_UNZIPPED,
                "CodeSizeZipped": MAX_ZIPPED,
                "ConcurrentExecutions": limit,
                "UnreservedConcurrentExecutions": concurrency.unreserved(ctx.region, ctx.account_id),
            },
            "AccountUsage": {
                "TotalCodeSize": sum(r.code_size() for r in mine) + await self._layers_size(ctx),
                "FunctionCount": len(mine),
            },
        }


def _name_key(cfg: FunctionConfig) -> str:
    return cfg.name


def _every_version_key(cfg: FunctionConfig) -> str:
    """ListFunctions' order with every version: by name, then `$LATEST` before the versions by
    number (NUL sorts before any character of a name)."""
    return f"{cfg.name}\0{version_key(cfg)}"


def _exists(name: str) -> Exception:
    return client_error("ResourceConflictException", f"Function already exist: {name}", 409, Type="User")


def _changes(cfg: FunctionConfig, params: Params) -> dict[str, Any]:
    """What UpdateFunctionConfiguration changes, checked as Lambda checks it."""
    changes: dict[str, Any] = {}
    if "Runtime" in params:
        checks.check_runtime(params["Runtime"])
        changes["runtime"] = params["Runtime"]
    if "Timeout" in params:
        checks.check_timeout(int(params["Timeout"]))
        changes["timeout"] = int(params["Timeout"])
    checks.check_memory(params.get("MemorySize"), params.get("EphemeralStorage"))
    simple = {"Role": "role", "Handler": "handler", "Description": "description", "MemorySize": "memory_size"}
    for param, attr in simple.items():
        if param in params:
            changes[attr] = params[param]
    if "Environment" in params:
        changes["environment"] = checks.check_environment(params["Environment"]) or {}
        changes["environment_given"] = checks.variables_sent(params["Environment"])
    if "EphemeralStorage" in params:
        changes["ephemeral_storage"] = int(params["EphemeralStorage"]["Size"])
    if "DeadLetterConfig" in params:
        changes["dead_letter_arn"] = dead_letter.target_of(params["DeadLetterConfig"], cfg.region)
    if "TracingConfig" in params:
        changes["tracing_mode"] = params["TracingConfig"].get("Mode", cfg.tracing_mode)
    if "LoggingConfig" in params:
        lc = params["LoggingConfig"]
        changes["log_format"] = lc.get("LogFormat", cfg.log_format)
        changes["log_group"] = lc.get("LogGroup", cfg.log_group)
        changes["application_log_level"] = lc.get("ApplicationLogLevel", cfg.application_log_level)
        changes["system_log_level"] = lc.get("SystemLogLevel", cfg.system_log_level)
    return changes


def _pending(out: Result) -> Result:
    """A FunctionConfiguration as AWS answers while the function or version is being created."""
    out.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating")
    out.pop("LastUpdateStatus", None)
    return out


def _in_progress(cfg: FunctionConfig) -> Result:
    """The answer to an update: the function as it was while the update ran (a revision of its own)."""
    out = cfg.replace(revision_id=ids.revision_id()).to_api()
    out.update(
        LastUpdateStatus="InProgress",
        LastUpdateStatusReason="The function is being created.",
        LastUpdateStatusReasonCode="Creating",
    )
    return out
