"""The bodies the suite POSTs to `/messages`: payloads, `scheduleTo` times and options."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

PAYLOAD_BYTES = 100
# Options as a caller sets them: three headers (credentials among them) and two labels,
# `flow` with one value per scenario and `tenant` with one of TENANTS, so that each label
# index holds many members, as it would with real tenants.
OPTION_HEADERS = {
    "Authorization": "Bearer bench-0123456789abcdef0123456789abcdef",
    "X-Tenant-Region": "eu-west-1",
    "X-Bench-Source": "scheduler-bench",
}
TENANTS = 100
MAX_ATTEMPTS = 5


def iso_ms(unix_seconds: float) -> str:
    """`2026-11-25T10:30:00.123Z` for a Unix time, truncated to the millisecond."""
    return iso_at_ms(int(unix_seconds * 1000))


def iso_at_ms(epoch_ms: int) -> str:
    """`2026-11-25T10:30:00.123Z` for a time in epoch milliseconds, exactly (no float)."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


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


def labels(index: int, flow: str) -> dict[str, str]:
    """The two labels of message `index`."""
    return {"flow": flow, "tenant": f"tenant-{index % TENANTS}"}


def headers_and_labels(index: int, flow: str) -> dict[str, Any]:
    """Body fields: the three headers and two labels."""
    return {"headers": OPTION_HEADERS, "labels": labels(index, flow)}


def all_options(index: int, flow: str, callback_url: str) -> dict[str, Any]:
    """Body fields: headers and labels, plus maxAttempts and callbackUrl."""
    extra = {"maxAttempts": MAX_ATTEMPTS, "callbackUrl": callback_url}
    return {**headers_and_labels(index, flow), **extra}


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
