"""Callbacks: the result of a finished message, POSTed to callbackUrl or failureCallbackUrl.

A callback is itself a message, stored by the same script that records the outcome, and
delivered by the same machinery (signed, retried, dead-lettered). Its id is
`<id>:cb-<token>`, which keeps it in the partition of the message it reports on, and it
is labelled `callbackOf: <id>`. A callback never triggers another callback.
"""

from __future__ import annotations

import base64
import time

import orjson

from .fields import iso
from .options import Options
from .records import Claim, NewMessage, new_incarnation
from .webhook import WebhookResponse

RESPONSE_BODY_BYTES = 1024


def result_callback(
    claim: Claim, answer: object, *, delivered: bool, error: str | None
) -> NewMessage | None:
    """The callback message for a finished claim, or None when none was asked for."""
    options = claim.meta.opts
    url = options.callback_url if delivered else options.failure_callback_url
    if not url or options.callback_of:
        return None
    now_ms = int(time.time() * 1000)
    body = {
        "messageId": claim.id,
        "status": "delivered" if delivered else "dead_lettered",
        "attempts": claim.attempt,
        "scheduleTo": iso(claim.meta.due_ms),
        "finishedAt": iso(now_ms),
        "labels": options.labels,
        "error": error,
        **_response_fields(answer),
    }
    return NewMessage(
        id=f"{claim.id}:cb-{new_incarnation()}",
        due_ms=now_ms,
        payload=orjson.dumps(body),
        url=url,
        created_ms=now_ms,
        options=Options(labels={"callbackOf": claim.id}, callback_of=claim.id),
    )


def _response_fields(answer: object) -> dict[str, object]:
    if not isinstance(answer, WebhookResponse):
        return {"responseStatus": None, "responseBody": None}
    excerpt = answer.excerpt[:RESPONSE_BODY_BYTES]
    try:
        return {"responseStatus": answer.status, "responseBody": excerpt.decode()}
    except UnicodeDecodeError:
        return {
            "responseStatus": answer.status,
            "responseBody": base64.b64encode(excerpt).decode(),
            "responseBodyEncoding": "base64",
        }
