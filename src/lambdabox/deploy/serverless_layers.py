"""A serverless.yml's `layers:` section -> AWS::Lambda::LayerVersion resources, as the Framework
compiles them.

Each layer `key: {path, name, description, compatibleRuntimes, compatibleArchitectures, licenseInfo,
package}` becomes `<Key>LambdaLayer` (the key normalized as function names are: `my-deps` ->
`MyDashdepsLambdaLayer`) publishing the directory `path` (zipped as function code is, package
patterns applying) or `package.artifact`, named `name` or the key; functions name it with
`{Ref: <Key>LambdaLayer}`, and the output `<Key>LambdaLayerQualifiedArn` gives its ARN.
`allowedAccounts` is reported and not deployed; `retain` is what lambdabox's deploy always does (it
keeps every layer version it published: see resources/lambda_layers.py).
https://www.serverless.com/framework/docs/providers/aws/guide/layers
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lambdabox.deploy.package import artifact_from_zip, build_artifact
from lambdabox.deploy.project import ARTIFACT_BUCKET, Artifact, ProjectError
from lambdabox.deploy.serverless_model import Context, normalized_function_name

LAYER_KEYS = {
    "path", "name", "description", "compatibleRuntimes", "compatibleArchitectures", "licenseInfo",
    "package", "retain",
}  # fmt: skip
LAYER_IGNORED = frozenset({"allowedAccounts"})
_PROPS = {
    "description": "Description",
    "compatibleRuntimes": "CompatibleRuntimes",
    "compatibleArchitectures": "CompatibleArchitectures",
    "licenseInfo": "LicenseInfo",
}


def layer_logical_id(key: str) -> str:
    return f"{normalized_function_name(key)}LambdaLayer"


def compile_layers(ctx: Context, root: Path) -> dict[str, Artifact]:
    """Adds a LayerVersion (and its output) per layer to `ctx`; the artifacts they publish."""
    artifacts: dict[str, Artifact] = {}
    for key, raw in ctx.mapping(ctx.config.get("layers"), ("layers",)).items():
        path = ("layers", key)
        layer = ctx.mapping(raw, path)
        ctx.check_keys(layer, path, LAYER_KEYS, LAYER_IGNORED)
        artifact = _artifact(ctx, root, key, layer)
        if artifact is None:
            continue
        artifacts[artifact.key] = artifact
        props: dict[str, Any] = {
            "LayerName": str(layer.get("name") or key),
            "Content": {"S3Bucket": ARTIFACT_BUCKET, "S3Key": artifact.key},
        }
        for yml, cfn in _PROPS.items():
            if layer.get(yml) is not None:
                value = layer[yml]
                props[cfn] = (
                    value if isinstance(value, list) or cfn in ("Description", "LicenseInfo") else [value]
                )
        logical = layer_logical_id(key)
        ctx.resources[logical] = {"Type": "AWS::Lambda::LayerVersion", "Properties": props}
        ctx.outputs[f"{logical}QualifiedArn"] = {
            "Description": "Current Lambda layer version",
            "Value": {"Ref": logical},
        }
    return artifacts


def _artifact(ctx: Context, root: Path, key: str, layer: dict[str, Any]) -> Artifact | None:
    path = ("layers", key)
    pkg = ctx.mapping(layer.get("package"), (*path, "package"))
    ctx.check_keys(pkg, (*path, "package"), {"artifact", "patterns", "include", "exclude"})
    try:
        if pkg.get("artifact"):
            return artifact_from_zip(root / str(pkg["artifact"]))
        if not isinstance(layer.get("path"), str):
            ctx.error(path, "a layer needs a path (its directory) or package.artifact")
            return None
        patterns = [f"!{p}" for p in pkg.get("exclude") or []] + [str(p) for p in pkg.get("include") or []]
        patterns += [str(p) for p in pkg.get("patterns") or []]
        return build_artifact(root / layer["path"], patterns, "", where=ctx.doc.where((*path, "path")))
    except ProjectError as exc:
        ctx.errors.extend(exc.problems)
        return None
