"""serverless.yml's top-level `layers:` -> AWS::Lambda::LayerVersion resources, as the Framework
compiles them: `<Name>LambdaLayer` (the key normalized as function keys are), LayerName the
layer's `name` or its key, Content the zip of its `path` directory (or `package.artifact`), and
description, compatibleRuntimes, compatibleArchitectures, licenseInfo. Functions name them with
`{Ref: <Name>LambdaLayer}` in their `layers`, which gives the layer version's ARN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lambdabox.deploy.package import artifact_from_zip, build_artifact
from lambdabox.deploy.project import ARTIFACT_BUCKET, Artifact, ProjectError
from lambdabox.deploy.serverless_model import Context, normalized_function_name
from lambdabox.deploy.yamlfile import KeyPath

LAYER_KEYS = {
    "path", "name", "description", "compatibleRuntimes", "compatibleArchitectures", "licenseInfo", "package",
}  # fmt: skip
LAYER_IGNORED = frozenset({"retain", "allowedAccounts"})
_PROPS = {
    "description": "Description",
    "compatibleRuntimes": "CompatibleRuntimes",
    "compatibleArchitectures": "CompatibleArchitectures",
    "licenseInfo": "LicenseInfo",
}


def layer_logical_id(key: str) -> str:
    return f"{normalized_function_name(key)}LambdaLayer"


def compile_layers(ctx: Context, root: Path) -> dict[str, Artifact]:
    """Add the layers' resources to `ctx`; their artifacts by key."""
    artifacts: dict[str, Artifact] = {}
    for key, raw in ctx.mapping(ctx.config.get("layers"), ("layers",)).items():
        path: KeyPath = ("layers", key)
        layer = ctx.mapping(raw, path)
        ctx.check_keys(layer, path, LAYER_KEYS, LAYER_IGNORED)
        artifact = _artifact(ctx, root, path, layer)
        if artifact is None:
            continue
        artifacts[artifact.key] = artifact
        props: dict[str, Any] = {
            "LayerName": str(layer.get("name") or key),
            "Content": {"S3Bucket": ARTIFACT_BUCKET, "S3Key": artifact.key},
        }
        for option, prop in _PROPS.items():
            if layer.get(option) is not None:
                props[prop] = layer[option]
        ctx.resources[layer_logical_id(key)] = {"Type": "AWS::Lambda::LayerVersion", "Properties": props}
    return artifacts


def _artifact(ctx: Context, root: Path, path: KeyPath, layer: dict[str, Any]) -> Artifact | None:
    pkg = ctx.mapping(layer.get("package"), (*path, "package"))
    try:
        if pkg.get("artifact"):
            return artifact_from_zip(root / str(pkg["artifact"]))
        if not isinstance(layer.get("path"), str):
            ctx.error((*path, "path"), "path is required (the layer's directory)")
            return None
        patterns = [str(p) for p in pkg.get("patterns") or []]
        return build_artifact(root / layer["path"], patterns, "", where=ctx.doc.where((*path, "path")))
    except ProjectError as e:
        ctx.errors.extend(e.problems)
        return None
