"""Backlog: a large number of pending messages; memory, start-up, listing and POST latency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import wrk
from bench.bodies import PAYLOAD_BYTES, iso_ms, run_prefix
from bench.context import Bench
from bench.loader import BULK_CHUNK, get_latencies, store_messages
from bench.procs import TOKEN
from bench.scenarios.create import SCRIPT, redactions
from bench.stats import summary_ms

LIST_REQUESTS = 30
WRK_CLIENTS = 16
# p99 over one short wrk run moves by tens of percent on a shared 2-core box: each side
# gets a warm-up run, then several measured runs, and the run with the median p99 counts.
POST_RUNS = 3
WARMUP_SECONDS = 2
FAR_FUTURE_DAYS = 365


def run(bench: Bench) -> dict[str, Any]:
    count = bench.scale.backlog_count
    bench.fresh()
    empty = _measure(bench, "empty")
    bench.fresh()
    baseline = bench.redis.used_memory()
    due_ms = int((time.time() + FAR_FUTURE_DAYS * 86400) * 1000)
    load_seconds = asyncio.run(
        store_messages(
            bench.redis.port,
            prefix=run_prefix("backlog"),
            count=count,
            due_ms=due_ms,
            webhook_url=bench.sink.url,
        )
    )
    loaded = bench.redis.used_memory()
    full = _measure(bench, "full")
    return {
        "count": count,
        "payload_bytes": PAYLOAD_BYTES,
        "load": {
            "seconds": round(load_seconds, 2),
            "per_second": round(count / load_seconds),
            "how": f"Store.schedule_many, one pipeline per {BULK_CHUNK:,} messages",
        },
        "redis_used_memory_before": baseline,
        "redis_used_memory_after": loaded,
        "redis_bytes_per_message": round((loaded - baseline) / count, 1),
        "empty": empty,
        "full": full,
        "post_p99_ratio_full_to_empty": round(full["post"]["p99_ms"] / empty["post"]["p99_ms"], 3),
    }


def _measure(bench: Bench, label: str) -> dict[str, Any]:
    """Start a service on the store as it is; time readiness, listing and POSTs."""
    with bench.service(f"backlog-{label}") as (proc, base, ready):
        listing, status = asyncio.run(
            get_latencies(f"{base}/messages?limit=100", count=LIST_REQUESTS)
        )
        due = iso_ms(time.time() + FAR_FUTURE_DAYS * 86400)

        def post_command(seconds: int) -> list[str]:
            return wrk.command(
                f"{base}/messages",
                script=SCRIPT,
                clients=WRK_CLIENTS,
                seconds=seconds,
                args=[TOKEN, bench.sink.url, due, run_prefix("backlog-post")],
            )

        wrk.run(post_command(WARMUP_SECONDS), server_pids=[proc.pid, bench.redis.pid])
        cmd = post_command(bench.scale.backlog_wrk_seconds)
        servers = [proc.pid, bench.redis.pid]
        runs = [wrk.run(cmd, server_pids=servers) for _ in range(POST_RUNS)]
        runs.sort(key=lambda run: run["p99_ms"])
        post = runs[len(runs) // 2]
        post["p99_ms_of_each_run"] = [run["p99_ms"] for run in runs]
        post["command"] = wrk.shown(cmd, redact=redactions(bench, base, cmd))
    return {
        "ready_seconds": round(ready, 3),
        "list_first_page": {
            **summary_ms(listing),
            "requests": LIST_REQUESTS,
            "status": status,
            "url": "GET /messages?limit=100",
        },
        "post": post,
    }
