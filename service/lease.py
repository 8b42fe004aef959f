"""The housekeeping lease: at most one replica at a time believes it holds it."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from redis.exceptions import RedisError

from .cancellation import reraise_if_cancelling
from .metrics import Metrics
from .store import Store

log = logging.getLogger("service.lease")

# The holder trusts its lease for this share of the TTL from the moment it asked, so it
# stops housekeeping before Redis lets the key expire and another replica takes over.
TRUST_SHARE = 0.8
# Replicas without the lease ask this often, so a released lease is taken at once.
CONTEND_INTERVAL_SECONDS = 0.2


class Lease:
    """Takes, renews and releases the lease; `held` is False as soon as trust runs out."""

    def __init__(self, store: Store, *, ttl: float, metrics: Metrics) -> None:
        self.store = store
        self.ttl = ttl
        self.metrics = metrics
        self.owner = uuid.uuid4().hex
        self.fence = 0
        self._trusted_until = 0.0
        self._running = True

    @property
    def held(self) -> bool:
        return self.fence > 0 and time.monotonic() < self._trusted_until

    @property
    def value(self) -> str:
        """What the lease key holds while this replica has it: fenced scripts compare it."""
        return f"{self.owner}:{self.fence}"

    async def run(self) -> None:
        """Renew every third of the TTL while held; contend every 200 ms while not."""
        while self._running:
            reraise_if_cancelling()
            await self._attempt()
            self.metrics.leader.set(1 if self.held else 0)
            if self.held:
                pause = min(self.ttl / 3, self._trusted_until - time.monotonic())
            else:
                pause = CONTEND_INTERVAL_SECONDS
            await asyncio.sleep(max(pause, 0.01))

    async def _attempt(self) -> None:
        asked = time.monotonic()
        try:
            fence = await self.store.lease_acquire(owner=self.owner, ttl_ms=int(self.ttl * 1000))
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
        if fence and fence != self.fence:
            log.info("took the housekeeping lease", extra={"fence": fence})
        elif not fence and self.fence:
            log.warning("lost the housekeeping lease")
        self.fence = fence
        self._trusted_until = asked + self.ttl * TRUST_SHARE if fence else 0.0

    async def release(self) -> None:
        """Stop contending and give the lease up so another replica takes it at once."""
        self._running = False
        if self.fence == 0:
            return
        value, self.fence, self._trusted_until = self.value, 0, 0.0
        self.metrics.leader.set(0)
        await self._give_back(value)

    async def _give_back(self, value: str) -> None:
        try:
            if await self.store.lease_release(lease_value=value):
                log.info("released the housekeeping lease")
        except (RedisError, OSError) as error:
            log.warning("could not release the lease; it expires by itself: %s", error)
