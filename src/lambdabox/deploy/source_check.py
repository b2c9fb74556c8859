"""Before a `--watch` reload: a saved Python or JavaScript file that does not even parse is reported
(file, line, message) and not deployed, so the last good code keeps serving. Python files are
compiled here; JavaScript ones are checked with `node --check` when Node.js is on PATH."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

_JS = (".js", ".cjs", ".mjs")


def problems(files: set[Path]) -> list[str]:
    """`file:line: message` for each changed source file that does not parse."""
    out: list[str] = []
    node = shutil.which("node")
    for path in sorted(files):
        if not path.is_file():
            continue
        if path.suffix == ".py":
            try:
                compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
            except SyntaxError as exc:
                out.append(f"{path}:{exc.lineno or 0}: {exc.msg}")
            except (ValueError, OSError) as exc:
                out.append(f"{path}: {exc}")
        elif path.suffix in _JS and node is not None:
            try:
                run = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if run.returncode != 0:
                lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
                message = next(
                    (ln for ln in lines if "Error" in ln), lines[-1] if lines else "does not parse"
                )
                first = lines[0] if lines else ""
                where = first.rsplit(":", 1)[-1] if first.startswith(str(path)) else "0"
                out.append(f"{path}:{where if where.isdigit() else 0}: {message}")
    return out
