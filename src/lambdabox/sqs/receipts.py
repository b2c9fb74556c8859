"""Receipt handles: what ReceiveMessage hands out and DeleteMessage / ChangeMessageVisibility take.

A handle names its queue, its message and the token of the receive that gave it, and carries a
MAC of the three (keyed BLAKE2b: a MAC by design, and a third of OpenSSL's HMAC's cost per call)
under a key kept in the store (made once, at the first start), so a handle
nobody was given — a forged token, or a handle of another queue — is `ReceiptHandleIsInvalid`, as
on AWS, while an earlier receive's genuine handle still deletes its message (AWS's standard queues
do too)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import sqlite3

#: a handle's MAC, in hex digits
_MAC_LENGTH = 32


def load_key(conn: sqlite3.Connection) -> bytes:
    row = conn.execute("SELECT key FROM sqs_secret LIMIT 1").fetchone()
    return bytes(row[0])


class Receipts:
    """Signs and checks the handles of one server (its key from `load_key`)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, queue_id: int, message_id: str, token: str) -> str:
        text = f"{queue_id}:{message_id}:{token}".encode()
        return hashlib.blake2b(text, key=self._key, digest_size=_MAC_LENGTH // 2).hexdigest()

    def handle(self, queue_id: int, message_id: str, token: str) -> str:
        mac = self._mac(queue_id, message_id, token)
        return base64.urlsafe_b64encode(f"{queue_id}:{message_id}:{token}:{mac}".encode()).decode()

    def parse(self, queue_id: int, handle: str) -> tuple[str, str] | None:
        """(message id, receive token) of a handle this server gave for queue `queue_id`, else None."""
        try:
            text = base64.urlsafe_b64decode(handle.encode("ascii")).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            return None
        parts = text.split(":")
        if len(parts) != 4 or parts[0] != str(queue_id) or not parts[1] or not parts[2]:
            return None
        if not hmac.compare_digest(parts[3], self._mac(queue_id, parts[1], parts[2])):
            return None
        return parts[1], parts[2]
