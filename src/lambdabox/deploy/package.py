"""Code artifacts: a project directory zipped as the Serverless Framework packages it, deterministically.

`build_artifact(root, patterns, runtime)` zips every file under `root`, less the Framework's default
excludes (`.git/**`, `.gitignore`, `.DS_Store`, `npm-debug.log`, `yarn-*.log`, `.serverless/**`,
`.serverless_plugins/**`, and lambdabox's own `.lambdabox/**`) and, for Node.js, the packages
package-lock.json marks `dev` (the Framework's excludeDevDependencies); then `patterns` apply in
order, as `package.patterns` do: `!glob` takes matching files out, `glob` puts matching files (back)
in. Globs are relative to `root`: `*` and `?` stay within a path segment, `**` crosses them, `{a,b}`
alternates, dot files match; a glob that names a directory names everything under it.

The zip is deterministic (sorted entries, fixed timestamps and modes), so the same files give the
same SHA-256 and so the same S3Key: redeploying unchanged code changes nothing.

Node.js: a package.json with `dependencies` but no node_modules is an error before anything deploys
(the project's own node_modules is packaged as it is). Python: a requirements.txt is installed once
with `pip install -r requirements.txt --target .lambdabox/requirements/<sha256 of the file>` and
reused until the file changes; its files are merged into the zip under the project's own.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from lambdabox.deploy.project import Artifact, Problem, ProjectError, Where

DEFAULT_EXCLUDES: tuple[str, ...] = (
    "!.git/**",
    "!.gitignore",
    "!.DS_Store",
    "!npm-debug.log",
    "!yarn-*.log",
    "!.serverless/**",
    "!.serverless_plugins/**",
    "!.lambdabox/**",
)
CACHE_DIR = ".lambdabox"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def build_artifact(
    root: Path, patterns: Sequence[str], runtime: str, *, exclude: Sequence[str] = ()
) -> Artifact:
    """Zips `root` with `patterns` (see the module docstring); `exclude` adds files to leave out
    (such as the project file itself), before `patterns` so that they can put them back."""
    root = root.resolve()
    if not root.is_dir():
        raise ProjectError([Problem("error", Where(str(root)), "code directory not found")])
    if runtime.startswith("nodejs"):
        _check_node_modules(root)
    files = sorted(
        select_files(
            root,
            [
                *DEFAULT_EXCLUDES,
                *_dev_dependency_excludes(root, runtime),
                *(f"!{p}" for p in exclude),
                *patterns,
            ],
        )
    )
    entries: dict[str, Path] = {}
    if runtime.startswith("python") and (root / "requirements.txt").is_file():
        deps = install_requirements(root)
        for rel in sorted(_walk(deps)):
            entries[rel] = deps / rel
    for rel in files:
        entries[rel] = root / rel
    data = _zip(entries)
    digest = hashlib.sha256(data).hexdigest()
    return Artifact(key=f"{digest}.zip", zip_bytes=data, source=root, sha256=digest)


def artifact_from_zip(path: Path) -> Artifact:
    """A prebuilt zip (`package.artifact`), used as it is."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ProjectError([Problem("error", Where(str(path)), f"cannot read artifact: {e}")]) from e
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ProjectError([Problem("error", Where(str(path)), "artifact is not a zip file")])
    digest = hashlib.sha256(data).hexdigest()
    return Artifact(key=f"{digest}.zip", zip_bytes=data, source=path, sha256=digest)


def select_files(root: Path, patterns: Iterable[str]) -> set[str]:
    """The files (paths relative to root, with /) that `patterns` keep, starting from all of them."""
    every = sorted(_walk(root))
    chosen = set(every)
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        rx = glob_regex(pattern)
        matched = {f for f in every if _matches(rx, f)}
        if negate:
            chosen -= matched
        else:
            chosen |= matched
    return chosen


def _matches(rx: re.Pattern[str], rel: str) -> bool:
    if rx.fullmatch(rel):
        return True
    parts = rel.split("/")
    return any(rx.fullmatch("/".join(parts[:i])) for i in range(1, len(parts)))


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob (`*`, `?`, `**`, `[...]`, `{a,b}`) as a regex over /-separated relative paths."""
    p = pattern.strip()
    while p.startswith("./"):
        p = p[2:]
    p = p.rstrip("/") or "**"
    out: list[str] = []
    i = 0
    depth = 0  # inside {...}
    while i < len(p):
        c = p[i]
        if p.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if p.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = p.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = p[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    out.append(")" * depth)
    return re.compile("".join(out))


_PRUNED = frozenset({".git", CACHE_DIR, ".serverless"})  # never packaged: not even walked


def _walk(root: Path) -> Iterable[str]:
    """Every file under root (symlinks followed once, cycles skipped), relative with /."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not (dirpath == str(root) and d in _PRUNED))
        base = Path(dirpath)
        for name in filenames:
            full = base / name
            if full.is_file():
                yield full.relative_to(root).as_posix()


def _zip(entries: dict[str, Path]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for rel in sorted(entries):
            path = entries[rel]
            info = zipfile.ZipInfo(rel, date_time=_ZIP_TIME)
            info.create_system = 3  # unix, so the modes below are read
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=1)  # fast: the zip is rebuilt on every save
    return buf.getvalue()


def _check_node_modules(root: Path) -> None:
    manifest = root / "package.json"
    if not manifest.is_file():
        return
    try:
        deps = json.loads(manifest.read_text(encoding="utf-8")).get("dependencies") or {}
    except (OSError, ValueError, AttributeError) as e:
        raise ProjectError([Problem("error", Where(str(manifest)), f"cannot read package.json: {e}")]) from e
    missing = [name for name in deps if not (root / "node_modules" / name).is_dir()]
    if missing:
        shown = ", ".join(sorted(missing)[:5]) + (" ..." if len(missing) > 5 else "")
        raise ProjectError(
            [
                Problem(
                    "error",
                    Where(str(manifest), None, "dependencies"),
                    f"node_modules is missing {shown}: run `npm ci` (or `npm install`) in {root} first",
                )
            ]
        )


def _dev_dependency_excludes(root: Path, runtime: str) -> list[str]:
    """`!node_modules/<pkg>/**` for each package package-lock.json marks dev-only."""
    lock = root / "package-lock.json"
    if not runtime.startswith("nodejs") or not lock.is_file():
        return []
    try:
        packages = json.loads(lock.read_text(encoding="utf-8")).get("packages") or {}
    except (OSError, ValueError, AttributeError):
        return []
    return [
        f"!{key}/**"
        for key, meta in sorted(packages.items())
        if key and isinstance(meta, dict) and meta.get("dev")
    ]


def install_requirements(root: Path) -> Path:
    """Installs root/requirements.txt once per content into .lambdabox/requirements/<sha256>/."""
    req = root / "requirements.txt"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    base = root / CACHE_DIR / "requirements"
    target = base / digest
    if target.is_dir():
        return target
    base.mkdir(parents=True, exist_ok=True)
    partial = base / f".{digest}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
        "--target", str(partial), "-r", str(req),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(partial, ignore_errors=True)
        raise ProjectError([Problem("error", Where(str(req)), f"pip install failed: {e}")]) from e
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ProjectError(
            [
                Problem(
                    "error",
                    Where(str(req)),
                    f"pip install -r requirements.txt failed (exit {done.returncode}):\n{tail}",
                )
            ]
        )
    for stale in base.iterdir():  # keep only the install of the current file
        if stale.is_dir() and stale.name not in (digest, partial.name):
            shutil.rmtree(stale, ignore_errors=True)
    partial.rename(target)
    return target
