"""Finds the AWS SDK sets that functions get without packaging them, as on Lambda, and their versions.

`scripts/install-runtime-sdks.sh DIR` (run by `make run` / `make test` into the venv) installs them:
``DIR/python`` holds boto3, botocore and their dependencies (a ``pip --target`` directory, pure Python,
one set for every python3.x runtime), ``DIR/nodejs/node_modules`` the AWS SDK for JavaScript v3. The
invoker puts them on the environments' ``PYTHONPATH`` and ``NODE_PATH``. A missing set is ``None``:
functions then cannot import the SDK unless they package it, and the server says so once at start.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

INSTALL_COMMAND = "scripts/install-runtime-sdks.sh {dir}  (run by `make run` and `make test`)"


def default_dir() -> Path:
    """Where the install step puts the sets: inside the Python environment lambdabox runs from."""
    return Path(sys.prefix) / "share" / "lambdabox" / "runtime-sdk"


@dataclass(frozen=True)
class RuntimeSdk:
    """The installed SDK sets (host paths) and the versions they carry."""

    root: Path
    python: Path | None  # the --target directory with boto3/botocore, or None when not installed
    node_modules: Path | None  # node_modules with @aws-sdk/*, or None when not installed
    boto3_version: str | None = None
    botocore_version: str | None = None
    node_sdk_version: str | None = None  # the version of @aws-sdk/client-lambda

    def missing(self) -> list[str]:
        """The sets that are not installed: "python", "nodejs"."""
        return [name for name, got in (("python", self.python), ("nodejs", self.node_modules)) if got is None]

    def missing_warning(self) -> str | None:
        """One line for the server log when a set is missing, naming the install command."""
        missing = self.missing()
        if not missing:
            return None
        return (
            f"the AWS SDK bundled for {' and '.join(missing)} functions is not installed in {self.root}: "
            "functions that do not package it cannot import it; install it with "
            + INSTALL_COMMAND.format(dir=self.root)
        )

    def versions(self) -> dict[str, dict[str, str] | None]:
        """For the health endpoint: {"python": {"boto3": ..., "botocore": ...}, "nodejs": {...}}."""
        python = None
        if self.python is not None:
            python = {"boto3": self.boto3_version or "?", "botocore": self.botocore_version or "?"}
        node = None
        if self.node_modules is not None:
            node = {"@aws-sdk/client-lambda": self.node_sdk_version or "?"}
        return {"python": python, "nodejs": node}


def find_runtime_sdk(override: Path | None = None) -> RuntimeSdk:
    """The SDK sets under `override` (Settings.runtime_sdk_dir) or the default directory."""
    root = (override or default_dir()).expanduser().absolute()
    python: Path | None = root / "python"
    boto3_version = _dist_version(root / "python", "boto3")
    botocore_version = _dist_version(root / "python", "botocore")
    if boto3_version is None or botocore_version is None:
        python = None
    node_modules: Path | None = root / "nodejs" / "node_modules"
    node_sdk_version = _package_version(root / "nodejs" / "node_modules", "@aws-sdk/client-lambda")
    if node_sdk_version is None:
        node_modules = None
    return RuntimeSdk(root, python, node_modules, boto3_version, botocore_version, node_sdk_version)


def _dist_version(target: Path, name: str) -> str | None:
    """The version of distribution `name` installed in the pip --target directory `target`."""
    if not target.is_dir():
        return None
    for dist in metadata.distributions(name=name, path=[str(target)]):
        return dist.version
    return None


def _package_version(node_modules: Path, name: str) -> str | None:
    try:
        doc = json.loads((node_modules / name / "package.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    version = doc.get("version") if isinstance(doc, dict) else None
    return version if isinstance(version, str) else None
