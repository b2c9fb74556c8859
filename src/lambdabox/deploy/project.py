"""What a front end (serverless.yml, SAM) hands the engine: a plain CloudFormation template."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# Code of a function is referred to in the template as S3 code would be, {"S3Bucket": ARTIFACT_BUCKET,
# "S3Key": <Artifact.key>}: the engine looks the key up in Project.artifacts and uploads the zip
# with the Lambda API itself (there is no S3 to stage it in).
ARTIFACT_BUCKET = "lambdabox-deploy-artifacts"


@dataclass(frozen=True)
class Where:
    """A place in a project file, for messages: `serverless.yml:12: functions.hello.handler`."""

    file: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{place}: {self.key}" if self.key else place


@dataclass(frozen=True)
class Problem:
    """A warning (something not supported, skipped and said so) or an error (nothing deploys)."""

    level: Literal["warning", "error"]
    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.level}: {self.message}"


class ProjectError(Exception):
    """The project cannot be deployed; `problems` name file, line and key for each reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Artifact:
    """A function's code package: zip bytes and their SHA-256 (hex), which is also its S3Key."""

    key: str  # "<sha256>.zip"
    zip_bytes: bytes
    source: Path  # the directory (or file) it was built from
    sha256: str


@dataclass
class Project:
    """A compiled project: a CloudFormation template without Transform, ready for the engine."""

    stack_name: str
    template: dict[str, Any]  # Parameters, Conditions, Resources, Outputs (plain CloudFormation)
    parameters: dict[str, str] = field(default_factory=dict)  # values given for Parameters
    artifacts: dict[str, Artifact] = field(default_factory=dict)  # S3Key -> Artifact
    problems: list[Problem] = field(default_factory=list)  # warnings (errors raise ProjectError)
    source: Path | None = None  # the project file
    watch: list[Path] = field(default_factory=list)  # directories whose changes mean new code
    region: str = "us-east-1"
    #: logical id -> the line of the project file it comes from (for the engine's messages)
    lines: dict[str, int] = field(default_factory=dict)


def source_lines(logical_ids: list[str], known: dict[str, int]) -> dict[str, int]:
    """The line of each logical id: its own (`known`: what the file names, e.g. `Resources.X` or a
    function), else that of the longest known name it starts with (case-insensitive), as generated
    resources are named after what generated them (`HelloFunctionRole`, `ApiLambdaFunction`)."""
    by_len = sorted(known, key=len, reverse=True)
    out: dict[str, int] = {}
    for lid in logical_ids:
        if lid in known:
            out[lid] = known[lid]
            continue
        low = lid.lower()
        found = next((k for k in by_len if k and low.startswith(k.lower())), None)
        if found is not None:
            out[lid] = known[found]
    return out
