"""Who is on the other end of a TCP connection: the uid owning the client's socket, from the kernel.

A server sees a connection as (our local address, the client's address). When the client is in
this network namespace, its socket is a row of `/proc/net/tcp` (or `/proc/net/tcp6`) whose
`local_address` is the client's address and whose `rem_address` is ours; that row's `uid` column
is the uid that created the client's socket. The kernel prints addresses as hex of the in-memory
32-bit words (so little-endian on x86) and ports as big-endian hex:

    127.0.0.1:8080           ->  0100007F:1F90
    ::1:8080                 ->  00000000000000000000000001000000:1F90
    ::ffff:127.0.0.1:8080    ->  0000000000000000FFFF00000100007F:1F90

The kernel answers one exact lookup through netlink's sock_diag (``SOCK_DIAG_BY_FAMILY`` with
the connection's 4-tuple: microseconds); `/proc/net/tcp` is only the fallback, because producing
it walks the whole TCP hash table, which takes milliseconds on a machine with much memory
(measured 5 ms here, once per cold start). In the table, rather than parse every row, the
encoded address pair is searched for in the text read once as bytes. A client whose socket is already closed leaves at most a TIME_WAIT/FIN_WAIT2 row, which
the kernel prints with uid 0 and inode 0 whoever owned it: that is `PeerClosed`, never "root".
"""

from __future__ import annotations

import errno
import socket
import struct
import sys
from pathlib import Path

_TCP = Path("/proc/net/tcp")
_TCP6 = Path("/proc/net/tcp6")
#: whitespace-separated columns of a row: sl local rem st tx:rx tr:when retrnsmt uid timeout inode
_UID = 7
_INODE = 9


class PeerClosed(LookupError):
    """The client's socket is in this namespace's table but already closed: its owner is not recorded."""


def socket_owner_uid(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """The uid owning the client's socket of the connection (`local` ours, `remote` the client's).

    None when no socket in this network namespace has that address pair (a client on another
    host or in another namespace). Raises `PeerClosed` when the client closed its socket before
    it could be looked up (the kernel kept no owner for it).
    """
    ipv4 = _as_ipv4(local[0]) is not None and _as_ipv4(remote[0]) is not None
    try:
        uid = _diag_owner(local, remote, ipv4)
        if uid is None and ipv4:  # an AF_INET6 client talking through v4-mapped addresses
            mapped = (f"::ffff:{_as_ipv4(local[0])}", local[1]), (f"::ffff:{_as_ipv4(remote[0])}", remote[1])
            uid = _diag_owner(mapped[0], mapped[1], False)
        return uid
    except _NoDiag:
        pass
    # an AF_INET client is in tcp; an AF_INET6 one (also when talking to a v4-mapped address) in tcp6
    for path, ipv6 in ([(_TCP, False)] if ipv4 else []) + [(_TCP6, True)]:
        needle = _needle(remote, local, ipv6=ipv6)
        if needle is None:
            continue
        try:
            table = path.read_bytes()
        except FileNotFoundError:  # no IPv6 in this kernel
            continue
        uid = find_owner(table, needle)
        if uid is not None:
            return uid
    return None


class _NoDiag(Exception):
    """Netlink sock_diag is not available here: read the table instead."""


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NOCOOKIE = 0xFFFFFFFF
_TCP_TIME_WAIT = 6


def _diag_owner(local: tuple[str, int], remote: tuple[str, int], ipv4: bool) -> int | None:
    """The client socket's uid by one sock_diag lookup of its 4-tuple (src = the client)."""
    if ipv4:
        family = socket.AF_INET
        src = socket.inet_aton(str(_as_ipv4(remote[0]))) + bytes(12)
        dst = socket.inet_aton(str(_as_ipv4(local[0]))) + bytes(12)
    else:
        family = socket.AF_INET6
        try:
            src = socket.inet_pton(socket.AF_INET6, remote[0].split("%", 1)[0])
            dst = socket.inet_pton(socket.AF_INET6, local[0].split("%", 1)[0])
        except (OSError, ValueError):
            return None
    sockid = struct.pack("!HH16s16s", int(remote[1]), int(local[1]), src, dst)
    sockid += struct.pack("=III", 0, _NOCOOKIE, _NOCOOKIE)
    req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
    msg = struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0) + req
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(1.0)
            nl.sendto(msg, (0, 0))
            reply = nl.recv(65536)
    except (OSError, AttributeError) as exc:
        raise _NoDiag from exc
    if len(reply) < 20:
        raise _NoDiag
    (mtype,) = struct.unpack_from("=H", reply, 4)
    if mtype == _NLMSG_ERROR:
        (err,) = struct.unpack_from("=i", reply, 16)
        if err == -errno.ENOENT:
            return None  # no such socket in this network namespace
        raise _NoDiag
    if mtype != _SOCK_DIAG_BY_FAMILY or len(reply) < 16 + 72:
        raise _NoDiag
    state = reply[17]
    uid, inode = struct.unpack_from("=II", reply, 16 + 64)
    if state == _TCP_TIME_WAIT or (uid == 0 and inode == 0):
        raise PeerClosed("the client's socket is closed; its owner is not recorded")
    return int(uid)


def find_owner(table: bytes, needle: bytes) -> int | None:
    """In one table's text, the uid of the socket whose `local rem` columns are `needle` (None: no row).

    Raises `PeerClosed` when only rows without an owner match (uid 0 and inode 0: TIME_WAIT).
    """
    closed = False
    start = 0
    while (at := table.find(needle, start)) >= 0:
        start = at + len(needle)
        line_start = table.rfind(b"\n", 0, at) + 1
        line_end = table.find(b"\n", at)
        cols = table[line_start : line_end if line_end >= 0 else len(table)].split()
        if len(cols) <= _INODE:
            continue
        uid, inode = int(cols[_UID]), int(cols[_INODE])
        if inode != 0 or uid != 0:
            # a live socket, or an orphaned full socket (closed, but still recording its owner)
            return uid
        closed = True
    if closed:
        raise PeerClosed("the client's socket is closed; its owner is not recorded")
    return None


def _needle(src: tuple[str, int], dst: tuple[str, int], *, ipv6: bool) -> bytes | None:
    a, b = encode(src, ipv6=ipv6), encode(dst, ipv6=ipv6)
    if a is None or b is None:
        return None
    return b" " + a + b" " + b + b" "


def encode(addr: tuple[str, int], *, ipv6: bool) -> bytes | None:
    """`addr` as /proc/net/tcp (ipv6=False) or /proc/net/tcp6 prints it; None if it cannot be there."""
    host, port = addr[0], int(addr[1])
    v4 = _as_ipv4(host)
    if ipv6:
        try:
            raw = socket.inet_pton(socket.AF_INET6, "::ffff:" + v4 if v4 else host.split("%", 1)[0])
        except (OSError, ValueError):
            return None
    elif v4 is not None:
        raw = socket.inet_aton(v4)
    else:
        return None
    words = "".join(f"{int.from_bytes(raw[i : i + 4], sys.byteorder):08X}" for i in range(0, len(raw), 4))
    return f"{words}:{port:04X}".encode()


def _as_ipv4(host: str) -> str | None:
    """The dotted IPv4 address `host` is (plain or IPv4-mapped IPv6), else None."""
    if host.lower().startswith("::ffff:") and "." in host:
        host = host[7:]
    try:
        socket.inet_pton(socket.AF_INET, host)
    except (OSError, ValueError):
        return None
    return host
