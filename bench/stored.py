"""What Redis holds for a figure: history records, and the memory of named keys."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.support.redis_server import RedisServer


def key_memory(redis: RedisServer, keys: Iterable[str]) -> int:
    """`MEMORY USAGE` of the keys, summed (every element counted: SAMPLES 0)."""
    with redis.client(socket_timeout=120) as client:
        return sum(client.memory_usage(key, samples=0) or 0 for key in keys)


def history(redis: RedisServer) -> dict[str, Any]:
    """How many history records there are, and what the two keys holding them take.

    The history hash and its index are all a record costs once its message is gone, so
    `MEMORY USAGE` of the two, divided by the records, is the cost of one record.
    """
    from service.keys import Keys

    keys = Keys()
    with redis.client(socket_timeout=120) as client:
        records = int(client.hlen(keys.hist))
    usage = key_memory(redis, (keys.hist, keys.histidx))
    return {
        "records": records,
        "memory_usage_bytes": usage,
        "bytes_per_record": round(usage / records, 1) if records else None,
    }
