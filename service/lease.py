"""The housekeeping lease: at most one replica at a time believes it holds it.

`LeaseState` is the state machine (what a bid's answer means, how long to trust it,
when to ask again), free of I/O so it is tested on its own; `Lease` runs it against
the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

from .cancellation import reraise_if_cancelling
from .metrics import Metrics
from .store import Store
from .store_errors import STORE_OR_OS_ERRORS

log = logging.getLogger("service.lease")

# The holder trusts its lease for this share of the TTL from the moment it asked, so it
# stops housekeeping before Redis lets the key expire and another replica takes over.
TRUST_SHARE = 0.8
# Replicas without the lease ask this often, so a released lease is taken at once.
CONTEND_INTERVAL_SECONDS = 0.2


class Change(StrEnum):
    """What a bid's answer changed."""

    TAKEN = "taken"
    KEPT = "kept"
    LOST = "lost"
    NONE = "none"


@dataclass(slots=True)
class LeaseState:
    """The fence this replica holds (0: none) and until when it trusts it (monotonic)."""

    ttl: float
    fence: int = 0
    trusted_until: float = 0.0

    def held(self, now: float) -> bool:
        return self.fence > 0 and now < self.trusted_until

    def answered(self, fence: int, *, asked: float) -> Change:
        """Redis answered a bid made at `asked` with `fence` (0: someone else holds it)."""
        before = self.fence
        self.fence = fence
        self.trusted_until = asked + self.ttl * TRUST_SHARE if fence else 0.0
        if fence and fence != before:
            return Change.TAKEN
        if fence:
            return Change.KEPT
        return Change.LOST if before else Change.NONE

    def forfeit(self) -> int:
        """Stop believing in the lease at once; the fence that was held (0: none)."""
        fence, self.fence, self.trusted_until = self.fence, 0, 0.0
        return fence

    def next_pause(self, now: float) -> float:
        """Renew every third of the TTL while held (before trust runs out); contend often."""
        if self.held(now):
            return max(min(self.ttl / 3, self.trusted_until - now), 0.01)
        return CONTEND_INTERVAL_SECONDS


class Lease:
    """Takes, renews and releases the lease; `held` is False as soon as trust runs out."""

    def __init__(self, store: Store, *, ttl: float, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics
        self.owner = uuid.uuid4().hex
        self.state = LeaseState(ttl)
        self._running = True

    @property
    def held(self) -> bool:
        return self.state.held(time.monotonic())

    @property
    def fence(self) -> int:
        return self.state.fence

    @property
    def value(self) -> str:
        """What the lease key holds while this replica has it: fenced scripts compare it."""
        return f"{self.owner}:{self.state.fence}"

    async def run(self) -> None:
        while self._running:
            reraise_if_cancelling()
            await self._bid()
            self.metrics.leader.set(1 if self.held else 0)
            await asyncio.sleep(self.state.next_pause(time.monotonic()))

    async def _bid(self) -> None:
        asked = time.monotonic()
        try:
            ttl_ms = int(self.state.ttl * 1000)
            fence = await self.store.lease_acquire(owner=self.owner, ttl_ms=ttl_ms)
        except Exception as error:  # the loop must outlive any failure; Redis ones expected
            reraise_if_cancelling()
            if self.held:
                log.warning("lease renewal failed, trusting it a little longer: %r", error)
            return
        if not self._running:
            # release() ran while this bid was in flight: give back what it may have won.
            if fence:
                await self._give_back(f"{self.owner}:{fence}")
            return
        change = self.state.answered(fence, asked=asked)
        if change is Change.TAKEN:
            log.info("took the housekeeping lease", extra={"fence": fence})
        elif change is Change.LOST:
            log.warning("lost the housekeeping lease")

    def forfeit(self) -> None:
        """A fenced write was refused: another replica holds the lease now."""
        if self.state.forfeit():
            self.metrics.leader.set(0)
            log.warning("lost the housekeeping lease: a fenced write was refused")

    async def release(self) -> None:
        """Stop contending and give the lease up so another replica takes it at once."""
        self._running = False
        if self.state.fence == 0:
            return
        value = self.value
        self.state.forfeit()
        self.metrics.leader.set(0)
        await self._give_back(value)

    async def _give_back(self, value: str) -> None:
        try:
            if await self.store.lease_release(lease_value=value):
                log.info("released the housekeeping lease")
        except STORE_OR_OS_ERRORS as error:
            log.warning("could not release the lease; it expires by itself: %s", error)
