"""Python environments forked from a template process: what a user sees, and what a killed template leaves.

Through the real server (as root, full isolation) with boto3: a fork behaves as a spawned
interpreter would (its command line, environment, PYTHONPATH, hash seed when asked for), a plan
a fork cannot honour is spawned instead, a killed template takes only its own environments with
it (their invocations fail as an exited runtime does) and is replaced, and template churn leaves
no processes, cgroups or directories behind (the isolation suite runs every attack against forks
and spawns: tests/test_isolation.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, deploy, start_server, wait_until
from isolation_helpers import RequestIdGate, parent_of, template_pids

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="templates fork confined environments as root")

UID_BASE, UID_COUNT = 993_000, 2048

PROBE = """
import os, sys

def handler(event, context):
    return {
        "pid": os.getpid(),
        "hash": hash("lambdabox"),
        "cmdline": open("/proc/self/cmdline", "rb").read().decode().split("\\0"),
        "environ": sorted(e.split("=", 1)[0] for e in open("/proc/self/environ").read().split("\\0") if e),
        "secret": os.environ.get("SECRET"),
        "argv": sys.argv,
        "lambdabox_importable": __import__("importlib.util").util.find_spec("lambdabox") is not None,
        "vendored": __import__("vendored").VALUE if event.get("vendored") else None,
    }
"""

GATED = """
import socket

def handler(event, context):
    s = socket.create_connection(("127.0.0.1", event["gate"]), timeout=60)
    s.sendall(context.aws_request_id.encode() + b"\\n")
    s.makefile().readline()
    return "released"
"""


def health(srv: Server) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(srv.url + "/_lambdabox/health", timeout=10) as r:
        return dict(json.loads(r.read()))


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("tmpl") / "data")
    if health(s).get("isolation") != "full":
        s.stop()
        pytest.skip("full isolation is not available here")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def lam(srv: Server) -> Any:
    return srv.client("lambda")


def invoke(lam: Any, name: str, event: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    return resp, json.loads(resp["Payload"].read())


def host_pid_of(secret: str) -> int:
    """The host pid of the runtime whose environment holds `secret` (the runtime, not its init)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if secret.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    assert found, "no process holds the secret"
    return max(found)  # the runtime is its init's child: the later pid


def forked(pid: int) -> bool:
    return parent_of(parent_of(pid)) in template_pids()


def templates_of(srv: Server) -> list[int]:
    return [pid for pid in template_pids() if parent_of(pid) == srv.proc.pid]


def env_processes(server_pid: int) -> list[int]:
    """Host pids of the environments of the server `server_pid` (their uids, their cgroups)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if UID_BASE <= os.stat(f"/proc/{entry}").st_uid < UID_BASE + UID_COUNT and (
                    f"lambdabox-{server_pid}" in Path(f"/proc/{entry}/cgroup").read_text()
                ):
                    out.append(int(entry))
            except OSError:
                continue
    return out


def wait_for(check: Any, what: str, limit: float = 30.0) -> None:
    wait_until(check, limit, what)


def test_a_fork_looks_like_a_spawned_runtime(srv: Server, lam: Any) -> None:
    name = deploy(lam, {"app.py": PROBE}, Environment={"Variables": {"SECRET": "s-fork-look"}})
    resp, out = invoke(lam, name)
    assert "FunctionError" not in resp, out
    assert forked(host_pid_of("s-fork-look"))
    # what `ps` or /proc show inside: the runtime's own command line and environment
    assert out["cmdline"][1:4] == ["-u", "-S", "/var/runtime/bootstrap_python.py"], out
    assert os.path.basename(out["cmdline"][0]).startswith("python")
    assert {"SECRET", "_HANDLER", "AWS_LAMBDA_RUNTIME_API", "LANG"} <= set(out["environ"])
    assert out["argv"] == ["/var/runtime/bootstrap_python.py"]
    assert out["secret"] == "s-fork-look"
    assert out["lambdabox_importable"] is False  # the template's own modules are not the user's


def test_pythonpath_is_honoured_in_a_fork(srv: Server, lam: Any) -> None:
    name = deploy(
        lam,
        {"app.py": PROBE, "vendor/vendored.py": "VALUE = 'from vendor'\n"},
        Environment={"Variables": {"PYTHONPATH": "/var/task/vendor", "SECRET": "s-pythonpath"}},
    )
    resp, out = invoke(lam, name, {"vendored": True})
    assert "FunctionError" not in resp, out
    assert out["vendored"] == "from vendor"
    assert forked(host_pid_of("s-pythonpath"))


def test_a_variable_only_an_interpreter_start_honours_gets_a_spawned_one(srv: Server, lam: Any) -> None:
    """PYTHONHASHSEED is read at interpreter start: such a function is spawned, and its seed holds."""
    name = deploy(
        lam, {"app.py": PROBE}, Environment={"Variables": {"PYTHONHASHSEED": "0", "SECRET": "s-seed"}}
    )
    resp, out = invoke(lam, name)
    assert "FunctionError" not in resp, out
    expected = subprocess.run(
        [sys.executable, "-c", "print(hash('lambdabox'))"],
        env={"PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out["hash"] == int(expected)
    assert not forked(host_pid_of("s-seed"))


def test_forks_do_not_share_their_randomness(srv: Server, lam: Any) -> None:
    src = "import random, uuid, os\n\ndef handler(e, c):\n    return [random.random(), str(uuid.uuid4()), os.urandom(8).hex()]\n"
    seen = []
    for _ in range(3):
        name = deploy(lam, {"app.py": src})
        resp, out = invoke(lam, name)
        assert "FunctionError" not in resp, out
        seen.append(out)
    for k in range(3):
        assert len({row[k] for row in seen}) == 3, seen


def test_a_killed_template_takes_only_its_own_environments_and_is_replaced(srv: Server, lam: Any) -> None:
    spawned = deploy(
        lam, {"app.py": PROBE}, Environment={"Variables": {"PYTHONHASHSEED": "1", "SECRET": "s-k1"}}
    )
    gated = deploy(lam, {"app.py": GATED}, Timeout=60)
    assert "FunctionError" not in invoke(lam, spawned)[0]
    (template,) = templates_of(srv)
    gate = RequestIdGate()
    result: dict[str, Any] = {}

    def run() -> None:
        result["resp"], result["out"] = invoke(lam, gated, {"gate": gate.port})

    t = threading.Thread(target=run)
    t.start()
    try:
        gate.arrival()  # the gated invocation runs in a fork of `template`
        os.kill(template, signal.SIGKILL)
        t.join(60)
    finally:
        gate.release()
        gate.close()
    assert not t.is_alive()
    # the in-flight invocation fails as an exited runtime does, with AWS's shape
    assert result["resp"].get("FunctionError") == "Unhandled", result
    assert result["out"]["errorType"] == "Runtime.ExitError", result
    # the spawned environment was not the template's: still warm, same process
    before = host_pid_of("s-k1")
    assert "FunctionError" not in invoke(lam, spawned)[0]
    assert host_pid_of("s-k1") == before
    # the next cold start forks from a new template
    fresh = deploy(lam, {"app.py": PROBE}, Environment={"Variables": {"SECRET": "s-k2"}})
    resp, out = invoke(lam, fresh)
    assert "FunctionError" not in resp, out
    assert template not in template_pids()
    assert len(templates_of(srv)) == 1
    assert forked(host_pid_of("s-k2"))
    assert health(srv)["status"] == "running"


@pytest.mark.slow
def test_template_churn_leaves_nothing_behind(tmp_path: Path) -> None:
    """Soak: cold starts while the template is killed again and again (and environments with it);
    every invocation is answered, and once the server stops no environment process, cgroup,
    scratch directory or template is left."""
    data = tmp_path / "data"
    srv = start_server(data, "--idle-timeout", "3600")
    try:
        lam = srv.client("lambda")
        names = [deploy(lam, {"app.py": PROBE}) for _ in range(4)]
        answered, killed = 0, 0
        for i in range(40):
            name = names[i % len(names)]
            lam.update_function_configuration(FunctionName=name, Description=f"round {i}")
            wait_for(
                lambda n=name: (
                    lam.get_function_configuration(FunctionName=n)["LastUpdateStatus"] == "Successful"
                ),
                "the update",
            )
            resp, out = invoke(lam, name)
            assert "FunctionError" not in resp, out
            answered += 1
            if i % 5 == 2:  # not after the last round: its template is checked below
                for pid in templates_of(srv):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        assert answered == 40 and killed >= 8
        server_pid = srv.proc.pid
        assert env_processes(server_pid)  # the last rounds' environments
        ours = templates_of(srv)
        assert len(ours) == 1
        cgroup_dirs = [p for p in Path("/sys/fs/cgroup").glob(f"**/lambdabox-{server_pid}*") if p.is_dir()]
    finally:
        srv.stop()
    wait_for(lambda: not env_processes(server_pid), "environment processes to end")
    wait_for(lambda: not set(ours) & set(template_pids()), "the template to end")
    for d in cgroup_dirs:
        wait_for(lambda d=d: not d.exists(), f"cgroup {d} to go")
    envs = data / "sandbox" / "envs"
    assert not envs.exists() or not any(envs.iterdir())


def test_a_template_that_cannot_fork_falls_back_to_spawning(srv: Server, lam: Any) -> None:
    """The template is put in a pids cgroup that allows it no child (fork: EAGAIN, as when the
    host runs out of pids): once its spares are used, cold starts are spawned, and all succeed."""
    pids_root = Path("/sys/fs/cgroup/pids")
    if not (pids_root / "cgroup.procs").exists():
        pytest.skip("no cgroup v1 pids hierarchy here")
    (template,) = templates_of(srv)
    jail = pids_root / f"lambdabox-test-nofork-{os.getpid()}"
    jail.mkdir()
    home = next(
        line.split(":", 2)[2] for line in Path(f"/proc/{template}/cgroup").read_text().splitlines()
        if line.split(":")[1] == "pids"
    )  # fmt: skip
    try:
        (jail / "pids.max").write_text("1")
        (jail / "cgroup.procs").write_text(str(template))
        names = [
            deploy(lam, {"app.py": PROBE}, Environment={"Variables": {"SECRET": f"s-nofork-{i}"}})
            for i in range(4)
        ]
        for name in names:
            resp, out = invoke(lam, name)
            assert "FunctionError" not in resp, out
        how = [forked(host_pid_of(f"s-nofork-{i}")) for i in range(4)]
        assert how[-1] is False, how  # the spares (at most two) went first; then spawns
        assert how.count(True) <= 2, how
    finally:
        (pids_root / home.lstrip("/") / "cgroup.procs").write_text(str(template))
        jail.rmdir()
    resp, out = invoke(lam, deploy(lam, {"app.py": PROBE}))  # and it forks again
    assert "FunctionError" not in resp, out
