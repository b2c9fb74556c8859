"""The merged layers tree of a function version: what its environments see at /opt.

Lambda extracts a function's layers in order into /opt, a later layer's files replacing an
earlier one's. Here that tree is built once per distinct list of layers, from their unpacked
trees in the code store, under `<data dir>/opt/<merge key>/`, where the merge key is the SHA-256
of the layers' code keys in order (content-addressed: functions with the same layers share it).
Files are hard links to the layers' unpacked files (copies across file systems); symlinks are
kept as symlinks and never written through (a later layer's directory replaces an earlier one's
symlink or file of the same name, and a later file or symlink replaces whatever was there).

Building is blocking (call `ensure` from a worker thread) and atomic: a private work directory
published with one `os.replace`. A tree is kept while a function configuration names its layers
(`referenced`, from the Lambda service's records) or an environment uses it (`hold`/`release`);
`collect()` removes the others, and the leftovers of an interrupted build.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import stat
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from lambdabox.lambda_.code import CodeStore

_TREE = re.compile(r"\.?([0-9a-f]{64})(?:\.(?:build|trash).*)?")


def merge_key(code_keys: Sequence[str]) -> str:
    """The name of the merged tree of these layers (in this order)."""
    return hashlib.sha256("\n".join(code_keys).encode()).hexdigest()


class LayerTrees:
    """Builds, shares and removes merged /opt trees."""

    def __init__(self, root: Path, code: CodeStore, referenced: Callable[[], set[str]] | None = None) -> None:
        """`referenced()`: the merge keys function configurations name now (all kept)."""
        self.root = root
        self._code = code
        self.referenced = referenced or set
        self._holds: Counter[str] = Counter()
        root.mkdir(parents=True, exist_ok=True)

    def path(self, code_keys: Sequence[str]) -> Path:
        return self.root / merge_key(code_keys)

    def ensure(self, code_keys: Sequence[str]) -> Path:
        """The merged tree of these layers, built (and the layers unpacked) if missing (blocking)."""
        dest = self.path(code_keys)
        if dest.is_dir():
            return dest
        trees = [self._code.unpack(key) for key in code_keys]
        work = self.root / f".{dest.name}.build{secrets.token_hex(4)}"
        work.mkdir(mode=0o755)
        try:
            for tree in trees:
                _merge_into(work, tree)
            os.chmod(work, 0o755)
            try:
                os.replace(work, dest)
            except OSError:
                if not dest.is_dir():
                    raise
                shutil.rmtree(work, ignore_errors=True)  # another thread built it first
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return dest

    # -- lifetime ----------------------------------------------------------------------------
    def hold(self, key: str) -> None:
        self._holds[key] += 1

    def release(self, key: str) -> None:
        self._holds[key] -= 1
        if self._holds[key] <= 0:
            del self._holds[key]

    async def collect(self, *, at_start: bool = False) -> int:
        """Remove the trees nothing names or holds now, and leftovers of removals (and `at_start`,
        of interrupted builds). Deciding and renaming the doomed trees away happen on the event
        loop thread, with no await between them: a hold taken later finds the tree gone and builds
        it again. Returns how many went."""
        keep = self.referenced() | set(self._holds)
        trash: list[Path] = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.root) as it:
            entries = [entry.name for entry in it]
        for name in entries:
            m = _TREE.fullmatch(name)
            if m is None or (".build" in name and not at_start):
                continue
            if name.startswith("."):
                trash.append(self.root / name)
            elif m.group(1) not in keep:
                moved = self.root / f".{name}.trash{secrets.token_hex(4)}"
                with contextlib.suppress(FileNotFoundError):
                    os.replace(self.root / name, moved)
                    trash.append(moved)
        if trash:
            await asyncio.to_thread(_remove_all, trash)
        return len(trash)


def _remove_all(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _remove_entry(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _merge_into(dest: Path, tree: Path) -> None:
    """Copy `tree` over `dest` (hard links where possible), later entries replacing earlier ones,
    never following a symlink of either."""
    for dirpath, dirnames, filenames in os.walk(tree):
        rel = os.path.relpath(dirpath, tree)
        out = str(dest) if rel == "." else os.path.join(dest, rel)
        for name in [*dirnames, *filenames]:
            src = os.path.join(dirpath, name)
            dst = os.path.join(out, name)
            st = os.lstat(src)
            if stat.S_ISDIR(st.st_mode):
                if os.path.lexists(dst) and (os.path.islink(dst) or not os.path.isdir(dst)):
                    _remove_entry(dst)
                if not os.path.lexists(dst):
                    os.mkdir(dst, 0o755)
                    os.chmod(dst, 0o755)
                continue
            if os.path.lexists(dst):
                _remove_entry(dst)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(src), dst)
            else:
                try:
                    os.link(src, dst, follow_symlinks=False)
                except OSError:
                    shutil.copy2(src, dst, follow_symlinks=False)
