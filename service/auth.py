"""Bearer-token authentication, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.security import HTTPBearer

from .errors import Unauthorized

# Declares the scheme in OpenAPI (the lock in /docs); the check itself is `require_token`.
bearer_scheme = HTTPBearer(auto_error=False, description="API_TOKEN as a Bearer token.")


def token_matches(header: str | None, expected: bytes) -> bool:
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), expected)


def check(request: Request, expected: bytes) -> None:
    """Unauthorized, with what to send, unless the request carries the expected token."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("Missing token: send 'Authorization: Bearer <API_TOKEN>'.")
    if not token_matches(header, expected):
        raise Unauthorized("Invalid token: the Bearer token does not match API_TOKEN.")
