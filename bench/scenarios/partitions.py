"""Partitions: one Redis with REDIS_PARTITIONS=1 against 16, in the same run.

On a single Redis, partitions buy nothing (they are for Redis Cluster), so they must cost
almost nothing: creating (POST /messages under wrk), a burst of messages due at one
instant (deliveries per second), and the first page of GET /messages (latency, over a
backlog of pending messages). Each pair runs back to back and every other pair starts
with 16, so that drift on a shared machine falls on both sides; ratios are 16 over 1.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from bench import wrk
from bench.context import Bench
from bench.loader import get_latencies, service_store, write_messages
from bench.scenarios import create
from bench.scenarios.burst import service_burst
from bench.stats import ratio

COUNTS = (1, 16)
CREATE_CLIENTS = 32
PAGE_BACKLOG = 20_000  # pending messages the first page is taken from
PAGE_REPEATS = 200
FAR_FUTURE_DAYS = 30


def run(bench: Bench) -> dict[str, Any]:
    pairs = [_pair(bench, number) for number in range(bench.scale.partition_pairs)]
    out: dict[str, Any] = {
        "partition_counts": list(COUNTS),
        "create_clients": CREATE_CLIENTS,
        "burst_count": bench.scale.burst_count,
        "page_backlog": PAGE_BACKLOG,
        "page_repeats": PAGE_REPEATS,
        "pairs": pairs,
    }
    for figure in ("create_ratio", "burst_ratio", "page_ratio"):
        out[f"{figure}_median"] = statistics.median(pair[figure] for pair in pairs)
    print(
        f"[bench] partitions: 16 / 1 partitions: create {out['create_ratio_median']:.3f}x, "
        f"burst {out['burst_ratio_median']:.3f}x, first page latency "
        f"{out['page_ratio_median']:.3f}x (medians of {len(pairs)} pairs)",
        flush=True,
    )
    return out


def _pair(bench: Bench, number: int) -> dict[str, Any]:
    order = COUNTS if number % 2 == 0 else tuple(reversed(COUNTS))
    pair: dict[str, Any] = {"order": list(order)}
    for count in order:
        pair[str(count)] = {
            "create": _create(bench, count),
            "burst": _burst(bench, count),
            "page": _page(bench, count),
        }
        one = pair[str(count)]
        print(
            f"[bench] partitions={count}: create {one['create']['requests_per_second']:,.0f}/s, "
            f"burst {one['burst']['deliveries_per_second']:,.0f}/s, first page "
            f"{one['page']['median_ms']} ms (median)",
            flush=True,
        )
    single, split = pair["1"], pair["16"]
    pair["create_ratio"] = ratio(
        split["create"]["requests_per_second"], single["create"]["requests_per_second"]
    )
    pair["burst_ratio"] = ratio(
        split["burst"]["deliveries_per_second"], single["burst"]["deliveries_per_second"]
    )
    pair["page_ratio"] = ratio(split["page"]["median_ms"], single["page"]["median_ms"])
    return pair


def _env(count: int) -> dict[str, str]:
    return {"REDIS_PARTITIONS": str(count)}


def _create(bench: Bench, count: int) -> dict[str, Any]:
    bench.fresh()
    seconds = bench.scale.create_seconds
    with bench.service(f"create-p{count}", **_env(count)) as (proc, base, _):
        if bench.scale.create_warmup_seconds:
            wrk.run(
                create._cmd(bench, base, CREATE_CLIENTS, bench.scale.create_warmup_seconds, "p")
            )
        cmd = create._cmd(bench, base, CREATE_CLIENTS, seconds, f"p{count}")
        figures = wrk.run(cmd, server_pids=[proc.pid, bench.redis.pid])
        figures["command"] = wrk.shown(
            cmd, redact=create.redactions(bench, base, cmd, port_name="$API_PORT")
        )
    return figures


def _burst(bench: Bench, count: int) -> dict[str, Any]:
    figures = service_burst(bench, bench.scale.burst_count, name=f"burst-p{count}", **_env(count))
    keep = ("delivered", "deliveries_per_second", "seconds_to_last", "load_finished_before_due")
    return {key: figures[key] for key in keep if key in figures}


def _page(bench: Bench, count: int) -> dict[str, Any]:
    """GET /messages (first page, default limit) over a backlog, PAGE_REPEATS times."""
    bench.fresh()
    asyncio.run(_backlog(bench, count))
    with bench.service(f"page-p{count}", **_env(count)) as (_, base, _ready):
        url = f"{base}/messages"
        asyncio.run(get_latencies(url, count=20))  # warm: connections, scripts loaded
        latencies, status = asyncio.run(get_latencies(url, count=PAGE_REPEATS))
    if status != 200:
        raise RuntimeError(f"GET /messages answered {status}")
    millis = sorted(seconds * 1000 for seconds in latencies)
    return {
        "median_ms": round(statistics.median(millis), 3),
        "p90_ms": round(millis[int(len(millis) * 0.9)], 3),
        "how": "GET /messages (limit 100, no cursor) in a row, one client",
    }


async def _backlog(bench: Bench, count: int) -> None:
    async with service_store(bench.redis.port, partitions=count) as store:
        await store.recorded_partitions()  # as the service's first start would
        await write_messages(
            store,
            prefix=f"page-p{count}",
            count=PAGE_BACKLOG,
            due_ms=int((time.time() + FAR_FUTURE_DAYS * 86400) * 1000),
            webhook_url=bench.sink.url,
            payload=lambda i: b'{"n":%d}' % i,
        )
