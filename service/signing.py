"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.

WEBHOOK_SIGNING_SECRET may hold several secrets separated by spaces: every request is
then signed with each, as Standard Webhooks allows, so a receiver can move to a new
secret before the old one is dropped (rotation without a gap).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key inside one `whsec_<base64>` secret; ValueError names what is wrong."""
    if not secret.startswith(PREFIX):
        raise ValueError("WEBHOOK_SIGNING_SECRET must look like whsec_<base64 key>")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("WEBHOOK_SIGNING_SECRET: the part after whsec_ is not base64") from None
    if len(key) < 16:
        raise ValueError("WEBHOOK_SIGNING_SECRET: the key must be at least 16 bytes")
    return key


def decode_secrets(value: str) -> tuple[bytes, ...]:
    """Every key in a space-separated list of secrets, in order."""
    keys = tuple(decode_secret(part) for part in value.split())
    if not keys:
        raise ValueError("WEBHOOK_SIGNING_SECRET holds no secret")
    return keys


def sign(keys: tuple[bytes, ...], *, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value: one `v1,` signature per key."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )
