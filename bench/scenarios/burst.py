"""Burst: N messages due at one instant, per delivery transport, beside bare client loops;
then plain messages against messages with headers and labels, in pairs."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from bench import arrivals
from bench.bodies import (
    OPTION_HEADERS,
    TENANTS,
    headers_and_labels,
    labels,
    message,
    run_prefix,
)
from bench.context import DEFAULT_TRANSPORT, DELIVERY_CONCURRENCY, Bench
from bench.loader import store_messages
from bench.procs import PYTHON, cpu_seconds, run_measured
from bench.stats import ratio

STORE_LEAD_SECONDS = 1.5  # before a burst written through the store falls due, beyond
STORE_RATE_GUESS = 4000.0  # ... the time writing it takes at this many messages/s


def run(bench: Bench) -> dict[str, Any]:
    count = bench.scale.burst_count
    out: dict[str, Any] = {
        "count": count,
        "concurrency": DELIVERY_CONCURRENCY,
        "bare": {},
        "service": {},
    }
    for transport in bench.scale.transports:  # each pair back to back, so drift hits both
        out["bare"][transport] = bare_loop(bench, transport, count)
        figures = service_burst(bench, count, WEBHOOK_TRANSPORT=transport)
        bare_rate = out["bare"][transport]["per_second"]
        figures["ratio_to_bare_same_client"] = ratio(figures["deliveries_per_second"], bare_rate)
        out["service"][transport] = figures
    out["options"] = options_pairs(bench, count)
    return out


def options_pairs(bench: Bench, count: int) -> dict[str, Any]:
    """Plain bursts against bursts whose every message carries headers and labels.

    Each pair runs back to back, and every other pair runs the options burst first,
    so that drift on a shared machine falls on both sides; the median pair ratio counts.
    Both are written through the service's store, quickly and before they fall due: on
    a busy machine, POSTing 10,000 messages ran into their due time and made the
    ratio one of loading as much as of delivering.
    """
    kinds: dict[str, Callable[[int], dict[str, Any]] | None] = {
        "plain": None,
        "options": lambda i: headers_and_labels(i, "burst"),
    }
    pairs = []
    for number in range(bench.scale.burst_option_pairs):
        order = list(kinds) if number % 2 == 0 else list(reversed(kinds))
        pair: dict[str, Any] = {
            kind: service_burst(bench, count, fields=kinds[kind], store=True) for kind in order
        }
        rates = {kind: pair[kind]["deliveries_per_second"] for kind in kinds}
        pair["ratio_options_to_plain"] = ratio(rates["options"], rates["plain"])
        costs = {kind: pair[kind]["service_cpu_us_per_delivery"] for kind in kinds}
        pair["cpu_ratio_options_to_plain"] = ratio(costs["options"], costs["plain"])
        pair["order"] = order
        pairs.append(pair)
    return {
        "transport": DEFAULT_TRANSPORT,
        "header_names": sorted(OPTION_HEADERS),
        "label_names": sorted(labels(0, "burst")),
        "tenants": TENANTS,
        "pairs": pairs,
        "ratio_median": statistics.median(p["ratio_options_to_plain"] for p in pairs),
        "cpu_ratio_median": statistics.median(p["cpu_ratio_options_to_plain"] for p in pairs),
    }


def bare_loop(bench: Bench, transport: str, count: int) -> dict[str, Any]:
    """The ceiling: a bare async loop POSTing the same bodies to the same sink."""
    bench.sink.reset()
    cmd = [
        PYTHON,
        "-m",
        "bench.client",
        "--transport",
        transport,
        "--url",
        bench.sink.url,
        "--count",
        str(count),
        "--concurrency",
        str(DELIVERY_CONCURRENCY),
        "--prefix",
        run_prefix("bare"),
    ]
    text, wall, cpu = run_measured(cmd, timeout=180)
    line = text.strip().splitlines()[-1]
    figures: dict[str, Any] = orjson.loads(line)
    figures["client_cpu_cores"] = round(cpu / wall, 2)
    figures["received_by_sink"] = bench.sink.count()
    shown = ["python", *cmd[1:-2]]  # without the throwaway id prefix
    figures["command"] = " ".join(shown).replace(bench.sink.url, "http://127.0.0.1:$SINK_PORT/hook")
    return figures


def service_burst(
    bench: Bench,
    count: int,
    *,
    name: str = "service",
    fields: Callable[[int], dict[str, Any]] | None = None,
    store: bool = False,
    **env: str,
) -> dict[str, Any]:
    """Schedule `count` messages due at one instant through one service; measure delivery."""
    bench.fresh()
    with bench.service(name, **env) as (proc, base, _):
        return burst_through(bench, [(proc.pid, base)], count, env, fields=fields, store=store)


def burst_through(
    bench: Bench,
    services: list[tuple[int, str]],
    count: int,
    env: dict[str, str],
    *,
    fields: Callable[[int], dict[str, Any]] | None = None,
    store: bool = False,
    redis_pids: Sequence[int] = (),
) -> dict[str, Any]:
    """Load through the first service (or, with `store`, through the service's store),
    then wait until every message reached the sink.

    `fields(i)` adds fields (options) to message `i`'s body. `redis_pids` are the Redis
    servers whose CPU is measured (the suite's one Redis unless given: a Cluster's nodes).
    """
    prefix = run_prefix("burst")
    if store:
        at = time.time() + STORE_LEAD_SECONDS + count / STORE_RATE_GUESS
        load = _store_load(bench, prefix, count, at, fields)
        due = {f"{prefix}-{i}": at for i in range(count)}
    else:
        at = time.time() + arrivals.lead_seconds(count)
        messages = [message(f"{prefix}-{i}", at, bench.sink.url, i) for i in range(count)]
        if fields is not None:
            messages = [{**body, **fields(i)} for i, body in enumerate(messages)]
        load = arrivals.schedule(bench, services[0][1], messages)
        due = {m["id"]: at for m in messages}
    servers = list(redis_pids) or [bench.redis.pid]
    pids = [pid for pid, _ in services] + servers
    time.sleep(max(0.0, at - time.time()))
    cpu_before = [cpu_seconds(pid) for pid in pids]
    bench.sink.wait_for(count, timeout=60)
    cpu_after = [cpu_seconds(pid) for pid in pids]
    window = max(time.time() - at, 1e-9)
    figures = arrivals.collect(bench, due, timeout=1)
    last = figures["last_arrival_unix"] or time.time()
    spent = [a - b for a, b in zip(cpu_after, cpu_before, strict=True)]
    used = [round(seconds / window, 2) for seconds in spent]
    split = len(services)
    figures["cpu_cores_while_delivering"] = {
        "service": used[:split],
        "redis": round(sum(spent[split:]) / window, 2),
    }
    if len(servers) > 1:
        figures["cpu_cores_while_delivering"]["redis_nodes"] = used[split:]
    # CPU per delivery holds up better than a rate when other work takes the cores.
    delivered = max(figures["delivered"], 1)
    figures["service_cpu_us_per_delivery"] = round(sum(spent[:split]) / delivered * 1e6, 1)
    figures["redis_cpu_us_per_delivery"] = round(sum(spent[split:]) / delivered * 1e6, 1)
    figures["load"] = load
    figures["load_finished_before_due"] = load["finished_unix"] < at
    figures["seconds_to_last"] = round(last - at, 3)
    figures["deliveries_per_second"] = round(figures["delivered"] / max(last - at, 1e-9), 1)
    figures["settings"] = {k: v for k, v in env.items()}
    return figures


def _store_load(
    bench: Bench,
    prefix: str,
    count: int,
    at: float,
    fields: Callable[[int], dict[str, Any]] | None,
) -> dict[str, Any]:
    """Write the burst through the service's store, all due at `at`: what loading costs
    is then no part of the delivery it is compared with."""
    seconds = asyncio.run(
        store_messages(
            bench.redis.port,
            prefix=prefix,
            count=count,
            due_ms=int(at * 1000),
            webhook_url=bench.sink.url,
            options=fields,
            step_ms=0,
        )
    )
    return {
        "seconds": round(seconds, 3),
        "per_second": round(count / seconds, 1),
        "how": "store",
        "retried_after": {},
        "finished_unix": time.time(),
    }
