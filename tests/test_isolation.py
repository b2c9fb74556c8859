"""A hostile function against a victim, through the real server with boto3: every attack fails.

The threat model (DESIGN.md, "Isolation"): function code is hostile and several users' functions
share one host. A victim function with a secret and a distinctive code file stays warm; a hostile
function tries one attack per invocation (tests/isolation_helpers.py: Python only, ctypes for the
system calls) and reports what it saw. Each test asserts the specific refusal, then that the
victim still answers from the same warm environment and the server is healthy.

Needs full isolation (lambdabox as root); skipped otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import threading
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server, deploy, start_server, unique
from isolation_helpers import HOSTILE, VICTIM, RequestIdGate, find_host_pids, parent_of, template_pids

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="full isolation needs lambdabox to run as root")


def health(srv: Server) -> dict[str, Any]:
    with urllib.request.urlopen(srv.url + "/_lambdabox/health", timeout=10) as r:
        assert r.status == 200
        return dict(json.loads(r.read()))


def start_isolated(data_dir: Path, *extra: str) -> Server:
    srv = start_server(data_dir, *extra)
    isolation = health(srv).get("isolation")
    if isolation != "full":
        srv.stop()
        pytest.skip(f"isolation is {isolation!r} here, not 'full'")
    return srv


@pytest.fixture(scope="module", params=["template", "spawn"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Every attack runs twice: against environments forked from a template (the default for
    Python) and against spawned ones (--cold-start spawn): a fork is confined exactly as a spawn."""
    s = start_isolated(tmp_path_factory.mktemp("iso") / "data", "--cold-start", request.param)
    assert health(s)["coldStart"] == request.param
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(srv: Server) -> Any:
    return srv.client("lambda")


def call(client: Any, name: str, payload: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    resp = client.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return resp, json.loads(resp["Payload"].read())


def attack(client: Any, name: str, action: str, **kw: Any) -> dict[str, Any]:
    """Invoke the hostile function with one attack; what it observed (the invoke must succeed)."""
    resp, out = call(client, name, {"action": action, **kw})
    assert "FunctionError" not in resp, out
    return dict(out)


@dataclass(frozen=True)
class Victim:
    name: str
    secret: str
    marker_file: str
    marker: str
    runtime_api: str
    pid: int  # inside its pid namespace
    host_pid: int
    code_key: str  # hex SHA-256 of its zip
    code_dir: Path  # on the host


@pytest.fixture(scope="module")
def victim(srv: Server, client: Any) -> Victim:
    tag = uuid.uuid4().hex
    secret, marker_file, marker = f"victim-secret-{tag}", f"victim_marker_{tag[:12]}.txt", f"marker-{tag}"
    name = deploy(
        client,
        {"app.py": VICTIM.format(marker=marker_file), marker_file: marker},
        Environment={"Variables": {"SECRET": secret}},
        Timeout=60,
    )
    resp, out = call(client, name, {})
    assert "FunctionError" not in resp, out
    assert (out["secret"], out["marker"]) == (secret, marker)
    host_pids = find_host_pids(secret.encode())
    assert host_pids, "the victim's runtime process is not visible to the host's root"
    code_key = base64.b64decode(client.get_function(FunctionName=name)["Configuration"]["CodeSha256"]).hex()
    (code_dir,) = [p.parent for p in (srv.data_dir / "code").rglob(marker_file)]
    return Victim(
        name, secret, marker_file, marker, out["runtime_api"], out["pid"], max(host_pids), code_key, code_dir
    )


@pytest.fixture(scope="module")
def hostile(client: Any) -> str:
    # memory above /tmp's size: the sized tmpfs /tmp is charged to the memory cgroup
    return deploy(client, {"app.py": HOSTILE}, MemorySize=1024, EphemeralStorage={"Size": 512}, Timeout=90)


def assert_unharmed(srv: Server, client: Any, victim: Victim) -> None:
    """The victim answers correctly from its same warm environment; the server is healthy."""
    resp, out = call(client, victim.name, {})
    assert "FunctionError" not in resp, out
    assert (out["secret"], out["marker"]) == (victim.secret, victim.marker)
    assert (out["runtime_api"], out["pid"]) == (victim.runtime_api, victim.pid)  # not restarted
    assert health(srv)["status"] == "running"
    assert srv.proc.poll() is None


# ------------------------------------------------------------------------------ 1. files
@pytest.mark.slow
def test_no_other_code_data_dir_or_host_secrets(
    srv: Server, client: Any, victim: Victim, hostile: str
) -> None:
    data = srv.data_dir
    paths = [str(data), str(data / "lambdabox.db"), str(data / "code-url.key"), str(data / "code")]
    paths += [
        str(victim.code_dir),
        str(victim.code_dir / "app.py"),
        str(victim.code_dir / victim.marker_file),
    ]
    paths += [str(p) for p in data.parents if str(p) != "/"]
    out = attack(
        client,
        hostile,
        "files",
        paths=paths,
        names=[victim.marker_file, "lambdabox.db", "code-url.key", "shadow"],
    )

    assert out["root"] == [
        "bin",
        "dev",
        "etc",
        "lib",
        "lib64",
        "opt",
        "proc",
        "root",
        "sbin",
        "tmp",
        "usr",
        "var",
    ]
    # /root holds only the interpreter's installation (bound read-only at its own path)
    assert out["root_home"] in ([".pyenv"], "ENOENT"), out["root_home"]
    assert out["home"] == "ENOENT"
    assert out["shadow"] == "ENOENT"
    assert not {"shadow", "gshadow", "sudoers", "ssh", "shadow-"} & set(out["etc"])
    for path, seen in out["host_paths"].items():
        # the env's own /tmp is a fresh tmpfs: a data dir under the host's /tmp is not in it
        assert seen == "ENOENT" or (path == "/tmp" and seen == []), (path, seen)
    walk = out["walk"]
    assert walk["complete"], walk
    # nothing of the victim, the db or the key anywhere; the only app.py it can reach outside
    # the system's libraries is its own
    assert walk["hits"] == [], walk["hits"]
    assert walk["apps"] == ["/var/task/app.py"], walk["apps"]
    assert_unharmed(srv, client, victim)


# ------------------------------------------------------------------------------ 2. /proc
def test_proc_shows_only_its_own_pid_namespace(
    srv: Server, client: Any, victim: Victim, hostile: str
) -> None:
    out = attack(client, hostile, "proc", secret=victim.secret, host_pids=[victim.host_pid, srv.proc.pid])
    assert out["pids"] == [1, 2] and out["me"] == 2, out  # tini and its runtime
    assert out["readable"] >= 2  # it read its own /proc files...
    assert out["leaks"] == []  # ...and the victim's secret is in none of them
    assert out["host"] == {str(victim.host_pid): "ENOENT", str(srv.proc.pid): "ENOENT"}
    assert out["cgroups"] == ["/"]  # its cgroup is its root: no host cgroup path, no server pid
    assert_unharmed(srv, client, victim)


# ------------------------------------------------------------------------------ 3. signals, ptrace
def test_cannot_signal_or_trace_the_server_or_the_victim(
    srv: Server, client: Any, victim: Victim, hostile: str
) -> None:
    targets = {"server": srv.proc.pid, "victim": victim.host_pid}
    targets.update({f"template{i}": pid for i, pid in enumerate(template_pids())})
    out = attack(client, hostile, "signal", targets=targets)
    for label in targets:
        assert out[f"kill0_{label}"] == "ESRCH", out  # not in its pid namespace
        assert out[f"kill9_{label}"] == "ESRCH", out
        assert out[f"ptrace_{label}"] == "EPERM", out  # seccomp, before the kernel even looks
    assert out["ptrace_init"] == "EPERM"
    # SIGKILL to its own namespace's init from inside is dropped by the kernel: init lives on
    assert out["kill9_init"] == "ok" and out["init_alive"] == "ok", out
    assert srv.proc.poll() is None
    assert victim.host_pid in find_host_pids(victim.secret.encode())
    assert_unharmed(srv, client, victim)
    # and its own environment still serves it
    assert attack(client, hostile, "signal", targets={})["init_alive"] == "ok"


def test_a_fork_of_a_template_inherits_nothing_of_another_environment(
    srv: Server, client: Any, victim: Victim, hostile: str
) -> None:
    """The victim's plan (its secret among its environment variables) went to its own fork only:
    a hostile function forked from the same template afterwards (a new one: the shared hostile
    function is sent the secret by other tests) scans every readable page it has and finds no
    trace of it."""
    forker = parent_of(parent_of(victim.host_pid))  # runtime -> its pid 1 -> whoever forked that
    if health(srv)["coldStart"] == "template":
        assert forker in template_pids()
    else:
        assert forker not in template_pids()
    prefix = "victim-secret-"
    assert victim.secret.startswith(prefix)
    fresh = deploy(client, {"app.py": HOSTILE}, Timeout=60)  # other tests send `hostile` the secret
    out = attack(
        client,
        fresh,
        "scan_memory",
        prefix=prefix,
        sha256=hashlib.sha256(victim.secret.encode()).hexdigest(),
    )
    assert out["scanned_mb"] >= 4, out  # it did read its memory (the interpreter's, at least)
    assert out["hits"] == 0, out
    assert_unharmed(srv, client, victim)


# ------------------------------------------------------------------------------ 4. mounts, namespaces
def test_cannot_remount_unshare_or_write_its_code(
    srv: Server, client: Any, victim: Victim, hostile: str
) -> None:
    out = attack(client, hostile, "mount")
    assert out == {
        "remount_task": "EPERM",
        "mount_tmpfs": "EPERM",
        "umount_task": "EPERM",
        "unshare_user": "EPERM",
        "unshare_ns": "EPERM",
        "unshare_net": "EPERM",
        "chroot": "EPERM",
        "setuid0": "EPERM",
        "write_task": "EROFS",
        "write_app": "EROFS",
        "write_runtime": "EROFS",
        "write_etc": "EROFS",
        "mkdir_opt": "EROFS",
        "write_root": "EROFS",
        "write_tmp": "ok",
    }
    assert_unharmed(srv, client, victim)


# ------------------------------------------------------------------------------ 5. Runtime API
def test_another_environments_runtime_api_refuses_and_cannot_forge(
    srv: Server, client: Any, victim: Victim, hostile: str
) -> None:
    gate = RequestIdGate()
    result: dict[str, Any] = {}

    def victim_invoke() -> None:
        result["resp"], result["out"] = call(client, victim.name, {"gate": gate.port})

    t = threading.Thread(target=victim_invoke, daemon=True)
    t.start()
    try:
        request_id = gate.arrival()  # the victim is inside its handler: its invocation is open
        out = attack(
            client, hostile, "other_runtime_api", runtime_api=victim.runtime_api, request_id=request_id
        )
    finally:
        gate.release()
        t.join(60)
        gate.close()
    assert not t.is_alive()
    for what in ("next", "response", "error"):
        seen = out[what]
        # accepted by the kernel, then closed before a byte is read: no HTTP answer at all
        assert seen["connect"] == "ok" and seen["data"] == "", (what, seen)
        assert seen["end"] in ("eof", "ECONNRESET", "EPIPE"), (what, seen)
    # the victim's open invocation got its own answer, not the forged one, and did not time out
    assert "FunctionError" not in result["resp"], result["out"]
    assert result["out"]["secret"] == victim.secret and result["out"]["request_id"] == request_id
    assert_unharmed(srv, client, victim)


def test_a_second_next_from_its_own_handler_gets_no_event(
    srv: Server, client: Any, victim: Victim, hostile: str
) -> None:
    out = attack(client, hostile, "own_runtime_api")
    seen = out["next"]
    assert seen["end"] == "answered", seen
    assert seen["data"].startswith("HTTP/1.1 403 "), seen
    body = json.loads(seen["data"].partition("\r\n\r\n")[2])
    assert body["errorType"] == "InvalidStateTransition"
    assert out["request_id"] not in seen["data"]
    assert_unharmed(srv, client, victim)
    assert attack(client, hostile, "signal", targets={})["init_alive"] == "ok"  # its own env works on


# ------------------------------------------------------------------------------ 6. fork bomb
@pytest.mark.slow
def test_fork_bomb_stops_at_the_process_limit(srv: Server, client: Any, victim: Victim, hostile: str) -> None:
    out = attack(client, hostile, "fork", count=2000, sleep=3)
    assert out["failure"] == "EAGAIN", out
    assert 900 < out["made"] < 1024, out  # pids.max / RLIMIT_NPROC 1024, less its own threads
    assert_unharmed(srv, client, victim)


# ------------------------------------------------------------------------------ 7. resources
@pytest.mark.slow
def test_filling_tmp_stops_at_ephemeral_storage(
    srv: Server, client: Any, victim: Victim, hostile: str
) -> None:
    out = attack(client, hostile, "fill_tmp", max_mb=2048)
    assert out["failure"] == "ENOSPC", out
    assert 400 < out["written_mb"] <= 512, out
    assert_unharmed(srv, client, victim)


@pytest.mark.slow
def test_memory_past_memory_size_ends_the_invocation(srv: Server, client: Any, victim: Victim) -> None:
    small = deploy(client, {"app.py": HOSTILE}, MemorySize=128, Timeout=60)
    try:
        resp, out = call(client, small, {"action": "memory", "max_mb": 2048})
        assert resp.get("FunctionError") == "Unhandled", out
        assert out["errorType"] in ("Runtime.ExitError", "Runtime.OutOfMemory", "MemoryError"), out
        assert_unharmed(srv, client, victim)
        # the function recovers in a new environment
        resp, out = call(client, small, {"action": "files_open", "count": 10})
        assert "FunctionError" not in resp and out == {"opened": 10, "failure": None}
    finally:
        client.delete_function(FunctionName=small)


def test_open_files_stop_at_1024(srv: Server, client: Any, victim: Victim, hostile: str) -> None:
    out = attack(client, hostile, "files_open", count=100_000)
    assert out["failure"] == "EMFILE", out
    assert 1000 < out["opened"] < 1024, out
    assert_unharmed(srv, client, victim)


# ------------------------------------------------------------------------------ 8. internal endpoints
def test_internal_endpoints_but_health_refuse_it(
    srv: Server, client: Any, victim: Victim, hostile: str
) -> None:
    code = f"/_lambdabox/code/{victim.code_key}.zip"
    signed = client.get_function(FunctionName=victim.name)["Code"]["Location"]
    query = signed.partition("?")[2]
    forged = "&".join(
        p if not p.startswith("X-Amz-Signature=") else "X-Amz-Signature=" + "0" * 64 for p in query.split("&")
    )
    out = attack(
        client,
        hostile,
        "internal",
        paths={
            "code": code,
            "code_forged": f"{code}?{forged}",
            "code_dotdot": f"/_lambdabox/health/..{code[len('/_lambdabox') :]}",
            "code_double_slash": "/" + code,
            "unknown": "/_lambdabox/anything",
        },
    )
    assert out["health"]["status"] == 200
    assert json.loads(out["health"]["body"])["status"] == "running"
    for label in ("code", "code_forged", "unknown"):
        assert out[label]["status"] == 403, (label, out[label])
        assert "not reachable from execution environments" in out[label]["body"]
    for label in ("code_dotdot", "code_double_slash"):  # whatever these normalise to: no zip
        assert out[label]["status"] in (403, 404), (label, out[label])
        assert not out[label]["body"].startswith("PK")
    # the same URLs from the host: the guessed one refused, the signed one serves the zip
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(srv.url + code, timeout=10)
    assert exc.value.code == 403
    with urllib.request.urlopen(signed, timeout=10) as r:
        assert hashlib.sha256(r.read()).hexdigest() == victim.code_key
    assert_unharmed(srv, client, victim)


# ------------------------------------------------------------------------------ the AWS API
TENANT_B = ("AKIDTENANTB0000000002", "tenant-b-root-secret", "222222222222")


def test_the_aws_api_does_not_hand_another_tenants_function_to_a_function(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Tenants are accounts: a function of account A, with its own credentials or none, cannot read
    the configuration (environment variables included) of account B's function."""
    key, secret, account = TENANT_B
    srv = start_isolated(
        tmp_path_factory.mktemp("tenants") / "data", "--verify-signatures", "--root-keys",
        "test:test," + ":".join(TENANT_B),
    )  # fmt: skip
    try:
        tenant_b = srv.client("lambda", key=key, secret=secret)
        victim_secret = f"victim-secret-{uuid.uuid4().hex}"
        victim = deploy(
            tenant_b, {"app.py": "def handler(e, c):\n    return 1\n"},
            role=f"arn:aws:iam::{account}:role/victim", Environment={"Variables": {"SECRET": victim_secret}},
        )  # fmt: skip
        victim_arn = tenant_b.get_function(FunctionName=victim)["Configuration"]["FunctionArn"]
        tenant_b.publish_version(FunctionName=victim)
        tenant_b.create_alias(FunctionName=victim, Name="live", FunctionVersion="1")
        tenant_b.add_permission(
            FunctionName=victim, StatementId="keep", Action="lambda:InvokeFunction", Principal="*"
        )
        policy = tenant_b.get_policy(FunctionName=victim)["Policy"]
        qualified = [f"{victim_arn}:1", f"{victim_arn}:live", f"{victim_arn}:$LATEST", victim_arn,
                     f"{account}:function:{victim}:live", f"{account}:function:{victim}:1"]  # fmt: skip
        tenant_a = srv.client("lambda")
        hostile = deploy(tenant_a, {"app.py": HOSTILE}, Timeout=60)
        out = attack(
            tenant_a,
            hostile,
            "api",
            victim=victim,
            victim_arn=victim_arn,
            secret=victim_secret,
            qualified=qualified,
        )
        assert not out["secret_seen"], out
        assert out["tries"] == {"unsigned": 403, "own_name": 404, "own_arn": 403}, out
        assert set(out["qualified"].values()) == {403}, out["qualified"]
        assert len(out["qualified"]) == 6 * len(qualified) + 2
        # nothing of the victim's changed
        assert tenant_b.invoke(FunctionName=victim)["StatusCode"] == 200
        assert tenant_b.invoke(FunctionName=victim, Qualifier="live")["ExecutedVersion"] == "1"
        assert tenant_b.get_policy(FunctionName=victim)["Policy"] == policy
        versions = tenant_b.list_versions_by_function(FunctionName=victim)["Versions"]
        assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    finally:
        srv.stop()


# ------------------------------------------------------------------------------ 9. zip uploads
def test_symlink_chain_zip_is_refused_and_writes_nothing(srv: Server, client: Any, victim: Victim) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for entry, data, mode in [
            ("x", b"d/..", 0o120777),
            ("d", b".", 0o120777),
            (f"x/{victim.code_key}/app.py", b"def handler(e, c):\n    return 'pwned'\n", 0o100644),
            ("app.py", b"def handler(e, c):\n    return 'ok'\n", 0o100644),
        ]:
            info = zipfile.ZipInfo(entry)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    before = sorted(p.name for p in (srv.data_dir / "code").iterdir())
    app_before = (victim.code_dir / "app.py").read_bytes()
    with pytest.raises(ClientError) as exc:
        client.create_function(
            FunctionName=unique("chain"),
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/lambda-role",
            Handler="app.handler",
            Code={"ZipFile": buf.getvalue()},
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    after = [n for n in sorted(p.name for p in (srv.data_dir / "code").iterdir()) if not n.endswith(".zip")]
    assert after == [n for n in before if not n.endswith(".zip")]
    assert (victim.code_dir / "app.py").read_bytes() == app_before
    assert not (victim.code_dir / "x").exists() and not (victim.code_dir.parent / "x").exists()
    assert_unharmed(srv, client, victim)


# ------------------------------------------------------------------------------ 10. --function-network none
@pytest.mark.slow
def test_network_none_reaches_only_its_runtime_api_and_the_aws_endpoint(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    s = start_isolated(tmp_path_factory.mktemp("iso-net") / "data", "--function-network", "none")
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        c = s.client("lambda")
        assert health(s)["function_network"] == "none"
        name = deploy(c, {"app.py": HOSTILE}, Timeout=60)
        port = listener.getsockname()[1]
        out = attack(c, name, "network_none", port=port, outside=["127.0.0.2"])
        assert out["runtime_api"] == "127.0.0.1:9001"
        assert out["endpoint"] == s.url  # same address, served inside its own namespace
        assert name in out["list_functions"]["names"], out["list_functions"]
        assert out["health"]["status"] == 200
        assert out["code"]["status"] == 403
        # a listener on the host's loopback is not there: a different network namespace
        assert out["host_listener"] == "ECONNREFUSED", out
        for host, seen in out["outside"].items():
            assert seen in ("ECONNREFUSED", "ENETUNREACH", "EHOSTUNREACH"), (host, seen)
        assert out["interfaces"] == ["lo"]
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever connected to it
        assert health(s)["status"] == "running"
    finally:
        listener.close()
        s.stop()
