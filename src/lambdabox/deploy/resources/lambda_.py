"""AWS::Lambda::Function through the Lambda API.

Code `{"S3Bucket": ARTIFACT_BUCKET, "S3Key": k}` is the project's artifact `k`, uploaded as
`ZipFile` (there is no S3 to stage it in); inline `ZipFile` source becomes `index.py` / `index.js`
as CloudFormation does. UpdateFunctionCode is called only when the package's SHA-256 differs from
the deployed CodeSha256 (base64 of the digest). A function is waited for until it is Active and
its last update Successful, as CloudFormation does before it goes on.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-function.html
"""

from __future__ import annotations

import base64
import hashlib
import io
import urllib.request
import zipfile
from collections.abc import Sequence
from typing import Any

from lambdabox.deploy.project import ARTIFACT_BUCKET
from lambdabox.deploy.resources.base import (
    LOGICAL_TAG,
    PROPS_TAG,
    STACK_TAG,
    Clients,
    Deployed,
    Handler,
    Props,
    generated_name,
    of_stack,
    stack_tags,
    tag_map,
    version_config,
    wait_for,
)

#: configuration properties and the value UpdateFunctionConfiguration is given when one is removed
_CONFIG_DEFAULTS: dict[str, Any] = {
    "Role": None,
    "Handler": None,
    "Runtime": None,
    "Description": "",
    "MemorySize": 128,
    "Timeout": 3,
    "Environment": {"Variables": {}},
    "Layers": [],
    "EphemeralStorage": {"Size": 512},
    "LoggingConfig": None,
}


def code_sha256(zip_bytes: bytes) -> str:
    """Lambda's CodeSha256: base64 of the package's SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()


def inline_zip(source: str, runtime: str) -> bytes:
    """CloudFormation's inline ZipFile: the source as index.js (Node.js) or index.py, fixed dates so
    that the same source is the same package."""
    name = "index.js" if runtime.startswith("nodejs") else "index.py"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100644 << 16
        zf.writestr(info, source)
    return buf.getvalue()


def code_bytes(c: Clients, props: Props) -> bytes:
    code = props.get("Code") or {}
    if not isinstance(code, dict):
        raise ValueError(f"Code {code!r} is no mapping")
    if "_ZipBytes" in code:  # a rollback's: the package read back from the function
        return bytes(code["_ZipBytes"])
    if "ZipFile" in code:
        return inline_zip(str(code["ZipFile"]), str(props.get("Runtime", "")))
    if code.get("S3Bucket") == ARTIFACT_BUCKET and code.get("S3Key") in c.artifacts:
        return c.artifacts[code["S3Key"]]
    raise ValueError(
        f"Code {code}: lambdabox deploys code from the project's artifacts or inline ZipFile (there is no S3)"
    )


def remember_code(c: Clients, props: Props, deployed: Deployed | None) -> None:
    """Note the CodeSha256 a function's template code has and the configuration it gives, under its
    ARN when that is known (what a Version of it will publish: the Versions' natural key)."""
    name = deployed.attributes["Arn"] if deployed is not None else props.get("FunctionName")
    if not isinstance(name, str):
        return
    c.expected_config[c.function_arn(name)] = version_config(props)
    try:
        c.expected_code[c.function_arn(name)] = code_sha256(code_bytes(c, props))
    except ValueError:
        return


def _user_tags(tags: Any) -> dict[str, str]:
    return tag_map(tags)


def _wait_ready(c: Clients, name: str, qualifier: str | None = None) -> dict[str, Any]:
    lam = c("lambda")
    seen: dict[str, Any] = {}

    def ready() -> bool:
        args = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
        cfg = lam.get_function_configuration(**args)
        seen.clear()
        seen.update(cfg)
        if cfg.get("State") == "Failed" or cfg.get("LastUpdateStatus") == "Failed":
            reason = cfg.get("StateReason") or cfg.get("LastUpdateStatusReason") or "failed"
            raise RuntimeError(f"function {name} failed: {reason}")
        return bool(
            cfg.get("State", "Active") == "Active"
            and cfg.get("LastUpdateStatus", "Successful") == "Successful"
        )

    wait_for(ready, f"function {name} to be Active")
    return seen


class Function(Handler):
    type = "AWS::Lambda::Function"
    properties = frozenset(
        [
            "FunctionName",
            "Role",
            "Runtime",
            "Handler",
            "Code",
            "MemorySize",
            "Timeout",
            "Environment",
            "Description",
            "Layers",
            "Architectures",
            "Tags",
            "EphemeralStorage",
            "LoggingConfig",
            "ReservedConcurrentExecutions",
            "PackageType",
        ]
    )
    attributes = frozenset(["Arn"])
    immutable = frozenset(["FunctionName", "PackageType", "Architectures"])
    delete_rank = 80

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        lam = c("lambda")
        found = []
        for page in lam.get_paginator("list_functions").paginate():
            for fn in page["Functions"]:
                tags = lam.list_tags(Resource=fn["FunctionArn"]).get("Tags", {})
                if of_stack(tags, stack):
                    found.append(self._deployed(fn, tags))
        return found

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        """As recorded in the fingerprint tag, and the name itself: a function found by its tags
        under another name than the template's is not the template's (it is replaced)."""
        changed = super().changes(props, deployed)
        name = props.get("FunctionName")
        if name is not None and name != deployed.physical_id and "FunctionName" not in changed:
            changed = sorted([*changed, "FunctionName"])
        return changed

    def _deployed(self, cfg: dict[str, Any], tags: dict[str, str]) -> Deployed:
        return Deployed(
            self.type,
            cfg["FunctionName"],
            tags.get(LOGICAL_TAG),
            attributes={"Arn": cfg["FunctionArn"]},
            observed=cfg,
            tags=tags,
        )

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        lam = c("lambda")
        name = props.get("FunctionName") or generated_name(stack, logical_id)
        args: dict[str, Any] = {k: props[k] for k in _CONFIG_DEFAULTS if k in props}
        if "Architectures" in props:
            args["Architectures"] = props["Architectures"]
        tags = {**_user_tags(props.get("Tags")), **stack_tags(stack, logical_id, props)}
        lam.create_function(FunctionName=name, Code={"ZipFile": code_bytes(c, props)}, Tags=tags, **args)
        if "ReservedConcurrentExecutions" in props:
            lam.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"])
            )
        return self._deployed(_wait_ready(c, name), tags)

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        lam = c("lambda")
        name = deployed.physical_id
        changed = set(self.changes(props, deployed)) if props_tag is None else set(props) | {"*"}
        config = {
            k: props.get(k, default)
            for k, default in _CONFIG_DEFAULTS.items()
            if default is not None or k in props
        }
        if changed & (set(_CONFIG_DEFAULTS) | {"*"}):
            lam.update_function_configuration(FunctionName=name, **config)
            _wait_ready(c, name)
        if changed & {"Code", "*"}:
            zip_bytes = code_bytes(c, props)
            if code_sha256(zip_bytes) != deployed.observed.get("CodeSha256"):
                lam.update_function_code(FunctionName=name, ZipFile=zip_bytes)
        if "ReservedConcurrentExecutions" in changed:
            if "ReservedConcurrentExecutions" in props:
                lam.put_function_concurrency(
                    FunctionName=name, ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"])
                )
            else:
                lam.delete_function_concurrency(FunctionName=name)
        arn = deployed.attributes["Arn"]
        tags = {**_user_tags(props.get("Tags")), **stack_tags(stack, str(deployed.logical_id), props)}
        if props_tag is not None:
            tags[PROPS_TAG] = props_tag
        gone = [k for k in deployed.tags if k not in tags]
        if gone:
            lam.untag_resource(Resource=arn, TagKeys=gone)
        lam.tag_resource(Resource=arn, Tags=tags)
        return self._deployed(_wait_ready(c, name), tags)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        got = c("lambda").get_function(FunctionName=deployed.physical_id)
        cfg = got["Configuration"]
        props: Props = {
            k: cfg[k]
            for k in ("Role", "Handler", "Runtime", "Description", "MemorySize", "Timeout")
            if k in cfg
        }
        props["Environment"] = {"Variables": dict(cfg.get("Environment", {}).get("Variables", {}))}
        props["Layers"] = [layer["Arn"] for layer in cfg.get("Layers", [])]
        if "EphemeralStorage" in cfg:
            props["EphemeralStorage"] = cfg["EphemeralStorage"]
        with urllib.request.urlopen(got["Code"]["Location"], timeout=60) as r:
            props["Code"] = {"_ZipBytes": r.read()}
        if "Concurrency" in got and "ReservedConcurrentExecutions" in got["Concurrency"]:
            props["ReservedConcurrentExecutions"] = got["Concurrency"]["ReservedConcurrentExecutions"]
        props["Tags"] = {
            k: v for k, v in got.get("Tags", {}).items() if k not in (STACK_TAG, LOGICAL_TAG, PROPS_TAG)
        }
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("lambda").delete_function(FunctionName=deployed.physical_id)
