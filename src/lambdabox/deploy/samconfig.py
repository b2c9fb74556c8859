"""A SAM project's `samconfig.toml` (what `sam deploy --guided` saved): the stack name and the
parameter overrides `sam deploy` would use, read from the `default` environment's `deploy` and
`global` tables. The command line wins over it, as in SAM CLI.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-config.html
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lambdabox.deploy.project import Problem, ProjectError, Where

ENVIRONMENT = "default"


@dataclass(frozen=True)
class SamConfig:
    stack_name: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)


def read(template: Path) -> SamConfig:
    """The settings of `samconfig.toml` beside the template (empty when there is none)."""
    path = template.parent / "samconfig.toml"
    if not path.is_file():
        return SamConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(
            [Problem("error", Where(path.name), f"cannot read samconfig.toml: {exc}")]
        ) from exc
    env = data.get(ENVIRONMENT) if isinstance(data.get(ENVIRONMENT), dict) else {}
    merged: dict[str, object] = {}
    for table in ("global", "deploy"):  # deploy's settings over the global ones
        section = env.get(table) if isinstance(env, dict) else None
        params = section.get("parameters") if isinstance(section, dict) else None
        if isinstance(params, dict):
            merged.update(params)
    stack = merged.get("stack_name")
    return SamConfig(
        stack_name=stack if isinstance(stack, str) and stack else None,
        parameters=_overrides(merged.get("parameter_overrides"), path),
    )


def _overrides(given: object, path: Path) -> dict[str, str]:
    """`parameter_overrides` as SAM CLI writes it: one string `A=1 B="two words"`, or a list."""
    items = (
        shlex.split(given)
        if isinstance(given, str)
        else [str(x) for x in given or []]
        if isinstance(given, list)
        else []
    )
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            where = Where(path.name, None, "parameter_overrides")
            raise ProjectError([Problem("error", where, f"expected Key=Value, not {item!r}")])
        out[key] = value
    return out
