"""The sandbox's uids: one per live environment, never the same one in two servers on a host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lambdabox.lambda_.sandbox.users import SandboxUsers


def test_lowest_free_uid_first_and_released_uids_come_back(tmp_path: Path) -> None:
    users = SandboxUsers(base=900_000, count=4, lock_dir=tmp_path)
    a, b = users.acquire(), users.acquire()
    assert (a.uid, b.uid) == (900_000, 900_001) and a.gid == a.uid
    users.release(a)
    assert users.acquire().uid == 900_000
    assert users.owns(900_003) and not users.owns(900_004) and not users.owns(0)


def test_two_servers_on_one_host_never_share_a_uid(tmp_path: Path) -> None:
    one = SandboxUsers(base=900_000, count=3, lock_dir=tmp_path)
    two = SandboxUsers(base=900_000, count=3, lock_dir=tmp_path)
    got = {one.acquire().uid, two.acquire().uid, one.acquire().uid}
    assert got == {900_000, 900_001, 900_002}
    try:
        two.acquire()
    except OSError as exc:
        assert "in use" in str(exc)
    else:
        raise AssertionError("a fourth uid was handed out from a range of three")


def test_a_dead_servers_leases_are_free_again(tmp_path: Path) -> None:
    src = str(Path(__file__).resolve().parent.parent / "src")
    code = (
        f"import sys; sys.path.insert(0, {src!r})\n"
        "from pathlib import Path\n"
        "from lambdabox.lambda_.sandbox.users import SandboxUsers\n"
        f"u = SandboxUsers(base=900_000, count=2, lock_dir=Path({str(tmp_path)!r}))\n"
        "print(u.acquire().uid, flush=True)\n"
        "import os; os.kill(os.getpid(), 9)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "900000" and out.returncode == -9
    assert SandboxUsers(base=900_000, count=2, lock_dir=tmp_path).acquire().uid == 900_000


def test_passwd_names_every_uid_as_lambdas_sandbox_user() -> None:
    users = SandboxUsers(base=900_000, count=2, lock_dir=None)
    assert users.passwd_lines() == [
        "sbx_user1051:x:900000:900000::/tmp:/sbin/nologin",
        "sbx_user1051:x:900001:900001::/tmp:/sbin/nologin",
    ]
    assert os.getuid() not in (900_000, 900_001)
