"""Connecting to Redis: one client for plain Redis, Sentinel or Cluster, built from Settings.

Kept apart from the store, which holds only operations: how the service reaches Redis
(pools, timeouts, Sentinel, Cluster, TLS, a uvloop quirk) changes for other reasons than
what it asks Redis to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff, ExponentialWithJitterBackoff

from .cluster_client import ScriptedCluster
from .config import Settings

# Redis calls are short (no connection is held across a webhook request), so a bounded
# pool serves any number of deliveries and API requests. Both pools below block: a
# caller waits up to REDIS_TIMEOUT_SECONDS for a free connection, then gets a
# ConnectionError (answered 503), instead of failing at once when all are busy.
MAX_CONNECTIONS = 128
# Attempts after the first one on a Cluster, each after a fresh look at the slot map.
CLUSTER_RETRIES = 3


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The master's address from Sentinel, with the blocking pool's wait for a connection."""


def connect(settings: Settings) -> Redis:
    """A client whose calls fail within a few seconds when Redis is away, never hang.

    With REDIS_CLUSTER_NODES it is a RedisCluster: not a subclass of Redis, but it offers
    every command, script and pipeline call the store makes, with the same signatures.
    """
    if settings.redis_cluster_nodes:
        return _cluster(settings)  # type: ignore[return-value]
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
        blocking = BlockingConnectionPool.from_url(
            settings.redis_dsn(), **options, **tls_options(settings)
        )
        client = Redis.from_pool(blocking)  # owns the pool: aclose() closes its connections
    pool = client.connection_pool
    pool.connection_class = _reset_safe(pool.connection_class)
    return client


def tls_options(settings: Settings) -> dict[str, Any]:
    """redis-py's TLS arguments: none without TLS (a plain connection refuses them)."""
    if not settings.tls_enabled:
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": "required"}
    if settings.redis_tls_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.redis_tls_ca_file)
    return options


def _through_sentinels(settings: Settings, options: dict[str, Any]) -> Redis:
    """The current master as the Sentinels name it; after a failover, the new one."""
    tls = tls_options(settings)
    # Sentinels speak TLS when the data nodes do (tls-port on both, as Redis documents it).
    sentinel_tls = {"ssl": True, **tls} if tls else {}
    # (Sentinel is typed from redis-py 8 on; older releases leave it untyped.)
    sentinels = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
        settings.sentinel_addresses(),
        sentinel_kwargs={"socket_timeout": settings.redis_timeout_seconds, **sentinel_tls},
    )
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    master: Redis = sentinels.master_for(
        settings.redis_sentinel_master,
        connection_pool_class=BlockingSentinelPool,
        username=settings.redis_username,
        password=password,
        db=settings.redis_db,
        **options,
        **sentinel_tls,
    )
    return master


def _cluster(settings: Settings) -> ScriptedCluster:
    """A Cluster client: finds the slots' primaries from the seeds, follows MOVED and ASK.

    Redirections (MOVED, ASK, TRYAGAIN) are followed inside redis-py and cost no
    attempt. A connection error, a timeout or CLUSTERDOWN (a failover under way)
    refreshes the slot map from the seeds and tries again, up to CLUSTER_RETRIES more
    times, then the caller gets the error (503), as plain Redis does after its one retry.
    A script retried after a timeout may have run already: settling is fenced by the
    claim token and housekeeping by the lease, so neither applies twice; a create finds
    its own message by its incarnation (schedule.lua); a claim's messages wait for their
    claim to expire, then go out (late, once).
    """
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    tls = tls_options(settings)
    client = ScriptedCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in settings.cluster_addresses()],
        # The seeds stay the seeds (a managed configuration endpoint, a headless Service):
        # node addresses learnt from the cluster change when pods or nodes are replaced.
        dynamic_startup_nodes=False,
        username=settings.redis_username,
        password=password,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=min(settings.redis_timeout_seconds, 1.0),
        socket_keepalive=True,
        health_check_interval=15,
        max_connections=MAX_CONNECTIONS,  # per node
        retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), retries=CLUSTER_RETRIES),
        # A MOVED answer moves that slot in the map, never more. By default every fifth
        # MOVED makes redis-py rebuild its map by closing every connection, in use or not:
        # the commands other tasks had in flight lose their answers, and are sent again
        # though they ran. A slot migration's MOVED storm did that several times a second
        # (claims stranded until their timeout, creates run twice). A failover still
        # rebuilds the map: a lost node, a timeout or CLUSTERDOWN do.
        reinitialize_steps=0,
        ssl=bool(tls),
        **tls,
    )
    safe = _reset_safe(client.connection_kwargs["connection_class"])
    client.connection_kwargs["connection_class"] = safe  # nodes discovered from now on
    for node in client.startup_nodes:
        node.connection_class = safe
    return client


async def disconnect(client: Redis) -> None:
    """Close the client's connections, and with Sentinel the connections to the sentinels."""
    await client.aclose()
    pool = getattr(client, "connection_pool", None)  # a RedisCluster has one per node
    if isinstance(pool, SentinelConnectionPool):
        for sentinel in pool.sentinel_manager.sentinels:
            await sentinel.aclose()


class _ResetSafe:
    """Writing to a connection that is gone raises what redis-py does not expect; as an
    OSError it becomes a ConnectionError, so the client reconnects and callers see a
    Redis error (503), not a bug (500). Two ways it happens:

    - under uvloop, writing to a connection the peer has reset raises RuntimeError
      ("the handler is closed");
    - the Cluster client closes every node's connections when it meets CLUSTERDOWN (a
      failover under way), also those another request is about to write to, whose
      writer is then None (AttributeError).
    """

    async def _send_packed_command(self, command: Iterable[bytes]) -> None:
        try:
            await super()._send_packed_command(command)  # type: ignore[misc]
        except RuntimeError as error:
            raise ConnectionResetError(str(error)) from error
        except AttributeError as error:
            if getattr(self, "_writer", ...) is not None:
                raise  # not a closed connection: a bug to see
            raise ConnectionResetError("the connection was closed while in use") from error


class _HiredisPacked:
    """Commands packed by hiredis, in C, as redis-py's synchronous client packs them when
    hiredis is installed; its asyncio client packs them in Python: 7 us for a script
    call with a dozen arguments, against 2 us. A merged page pipelines a script call per
    partition: at 16 partitions, 130 us of packing a page instead of 35. The bytes are
    the same (tests/unit/test_redis_packing.py). Commands hiredis would pack slowly or
    differently take redis-py's packer: one with a value longer than redis-py's buffer
    cutoff (hiredis took 0.9 ms to pack a MiB, redis-py 5 us: it sends large values
    apart, uncopied), a command name of several words ('CONFIG GET', which redis-py
    splits), and arguments hiredis refuses (a bool, None: redis-py refuses them too,
    with its own error)."""

    _buffer_cutoff: int

    def pack_command(self, *args: Any) -> list[bytes]:
        packed = _hiredis_packed(args, self._buffer_cutoff)
        return [packed] if packed is not None else super().pack_command(*args)  # type: ignore[misc]

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        listed = [tuple(command) for command in commands]
        packed = [_hiredis_packed(command, self._buffer_cutoff) for command in listed]
        if None in packed:
            return super().pack_commands(listed)  # type: ignore[misc, no-any-return]
        return [b"".join(packed)]  # type: ignore[arg-type]


def _hiredis_packed(args: tuple[Any, ...], cutoff: int) -> bytes | None:
    for arg in args:
        kind = type(arg)
        if kind is str:
            if len(arg) > cutoff // 4:  # up to 4 bytes a character once encoded
                return None
        elif (kind is bytes or kind is memoryview) and len(arg) > cutoff:
            return None
    name = args[0]
    if " " in name if isinstance(name, str) else b" " in name:
        return None
    try:
        return hiredis.pack_command(args)  # type: ignore[no-any-return]
    except TypeError:
        return None


def _reset_safe(connection_class: type[Any]) -> type[Any]:
    """The pool's connection class (plain, TLS or Unix socket) with _ResetSafe and
    _HiredisPacked mixed in."""
    bases = (_ResetSafe, _HiredisPacked, connection_class)
    return type(f"ResetSafe{connection_class.__name__}", bases, {})
