"""Bulk cancel: DELETE /messages?label=... on N labelled messages, the API beside it, and
what the history of the cancelled messages costs Redis.

The messages (two labels each, due a year ahead) are written through the service's own
store. GETs of one other message run at a steady rate, first for a fixed time with no
DELETE, then while the DELETE runs; the GETs sent between the DELETE's start and its
answer are compared with the first set. Each cancelled message leaves a history record:
the `used_memory` difference against the store before loading, divided by N.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import redis

from bench import stored
from bench.bodies import TENANTS, labels, run_prefix
from bench.context import Bench
from bench.loader import Paced, paced_gets, store_messages
from bench.procs import TOKEN
from bench.stats import ratio, summary_ms

FLOW = "cancel"
GET_RATE = 200  # GETs a second: a steady, modest load beside the DELETE
SETTLE_SECONDS = 0.2  # GETs flowing before the DELETE is sent
FAR_FUTURE_DAYS = 365
# Redis commands at least this long are logged while the DELETE runs (SLOWLOG): the
# service's own reads take microseconds, a cancel batch takes milliseconds.
SLOW_USEC = 1000
SLOWLOG_SETTINGS = ("slowlog-log-slower-than", "slowlog-max-len")


def run(bench: Bench) -> dict[str, Any]:
    count = bench.scale.cancel_count
    bench.fresh()
    # No trimming while the records are counted: the default keeps 100,000.
    env = {"HISTORY_MAX_MESSAGES": str(2 * count)}
    with bench.service("cancel", **env) as (_, base, _ready):
        probe, empty = _probe(bench), bench.redis.used_memory()
        load_seconds = _load(bench, count)
        loaded = bench.redis.used_memory()
        url = f"{base}/messages/{probe}"
        without = asyncio.run(_gets_alone(url, bench.scale.cancel_baseline_seconds))
        with _slowlog(bench.redis.client()) as slow:
            delete, during = asyncio.run(_gets_beside_delete(url, f"{base}/messages"))
        after = bench.redis.used_memory()
        history = stored.history(bench.redis)
    if delete["count"] != count:
        raise RuntimeError(f"DELETE /messages cancelled {delete['count']} of {count}")
    return {
        "count": count,
        "tenants": TENANTS,
        "label_filter": f"flow:{FLOW}",
        "script_batch": _script_batch(),
        "settings": env,
        "load": {"seconds": round(load_seconds, 2), "per_second": round(count / load_seconds)},
        "delete": {**delete, "per_second": round(count / delete["seconds"])},
        "redis_slow_commands": slow,
        "get": _latency(without, during),
        "redis_used_memory_empty": empty,
        "redis_used_memory_loaded": loaded,
        "redis_used_memory_after": after,
        "redis_bytes_per_pending_message": round((loaded - empty) / count, 1),
        "history": {
            **history,
            "redis_bytes_per_record": round((after - empty) / count, 1),
            "memory_usage_per_record": round(history["memory_usage_bytes"] / count, 1),
        },
    }


def _probe(bench: Bench) -> str:
    """One message without labels, which the GETs read and the DELETE leaves alone."""
    prefix = run_prefix("probe")
    _store(bench, prefix, 1)
    return f"{prefix}-0"


def _load(bench: Bench, count: int) -> float:
    return _store(bench, run_prefix(FLOW), count, lambda i: {"labels": labels(i, FLOW)})


def _store(
    bench: Bench, prefix: str, count: int, options: Callable[[int], dict[str, Any]] | None = None
) -> float:
    """Write messages due a year ahead through the service's store; the seconds it took."""
    due_ms = int((time.time() + FAR_FUTURE_DAYS * 86400) * 1000)
    return asyncio.run(
        store_messages(
            bench.redis.port,
            prefix=prefix,
            count=count,
            due_ms=due_ms,
            webhook_url=bench.sink.url,
            options=options,
        )
    )


def _script_batch() -> int:
    """How many messages the service cancels per script call."""
    from service.store import CANCEL_BATCH

    return CANCEL_BATCH


async def _gets_alone(url: str, seconds: float) -> Paced:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    return await paced_gets(url, rate=GET_RATE, stop=stop)


async def _gets_beside_delete(url: str, messages_url: str) -> tuple[dict[str, Any], Paced]:
    """DELETE by label while the GETs run; the DELETE's answer and the GETs sent during it."""
    stop = asyncio.Event()
    gets = asyncio.create_task(paced_gets(url, rate=GET_RATE, stop=stop))
    await asyncio.sleep(SETTLE_SECONDS)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        start = time.perf_counter()
        query = {"label": f"flow:{FLOW}"}
        async with session.delete(messages_url, params=query, headers=headers) as resp:
            answer = await resp.json()
            status = resp.status
        end = time.perf_counter()
    stop.set()
    if status != 200:
        raise RuntimeError(f"DELETE /messages answered {status}: {answer}")
    delete = {"seconds": round(end - start, 3), "count": answer["count"], "status": status}
    return delete, (await gets).between(start, end)


def _latency(without: Paced, during: Paced) -> dict[str, Any]:
    alone, beside = _summary(without), _summary(during)
    return {
        "rate_per_second": GET_RATE,
        "url": "GET /messages/{id}",
        "without_delete": alone,
        "during_delete": beside,
        "p50_ratio_during_to_without": ratio(beside["p50_ms"], alone["p50_ms"]),
        "p99_ratio_during_to_without": ratio(beside["p99_ms"], alone["p99_ms"]),
    }


def _summary(paced: Paced) -> dict[str, Any]:
    statuses = Counter(paced.statuses)
    return {
        **summary_ms(paced.latencies),
        "requests": len(paced.latencies),
        "non_2xx": sum(n for status, n in statuses.items() if not 200 <= status < 300),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
    }


@contextlib.contextmanager
def _slowlog(client: redis.Redis) -> Iterator[dict[str, Any]]:
    """Log Redis commands of SLOW_USEC or longer inside the block; their count and times."""
    found: dict[str, Any] = {"threshold_ms": SLOW_USEC / 1000}
    with client:
        old = {name: str(client.config_get(name)[name]) for name in SLOWLOG_SETTINGS}
        client.config_set("slowlog-log-slower-than", SLOW_USEC)
        client.config_set("slowlog-max-len", 100_000)
        client.slowlog_reset()
        try:
            yield found
            entries = client.slowlog_get(100_000)
            client.slowlog_reset()  # entries hold memory: not in the figures that follow
        finally:
            for name, value in old.items():
                client.config_set(name, value)
    durations = [entry["duration"] / 1000 for entry in entries]
    found["count"] = len(durations)
    if durations:
        found["median_ms"] = round(statistics.median(durations), 3)
        found["max_ms"] = round(max(durations), 3)
        found["total_ms"] = round(sum(durations), 1)
