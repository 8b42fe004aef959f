"""Redis key names: every key the service uses is built here, under one hash tag."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under `{prefix}`; the braces make every key hash to one Cluster slot."""

    prefix: str = "scheduler"

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    @property
    def messages(self) -> str:
        """Hash: message id to its record (scripts/_record.lua describes the format)."""
        return f"{self.tag}:messages"

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
