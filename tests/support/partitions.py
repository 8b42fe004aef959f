"""Looking at what the service wrote, over every partition (`{scheduler:N}:...`)."""

from __future__ import annotations

from typing import Any


def size(client: Any, name: str, *, prefix: str = "scheduler") -> int:
    """Entries of the sorted set or hash `name` (due, msgs, ...) summed over partitions."""
    total = 0
    for key in client.scan_iter(match=f"{{{prefix}:*}}:{name}", count=1000):
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        total += client.zcard(key) if kind == "zset" else client.hlen(key)
    return total


def per_partition(client: Any, *, prefix: str = "scheduler") -> dict[str, int]:
    """How many keys each hash tag holds: which partitions hold anything."""
    counts: dict[str, int] = {}
    for key in client.scan_iter(match=f"{{{prefix}:*", count=1000):
        text = key.decode() if isinstance(key, bytes) else key
        tag = text[: text.index("}") + 1]
        counts[tag] = counts.get(tag, 0) + 1
    return counts
