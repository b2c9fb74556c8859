"""Plan an environment's file system view: its private /tmp and its read-only code directory.

`probe_candidates()` lists the mount set-ups to try, best first; the sandbox keeps the first one a
probe child manages as a `MountSupport`, whose `plan()` becomes the spawner's ``"mount"`` plan for
each environment (`lambdabox.lambda_.sandbox_spawner` performs it in the child).

Ephemeral storage and the code directory: when the kernel lets us (root, or an unprivileged user
namespace elsewhere), the child gets a private mount namespace (propagation set to private so
nothing leaks back): a ``tmpfs`` of ``size=<ephemeral_mb>m`` mounted on ``/tmp`` itself, so the
function sees a private, size-limited ``/tmp`` as on Lambda, and ``cwd`` bind-mounted read-only onto
itself. Mounts die with the namespace, so nothing is left mounted after the env ends. When the
spawn needs something under the host's ``/tmp`` (a path in its cwd, argv or environment, e.g. a
data dir or an install made with ``mktemp -d``, see `host_tmp_dirs`), those top-level ``/tmp``
entries are bound back, read-only, into the private ``/tmp`` at their own paths; the rest of the
host's ``/tmp`` is not visible and the function writes only to its own tmpfs. ``TMPDIR`` is set to whichever path the child should use
(a ``TMPDIR`` in the spec wins). Trade-off: tmpfs pages count against the env's memory limit,
whereas Lambda's /tmp is disk; ``tmp_storage="disk"`` uses a plain per-env directory instead
(bind-mounted on ``/tmp`` when possible; its size is then not enforced). Without mount namespaces:
a plain per-env directory with ``TMPDIR`` set, and the code directory's files are chmod'ed
read-only once (`chmod_readonly`, which does not stop root).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

MountKind = Literal["root", "userns"]


@dataclass(frozen=True)
class MountSupport:
    """What a child may do in a private mount namespace, as proved by a probe."""

    kind: MountKind  # "root": a plain mount namespace; "userns": inside a user namespace
    tmpfs: bool  # a size-limited tmpfs can be mounted (else a per-env directory is used)
    private_tmp: bool  # it can be mounted on /tmp itself (else on the env's tmp dir)

    def plan(
        self, tmpfs_mb: int, tmp_dir: str, private: bool, code_dir: str, keep: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The spawner's mount plan: /tmp (`private`) or `tmp_dir` backed by a tmpfs of
        `tmpfs_mb` (when supported) or by `tmp_dir`; the host directories `keep` (under /tmp)
        bound back into a private /tmp; `code_dir` read-only."""
        return {
            "userns": self.kind == "userns",
            "tmpfs_mb": tmpfs_mb if self.tmpfs else None,
            "tmp_dir": tmp_dir,
            "tmp_target": "/tmp" if private else tmp_dir,
            "keep": list(keep) if private else [],
            "ro": [*(keep if private else ()), code_dir],
        }


def probe_candidates(
    tmp_storage: Literal["tmpfs", "disk"], tmp: Path, code: Path
) -> Iterator[tuple[MountSupport, dict[str, Any]]]:
    """Set-ups to probe, best first, each with a mount plan over the scratch dirs `tmp`, `code`."""
    kinds: list[MountKind] = ["root", "userns"] if os.geteuid() == 0 else ["userns"]
    tmpfs_options = [True, False] if tmp_storage == "tmpfs" else [False]
    for kind in kinds:
        for tmpfs, private in itertools.product(tmpfs_options, (True, False)):
            support = MountSupport(kind, tmpfs, private)
            yield support, support.plan(1, str(tmp), private, str(code), host_tmp_dirs([], {}, str(code)))


def describe(support: MountSupport | None) -> str:
    """One line for the start-up log."""
    if support is None:
        return "none (plain tmp dir, TMPDIR set; code dir chmod'ed read-only)"
    tmp = "tmpfs sized by EphemeralStorage" if support.tmpfs else "per-env directory"
    where = "on a private /tmp" if support.private_tmp else "on the env's tmp dir"
    via = "user namespace" if support.kind == "userns" else "mount namespace"
    return f"{via}: {tmp} {where}, read-only code dir"


def host_tmp_dirs(argv: Sequence[str], env: Mapping[str, str], cwd: str) -> list[str]:
    """The host directories under /tmp that the child may need, bound back (read-only) into its
    private /tmp: the top-level /tmp entry of every path in its cwd, argv or environment values
    (an install or data dir made with `mktemp -d`, a virtualenv a bootstrap script calls, ...)."""
    values = [cwd, *argv, *(v for k, v in env.items() if k != "TMPDIR")]
    if argv and os.path.isabs(argv[0]):
        values.append(os.path.realpath(argv[0]))
    tops: set[str] = set()
    for value in values:
        for token in re.split(r"[:=\s,;]", value):
            if token.startswith("/tmp/"):
                top = "/tmp/" + token[len("/tmp/") :].split("/", 1)[0]
                if top != "/tmp/" and os.path.isdir(top):
                    tops.add(top)
    return sorted(tops)


def chmod_readonly(top: Path) -> None:
    """Without mount namespaces: take write permission off the code files (dirs left alone so
    the owner can still delete the tree)."""
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            p = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                st = os.lstat(p)
                if not os.path.islink(p):
                    os.chmod(p, st.st_mode & ~0o222)
