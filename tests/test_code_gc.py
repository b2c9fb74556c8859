"""Stored code is removed once nothing uses it: after DeleteFunction, after UpdateFunctionCode
replaced it, after a failed upload; kept while another function (any account) or a running
environment uses it; and what a crash left between two steps is removed at the next start."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import GATED_HANDLER, ROLE, Gate, make_zip, unique
from lambdabox.testing import LocalLambdabox

ROOT_KEYS = "test:test,other:other:222222222222"
OTHER_ROLE = "arn:aws:iam::222222222222:role/lambda-role"


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True, root_keys=ROOT_KEYS) as server:
        yield server


def code(answer: str) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {answer!r}\n"})


def key(zip_bytes: bytes) -> str:
    return hashlib.sha256(zip_bytes).hexdigest()


def stored(lbx: LocalLambdabox) -> set[str]:
    """The names under the code directory."""
    return {p.name for p in (lbx.settings.data_dir / "code").iterdir()}


def files_of(lbx: LocalLambdabox, zip_bytes: bytes) -> set[str]:
    """What the code directory holds for this zip (its zip, its tree, leftovers)."""
    k = key(zip_bytes)
    return {n for n in stored(lbx) if n.lstrip(".").startswith(k)}


def create(lam: Any, name: str, zip_bytes: bytes, role: str = ROLE) -> None:
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler", Code={"ZipFile": zip_bytes}
    )


def invoke(lam: Any, name: str) -> Any:
    return json.loads(lam.invoke(FunctionName=name)["Payload"].read())


def test_deploy_update_delete_leaves_no_code_behind(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    first, second = code("first"), code("second")
    create(lam, "fn", first)
    assert files_of(lbx, first) == {f"{key(first)}.zip", key(first)}
    assert invoke(lam, "fn") == "first"  # an environment runs from it (and is idle now)

    lam.update_function_code(FunctionName="fn", ZipFile=second)
    assert files_of(lbx, first) == set()
    assert invoke(lam, "fn") == "second"

    lam.delete_function(FunctionName="fn")
    assert stored(lbx) == set()


def test_shared_code_stays_while_one_function_of_any_account_uses_it(lbx: LocalLambdabox) -> None:
    lam, other = lbx.client("lambda"), lbx.client("lambda", key="other", secret="other")
    shared = code("shared")
    create(lam, "a", shared)
    create(lam, "b", shared)
    create(other, "c", shared, OTHER_ROLE)
    assert len(files_of(lbx, shared)) == 2  # one zip, one tree, for all three

    lam.delete_function(FunctionName="a")
    lam.update_function_code(FunctionName="b", ZipFile=code("b's own"))
    assert files_of(lbx, shared) == {f"{key(shared)}.zip", key(shared)}
    assert invoke(other, "c") == "shared"

    other.delete_function(FunctionName="c")
    assert files_of(lbx, shared) == set()
    # and code one function moves to, from another's, is kept
    lam.update_function_code(FunctionName="b", ZipFile=code("b's own"))
    create(lam, "d", code("b's own"))
    lam.delete_function(FunctionName="b")
    assert invoke(lam, "d") == "b's own"


def test_code_stays_until_the_environment_running_it_stops(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda", read_timeout=120)
    old = make_zip({"app.py": GATED_HANDLER})
    name = unique()
    create(lam, name, old)
    gate = Gate()
    answers: list[Any] = []
    busy = threading.Thread(
        target=lambda: answers.append(
            lam.invoke(FunctionName=name, Payload=json.dumps({"gate": gate.port}).encode())
        )
    )
    try:
        busy.start()
        gate.arrivals(1)
        lam.update_function_code(FunctionName=name, ZipFile=code("new"))
        lam.delete_function(FunctionName=name)
        assert files_of(lbx, old) == {f"{key(old)}.zip", key(old)}  # still running from /var/task
        gate.release("done")
        busy.join(60)
    finally:
        gate.close()
    assert json.loads(answers[0]["Payload"].read()) == "done"
    lbx.call(lbx.app.code_collector.settled)
    assert stored(lbx) == set()


def test_code_of_failed_uploads_is_not_kept(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    rejected = code("too many tags")
    with pytest.raises(ClientError):
        lam.create_function(
            FunctionName="t", Runtime="python3.11", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": rejected}, Tags={f"k{i}": "v" for i in range(51)},
        )  # fmt: skip
    assert files_of(lbx, rejected) == set()
    create(lam, "fn", code("kept"))
    dry = code("dry run")
    lam.update_function_code(FunctionName="fn", ZipFile=dry, DryRun=True)
    assert files_of(lbx, dry) == set()
    assert invoke(lam, "fn") == "kept"


def test_what_a_crash_left_between_steps_is_removed_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    kept, deleted = code("kept"), code("deleted")
    with LocalLambdabox(data) as lbx:
        lam = lbx.client("lambda")
        create(lam, "kept", kept)
        create(lam, "deleted", deleted)
    root = data / "code"
    # DeleteFunction committed, then the server died before removing the files
    with sqlite3.connect(data / "lambdabox.db") as db:
        db.execute("DELETE FROM functions WHERE name = 'deleted'")
    db.close()
    # CreateFunction saved code, then died before committing its row
    never = "ab" * 32
    (root / f"{never}.zip").write_bytes(b"zip")
    (root / never).mkdir()
    (root / never / "app.py").write_text("x")
    # died while writing a zip, unpacking a tree, removing one (also of code still in use)
    (root / f".{never}.save1234").write_bytes(b"half")
    (root / f"{'cd' * 32}.tmp99").write_bytes(b"half, as zips were written before")
    for leftover in (f".{never}.unpackq1w2", f".{key(kept)}.unpackz9x8", f".{key(kept)}.trash0a1b"):
        (root / leftover).mkdir()
        (root / leftover / "app.py").write_text("x")
    (root / "not-ours.txt").write_text("left alone")

    with LocalLambdabox(data) as lbx:
        assert stored(lbx) == {f"{key(kept)}.zip", key(kept), "not-ours.txt"}
        assert invoke(lbx.client("lambda"), "kept") == "kept"


def test_a_published_version_keeps_its_code_until_it_is_deleted(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = unique()
    old, new = code("old"), code("new")
    create(lam, name, old)
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=new)
    assert files_of(lbx, old), "version 1's code went with $LATEST's update"
    assert json.loads(lam.invoke(FunctionName=name, Qualifier="1")["Payload"].read()) == "old"
    assert invoke(lam, name) == "new"
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert not files_of(lbx, old), "a deleted version's code stayed"
    assert files_of(lbx, new)
    # every version's code goes with the function
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=old)
    lam.delete_function(FunctionName=name)
    assert not files_of(lbx, old) and not files_of(lbx, new)
