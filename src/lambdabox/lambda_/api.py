"""Lambda's control-plane operations and Invoke, as plain async methods over boto3-shaped params.

Each public method is named after its AWS operation and takes `(ctx, params)`, returning the
output dict the protocol layer serializes. Function configurations are cached in memory
(write-through to the store) so the invoke path never touches SQLite. With an injected
`role_assumable(role_arn)` (`--check-roles`, wired in app.py) CreateFunction and
UpdateFunctionConfiguration refuse an execution role Lambda could not assume, as AWS does.

The protocol layer has checked every request against the model's constraints (names, lengths,
ranges, patterns, enums) before a method runs; what is checked here is only what Lambda itself
judges, worded as Lambda words it: runtimes, its tighter limits (Timeout 900, MemorySize and
EphemeralStorage 10240, 64-character names, 4 KB of environment, 50 tags), the region and
account a function ARN names, and code.

A function's RevisionId changes with every change of its configuration and with every state
transition, as AWS's do: CreateFunction answers with the Pending function's revision and the
function is Active (under a new one) at once; an update answers InProgress and is Successful
(under another) at once. Tags are not part of the configuration: they keep the revision.

Code no function names any more (deleted, replaced, a failed create's) is removed by the injected
`CodeCollector` once no environment runs it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from lambdabox.aws import ids
from lambdabox.aws.arns import FunctionRef, function_arn, parse_function_ref
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.aws.protocol import load_service_model
from lambdabox.aws.validation import failure, validation_error
from lambdabox.clock import Clock
from lambdabox.lambda_ import store as sql
from lambdabox.lambda_.code import MAX_UNZIPPED, MAX_ZIPPED, CodeInfo, CodeStore, inspect_zip
from lambdabox.lambda_.code_gc import CodeCollector, Holds
from lambdabox.lambda_.code_url import CodeUrls
from lambdabox.lambda_.invoker import RESERVED_ENV, Invoker
from lambdabox.lambda_.models import LATEST, FunctionConfig
from lambdabox.lambda_.runtime_catalog import BLOCKED, lambda_runtimes, runnable, runs
from lambdabox.store.db import Store

MAX_PAYLOAD = 6_291_456
MAX_CLIENT_CONTEXT = 3583
MAX_ENV_BYTES = 4096
#: longest function name (the model allows longer FunctionName values: ARNs)
MAX_NAME = 64
#: the largest CreateFunction / UpdateFunctionCode request: a 50 MB zip, base64-encoded in JSON
MAX_CODE_REQUEST = 69_905_067
TOTAL_CODE_LIMIT = 80_530_636_800
_Key = tuple[str, str, str]
#: whether Lambda can assume a role: it exists and its trust policy names lambda.amazonaws.com
RoleAssumable = Callable[[str], Awaitable[bool]]


def _not_found(arn: str) -> ServiceError:
    return client_error("ResourceNotFoundException", f"Function not found: {arn}", 404, Type="User")


def _validation(value: Any, member: str, constraint: str) -> ServiceError:
    return validation_error([failure(value, member, constraint)])


#: the IAM action of an operation, where it is not the operation's own name
_ACTIONS = {"Invoke": "InvokeFunction"}


def _access_denied(ctx: RequestContext, arn: str) -> ServiceError:
    """AWS's answer to a function of another account (lambdabox has no resource-based policies)."""
    action = "lambda:" + _ACTIONS.get(ctx.operation, ctx.operation)
    return client_error(
        "AccessDeniedException",
        f"User: arn:aws:iam::{ctx.account_id}:root is not authorized to perform: {action} on resource: "
        f"{arn} because no resource-based policy allows the {action} action",
        403,
    )


class LambdaService:
    """The Lambda API of one lambdabox server."""

    def __init__(
        self,
        *,
        store: Store,
        code: CodeStore,
        code_gc: CodeCollector,
        code_urls: CodeUrls,
        invoker: Invoker,
        clock: Clock,
        endpoint_url: str,
        concurrency_limit: int,
        role_assumable: RoleAssumable | None = None,
    ) -> None:
        """`role_assumable`: when given, functions may only name roles for which it answers True;
        without it any well-formed role ARN is accepted."""
        self._store = store
        self._role_assumable = role_assumable
        self._code = code
        self._code_gc = code_gc
        self._code_urls = code_urls
        self._invoker = invoker
        self._clock = clock
        self._endpoint = endpoint_url
        self._concurrency = concurrency_limit
        self._functions: dict[_Key, FunctionConfig] = {}
        self._tags: dict[_Key, dict[str, str]] = {}
        self._locks: dict[_Key, asyncio.Lock] = {}

    async def load(self) -> None:
        """Rebuild the in-memory view from the store (start-up)."""
        rows = await self._store.read(sql.load_all)
        for cfg, tags in rows:
            key = (cfg.region, cfg.account, cfg.name)
            self._functions[key] = cfg
            self._tags[key] = tags
        # make sure every function's code is unpacked (a crash may have interrupted it)
        for code_key in {cfg.code_key for cfg, _ in rows}:
            await asyncio.to_thread(self._code.unpack, code_key)

    # -- helpers ---------------------------------------------------------------------------
    def _ref(self, ctx: RequestContext, value: str, qualifier: str | None = None) -> FunctionRef:
        """FunctionName (+ the Qualifier parameter) in the caller's region and account, or AWS's
        answer for a function ARN of another account (403) or region (404)."""
        ref = parse_function_ref(value)
        if ref.account is not None and ref.account != ctx.account_id:
            arn = function_arn(ref.region or ctx.region, ref.account, ref.name, ref.qualifier)
            raise _access_denied(ctx, arn)
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
        return FunctionRef(name=ref.name, region=ctx.region, account=ctx.account_id, qualifier=q)

    def _get(self, ctx: RequestContext, name: str, qualifier: str | None = None) -> FunctionConfig:
        ref = self._ref(ctx, name, qualifier)
        cfg = self._functions.get((ctx.region, ctx.account_id, ref.name))
        if cfg is None:
            raise _not_found(function_arn(ctx.region, ctx.account_id, ref.name, ref.qualifier))
        if ref.qualifier not in (None, LATEST):
            raise _not_found(function_arn(ctx.region, ctx.account_id, ref.name, ref.qualifier))
        return cfg

    def _lock(self, key: _Key) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _check_role(self, ctx: RequestContext, role_arn: str) -> None:
        """A function's role is its own account's (AWS refuses to pass another account's role: its
        credentials would act there), and with `--check-roles` one Lambda may assume."""
        parts = role_arn.split(":")
        if len(parts) > 4 and parts[4] != ctx.account_id:
            raise client_error("AccessDeniedException", "Cross-account pass role is not allowed.", 403)
        if self._role_assumable is not None and not await self._role_assumable(role_arn):
            raise client_error(
                "InvalidParameterValueException",
                "The role defined for the function cannot be assumed by Lambda.",
            )

    def _check_revision(self, cfg: FunctionConfig, params: Mapping[str, Any]) -> None:
        rev = params.get("RevisionId")
        if rev is not None and rev != cfg.revision_id:
            raise client_error(
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
                412,
                Type="User",
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
        total = sum(c.code_size for c in self._functions.values()) + info.size
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

    def _code_from(self, code: Mapping[str, Any]) -> bytes:
        if "ZipFile" in code and code["ZipFile"] is not None:
            return bytes(code["ZipFile"])
        if code.get("ImageUri"):
            raise client_error(
                "InvalidParameterValueException",
                "lambdabox runs Zip packages only; container images are not supported.",
            )
        if code.get("S3Bucket") or code.get("S3Key"):
            raise client_error(
                "InvalidParameterValueException",
                f"Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: "
                f"The specified bucket does not exist (bucket {code.get('S3Bucket')!s})",
            )
        raise client_error("InvalidParameterValueException", "Please provide a source for function code.")

    # -- control plane ---------------------------------------------------------------------
    async def CreateFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = self._new_name(ctx, params["FunctionName"])
        key = (ctx.region, ctx.account_id, name)
        if params.get("PackageType", "Zip") != "Zip":
            raise client_error(
                "InvalidParameterValueException",
                "lambdabox runs Zip packages only; container images are not supported.",
            )
        runtime = params.get("Runtime")
        handler = params.get("Handler")
        if runtime is None or handler is None:
            raise client_error(
                "InvalidParameterValueException",
                "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
            )
        _check_runtime(runtime)
        env = _check_environment(params.get("Environment"))
        timeout = int(params.get("Timeout", 3))
        _check_timeout(timeout)
        _check_memory(params.get("MemorySize"), params.get("EphemeralStorage"))
        await self._check_role(ctx, params["Role"])
        async with self._lock(key), self._code_gc.holding() as holds:
            if key in self._functions:
                raise client_error(
                    "ResourceConflictException",
                    f"Function already exist: {name}",
                    409,
                    Type="User",
                )
            info = await self._save_code(ctx, self._code_from(params.get("Code") or {}), holds)
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
                environment_given=_variables_sent(params.get("Environment")),
                architectures=tuple(params.get("Architectures") or ["x86_64"]),
                tracing_mode=(params.get("TracingConfig") or {}).get("Mode", "PassThrough"),
                log_format=logging_cfg.get("LogFormat", "Text"),
                log_group=logging_cfg.get("LogGroup"),
                application_log_level=logging_cfg.get("ApplicationLogLevel"),
                system_log_level=logging_cfg.get("SystemLogLevel"),
                last_modified=self._clock.now(),
                revision_id=ids.revision_id(),  # Active's: the Pending revision is the answer's
            )
            tags = dict(params.get("Tags") or {})
            _check_tag_count(tags)
            if not await self._store.write(sql.insert(cfg, tags)):
                raise client_error(
                    "ResourceConflictException", f"Function already exist: {name}", 409, Type="User"
                )
            self._functions[key] = cfg
            self._tags[key] = tags
        out = cfg.replace(revision_id=ids.revision_id()).to_api()
        # AWS reports a new function as Pending until its environment can be created
        out.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating")
        out.pop("LastUpdateStatus", None)
        return out

    def _new_name(self, ctx: RequestContext, value: str) -> str:
        """The name CreateFunction's FunctionName gives, or Lambda's answer: it may be an ARN but
        not name a version, and the name itself is at most 64 characters."""
        ref = self._ref(ctx, value)
        if ref.qualifier is not None:
            pattern = load_service_model("lambda").shape_for("FunctionName").metadata["pattern"]
            raise _validation(
                value, "functionName", f"Member must satisfy regular expression pattern: {pattern}"
            )
        if len(ref.name) > MAX_NAME:
            raise client_error(
                "InvalidParameterValueException",
                _validation(
                    ref.name, "functionName", f"Member must have length less than or equal to {MAX_NAME}"
                ).message,
                Type="User",
            )
        return ref.name

    async def GetFunctionConfiguration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._get(ctx, params["FunctionName"], params.get("Qualifier")).to_api()

    async def GetFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cfg = self._get(ctx, params["FunctionName"], params.get("Qualifier"))
        out: dict[str, Any] = {
            "Configuration": cfg.to_api(),
            "Code": {
                "RepositoryType": "S3",
                "Location": self._code_urls.sign(self._endpoint, cfg.code_key),
            },
        }
        tags = self._tags.get((cfg.region, cfg.account, cfg.name))
        if tags:
            out["Tags"] = dict(tags)
        return out

    async def ListFunctions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        max_items = params.get("MaxItems")  # 1 to 10000: the model's range, checked before
        limit = int(max_items) if max_items is not None else 50
        names = sorted(n for (r, a, n) in self._functions if r == ctx.region and a == ctx.account_id)
        marker = params.get("Marker")
        if marker:
            try:
                after = base64.b64decode(marker.encode(), altchars=b"-_", validate=True).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
                raise client_error("InvalidParameterValueException", "Invalid marker") from exc
            names = [n for n in names if n > after]
        page = names[:limit]
        out: dict[str, Any] = {
            "Functions": [self._functions[(ctx.region, ctx.account_id, n)].to_api() for n in page]
        }
        if len(names) > limit:
            out["NextMarker"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
        return out

    async def UpdateFunctionCode(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cfg = self._get(ctx, params["FunctionName"])
        key = (cfg.region, cfg.account, cfg.name)
        async with self._lock(key), self._code_gc.holding() as holds:
            cfg = self._functions.get(key) or cfg
            await holds.add(cfg.code_key)  # collected when this ends, if nothing names it any more
            self._check_revision(cfg, params)
            code: dict[str, Any] = {
                k: params[k]
                for k in ("ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")
                if k in params
            }
            zip_bytes = self._code_from(code)
            if params.get("DryRun"):
                # validate only: nothing stored, nothing unpacked, the function unchanged
                info = await self._check_code(ctx, zip_bytes)
                return cfg.replace(code_sha256=info.sha256_b64, code_size=info.size).to_api()
            info = await self._save_code(ctx, zip_bytes, holds)
            archs = params.get("Architectures")
            new = cfg.replace(
                code_sha256=info.sha256_b64,
                code_size=info.size,
                code_key=info.key,
                architectures=tuple(archs) if archs else cfg.architectures,
                last_modified=self._clock.now(),
                revision_id=ids.revision_id(),  # Successful's: the answer's is InProgress's
            )
            await self._commit(new)
        return _in_progress(new)

    async def UpdateFunctionConfiguration(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        cfg = self._get(ctx, params["FunctionName"])
        key = (cfg.region, cfg.account, cfg.name)
        if "Role" in params:
            await self._check_role(ctx, params["Role"])
        async with self._lock(key):
            cfg = self._functions.get(key) or cfg
            self._check_revision(cfg, params)
            changes: dict[str, Any] = {}
            if "Runtime" in params:
                _check_runtime(params["Runtime"])
                changes["runtime"] = params["Runtime"]
            if "Timeout" in params:
                _check_timeout(int(params["Timeout"]))
                changes["timeout"] = int(params["Timeout"])
            _check_memory(params.get("MemorySize"), params.get("EphemeralStorage"))
            simple = {
                "Role": "role",
                "Handler": "handler",
                "Description": "description",
                "MemorySize": "memory_size",
            }
            for param, attr in simple.items():
                if param in params:
                    changes[attr] = params[param]
            if "Environment" in params:
                changes["environment"] = _check_environment(params["Environment"]) or {}
                changes["environment_given"] = _variables_sent(params["Environment"])
            if "EphemeralStorage" in params:
                changes["ephemeral_storage"] = int(params["EphemeralStorage"]["Size"])
            if "TracingConfig" in params:
                changes["tracing_mode"] = params["TracingConfig"].get("Mode", cfg.tracing_mode)
            if "LoggingConfig" in params:
                lc = params["LoggingConfig"]
                changes["log_format"] = lc.get("LogFormat", cfg.log_format)
                changes["log_group"] = lc.get("LogGroup", cfg.log_group)
                changes["application_log_level"] = lc.get("ApplicationLogLevel", cfg.application_log_level)
                changes["system_log_level"] = lc.get("SystemLogLevel", cfg.system_log_level)
            # the revision is Successful's: the answer's is InProgress's
            new = cfg.replace(**changes, last_modified=self._clock.now(), revision_id=ids.revision_id())
            await self._commit(new)
        return _in_progress(new)

    async def _commit(self, new: FunctionConfig) -> None:
        await self._store.write(sql.update(new))
        self._functions[(new.region, new.account, new.name)] = new
        await self._invoker.retire(new)

    async def DeleteFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cfg = self._get(ctx, params["FunctionName"])
        if params.get("Qualifier") not in (None, LATEST):
            raise _not_found(function_arn(ctx.region, ctx.account_id, cfg.name, params["Qualifier"]))
        if params.get("Qualifier") == LATEST:
            raise client_error(
                "InvalidParameterValueException",
                "$LATEST version cannot be deleted without deleting the function.",
            )
        key = (cfg.region, cfg.account, cfg.name)
        async with self._lock(key):
            await self._store.write(sql.delete(*key))
            self._functions.pop(key, None)
            self._tags.pop(key, None)
            await self._invoker.retire(cfg)
        await self._code_gc.collect([cfg.code_key])  # kept while another function or environment uses it
        return {"StatusCode": 204}

    # -- tags ------------------------------------------------------------------------------
    def _by_arn(self, ctx: RequestContext, arn: str) -> _Key:
        ref = self._ref(ctx, arn)
        key = (ctx.region, ctx.account_id, ref.name)
        if key not in self._functions:
            raise _not_found(function_arn(ctx.region, ctx.account_id, ref.name))
        return key

    async def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = self._by_arn(ctx, params["Resource"])
        tags = {**self._tags.get(key, {}), **params["Tags"]}
        _check_tag_count(tags)
        await self._store.write(sql.set_tags(*key, tags))
        self._tags[key] = tags
        return {}

    async def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = self._by_arn(ctx, params["Resource"])
        tags = {k: v for k, v in self._tags.get(key, {}).items() if k not in set(params["TagKeys"])}
        await self._store.write(sql.set_tags(*key, tags))
        self._tags[key] = tags
        return {}

    async def ListTags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = self._by_arn(ctx, params["Resource"])
        return {"Tags": dict(self._tags.get(key, {}))}

    async def GetAccountSettings(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        mine = [c for (r, a, _), c in self._functions.items() if r == ctx.region and a == ctx.account_id]
        return {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_LIMIT,
                "CodeSizeUnzipped": MAX_UNZIPPED,
                "CodeSizeZipped": MAX_ZIPPED,
                "ConcurrentExecutions": self._concurrency,
                "UnreservedConcurrentExecutions": self._concurrency,
            },
            "AccountUsage": {"TotalCodeSize": sum(c.code_size for c in mine), "FunctionCount": len(mine)},
        }

    # -- invoke ----------------------------------------------------------------------------
    async def Invoke(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        qualifier = params.get("Qualifier")
        cfg = self._get(ctx, params["FunctionName"], qualifier)
        payload: bytes = params.get("Payload") or b""
        if len(payload) > MAX_PAYLOAD:
            raise client_error(
                "RequestTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD} bytes for the InvokeFunction operation",
                413,
                Type="User",
            )
        if not payload.strip():
            payload = b"{}"
        else:
            _check_json(payload)
        client_context = _client_context(params.get("ClientContext"))
        itype = params.get("InvocationType", "RequestResponse")
        if itype == "DryRun":
            return {"StatusCode": 204, "Payload": b""}
        if itype == "Event":
            raise client_error(
                "InvalidParameterValueException",
                "lambdabox does not run asynchronous (Event) invocations yet; use RequestResponse.",
            )
        ref = self._ref(ctx, params["FunctionName"], qualifier)
        invoked_arn = cfg.arn + (f":{ref.qualifier}" if ref.qualifier else "")
        outcome = await self._invoker.invoke(
            cfg, payload, invoked_arn=invoked_arn, request_id=ctx.request_id, client_context=client_context
        )
        out: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": LATEST, "Payload": outcome.payload}
        if outcome.error_type:
            out["FunctionError"] = outcome.error_type
        if params.get("LogType") == "Tail":
            out["LogResult"] = base64.b64encode(outcome.log_tail.encode("utf-8", "replace")[-4096:]).decode()
        return out


def _in_progress(cfg: FunctionConfig) -> dict[str, Any]:
    """The answer to an update: the function as it was while the update ran (a revision of its own)."""
    out = cfg.replace(revision_id=ids.revision_id()).to_api()
    out.update(
        LastUpdateStatus="InProgress",
        LastUpdateStatusReason="The function is being created.",
        LastUpdateStatusReasonCode="Creating",
    )
    return out


def _check_tag_count(tags: Mapping[str, str]) -> None:
    if len(tags) > 50:
        raise client_error("InvalidParameterValueException", "Number of tags exceeds resource tag limit.")


def _check_runtime(runtime: str) -> None:
    """Lambda's answer to a Runtime it does not accept (it checks the enum itself: a runtime may
    also be an ARN), then lambdabox's to one it accepts but does not run."""
    if runtime in BLOCKED:
        raise client_error(
            "InvalidParameterValueException",
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions.",
            Type="User",
        )
    if runtime.startswith("arn:"):
        raise client_error(
            "InvalidParameterValueException",
            f"lambdabox does not run customer-managed runtimes ({runtime}); it runs the runtimes "
            f"[{', '.join(runnable())}]",
            Type="User",
        )
    if runtime not in lambda_runtimes():
        raise client_error(
            "InvalidParameterValueException",
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(lambda_runtimes())}] or be a valid ARN",
            Type="User",
        )
    if not runs(runtime):
        raise client_error(
            "InvalidParameterValueException",
            f"lambdabox does not run {runtime} functions; it runs the runtimes [{', '.join(runnable())}]",
            Type="User",
        )


def _check_timeout(timeout: int) -> None:
    """Lambda's limit where botocore's model allows more (5400; its minimum, 1, is checked before)."""
    if timeout > 900:
        raise _validation(timeout, "timeout", "Member must have value less than or equal to 900")


def _check_memory(memory: int | None, ephemeral: Mapping[str, Any] | None) -> None:
    """Lambda's limits where botocore's model allows more (it says 32768 for both)."""
    if memory is not None and int(memory) > 10240:
        raise _validation(memory, "memorySize", "Member must have value less than or equal to 10240")
    size = (ephemeral or {}).get("Size")
    if size is not None and int(size) > 10240:
        raise _validation(size, "ephemeralStorage.size", "Member must have value less than or equal to 10240")


def _check_environment(env: Mapping[str, Any] | None) -> dict[str, str] | None:
    if env is None:
        return None
    variables = dict(env.get("Variables") or {})
    reserved = sorted(k for k in variables if k in RESERVED_ENV)
    if reserved:
        raise client_error(
            "InvalidParameterValueException",
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}",
        )
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > MAX_ENV_BYTES:
        raise client_error(
            "InvalidParameterValueException",
            "Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {measured}",
        )
    return {str(k): str(v) for k, v in variables.items()}


def _variables_sent(env: Mapping[str, Any] | None) -> bool:
    """Whether Environment.Variables was sent: AWS then reports it, `{}` included."""
    return env is not None and env.get("Variables") is not None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}': not valid JSON")


def _check_json(payload: bytes) -> None:
    try:
        json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise client_error(
            "InvalidRequestContentException",
            f"Could not parse request body into json: Could not parse payload into json: {exc}",
            400,
            Type="User",
        ) from exc


def _client_context(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_CLIENT_CONTEXT:
        raise client_error(
            "InvalidRequestContentException",
            f"Client context must be at most {MAX_CLIENT_CONTEXT} bytes of Base64-encoded JSON.",
            400,
        )
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
        parsed = json.loads(text)
        if not isinstance(parsed, dict):
            raise ValueError("not an object")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise client_error(
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
            400,
        ) from exc
    return text
