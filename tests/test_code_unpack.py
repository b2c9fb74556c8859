"""Unpacking uploaded code: whatever the zip holds and in whatever order, nothing is written outside
the function's own code directory; symlinks are kept as AWS keeps them; modes are sane.

Unit tests drive `CodeStore` and `inspect_zip` on zips built here; the last tests go through the
real server with boto3.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
import struct
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, unique
from lambdabox.aws.errors import ServiceError
from lambdabox.lambda_.code import CodeStore, inspect_zip

UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."
LINK = stat.S_IFLNK | 0o777
FILE = stat.S_IFREG | 0o644
DIR = stat.S_IFDIR | 0o755
APP = ("app.py", b"def handler(event, context):\n    return 1\n", FILE)

Entry = tuple[str, bytes, int]


def build(entries: list[Entry], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A zip of (name, data, unix mode with file type) entries, in this order, duplicates allowed."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns on duplicate names
        with zipfile.ZipFile(buf, "w", compression) as zf:
            for name, data, mode in entries:
                info = zipfile.ZipInfo(name)
                info.external_attr = mode << 16
                info.compress_type = compression
                zf.writestr(info, data)
    return buf.getvalue()


#: the chain: `x -> d/..` is harmless while `d` does not exist, then `d -> .` makes `x` the code
#: root's parent, so `x/<sibling>/app.py` would land in another function's code
def chain_attack(sibling: str) -> list[Entry]:
    return [
        ("x", b"d/..", LINK),
        ("d", b".", LINK),
        (f"x/{sibling}/app.py", b"def handler(event, context):\n    return 'pwned'\n", FILE),
        APP,
    ]


@pytest.fixture
def store(tmp_path: Path) -> CodeStore:
    return CodeStore(tmp_path / "code")


def put_zip(store: CodeStore, data: bytes) -> str:
    """Store a zip as received, without `inspect_zip`, to test what unpacking alone refuses."""
    key = hashlib.sha256(data).hexdigest()
    store.zip_path(key).write_bytes(data)
    return key


def snapshot(top: Path) -> dict[str, bytes | str]:
    """Every path under `top` (without following symlinks) with its content or link target."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirs, files in os.walk(top):
        for name in dirs + files:
            p = Path(dirpath, name)
            rel = str(p.relative_to(top))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_bytes()
            else:
                out[rel] = "dir"
    return out


def refused(exc: pytest.ExceptionInfo[ServiceError]) -> tuple[str, str]:
    return exc.value.code, exc.value.message


def assert_refused_everywhere(store: CodeStore, data: bytes) -> None:
    """Refused by `inspect_zip` at once and by `unpack` too, with AWS's error, leaving nothing."""
    with pytest.raises(ServiceError) as at_once:
        inspect_zip(data)
    assert refused(at_once) == ("InvalidParameterValueException", UNZIP_ERROR)
    key = put_zip(store, data)
    with pytest.raises(ServiceError) as unpacking:
        store.unpack(key)
    assert refused(unpacking) == ("InvalidParameterValueException", UNZIP_ERROR)
    assert not store.tree_path(key).exists()
    assert not [p for p in store.root.iterdir() if p.name.startswith(f".{key}")]  # no work dir left


def test_symlink_chain_cannot_write_into_a_sibling_function(store: CodeStore, tmp_path: Path) -> None:
    sibling_zip = build([APP])
    sibling = inspect_zip(sibling_zip)
    store.save(sibling, sibling_zip)
    before = snapshot(tmp_path)

    assert_refused_everywhere(store, build(chain_attack(sibling.key)))

    after = snapshot(tmp_path)
    after = {k: v for k, v in after.items() if not k.endswith(".zip")}  # the refused upload itself
    assert after == {k: v for k, v in before.items() if not k.endswith(".zip")}
    assert (store.tree_path(sibling.key) / "app.py").read_bytes() == APP[1]


@pytest.mark.parametrize(
    "entries",
    [
        [("up", b"..", LINK), ("up/escaped.txt", b"pwned", FILE)],
        [("up", b"/tmp", LINK), ("up/escaped.txt", b"pwned", FILE)],
        [("lib", b"..", LINK), ("lib/sub/", b"", DIR)],
        [("ok/", b"", DIR), ("ok/up", b"../..", LINK), ("ok/up/escaped.txt", b"pwned", FILE)],
        # the same, but the file comes before the symlink that would be its parent
        [("up/escaped.txt", b"pwned", FILE), ("up", b"..", LINK)],
        [("up/", b"", DIR), ("up", b"..", LINK)],
    ],
    ids=["parent", "absolute", "dir-through-link", "nested", "file-first", "dir-then-link"],
)
def test_nothing_is_written_through_a_symlink(store: CodeStore, tmp_path: Path, entries: list[Entry]) -> None:
    assert_refused_everywhere(store, build([*entries, APP]))
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/escaped.txt").exists()
    assert not (store.root / "escaped.txt").exists()


def test_symlinks_in_the_package_are_kept(store: CodeStore) -> None:
    data = build(
        [
            ("lib/", b"", DIR),
            ("lib/helper.py", b"VALUE = 42\n", FILE),
            ("helper.py", b"lib/helper.py", LINK),
            ("libdir", b"lib", LINK),
            ("system", b"/usr/lib/x", LINK),
            ("lib/top", b"../..", LINK),
            APP,
        ]
    )
    tree = store.save(inspect_zip(data), data)
    assert os.readlink(tree / "helper.py") == "lib/helper.py"
    assert (tree / "helper.py").read_text() == "VALUE = 42\n"
    assert (tree / "libdir" / "helper.py").read_text() == "VALUE = 42\n"
    assert os.readlink(tree / "system") == "/usr/lib/x"
    assert os.readlink(tree / "lib" / "top") == "../.."


@pytest.mark.parametrize(
    "ftype",
    [stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK, 0o160000],
    ids=["char-device", "block-device", "fifo", "socket", "unknown-type"],
)
def test_special_files_are_refused(store: CodeStore, ftype: int) -> None:
    assert_refused_everywhere(store, build([APP, ("dev", b"", ftype | 0o666)]))


@pytest.mark.parametrize(
    "entries",
    [
        [APP, APP],
        [APP, ("./app.py", b"other", FILE)],
        [APP, ("app.py", b"lib/app.py", LINK)],
        [("lib", b"x", FILE), ("lib/", b"", DIR), APP],
        [("lib/a.py", b"x", FILE), ("lib", b"x", FILE), APP],
        [("lib", b".", LINK), ("lib", b".", LINK), APP],
    ],
    ids=[
        "same-file-twice",
        "same-file-normalized",
        "file-and-symlink",
        "file-then-dir",
        "dir-then-file",
        "link-twice",
    ],
)
def test_name_clashes_are_refused(store: CodeStore, entries: list[Entry]) -> None:
    assert_refused_everywhere(store, build(entries))


def test_a_directory_named_twice_is_harmless(store: CodeStore) -> None:
    data = build([("d/", b"", DIR), ("d/a.py", b"a", FILE), ("d/", b"", DIR), ("d/b.py", b"b", FILE), APP])
    tree = store.save(inspect_zip(data), data)
    assert sorted(os.listdir(tree / "d")) == ["a.py", "b.py"]


@pytest.mark.parametrize(
    "name",
    ["../evil.py", "a/../../evil.py", "/abs/evil.py", "..\\evil.py", "\\abs\\evil.py", "a.py@../../evil.py"],
    ids=["dotdot", "inner-dotdot", "absolute", "backslash-dotdot", "backslash-absolute", "nul-byte"],
)
def test_escaping_names_are_refused(store: CodeStore, tmp_path: Path, name: str) -> None:
    data = build([APP, (name, b"x = 1", FILE)])
    if "@" in name:  # zipfile cannot write a NUL in a name: patch it into both headers
        data = data.replace(name.encode(), name.replace("@", "\0").encode())
    assert_refused_everywhere(store, data)
    assert not [p for p in tmp_path.rglob("evil.py")]
    assert not Path("/abs/evil.py").exists()


def test_modes_are_0644_or_0755_and_nothing_is_writable_by_others(store: CodeStore) -> None:
    data = build(
        [
            ("setuid", b"#!/bin/sh\n", stat.S_IFREG | 0o4755),
            ("setgid-sticky", b"x", stat.S_IFREG | 0o3777),
            ("private-exec", b"x", stat.S_IFREG | 0o700),
            ("group-exec", b"x", stat.S_IFREG | 0o610),
            ("world-writable", b"x", stat.S_IFREG | 0o666),
            ("private", b"x", stat.S_IFREG | 0o600),
            ("no-unix-mode", b"x", 0),
            ("open/", b"", stat.S_IFDIR | 0o777),
            ("open/deep/file", b"x", stat.S_IFREG | 0o644),
            APP,
        ]
    )
    tree = store.save(inspect_zip(data), data)
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in tree.rglob("*")}
    assert modes == {
        "setuid": 0o755,
        "setgid-sticky": 0o755,
        "private-exec": 0o755,
        "group-exec": 0o755,
        "world-writable": 0o644,
        "private": 0o644,
        "no-unix-mode": 0o644,
        "open": 0o755,
        "deep": 0o755,
        "file": 0o644,
        "app.py": 0o644,
    }
    assert stat.S_IMODE(tree.stat().st_mode) == 0o755
    assert (tree / "setuid").read_bytes() == b"#!/bin/sh\n"


def _patch_sizes(data: bytes, real: int, claimed: int) -> bytes:
    """Make every header claim `claimed` uncompressed bytes where the data holds `real`."""
    old, new = struct.pack("<I", real), struct.pack("<I", claimed)
    out = bytearray(data)
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = out.find(sig)
        while at >= 0:
            if out[at + offset : at + offset + 4] == old:
                out[at + offset : at + offset + 4] = new
            at = out.find(sig, at + 1)
    return bytes(out)


def test_zip_bomb_whose_headers_lie_is_refused_at_unpack(store: CodeStore) -> None:
    real = 20 * 1024 * 1024
    data = _patch_sizes(build([APP, ("zeros.bin", b"\0" * real, FILE)], zipfile.ZIP_DEFLATED), real, 100)
    assert inspect_zip(data).size == len(data)  # the headers say it is small
    key = put_zip(store, data)
    with pytest.raises(ServiceError) as exc:
        store.unpack(key)
    assert refused(exc)[0] == "InvalidParameterValueException"
    assert not store.tree_path(key).exists()
    assert [p.name for p in store.root.iterdir()] == [f"{key}.zip"]


def test_unzipped_size_limit_is_enforced_by_headers_and_by_bytes_written(tmp_path: Path) -> None:
    data = build([APP, ("big.bin", b"x" * 2000, FILE)])
    size_error = ("InvalidParameterValueException", "Unzipped size must be smaller than 1000 bytes")
    with pytest.raises(ServiceError) as at_once:
        inspect_zip(data, max_unzipped=1000)
    assert refused(at_once) == size_error
    small = CodeStore(tmp_path / "code", max_unzipped=1000)
    key = put_zip(small, data)
    with pytest.raises(ServiceError) as unpacking:
        small.unpack(key)
    assert refused(unpacking) == size_error
    assert [p.name for p in small.root.iterdir()] == [f"{key}.zip"]


@pytest.mark.parametrize("data", [b"this is not a zip", build([APP])[:-30]], ids=["garbage", "truncated"])
def test_corrupt_zips_are_refused(store: CodeStore, data: bytes) -> None:
    with pytest.raises(ServiceError) as at_once:
        inspect_zip(data)
    assert refused(at_once) == ("InvalidParameterValueException", UNZIP_ERROR)
    key = put_zip(store, data)
    with pytest.raises(ServiceError) as unpacking:
        store.unpack(key)
    assert refused(unpacking) == ("InvalidParameterValueException", UNZIP_ERROR)


def test_unpack_is_idempotent(store: CodeStore) -> None:
    data = build([("lib/helper.py", b"x", FILE), ("helper.py", b"lib/helper.py", LINK), APP])
    info = inspect_zip(data)
    first = store.save(info, data)
    assert store.save(info, data) == first == store.unpack(info.key)
    assert sorted(p.name for p in store.root.iterdir()) == sorted([info.key, f"{info.key}.zip"])
    assert os.readlink(first / "helper.py") == "lib/helper.py"


# -- through the real server ---------------------------------------------------------------------


@pytest.fixture
def created(lam: Any) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(Exception):
            lam.delete_function(FunctionName=name)


def create(lam: Any, names: list[str], data: bytes) -> str:
    name = unique()
    names.append(name)
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": data}
    )
    return name


def test_a_symlinked_module_imports_and_a_chain_attack_is_refused(lam: Any, created: list[str]) -> None:
    data = build(
        [
            ("lib/helper.py", b"VALUE = 'from lib'\n", FILE),
            ("helper.py", b"lib/helper.py", LINK),
            ("app.py", b"import helper\n\ndef handler(event, context):\n    return helper.VALUE\n", FILE),
        ],
        zipfile.ZIP_DEFLATED,
    )
    good = create(lam, created, data)
    assert json.loads(lam.invoke(FunctionName=good)["Payload"].read()) == "from lib"

    with pytest.raises(ClientError) as exc:
        create(lam, created, build(chain_attack(hashlib.sha256(data).hexdigest())))
    error = exc.value.response
    assert (
        error["Error"]["Code"],
        error["Error"]["Message"],
        error["ResponseMetadata"]["HTTPStatusCode"],
    ) == (
        "InvalidParameterValueException",
        UNZIP_ERROR,
        400,
    )
    # the server keeps serving, and the function whose code the attack aimed at is unchanged
    assert json.loads(lam.invoke(FunctionName=good)["Payload"].read()) == "from lib"
    assert good in [f["FunctionName"] for f in lam.list_functions(MaxItems=10000)["Functions"]]
