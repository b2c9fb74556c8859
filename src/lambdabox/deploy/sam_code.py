"""Local code in a SAM / CloudFormation template -> artifacts, as `sam package` does before deploying.

The properties SAM CLI uploads (https://docs.aws.amazon.com/serverless-application-model/latest/
developerguide/deploy-upload-local-files.html; relative paths resolve from the template's directory,
as `sam sync --base-dir` documents): AWS::Serverless::Function CodeUri (default ".", the template's
directory, else Globals.Function.CodeUri), AWS::Serverless::LayerVersion ContentUri,
AWS::Lambda::Function Code and AWS::Lambda::LayerVersion Content. A local path there (a directory,
or a .zip file taken as is) becomes an artifact, built once per (path, runtime) by package.py, and
the template names it as S3 code would be named: `s3://lambdabox-deploy-artifacts/<sha256>.zip`
for SAM (the Transform turns it into {"S3Bucket", "S3Key"}), {"S3Bucket": ..., "S3Key": ...} for
the plain resources. Code already in S3 ({Bucket, Key}, s3://...), InlineCode and ZipFile are left
as written.

The Handler of a function with local code and a Node.js or Python runtime must name a module file
that is in its package (package.handler_problem, the check serverless.yml functions get): an error
naming the Handler's line, or a warning when the function has Layers (a layer may provide it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdabox.deploy import package
from lambdabox.deploy.project import ARTIFACT_BUCKET, Artifact, Problem, ProjectError
from lambdabox.deploy.yamlfile import Document

_LEFT_OUT_HINT = " (SAM leaves out .aws-sam/, .venv/, venv/, __pycache__/, *.pyc and the like)"

# What a SAM build leaves out of a code directory (aws-lambda-builders' excludes, and SAM's own
# build output), as package.py patterns; the template itself is left out too.
EXCLUDES = (
    "!.aws-sam/**",
    "!.git/**",
    "!.gitignore",
    "!**/__pycache__/**",
    "!**/*.pyc",
    "!.venv/**",
    "!venv/**",
    "!.pytest_cache/**",
    "!.mypy_cache/**",
    "!.ruff_cache/**",
    "!.idea/**",
    "!.vscode/**",
    "!**/.DS_Store",
    "!samconfig.toml",
)


@dataclass
class CodePackager:
    """Builds the artifacts of one template (one per path and runtime) and rewrites its code references."""

    doc: Document
    parameters: dict[str, Any]  # values for Ref to Parameters (a Runtime: !Ref PythonVersion)
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    watch: list[Path] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    _built: dict[tuple[Path, str | None], Artifact] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.doc.file.resolve().parent

    def rewrite(self, template: dict[str, Any]) -> None:
        """Replaces every local code path in `template` (in place); raises ProjectError if one is bad."""
        resources = template.get("Resources")
        if not isinstance(resources, dict):
            return
        globals_fn = _dict(_dict(template.get("Globals")).get("Function"))
        global_uri = globals_fn.get("CodeUri")
        for logical_id, resource in resources.items():
            if not isinstance(resource, dict) or not isinstance(resource.get("Properties", {}), dict):
                continue
            props = resource.setdefault("Properties", {})
            kind = resource.get("Type")
            if kind == "AWS::Serverless::Function":
                self._function(logical_id, props, global_uri, globals_fn)
            elif kind == "AWS::Serverless::LayerVersion" and _is_local(props.get("ContentUri")):
                path = ("Resources", logical_id, "Properties", "ContentUri")
                props["ContentUri"] = _s3_uri(self._build(str(props["ContentUri"]), None, path))
            elif kind == "AWS::Lambda::Function" and _is_local(props.get("Code")):
                path = ("Resources", logical_id, "Properties", "Code")
                runtime = self._runtime(props.get("Runtime"))
                artifact = self._build(str(props["Code"]), runtime, path)
                props["Code"] = {"S3Bucket": ARTIFACT_BUCKET, "S3Key": artifact.key}
                handler = ("Resources", logical_id, "Properties", "Handler")
                self._check_handler(props.get("Handler"), handler, runtime, artifact, props.get("Layers"))
            elif kind == "AWS::Lambda::LayerVersion" and _is_local(props.get("Content")):
                path = ("Resources", logical_id, "Properties", "Content")
                artifact = self._build(str(props["Content"]), None, path)
                props["Content"] = {"S3Bucket": ARTIFACT_BUCKET, "S3Key": artifact.key}
        if _is_local(global_uri):  # every function now names its own artifact
            del globals_fn["CodeUri"]
        if self.errors:
            raise ProjectError(self.errors)

    def _function(
        self, logical_id: str, props: dict[str, Any], global_uri: Any, globals_fn: dict[str, Any]
    ) -> None:
        if props.get("PackageType") == "Image" or props.get("ImageUri") is not None:
            key = "PackageType" if "PackageType" in props else "ImageUri"
            where = self.doc.where(("Resources", logical_id, "Properties", key))
            self.errors.append(
                Problem("error", where, "container images are not supported: zip packages only")
            )
            return
        if props.get("InlineCode") is not None:
            return
        path: tuple[str, ...]
        if "CodeUri" in props:
            uri, path = props["CodeUri"], ("Resources", logical_id, "Properties", "CodeUri")
        elif global_uri is not None:
            uri, path = global_uri, ("Globals", "Function", "CodeUri")
        else:
            uri, path = ".", ("Resources", logical_id)
        if not _is_local(uri):
            if not isinstance(uri, (str, dict)):
                self.errors.append(
                    Problem("error", self.doc.where(path), "CodeUri must be a path or an S3 location")
                )
            return
        runtime = self._runtime(props.get("Runtime", globals_fn.get("Runtime")))
        artifact = self._build(str(uri), runtime, path)
        props["CodeUri"] = _s3_uri(artifact)
        fn_path = ("Resources", logical_id, "Properties")
        handler_path = (*fn_path, "Handler") if "Handler" in props else ("Globals", "Function", "Handler")
        layers = props.get("Layers") or globals_fn.get("Layers")  # SAM adds the Globals' to a function's
        self._check_handler(
            props.get("Handler", globals_fn.get("Handler")), handler_path, runtime, artifact, layers
        )

    def _check_handler(
        self, handler: Any, path: tuple[str, ...], runtime: str | None, artifact: Artifact, layers: Any
    ) -> None:
        """An error if `handler`'s file is not in `artifact` (a warning if Layers may provide it)."""
        if not isinstance(handler, str) or not runtime or not artifact.sha256:
            return  # an intrinsic, no runtime known, or code that could not be built (already an error)
        problem = package.handler_problem(
            handler, runtime, artifact, artifact.source, left_out_hint=_LEFT_OUT_HINT
        )
        if problem is None:
            return
        if layers:
            message = f"{problem}: deployed all the same, as one of its Layers may provide it"
            self.warnings.append(Problem("warning", self.doc.where(path), message))
        else:
            self.errors.append(Problem("error", self.doc.where(path), problem))

    def _runtime(self, value: Any) -> str | None:
        if isinstance(value, dict) and isinstance(value.get("Ref"), str):
            value = self.parameters.get(value["Ref"])
        return value if isinstance(value, str) else None

    def _build(self, uri: str, runtime: str | None, path: tuple[str, ...]) -> Artifact:
        source = (self.root / uri).resolve()
        cached = self._built.get((source, runtime))
        if cached is not None:
            return cached
        where = self.doc.where(path)
        if not source.exists():
            self.errors.append(Problem("error", where, f"{uri}: no such file or directory ({source})"))
            return _placeholder(source)
        template = self.doc.file.resolve()
        try:
            if source.is_dir():
                exclude = [template.relative_to(source).as_posix()] if template.is_relative_to(source) else []
                artifact = package.build_artifact(
                    source, list(EXCLUDES), runtime or "", exclude=exclude, where=where
                )
            elif source.suffix.lower() in {".zip", ".jar"}:
                artifact = package.artifact_from_zip(source)
            else:
                self.errors.append(Problem("error", where, f"{uri}: code must be a directory or a .zip file"))
                return _placeholder(source)
        except ProjectError as e:  # collected, so that every function's problems are reported at once
            self.errors.extend(e.problems)
            return _placeholder(source)
        self._built[(source, runtime)] = artifact
        self.artifacts[artifact.key] = artifact
        watched = source if source.is_dir() else source.parent
        if watched not in self.watch:
            self.watch.append(watched)
        return artifact


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_local(value: Any) -> bool:
    """A path on disk: a string that is no S3 or HTTPS URI (an intrinsic or a {Bucket, Key} is not)."""
    return isinstance(value, str) and not value.startswith(("s3://", "https://", "http://"))


def _s3_uri(artifact: Artifact) -> str:
    return f"s3://{ARTIFACT_BUCKET}/{artifact.key}"


def _placeholder(source: Path) -> Artifact:
    """Stands in for code that could not be built, so every error is collected before raising."""
    return Artifact(key="missing.zip", zip_bytes=b"", source=source, sha256="")
