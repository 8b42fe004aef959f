"""What a Redis error means for the service: which condition, what to tell the caller.

Redis answers some requests with an error that says the store cannot take them *now*
(out of memory, a read-only replica, a failing disk, a long script, a restart still
loading its data, a cluster reshaping itself). Each is a condition with a code the API
answers with (503 and Retry-After), that readiness reports, and that is logged once
per burst instead of once per request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis.exceptions import (
    BusyLoadingError,
    ClusterError,
    MasterDownError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("service.store")


@dataclass(frozen=True, slots=True)
class Condition:
    """A reason the store cannot serve now; `health` is what /health says of Redis."""

    code: str
    health: str
    advice: str


UNREACHABLE = Condition(
    "redis_unavailable", "disconnected", "The schedule store (Redis) is unreachable; retry shortly."
)
LOADING = Condition(
    "redis_loading",
    "loading",
    "The schedule store (Redis) is loading its data after a restart; retry shortly.",
)
OUT_OF_MEMORY = Condition(
    "redis_out_of_memory",
    "out_of_memory",
    "The schedule store (Redis) is full (maxmemory reached); nothing was stored. Retry once "
    "deliveries have drained it, or raise its memory.",
)
READ_ONLY = Condition(
    "redis_read_only",
    "read_only",
    "The schedule store (Redis) is a read-only replica; nothing was stored. Retry shortly.",
)
DISK_ERROR = Condition(
    "redis_disk_error",
    "disk_error",
    "The schedule store (Redis) refuses writes because it cannot write its disk; "
    "nothing was stored.",
)
BUSY = Condition(
    "redis_busy", "busy", "The schedule store (Redis) is busy running a long script; retry shortly."
)
SCRIPTS_MISSING = Condition(
    "redis_script_cache",
    "script_cache",
    "The schedule store (Redis) lost its script cache; retry shortly.",
)
CLUSTER_DOWN = Condition(
    "redis_cluster_down",
    "cluster_down",
    "The schedule store (Redis Cluster) is failing over or resharding; retry shortly.",
)
MASTER_DOWN = Condition(
    "redis_master_down",
    "master_down",
    "The schedule store (Redis) has lost its link to the master; retry shortly.",
)
NO_REPLICAS = Condition(
    "redis_no_replicas",
    "no_replicas",
    "The schedule store (Redis) has too few replicas to accept writes; retry shortly.",
)

# Error replies by their first word, for those redis-py has no class of its own.
_BY_PREFIX = {
    "OOM": OUT_OF_MEMORY,
    "READONLY": READ_ONLY,
    "MISCONF": DISK_ERROR,
    "BUSY": BUSY,
    "NOSCRIPT": SCRIPTS_MISSING,
    "LOADING": LOADING,
    "MASTERDOWN": MASTER_DOWN,
    "CLUSTERDOWN": CLUSTER_DOWN,
    "TRYAGAIN": CLUSTER_DOWN,
    "NOREPLICAS": NO_REPLICAS,
}


# What redis-py raises, drawn as a tree (its classes; what each means here):
#
#   RedisError
#   +-- ConnectionError ............ unreachable (MaxConnectionsError: every pooled
#   |   |                            connection to a node busy for REDIS_TIMEOUT_SECONDS)
#   |   +-- BusyLoadingError ....... loading
#   +-- TimeoutError ............... unreachable
#   +-- ClusterError ............... a Cluster redirected one call more than 16 times
#   |   |                            (TRYAGAIN, ASK during a slot migration): cluster_down
#   |   +-- ClusterDownError ....... CLUSTERDOWN: a failover under way; cluster_down
#   |       +-- MasterDownError .... master_down
#   +-- ResponseError .............. by its first word (_BY_PREFIX); TryAgainError,
#                                    OutOfMemoryError, ReadOnlyError, NoScriptError too
#   RedisClusterException (not a RedisError): the Cluster client's own errors; see
#   _CLUSTER_CLIENT below, every other one (CROSSSLOT in a transaction, a command with
#   no key) is a bug.
#
# Most specific first (BusyLoadingError is a ConnectionError; MasterDownError is a
# ClusterDownError, itself a ClusterError).
_BY_CLASS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Condition], ...] = (
    (BusyLoadingError, LOADING),
    ((RedisConnectionError, RedisTimeoutError, OSError), UNREACHABLE),
    (OutOfMemoryError, OUT_OF_MEMORY),
    (ReadOnlyError, READ_ONLY),
    (NoScriptError, SCRIPTS_MISSING),
    (MasterDownError, MASTER_DOWN),
    ((ClusterError, TryAgainError, SlotNotCoveredError), CLUSTER_DOWN),
)

# The Cluster client's messages when it cannot build a slot map (redis-py raises a bare
# RedisClusterException for these), by how they begin.
_CLUSTER_CLIENT = {
    "Redis Cluster cannot be connected": UNREACHABLE,
    "All slots are not covered": CLUSTER_DOWN,
    "startup_nodes could not agree": CLUSTER_DOWN,
    "Cluster mode is not enabled": UNREACHABLE,
}

# Every error a Redis call may raise: what the API maps to 503 (or, unclassified, 500).
STORE_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)
# What a loop talking to Redis outlives and retries: those, and a socket's own errors.
# Redis not reachable at all (no node answering, on a Cluster too): what a start waits out.
REDIS_AWAY_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    RedisClusterException,
    OSError,
)
STORE_OR_OS_ERRORS: tuple[type[Exception], ...] = (*STORE_ERRORS, OSError)


# A script on a node whose slot is migrating touched a key it had not declared (a label
# index) that has moved or is new: the node refuses it, as it answers ASK outside a script.
_SLOT_MOVING_IN_SCRIPT = "Script attempted to access a non local key"


def classify(error: BaseException) -> Condition | None:
    """The condition behind a Redis error; None for one that means a bug (e.g. a script error)."""
    for kinds, condition in _BY_CLASS:
        if isinstance(error, kinds):
            return condition
    if isinstance(error, ResponseError):
        if str(error).removeprefix("ERR ").startswith(_SLOT_MOVING_IN_SCRIPT):
            return CLUSTER_DOWN
        return _BY_PREFIX.get(str(error).split(" ", 1)[0].upper())
    if isinstance(error, RedisError):
        return UNREACHABLE
    if isinstance(error, RedisClusterException):
        return _cluster_client(str(error))
    return None


def _cluster_client(message: str) -> Condition | None:
    for start, condition in _CLUSTER_CLIENT.items():
        if message.startswith(start):
            return condition
    return None


class BurstLog:
    """Logs a condition when it starts, then at most once per `quiet` seconds with a count."""

    def __init__(self, quiet: float = 30.0) -> None:
        self.quiet = quiet
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def note(self, condition: Condition, error: BaseException) -> None:
        now = time.monotonic()
        code = condition.code
        if now - self._last.get(code, -self.quiet) < self.quiet:
            self._suppressed[code] = self._suppressed.get(code, 0) + 1
            return
        more = self._suppressed.pop(code, 0)
        self._last[code] = now
        log.warning(
            "redis cannot serve requests: %s",
            code,
            extra={"reason": _first_line(error), "repeats_since_last_log": more},
        )


def _first_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]


store_log = BurstLog()
