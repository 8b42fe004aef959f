"""The store: the one way the service reaches Redis, through named Lua scripts.

Every script gets its partition's keys in the one order `keys.SCRIPT_KEYS` sets, and a
prelude that names them (MSGS, DUE, ...) and the record's field positions (F_DUE,
...), generated here from the Python definitions. Special answers of a script become
named results or named exceptions here, never bare numbers for the caller to guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from .keys import SCRIPT_KEYS, Keys, Layout, LegacyKeys
from .records import (
    INLINE_BODY_BYTES,
    META_FIELDS,
    Claim,
    ClaimBatch,
    MessageRecord,
    Meta,
    NewMessage,
    Page,
    Stats,
    Summary,
    split_body,
)

SCRIPT_NAMES = (
    "schedule",
    "claim",
    "ack",
    "retry",
    "dead_letter",
    "cancel",
    "redrive",
    "page",
    "recover",
    "purge_dead",
    "lease_acquire",
    "lease_release",
    "stats",
    "migrate",
)
_CLAIM_FIELDS = 4
_PAGE_FIELDS = 3


class Stored(IntEnum):
    """What schedule.lua answers."""

    STORED = 1
    EXISTS = 0
    OVER_MESSAGE_QUOTA = -1
    OVER_BYTE_QUOTA = -2


class LeaseLost(Exception):
    """A fenced script refused to run: the caller no longer holds the housekeeping lease."""


class Store:
    """Typed operations on the schedule; each multi-key step is one atomic script."""

    def __init__(self, redis: Redis, layout: Layout) -> None:
        self.redis = redis
        self.layout = layout
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(script_source(name)) for name in SCRIPT_NAMES
        }

    async def _run(self, name: str, keys: Keys, *args: Any, extra: Sequence[str] = ()) -> Any:
        script = self._scripts[name]
        return await script(keys=[*keys.script_keys(), *extra], args=list(args))

    async def _fenced(self, name: str, keys: Keys, lease_value: str, *args: Any) -> int:
        result = int(await self._run(name, keys, lease_value, *args))
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
        return Stored(int(await self._run("schedule", self.layout.for_id(message.id), *args)))

    async def schedule_many(self, messages: Iterable[NewMessage]) -> list[Stored]:
        """Store many messages in one pipeline, without quotas (bulk loads and benchmarks)."""
        script = self._scripts["schedule"]
        async with self.redis.pipeline(transaction=False) as pipe:
            for message in messages:
                keys = self.layout.for_id(message.id).script_keys()
                await script(keys=keys, args=_new(message, 0, 0), client=pipe)
            return [Stored(int(result)) for result in await pipe.execute()]

    async def get(self, message_id: str) -> MessageRecord | None:
        keys = self.layout.for_id(message_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(keys.msgs, message_id)
            pipe.hget(keys.bodies, message_id)
            pipe.zscore(keys.due, message_id)
            raw, body, next_run = await pipe.execute()
        if raw is None:
            return None
        meta = Meta.decode(raw)
        _, payload = split_body(meta.body or body or b"\n")
        next_run_ms = None if next_run is None else int(next_run)
        return MessageRecord(message_id, meta, next_run_ms, payload)

    async def page(self, *, dead: bool, limit: int, after: tuple[int, str] | None) -> Page:
        """One page of pending (or dead) messages in time order, after the cursor entry."""
        score, cursor_id = after if after else ("", "")
        index = "dead" if dead else "due"
        reply = await self._run("page", self.layout.home, index, limit, score, cursor_id)
        rows = [
            Summary(_text(reply[i]), int(float(reply[i + 1])), Meta.decode(reply[i + 2]))
            for i in range(1, len(reply), _PAGE_FIELDS)
        ]
        return Page(rows=rows, total=int(reply[0]))

    async def cancel(self, message_id: str, *, dead_only: bool = False) -> bool:
        keys = self.layout.for_id(message_id)
        return bool(await self._run("cancel", keys, message_id, "1" if dead_only else "0"))

    async def redrive(self, message_id: str) -> int | None:
        """Make a dead letter due now; its due time in ms, or None if it is not dead."""
        due = int(await self._run("redrive", self.layout.for_id(message_id), message_id))
        return due or None

    # -- delivery -------------------------------------------------------------------

    async def claim(self, keys: Keys, *, limit: int, claim_timeout_ms: int) -> ClaimBatch:
        reply = await self._run("claim", keys, limit, claim_timeout_ms)
        claims = [_claim(reply[i : i + _CLAIM_FIELDS]) for i in range(2, len(reply), _CLAIM_FIELDS)]
        next_due = int(reply[1])
        next_due_ms = None if next_due < 0 else next_due
        return ClaimBatch(claims, now_ms=int(reply[0]), next_due_ms=next_due_ms)

    async def ack(self, claims: Sequence[Claim]) -> int:
        """Remove delivered messages (one script call per partition); returns how many."""
        removed = 0
        for keys, group in self._by_partition(claims).items():
            args = [value for claim in group for value in (claim.id, claim.token)]
            removed += int(await self._run("ack", keys, *args))
        return removed

    async def retry(self, claim: Claim, *, delay_ms: int, error: str) -> int | None:
        """Back into the due index after `delay_ms`; the new due ms, None if the claim is stale."""
        keys = self.layout.for_id(claim.id)
        due = int(await self._run("retry", keys, claim.id, claim.token, delay_ms, error))
        return due or None

    async def dead_letter(self, claim: Claim, *, error: str) -> bool:
        """Park the message as a dead letter; False if the claim is stale."""
        keys = self.layout.for_id(claim.id)
        return bool(await self._run("dead_letter", keys, claim.id, claim.token, error))

    def _by_partition(self, claims: Sequence[Claim]) -> dict[Keys, list[Claim]]:
        groups: dict[Keys, list[Claim]] = {}
        for claim in claims:
            groups.setdefault(self.layout.for_id(claim.id), []).append(claim)
        return groups

    # -- housekeeping (fenced by the lease value) -------------------------------------

    async def recover_expired(self, keys: Keys, *, lease_value: str, limit: int) -> int:
        """Expired claims back to due; LeaseLost when `lease_value` no longer holds the lease."""
        return await self._fenced("recover", keys, lease_value, limit)

    async def purge_dead(
        self, keys: Keys, *, lease_value: str, retention_ms: int, limit: int
    ) -> int:
        return await self._fenced("purge_dead", keys, lease_value, retention_ms, limit)

    async def stats(self) -> Stats:
        totals = [0, 0, 0, 0, 0]
        for keys in self.layout.partitions():
            for i, value in enumerate(await self._run("stats", keys)):
                totals[i] += int(value)
        return Stats(*totals)

    async def memory(self) -> tuple[int, int]:
        """(used_memory, maxmemory) in bytes, as Redis reports them (0: no limit)."""
        info = await self.redis.info("memory")
        return int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))

    async def migrate_legacy(self, *, limit: int = 500) -> tuple[int, int]:
        """Move up to `limit` messages of the first layout; (moved, left)."""
        legacy = LegacyKeys(self.layout.prefix).script_keys()
        moved, left = await self._run(
            "migrate", self.layout.home, limit, "L0", INLINE_BODY_BYTES, extra=legacy
        )
        return int(moved), int(left)

    # -- the lease ------------------------------------------------------------------

    async def lease_acquire(self, *, owner: str, ttl_ms: int) -> int:
        """Take or renew the lease; returns the fencing token, 0 when someone else holds it."""
        return int(await self._run("lease_acquire", self.layout.home, owner, ttl_ms))

    async def lease_release(self, *, lease_value: str) -> bool:
        return bool(await self._run("lease_release", self.layout.home, lease_value))


@cache
def script_source(name: str) -> str:
    """A script's source: its flags line, the generated prelude, the library, the script.

    Flags (Redis 7 shebang) let the scripts that free or barely grow memory (claim,
    settle, cancel, housekeeping) run when Redis is at maxmemory, so a full store can
    still deliver and drain; only scheduling new messages is refused. Listing scripts
    are `no-writes`, so they answer too.
    """
    folder = resources.files(__package__).joinpath("scripts")
    library = folder.joinpath("_lib.lua").read_text()
    body = folder.joinpath(f"{name}.lua").read_text()
    flags = ""
    if body.startswith("#!lua"):
        flags, _, body = body.partition("\n")
    return "\n".join(part for part in (flags, _prelude(), library, body) if part)


def _prelude() -> str:
    keys = ", ".join(name.upper() for name in SCRIPT_KEYS)
    slots = ", ".join(f"KEYS[{i}]" for i in range(1, len(SCRIPT_KEYS) + 1))
    fields = ", ".join(f"F_{name.upper()}" for name in META_FIELDS)
    positions = ", ".join(str(i) for i in range(1, len(META_FIELDS) + 1))
    return (
        f"local {keys} = {slots}\n"
        f"local {fields} = {positions}\n"
        f"local META_FIELDS = {len(META_FIELDS)}\n"
    )


def _new(message: NewMessage, max_messages: int, max_bytes: int) -> list[Any]:
    meta, body, size = message.stored()
    return [message.id, meta, body, size, message.due_ms, max_messages, max_bytes]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _claim(row: Sequence[Any]) -> Claim:
    meta = Meta.decode(row[2])
    headers, payload = split_body(meta.body or bytes(row[3]))
    return Claim(
        id=_text(row[0]),
        due_ms=int(float(row[1])),
        meta=meta,
        payload=payload,
        headers=headers,
    )
