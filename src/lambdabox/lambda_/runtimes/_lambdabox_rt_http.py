"""The Python runtime client's connection to the Runtime API: one HTTP/1.1 keep-alive client.

Part of lambdabox's Python runtime client (``bootstrap_python.py`` loads it by file path, under this
private name, before user code runs; it is never on ``sys.path``). The client is a few lines over the
raw ``_socket`` module: ``http.client`` would pull in ``email`` and ``ssl`` (+6 MB resident in every
idle environment). Standard library only.
"""

from __future__ import annotations

import _socket
import sys


class StaleConnection(ConnectionError):
    """A reused keep-alive connection turned out closed before any byte of the response arrived."""


class RuntimeAPIClient:
    """One HTTP/1.1 keep-alive connection to the Runtime API; requests go strictly one at a time."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._family = _socket.AF_INET
        if host.startswith("["):
            self._family = _socket.AF_INET6
            host = host[1:-1]
        self._address = (host or "127.0.0.1", int(port))
        version = ".".join(str(part) for part in sys.version_info[:3])
        self._fixed_headers = f"Host: {address}\r\nUser-Agent: lambdabox-python/{version}\r\n"
        self._sock: _socket.socket | None = None
        self._buf = bytearray()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buf.clear()

    def _connect(self) -> _socket.socket:
        sock = _socket.socket(self._family, _socket.SOCK_STREAM)
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            sock.connect(self._address)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return sock

    def request(
        self, method: str, path: str, body: bytes = b"", headers: str = ""
    ) -> tuple[int, dict[str, str], bytes | bytearray]:
        """Send one request and return (status, lower-cased headers, body).

        A connection the server has closed meanwhile (its keep-alive timeout may be shorter than a
        handler's run) is noticed before sending and replaced. A request on a reused connection that
        fails before one byte of a response came back is sent once more, on a new connection: the
        server cannot have acted on it.
        """
        if method == "GET":
            head = f"GET {path} HTTP/1.1\r\n{self._fixed_headers}{headers}\r\n"
        else:
            head = f"{method} {path} HTTP/1.1\r\n{self._fixed_headers}{headers}Content-Length: {len(body)}\r\n\r\n"
        data = head.encode("latin-1")
        if len(body) < 65536:
            data += body
            body = b""
        # Only POSTs follow a wait (the handler's run); a GET follows a response just read.
        if method != "GET" and self._sock is not None and self._closed_by_server(self._sock):
            self.close()
        for attempt in (1, 2):
            reused = self._sock is not None
            sock = self._sock or self._connect()
            try:
                try:
                    sock.sendall(data)
                    if body:
                        sock.sendall(body)
                except OSError as exc:
                    raise StaleConnection(str(exc)) from exc
                return self._read_response(sock)
            except StaleConnection:
                self.close()
                if not reused or attempt == 2:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def _closed_by_server(self, sock: _socket.socket) -> bool:
        if self._buf:
            return False
        try:
            return not sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _read_response(self, sock: _socket.socket) -> tuple[int, dict[str, str], bytes | bytearray]:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            started = len(buf) > 0
            try:
                chunk = sock.recv(65536)
            except OSError as exc:
                if started:
                    raise
                raise StaleConnection(str(exc)) from exc
            if not chunk:
                if started:
                    raise ConnectionError("Runtime API closed the connection mid-response")
                raise StaleConnection("Runtime API closed the connection")
            buf += chunk
            end = buf.find(b"\r\n\r\n", max(0, len(buf) - len(chunk) - 3))
        lines = buf[:end].decode("utf-8", "replace").split("\r\n")
        del buf[: end + 4]
        status_line = lines[0].split(" ", 2)
        status = int(status_line[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            colon = line.find(":")
            headers[line[:colon].lower()] = line[colon + 1 :].strip()
        keep_alive = status_line[0] != "HTTP/1.0"
        connection = headers.get("connection")
        if connection is not None:
            keep_alive = connection.lower() != "close" if keep_alive else connection.lower() == "keep-alive"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body: bytes | bytearray = self._read_chunked(sock)
        elif "content-length" in headers:
            body = self._read_exact(sock, int(headers["content-length"]))
        elif status < 200 or status in (204, 304):
            body = b""
        else:
            body = self._read_to_close(sock)
            keep_alive = False
        if not keep_alive:
            self.close()
        return status, headers, body

    def _fill(self, sock: _socket.socket) -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("Runtime API closed the connection mid-response")
        self._buf += chunk

    def _read_exact(self, sock: _socket.socket, size: int) -> bytes | bytearray:
        buf = self._buf
        if len(buf) >= size:
            body = bytes(buf[:size])
            del buf[:size]
            return body
        out = bytearray(size)
        have = len(buf)
        out[:have] = buf
        buf.clear()
        view = memoryview(out)
        while have < size:
            got = sock.recv_into(view[have:])
            if not got:
                raise ConnectionError("Runtime API closed the connection mid-response")
            have += got
        return out

    def _read_line(self, sock: _socket.socket) -> bytes:
        buf = self._buf
        end = buf.find(b"\r\n")
        while end < 0:
            self._fill(sock)
            end = buf.find(b"\r\n")
        line = bytes(buf[:end])
        del buf[: end + 2]
        return line

    def _read_chunked(self, sock: _socket.socket) -> bytearray:
        out = bytearray()
        while True:
            size = int(self._read_line(sock).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self._read_line(sock):  # trailers, up to the blank line
                    pass
                return out
            out += self._read_exact(sock, size)
            self._read_line(sock)

    def _read_to_close(self, sock: _socket.socket) -> bytearray:
        out = bytearray(self._buf)
        self._buf.clear()
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            out += chunk
