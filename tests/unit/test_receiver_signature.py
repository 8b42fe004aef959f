"""The demo receiver's signature check, against signatures the service makes."""

from __future__ import annotations

from pydantic import SecretStr

from service.receiver import TOLERANCE_SECONDS, check_signature, signing_keys
from service.signing import sign

NOW = 1_800_000_000
BODY = b'{"hello":"world"}'
OLD, NEW = signing_keys(
    SecretStr("whsec_b2xkLWtleS1vbGQta2V5LW9sZA== whsec_bmV3LWtleS1uZXcta2V5LW5ldw==")
)


def headers(signature: str, *, timestamp: int = NOW) -> dict[str, str]:
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_a_signature_from_the_service_verifies() -> None:
    signature = sign((NEW,), webhook_id="msg_1", timestamp=NOW, body=BODY)
    assert check_signature([NEW], headers(signature), BODY, now=NOW) is None


def test_during_a_rotation_either_key_verifies_a_request_signed_with_both() -> None:
    signature = sign((NEW, OLD), webhook_id="msg_1", timestamp=NOW, body=BODY)
    assert check_signature([OLD], headers(signature), BODY, now=NOW) is None
    assert check_signature([NEW], headers(signature), BODY, now=NOW) is None


def test_a_changed_body_or_another_key_does_not_verify() -> None:
    signature = sign((NEW,), webhook_id="msg_1", timestamp=NOW, body=BODY)
    assert check_signature([NEW], headers(signature), b"{}", now=NOW) is not None
    assert check_signature([OLD], headers(signature), BODY, now=NOW) is not None


def test_an_old_timestamp_is_refused_even_with_a_good_signature() -> None:
    then = NOW - TOLERANCE_SECONDS - 1
    signature = sign((NEW,), webhook_id="msg_1", timestamp=then, body=BODY)
    problem = check_signature([NEW], headers(signature, timestamp=then), BODY, now=NOW)
    assert problem is not None and "webhook-timestamp" in problem
