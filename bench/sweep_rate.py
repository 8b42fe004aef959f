"""How many fires the housekeeper's sweep materializes per second, alone on a Redis.

A side measurement behind the schedules scenario (not run by `python -m bench`): it
starts its own Redis on 127.0.0.1, stores N schedules `every: 10` through the service's
own code (as POST /schedules does, first fire included), holds the lease, then runs
`Sweep.run` back to back for a while and prints the fires it materialized per second of
sweeping, and this process's CPU per fire. No API, no delivery, no sink.

What a fire due meanwhile would wait is measured beside it: the event loop's lag (a task
asking to sleep 1 ms, minus 1 ms) and a PING's round trip on a second connection (Redis
runs a pipeline's scripts back to back), as percentiles over the sweeping time.
`--store-every N` overrides how many schedules go into one pipeline, for comparison.

Run: `python -m bench.sweep_rate --count 10000 --seconds 20 [--store-every 100]`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from redis.asyncio import Redis

from tests.support.redis_server import RedisServer

if TYPE_CHECKING:
    from service.schedule_store import ScheduleStore

EVERY_MS = 10_000
LEAD_MS = 5_000  # the first ticks are this far beyond the end of creating


async def create(redis: Redis, count: int) -> tuple[ScheduleStore, int]:
    """Create `count` schedules spread over one interval, as POST /schedules does; the
    schedule store, and the first tick."""
    from service.keys import Layout
    from service.metrics import Metrics
    from service.recurring import Recurring
    from service.schedule_store import ScheduleStore
    from service.schemas import RecurringRequest
    from service.store import Store

    schedules = ScheduleStore(Store(redis, Layout()))
    recurring = Recurring(
        schedules=schedules, metrics=Metrics(), check=lambda _: None, notify=lambda *_: None
    )
    start = int(time.time() * 1000) + LEAD_MS + count  # about 1 ms per schedule to create
    for i in range(count):
        first = datetime.fromtimestamp((start + i * EVERY_MS // count) / 1000, tz=UTC)
        request = RecurringRequest.model_validate(
            {
                "id": f"s-{i}",
                "every": EVERY_MS // 1000,
                "startAt": first.isoformat(),
                "payload": {"seq": i},
                "webhookUrl": "http://127.0.0.1:9/hook",
            }
        )
        await recurring.create(request)
    return schedules, start


async def measure(port: int, count: int, seconds: float) -> dict[str, object]:
    from service.firing import SWEEP_BUDGET_SECONDS, Sweep

    redis = Redis(host="127.0.0.1", port=port)
    try:
        schedules, start = await create(redis, count)
        lease = "sweep-rate:1"
        await redis.set(schedules.layout.home.lease, lease)
        # From when the first fires fall within the sweep's horizon.
        await asyncio.sleep(max(0.0, (start - 5_000) / 1000 - time.time()))
        sweep = Sweep(schedules)
        cpu_before, busy, fires = _cpu(), 0.0, 0
        end = time.monotonic() + seconds
        lags: list[float] = []
        pings: list[float] = []
        watchers = [
            asyncio.create_task(_loop_lag(lags, end)),
            asyncio.create_task(_ping(port, pings, end)),
        ]
        while time.monotonic() < end:
            began = time.perf_counter()
            fires += await sweep.run(lease)
            busy += time.perf_counter() - began
            await asyncio.sleep(0.05)
        cpu = _cpu() - cpu_before
        await asyncio.gather(*watchers)
    finally:
        await redis.aclose()
    return {
        "schedules": count,
        "fires": fires,
        "sweeping_seconds": round(busy, 2),
        "fires_per_sweeping_second": round(fires / busy, 1),
        "ms_per_fire": round(busy / max(fires, 1) * 1000, 3),
        "cpu_ms_per_fire": round(cpu / max(fires, 1) * 1000, 3),
        "budget_seconds_per_run": SWEEP_BUDGET_SECONDS,
        "loop_lag_ms": _percentiles(lags),
        "ping_ms": _percentiles(pings),
    }


async def _loop_lag(out: list[float], end: float) -> None:
    """How late a 1 ms sleep wakes up, in ms, until `end`."""
    while time.monotonic() < end:
        began = time.perf_counter()
        await asyncio.sleep(0.001)
        out.append((time.perf_counter() - began) * 1000 - 1.0)


async def _ping(port: int, out: list[float], end: float) -> None:
    """PING round trips on a connection of their own, in ms, until `end`."""
    client = Redis(host="127.0.0.1", port=port)
    try:
        while time.monotonic() < end:
            began = time.perf_counter()
            await client.ping()
            out.append((time.perf_counter() - began) * 1000)
            await asyncio.sleep(0.001)
    finally:
        await client.aclose()


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values) or [0.0]

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1], 3), "n": len(ordered)}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--store-every", type=int, help="schedules per pipeline of scripts")
    args = parser.parse_args()
    if args.store_every:
        import service.firing

        service.firing.STORE_EVERY = args.store_every
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as workdir:
        server = RedisServer(Path(workdir), appendonly=False).start()
        try:
            figures = asyncio.run(measure(server.port, args.count, args.seconds))
        finally:
            server.stop()
    print(orjson.dumps(figures).decode())


if __name__ == "__main__":
    main()
