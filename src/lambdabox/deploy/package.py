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

Symlinks are followed, as the Framework's packager (globby `follow: true`) and SAM CLI's
(`os.walk(followlinks=True)`) follow them: a file is packaged under every path that reaches it, so
pnpm's `node_modules/leftpad -> .pnpm/leftpad@1.0.0/node_modules/leftpad` is in the zip under both
names, and a link to a directory outside the project brings that directory's files. Only a cycle is
skipped: a directory that is its own ancestor (by real path) is not walked again.

Size: Lambda refuses code that is more than 262,144,000 bytes unzipped (AccountLimit CodeSizeUnzipped,
https://docs.aws.amazon.com/lambda/latest/api/API_AccountLimit.html), and the lambdabox server refuses
zips of more than 100,000 entries; packaging stops as soon as the files selected pass either bound, with
a ProjectError naming the file that did and the size so far, before any file is read.

`handler_problem` says why a handler (`file.export`) cannot be loaded from an artifact: its module
file is not in the zip (Node.js: .js/.mjs/.cjs; Python: .py or a package's __init__.py).
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
from collections.abc import Iterable, Iterator, Sequence
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
CODE_SIZE_UNZIPPED = 262_144_000  # bytes: AWS's AccountLimit.CodeSizeUnzipped (250 MB)
MAX_FILES = 100_000  # entries of a zip the lambdabox server accepts (lambda_/code.py MAX_ENTRIES)
MAX_WALKED = 1_000_000  # files looked at under one directory (selected or not): a symlink maze stops
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def build_artifact(
    root: Path,
    patterns: Sequence[str],
    runtime: str,
    *,
    exclude: Sequence[str] = (),
    where: Where | None = None,
) -> Artifact:
    """Zips `root` with `patterns` (see the module docstring); `exclude` adds files to leave out
    (such as the project file itself), before `patterns` so that they can put them back. `where`
    (the key that names the code, e.g. a CodeUri) is where a package too big is reported."""
    root = root.resolve()
    if not root.is_dir():
        raise ProjectError([Problem("error", Where(str(root)), "code directory not found")])
    if runtime.startswith("nodejs"):
        _check_node_modules(root)
    budget = _Budget(root, where or Where(str(root)))
    entries: dict[str, Path] = {}
    if runtime.startswith("python") and (root / "requirements.txt").is_file():
        deps = install_requirements(root)
        for rel, size in _walk(deps, budget):
            budget.add(rel, size)
            entries[rel] = deps / rel
    everything = [
        *DEFAULT_EXCLUDES,
        *_dev_dependency_excludes(root, runtime),
        *(f"!{p}" for p in exclude),
        *patterns,
    ]
    for rel, size in _select(root, everything, budget):
        budget.add(rel, size)
        entries[rel] = root / rel
    data = _zip(entries)
    digest = hashlib.sha256(data).hexdigest()
    return Artifact(key=f"{digest}.zip", zip_bytes=data, source=root, sha256=digest)


class _Budget:
    """The files chosen so far for one package and their size; raises once past Lambda's limits."""

    def __init__(self, root: Path, where: Where) -> None:
        self.root = root
        self.where = where
        self.sizes: dict[str, int] = {}
        self.total = 0
        self.walked = 0

    def add(self, rel: str, size: int) -> None:
        self.total += size - self.sizes.get(rel, 0)  # a project file replaces a requirement's
        self.sizes[rel] = size
        if self.total > CODE_SIZE_UNZIPPED:
            self._fail(
                f"the code in {self.root} is more than Lambda's limit of {CODE_SIZE_UNZIPPED:,} bytes "
                f"unzipped (CodeSizeUnzipped): at least {self.total:,} bytes once {rel} ({size:,} bytes) "
                "is in; leave files out of the package or package a smaller directory"
            )
        if len(self.sizes) > MAX_FILES:
            self._fail(
                f"the code in {self.root} is more than {MAX_FILES:,} files (at {rel}); "
                "leave files out of the package or package a smaller directory"
            )

    def look(self, rel: str) -> None:
        self.walked += 1
        if self.walked > MAX_WALKED:
            self._fail(
                f"{self.root} holds more than {MAX_WALKED:,} files, counting every path through "
                f"symlinks (at {rel}): package a smaller directory"
            )

    def _fail(self, message: str) -> None:
        raise ProjectError([Problem("error", self.where, message)])


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
    return {rel for rel, _ in _select(root, list(patterns), _Budget(root, Where(str(root))))}


def _select(root: Path, patterns: Sequence[str], budget: _Budget) -> Iterator[tuple[str, int]]:
    """Each file (and its size) that `patterns` keep, as it is found: the last pattern that matches
    a file decides (`!glob` out, `glob` in), and a file no pattern matches is in."""
    compiled = [
        (raw.startswith("!"), glob_regex(raw[1:] if raw.startswith("!") else raw)) for raw in patterns
    ]
    for rel, size in _walk(root, budget):
        chosen = True
        for negate, rx in compiled:
            if chosen == negate and _matches(rx, rel):
                chosen = not negate
        if chosen:
            yield rel, size


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


def _walk(root: Path, budget: _Budget) -> Iterator[tuple[str, int]]:
    """Every file under root and its size, relative with / (see the module docstring: symlinks are
    followed, a directory that is its own ancestor is not walked again)."""
    stack: list[tuple[str, frozenset[str]]] = [("", frozenset())]
    while stack:
        rel, ancestors = stack.pop()
        path = os.path.join(root, rel) if rel else str(root)
        real = os.path.realpath(path)
        if real in ancestors:  # a symlink back to a directory above: a cycle
            continue
        lineage = ancestors | {real}
        try:
            with os.scandir(path) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs: list[str] = []
        for entry in children:
            if not rel and entry.name in _PRUNED:
                continue
            child = f"{rel}{entry.name}"
            budget.look(child)
            try:
                if entry.is_dir():  # follows a symlink
                    subdirs.append(f"{child}/")
                elif entry.is_file():
                    yield child, entry.stat().st_size
            except OSError:  # a broken link, or gone since listed
                continue
        stack.extend((d, lineage) for d in reversed(subdirs))


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


def handler_problem(
    handler: str, runtime: str, artifact: Artifact, root: Path, *, left_out_hint: str = ""
) -> str | None:
    """Why `handler` cannot load from `artifact` (built from the directory `root`), or None if it
    can or cannot be told: the module file of a Node.js (.js, .mjs, .cjs) or Python (.py, or a
    package's __init__.py; `a.b` and `a/b` are a/b.py) handler must be in the zip. Other runtimes'
    handlers are no file. `left_out_hint` follows the message when the file is on disk but left out."""
    module, dot, _ = handler.rpartition(".")
    if not dot or not module:
        return f"handler {handler!r} must be file.export (e.g. handler.main)"
    if runtime.startswith("nodejs"):
        candidates = [f"{module}{ext}" for ext in (".js", ".mjs", ".cjs")]
    elif runtime.startswith("python"):
        stem = module.replace(".", "/") if "/" not in module else module
        candidates = [f"{stem}.py", f"{stem}/__init__.py"]
    else:
        return None  # provided.*, java, ...: the handler is not a file
    names = set(zipfile.ZipFile(io.BytesIO(artifact.zip_bytes)).namelist())
    if any(c in names for c in candidates):
        return None
    if any((root / c).is_file() for c in candidates) and artifact.source == root.resolve():
        return f"handler file {candidates[0]} is left out of the package{left_out_hint}"
    return f"handler file not found: {' or '.join(candidates)}"


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
