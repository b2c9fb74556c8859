"""Parameter values a stack was last deployed with, kept for the next deploy as `sam deploy` keeps
them (UsePreviousValue): a parameter not given with `--param` takes its previous value rather than
the template's Default. Kept in the project's `.lambdabox/parameters-<stack>.json` (CloudFormation
keeps them in the stack; lambdabox has no CloudFormation service to keep them in)."""

from __future__ import annotations

import json
import re
from pathlib import Path


def _file(project_file: Path, stack: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9-]+", "-", stack)[:128] or "stack"
    return project_file.parent / ".lambdabox" / f"parameters-{safe}.json"


def load(project_file: Path, stack: str) -> dict[str, str]:
    """The values the stack was last deployed with ({} when none are known)."""
    try:
        data = json.loads(_file(project_file, stack).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save(project_file: Path, stack: str, values: dict[str, str]) -> None:
    """Remember the values a deploy used (best effort: a read-only project just forgets)."""
    path = _file(project_file, stack)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    except OSError:
        pass


def forget(project_file: Path, stack: str) -> None:
    """Forget them (the stack was removed)."""
    _file(project_file, stack).unlink(missing_ok=True)
