"""Page cursors: opaque to callers, `(score, id)` of the last row of the previous page."""

from __future__ import annotations

import base64
import binascii

from .errors import InvalidInput
from .records import Summary


def encode_cursor(score_ms: int, message_id: str) -> str:
    raw = f"{score_ms}:{message_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[int, str] | None:
    """The (score, id) a page starts after; InvalidInput when the cursor was not ours."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        score, message_id = raw.split(":", 1)
        return int(score), message_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("cursor is not valid: pass the nextCursor of a previous page") from None


def next_cursor(rows: list[Summary], limit: int) -> str | None:
    """The cursor after a full page; None when this page is the last."""
    if len(rows) < limit or not rows:
        return None
    return encode_cursor(rows[-1].score_ms, rows[-1].id)
