"""Where Redis spends a merged first page's time, phase by phase, on one Redis.

A side measurement behind the partitions scenario (not run by `python -m bench`), next
to `bench.page_cost`: it starts its own Redis on 127.0.0.1, writes a backlog of pending
messages through the service's store at 16 partitions (ids as the API makes them, UUID
v7), and runs the page_merged script with `TIME` calls put between its phases:

- asks: every partition's index size, claims in flight and first share (its rows read
  with their scores),
- count: the rows up to the bound, counted (in Lua, over the rows read),
- rounds: the partitions asked again while the rows up to the bound do not fill the page,
- output: the records of the rows up to the bound.

It also times the same page at 1 partition and both scripts untouched (`INFO
commandstats`): the phases add up to less than the untouched call, the difference being
the call's own cost (its keys and arguments, the script's functions, the reply).

Run: `python -m bench.page_phases [--backlog 20000] [--pages 300]`.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from redis.asyncio import Redis

from bench.own_redis import run_with_own_redis, script_usec
from bench.page_cost import service_store, write_backlog

PARTITIONS = 16
LIMIT = 100
_MARK = (
    "local _t = redis.call('TIME') _times[#_times + 1] = tonumber(_t[1]) * 1e6 + tonumber(_t[2])\n"
)


def instrumented_source() -> str:
    """page_merged's source with a timestamp before and after each phase; it returns the
    timestamps and the number of partitions asked again instead of a page."""
    from service.lua import page_merged_source

    source = page_merged_source()
    edits = (
        ("local partitions, limit, first_ask", "local _times = {}\nlocal _again = 0\n" + _MARK),
        ("local low = lowest()\nlocal safe = count_safe(low)\n", None),
        ("  low = lowest()\n  safe = count_safe(low)\nend\n", None),
    )
    first, count, rounds = edits
    source = source.replace(first[0], first[1] + first[0], 1)
    source = source.replace(count[0], _MARK + count[0] + _MARK, 1)
    source = source.replace(rounds[0], "  _again = _again + 1\n" + rounds[0] + _MARK, 1)
    end = source.rindex("return out")
    source = source[:end] + _MARK + "return {_times, _again}" + source[end + len("return out") :]
    if source.count("_times[#_times + 1]") != 5:
        raise RuntimeError("page_merged changed shape: update bench.page_phases")
    return source


async def measure(port: int, *, backlog: int, pages: int) -> dict[str, Any]:
    from service.lua import _merged_keys
    from service.paging import share
    from service.records import new_message_id
    from service.store import _page_args

    ids = [new_message_id() for _ in range(backlog)]
    out: dict[str, Any] = {"backlog": backlog, "pages": pages, "partitions": PARTITIONS}
    for count in (1, PARTITIONS):
        async with service_store(port, partitions=count, prefix=f"p{count}") as store:
            await write_backlog(store, backlog, ids)
            out[f"untouched_us_p{count}"] = round(await _call_time(port, store, pages))
        if count == PARTITIONS:
            async with service_store(port, partitions=count, prefix=f"p{count}") as store:
                keys = list(_merged_keys(tuple(store.layout.partitions())))
                args = _page_args("due", LIMIT, None, "", [], examine=store._examine)
                call = [PARTITIONS, LIMIT, share(LIMIT, PARTITIONS), *args]
                sha = await store.redis.script_load(instrumented_source())
                phases: list[list[float]] = []
                for _ in range(pages):
                    times, again = await store.redis.evalsha(sha, len(keys), *keys, *call)
                    phases.append([times[i + 1] - times[i] for i in range(4)] + [again])
    for at, name in enumerate(("asks", "count", "rounds", "output", "asked_again")):
        out[f"{name}_us" if name != "asked_again" else name] = statistics.median(
            row[at] for row in phases
        )
    return out


async def _call_time(port: int, store: Any, pages: int) -> float:
    """Redis's time per first page (its command statistics over `pages` pages)."""
    redis = Redis(host="127.0.0.1", port=port)
    try:
        for _ in range(20):
            await store.page(index="due", limit=LIMIT, after=None)
        await redis.config_resetstat()
        for _ in range(pages):
            await store.page(index="due", limit=LIMIT, after=None)
        usec = await script_usec(redis)
    finally:
        await redis.aclose()
    return usec / pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    run_with_own_redis(
        "page_phases", lambda port: measure(port, backlog=args.backlog, pages=args.pages)
    )


if __name__ == "__main__":
    main()
