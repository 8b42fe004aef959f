"""Schedules: recurring schedules firing for a minute on one service process, against
one-off messages due at the same rate; each side on an empty store and its own process.

Fires: `POST /schedules` with `every`, a `startAt` per schedule spread evenly over one
interval (so that fires come at an even rate) and an `endAt` just after its last tick, so
the set stops by itself. A fire's id is `<schedule id>:<tick, 13-digit epoch ms>`: its
lateness is the sink's arrival time minus the tick in its id, and every expected id is
known before the first fire.

One-off: as many messages as there are ticks, due at the same even rate over the same
time, written through the service's store before the first falls due.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bench import arrivals, stored
from bench.bodies import iso_at_ms, payload, run_prefix
from bench.context import Bench
from bench.loader import post_messages, store_messages
from bench.procs import cpu_seconds
from bench.stats import ratio, summary_ms

# POST /schedules per second assumed when choosing how far ahead the first tick is:
# well under what one process takes, so creating ends before it (checked, and shown).
CREATE_RATE_GUESS = 400.0
STORE_RATE_GUESS = 5000.0  # messages/s written through the store, for the one-off lead
CREATE_CONCURRENCY = 64
STRAGGLERS_SECONDS = 30.0  # after the last tick, how long late fires may still arrive


@dataclass(frozen=True)
class Plan:
    """How many schedules, how often, for how long; and what that makes."""

    count: int
    every_ms: int
    ticks: int  # per schedule

    @property
    def expected(self) -> int:
        return self.count * self.ticks

    @property
    def seconds(self) -> float:
        return self.ticks * self.every_ms / 1000

    @property
    def per_second(self) -> float:
        return self.count * 1000 / self.every_ms

    def first_tick(self, start_ms: int, index: int) -> int:
        """Schedule `index`'s first tick: the schedules share one interval evenly."""
        return start_ms + index * self.every_ms // self.count


def run(bench: Bench) -> dict[str, Any]:
    scale = bench.scale
    plan = Plan(
        count=scale.schedule_count,
        every_ms=scale.schedule_every_seconds * 1000,
        ticks=scale.schedule_seconds // scale.schedule_every_seconds,
    )
    oneoff = _oneoff(bench, plan)
    fires = _fires(bench, plan)
    return {
        "schedules": plan.count,
        "every_seconds": plan.every_ms / 1000,
        "seconds": plan.seconds,
        "ticks_per_schedule": plan.ticks,
        "per_second": plan.per_second,
        "fires": fires,
        "oneoff": oneoff,
        "p99_ratio_fires_to_oneoff": ratio(
            fires["lateness"]["p99_ms"], oneoff["lateness"]["p99_ms"]
        ),
    }


def _oneoff(bench: Bench, plan: Plan) -> dict[str, Any]:
    """One-off messages at the fires' rate: the lateness a fire is compared with."""
    bench.fresh()
    step_ms = plan.every_ms / plan.count
    with bench.service("oneoff") as (proc, _, _ready):
        start_ms = int((time.time() + 2 + plan.expected / STORE_RATE_GUESS) * 1000)
        prefix = run_prefix("oneoff")
        load_seconds = asyncio.run(
            store_messages(
                bench.redis.port,
                prefix=prefix,
                count=plan.expected,
                due_ms=start_ms,
                webhook_url=bench.sink.url,
                step_ms=step_ms,
            )
        )
        loaded_unix = time.time()
        due = {f"{prefix}-{i}": (start_ms + int(i * step_ms)) / 1000 for i in range(plan.expected)}
        cpu = _cpu_while_due(bench, proc.pid, start_ms, plan.seconds)
        figures = arrivals.collect(bench, due, timeout=STRAGGLERS_SECONDS)
        figures["lateness_by_interval"] = _by_interval(bench, plan, due, start_ms)
        history = stored.history(bench.redis)
    return {
        **figures,
        "count": plan.expected,
        "load": {
            "seconds": round(load_seconds, 2),
            "per_second": round(plan.expected / load_seconds),
            "how": "Store.schedule_many, through the service's store",
        },
        "load_finished_before_first_due": loaded_unix < start_ms / 1000,
        "cpu_cores_while_due": cpu,
        "history": history,
    }


def _fires(bench: Bench, plan: Plan) -> dict[str, Any]:
    """The schedules: created through the API, then their fires for `plan.seconds`."""
    bench.fresh()
    with bench.service("schedules") as (proc, base, _ready):
        empty, empty_clients = bench.redis.used_memory(), _client_buffers(bench)
        start_ms = int((time.time() + 3 + plan.count / CREATE_RATE_GUESS) * 1000)
        prefix = run_prefix("sched")
        ids = [f"{prefix}-{i}" for i in range(plan.count)]
        bodies = [
            _schedule(bench, plan, sid, plan.first_tick(start_ms, i), i)
            for i, sid in enumerate(ids)
        ]
        created = _create(base, bodies)
        created["finished_before_first_tick"] = created.pop("finished_unix") < start_ms / 1000
        memory = _memory(bench, plan.count, empty, empty_clients)
        due = {
            f"{sid}:{tick:013d}": tick / 1000
            for i, sid in enumerate(ids)
            for tick in _ticks(plan, plan.first_tick(start_ms, i))
        }
        cpu = _cpu_while_due(bench, proc.pid, start_ms, plan.seconds)
        figures = arrivals.collect(bench, due, timeout=STRAGGLERS_SECONDS)
        figures["lateness_by_interval"] = _by_interval(bench, plan, due, start_ms)
        figures["left_at_end"] = _left(bench)
        history = stored.history(bench.redis)
        memory["redis_used_memory_at_end"] = bench.redis.used_memory()
    return {
        **figures,
        "create": created,
        "memory": memory,
        "cpu_cores_while_due": cpu,
        "history": history,
    }


def _schedule(bench: Bench, plan: Plan, schedule_id: str, first_ms: int, index: int) -> Any:
    """One POST /schedules body: `plan.ticks` fires from `first_ms`, then it ends."""
    last_ms = first_ms + (plan.ticks - 1) * plan.every_ms
    return {
        "id": schedule_id,
        "every": plan.every_ms // 1000,
        "startAt": iso_at_ms(first_ms),
        "endAt": iso_at_ms(last_ms + plan.every_ms // 2),
        "payload": payload(index),
        "webhookUrl": bench.sink.url,
    }


def _ticks(plan: Plan, first_ms: int) -> list[int]:
    return [first_ms + k * plan.every_ms for k in range(plan.ticks)]


def _create(base: str, bodies: list[Any]) -> dict[str, Any]:
    """POST every schedule; every one must be accepted."""
    loaded = asyncio.run(
        post_messages(base, bodies, concurrency=CREATE_CONCURRENCY, path="/schedules")
    )
    if loaded.accepted != len(bodies):
        raise RuntimeError(
            f"POST /schedules accepted {loaded.accepted} of {len(bodies)}: {dict(loaded.statuses)}"
        )
    return {
        "seconds": round(loaded.seconds, 2),
        "per_second": round(len(bodies) / loaded.seconds, 1),
        "retried_after": {str(k): v for k, v in loaded.retried.items()},
        "finished_unix": time.time(),
    }


def _by_interval(
    bench: Bench, plan: Plan, due: dict[str, float], start_ms: int
) -> list[dict[str, Any]]:
    """Lateness of what fell due in each interval of the run, in order: a delivery path
    that keeps up is as late in the last interval as in the first."""
    records = bench.sink.records()
    first: dict[str, float] = {}
    for mid, at in zip(records["ids"], records["times"], strict=True):
        first.setdefault(mid, at)
    slices: list[list[float]] = [[] for _ in range(plan.ticks)]
    for mid, at in first.items():
        if mid in due:
            k = min(plan.ticks - 1, int((due[mid] * 1000 - start_ms) // plan.every_ms))
            slices[k].append(at - due[mid])
    return [
        {"from_seconds": k * plan.every_ms / 1000, "delivered": len(late), **summary_ms(late)}
        for k, late in enumerate(slices)
    ]


def _left(bench: Bench) -> dict[str, int]:
    """Fires stored but not delivered when the scenario stopped waiting, and schedules
    whose last fire was not yet materialized."""
    from service.keys import Keys

    keys = Keys()
    with bench.redis.client() as client:
        return {
            "fires_pending": int(client.zcard(keys.due)),
            "fires_in_flight": int(client.zcard(keys.inflight)),
            "schedules_not_ended": int(client.zcard(keys.schedidx)),
        }


def _client_buffers(bench: Bench) -> int:
    """Bytes Redis holds for its clients' connections (`mem_clients_normal`)."""
    return int(str(bench.redis.info("memory")["mem_clients_normal"]))


def _memory(bench: Bench, count: int, empty: int, empty_clients: int) -> dict[str, Any]:
    """What the schedules take in Redis once created, apart from and with their next fires.

    Each schedule has its next fire pending from the moment it is created: a message
    (record, body, due-index entry) and the label index `schedule=<id>` it is in.
    `MEMORY USAGE` of the five schedule keys counts the schedules alone; of the message
    keys and those label indexes, the pending fires alone; `used_memory` counts both.
    """
    from service.keys import Keys

    keys = Keys()
    loaded = bench.redis.used_memory()
    clients = _client_buffers(bench)
    with bench.redis.client() as client:
        pending = int(client.zcard(keys.due))
        indexes = list(client.scan_iter(match=keys.label("schedule", "*"), count=1000))
    schedule_keys = (keys.sched, keys.schedbody, keys.schedidx, keys.schedall, keys.schedstat)
    alone = stored.key_memory(bench.redis, schedule_keys)
    fires = stored.key_memory(bench.redis, (keys.msgs, keys.bodies, keys.due, *indexes))
    return {
        "redis_used_memory_empty": empty,
        "redis_used_memory_created": loaded,
        "bytes_per_schedule_with_next_fires": round((loaded - empty) / count, 1),
        # used_memory also holds the buffers of the service's connections, which grew
        # while 64 POSTs ran at once: without them, the figure is the data alone.
        "redis_client_buffers_empty": empty_clients,
        "redis_client_buffers_created": clients,
        "bytes_per_schedule_with_next_fires_net_of_clients": round(
            ((loaded - clients) - (empty - empty_clients)) / count, 1
        ),
        "schedule_keys_memory_usage": alone,
        "bytes_per_schedule_alone": round(alone / count, 1),
        "fires_pending_when_measured": pending,
        "fire_keys_memory_usage": fires,
        "bytes_per_pending_fire": round(fires / pending, 1) if pending else None,
    }


def _cpu_while_due(bench: Bench, pid: int, start_ms: int, seconds: float) -> dict[str, float]:
    """Cores the service and Redis used from the first due time for `seconds`."""
    time.sleep(max(0.0, start_ms / 1000 - time.time()))
    pids = [pid, bench.redis.pid]
    before = [cpu_seconds(p) for p in pids]
    started = time.monotonic()
    time.sleep(max(0.0, start_ms / 1000 + seconds - time.time()))
    wall = time.monotonic() - started
    used = [round((cpu_seconds(p) - b) / wall, 2) for p, b in zip(pids, before, strict=True)]
    return {"service": used[0], "redis": used[1], "seconds": round(wall, 1)}
