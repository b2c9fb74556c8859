"""The operations the cgroup code does on a cgroup filesystem and its members, as one object.

A cgroupfs is not a plain file system: ``mkdir`` makes a cgroup with its interface files,
``rmdir`` removes one (EBUSY while it holds processes or children), a write is a command, and
some files refuse to be opened for writing. cgroups.py and `spawner.remove_cgroup_tree` do every
such operation (and the signals they send to a cgroup's members) through a `CgroupFs`, so that a
test can hand them a fake that builds a cgroupfs tree in a plain directory and refuses what the
kernel refuses. `REAL_FS` is the kernel's; listing directories and finding the hierarchies
(/proc, mountinfo) stay plain file-system reads. Light standard library only: the spawner imports
this module.
"""

from __future__ import annotations

import os

from lambdabox.lambda_.sandbox.confine import write_file


class CgroupFs:
    """The kernel's cgroupfs (subclass it for a fake)."""

    def write(self, path: str | os.PathLike[str], value: str) -> None:
        """One write(2) of `value`; the file must exist (no O_CREAT: the kernel made it)."""
        write_file(path, value)

    def read(self, path: str | os.PathLike[str]) -> str:
        with open(path) as f:
            return f.read()

    def open(self, path: str | os.PathLike[str], flags: int) -> int:
        """A file descriptor kept open (memory.peak: a reset is seen through its own fd only)."""
        return os.open(path, flags)

    def mkdir(self, path: str | os.PathLike[str], exist_ok: bool = False) -> None:
        try:
            os.mkdir(path)
        except FileExistsError:
            if not (exist_ok and os.path.isdir(path)):
                raise

    def rmdir(self, path: str | os.PathLike[str]) -> None:
        os.rmdir(path)

    def kill(self, pid: int, sig: int) -> None:
        """Signal a member of a cgroup (signal 0: is it alive)."""
        os.kill(pid, sig)


REAL_FS = CgroupFs()
