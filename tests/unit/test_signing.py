"""Signatures verify with an independent Standard Webhooks implementation, with no network."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.signing import decode_secret, decode_secrets, sign

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()


def signed_headers(secrets: str, body: bytes) -> dict[str, str]:
    timestamp = int(time.time())
    signature = sign(decode_secrets(secrets), webhook_id="msg-1", timestamp=timestamp, body=body)
    return {
        "webhook-id": "msg-1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_each_secret_in_the_list_signs() -> None:
    headers = signed_headers(f"{NEW} {OLD}", b'{"a":1}')
    for secret in (NEW, OLD):
        assert Webhook(secret).verify(b'{"a":1}', headers) == {"a": 1}


def test_a_tampered_body_fails() -> None:
    headers = signed_headers(NEW, b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(b'{"a":2}', headers)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("abc", "whsec_"),
        ("whsec_***", "not base64"),
        ("whsec_" + base64.b64encode(b"x").decode(), "16 bytes"),
    ],
)
def test_bad_secrets_say_what_is_wrong(secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_secret(secret)


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(ValueError, match="no secret"):
        decode_secrets("   ")
