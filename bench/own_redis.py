"""How the side measurements (bench.page_phases, bench.ack_cost, bench.lua_costs) run: on a
Redis of their own, started on 127.0.0.1 in a temporary folder and stopped when they end."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from tests.support.redis_server import RedisServer

Measure = Callable[[int], Coroutine[Any, Any, dict[str, Any]]]


def run_with_own_redis(name: str, measure: Measure) -> None:
    """Run `measure(port)` against a fresh Redis and print its figures as `[name] {...}`."""
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory), appendonly=False).start()
        try:
            began = time.perf_counter()
            figures = asyncio.run(measure(server.port))
            print(f"[{name}] {figures} ({time.perf_counter() - began:.0f} s)", flush=True)
        finally:
            server.stop()


async def script_usec(redis: Redis) -> int:
    """Microseconds Redis spent in script calls (EVAL, EVALSHA, ...) since the last
    CONFIG RESETSTAT, by its command statistics: every client's calls count."""
    stats = await redis.info("commandstats")
    return sum(int(v["usec"]) for k, v in stats.items() if k.startswith("cmdstat_eval"))
