"""Function code: validating uploaded zips and storing them, unpacked, where no entry can escape.

Code is content-addressed under `<data dir>/code/`: `<sha256hex>.zip` is the upload as received
(fsynced before the function row that names it is committed) and `<sha256hex>/` its unpacked tree,
shared by every function with the same code. Unpacking is blocking: callers run it in a worker thread.

The rules, checked on the names and modes in `inspect_zip` (so CreateFunction / UpdateFunctionCode
answer at once) and enforced again while unpacking; a zip that breaks one gets AWS's
InvalidParameterValueException "Could not unzip uploaded file ...":

- Names: no absolute paths, no `..`, no NUL bytes; a backslash counts as a separator (zips made
  on Windows), so `..\\x` is `../x` and refused too. `a//b` and `./a` mean `a/b` and `a`.
- Kinds: regular files, directories and symlinks only. Device files, FIFOs, sockets and unknown
  file types (the S_IFMT bits of `external_attr >> 16`) are refused, and so are encrypted entries.
  Zip has no hard links, so there are none to refuse.
- Symlinks are kept as symlinks, whatever they point at, as AWS keeps them: `helper.py ->
  lib/helper.py` works, and a target like `/usr/lib/x` or `../..` resolves at run time inside the
  function's own sandbox root. What never happens is a write *through* one: every entry's parent
  components are opened one at a time relative to the previous one (`O_DIRECTORY|O_NOFOLLOW`,
  `dir_fd=`), missing directories are made there, and the entry itself is created with
  `O_EXCL|O_NOFOLLOW` (or `symlink(..., dir_fd=)`). So a parent that is a symlink (or a file), or
  an entry whose name is already taken (a duplicate file name, a file and a directory or symlink
  of the same name), fails the upload, whatever the order of the entries. A directory named twice
  is harmless and accepted.
- Sizes: the zip under 50 MB (checked by the API, which names the operation), at most 100 000
  entries, the unzipped total under 250 MB by the headers and again by the bytes really written
  (a zip bomb whose headers lie).
- Permissions: the tree belongs to the server's user (no chown); directories are 0755, files 0755
  if the zip gave them any execute bit and 0644 otherwise (setuid, setgid and sticky bits are
  dropped). Environments run as other uids and only read and execute it; nothing in it is
  group- or other-writable.

A tree is unpacked into a private work directory and published with one `os.replace`, so a crash
leaves no half tree under the real name and unpacking twice is a no-op; a zip is written to a
private temporary file and renamed into place. Removing code (`remove`, when nothing uses it any
more: `code_gc.py`) renames the tree away before deleting it, so a tree is either whole under its
name or absent. Every leftover of an interrupted write or removal is named `.<key>.<what>…`, so
`stored_keys` finds it and the collector removes it with its key.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
import io
import os
import re
import secrets
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from lambdabox.aws.errors import ServiceError, client_error

#: AWS limits (bytes)
MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 262_144_000
MAX_ENTRIES = 100_000
#: longest symlink target stored (Linux PATH_MAX)
MAX_LINK_TARGET = 4096
CONTAINER_IMAGES = "lambdabox runs Zip packages only; container images are not supported."
_UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."
_CHUNK = 1 << 16
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: what the code directory holds for a key: `<key>.zip`, `<key>/`, and leftovers `.<key>.save…`
#: (a zip being written), `.<key>.unpack…` (a tree being unpacked), `.<key>.trash…` (one being
#: removed); `<key>.tmp<pid>` is how zips were written before
_STORED = re.compile(r"\.?([0-9a-f]{64})(?:\.zip|\.tmp\d+|\.(?:save|unpack|trash).*)?")


@dataclass(frozen=True)
class CodeInfo:
    key: str  # hex sha256
    sha256_b64: str
    size: int
    entries: int = 0  # members of the zip
    unzipped: int = 0  # its unzipped size by the headers


class _Kind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"


@dataclass(frozen=True)
class _Entry:
    """One zip member as it will be unpacked."""

    info: zipfile.ZipInfo
    parts: tuple[str, ...]  # normalized relative path; empty only for a directory naming the root
    kind: _Kind
    mode: int  # final permission bits (files and directories)


def _unzip_error() -> ServiceError:
    return client_error("InvalidParameterValueException", _UNZIP_ERROR)


def _size_error(limit: int) -> ServiceError:
    return client_error("InvalidParameterValueException", f"Unzipped size must be smaller than {limit} bytes")


def inspect_zip(data: bytes, *, max_unzipped: int = MAX_UNZIPPED, max_entries: int = MAX_ENTRIES) -> CodeInfo:
    """Check an uploaded zip as AWS would, without extracting; raise AWS's error if it is bad.
    (Its own size is the request's: the caller answers that, naming the operation.)"""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise _unzip_error() from exc
    _plan(infos, max_entries)
    unzipped = sum(info.file_size for info in infos)
    if unzipped > max_unzipped:
        raise _size_error(max_unzipped)
    digest = hashlib.sha256(data).digest()
    return CodeInfo(
        key=digest.hex(),
        sha256_b64=base64.b64encode(digest).decode(),
        size=len(data),
        entries=len(infos),
        unzipped=unzipped,
    )


def zip_from(code: Mapping[str, Any]) -> bytes:
    """The zip of a Code / Content parameter (ZipFile), or AWS's answer: S3 is not available
    here (answered as AWS answers for a bucket that does not exist), nor container images."""
    if "ZipFile" in code and code["ZipFile"] is not None:
        return bytes(code["ZipFile"])
    if code.get("ImageUri"):
        raise client_error("InvalidParameterValueException", CONTAINER_IMAGES)
    if code.get("S3Bucket") or code.get("S3Key"):
        raise client_error(
            "InvalidParameterValueException",
            f"Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: "
            f"The specified bucket does not exist (bucket {code.get('S3Bucket')!s})",
        )
    raise client_error("InvalidParameterValueException", "Please provide a source for function code.")


def _safe_member_path(name: str) -> PurePosixPath:
    """The relative path a member name stands for; refuse absolute paths, `..` (zip-slip) and NULs.

    `name` is the name as stored (`ZipInfo.orig_filename`: `ZipInfo.filename` is cut at a NUL)."""
    if "\0" in name:
        raise _unzip_error()
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts:
        raise _unzip_error()
    return p


def _entry(info: zipfile.ZipInfo) -> _Entry:
    """Classify one member (kind, path, final mode), or refuse it."""
    if info.flag_bits & 0x1:  # encrypted: Lambda cannot read it either
        raise _unzip_error()
    parts = _safe_member_path(info.orig_filename).parts
    unix = info.external_attr >> 16
    ftype = stat.S_IFMT(unix)
    named_dir = info.orig_filename.replace("\\", "/").endswith("/")
    if ftype == stat.S_IFLNK and not named_dir:
        kind = _Kind.SYMLINK
    elif ftype == stat.S_IFDIR or (ftype == 0 and named_dir):
        kind = _Kind.DIR
    elif ftype in (stat.S_IFREG, 0) and not named_dir:
        kind = _Kind.FILE  # no unix type at all: a zip made elsewhere, a plain file
    else:  # devices, FIFOs, sockets, unknown types, a "dir/" that says it is a file
        raise _unzip_error()
    if not parts and kind is not _Kind.DIR:
        raise _unzip_error()
    mode = 0o755 if kind is _Kind.DIR or unix & 0o111 else 0o644
    return _Entry(info, parts, kind, mode)


def _plan(infos: Sequence[zipfile.ZipInfo], max_entries: int) -> list[_Entry]:
    """Classify every member and refuse name clashes: the same check, on names only, that the
    fd walk in `CodeStore.unpack` makes on the disk, so that both refuse the same zips."""
    if len(infos) > max_entries:
        raise _unzip_error()
    entries = [_entry(info) for info in infos]
    leaves: set[tuple[str, ...]] = set()  # files and symlinks
    dirs: set[tuple[str, ...]] = set()  # directories, named or implied by a deeper entry
    for e in entries:
        for i in range(1, len(e.parts)):
            dirs.add(e.parts[:i])
        if e.kind is _Kind.DIR:
            dirs.add(e.parts)
        elif e.parts in leaves:
            raise _unzip_error()  # duplicate file or symlink name
        else:
            leaves.add(e.parts)
    if leaves & dirs:  # something written under a file or a symlink, or both a dir and a file
        raise _unzip_error()
    return entries


class CodeStore:
    """Content-addressed code storage under one directory."""

    def __init__(
        self,
        root: Path,
        *,
        max_unzipped: int = MAX_UNZIPPED,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.root = root
        self._max_unzipped = max_unzipped
        self._max_entries = max_entries
        root.mkdir(parents=True, exist_ok=True)

    def zip_path(self, key: str) -> Path:
        return self.root / f"{key}.zip"

    def tree_path(self, key: str) -> Path:
        return self.root / key

    def save(self, info: CodeInfo, data: bytes) -> Path:
        """Durably write the zip and unpack it (blocking: call from a worker thread)."""
        self.write_zip(info, data)
        return self.unpack(info.key)

    def unzipped_size(self, key: str) -> int:
        """The unzipped size of a stored zip, by its headers (blocking)."""
        with zipfile.ZipFile(self.zip_path(key)) as zf:
            return sum(info.file_size for info in zf.infolist())

    def write_zip(self, info: CodeInfo, data: bytes) -> None:
        """Durably write the zip only, without unpacking it (blocking)."""
        zpath = self.zip_path(info.key)
        if not zpath.exists():
            fd, tmp = tempfile.mkstemp(prefix=f".{info.key}.save", dir=self.root)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, zpath)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            _fsync_dir(self.root)

    def unpack(self, key: str) -> Path:
        """Unpack `<key>.zip` into `<key>/` once (idempotent), by the module's rules (blocking)."""
        dest = self.tree_path(key)
        if dest.is_dir():
            return dest
        work = Path(tempfile.mkdtemp(prefix=f".{key}.unpack", dir=self.root))
        try:
            with zipfile.ZipFile(self.zip_path(key)) as zf:
                entries = _plan(zf.infolist(), self._max_entries)
                top = os.open(work, _DIR_FLAGS)
                try:
                    os.fchmod(top, 0o755)
                    written = 0
                    for e in entries:
                        written += self._write(zf, top, e, self._max_unzipped - written)
                finally:
                    os.close(top)
            try:
                os.replace(work, dest)
            except OSError:
                if not dest.is_dir():
                    raise
                shutil.rmtree(work, ignore_errors=True)  # another thread published it first
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise _unzip_error() from exc
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return dest

    def _write(self, zf: zipfile.ZipFile, top: int, e: _Entry, budget: int) -> int:
        """Create one entry under the directory `top`, never following a symlink; return the
        bytes written (at most `budget`, else the zip is a bomb)."""
        if e.kind is _Kind.DIR:
            if e.parts:
                os.close(_open_dirs(top, e.parts))
            return 0
        parent = _open_dirs(top, e.parts[:-1])
        try:
            name = e.parts[-1]
            if e.kind is _Kind.SYMLINK:
                with zf.open(e.info) as src:
                    target = src.read(MAX_LINK_TARGET + 1)
                if len(target) > MAX_LINK_TARGET:
                    raise _unzip_error()
                if len(target) > budget:
                    raise _size_error(self._max_unzipped)
                os.symlink(target, name, dir_fd=parent)  # a NUL in it is a ValueError
                return len(target)
            fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
            written = 0
            with os.fdopen(fd, "wb") as out, zf.open(e.info) as src:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > budget:  # more bytes than the headers said: a zip bomb
                        raise _size_error(self._max_unzipped)
                    out.write(chunk)
                os.fchmod(out.fileno(), e.mode)
            return written
        finally:
            os.close(parent)

    def stored_keys(self, *, leftovers_only: bool = False) -> set[str]:
        """Every key with something under the code directory (zips, trees, leftovers), or with
        `leftovers_only` those with a leftover of an interrupted write or removal (blocking)."""
        keys: set[str] = set()
        with os.scandir(self.root) as it:
            for entry in it:
                m = _STORED.fullmatch(entry.name)
                if m is not None and (not leftovers_only or not _is_final(entry.name)):
                    keys.add(m.group(1))
        return keys

    def remove(self, key: str) -> None:
        """Delete a key's tree, zip and leftovers (blocking). The tree is first renamed away, so a
        crash meanwhile leaves a `.<key>.trash…` leftover, never a partial tree under its name."""
        tree = self.tree_path(key)
        if tree.is_dir() and not tree.is_symlink():
            os.replace(tree, self.root / f".{key}.trash{secrets.token_hex(4)}")
        self.zip_path(key).unlink(missing_ok=True)
        self.remove_leftovers(key)

    def remove_leftovers(self, key: str) -> None:
        """Delete what interrupted writes and removals of `key` left (blocking; call only while
        nothing writes `key`)."""
        with os.scandir(self.root) as it:
            paths = [e.path for e in it if _STORED.fullmatch(e.name) and not _is_final(e.name)]
        for path in paths:
            if os.path.basename(path).lstrip(".")[:64] != key:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        _fsync_dir(self.root)


def _is_final(name: str) -> bool:
    """`<key>.zip` or `<key>/`, not a leftover."""
    return not name.startswith(".") and (len(name) == 64 or name.endswith(".zip"))


def _open_dirs(top: int, parts: Sequence[str]) -> int:
    """Open (making what is missing, mode 0755) the directory `parts` under the directory fd
    `top`, one component at a time and never through a symlink; return its fd."""
    fd = os.dup(top)
    try:
        for name in parts:
            try:
                os.mkdir(name, 0o700, dir_fd=fd)
                made = True
            except FileExistsError:
                made = False  # a directory named twice, or implied before: fine unless a link
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)  # ELOOP/ENOTDIR on a symlink or file
            os.close(fd)
            fd = child
            if made:
                os.fchmod(fd, 0o755)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
