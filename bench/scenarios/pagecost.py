"""Page cost: what one listing page costs Redis when the payloads are big, against small.

The service keeps payloads in a hash apart from the metadata, so that the page script
behind GET /messages (and settling, and recovery) never copies a payload inside Redis.
This scenario writes the same number of messages twice through the service's own
store, once with small and once with big payloads, and times one page of all of them
as Redis accounts for it: `CONFIG RESETSTAT`, the page, then the `usec` of the script
call in `INFO commandstats`, which is the time Redis spent executing it (and so the
time every other client waited).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import TYPE_CHECKING, Any

from bench.bodies import PAYLOAD_BYTES, run_prefix
from bench.context import Bench
from bench.loader import BULK_CHUNK, service_store, write_messages
from bench.stats import ratio

if TYPE_CHECKING:
    from service.store import Store

# Commands that run a script or a function: whichever the store uses, the page's cost
# is the sum of their `usec`.
SCRIPT_COMMANDS = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro")
# Big payloads go in pipelines of about this many bytes, not BULK_CHUNK messages.
PIPELINE_BYTES = 32 * 1024 * 1024
FAR_FUTURE_DAYS = 365


def run(bench: Bench) -> dict[str, Any]:
    scale = bench.scale
    out: dict[str, Any] = {
        "rows_per_page": scale.pagecost_count,
        "repeats": scale.pagecost_repeats,
        "how": "CONFIG RESETSTAT; Store.page(index='due', limit=N, after=None); "
        "INFO commandstats: usec of the script call(s)",
    }
    for label, size in (("small", PAYLOAD_BYTES), ("big", scale.pagecost_big_bytes)):
        bench.fresh()
        out[label] = _phase(bench, label, size)
    bench.fresh()  # a GiB of payloads must not stay for the next scenario
    big, small = out["big"]["redis_usec_median"], out["small"]["redis_usec_median"]
    out["ratio_big_to_small"] = ratio(big, small)
    print(f"[bench] pagecost: big / small = {out['ratio_big_to_small']:.2f}x", flush=True)
    return out


def _phase(bench: Bench, label: str, payload_bytes: int) -> dict[str, Any]:
    """Write the messages, then time one page of them `repeats` times."""
    count, repeats = bench.scale.pagecost_count, bench.scale.pagecost_repeats
    figures = asyncio.run(_load_and_page(bench, label, payload_bytes, count, repeats))
    # The whole figure, not a delta: with small payloads a delta is within what Redis's
    # own buffers move by between two readings.
    figures.update(
        payload_bytes=payload_bytes, count=count, redis_used_memory=bench.redis.used_memory()
    )
    print(
        f"[bench] pagecost: {count:,} messages of {payload_bytes:,} bytes: a page of "
        f"{figures['rows']:,} rows held Redis {figures['redis_usec_median']:,.0f} us "
        f"(median of {repeats}; min {min(figures['redis_usec']):,}, "
        f"max {max(figures['redis_usec']):,}); the client saw {figures['client_ms_median']} ms",
        flush=True,
    )
    return figures


async def _load_and_page(
    bench: Bench, label: str, payload_bytes: int, count: int, repeats: int
) -> dict[str, Any]:
    body = _json_string(payload_bytes)  # one object: the loader holds no copies
    async with service_store(bench.redis.port) as store:
        load_seconds = await write_messages(
            store,
            prefix=run_prefix(f"pagecost-{label}"),
            count=count,
            due_ms=int((time.time() + FAR_FUTURE_DAYS * 86400) * 1000),
            webhook_url=bench.sink.url,
            payload=lambda _: body,
            chunk=max(1, min(BULK_CHUNK, PIPELINE_BYTES // payload_bytes)),
        )
        rows, _, _ = await _timed_page(store, count)  # loads the script: not measured
        samples = [await _timed_page(store, count) for _ in range(repeats)]
    usec = [sample[1] for sample in samples]
    return {
        "load_seconds": round(load_seconds, 2),
        "rows": rows,
        "redis_usec": usec,
        "redis_usec_median": statistics.median(usec),
        "client_ms_median": round(statistics.median(sample[2] for sample in samples) * 1000, 2),
    }


async def _timed_page(store: Store, limit: int) -> tuple[int, int, float]:
    """(rows, Redis usec, client seconds) of one first page of the due index."""
    await store.redis.config_resetstat()
    start = time.perf_counter()
    page = await store.page(index="due", limit=limit, after=None)
    seconds = time.perf_counter() - start
    stats = await store.redis.info("commandstats")
    calls = [stats.get(f"cmdstat_{name}", {}) for name in SCRIPT_COMMANDS]
    if sum(int(c.get("calls", 0)) for c in calls) < 1:
        raise RuntimeError(f"no script call in INFO commandstats after a page: {sorted(stats)}")
    if len(page.rows) != limit:
        raise RuntimeError(f"a page of {len(page.rows)} rows, not {limit}")
    return len(page.rows), sum(int(c.get("usec", 0)) for c in calls), seconds


def _json_string(size: int) -> bytes:
    """A JSON string that is `size` bytes long once encoded."""
    return b'"' + b"x" * (size - 2) + b'"'
