"""The recurring schedules' operations on the store, each one script (or one read)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .keys import Keys, Layout
from .paging import Ask, Slice, merged_page, parse_slice
from .records import NewMessage
from .store import PAGE_EXAMINE, LeaseLost, Store


class Put(IntEnum):
    """What sched_put.lua answers, besides a new version (a positive number)."""

    MISSING_OR_EXISTS = 0
    CHANGED = -3
    MOVING = -4


@dataclass(slots=True)
class StoredSchedule:
    """A schedule as stored: its version, definition, body, next fire and figures."""

    id: str
    version: int
    definition: bytes
    body: bytes
    next_fire_ms: int | None
    delivered: int
    dead: int
    last_fire: str | None  # base 36 ms


@dataclass(slots=True)
class Advance:
    """One schedule's step of the sweep: the fires computed from what was read."""

    schedule_id: str
    version: int
    read_ms: int
    next_fire_ms: int | None
    fires: list[Any]  # six values a fire (FireTemplate.args), one after the other


@dataclass(slots=True)
class SchedulePage:
    rows: list[tuple[str, int, bytes]]  # id, creation ms, stored definition
    total: int
    last_examined: tuple[int, str] | None


class ScheduleStore:
    """Reads and writes of recurring schedules, in the partition of each schedule id."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def layout(self) -> Layout:
        return self.store.layout  # replaced while a repartition runs

    async def put(
        self,
        schedule_id: str,
        *,
        version: int | None,
        definition: bytes,
        body: bytes,
        next_fire_ms: int | None,
        created_ms: int,
        fires: Sequence[NewMessage],
    ) -> int:
        """Create (version None) or replace a schedule; the new version, or a Put code."""
        mode = "create" if version is None else "replace"
        args: tuple[Any, ...] = (mode, schedule_id, "" if version is None else version)
        args += (definition, body, "" if next_fire_ms is None else next_fire_ms, created_ms)
        args += tuple(_fires(fires))

        async def put(keys: Keys) -> int:
            return int(await self.store.scripts.run("sched_put", keys, *args))

        if version is None:
            if self.layout.moving and await self.store.exists_elsewhere(
                [schedule_id], field="sched"
            ) == [True]:
                return Put.MISSING_OR_EXISTS
            return await put(self.layout.for_id(schedule_id))
        missing = Put.MISSING_OR_EXISTS
        return await self.store.on_home(schedule_id, put, missing=missing, moving=Put.MOVING)

    async def get(self, schedule_id: str) -> StoredSchedule | None:
        for keys in self.layout.homes(schedule_id):
            async with self.store.redis.pipeline(transaction=True) as pipe:
                pipe.hget(keys.sched, schedule_id)
                pipe.hget(keys.schedbody, schedule_id)
                pipe.zscore(keys.schedidx, schedule_id)
                pipe.hmget(keys.schedstat, *_stat_fields(schedule_id))
                raw, body, next_fire, stats = await pipe.execute()
            if raw is not None:
                break
        if raw is None:
            return None
        if self.layout.count > 1:
            stats = await self._counts_everywhere(schedule_id)
        delivered, dead, last = stats
        version, _, definition = bytes(raw).partition(b"\n")
        return StoredSchedule(
            id=schedule_id,
            version=int(version),
            definition=definition,
            body=bytes(body or b"\n"),
            next_fire_ms=None if next_fire is None else int(next_fire),
            delivered=int(delivered or 0),
            dead=int(dead or 0),
            last_fire=last.decode() if last else None,
        )

    async def _counts_everywhere(self, schedule_id: str) -> tuple[int, int, bytes | None]:
        """A schedule's fire counts over every partition: a fire counts where it finishes,
        and one in flight while a repartition moved its schedule finishes in the partition
        the schedule left."""
        async with self.store.redis.pipeline(transaction=False) as pipe:
            for keys in self.layout.partitions():
                pipe.hmget(keys.schedstat, *_stat_fields(schedule_id))
            found = await pipe.execute()
        lasts = [last for _, _, last in found if last]
        return (
            sum(int(delivered or 0) for delivered, _, _ in found),
            sum(int(dead or 0) for _, dead, _ in found),
            max(lasts, key=lambda last: int(last, 36)) if lasts else None,
        )

    async def delete(self, schedule_id: str) -> bool:
        async def delete(keys: Keys) -> int:
            return int(await self.store.scripts.run("sched_delete", keys, schedule_id))

        deleted = await self.store.on_home(schedule_id, delete, missing=0, moving=-1) == 1
        if deleted and self.layout.count > 1:
            # Counts left in other partitions by a repartition (see _counts_everywhere):
            # a schedule created again under this id starts from zero.
            async with self.store.redis.pipeline(transaction=False) as pipe:
                for keys in self.layout.partitions():
                    pipe.hdel(keys.schedstat, *_stat_fields(schedule_id))
                await pipe.execute()
        return deleted

    async def page(
        self, *, limit: int, after: tuple[int, str] | None, labels: Sequence[str]
    ) -> SchedulePage:
        """Schedules by creation time; with several partitions, theirs merged (paging.py)."""
        if self.layout.count == 1:
            args = _page_args(limit, after, labels, PAGE_EXAMINE)
            part = parse_slice(await self.store.scripts.run("sched_page", self.layout.home, *args))
            rows, total, last = part.rows, part.total, part.last_examined
        else:
            fetch = functools.partial(self._page_slices, labels)
            merged = await merged_page(
                fetch, partitions=self.layout.count, limit=limit, after=after
            )
            rows, total, last = merged.rows, merged.total, merged.last
        return SchedulePage(
            rows=[(id.decode(), score, raw.partition(b"\n")[2]) for score, id, raw in rows],
            total=total,
            last_examined=last,
        )

    async def _page_slices(self, labels: Sequence[str], asks: Sequence[Ask]) -> list[Slice]:
        examine = max(PAGE_EXAMINE // self.layout.count, 100)
        partitions = self.layout.partitions()
        calls = [
            (partitions[ask.partition], _page_args(ask.limit, ask.after, labels, examine))
            for ask in asks
        ]
        replies = await self.store.scripts.run_many("sched_page", calls)
        return [parse_slice(reply) for reply in replies]

    async def due(self, keys: Keys, *, until_ms: int, limit: int) -> list[tuple[str, int]]:
        """(id, last materialized fire) of schedules whose next fire is due by `until_ms`."""
        rows: Any = await self.store.redis.zrangebyscore(
            keys.schedidx, "-inf", until_ms, start=0, num=limit, withscores=True
        )
        return [(_text(member), int(score)) for member, score in rows]

    async def definitions(
        self, keys: Keys, schedule_ids: Sequence[str]
    ) -> list[tuple[int, bytes, bytes] | None]:
        """(version, definition, body) of each id, None for one deleted meanwhile: one
        round trip for a whole batch of the sweep."""
        if not schedule_ids:
            return []
        async with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.sched, *schedule_ids)
            pipe.hmget(keys.schedbody, *schedule_ids)
            raws, bodies = await pipe.execute()
        out: list[tuple[int, bytes, bytes] | None] = []
        for raw, body in zip(raws, bodies, strict=True):
            if raw is None:
                out.append(None)
                continue
            version, _, definition = bytes(raw).partition(b"\n")
            out.append((int(version), definition, bytes(body or b"\n")))
        return out

    async def advance_many(self, keys: Keys, lease_value: str, steps: Sequence[Advance]) -> int:
        """Run sched_advance for every step in one pipeline; how many advanced.

        Each step is still its own atomic, fenced script call: the pipeline only saves
        the round trips. LeaseLost when the caller was fenced out.
        """
        if not steps:
            return 0
        calls = []
        for step in steps:
            last: str | int = "" if step.next_fire_ms is None else step.next_fire_ms
            args = (lease_value, step.schedule_id, step.version, step.read_ms, last)
            calls.append((keys, [*args, *step.fires]))
        results = [
            int(result) for result in await self.store.scripts.run_many("sched_advance", calls)
        ]
        if any(result < 0 for result in results):
            raise LeaseLost("sched_advance")
        return sum(result == 1 for result in results)


def _fires(fires: Sequence[NewMessage]) -> list[Any]:
    args: list[Any] = []
    for fire in fires:
        meta, body, size = fire.stored()
        args += [fire.id, meta, body, size, fire.due_ms, "1" if fire.options.labels else "0"]
    return args


def _page_args(
    limit: int, after: tuple[int, str] | None, labels: Sequence[str], examine: int
) -> tuple[Any, ...]:
    score, cursor_id = after if after else ("", "")
    return (limit, score, cursor_id, examine, *labels)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stat_fields(schedule_id: str) -> tuple[str, str, str]:
    """A schedule's fields in `schedstat`: fires delivered, fires dead, last fire time."""
    return f"{schedule_id}:delivered", f"{schedule_id}:dead", f"{schedule_id}:last"
