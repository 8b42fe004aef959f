"""Backlog: a large number of pending messages; memory, start-up, listing and POST latency.

Memory per message is measured twice at the same count: plain messages, then (Redis
emptied) messages with options, so the two figures and their ratio come from one run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import wrk
from bench.bodies import (
    OPTION_HEADERS,
    PAYLOAD_BYTES,
    TENANTS,
    all_options,
    iso_ms,
    run_prefix,
)
from bench.context import Bench
from bench.loader import BULK_CHUNK, get_latencies, store_messages
from bench.procs import TOKEN
from bench.scenarios.create import SCRIPT, redactions
from bench.stats import ratio, summary_ms

LIST_REQUESTS = 30
WRK_CLIENTS = 16
# p99 over one short wrk run moves by tens of percent on a shared 2-core box: each side
# gets a warm-up run, then several measured runs, and the run with the median p99 counts.
POST_RUNS = 3
WARMUP_SECONDS = 2
FAR_FUTURE_DAYS = 365
SINK_SHOWN = "http://127.0.0.1:$SINK_PORT/hook"


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
    plain_bytes = (loaded - baseline) / count
    options = _options_memory(bench, count, due_ms)
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
        "redis_bytes_per_message": round(plain_bytes, 1),
        "with_options": options,
        "bytes_ratio_options_to_plain": ratio(options["redis_bytes_per_message"], plain_bytes),
        "empty": empty,
        "full": full,
        "post_p99_ratio_full_to_empty": round(full["post"]["p99_ms"] / empty["post"]["p99_ms"], 3),
    }


def _options_memory(bench: Bench, count: int, due_ms: int) -> dict[str, Any]:
    """Redis bytes per pending message when every message carries options."""
    bench.fresh()
    baseline = bench.redis.used_memory()
    load_seconds = asyncio.run(
        store_messages(
            bench.redis.port,
            prefix=run_prefix("backlog-options"),
            count=count,
            due_ms=due_ms,
            webhook_url=bench.sink.url,
            options=lambda i: all_options(i, "backlog", bench.sink.url),
        )
    )
    loaded = bench.redis.used_memory()
    bench.fresh()  # a million messages must not stay for the next scenario
    return {
        "options": _described(all_options(0, "backlog", SINK_SHOWN)),
        "load": {"seconds": round(load_seconds, 2), "per_second": round(count / load_seconds)},
        "redis_used_memory_before": baseline,
        "redis_used_memory_after": loaded,
        "redis_bytes_per_message": round((loaded - baseline) / count, 1),
    }


def _described(fields: dict[str, Any]) -> dict[str, Any]:
    """What the page says about the options: header names (not values), labels, the rest."""
    return {
        "header_names": sorted(OPTION_HEADERS),
        "label_names": sorted(fields["labels"]),
        "tenants": TENANTS,
        **{name: value for name, value in fields.items() if name not in ("headers", "labels")},
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
        servers = [proc.pid, bench.redis.pid]
        # A command (so an id prefix) per run: wrk numbers ids from 1 in every run, and a
        # reused prefix would POST ids that exist, answered 409 without storing anything.
        commands = [post_command(bench.scale.backlog_wrk_seconds) for _ in range(POST_RUNS)]
        runs = [wrk.run(cmd, server_pids=servers) for cmd in commands]
        post = _median_run(runs)
        post["command"] = wrk.shown(commands[0], redact=redactions(bench, base, commands[0]))
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


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median p99, with every run's p99 and the error answers of all."""
    ordered = sorted(runs, key=lambda run: run["p99_ms"])
    post = dict(ordered[len(ordered) // 2])
    post["p99_ms_of_each_run"] = [run["p99_ms"] for run in ordered]
    # wrk counts answers of status 400 or above as status errors; the service sends no
    # 1xx or 3xx to a POST, so these are all the answers that did not store a message.
    post["non_2xx_all_runs"] = sum(run["raw"]["status_errors"] for run in runs)
    post["errors_all_runs"] = sum(run["errors"] for run in runs)
    post["requests_all_runs"] = sum(run["requests"] for run in runs)
    return post
