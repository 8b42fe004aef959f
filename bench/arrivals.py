"""When scheduled messages arrived: POST a set through the API, read back each arrival."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from bench.bodies import round_ms
from bench.context import Bench
from bench.loader import post_messages
from bench.stats import summary_ms

# POSTs per second assumed when choosing how far ahead to schedule: about half of what
# one process takes on 2 cores, so loading ends before the first message is due.
LOAD_RATE_GUESS = 800.0
LOAD_CONCURRENCY = 64


def lead_seconds(count: int) -> float:
    """How far ahead the first message is due, so loading ends before it (checked)."""
    return 1.5 + count / LOAD_RATE_GUESS


def schedule(bench: Bench, base: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """POST the messages (LOAD_CONCURRENCY at a time); return how the load went."""
    loaded = asyncio.run(post_messages(base, messages, concurrency=LOAD_CONCURRENCY))
    if loaded.accepted != len(messages):
        raise RuntimeError(
            f"the service accepted {loaded.accepted} of {len(messages)}: {dict(loaded.statuses)}"
        )
    return {
        "seconds": round(loaded.seconds, 3),
        "per_second": round(len(messages) / loaded.seconds, 1),
        "retried_after": {str(k): v for k, v in loaded.retried.items()},
        "finished_unix": time.time(),
    }


def collect(bench: Bench, due: dict[str, float], *, timeout: float) -> dict[str, Any]:
    """Wait for every id to arrive at the sink (or the timeout); return lateness figures."""
    bench.sink.wait_for(len(due), timeout=timeout)
    time.sleep(0.2)  # let stragglers (duplicates) land before reading the record
    records = bench.sink.records()
    return analyse(due, records["ids"], records["times"])


def analyse(due: dict[str, float], ids: list[str], times: list[float]) -> dict[str, Any]:
    seen = Counter(ids)
    first_arrival: dict[str, float] = {}
    for mid, at in zip(ids, times, strict=True):
        first_arrival.setdefault(mid, at)
    lateness = [at - round_ms(due[mid]) for mid, at in first_arrival.items() if mid in due]
    ordered = sorted(first_arrival[mid] for mid in due if mid in first_arrival)
    return {
        "expected": len(due),
        "delivered": sum(1 for mid in due if mid in first_arrival),
        "duplicates": sum(n - 1 for n in seen.values() if n > 1),
        "unexpected": sum(1 for mid in seen if mid not in due),
        "early": sum(1 for value in lateness if value < 0),
        "lateness": summary_ms(lateness),
        "first_arrival_unix": ordered[0] if ordered else None,
        "last_arrival_unix": ordered[-1] if ordered else None,
    }
