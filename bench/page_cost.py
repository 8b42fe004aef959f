"""What a page of GET /messages costs at 1 and at N partitions, in-process, on one Redis.

A side measurement behind the partitions scenario (not run by `python -m bench`): it
starts its own Redis on 127.0.0.1, writes the same backlog of pending messages twice
through the service's store (one key prefix with 1 partition, one with `--partitions`),
then times `Store.page` (the listing's whole Redis part: the script calls, parsing and
the merge) alternately on both, first pages and pages after a cursor, and reads
`INFO commandstats` for the Redis time per page. No HTTP, no rendering.

Ids are `--ids even` (`page-0`, `page-1`, ...: crc32 spreads them about evenly, at most
8 of any 100 in a partition) or `random` (UUID v7, as the API makes them: a partition
often holds more than its share of a page).

The last message of the backlog carries the label `pick=yes`: a third figure is the
first page of that sparse filter over the due index (limit 10), which examines as many
entries as a page may before it answers (`store.PAGE_EXAMINE`): the longest a listing
holds Redis.

Run: `python -m bench.page_cost [--backlog 20000] [--pages 2000] [--ids random]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.loader import write_messages
from bench.own_redis import script_usec
from tests.support.redis_server import RedisServer

FAR_MS = int((time.time() + 30 * 86400) * 1000)


@contextlib.asynccontextmanager
async def service_store(port: int, *, partitions: int, prefix: str) -> AsyncIterator[Any]:
    """The service's store with the service's own Redis client (its connection class packs
    commands with hiredis: a merged page's script call names every partition's keys)."""
    from service.config import Settings
    from service.connection import connect
    from service.keys import Layout
    from service.store import Store

    settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0", api_token="page-cost-bench")
    redis = connect(settings)
    try:
        yield Store(redis, Layout(prefix, partitions))
    finally:
        await redis.aclose()


async def write_backlog(
    store: Any, backlog: int, ids: list[str] | None, *, pick_last: bool = False
) -> None:
    """`backlog` pending messages, far in the future, through the service's store; with
    `pick_last`, the last one carries the label `pick=yes` (the sparse filter's match)."""

    def options(i: int) -> dict[str, Any]:
        return {"labels": {"pick": "yes"}} if pick_last and i == backlog - 1 else {}

    await write_messages(
        store,
        prefix="page",
        count=backlog,
        due_ms=FAR_MS,
        webhook_url="http://127.0.0.1:9/hook",
        payload=lambda i: b'{"n":%d}' % i,
        ids=ids,
        options=options,
    )


async def measure(
    port: int, *, backlog: int, pages: int, partitions: int, ids: str
) -> dict[str, Any]:
    from service.records import new_message_id

    counts = (1, partitions)
    names = [new_message_id() for _ in range(backlog)] if ids == "random" else None
    for count in counts:
        async with service_store(port, partitions=count, prefix=f"p{count}") as store:
            await write_backlog(store, backlog, names, pick_last=True)
    out: dict[str, Any] = {"backlog": backlog, "pages": pages, "ids": ids}
    async with (
        service_store(port, partitions=1, prefix="p1") as single,
        service_store(port, partitions=partitions, prefix=f"p{partitions}") as split,
    ):
        stores = {1: single, partitions: split}
        for label, cursor in (("first", False), ("after", True)):
            out[label] = await _compare(port, stores, pages, cursor=cursor)
            print(f"[page_cost] {label} page: {out[label]}", flush=True)
        out["sparse"] = await _sparse(stores, max(pages // 20, 5))
        print(f"[page_cost] sparse filter, first page: {out['sparse']}", flush=True)
    return out


async def _sparse(stores: dict[int, Any], pages: int) -> dict[str, Any]:
    """The first page of a label filter that matches one message, the last: each page
    examines its whole budget. Alternating; medians."""
    counts = sorted(stores)
    times: dict[int, list[float]] = {n: [] for n in counts}
    for number in range(pages):
        for count in counts if number % 2 == 0 else counts[::-1]:
            began = time.perf_counter()
            await stores[count].page(index="due", limit=10, after=None, labels=["pick=yes"])
            times[count].append(time.perf_counter() - began)
    medians = {n: statistics.median(times[n]) * 1000 for n in counts}
    return {
        "median_ms": {str(n): round(medians[n], 1) for n in counts},
        "ratio": round(medians[counts[-1]] / medians[counts[0]], 3),
    }


async def _compare(
    port: int, stores: dict[int, Any], pages: int, *, cursor: bool
) -> dict[str, Any]:
    """Pages of both stores, alternating; medians, Redis time per page and the ratio."""
    counts = sorted(stores)
    after = {}
    for count in counts:  # warm-up, and the cursors
        for _ in range(20):
            await stores[count].page(index="due", limit=100, after=None)
        after[count] = await _cursor(stores[count]) if cursor else None
    times: dict[int, list[float]] = {n: [] for n in counts}
    for number in range(pages):
        for count in counts if number % 2 == 0 else counts[::-1]:
            began = time.perf_counter()
            await stores[count].page(index="due", limit=100, after=after[count])
            times[count].append(time.perf_counter() - began)
    medians = {n: statistics.median(times[n]) * 1e6 for n in counts}
    redis_us = {n: await _redis_time(port, stores[n], after[n]) for n in counts}
    return {
        "median_us": {str(n): round(medians[n]) for n in counts},
        "redis_us_per_page": {str(n): round(redis_us[n]) for n in counts},
        "ratio": round(medians[counts[-1]] / medians[counts[0]], 3),
    }


async def _redis_time(port: int, store: Any, after: tuple[int, str] | None) -> float:
    """Redis's own time per page (its command statistics over 200 pages), measured apart:
    the statistics count every client."""
    redis = Redis(host="127.0.0.1", port=port)
    try:
        await redis.config_resetstat()
        for _ in range(200):
            await store.page(index="due", limit=100, after=after)
        usec = await script_usec(redis)
    finally:
        await redis.aclose()
    return usec / 200


async def _cursor(store: Any) -> tuple[int, str]:
    """Where the first page ended: a listing's second page starts there."""
    page = await store.page(index="due", limit=100, after=None)
    return page.last_examined  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--pages", type=int, default=2_000)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--ids", choices=("even", "random"), default="even")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory), appendonly=False).start()
        try:
            asyncio.run(
                measure(
                    server.port,
                    backlog=args.backlog,
                    pages=args.pages,
                    partitions=args.partitions,
                    ids=args.ids,
                )
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
