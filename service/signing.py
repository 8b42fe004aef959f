"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key inside a `whsec_<base64>` secret; ValueError names what is wrong."""
    if not secret.startswith(PREFIX):
        raise ValueError("WEBHOOK_SIGNING_SECRET must look like whsec_<base64 key>")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("WEBHOOK_SIGNING_SECRET: the part after whsec_ is not base64") from None
    if len(key) < 16:
        raise ValueError("WEBHOOK_SIGNING_SECRET: the key must be at least 16 bytes")
    return key


def sign(key: bytes, *, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one request."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
