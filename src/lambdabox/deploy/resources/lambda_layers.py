"""AWS::Lambda::LayerVersion through the Lambda API: a layer version is published, never changed.

Layer versions carry no tags, so a stack's are found through its functions: every version of each
layer that a function of the stack uses (its `Layers`) is looked at, and a template's LayerVersion
matches a published one by its natural key (LayerName, CodeSha256 of the template's content,
Description, CompatibleRuntimes, CompatibleArchitectures, LicenseInfo). Any change is a new version
(CloudFormation's "Replacement" for every property), which the stack's functions then name.

A version the template no longer matches is kept, as SAM's default `RetentionPolicy: Retain` and
the Serverless Framework's `retain` do, and on Lambda a deleted version keeps working for the
functions that use it anyway: lambdabox's deploy never deletes a layer version (DeleteLayerVersion
does). A layer no function of the stack uses is not found again: each deploy publishes it anew.

`LayerName` defaults to the logical id, as SAM's does; `Content` is the project's artifact
(`{"S3Bucket": ARTIFACT_BUCKET, "S3Key": k}`, from a ContentUri, a `Content` path or a
serverless.yml `layers:` path). Ref and Fn::GetAtt LayerVersionArn give the version's ARN.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-layerversion.html
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from lambdabox.deploy.project import ARTIFACT_BUCKET
from lambdabox.deploy.resources.base import Clients, Deployed, Handler, Props, is_not_found

_CONFIG = ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo")


def layer_name(logical_id: str, props: Props) -> str:
    """The layer a LayerVersion publishes to: its LayerName (a name or an ARN), else its logical id."""
    name = str(props.get("LayerName") or logical_id)
    return name.split(":")[6] if name.startswith("arn:") and name.count(":") >= 6 else name


def content_bytes(c: Clients, props: Props) -> bytes:
    content = props.get("Content") or {}
    if isinstance(content, dict) and content.get("S3Bucket") == ARTIFACT_BUCKET:
        data = c.artifacts.get(str(content.get("S3Key")))
        if data is not None:
            return data
    raise ValueError(
        f"Content {content}: lambdabox deploys layers from the project's artifacts (there is no S3)"
    )


def _sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _config_key(cfg: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(cfg.get("Description") or ""),
        ",".join(sorted(map(str, cfg.get("CompatibleRuntimes") or []))),
        ",".join(sorted(map(str, cfg.get("CompatibleArchitectures") or []))),
        str(cfg.get("LicenseInfo") or ""),
    )


class LayerVersion(Handler):
    type = "AWS::Lambda::LayerVersion"
    properties = frozenset(["LayerName", "Content", *_CONFIG])
    attributes = frozenset(["LayerVersionArn"])
    immutable = frozenset(["LayerName", "Content", *_CONFIG])
    tagged = False
    parent_type = "AWS::Lambda::Function"
    keeps_unmatched = True
    delete_rank = 90

    def describe(self, deployed: Deployed) -> str:
        parts = deployed.physical_id.split(":")
        return f"LayerVersion {parts[-1]} of {parts[-2]}" if len(parts) >= 8 else deployed.physical_id

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        lam = c("lambda")
        names: set[str] = set()
        for fn in parents:
            cfg = lam.get_function_configuration(FunctionName=fn.physical_id)
            for layer in cfg.get("Layers") or []:
                arn = str(layer.get("Arn", ""))
                parts = arn.split(":")
                if len(parts) == 8 and parts[4] == c.account_id:
                    names.add(parts[6])
        found: list[Deployed] = []
        for name in sorted(names):
            try:
                pages = list(lam.get_paginator("list_layer_versions").paginate(LayerName=name))
            except ClientError as exc:
                if is_not_found(exc):
                    continue
                raise
            for page in pages:
                for v in page.get("LayerVersions", []):
                    got = lam.get_layer_version_by_arn(Arn=v["LayerVersionArn"])
                    found.append(self._deployed(name, got))
        return found

    def _deployed(self, name: str, v: dict[str, Any]) -> Deployed:
        sha = str((v.get("Content") or {}).get("CodeSha256", ""))
        return Deployed(
            self.type,
            str(v["LayerVersionArn"]),
            key=(name, sha, *_config_key(v)),
            attributes={"LayerVersionArn": v["LayerVersionArn"]},
            observed=v,
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        try:
            sha = _sha(content_bytes(c, props))
        except ValueError:
            return None
        return (layer_name(logical_id, props), sha, *_config_key(props))

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        return []  # matched by every property it has

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        name = layer_name(logical_id, props)
        args = {k: props[k] for k in _CONFIG if props.get(k) not in (None, "", [])}
        v = c("lambda").publish_layer_version(
            LayerName=name, Content={"ZipFile": content_bytes(c, props)}, **args
        )
        return self._deployed(name, v)

    def delete(self, c: Clients, deployed: Deployed) -> None:
        parts = deployed.physical_id.split(":")
        c("lambda").delete_layer_version(LayerName=parts[6], VersionNumber=int(parts[7]))
