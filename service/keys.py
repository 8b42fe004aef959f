"""Redis key names: every key the service uses is built here.

A partition's keys share one hash tag, `{prefix:N}`, so every script touching them
runs inside one Redis Cluster slot. Every script receives the same keys in the same
order (`SCRIPT_KEYS`); the store prepends a prelude that names them in Lua.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

# The one order in which every script gets its keys (KEYS[1], KEYS[2], ...).
SCRIPT_KEYS = ("msgs", "bodies", "due", "inflight", "dead", "lease", "fence", "seq", "bytes")


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names of one partition under `{prefix:partition}`."""

    prefix: str = "scheduler"
    partition: int = 0

    @property
    def tag(self) -> str:
        return "{" + f"{self.prefix}:{self.partition}" + "}"

    @property
    def msgs(self) -> str:
        """Hash: message id to its metadata record (records.py describes it)."""
        return f"{self.tag}:msgs"

    @property
    def bodies(self) -> str:
        """Hash: message id to its body (header values, then the payload).

        Kept apart from the metadata so that listing, settling and recovery never copy
        a payload inside Redis: only the claim and GET /messages/{id} read it.
        """
        return f"{self.tag}:bodies"

    @property
    def due(self) -> str:
        """Sorted set: pending message ids scored by due time (ms since the epoch)."""
        return f"{self.tag}:due"

    @property
    def inflight(self) -> str:
        """Sorted set: claimed message ids scored by claim expiry (ms)."""
        return f"{self.tag}:inflight"

    @property
    def dead(self) -> str:
        """Sorted set: dead-lettered message ids scored by the time they died (ms)."""
        return f"{self.tag}:dead"

    @property
    def lease(self) -> str:
        """String `owner:fence` held by the replica that runs housekeeping."""
        return f"{self.tag}:lease"

    @property
    def fence(self) -> str:
        """Counter bumped at every new lease holder: the fencing token."""
        return f"{self.tag}:fence"

    @property
    def seq(self) -> str:
        """Counter bumped at every claim: claim tokens are unique."""
        return f"{self.tag}:seq"

    @property
    def bytes(self) -> str:
        """Counter: bytes of all stored bodies, for MAX_PENDING_BYTES."""
        return f"{self.tag}:bytes"

    @property
    def probe(self) -> str:
        """String written by readiness checks: proves Redis accepts writes."""
        return f"{self.tag}:probe"

    def script_keys(self) -> list[str]:
        """The partition's keys in SCRIPT_KEYS order (built once: every script call needs them)."""
        return list(_script_keys(self))


@functools.cache
def _script_keys(keys: Keys) -> tuple[str, ...]:
    return tuple(getattr(keys, name) for name in SCRIPT_KEYS)


@dataclass(frozen=True, slots=True)
class LegacyKeys:
    """Keys of the first storage layout (one `{prefix}` tag, payload inside the record)."""

    prefix: str = "scheduler"

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    def script_keys(self) -> list[str]:
        """messages, due, inflight, dead: the order migrate.lua names them in."""
        return [f"{self.tag}:{name}" for name in ("messages", "due", "inflight", "dead")]


class Layout:
    """Which partition holds which message: `crc32(id) mod count`, stable across restarts."""

    def __init__(self, prefix: str = "scheduler", count: int = 1) -> None:
        self.prefix = prefix
        self.count = count
        self._partitions = [Keys(prefix, n) for n in range(count)]

    def partitions(self) -> list[Keys]:
        return list(self._partitions)

    def for_id(self, message_id: str) -> Keys:
        if self.count == 1:
            return self._partitions[0]
        return self._partitions[zlib.crc32(message_id.encode()) % self.count]

    @property
    def home(self) -> Keys:
        """The partition holding the lease and other keys that exist once."""
        return self._partitions[0]
