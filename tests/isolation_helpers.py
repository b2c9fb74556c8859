"""Sources and host-side helpers for tests/test_isolation.py: a victim and a hostile function.

The hostile handler takes ``{"action": ..., ...}`` and tries one attack, returning what it saw
(errno names rather than exceptions, so the test can assert the exact refusal). Everything it
does is bounded in count and time, and it only ever talks to loopback.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

#: the victim: answers with its secret and marker (and, when asked, waits at a gate first,
#: telling the gate its request id, so a test can aim a forged response at that invocation)
VICTIM = """
import os, socket

MARKER = open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "{marker}")).read()

def handler(event, context):
    if event.get("gate"):
        s = socket.create_connection(("127.0.0.1", event["gate"]), timeout=60)
        s.sendall(context.aws_request_id.encode() + b"\\n")
        s.makefile().readline()
        s.close()
    return {{
        "secret": os.environ["SECRET"],
        "marker": MARKER,
        "request_id": context.aws_request_id,
        "runtime_api": os.environ["AWS_LAMBDA_RUNTIME_API"],
        "pid": os.getpid(),
    }}
"""

HOSTILE = r'''
import ctypes, errno, json, os, signal, socket, sys, time, urllib.error, urllib.request

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.unshare.argtypes = [ctypes.c_int]
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
libc.chroot.argtypes = [ctypes.c_char_p]
MS_REMOUNT, MS_BIND = 32, 4096
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
PTRACE_ATTACH = 16


def name(e):
    return errno.errorcode.get(e, str(e))


def err(exc):
    return name(exc.errno) if isinstance(exc, OSError) and exc.errno else type(exc).__name__


def try_(fn, *args):
    """'ok' (or what fn returned) or the errno name it failed with."""
    try:
        out = fn(*args)
    except Exception as exc:
        return err(exc)
    return "ok" if out is None else out


def c_call(fn, *args):
    """A libc call: 'ok' or the errno name."""
    return "ok" if fn(*args) == 0 else name(ctypes.get_errno())


def listdir(p):
    return try_(lambda: sorted(os.listdir(p)))


def read(p, n=1 << 20):
    def f():
        with open(p, "rb") as fh:
            return fh.read(n).decode("latin-1")
    return try_(f)


def walk(found_names, limit=600_000, seconds=40.0):
    """Walk / (not /proc), bounded: files named in found_names, and app.py files outside the
    system's and the interpreter's own libraries."""
    deadline = time.monotonic() + seconds
    libs = ("/usr/", sys.base_prefix.rstrip("/") + "/lib/")
    seen, hits, apps, complete = 0, [], [], True
    for dp, dirs, files in os.walk("/", onerror=lambda e: None):
        if dp == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
        seen += len(files) + len(dirs)
        hits += [os.path.join(dp, f) for f in files if f in found_names]
        if "app.py" in files and not (dp + "/").startswith(libs):
            apps.append(os.path.join(dp, "app.py"))
        if seen > limit or time.monotonic() > deadline:
            complete = False
            break
    return {"seen": seen, "hits": hits, "apps": apps, "complete": complete}


def act_files(ev):
    out = {"root": listdir("/"), "root_home": listdir("/root"), "home": listdir("/home")}
    out["shadow"] = read("/etc/shadow")
    out["etc"] = listdir("/etc")
    out["host_paths"] = {p: listdir(p) if not p.endswith((".db", ".key", ".py", ".txt")) else read(p)
                         for p in ev["paths"]}
    out["walk"] = walk(set(ev["names"]))
    return out


def act_proc(ev):
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    secret = ev["secret"].encode()
    leaks = []
    readable = 0
    for pid in pids:
        for what in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as fh:
                    data = fh.read()
                readable += 1
            except OSError:
                continue
            if secret in data:
                leaks.append(f"{pid}/{what}")
    host = {str(p): read(f"/proc/{p}/environ") for p in ev["host_pids"]}
    with open("/proc/self/cgroup") as f:  # its own cgroup namespace: no host paths, no server pid
        cgroups = sorted({line.rstrip("\n").split(":", 2)[2] for line in f})
    return {"pids": pids, "me": os.getpid(), "leaks": leaks, "readable": readable, "host": host,
            "cgroups": cgroups}


def act_signal(ev):
    out = {}
    for label, pid in ev["targets"].items():
        out[f"kill0_{label}"] = try_(os.kill, pid, 0)
        out[f"kill9_{label}"] = try_(os.kill, pid, signal.SIGKILL)
        out[f"ptrace_{label}"] = c_call(libc.ptrace, PTRACE_ATTACH, pid, None, None)
    out["ptrace_init"] = c_call(libc.ptrace, PTRACE_ATTACH, 1, None, None)
    out["kill9_init"] = try_(os.kill, 1, signal.SIGKILL)
    time.sleep(0.2)
    out["init_alive"] = try_(os.kill, 1, 0)
    return out


def act_mount(ev):
    out = {}
    out["remount_task"] = c_call(libc.mount, None, b"/var/task", None, MS_REMOUNT | MS_BIND, None)
    out["mount_tmpfs"] = c_call(libc.mount, b"tmpfs", b"/tmp", b"tmpfs", 0, None)
    out["umount_task"] = c_call(libc.umount2, b"/var/task", 2)
    out["unshare_user"] = c_call(libc.unshare, CLONE_NEWUSER)
    out["unshare_ns"] = c_call(libc.unshare, CLONE_NEWNS)
    out["unshare_net"] = c_call(libc.unshare, CLONE_NEWNET)
    out["chroot"] = c_call(libc.chroot, b"/tmp")
    out["setuid0"] = try_(os.setuid, 0)

    def write(p):
        with open(p, "w") as fh:
            fh.write("pwned")
    out["write_task"] = try_(write, "/var/task/pwned.py")
    out["write_app"] = try_(write, "/var/task/app.py")
    out["write_runtime"] = try_(write, "/var/runtime/pwned.py")
    out["write_etc"] = try_(write, "/etc/passwd")
    out["mkdir_opt"] = try_(os.mkdir, "/opt/pwned")
    out["write_root"] = try_(write, "/pwned")
    out["write_tmp"] = try_(write, "/tmp/mine")  # its own /tmp: allowed
    return out


def http(addr, raw, timeout=5.0):
    """Send raw bytes to host:port; what came back (b'' when closed without a word) or an errno."""
    host, port = addr.rsplit(":", 1)
    try:
        s = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as exc:
        return {"connect": err(exc)}
    got, end = b"", "eof"
    try:
        s.sendall(raw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got:
                head, _, body = got.partition(b"\r\n\r\n")
                length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    end = "answered"
                    break
        else:
            end = "timeout"
    except OSError as exc:
        end = err(exc)
    finally:
        s.close()
    return {"connect": "ok", "end": end, "data": got.decode("latin-1")}


def act_other_runtime_api(ev):
    addr = ev["runtime_api"]
    nxt = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
    forged = json.dumps({"secret": "forged", "marker": "forged"}).encode()
    rid = ev.get("request_id", "00000000-0000-0000-0000-000000000000")
    post = (b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (rid.encode(), len(forged), forged))
    err_post = (b"POST /2018-06-01/runtime/invocation/%s/error HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 2\r\n\r\n{}" % rid.encode())
    return {"next": http(addr, nxt), "response": http(addr, post), "error": http(addr, err_post)}


def act_own_runtime_api(ev):
    nxt = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
    return {"next": http(os.environ["AWS_LAMBDA_RUNTIME_API"], nxt), "request_id": ev["rid"]}


def act_fork(ev):
    made, failure, pids = 0, None, []
    deadline = time.monotonic() + 20
    for _ in range(ev["count"]):
        if time.monotonic() > deadline:
            failure = "deadline"
            break
        try:
            pid = os.fork()
        except OSError as exc:
            failure = err(exc)
            break
        if pid == 0:  # exec at once (a forked interpreter would dirty its copy of our memory)
            try:
                os.execv("/bin/sleep", ["sleep", str(ev["sleep"])])
            finally:
                os._exit(0)
        made += 1
        pids.append(pid)
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
    return {"made": made, "failure": failure}


def act_fill_tmp(ev):
    chunk = b"\0" * (1 << 20)
    written, failure = 0, None
    path = "/tmp/fill"
    deadline = time.monotonic() + 30
    try:
        with open(path, "wb") as fh:
            for _ in range(ev["max_mb"]):
                if time.monotonic() > deadline:
                    failure = "deadline"
                    break
                fh.write(chunk)
                fh.flush()
                written += 1
    except OSError as exc:
        failure = err(exc)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    return {"written_mb": written, "failure": failure}


def act_memory(ev):
    hoard = []
    for _ in range(ev["max_mb"] // 16):
        hoard.append(bytearray(16 << 20))  # zeroed: every page touched
    return {"allocated_mb": 16 * len(hoard)}


def act_files_open(ev):
    fds, failure = [], None
    try:
        for _ in range(ev["count"]):
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as exc:
        failure = err(exc)
    finally:
        for fd in fds:
            os.close(fd)
    return {"opened": len(fds), "failure": failure}


def get(url, timeout=10.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return {"status": r.status, "body": r.read(4096).decode("latin-1")}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "body": exc.read(4096).decode("latin-1")}
    except OSError as exc:
        return {"status": None, "error": err(exc)}


def act_internal(ev):
    base = os.environ["AWS_ENDPOINT_URL"]
    out = {"health": get(base + "/_lambdabox/health")}
    for label, path in ev["paths"].items():
        out[label] = get(base + path)
    return out


def act_network_none(ev):
    out = {"runtime_api": os.environ["AWS_LAMBDA_RUNTIME_API"], "endpoint": os.environ["AWS_ENDPOINT_URL"]}
    try:  # the bundled SDK, through AWS_ENDPOINT_URL and the environment's credentials
        import boto3
        names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
        out["list_functions"] = {"via": "boto3", "names": names}
    except ImportError:
        got = get(os.environ["AWS_ENDPOINT_URL"] + "/2015-03-31/functions/")
        names = [f["FunctionName"] for f in json.loads(got["body"])["Functions"]] if got["status"] == 200 else got
        out["list_functions"] = {"via": "urllib", "names": names}
    out["health"] = get(os.environ["AWS_ENDPOINT_URL"] + "/_lambdabox/health")
    out["code"] = get(os.environ["AWS_ENDPOINT_URL"] + "/_lambdabox/code/" + "0" * 64 + ".zip")
    s = socket.socket()
    s.settimeout(5)
    out["host_listener"] = try_(s.connect, ("127.0.0.1", ev["port"]))
    s.close()
    out["outside"] = {}
    for host in ev["outside"]:
        s = socket.socket()
        s.settimeout(3)
        out["outside"][host] = try_(s.connect, (host, ev["port"]))
        s.close()
    out["interfaces"] = sorted(n for _, n in socket.if_nameindex())
    return out


def act_api(ev):
    """Read the victim's configuration through the AWS API: unsigned, then with this function's own
    credentials by name and by the victim's ARN. HTTP statuses, and whether the secret showed up."""
    base = os.environ["AWS_ENDPOINT_URL"]
    got = get(base + "/2015-03-31/functions/" + ev["victim"] + "/configuration")
    out = {"tries": {"unsigned": got["status"]}, "secret_seen": ev["secret"] in got.get("body", "")}
    try:
        import boto3, botocore.exceptions
    except ImportError:
        out["tries"]["boto3"] = "missing"
        return out
    lam = boto3.client("lambda")
    for label, ident in (("own_name", ev["victim"]), ("own_arn", ev["victim_arn"])):
        try:
            body = json.dumps(lam.get_function(FunctionName=ident), default=str)
            out["tries"][label] = 200
            out["secret_seen"] = out["secret_seen"] or ev["secret"] in body
        except botocore.exceptions.ClientError as e:
            out["tries"][label] = e.response["ResponseMetadata"]["HTTPStatusCode"]
    # the victim's versions and aliases, by every qualified ARN form: read, run, change, delete
    ops = {
        "get_function": lambda i: lam.get_function(FunctionName=i),
        "invoke": lambda i: lam.invoke(FunctionName=i),
        "get_policy": lambda i: lam.get_policy(FunctionName=i),
        "add_permission": lambda i: lam.add_permission(
            FunctionName=i, StatementId="takeover", Action="lambda:*", Principal="*"),
        "remove_permission": lambda i: lam.remove_permission(FunctionName=i, StatementId="keep"),
        "delete_function": lambda i: lam.delete_function(FunctionName=i),
    }
    out["qualified"] = {}
    for ident in ev.get("qualified", []):
        for op, run in ops.items():
            try:
                body = json.dumps(run(ident), default=str)
                out["qualified"][f"{op} {ident}"] = 200
                out["secret_seen"] = out["secret_seen"] or ev["secret"] in body
            except botocore.exceptions.ClientError as e:
                out["qualified"][f"{op} {ident}"] = e.response["ResponseMetadata"]["HTTPStatusCode"]
    for op, run in (
        ("update_alias", lambda: lam.update_alias(FunctionName=ev["victim_arn"], Name="live", FunctionVersion="$LATEST")),
        ("publish_version", lambda: lam.publish_version(FunctionName=ev["victim_arn"])),
    ):
        try:
            run()
            out["qualified"][op] = 200
        except botocore.exceptions.ClientError as e:
            out["qualified"][op] = e.response["ResponseMetadata"]["HTTPStatusCode"]
    return out


def act_scan_memory(ev):
    """Search every readable page of this process (what a fork of a template inherited included)
    for a secret of the form PREFIX + 32 hex digits whose SHA-256 is ev["sha256"]: the secret
    itself is never sent here, so a hit can only be memory inherited from elsewhere."""
    import hashlib, re
    prefix = ev["prefix"].encode()
    pattern = re.compile(re.escape(prefix) + rb"[0-9a-f]{32}")
    scanned, candidates, hits = 0, 0, 0
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            scanned += len(data)
            for m in pattern.finditer(data):
                candidates += 1
                if hashlib.sha256(m.group()).hexdigest() == ev["sha256"]:
                    hits += 1
    return {"scanned_mb": scanned >> 20, "candidates": candidates, "hits": hits}


ACTIONS = {k[4:]: v for k, v in globals().items() if k.startswith("act_")}


def handler(event, context):
    if event["action"] == "own_runtime_api":
        event["rid"] = context.aws_request_id
    return ACTIONS[event["action"]](event)
'''


def template_pids() -> list[int]:
    """Host pids of lambdabox's Python template processes (template.py), not their spare forks
    (which show the same command line until they are given an environment)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if b"lambdabox.lambda_.sandbox.template" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
    return [pid for pid in found if _parent_or_none(pid) not in found]


def _parent_or_none(pid: int) -> int | None:
    try:
        return parent_of(pid)
    except OSError:
        return None


def parent_of(pid: int) -> int:
    """The host parent pid of `pid`."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def find_host_pids(needle: bytes, limit: int = 100_000) -> list[int]:
    """Host pids whose environment contains `needle` (needs root; bounded)."""
    found = []
    for n, entry in enumerate(os.listdir("/proc")):
        if n > limit:
            break
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in Path(f"/proc/{entry}/environ").read_bytes():
                found.append(int(entry))
    return found


class RequestIdGate:
    """A loopback listener the gated victim connects to: it tells its request id and waits."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(30)
        self.port: int = self._listener.getsockname()[1]
        self._conn: socket.socket | None = None

    def arrival(self) -> str:
        """Wait (bounded: 30 s) for the victim; its request id."""
        self._conn, _ = self._listener.accept()
        self._conn.settimeout(30)
        return self._conn.makefile().readline().strip()

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.sendall(b"go\n")
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        self.release()
        self._listener.close()
