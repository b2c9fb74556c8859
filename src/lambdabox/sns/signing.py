"""SNS's message signatures: one RSA key and self-signed X.509 certificate per server (made once,
kept in the store), and AWS's string to sign for SignatureVersion 1 (SHA1withRSA) and 2
(SHA256withRSA) of every envelope (Notification, SubscriptionConfirmation,
UnsubscribeConfirmation), so that a subscriber verifies them as AWS's docs tell it to, with the
certificate fetched from the SigningCertURL (served on lambdabox's own port: links.py)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import sqlite3
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from lambdabox.store.db import Store

#: the fields each kind of message signs, in the order AWS signs them (a field absent is skipped)
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def string_to_sign(fields: Mapping[str, Any]) -> bytes:
    """AWS's string to sign of a message: each signed field present, as `name\\nvalue\\n`."""
    names = NOTIFICATION_FIELDS if fields.get("Type") == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{k}\n{fields[k]}\n" for k in names if fields.get(k) is not None).encode()


class Signer:
    """Signs envelopes with the server's key; `cert_path` is where its certificate is served."""

    def __init__(self, key: rsa.RSAPrivateKey, cert_pem: bytes) -> None:
        self._key = key
        self.cert_pem = cert_pem
        #: the certificate's file name on lambdabox's port, as AWS names its own
        self.cert_path = f"/SimpleNotificationService-{hashlib.sha256(cert_pem).hexdigest()[:32]}.pem"

    @classmethod
    def generate(cls) -> Signer:
        """A new key and a self-signed certificate naming it (valid for ten years)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lambdabox"),
                x509.NameAttribute(NameOID.COMMON_NAME, "sns.lambdabox.localhost"),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert.public_bytes(serialization.Encoding.PEM))

    def key_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def sign(self, fields: Mapping[str, Any], version: str) -> str:
        """The base64 Signature of a message (`version` "2": SHA256withRSA, else SHA1withRSA)."""
        digest: hashes.HashAlgorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        signature = self._key.sign(string_to_sign(fields), padding.PKCS1v15(), digest)
        return base64.b64encode(signature).decode()


def _stored(conn: sqlite3.Connection) -> tuple[bytes, bytes] | None:
    row = conn.execute("SELECT key_pem, cert_pem FROM sns_signing WHERE id=1").fetchone()
    return (bytes(row[0]), bytes(row[1])) if row else None


async def load_signer(store: Store) -> Signer:
    """The server's signer: the stored key and certificate, made and stored on the first start."""
    have = await store.read(_stored)
    if have is None:
        made = await asyncio.to_thread(Signer.generate)  # (a key takes a while: off the loop)

        def keep(conn: sqlite3.Connection) -> tuple[bytes, bytes]:
            conn.execute(
                "INSERT OR IGNORE INTO sns_signing (id, key_pem, cert_pem) VALUES (1, ?, ?)",
                (made.key_pem(), made.cert_pem),
            )
            stored = _stored(conn)
            assert stored is not None
            return stored

        have = await store.write(keep)
    key = serialization.load_pem_private_key(have[0], password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return Signer(key, have[1])
