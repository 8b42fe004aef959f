"""The bodies the suite POSTs to `/messages`, their payloads and their `scheduleTo` times."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

PAYLOAD_BYTES = 100


def iso_ms(unix_seconds: float) -> str:
    """`2026-11-25T10:30:00.123Z` for a Unix time, truncated to the millisecond."""
    moment = datetime.fromtimestamp(int(unix_seconds * 1000) / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def round_ms(unix_seconds: float) -> float:
    """The Unix time that `iso_ms` writes, so lateness is measured against what was sent."""
    return int(unix_seconds * 1000) / 1000


def payload(index: int) -> dict[str, Any]:
    """A JSON payload whose compact encoding is PAYLOAD_BYTES long."""
    head = {"event": "bench", "seq": index, "pad": ""}
    size = len(_compact(head))
    head["pad"] = "x" * max(0, PAYLOAD_BYTES - size)
    return head


def _compact(value: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps(value).decode()


def run_prefix(label: str) -> str:
    """A prefix that keeps ids unique across scenarios and runs."""
    return f"{label}-{uuid.uuid4().hex[:8]}"


def message(message_id: str, due: float, webhook_url: str, index: int = 0) -> dict[str, Any]:
    """One POST /messages body."""
    return {
        "id": message_id,
        "scheduleTo": iso_ms(due),
        "payload": payload(index),
        "webhookUrl": webhook_url,
    }


def spread(
    prefix: str,
    start: float,
    count: int,
    interval: float,
    webhook_url: str,
) -> list[dict[str, Any]]:
    """`count` messages due every `interval` seconds from `start`."""
    return [message(f"{prefix}-{i}", start + i * interval, webhook_url, i) for i in range(count)]


def now() -> float:
    return time.time()
