"""peers.socket_owner_uid: the uid owning the client's end of a TCP connection, from the kernel's table."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator

import pytest

from lambdabox.peers import PeerClosed, encode, find_owner, socket_owner_uid


@contextlib.contextmanager
def connected(
    family: int, listen_host: str, connect_family: int, connect_host: str
) -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of one connection on loopback."""
    listener = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.bind((listen_host, 0))
    listener.listen(1)
    client = socket.socket(connect_family, socket.SOCK_STREAM)
    try:
        client.connect((connect_host, listener.getsockname()[1]))
        server, _ = listener.accept()
        try:
            yield server, client
        finally:
            server.close()
    finally:
        client.close()
        listener.close()


def owner(server: socket.socket) -> int | None:
    return socket_owner_uid(server.getsockname()[:2], server.getpeername()[:2])


def test_ipv4_client_is_this_process() -> None:
    with connected(socket.AF_INET, "127.0.0.1", socket.AF_INET, "127.0.0.1") as (server, _):
        assert owner(server) == os.getuid()


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
def test_ipv6_client_is_this_process() -> None:
    with connected(socket.AF_INET6, "::1", socket.AF_INET6, "::1") as (server, _):
        assert owner(server) == os.getuid()


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
def test_ipv4_client_of_a_dual_stack_listener() -> None:
    # the server sees ::ffff:127.0.0.1 on both ends; the client's AF_INET socket is in /proc/net/tcp
    with connected(socket.AF_INET6, "::", socket.AF_INET, "127.0.0.1") as (server, _):
        assert server.getpeername()[0] == "::ffff:127.0.0.1"
        assert owner(server) == os.getuid()


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
def test_ipv6_client_of_an_ipv4_listener() -> None:
    # the server sees plain IPv4; the client's AF_INET6 socket is in /proc/net/tcp6, v4-mapped
    with connected(socket.AF_INET, "127.0.0.1", socket.AF_INET6, "::ffff:127.0.0.1") as (server, _):
        assert owner(server) == os.getuid()


def test_unknown_pair_is_none() -> None:
    with connected(socket.AF_INET, "127.0.0.1", socket.AF_INET, "127.0.0.1") as (server, _):
        port = server.getsockname()[1]
        # the pair reversed (that is the server's own socket, not a client's), and a stranger
        assert socket_owner_uid(("127.0.0.1", port), ("127.0.0.1", 1)) is None
        assert socket_owner_uid(("127.0.0.1", port), ("192.0.2.7", server.getpeername()[1])) is None
        assert socket_owner_uid(("not an address", 1), ("127.0.0.1", 2)) is None


def _fin_timeout() -> int:
    try:
        return int(open("/proc/sys/net/ipv4/tcp_fin_timeout").read())
    except OSError:
        return 60


@pytest.mark.skipif(_fin_timeout() > 60, reason="a long tcp_fin_timeout keeps the closed socket whole")
def test_client_that_closed_is_not_taken_for_root() -> None:
    with connected(socket.AF_INET, "127.0.0.1", socket.AF_INET, "127.0.0.1") as (server, client):
        client.close()
        assert server.recv(1) == b""  # the FIN arrived: the client's end is now a TIME_WAIT row (uid 0)
        with pytest.raises(PeerClosed):
            owner(server)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
def test_client_of_another_uid() -> None:
    uid = 54_321
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    port = listener.getsockname()[1]
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become `uid`, connect, hold the connection until the parent is done
        try:
            os.close(hold_w)
            "127.0.0.1".encode("idna")  # the codec connect() uses, loaded while the stdlib is readable
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            s = socket.create_connection(("127.0.0.1", port))
            os.read(hold_r, 1)
            s.close()
        finally:
            os._exit(0)
    os.close(hold_r)
    try:
        server, _ = listener.accept()
        with server:
            assert owner(server) == uid
    finally:
        os.close(hold_w)
        os.waitpid(pid, 0)
        listener.close()


# -- the table formats, from captured rows ----------------------------------------------------
TCP = (
    b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    b"   0: 0100007F:10E6 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41533 1 "
    b"0000000000000000 100 0 0 10 0\n"
    b"   1: 0100007F:D5A2 0100007F:10E6 01 00000000:00000000 00:00000000 00000000  1001        0 48812 1 "
    b"0000000000000000 20 4 30 10 -1\n"
    b"   2: 0100007F:10E6 0100007F:D5A2 01 00000000:00000000 00:00000000 00000000     0        0 48813 1 "
    b"0000000000000000 20 4 29 10 -1\n"
    b"   3: 0100007F:D5A4 0100007F:10E6 06 00000000:00000000 03:00001693 00000000     0        0 0 3 "
    b"0000000000000000"
)
TCP6 = (
    b"  sl  local_address                         remote_address                        st tx_queue "
    b"rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    b"   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    b"00:00000000 00000000     0        0 51234 1 0000000000000000 100 0 0 10 0\n"
    b"   1: 00000000000000000000000001000000:C350 00000000000000000000000001000000:1F90 01 00000000:00000000 "
    b"00:00000000 00000000 100042        0 51240 1 0000000000000000 20 4 30 10 -1\n"
    b"   2: 0000000000000000FFFF00000100007F:9E8C 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 "
    b"00:00000000 00000000  1002        0 51300 1 0000000000000000 20 4 30 10 -1\n"
)


def pair(client: tuple[str, int], server: tuple[str, int], ipv6: bool) -> bytes:
    a, b = encode(client, ipv6=ipv6), encode(server, ipv6=ipv6)
    assert a is not None and b is not None
    return b" " + a + b" " + b + b" "


@pytest.mark.skipif(sys.byteorder != "little", reason="the captured rows are from a little-endian host")
def test_encodings() -> None:
    assert encode(("127.0.0.1", 4326), ipv6=False) == b"0100007F:10E6"
    assert encode(("::1", 8080), ipv6=True) == b"00000000000000000000000001000000:1F90"
    assert encode(("::ffff:127.0.0.1", 40588), ipv6=True) == b"0000000000000000FFFF00000100007F:9E8C"
    assert encode(("127.0.0.1", 40588), ipv6=True) == b"0000000000000000FFFF00000100007F:9E8C"
    assert encode(("::ffff:127.0.0.1", 4326), ipv6=False) == b"0100007F:10E6"
    assert encode(("::1", 1), ipv6=False) is None


@pytest.mark.skipif(sys.byteorder != "little", reason="the captured rows are from a little-endian host")
def test_find_owner_in_captured_rows() -> None:
    server4 = ("127.0.0.1", 4326)
    assert find_owner(TCP, pair(("127.0.0.1", 54690), server4, False)) == 1001
    # the server's own accepted socket is the reverse pair: never taken for the client's
    assert find_owner(TCP, pair(server4, ("127.0.0.1", 54690), False)) == 0
    assert find_owner(TCP, pair(("127.0.0.1", 1), server4, False)) is None
    with pytest.raises(PeerClosed):  # a TIME_WAIT row (uid 0, inode 0), the last line without "\n"
        find_owner(TCP, pair(("127.0.0.1", 54692), server4, False))
    assert find_owner(TCP6, pair(("::1", 50000), ("::1", 8080), True)) == 100042
    assert find_owner(TCP6, pair(("127.0.0.1", 40588), ("::ffff:127.0.0.1", 8080), True)) == 1002
