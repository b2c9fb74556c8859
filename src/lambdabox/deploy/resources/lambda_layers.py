"""AWS::Lambda::LayerVersion through the Lambda API.

Layer versions carry no tags: they are found through the stack's functions (the layer versions
their `Layers` name) and matched by natural key (LayerName, CodeSha256 of the template's content).
A layer version is immutable: any change of its content or properties publishes a new version
(CloudFormation's Replacement) and the one no function of the stack names any more is deleted.
`Ref` gives its LayerVersionArn, as CloudFormation's does. Content `{"S3Bucket": ARTIFACT_BUCKET,
"S3Key": k}` is the project's artifact `k`, uploaded as `ZipFile` (there is no S3). LayerName
defaults to the logical id. A layer version no function of the stack uses is not found again:
a later deploy publishes it anew, and `remove` leaves it.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-layerversion.html
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from lambdabox.deploy.project import ARTIFACT_BUCKET
from lambdabox.deploy.resources.base import Clients, Deployed, Handler, Props, is_not_found
from lambdabox.deploy.resources.lambda_ import code_sha256

#: properties compared with what is published (a difference publishes a new version)
_COMPARED = ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo")


def content_bytes(c: Clients, props: Props) -> bytes:
    content = props.get("Content") or {}
    if (
        isinstance(content, dict)
        and content.get("S3Bucket") == ARTIFACT_BUCKET
        and content.get("S3Key") in c.artifacts
    ):
        return c.artifacts[content["S3Key"]]
    raise ValueError(
        f"Content {content}: lambdabox deploys layers from the project's artifacts (there is no S3)"
    )


def _layer_name(logical_id: str, props: Props) -> str:
    return str(props.get("LayerName") or logical_id)


class LayerVersion(Handler):
    type = "AWS::Lambda::LayerVersion"
    properties = frozenset(["LayerName", "Content", *_COMPARED])
    attributes = frozenset(["LayerVersionArn"])
    immutable = frozenset(["LayerName", "Content", *_COMPARED])
    tagged = False
    parent_type = "AWS::Lambda::Function"
    delete_rank = 85  # after the functions that stopped naming it were updated

    def describe(self, deployed: Deployed) -> str:
        return f"LayerVersion {deployed.physical_id.split(':layer:', 1)[-1]}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        lam = c("lambda")
        arns = {layer["Arn"] for fn in parents for layer in fn.observed.get("Layers") or ()}
        out = []
        for arn in sorted(arns):
            if f":{c.account_id}:layer:" not in arn:
                continue  # another account's layer: not the stack's
            try:
                got = lam.get_layer_version_by_arn(Arn=arn)
            except ClientError as exc:
                if is_not_found(exc):
                    continue
                raise
            out.append(self._deployed(got))
        return out

    def _deployed(self, got: dict[str, Any]) -> Deployed:
        name = str(got["LayerArn"]).rsplit(":", 1)[1]
        return Deployed(
            self.type,
            got["LayerVersionArn"],
            key=(name, str(got["Content"]["CodeSha256"])),
            attributes={"LayerVersionArn": got["LayerVersionArn"]},
            observed=got,
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        try:
            return (_layer_name(logical_id, props), code_sha256(content_bytes(c, props)))
        except ValueError:
            return None

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        seen = deployed.observed
        changed = []
        for prop in _COMPARED:
            want, have = props.get(prop), seen.get(prop)
            if prop == "Description":
                want, have = want or "", have or ""
            elif prop != "LicenseInfo":
                want, have = sorted(want or []), sorted(have or [])
            if want != have:
                changed.append(prop)
        return changed

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        args = {k: props[k] for k in _COMPARED if k in props}
        got = c("lambda").publish_layer_version(
            LayerName=_layer_name(logical_id, props), Content={"ZipFile": content_bytes(c, props)}, **args
        )
        return self._deployed(got)

    def delete(self, c: Clients, deployed: Deployed) -> None:
        arn = deployed.physical_id
        layer, number = arn.rsplit(":", 1)
        c("lambda").delete_layer_version(LayerName=layer, VersionNumber=int(number))
