"""Connecting to Redis: one client for plain Redis or Sentinel, built from Settings.

Kept apart from the store, which holds only operations: how the service reaches Redis
(pools, timeouts, Sentinel, a uvloop quirk) changes for other reasons than what it
asks Redis to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff

from .config import Settings

# Redis calls are short (no connection is held across a webhook request), so a bounded
# pool serves any number of deliveries and API requests. Both pools below block: a
# caller waits up to REDIS_TIMEOUT_SECONDS for a free connection, then gets a
# ConnectionError (answered 503), instead of failing at once when all are busy.
MAX_CONNECTIONS = 128


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The master's address from Sentinel, with the blocking pool's wait for a connection."""


def connect(settings: Settings) -> Redis:
    """A client whose calls fail within a few seconds when Redis is away, never hang."""
    options: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_seconds,
        "socket_connect_timeout": min(settings.redis_timeout_seconds, 1.0),
        "socket_keepalive": True,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        "max_connections": MAX_CONNECTIONS,
        "timeout": settings.redis_timeout_seconds,  # the wait for a free connection
    }
    if settings.redis_sentinels:
        client = _through_sentinels(settings, options)
    else:
        blocking = BlockingConnectionPool.from_url(settings.redis_dsn(), **options)
        client = Redis.from_pool(blocking)  # owns the pool: aclose() closes its connections
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
        connection_pool_class=BlockingSentinelPool,
        password=password,
        db=settings.redis_db,
        **options,
    )
    return master


async def disconnect(client: Redis) -> None:
    """Close the client's connections, and with Sentinel the connections to the sentinels."""
    await client.aclose()
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        for sentinel in pool.sentinel_manager.sentinels:
            await sentinel.aclose()


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
