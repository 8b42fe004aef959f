"""The store: the one way the service reaches Redis, through named Lua scripts (lua.py).

Special answers of a script become named results or named exceptions here, never bare
numbers for the caller to guess.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from .cluster_client import memory_of
from .errors import Unavailable
from .history import HistoryRecord, decode_log
from .keys import Keys, Layout, LegacyKeys
from .lua import Scripts
from .paging import Ask, Slice, merged_page, merged_reply, parse_slice, share
from .records import (
    INLINE_BODY_BYTES,
    Claim,
    ClaimBatch,
    MessageRecord,
    Meta,
    NewMessage,
    Page,
    Stats,
    Summary,
    new_incarnation,
    split_body,
)

_CLAIM_FIELDS = 4
_PAGE_FIELDS = 3
# A bulk cancel examines this many entries per script call: each call is atomic and
# short (milliseconds), so the API keeps answering while millions are cancelled.
CANCEL_BATCH = 500
# A filtered page examines at most this many index entries per call.
PAGE_EXAMINE = 5000
# A change meeting a message that a repartition is moving (for milliseconds) asks again
# this often, for up to this long, then answers 503.
MOVING_RETRY_SECONDS = 0.01
MOVING_WAIT_SECONDS = 3.0


class Stored(IntEnum):
    """What schedule.lua answers."""

    STORED = 1
    EXISTS = 0
    OVER_MESSAGE_QUOTA = -1
    OVER_BYTE_QUOTA = -2


class Patched(IntEnum):
    """What patch.lua answers."""

    PATCHED = 1
    NOT_FOUND = 0
    IN_FLIGHT = -1
    DEAD = -2
    CHANGED = -3
    MOVING = -4


class LeaseLost(Exception):
    """A fenced script refused to run: the caller no longer holds the housekeeping lease."""


@dataclass(slots=True)
class Finish:
    """How one attempt is settled: its log entry, and a callback to store with it."""

    claim: Claim
    entry: str
    callback: NewMessage | None = None


class Store:
    """Typed operations on the schedule; each multi-key step is one atomic script."""

    def __init__(self, redis: Redis, layout: Layout, *, history: bool = True) -> None:
        self.redis = redis
        self.layout = layout
        cluster = isinstance(redis, RedisCluster)
        self.scripts = Scripts(redis, cluster=cluster)
        self._history = "1" if history else "0"
        # A listing over several partitions is merged inside Redis by one script call; a
        # Cluster refuses a call naming keys of several slots, so there it is merged here.
        self.merge_in_redis = not cluster

    async def _fenced(self, name: str, keys: Keys, lease_value: str, *args: Any) -> int:
        result = int(await self.scripts.run(name, keys, lease_value, *args))
        if result < 0:
            raise LeaseLost(name)
        return result

    # -- health ---------------------------------------------------------------------

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def probe_write(self) -> None:
        """A tiny write: raises the error Redis gives writes (OOM, READONLY, MISCONF, ...)."""
        await self.redis.set(self.layout.home.probe, b"1", px=10_000)

    # -- messages -------------------------------------------------------------------

    async def schedule(self, message: NewMessage, *, max_messages: int, max_bytes: int) -> Stored:
        args = _new(message, max_messages, max_bytes)
        keys = self.layout.for_id(message.id)
        if self.layout.moving and await self.exists_elsewhere([message.id]) == [True]:
            return Stored.EXISTS
        return Stored(int(await self.scripts.run("schedule", keys, *args)))

    async def schedule_many(
        self, messages: Iterable[NewMessage], *, max_messages: int = 0, max_bytes: int = 0
    ) -> list[Stored]:
        """Store many messages in one pipeline: one answer each, in order."""
        batch = list(messages)
        calls = [
            (self.layout.for_id(message.id), _new(message, max_messages, max_bytes))
            for message in batch
        ]
        if not self.layout.moving:
            return [
                Stored(int(result)) for result in await self.scripts.run_many("schedule", calls)
            ]
        elsewhere = await self.exists_elsewhere([message.id for message in batch])
        fresh = [call for call, taken in zip(calls, elsewhere, strict=True) if not taken]
        answers = iter(await self.scripts.run_many("schedule", fresh) if fresh else [])
        return [Stored.EXISTS if taken else Stored(int(next(answers))) for taken in elsewhere]

    async def exists_elsewhere(self, ids: Sequence[str], *, field: str = "msgs") -> list[bool]:
        """During a repartition: whether each id exists where the old count put it (a new
        one with the same id would be its duplicate). A message being moved is still
        there until its copy exists where it goes, so the script there sees that one."""
        async with self.redis.pipeline(transaction=False) as pipe:
            looked: list[bool] = []
            for message_id in ids:
                homes = self.layout.homes(message_id)[1:]
                looked.append(bool(homes))
                for keys in homes:
                    pipe.hexists(getattr(keys, field), message_id)
            answers = iter(await pipe.execute() if any(looked) else [])
        return [bool(next(answers)) if has_old else False for has_old in looked]

    async def on_home(
        self,
        message_id: str,
        call: Callable[[Keys], Awaitable[int]],
        *,
        missing: int,
        moving: int,
    ) -> int:
        """`call` where the message lives: its partition, or during a repartition each place
        it may be until one knows it; asked again while it is on its way between them."""
        deadline = time.monotonic() + MOVING_WAIT_SECONDS
        while True:
            for keys in self.layout.homes(message_id):
                result = await call(keys)
                if result == moving:
                    break
                if result != missing:
                    return result
            else:
                return missing
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"'{message_id}' is being moved to another partition by a repartition; "
                    "retry in a moment",
                    code="repartitioning",
                )
            await asyncio.sleep(MOVING_RETRY_SECONDS)

    async def get(self, message_id: str) -> MessageRecord | HistoryRecord | None:
        """A live message with its attempts log, else its history, else None."""
        for keys in self.layout.homes(message_id):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hget(keys.msgs, message_id)
                pipe.hget(keys.bodies, message_id)
                pipe.zscore(keys.due, message_id)
                pipe.hget(keys.log, message_id)
                pipe.hget(keys.hist, message_id)
                raw, body, next_run, log, history = await pipe.execute()
            if raw is not None or history is not None:
                break
        if raw is None:
            return None if history is None else HistoryRecord.decode(history)
        meta = Meta.decode(raw)
        headers, payload = split_body(meta.body or body or b"\n")
        next_run_ms = None if next_run is None else int(next_run)
        return MessageRecord(message_id, meta, next_run_ms, payload, headers, decode_log(log), raw)

    async def page(
        self,
        *,
        index: str,
        limit: int,
        after: tuple[int, str] | None,
        state: str = "",
        labels: Sequence[str] = (),
    ) -> Page:
        """One page of an index (due, retrying, inflight, dead, lbl, dlbl) in time order,
        filtered by state code and `name=value` labels, after the cursor entry; with
        several partitions, theirs merged (in Redis by _page_merge.lua, or on a Cluster by
        paging.merged_page)."""
        if self.layout.count == 1:
            args = _page_args(index, limit, after, state, labels)
            reply = await self.scripts.run("page", self.layout.home, *args)
            part = parse_slice(reply, in_flight=True)
            rows, total, last, in_flight = part.rows, part.total, part.last_examined, part.in_flight
        elif self.merge_in_redis:
            args = _page_args(index, limit, after, state, labels, examine=self._examine)
            reply = await self.scripts.page_merged(
                self.layout.partitions(), limit, share(limit, self.layout.count), args
            )
            merged = merged_reply(reply, limit)
            rows, total, last, in_flight = merged.rows, merged.total, merged.last, merged.in_flight
        else:  # a Cluster: a call per partition (their keys are in different slots)
            merged = await merged_page(
                functools.partial(self._page_slices, index, state, labels),
                partitions=self.layout.count,
                limit=limit,
                after=after,
            )
            rows, total, last, in_flight = merged.rows, merged.total, merged.last, merged.in_flight
        summaries = [Summary(id.decode(), score, Meta.decode(raw)) for score, id, raw in rows]
        return Page(rows=summaries, total=total, last_examined=last, in_flight=in_flight)

    @property
    def _examine(self) -> int:
        """Entries each partition's page.lua examines per call, at most."""
        return max(PAGE_EXAMINE // self.layout.count, 100)

    async def _page_slices(
        self, index: str, state: str, labels: Sequence[str], asks: Sequence[Ask]
    ) -> list[Slice]:
        """Pages of several partitions of a Cluster, in one pipeline of a call each."""
        partitions, examine = self.layout.partitions(), self._examine
        calls = [
            (
                partitions[ask.partition],
                _page_args(index, ask.limit, ask.after, state, labels, examine=examine),
            )
            for ask in asks
        ]
        replies = await self.scripts.run_many("page", calls)
        return [parse_slice(reply, in_flight=True) for reply in replies]

    async def cancel(self, message_id: str, *, dead_only: bool = False) -> bool:
        flag = "1" if dead_only else "0"
        request = new_incarnation()  # (sent again after a lost answer, it answers 1 again)

        async def cancel(keys: Keys) -> int:
            args = (message_id, flag, self._history, request)
            return int(await self.scripts.run("cancel", keys, *args))

        return await self.on_home(message_id, cancel, missing=0, moving=-1) == 1

    async def cancel_labelled(self, labels: Sequence[str]) -> int:
        """Cancel every live message carrying all `labels`, in bounded atomic batches."""
        cancelled = 0
        # During a repartition a message may move from a partition not yet visited to one
        # already visited: passes go on until one finds nothing and nothing is on its way.
        for _ in range(10 if self.layout.moving else 1):
            found = 0
            for keys in self.layout.partitions():
                kept = 0
                while True:
                    done, examined, skipped = await self.scripts.run(
                        "cancel_labelled", keys, self._history, CANCEL_BATCH, kept, *labels
                    )
                    found, kept = found + int(done), kept + int(skipped)
                    if int(examined) == 0:
                        break
            cancelled += found
            if not self.layout.moving or (found == 0 and not await self._any_moving()):
                break
            await asyncio.sleep(MOVING_RETRY_SECONDS)
        return cancelled

    async def _any_moving(self) -> bool:
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys in self.layout.partitions():
                pipe.hlen(keys.moving)
            return any(int(size) for size in await pipe.execute())

    async def patch(self, message_id: str, *, read: bytes, message: NewMessage) -> Patched:
        """Replace a pending message's definition if its record is still `read`."""
        meta, body, size = message.record(attempts=Meta.decode(read).attempts, state="p")
        args = (message_id, read, meta, body, size, message.due_ms)

        async def patch(keys: Keys) -> int:
            return int(await self.scripts.run("patch", keys, *args))

        return Patched(await self.on_home(message_id, patch, missing=0, moving=Patched.MOVING))

    async def redrive(self, message_id: str) -> int | None:
        """Make a dead letter due now; its due time in ms, or None if it is not dead."""

        request = new_incarnation()  # (sent again after a lost answer, it answers again)

        async def redrive(keys: Keys) -> int:
            return int(await self.scripts.run("redrive", keys, message_id, request))

        return await self.on_home(message_id, redrive, missing=0, moving=-1) or None

    # -- delivery -------------------------------------------------------------------

    async def claim(
        self,
        keys: Keys,
        *,
        limit: int,
        claim_timeout_ms: int,
        claimer: str = "",
        request: str = "",
    ) -> ClaimBatch:
        """Due messages of one partition, now in flight for this caller. A `claimer` that
        asks again with the same `request` (its answer was lost) gets the same batch."""
        reply = await self.scripts.run("claim", keys, limit, claim_timeout_ms, claimer, request)
        claims = [
            _claim(reply[i : i + _CLAIM_FIELDS], keys.partition)
            for i in range(2, len(reply), _CLAIM_FIELDS)
        ]
        next_due = int(reply[1])
        next_due_ms = None if next_due < 0 else next_due
        return ClaimBatch(claims, now_ms=int(reply[0]), next_due_ms=next_due_ms)

    async def ack(self, finished: Sequence[Finish]) -> int:
        """Remove delivered messages (one script call per partition); returns how many."""
        groups: dict[Keys, list[Finish]] = {}
        for item in finished:
            groups.setdefault(self._claimed_in(item.claim), []).append(item)
        calls: list[tuple[Keys, Sequence[Any]]] = []
        for keys, group in groups.items():
            plain = [item for item in group if item.callback is None]
            args: list[Any] = [self._history, len(plain)]
            args += [
                value for item in plain for value in (item.claim.id, item.claim.token, item.entry)
            ]
            args += [value for item in group if item.callback for value in _ack_args(item)]
            calls.append((keys, args))
        if len(calls) == 1:
            only, only_args = calls[0]
            return int(await self.scripts.run("ack", only, *only_args))
        # Several partitions: one round trip for all (each call is its own atomic step).
        return sum(int(reply) for reply in await self.scripts.run_many("ack", calls))

    async def retry(self, finish: Finish, *, delay_ms: int, error: str) -> int | None:
        """Back into the due index after `delay_ms`; the new due ms, None if the claim is stale."""
        claim = finish.claim
        keys = self._claimed_in(claim)
        args = (claim.id, claim.token, delay_ms, error, finish.entry)
        due = int(await self.scripts.run("retry", keys, *args))
        return due or None

    async def dead_letter(self, finish: Finish, *, error: str) -> bool:
        """Park the message as a dead letter (with its callback); False if the claim is stale."""
        claim = finish.claim
        keys = self._claimed_in(claim)
        args = (claim.id, claim.token, error, finish.entry, *_callback_args(finish.callback))
        return bool(await self.scripts.run("dead_letter", keys, *args))

    def _claimed_in(self, claim: Claim) -> Keys:
        """The partition a claim was made in: it settles there, even if a repartition
        has since given its id another home (the mover leaves claims in flight alone)."""
        return _partition_keys(self.layout.prefix, claim.partition)

    # -- housekeeping (fenced by the lease value) -------------------------------------

    async def recover_expired(self, keys: Keys, *, lease_value: str, limit: int) -> int:
        """Expired claims back to due; LeaseLost when `lease_value` no longer holds the lease."""
        return await self._fenced("recover", keys, lease_value, limit)

    async def recover_expired_everywhere(self, *, lease_value: str, limit: int) -> int:
        """recover_expired in every partition, in one round trip; LeaseLost as it does."""
        calls = [(keys, (lease_value, limit)) for keys in self.layout.partitions()]
        results = [int(result) for result in await self.scripts.run_many("recover", calls)]
        if any(result < 0 for result in results):
            raise LeaseLost("recover")
        return sum(results)

    async def next_due(self) -> list[int | None]:
        """Each partition's earliest due time (ms), None when it has nothing due: one
        read each, pipelined."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys in self.layout.partitions():
                pipe.zrange(keys.due, 0, 0, withscores=True)
            heads = await pipe.execute()
        return [int(head[0][1]) if head else None for head in heads]

    async def purge_dead(
        self, keys: Keys, *, lease_value: str, retention_ms: int, limit: int
    ) -> int:
        args = (retention_ms, limit, self._history)
        return await self._fenced("purge_dead", keys, lease_value, *args)

    async def purge_history(
        self, keys: Keys, *, lease_value: str, retention_ms: int, keep: int, limit: int
    ) -> int:
        return await self._fenced("purge_history", keys, lease_value, retention_ms, keep, limit)

    async def stats(self) -> Stats:
        """Sizes summed over the partitions (one pipeline when there are several)."""
        if self.layout.count == 1:
            replies = [await self.scripts.run("stats", self.layout.home)]
        else:
            calls: list[tuple[Keys, Sequence[Any]]] = [(k, ()) for k in self.layout.partitions()]
            replies = await self.scripts.run_many("stats", calls)
        totals = [sum(int(reply[i]) for reply in replies) for i in range(8)]
        return Stats(*totals)

    async def memory(self) -> tuple[int, int]:
        """(used_memory, maxmemory) in bytes (0: no limit); on a Cluster, of the fullest
        primary holding a partition."""
        return await memory_of(self.redis, [keys.probe for keys in self.layout.partitions()])

    async def migrate_legacy(self, *, limit: int = 500) -> tuple[int, int]:
        """Move up to `limit` messages of the first layout; (moved, left)."""
        if isinstance(self.redis, RedisCluster):
            return 0, 0  # the first layout never ran on a Cluster (and spans two slots)
        legacy = LegacyKeys(self.layout.prefix).script_keys()
        moved, left = await self.scripts.run(
            "migrate", self.layout.home, limit, "L0", INLINE_BODY_BYTES, extra=legacy
        )
        return int(moved), int(left)

    async def recorded_partitions(self) -> int:
        """The partition count the data was written with (this layout's, at the first start)."""
        home = self.layout.home
        # A separate read: the first layout's keys are in another Cluster slot.
        legacy = await self.redis.exists(LegacyKeys(self.layout.prefix).script_keys()[0])
        args = (self.layout.count, "1" if legacy else "0")
        extra = [home.partition_count]
        return int(await self.scripts.run("partition_count", home, *args, extra=extra))

    # -- the lease ------------------------------------------------------------------

    async def lease_acquire(self, *, owner: str, ttl_ms: int) -> int:
        """Take or renew the lease; returns the fencing token, 0 when someone else holds it.

        The lease lives in the home partition; the other partitions hold a copy for their
        fenced scripts (lease_mirror.lua), written before the holder's first fenced write.
        """
        fence = int(await self.scripts.run("lease_acquire", self.layout.home, owner, ttl_ms))
        if fence and not await self.mirror_lease(f"{owner}:{fence}", self.layout):
            return 0  # a newer holder has mirrored itself: this one lost the lease
        return fence

    async def mirror_lease(self, value: str, layout: Layout) -> bool:
        """Copy the lease value into every partition of `layout` but the home one (also
        before this replica switches to a layout with more partitions); False when a
        newer holder is named in one of them."""
        if layout.count == 1:
            return True
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys in layout.partitions()[1:]:
                await self.scripts.run("lease_mirror", keys, value, client=pipe)
            return all(int(named) for named in await pipe.execute())

    async def lease_release(self, *, lease_value: str) -> bool:
        return bool(await self.scripts.run("lease_release", self.layout.home, lease_value))


@functools.cache
def _partition_keys(prefix: str, partition: int) -> Keys:
    return Keys(prefix, partition)


def _new(message: NewMessage, max_messages: int, max_bytes: int) -> list[Any]:
    meta, body, size = message.stored()
    labelled = "1" if message.options.labels else "0"
    return [message.id, meta, body, size, message.due_ms, max_messages, max_bytes, labelled]


def _callback_args(callback: NewMessage | None) -> tuple[Any, ...]:
    if callback is None:
        return ("", "", "", 0, "0")
    meta, body, size = callback.stored()
    return (callback.id, meta, body, size, "1" if callback.options.labels else "0")


def _ack_args(item: Finish) -> tuple[Any, ...]:
    """A delivered message with a callback: its eight ack.lua arguments."""
    return (item.claim.id, item.claim.token, item.entry, *_callback_args(item.callback))


def _page_args(
    index: str,
    limit: int,
    after: tuple[int, str] | None,
    state: str,
    labels: Sequence[str],
    *,
    examine: int = PAGE_EXAMINE,
) -> tuple[Any, ...]:
    score, cursor_id = after if after else ("", "")
    return (index, limit, score, cursor_id, state, examine, *labels)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _claim(row: Sequence[Any], partition: int) -> Claim:
    meta = Meta.decode(row[2])
    headers, payload = split_body(meta.body or bytes(row[3]))
    return Claim(
        id=_text(row[0]),
        due_ms=int(float(row[1])),
        meta=meta,
        payload=payload,
        headers=headers,
        partition=partition,
    )
