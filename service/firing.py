"""Materializing the fires of recurring schedules: which ticks become messages, when.

The next fire of every active schedule is always in the due index, as an ordinary
message, ahead of its time: the lease holder's sweep (every second) materializes, for
each schedule whose last materialized fire is within LEAD_MS, every tick up to
HORIZON_MS ahead and at least the next one. One atomic script per schedule stores
them, fenced by the lease and checked against the definition's version and the last
fire read, so however many replicas run, each tick becomes one message, once.

Ticks missed for longer than MISSED_AFTER_MS (no replica ran) fire once, as the latest
of them; shorter gaps (a lease hand-over) fire every tick, late.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .keys import Keys
from .recurrence import Recurrence
from .recurring_records import Definition, FireTemplate
from .schedule_store import Advance, ScheduleStore

log = logging.getLogger("service.firing")

# How far ahead fires are stored. Wide enough that a sweep running behind (a busy lease
# holder, a lease hand-over) still stores each fire before it is due; each stored fire
# costs about 500 bytes of Redis until it is sent, so an `every: 1` schedule holds ~20.
HORIZON_MS = 20_000
# A schedule is swept again once its last stored fire is less than LEAD_MS away: more than
# the lease's 10 s, so that a lease hand-over leaves time to store the next fires. Shorter
# than HORIZON_MS, so that schedules created together (each with its first fires stored)
# come due for the sweep spread over their ticks, not all in the seconds their first
# ticks fall due, when the fires due then would wait for the sweep.
LEAD_MS = 12_000
MISSED_AFTER_MS = 60_000
MAX_FIRES_PER_STEP = 100
SWEEP_BATCH = 100  # schedules per read of definitions
# Schedules per pipeline of sched_advance scripts. Redis runs a pipeline's scripts back
# to back, and Python packs and parses it in one go: 100 at once held both for several
# milliseconds, which fires due meanwhile waited out (p99 lateness 8 ms against 3 ms for
# one-off messages). Ten keep each stretch under a millisecond, and awaiting each one lets
# the claim loop in between.
STORE_EVERY = 10
# While computing fires, the sweep lets the event loop run this often (schedules): a claim
# due meanwhile waits for a few schedules' work, not for a whole pipeline's.
YIELD_EVERY = 3
SWEEP_BUDGET_SECONDS = 0.8
DECODED_CACHE = 100_000  # definitions kept decoded, by (id, version)


def plan(recurrence: Recurrence, last_ms: int | None, now_ms: int) -> tuple[list[int], bool]:
    """(tick times to materialize after `last_ms`, whether the schedule has ended)."""
    cursor = now_ms - 1 if last_ms is None else last_ms
    first = recurrence.next_after(cursor)
    if first is None:
        return [], True
    ticks: list[int] = []
    if first < now_ms - MISSED_AFTER_MS:
        latest = recurrence.latest_at_or_before(now_ms - MISSED_AFTER_MS)
        if latest is not None and latest >= first:
            ticks.append(latest)
            cursor = latest
    for tick in recurrence.after(cursor):
        if (ticks and tick > now_ms + HORIZON_MS) or len(ticks) >= MAX_FIRES_PER_STEP:
            break
        ticks.append(tick)
    ended = not ticks or recurrence.next_after(ticks[-1]) is None
    return ticks, ended


def next_runs(definition: Definition, now_ms: int, count: int = 5) -> list[int]:
    if definition.paused:
        return []
    runs = []
    for tick in definition.recurrence.after(now_ms - 1):
        runs.append(tick)
        if len(runs) == count:
            break
    return runs


class Sweep:
    """The lease holder's duty: keep the next fires of every schedule materialized."""

    def __init__(self, schedules: ScheduleStore) -> None:
        self.schedules = schedules
        self._decoded: dict[tuple[str, int, bytes], tuple[Definition, FireTemplate]] = {}

    async def run(self, lease_value: str) -> int:
        """One sweep of every partition, within a time budget; fires materialized."""
        deadline = time.monotonic() + SWEEP_BUDGET_SECONDS
        total = 0
        for keys in self.schedules.layout.partitions():
            while time.monotonic() < deadline:
                done, more = await self._batch(keys, lease_value)
                total += done
                if not more:
                    break
        return total

    async def _batch(self, keys: Keys, lease_value: str) -> tuple[int, bool]:
        """One batch: read the due schedules' definitions in one round trip, compute their
        fires, store them in pipelines of STORE_EVERY fenced scripts (one per schedule)."""
        now_ms = int(time.time() * 1000)
        rows = await self.schedules.due(keys, until_ms=now_ms + LEAD_MS, limit=SWEEP_BATCH)
        stored = await self.schedules.definitions(keys, [schedule_id for schedule_id, _ in rows])
        steps: list[Advance] = []
        fired = 0
        for n, ((schedule_id, last_ms), found) in enumerate(zip(rows, stored, strict=True)):
            if found is None:
                continue  # deleted meanwhile
            if n % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            version, raw, body = found
            definition, template = self._definition(schedule_id, version, raw, body)
            ticks, ended = plan(definition.recurrence, last_ms, now_ms)
            fires = [value for tick in ticks for value in template.args(tick, now_ms)]
            fired += len(ticks)
            next_fire = None if ended else (ticks[-1] if ticks else last_ms)
            steps.append(Advance(schedule_id, version, last_ms, next_fire, fires))
            if len(steps) == STORE_EVERY:
                await self.schedules.advance_many(keys, lease_value, steps)
                steps = []
        await self.schedules.advance_many(keys, lease_value, steps)
        return fired, len(rows) == SWEEP_BATCH

    def _definition(
        self, schedule_id: str, version: int, raw: bytes, body: bytes
    ) -> tuple[Definition, FireTemplate]:
        """Decoded once per version (an edit of the body makes a new version too): a
        schedule every 10 s would otherwise be decoded (and its cron parsed) 8,640 times a
        day for the same answer. The stored definition is part of the key: a schedule
        deleted and created again under its id starts again at version 1, with another
        creation time in its definition."""
        key = (schedule_id, version, raw)
        cached = self._decoded.get(key)
        if cached is None:
            if len(self._decoded) >= DECODED_CACHE:
                self._decoded.clear()  # crude, but bounded; refilled within one sweep
            definition = Definition.decode(raw)
            template = FireTemplate.of(schedule_id, definition, body)
            cached = self._decoded[key] = (definition, template)
        return cached
