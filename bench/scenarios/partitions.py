"""Partitions: one Redis with REDIS_PARTITIONS=1 against 16, in the same run.

On a single Redis, partitions buy nothing (they are for Redis Cluster), so they must cost
almost nothing: creating (POST /messages under wrk), a burst of messages due at one
instant (deliveries per second), and the first page of GET /messages (latency, over a
backlog of pending messages).

Both services run at once on the one Redis, each under its own key prefix, and the
measurements alternate between them (1, 16, 16, 1, ...; for the page, request by
request), so that drift on a shared machine falls on both sides. Ratios are 16 over 1
of the medians.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Iterator
from typing import Any

import aiohttp

from bench import wrk
from bench.context import Bench
from bench.loader import service_store, write_messages
from bench.procs import TOKEN
from bench.scenarios import create
from bench.scenarios.burst import burst_through
from bench.stats import ratio

COUNTS = (1, 16)
CREATE_CLIENTS = 32
PAGE_BACKLOG = 20_000  # pending messages the first page is taken from
PAGE_REPEATS = 300
FAR_FUTURE_DAYS = 30

Services = dict[int, tuple[int, str]]  # partition count: (pid, base URL)


def run(bench: Bench) -> dict[str, Any]:
    rounds = bench.scale.partition_pairs * 2
    bench.fresh()
    with _services(bench) as services:
        page = _pages(bench, services)
        creates: dict[int, list[float]] = {n: [] for n in COUNTS}
        bursts: dict[int, list[float]] = {n: [] for n in COUNTS}
        for number in range(rounds):
            for count in _order(number):
                creates[count].append(_create(bench, services[count], count))
            for count in _order(number):
                bursts[count].append(_burst(bench, services[count], count))
    out: dict[str, Any] = {
        "partition_counts": list(COUNTS),
        "rounds": rounds,
        "create": {
            "clients": CREATE_CLIENTS,
            "seconds_each": bench.scale.create_seconds,
            **{str(n): creates[n] for n in COUNTS},
        },
        "burst": {"count": bench.scale.burst_count, **{str(n): bursts[n] for n in COUNTS}},
        "page": page,
    }
    for name, figures in (("create", creates), ("burst", bursts)):
        medians = {n: statistics.median(figures[n]) for n in COUNTS}
        out[name]["median_per_second"] = {str(n): medians[n] for n in COUNTS}
        out[name]["ratio"] = ratio(medians[16], medians[1])
    single, split = page["1"]["median_ms"], page["16"]["median_ms"]
    out["page"]["ratio"] = ratio(split, single)
    print(
        f"[bench] partitions: 16 / 1: create {out['create']['ratio']:.3f}x "
        f"({out['create']['median_per_second']}), burst {out['burst']['ratio']:.3f}x "
        f"({out['burst']['median_per_second']}), first page latency {out['page']['ratio']:.3f}x "
        f"({single} ms, {split} ms)",
        flush=True,
    )
    return out


def _order(number: int) -> tuple[int, ...]:
    return COUNTS if number % 2 == 0 else tuple(reversed(COUNTS))


@contextlib.contextmanager
def _services(bench: Bench) -> Iterator[Services]:
    with contextlib.ExitStack() as stack:
        services: Services = {}
        for count in COUNTS:
            env = {"REDIS_PARTITIONS": str(count), "REDIS_KEY_PREFIX": _prefix(count)}
            proc, base, _ = stack.enter_context(bench.service(f"partitions-{count}", **env))
            services[count] = (proc.pid, base)
        yield services


def _prefix(count: int) -> str:
    return f"bench-p{count}"


def _create(bench: Bench, service: tuple[int, str], count: int) -> float:
    pid, base = service
    cmd = create._cmd(bench, base, CREATE_CLIENTS, bench.scale.create_seconds, f"p{count}")
    figures = wrk.run(cmd, server_pids=[pid, bench.redis.pid])
    print(f"[bench] partitions={count}: create {figures['requests_per_second']:,.0f}/s", flush=True)
    return float(figures["requests_per_second"])


def _burst(bench: Bench, service: tuple[int, str], count: int) -> float:
    bench.sink.reset()
    env = {"REDIS_PARTITIONS": str(count)}
    figures = burst_through(bench, [service], bench.scale.burst_count, env)
    rate = float(figures["deliveries_per_second"])
    print(f"[bench] partitions={count}: burst {rate:,.0f}/s", flush=True)
    return rate


def _pages(bench: Bench, services: Services) -> dict[str, Any]:
    """GET /messages (first page, default limit 100) over a backlog, alternating."""
    from service.records import new_message_id  # (the suite imports the service lazily)

    # Ids as the API makes them when a request names none (UUID v7): they spread over the
    # partitions as clients' ids do, so some partition often holds more than its share of
    # a page and is read again.
    ids = [new_message_id() for _ in range(PAGE_BACKLOG)]
    for count in COUNTS:
        asyncio.run(_backlog(bench, count, ids))
    latencies = asyncio.run(_alternate_gets({n: services[n][1] for n in COUNTS}))
    out: dict[str, Any] = {
        "backlog": PAGE_BACKLOG,
        "repeats": PAGE_REPEATS,
        "how": "GET /messages (limit 100, no cursor), one client, alternating services",
        "ids": "UUID v7, as the API makes them",
    }
    for count, seconds in latencies.items():
        millis = sorted(value * 1000 for value in seconds)
        out[str(count)] = {
            "median_ms": round(statistics.median(millis), 3),
            "p90_ms": round(millis[int(len(millis) * 0.9)], 3),
        }
        print(f"[bench] partitions={count}: first page {out[str(count)]}", flush=True)
    return out


async def _alternate_gets(bases: dict[int, str]) -> dict[int, list[float]]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    out: dict[int, list[float]] = {n: [] for n in bases}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        for number in range(PAGE_REPEATS + 20):  # the first 20 warm up, not counted
            for count in _order(number):
                start = time.perf_counter()
                async with session.get(f"{bases[count]}/messages") as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"GET /messages answered {response.status}")
                if number >= 20:
                    out[count].append(time.perf_counter() - start)
    return out


async def _backlog(bench: Bench, count: int, ids: list[str]) -> None:
    async with service_store(bench.redis.port, partitions=count, prefix=_prefix(count)) as store:
        await write_messages(
            store,
            prefix=f"page-p{count}",
            count=PAGE_BACKLOG,
            due_ms=int((time.time() + FAR_FUTURE_DAYS * 86400) * 1000),
            webhook_url=bench.sink.url,
            payload=lambda i: b'{"n":%d}' % i,
            ids=ids,
        )
