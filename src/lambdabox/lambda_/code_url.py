"""Presigned code download URLs: GetFunction's `Code.Location`, signed here and verified at the edge.

AWS answers GetFunction with a presigned S3 URL that is valid for ten minutes. Ours has the same
shape and lifetime, on our own endpoint:

    {endpoint}/_lambdabox/code/{code_key}.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256
        &X-Amz-Date=20240101T000000Z&X-Amz-Expires=600&X-Amz-Signature=<hex HMAC-SHA256>

The signature is an HMAC-SHA256, under a server secret, of the code key, the date and the expiry.
That is enough: the code key is the SHA-256 of the zip, so a URL names exactly one content, and
two functions sharing a key share the same bytes; a URL issued for one function can only ever
fetch what its holder was already given. Binding the function name or account would add nothing
but a way for the URL to break when a function is renamed or its code shared. Expiry follows the
injected clock (so the manual clock expires URLs too).

The secret is 32 random bytes in `<data dir>/code-url.key` (mode 0600), created once, atomically,
and reused across restarts, so a URL issued just before a restart stays valid until it expires.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

from lambdabox.clock import Clock

ALGORITHM = "AWS4-HMAC-SHA256"
#: seconds a URL stays valid, as AWS's GetFunction gives (10 minutes)
EXPIRES = 600
KEY_FILE = "code-url.key"
KEY_BYTES = 32
_DATE = "%Y%m%dT%H%M%SZ"
_SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


class CodeUrlDenied(Exception):
    """Why a code URL is refused, in S3's words: `code` and `message` of its XML error, HTTP `status`,
    and the extra elements S3 adds (for an expired URL: X-Amz-Expires, Expires, ServerTime)."""

    def __init__(
        self, code: str, message: str, status: int = 403, details: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details


class CodeUrls:
    """Signs code URLs (for GetFunction) and verifies them (for the edge's download)."""

    def __init__(self, key: bytes, clock: Clock, *, expires: int = EXPIRES) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a code URL key is {KEY_BYTES} bytes, not {len(key)}")
        self._key = key
        self._clock = clock
        self._expires = expires

    def sign(self, endpoint: str, code_key: str) -> str:
        """A URL for `code_key`'s zip on `endpoint`, valid for `expires` seconds from now."""
        date = time.strftime(_DATE, time.gmtime(int(self._clock.now())))
        expires = str(self._expires)
        query = urlencode(
            {
                "X-Amz-Algorithm": ALGORITHM,
                "X-Amz-Date": date,
                "X-Amz-Expires": expires,
                "X-Amz-Signature": self._signature(code_key, date, expires),
            }
        )
        return f"{endpoint}/_lambdabox/code/{code_key}.zip?{query}"

    def verify(self, code_key: str, query: dict[str, str]) -> None:
        """Raise `CodeUrlDenied` unless `query` is a signature we issued for `code_key`, not expired."""
        algorithm = query.get("X-Amz-Algorithm")
        date = query.get("X-Amz-Date")
        expires = query.get("X-Amz-Expires")
        signature = query.get("X-Amz-Signature")
        if algorithm is None and date is None and expires is None and signature is None:
            raise CodeUrlDenied("AccessDenied", "Access Denied")  # S3's answer to an unsigned GET
        if algorithm is None or date is None or expires is None or signature is None:
            raise CodeUrlDenied(
                "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Signature, "
                "X-Amz-Date and X-Amz-Expires parameters.",
                400,
            )
        if algorithm != ALGORITHM:
            raise CodeUrlDenied(
                "AuthorizationQueryParametersError",
                'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
                400,
            )
        expected = self._signature(code_key, date, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise CodeUrlDenied("SignatureDoesNotMatch", _SIGNATURE_MESSAGE)
        # signed by us, so the date and expiry are the ones we wrote
        issued = _parse_date(date)
        deadline = issued + int(expires)
        now = self._clock.now()
        if now > deadline:
            raise CodeUrlDenied(
                "AccessDenied",
                "Request has expired",
                details=(
                    ("X-Amz-Expires", expires),
                    ("Expires", _iso(deadline)),
                    ("ServerTime", _iso(now)),
                ),
            )

    def _signature(self, code_key: str, date: str, expires: str) -> str:
        message = "\n".join(("lambdabox-code-url", ALGORITHM, date, expires, code_key)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def load_or_create_key(data_dir: Path) -> bytes:
    """The code URL key of a data dir: read `<data_dir>/code-url.key`, creating it first if absent.

    Created atomically (written and fsynced under a temporary name with mode 0600, then linked into
    place, which fails if another process got there first: then theirs is used). Blocking.
    """
    path = data_dir / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = _create_key(path)
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} is damaged: it holds {len(key)} bytes, a code URL key is {KEY_BYTES}")
    return key


def _create_key(path: Path) -> bytes:
    key = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes()
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return key


def _parse_date(date: str) -> int:
    return calendar.timegm(time.strptime(date, _DATE))


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))
