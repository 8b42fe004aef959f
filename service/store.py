"""The store: the one way the service reaches Redis, through named Lua scripts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript

from .config import Settings
from .keys import Keys
from .records import (
    Claim,
    ClaimBatch,
    MessageRecord,
    NewMessage,
    Page,
    Stats,
    Summary,
    base36,
    decode_record,
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
)

_CLAIM_FIELDS = 7


# Redis calls are short (no connection is held across a webhook request), so a bounded
# pool serves any number of deliveries and API requests; callers wait for a free
# connection instead of failing when all are busy.
MAX_CONNECTIONS = 128


def connect(settings: Settings) -> Redis:
    """A client whose calls fail within a few seconds when Redis is away, never hang."""
    options: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_seconds,
        "socket_connect_timeout": min(settings.redis_timeout_seconds, 1.0),
        "socket_keepalive": True,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
    }
    if settings.redis_sentinels:
        client = _through_sentinels(settings, options)
    else:
        blocking = BlockingConnectionPool.from_url(
            settings.redis_dsn(),
            max_connections=MAX_CONNECTIONS,
            timeout=settings.redis_timeout_seconds,
            **options,
        )
        client = Redis(connection_pool=blocking)
    pool = client.connection_pool
    pool.connection_class = _reset_safe(pool.connection_class)
    return client


def _through_sentinels(settings: Settings, options: dict[str, Any]) -> Redis:
    """The current master as the Sentinels name it; after a failover, the new one."""
    sentinels = Sentinel(  # type: ignore[no-untyped-call]
        settings.sentinel_addresses(),
        sentinel_kwargs={"socket_timeout": settings.redis_timeout_seconds},
    )
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    master: Redis = sentinels.master_for(
        settings.redis_sentinel_master,
        password=password,
        db=settings.redis_db,
        max_connections=MAX_CONNECTIONS,
        **options,
    )
    return master


class _ResetSafe:
    """Under uvloop, writing to a connection the peer has reset raises RuntimeError
    ("the handler is closed") where redis-py expects OSError; as an OSError it becomes
    a ConnectionError, so the client reconnects and callers see a Redis error."""

    async def _send_packed_command(self, command: Iterable[bytes]) -> None:
        try:
            await super()._send_packed_command(command)  # type: ignore[misc]
        except RuntimeError as error:
            raise ConnectionResetError(str(error)) from error


def _reset_safe(connection_class: type[Any]) -> type[Any]:
    """The pool's connection class (plain, TLS or Unix socket) with _ResetSafe mixed in."""
    return type(f"ResetSafe{connection_class.__name__}", (_ResetSafe, connection_class), {})


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


class Store:
    """Typed operations on the schedule; each multi-key step is one atomic script."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(_read_script(name)) for name in SCRIPT_NAMES
        }

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self._scripts[name](keys=list(keys), args=list(args))

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def schedule(self, message: NewMessage) -> int:
        """Store a message: 0 if its id exists, 1 if stored."""
        return int(await self._run("schedule", self._schedule_keys, _args(message)))

    async def schedule_many(self, messages: Iterable[NewMessage]) -> list[int]:
        """Store many messages in one pipeline (bulk loads and benchmarks)."""
        script = self._scripts["schedule"]
        async with self.redis.pipeline(transaction=False) as pipe:
            for message in messages:
                await script(keys=self._schedule_keys, args=_args(message), client=pipe)
            return [int(result) for result in await pipe.execute()]

    @property
    def _schedule_keys(self) -> list[str]:
        return [self.keys.messages, self.keys.due]

    async def get(self, message_id: str) -> MessageRecord | None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self.keys.messages, message_id)
            pipe.zscore(self.keys.due, message_id)
            raw, next_run = await pipe.execute()
        return None if raw is None else decode_record(message_id, raw, next_run)

    async def page(self, *, dead: bool, limit: int, after: tuple[int, str] | None) -> Page:
        """One page of pending (or dead) messages in time order, after the cursor entry."""
        score, cursor_id = after if after else ("", "")
        index = self.keys.dead if dead else self.keys.due
        reply = await self._run("page", [index, self.keys.messages], [limit, score, cursor_id])
        rows = [
            Summary(
                id=_text(reply[i]) or "",
                score_ms=int(float(reply[i + 1])),
                url=_text(reply[i + 2]) or "",
                attempts=int(reply[i + 3]),
                last_error=_text(reply[i + 4]) or None,
            )
            for i in range(1, len(reply), 5)
        ]
        return Page(rows=rows, total=int(reply[0]))

    async def cancel(self, message_id: str, *, dead_only: bool = False) -> bool:
        keys = [self.keys.messages, self.keys.due, self.keys.inflight, self.keys.dead]
        return bool(await self._run("cancel", keys, [message_id, "1" if dead_only else "0"]))

    async def redrive(self, message_id: str) -> int:
        """Make a dead letter due now; returns its due time in ms, 0 if it is not dead."""
        keys = [self.keys.messages, self.keys.dead, self.keys.due]
        return int(await self._run("redrive", keys, [message_id]))

    async def claim(self, *, limit: int, claim_timeout_ms: int) -> ClaimBatch:
        keys = [self.keys.messages, self.keys.due, self.keys.inflight]
        reply = await self._run("claim", keys, [limit, claim_timeout_ms])
        claims = [_claim(reply[i : i + _CLAIM_FIELDS]) for i in range(2, len(reply), _CLAIM_FIELDS)]
        next_due = int(reply[1])
        next_due_ms = None if next_due < 0 else next_due
        return ClaimBatch(claims, now_ms=int(reply[0]), next_due_ms=next_due_ms)

    async def ack(self, claims: Sequence[Claim]) -> int:
        """Remove delivered messages (one script call for the batch); returns how many."""
        args: list[Any] = []
        for claim in claims:
            args += [claim.id, base36(claim.created_ms)]
        return int(await self._run("ack", [self.keys.messages, self.keys.inflight], args))

    async def retry(self, claim: Claim, *, delay_ms: int, error: str) -> int:
        """Back into the due index after `delay_ms`; returns the new due ms, 0 if stale."""
        keys = [self.keys.messages, self.keys.due, self.keys.inflight]
        args = [claim.id, base36(claim.created_ms), claim.attempt, delay_ms, error]
        return int(await self._run("retry", keys, args))

    async def dead_letter(self, claim: Claim, *, error: str) -> bool:
        keys = [self.keys.messages, self.keys.inflight, self.keys.dead]
        args = [claim.id, base36(claim.created_ms), claim.attempt, error]
        return bool(await self._run("dead_letter", keys, args))

    async def recover_expired(self, *, lease_value: str, limit: int) -> int:
        """Expired claims back to due; -1 when `lease_value` no longer holds the lease."""
        keys = [self.keys.inflight, self.keys.due, self.keys.lease, self.keys.messages]
        return int(await self._run("recover", keys, [lease_value, limit]))

    async def purge_dead(self, *, lease_value: str, retention_ms: int, limit: int) -> int:
        keys = [self.keys.dead, self.keys.lease, self.keys.messages]
        return int(await self._run("purge_dead", keys, [lease_value, retention_ms, limit]))

    async def stats(self) -> Stats:
        reply = await self._run("stats", [self.keys.due, self.keys.inflight, self.keys.dead], [])
        return Stats(pending=int(reply[0]), in_flight=int(reply[1]), dead=int(reply[2]))

    async def lease_acquire(self, *, owner: str, ttl_ms: int) -> int:
        """Take or renew the lease; returns the fencing token, 0 when someone else holds it."""
        keys = [self.keys.lease, self.keys.fence]
        return int(await self._run("lease_acquire", keys, [owner, ttl_ms]))

    async def lease_release(self, *, lease_value: str) -> bool:
        return bool(await self._run("lease_release", [self.keys.lease], [lease_value]))


def _read_script(name: str) -> str:
    """A script's source, with `-- @include NAME` replaced by scripts/_NAME.lua."""
    folder = resources.files(__package__).joinpath("scripts")
    lines = folder.joinpath(f"{name}.lua").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("-- @include "):
            included = line.removeprefix("-- @include ").strip()
            lines[i] = folder.joinpath(f"_{included}.lua").read_text()
    return "\n".join(lines) + "\n"


def _args(message: NewMessage) -> list[Any]:
    return [message.id, message.record(), message.due_ms]


def _claim(row: Sequence[Any]) -> Claim:
    return Claim(
        id=_text(row[0]) or "",
        due_ms=int(float(row[1])),
        payload=bytes(row[2]),
        url=_text(row[3]) or "",
        attempt=int(row[4]),
        created_ms=int(row[5], 36),
        trace=_text(row[6]) or "",
    )
