"""`scheduler-api repartition --to N`: move the data to another partition count while the
service runs.

1. Begin: the target is recorded beside the count (repartition_step.lua). Every replica's
   layout watcher reads it within a second and runs the moving layout (keys.MovingLayout):
   new messages where the new count puts them, lookups in both places, claims from both.
2. Wait until every live replica reports the moving layout (partitioning.py): from then
   on nothing is written where the old count says, except by settling claims in flight.
3. Move, partition by partition, in bounded batches: each batch is taken off its indexes
   in one script (move_out.lua: it can no longer be claimed there, and changes to it are
   refused for the milliseconds it is on its way), stored where it goes (move_in.lua), and
   deleted where it was (move_done.lua). A schedule moves with its pending fires, so a
   pause or a delete never misses one. Claims in flight are left to settle, then moved.
   Passes repeat until one finds nothing to move.
4. Finish: the new count is recorded and the target cleared in one step; the replicas
   switch to the plain layout, and a last pass moves anything a slow request wrote late.

A mover that stops half way (crash, Ctrl-C, Redis away) loses nothing: what was taken off
an index is kept in its partition's MOVING hash until stored elsewhere, and running the
command again resumes. The service keeps serving throughout.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .keys import Keys, MovingLayout, partition_of
from .store import Store

# Ids examined per scan step, and so moved per script call at most.
BATCH = 200
# While claims in flight hold messages in the wrong partition, passes are this far apart.
PASS_PAUSE_SECONDS = 0.5


# A partition's keys that hold no data of their own, deleted with it after shrinking
# (once its data keys are gone): counters, the lease, kept claim batches, indexes.
_BOOKKEEPING = ("lease", "fence", "seq", "bytes", "probe", "histidx", "retrying", "claims")


class RepartitionError(RuntimeError):
    """The repartition cannot begin or go on; the message says why and what to do."""


@dataclass
class Moved:
    messages: int = 0
    schedules: int = 0
    passes: int = 0


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Repartition:
    """Moves the data under one key prefix from its recorded count to `target`."""

    def __init__(
        self,
        store: Store,
        *,
        target: int,
        batch: int = BATCH,
        replica_wait_seconds: float = 60.0,
        settle_wait_seconds: float = 600.0,
        say: Callable[[str], None] = print,
    ) -> None:
        self.store = store
        self.redis = store.redis
        self.prefix = store.layout.prefix
        self.home = Keys(self.prefix, 0)
        self.target = target
        self.batch = batch
        self.replica_wait_seconds = replica_wait_seconds
        self.settle_wait_seconds = settle_wait_seconds
        self.say = say
        self.moved = Moved()

    async def run(self) -> Moved:
        source, moving_to = await self._state()
        if source == 0:
            raise RepartitionError(
                f"nothing is recorded under key prefix '{self.prefix}': no service has "
                f"started on this Redis yet. Start it with REDIS_PARTITIONS={self.target}."
            )
        if moving_to and moving_to != self.target:
            raise RepartitionError(
                f"a repartition from {source} to {moving_to} partitions is in progress: "
                f"finish it first with `scheduler-api repartition --to {moving_to}`."
            )
        if source == self.target:
            self.say(f"the data already has {source} partition(s): nothing to do")
            return self.moved
        started = time.monotonic()
        await self._step("begin", source)
        self.say(f"repartition {source} -> {self.target} begun (resumed if it was under way)")
        layout = MovingLayout(self.prefix, source, self.target)
        await self._wait_for_replicas(layout.name)
        await self._move_all(layout)
        await self._step("finish", source)
        self.say(f"the data now has {self.target} partitions; replicas follow within a second")
        await self._wait_for_replicas(str(self.target), required=False)
        # A request that read the layout before the switch may have written late: move it.
        await self._move_all(layout, final=True)
        await self._clear_leftovers(layout)
        self.say(
            f"done in {time.monotonic() - started:.1f} s: moved {self.moved.messages} "
            f"messages and {self.moved.schedules} schedules in {self.moved.passes} passes. "
            f"Set REDIS_PARTITIONS={self.target} for the next start of every replica."
        )
        return self.moved

    # -- the recorded state ---------------------------------------------------------

    async def _state(self) -> tuple[int, int]:
        recorded, target = await self.redis.mget(
            [self.home.partition_count, self.home.repartition_target]
        )
        return int(recorded or 0), int(target or 0)

    async def _step(self, step: str, source: int) -> dict[str, str]:
        """repartition_step.lua; the replicas listed (id to `layout|expiry`)."""
        home = self.home
        extra = [home.partition_count, home.repartition_target, home.replicas]
        reply = [
            _text(item)
            for item in await self.store.scripts.run(
                "repartition_step", home, step, source, self.target, extra=extra
            )
        ]
        if reply[0] != "ok":
            raise RepartitionError(
                f"could not {step} the repartition: the recorded count is {reply[1]!r} and "
                f"the target {reply[2]!r}; another repartition may have run meanwhile"
            )
        return dict(zip(reply[3::2], reply[4::2], strict=True))

    async def _wait_for_replicas(self, name: str, *, required: bool = True) -> None:
        """Until every live replica reports `name` (the mover's own reads use Redis time)."""
        deadline = time.monotonic() + self.replica_wait_seconds
        while True:
            listed = await self.redis.hgetall(self.home.replicas)
            now_s, now_us = await self.redis.time()
            now_ms = int(now_s) * 1000 + int(now_us) // 1000
            behind = []
            for replica, value in listed.items():
                layout, _, expiry = _text(value).rpartition("|")
                if int(expiry) >= now_ms and layout != name:
                    behind.append(f"{_text(replica)[:12]} ({layout})")
            if not behind:
                self.say(f"{len(listed)} replica(s) listed, all on layout {name}")
                return
            if time.monotonic() > deadline:
                text = f"replicas not on layout {name} after {self.replica_wait_seconds:.0f} s: "
                text += ", ".join(behind)
                if required:
                    raise RepartitionError(
                        text + ". Nothing was moved yet; run the command again once they "
                        "answer (a replica that stopped drops off the list within 10 s)."
                    )
                self.say("warning: " + text)
                return
            await asyncio.sleep(0.2)

    # -- moving ---------------------------------------------------------------------

    async def _move_all(self, layout: MovingLayout, *, final: bool = False) -> None:
        """Passes over every partition until one moves nothing and no claim in flight
        holds a message that belongs elsewhere."""
        deadline = time.monotonic() + self.settle_wait_seconds
        while True:
            self.moved.passes += 1
            moved = busy = 0
            for partition in range(layout.count):
                keys = layout.keys(partition)
                moved += await self._move_schedules(keys)
                moved += await self._move_messages(keys, "msgs")
                moved += await self._move_messages(keys, "hist")
                busy += await self._in_flight_elsewhere(keys)
            if moved:
                self.say(f"pass {self.moved.passes}: moved {moved}")
            if moved == 0 and busy == 0:
                return
            if final and moved == 0:
                return  # claims in flight settle where they were claimed, as always
            if moved == 0:
                if time.monotonic() > deadline:
                    raise RepartitionError(
                        f"{busy} claim(s) in flight still hold messages in the partition they "
                        f"leave after {self.settle_wait_seconds:.0f} s; run the command "
                        "again to go on"
                    )
                self.say(f"waiting for {busy} claim(s) in flight to settle")
                await asyncio.sleep(PASS_PAUSE_SECONDS)

    def _misplaced(self, keys: Keys, ids: Sequence[str]) -> list[str]:
        return [i for i in ids if partition_of(i, self.target) != keys.partition]

    async def _scan(self, key: str, *, match: str | None = None) -> list[list[str]]:
        """The fields of hash `key` in batches (HSCAN: fields present throughout are seen)."""
        batches: list[list[str]] = []
        cursor = 0
        while True:
            cursor, fields = await self.redis.hscan(key, cursor, match=match, count=self.batch)
            names = [_text(field) for field in fields]
            if names:
                batches.append(names)
            if int(cursor) == 0:
                return batches

    async def _pending_moves(self, keys: Keys, kind: str) -> list[str]:
        """Ids a mover took out and did not finish (it stopped): finished first."""
        return [
            name[2:] for batch in await self._scan(keys.moving, match=f"{kind}:*") for name in batch
        ]

    async def _move_messages(self, keys: Keys, field: str) -> int:
        moved = 0
        unfinished = await self._pending_moves(keys, "m") if field == "msgs" else []
        batches = [unfinished] if unfinished else []
        batches += await self._scan(getattr(keys, field))
        for batch in batches:
            ids = self._misplaced(keys, batch)
            for start in range(0, len(ids), self.batch):
                moved += await self.move_messages(keys, ids[start : start + self.batch])
        self.moved.messages += moved
        return moved

    async def move_messages(self, keys: Keys, ids: Sequence[str]) -> int:
        """Move these messages (live, dead or finished) out of partition `keys`."""
        if not ids:
            return 0
        copies = await self._move_out(keys, "m", ids)
        await self._move_in("m", copies)
        await self.store.scripts.run("move_done", keys, "m", *copies)
        return len(copies)

    async def _move_out(self, keys: Keys, kind: str, ids: Sequence[str]) -> dict[str, bytes]:
        reply = await self.store.scripts.run("move_out", keys, kind, *ids)
        return {_text(reply[i]): reply[i + 1] for i in range(0, len(reply), 2)}

    async def _move_in(self, kind: str, copies: dict[str, bytes]) -> None:
        groups: dict[int, list[bytes]] = defaultdict(list)
        for item_id, copy in copies.items():
            groups[partition_of(item_id, self.target)].append(copy)
        calls = [(Keys(self.prefix, target), [kind, *group]) for target, group in groups.items()]
        if calls:
            await self.store.scripts.run_many("move_in", calls)

    async def _move_schedules(self, keys: Keys) -> int:
        """Schedules that belong elsewhere, each with its pending fires."""
        moved = 0
        batches = [await self._pending_moves(keys, "s")]
        batches += await self._scan(keys.sched)
        for batch in batches:
            ids = self._misplaced(keys, batch)
            if not ids:
                continue
            # Off the sweep's index first: no fire is added here once its fires have gone.
            copies = await self._move_out(keys, "s", ids)
            for schedule_id in copies:
                index = keys.label("schedule", schedule_id)
                fires = [_text(i) for i in await self.redis.zrange(index, 0, -1)]
                for start in range(0, len(fires), self.batch):
                    moved_fires = await self.move_messages(keys, fires[start : start + self.batch])
                    self.moved.messages += moved_fires
            await self._move_in("s", copies)
            await self.store.scripts.run("move_done", keys, "s", *copies)
            moved += len(copies)
        self.moved.schedules += moved
        return moved

    async def _in_flight_elsewhere(self, keys: Keys) -> int:
        claimed = [_text(i) for i in await self.redis.zrange(keys.inflight, 0, -1)]
        return len(self._misplaced(keys, claimed))

    async def _clear_leftovers(self, layout: MovingLayout) -> None:
        """After shrinking: the per-partition keys left in partitions beyond the count,
        once they hold no data."""
        for partition in range(self.target, layout.count):
            keys = layout.keys(partition)
            async with self.redis.pipeline(transaction=False) as pipe:
                for name in ("msgs", "hist", "sched", "due", "inflight", "dead", "moving"):
                    pipe.exists(getattr(keys, name))
                if any(int(found) for found in await pipe.execute()):
                    self.say(f"partition {partition} still holds data: left as it is")
                    continue
            for name in _BOOKKEEPING:
                await self.redis.unlink(getattr(keys, name))
