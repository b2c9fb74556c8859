"""Function code: validating uploaded zips (corrupt, zip-slip, zip bombs) and storing them.

Code is content-addressed under `<data dir>/code/`: `<sha256hex>.zip` is the upload as received
(fsynced before the function row that names it is committed) and `<sha256hex>/` its unpacked tree,
shared by every function with the same code. Unpacking happens off the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lambdabox.aws.errors import client_error

#: AWS limits (bytes)
MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 262_144_000
MAX_ENTRIES = 100_000
_UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."


@dataclass(frozen=True)
class CodeInfo:
    key: str  # hex sha256
    sha256_b64: str
    size: int


def inspect_zip(data: bytes) -> CodeInfo:
    """Check an uploaded zip as AWS would, without extracting; raise AWS's error if it is bad."""
    if len(data) > MAX_ZIPPED:
        raise client_error(
            "RequestEntityTooLargeException",
            f"Request must be smaller than {MAX_ZIPPED} bytes for the CreateFunction operation",
            413,
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise client_error("InvalidParameterValueException", _UNZIP_ERROR) from exc
    if len(infos) > MAX_ENTRIES:
        raise client_error("InvalidParameterValueException", _UNZIP_ERROR)
    total = 0
    for info in infos:
        _safe_member_path(info.filename)
        total += info.file_size
    if total > MAX_UNZIPPED:
        raise client_error(
            "InvalidParameterValueException",
            f"Unzipped size must be smaller than {MAX_UNZIPPED} bytes",
        )
    digest = hashlib.sha256(data).digest()
    return CodeInfo(key=digest.hex(), sha256_b64=base64.b64encode(digest).decode(), size=len(data))


def _safe_member_path(name: str) -> PurePosixPath:
    """Reject absolute paths and `..` components (zip-slip)."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or name.startswith("/"):
        raise client_error("InvalidParameterValueException", _UNZIP_ERROR)
    return p


class CodeStore:
    """Content-addressed code storage under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def zip_path(self, key: str) -> Path:
        return self.root / f"{key}.zip"

    def tree_path(self, key: str) -> Path:
        return self.root / key

    def save(self, info: CodeInfo, data: bytes) -> Path:
        """Durably write the zip and unpack it (blocking: call from a worker thread)."""
        zpath = self.zip_path(info.key)
        if not zpath.exists():
            tmp = zpath.with_suffix(f".tmp{os.getpid()}")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, zpath)
            _fsync_dir(self.root)
        return self.unpack(info.key)

    def unpack(self, key: str) -> Path:
        """Unpack `<key>.zip` into `<key>/` once (idempotent); enforce the unzipped size for real."""
        dest = self.tree_path(key)
        if dest.is_dir():
            return dest
        work = self.root / f".{key}.unpack{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        written = 0
        try:
            with zipfile.ZipFile(self.zip_path(key)) as zf:
                for info in zf.infolist():
                    rel = _safe_member_path(info.filename)
                    target = work.joinpath(*rel.parts)
                    mode = (info.external_attr >> 16) & 0o7777
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if stat.S_ISLNK(info.external_attr >> 16):
                        # symlinks are stored as files holding their target; keep them inside the tree
                        link = zf.read(info).decode("utf-8", "replace")
                        resolved = (target.parent / link).resolve()
                        if not str(resolved).startswith(str(work.resolve())):
                            raise client_error("InvalidParameterValueException", _UNZIP_ERROR)
                        os.symlink(link, target)
                        continue
                    with zf.open(info) as src, open(target, "wb") as out:
                        while chunk := src.read(1 << 16):
                            written += len(chunk)
                            if written > MAX_UNZIPPED:  # the header lied: a zip bomb
                                raise client_error(
                                    "InvalidParameterValueException",
                                    f"Unzipped size must be smaller than {MAX_UNZIPPED} bytes",
                                )
                            out.write(chunk)
                    os.chmod(target, (mode & 0o777) or 0o644)
            os.replace(work, dest)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise client_error("InvalidParameterValueException", _UNZIP_ERROR) from exc
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return dest

    def remove(self, key: str) -> None:
        shutil.rmtree(self.tree_path(key), ignore_errors=True)
        self.zip_path(key).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
