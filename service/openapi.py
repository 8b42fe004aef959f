"""The OpenAPI document: tags, the documented error answers, and its one rendering.

`make openapi` writes `render(app)` to docs/openapi.json; a test checks that the file
is what the app serves, so generated clients are built from the document in use.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr

from .responses import ErrorBody

TAGS: list[dict[str, Any]] = [
    {
        "name": "messages",
        "description": "Schedule a webhook for a time or after a delay; list, read, change "
        "and cancel what is pending, one message or every message with given labels.",
    },
    {
        "name": "dead letters",
        "description": "Messages whose delivery failed for good, with their last error: "
        "list them, send one again (redrive) or drop it.",
    },
    {
        "name": "schedules",
        "description": "Recurring schedules: a cron expression in an IANA time zone, or a "
        "fixed interval. Each fire is an ordinary message.",
    },
    {
        "name": "probes",
        "description": "Readiness, liveness and Prometheus metrics, for Kubernetes and "
        "monitoring; no API token.",
    },
]

_INVALID = "give exactly one of scheduleTo and delay"
_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    401: (
        "The Bearer token is missing or is not API_TOKEN.",
        {
            "detail": "Missing token: send 'Authorization: Bearer <API_TOKEN>'.",
            "code": "unauthorized",
        },
    ),
    404: (
        "No {resource} with this id.",
        {"detail": "No {resource} with id '{id}'.", "code": "not_found"},
    ),
    409: (
        "A {resource} with this id exists, or it is being changed or delivered right now.",
        {"detail": "A {resource} with id '{id}' already exists.", "code": "conflict"},
    ),
    413: (
        "The body is larger than MAX_PAYLOAD_BYTES.",
        {
            "detail": "Request body is larger than MAX_PAYLOAD_BYTES (1048576 bytes).",
            "code": "payload_too_large",
        },
    ),
    422: (
        "The request breaks a rule; `errors` names each field and what to fix.",
        {
            "detail": f"Invalid request: scheduleTo: {_INVALID}",
            "code": "invalid_request",
            "errors": [{"field": "scheduleTo", "message": _INVALID}],
        },
    ),
    429: (
        "A quota (MAX_PENDING_MESSAGES or MAX_PENDING_BYTES) is reached; nothing was stored.",
        {
            "detail": "The store holds MAX_PENDING_MESSAGES (1000000) messages; nothing was "
            "stored. Retry once some are delivered or deleted.",
            "code": "quota_exceeded",
        },
    ),
    503: (
        "The store (Redis) cannot serve the request now; `code` says why. Retry after "
        "Retry-After seconds.",
        {
            "detail": "The schedule store (Redis) is unreachable; retry shortly.",
            "code": "redis_unavailable",
        },
    ),
}
_EXAMPLE_IDS = {
    "message": "unique-message-id",
    "dead letter": "unique-message-id",
    "schedule": "weekday-report",
}


def error_responses(*statuses: int, resource: str = "message") -> dict[int | str, Any]:
    """401, 503 and `statuses`, each described, with an example, in the one error shape."""
    responses: dict[int | str, Any] = {}
    for status in (401, 503, *statuses):
        description, example = _ERRORS[status]
        names = {"resource": resource, "id": _EXAMPLE_IDS[resource]}
        filled = {
            key: value.format(**names) if isinstance(value, str) else value
            for key, value in example.items()
        }
        responses[status] = {
            "model": ErrorBody,
            "description": description.format(**names),
            "content": {"application/json": {"example": filled}},
        }
    return responses


def render(app: FastAPI) -> str:
    """The document as docs/openapi.json holds it: sorted keys, two-space indent, newline."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """`python -m service.openapi PATH`: write the document of a default app to PATH."""
    from .app import create_app
    from .config import Settings

    # Nothing connects until the lifespan starts, so placeholders serve to build the app.
    token = SecretStr("openapi-document")
    settings = Settings(api_token=token, redis_host="127.0.0.1", _env_file=None)  # type: ignore[call-arg]
    Path(sys.argv[1]).write_text(render(create_app(settings)))


if __name__ == "__main__":
    main()
