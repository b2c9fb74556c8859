"""Layers: PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions,
DeleteLayerVersion, the layer version permissions, and the `Layers` of a function's configuration.

A layer version is a zip (checked, stored and unpacked as function code is, `code.py`: the same
refusals of zip-slip, symlink tricks, sizes and zips that cannot be extracted) with its compatible runtimes, architectures and license. Its
number is never reused. Another account may use it (GetLayerVersion, a function's `Layers`) only
through a statement of its policy naming that account or `*` (a statement restricted to an
OrganizationId grants nothing here: lambdabox has no organizations). A function keeps a snapshot
of each layer version it names (`FunctionLayer`), so deleting the version changes nothing for
the functions (and published versions) already using it, as on AWS; new configurations cannot
name it any more.

The layers of a function are merged at /opt (`layer_trees.py`); the tree is built before the
configuration naming it is committed, and held until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from lambdabox.aws import ids
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.lambda_ import layer_store as sql
from lambdabox.lambda_.base import LambdaOperations, Params, Result
from lambdabox.lambda_.code import MAX_UNZIPPED, MAX_ZIPPED, inspect_zip, zip_from
from lambdabox.lambda_.code_gc import Holds
from lambdabox.lambda_.layer_store import LayerVersion, layer_arn
from lambdabox.lambda_.layer_trees import merge_key
from lambdabox.lambda_.models import FunctionLayer, lambda_timestamp
from lambdabox.lambda_.paging import page

#: AWS's limit of layers per function
MAX_LAYERS = 5
MAX_LAYER_REQUEST = 69_905_067
#: a layer ARN (any partition: the model's pattern) and a layer version ARN
_LAYER_ARN = re.compile(r"arn:([a-zA-Z0-9-]+):lambda:([a-z0-9-]+):(\d{12}):layer:([a-zA-Z0-9-_]+)", re.ASCII)
_VERSION_ARN = re.compile(_LAYER_ARN.pattern + r":(\d+)", re.ASCII)
#: the partition lambdabox's ARNs are in: an ARN of another names nothing here
PARTITION = "aws"


def _not_found() -> ServiceError:
    return client_error(
        "ResourceNotFoundException", "The resource you requested does not exist.", 404, Type="User"
    )


def _denied(ctx: RequestContext, action: str, arn: str) -> ServiceError:
    return client_error(
        "AccessDeniedException",
        f"User: arn:aws:iam::{ctx.account_id}:root is not authorized to perform: lambda:{action} on resource: "
        f"{arn} because no resource-based policy allows the lambda:{action} action",
        403,
    )


def _principal(value: str) -> Any:
    return (
        "*" if value == "*" else {"AWS": value if value.startswith("arn:") else f"arn:aws:iam::{value}:root"}
    )


def allows(version: LayerVersion, account: str) -> bool:
    """Whether `account` may use `version` (its own, or a statement naming it or `*`)."""
    if account == version.account:
        return True
    for s in version.statements:
        if s.get("Condition"):
            continue  # aws:PrincipalOrgID: no organizations here
        p = s.get("Principal")
        if p == "*" or p == {"AWS": f"arn:aws:iam::{account}:root"}:
            return True
    return False


def _content(version: LayerVersion, location: str) -> Result:
    return {"Location": location, "CodeSha256": version.code_sha256, "CodeSize": version.code_size}


def _listed(version: LayerVersion) -> Result:
    """A LayerVersionsListItem."""
    out: Result = {
        "LayerVersionArn": version.arn,
        "Version": version.version,
        "Description": version.description,
        "CreatedDate": lambda_timestamp(version.created),
    }
    if version.compatible_runtimes:
        out["CompatibleRuntimes"] = list(version.compatible_runtimes)
    if version.license_info is not None:
        out["LicenseInfo"] = version.license_info
    if version.compatible_architectures:
        out["CompatibleArchitectures"] = list(version.compatible_architectures)
    return out


def _matches(version: LayerVersion, params: Params) -> bool:
    runtime, arch = params.get("CompatibleRuntime"), params.get("CompatibleArchitecture")
    if runtime and runtime not in version.compatible_runtimes:
        return False
    return not (arch and arch not in version.compatible_architectures)


def _descending(version: LayerVersion) -> str:
    """ListLayerVersions' order, newest first, as a key that sorts ascending."""
    return f"{10**15 - version.version:016d}"


def _no_policy() -> ServiceError:
    return client_error(
        "ResourceNotFoundException", "No policy is associated with the given resource.", 404, Type="User"
    )


class LayerOperations(LambdaOperations):
    """Layer versions and their permissions."""

    _layer_lock: asyncio.Lock | None = None

    def _layers_lock(self) -> asyncio.Lock:
        if self._layer_lock is None:
            self._layer_lock = asyncio.Lock()
        return self._layer_lock

    def _layer_name(self, ctx: RequestContext, value: str, action: str, version: int | None = None) -> str:
        """The caller's own layer a LayerName (a name or a layer ARN) names, or AWS's answer for another
        account's (403; reading one goes through `_readable` instead)."""
        m = _LAYER_ARN.fullmatch(value)
        if m is None:
            return value
        partition, region, account, name = m.groups()
        if account != ctx.account_id:
            arn = layer_arn(region, account, name) + (f":{version}" if version is not None else "")
            raise _denied(ctx, action, arn)
        if region != ctx.region or partition != PARTITION:
            raise _not_found()
        return name

    async def _layers_size(self, ctx: RequestContext) -> int:
        """The bytes of the caller's layer archives in its region (part of its code storage)."""
        return int(await self._store.read(sql.total_size(ctx.region, ctx.account_id)))

    def _location(self, version: LayerVersion) -> str:
        return self._deps.code_urls.sign(self._deps.endpoint_url, version.code_key)

    def _layer_api(self, version: LayerVersion) -> Result:
        """PublishLayerVersion's and GetLayerVersion's answer."""
        content = _content(version, self._location(version))
        return {"Content": content, "LayerArn": version.layer_arn, **_listed(version)}

    async def _readable(
        self, ctx: RequestContext, region: str, account: str, name: str, number: int
    ) -> LayerVersion:
        """A layer version the caller may read: its own, or another account's that allows it."""
        version = await self._store.read(sql.get(region, account, name, number))
        if account != ctx.account_id and (version is None or not allows(version, ctx.account_id)):
            raise _denied(ctx, "GetLayerVersion", f"{layer_arn(region, account, name)}:{number}")
        if version is None:
            raise _not_found()
        return version

    # -- publishing --------------------------------------------------------------------------
    async def PublishLayerVersion(self, ctx: RequestContext, params: Params) -> Result:
        name = self._layer_name(ctx, params["LayerName"], "PublishLayerVersion")
        zip_bytes = zip_from(params.get("Content") or {})
        if len(zip_bytes) > MAX_ZIPPED:
            raise client_error(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {MAX_LAYER_REQUEST} bytes for the PublishLayerVersion operation",
                413,
                Type="User",
            )
        info = await asyncio.to_thread(inspect_zip, zip_bytes)
        if info.entries == 0:  # just the end-of-central-directory record
            raise client_error(
                "InvalidParameterValueException", "Uploaded file must be a non-empty zip", Type="User"
            )
        async with self._code_gc.holding() as holds:
            await holds.add(info.key)
            # stored and unpacked as function code is (off the loop), so a zip that cannot be
            # extracted (a CRC mismatch, headers that lie) is refused here, as AWS refuses it
            await asyncio.to_thread(self._code.save, info, zip_bytes)

            def make(number: int) -> LayerVersion:
                return LayerVersion(
                    region=ctx.region,
                    account=ctx.account_id,
                    name=name,
                    version=number,
                    code_key=info.key,
                    code_sha256=info.sha256_b64,
                    code_size=info.size,
                    unzipped=info.unzipped,
                    created=self._clock.now(),
                    description=params.get("Description") or "",
                    compatible_runtimes=tuple(params.get("CompatibleRuntimes") or ()),
                    compatible_architectures=tuple(params.get("CompatibleArchitectures") or ()),
                    license_info=params.get("LicenseInfo"),
                    policy_revision=ids.revision_id(),
                )

            async with self._layers_lock():
                version: LayerVersion = await self._store.write(
                    sql.publish(ctx.region, ctx.account_id, name, make)
                )
        return self._layer_api(version)

    # -- reading -----------------------------------------------------------------------------
    async def GetLayerVersion(self, ctx: RequestContext, params: Params) -> Result:
        number = int(params["VersionNumber"])
        m = _LAYER_ARN.fullmatch(params["LayerName"])
        partition, region, account, name = (
            m.groups() if m else (PARTITION, ctx.region, ctx.account_id, params["LayerName"])
        )
        if region != ctx.region or partition != PARTITION:
            raise _not_found()
        return self._layer_api(await self._readable(ctx, region, account, name, number))

    async def GetLayerVersionByArn(self, ctx: RequestContext, params: Params) -> Result:
        m = _VERSION_ARN.fullmatch(params["Arn"])
        if m is None:  # an awslayer ARN: AWS's own layers, none here
            raise _not_found()
        partition, region, account, name, number = m.groups()
        if region != ctx.region or partition != PARTITION:
            raise _not_found()
        return self._layer_api(await self._readable(ctx, region, account, name, int(number)))

    async def ListLayers(self, ctx: RequestContext, params: Params) -> Result:
        latest: dict[str, LayerVersion] = {}
        for version in await self._store.read(sql.versions(ctx.region, ctx.account_id, None)):
            if _matches(version, params):
                latest[version.name] = version  # versions come in ascending order
        items = sorted(latest.values(), key=lambda v: v.name)
        return page(
            "Layers",
            items,
            params,
            lambda v: v.name,
            lambda v: {"LayerName": v.name, "LayerArn": v.layer_arn, "LatestMatchingVersion": _listed(v)},
        )

    async def ListLayerVersions(self, ctx: RequestContext, params: Params) -> Result:
        name = self._layer_name(ctx, params["LayerName"], "ListLayerVersions")
        versions = await self._store.read(sql.versions(ctx.region, ctx.account_id, name))
        items = sorted((v for v in versions if _matches(v, params)), key=_descending)
        return page("LayerVersions", items, params, _descending, _listed)

    # -- deleting ----------------------------------------------------------------------------
    async def DeleteLayerVersion(self, ctx: RequestContext, params: Params) -> Result:
        number = int(params["VersionNumber"])
        name = self._layer_name(ctx, params["LayerName"], "DeleteLayerVersion", number)
        async with self._layers_lock():
            version = await self._store.read(sql.get(ctx.region, ctx.account_id, name, number))
            if version is None:
                return {}  # deleting it again succeeds, as on AWS
            await self._store.write(sql.delete(ctx.region, ctx.account_id, name, number))
        await self._code_gc.collect([version.code_key])  # kept while a function names it
        return {}

    # -- permissions -------------------------------------------------------------------------
    async def _own_version(
        self, ctx: RequestContext, params: Params, action: str, missing: str = ""
    ) -> LayerVersion:
        """The caller's own layer version a permission operation names; not found: ResourceNotFound
        with `missing` + its ARN ("Layer version … does not exist.") or AWS's generic message."""
        number = int(params["VersionNumber"])
        name = self._layer_name(ctx, params["LayerName"], action, number)
        version = await self._store.read(sql.get(ctx.region, ctx.account_id, name, number))
        if version is None:
            if not missing:
                raise _not_found()
            arn = f"{layer_arn(ctx.region, ctx.account_id, name)}:{number}"
            raise client_error(
                "ResourceNotFoundException", f"Layer version {arn} does not exist.", 404, Type="User"
            )
        return version

    @staticmethod
    def _check_policy_revision(version: LayerVersion, params: Params) -> None:
        rev = params.get("RevisionId")
        if rev is not None and rev != version.policy_revision:
            raise client_error(
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetLayerPolicy API to retrieve the latest Revision Id",
                412,
                Type="User",
            )

    async def AddLayerVersionPermission(self, ctx: RequestContext, params: Params) -> Result:
        async with self._layers_lock():
            version = await self._own_version(ctx, params, "AddLayerVersionPermission", missing="yes")
            sid = params["StatementId"]
            if any(s.get("Sid") == sid for s in version.statements):
                raise client_error(
                    "ResourceConflictException",
                    f"The statement id ({sid}) provided already exists. Please provide a new statement id, "
                    "or remove the existing statement.",
                    409,
                    Type="User",
                )
            self._check_policy_revision(version, params)
            org = params.get("OrganizationId")
            if org and params["Principal"] != "*":
                raise client_error(
                    "InvalidParameterValueException",
                    "OrganizationId can only be specified when the principal is *.",
                    Type="User",
                )
            added: dict[str, Any] = {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": _principal(params["Principal"]),
                "Action": params["Action"],
                "Resource": version.arn,
            }
            if org:
                added["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": org}}
            new = _with_policy(version, [*version.statements, added])
            await self._store.write(sql.put(new))
        return {"Statement": json.dumps(added, separators=(",", ":")), "RevisionId": new.policy_revision}

    async def RemoveLayerVersionPermission(self, ctx: RequestContext, params: Params) -> Result:
        async with self._layers_lock():
            version = await self._own_version(ctx, params, "RemoveLayerVersionPermission")
            self._check_policy_revision(version, params)
            if not version.statements:
                raise _no_policy()
            sid = params["StatementId"]
            kept = [s for s in version.statements if s.get("Sid") != sid]
            if len(kept) == len(version.statements):
                raise client_error(
                    "ResourceNotFoundException",
                    f"Statement {sid} is not found in resource policy.",
                    404,
                    Type="User",
                )
            await self._store.write(sql.put(_with_policy(version, kept)))
        return {}

    async def GetLayerVersionPolicy(self, ctx: RequestContext, params: Params) -> Result:
        version = await self._own_version(ctx, params, "GetLayerVersionPolicy")
        if not version.statements:
            raise _no_policy()
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": list(version.statements)}
        return {"Policy": json.dumps(policy, separators=(",", ":")), "RevisionId": version.policy_revision}

    # -- the Layers of a function ------------------------------------------------------------
    async def _function_layers(self, ctx: RequestContext, arns: Sequence[str]) -> tuple[FunctionLayer, ...]:
        """The layer versions a function's `Layers` name, checked as Lambda checks them."""
        if len(arns) > MAX_LAYERS:
            raise client_error(
                "InvalidParameterValueException",
                f"Cannot reference more than {MAX_LAYERS} layers.",
                Type="User",
            )
        out: list[FunctionLayer] = []
        seen: dict[str, str] = {}
        for arn in arns:
            m = _VERSION_ARN.fullmatch(arn)
            if m is None:  # an awslayer ARN (the model allows them): none exist here
                raise client_error(
                    "InvalidParameterValueException", f"Layer version {arn} does not exist.", Type="User"
                )
            partition, region, account, name, number = m.groups()
            if partition != PARTITION:  # another partition's: no layer here
                raise client_error(
                    "InvalidParameterValueException", f"Layer version {arn} does not exist.", Type="User"
                )
            layer = layer_arn(region, account, name)
            if layer in seen:
                raise client_error(
                    "InvalidParameterValueException",
                    "Two different versions of the same layer are not allowed to be referenced in the same "
                    f"function. {seen[layer]} and {arn} are versions of the same layer.",
                    Type="User",
                )
            seen[layer] = arn
            version = await self._store.read(sql.get(region, account, name, int(number)))
            if account != ctx.account_id and (
                region != ctx.region or version is None or not allows(version, ctx.account_id)
            ):
                raise _denied(ctx, "GetLayerVersion", f"{layer}:{int(number)}")
            if region != ctx.region:
                raise client_error(
                    "InvalidParameterValueException",
                    f"Layers are not in the same region as the function. Layers are expected to be in region "
                    f"{ctx.region}.",
                    Type="User",
                )
            if version is None:
                raise client_error(
                    "InvalidParameterValueException", f"Layer version {arn} does not exist.", Type="User"
                )
            out.append(FunctionLayer(version.arn, version.code_size, version.code_key, version.unzipped))
        return tuple(out)

    async def _check_combined_size(self, code_key: str, layers: Sequence[FunctionLayer]) -> None:
        """Stored function code and layers together unzip to at most 250 MB (by the zips' headers)."""
        if layers:
            check_combined_size(await asyncio.to_thread(self._code.unzipped_size, code_key), layers)

    @contextlib.asynccontextmanager
    async def _opt_ready(self, layers: Sequence[FunctionLayer], holds: Holds) -> AsyncIterator[None]:
        """Build the merged /opt tree of `layers` and keep it (and the layers' code) until the
        configuration naming them is committed."""
        trees = self._deps.layer_trees
        if not layers or trees is None:
            yield
            return
        keys = [layer.code_key for layer in layers]
        for key in keys:
            await holds.add(key)
        mk = merge_key(keys)
        trees.hold(mk)
        try:
            await asyncio.to_thread(trees.ensure, keys)
            yield
        finally:
            trees.release(mk)

    async def _collect_trees(self) -> None:
        if self._deps.layer_trees is not None:
            await self._deps.layer_trees.collect()


def check_combined_size(unzipped: int, layers: Sequence[FunctionLayer]) -> None:
    """Function code unzipping to `unzipped` bytes and its layers together unzip to at most 250 MB
    (by the zips' headers), or AWS's answer."""
    total = unzipped + sum(layer.unzipped for layer in layers)
    if total > MAX_UNZIPPED:
        raise client_error(
            "InvalidParameterValueException",
            f"Function code combined with layers exceeds the maximum allowed size of {MAX_UNZIPPED} bytes. "
            f"The actual size is {total} bytes.",
            Type="User",
        )


def _with_policy(version: LayerVersion, statements: list[dict[str, Any]]) -> LayerVersion:
    return dataclasses.replace(version, statements=tuple(statements), policy_revision=ids.revision_id())
