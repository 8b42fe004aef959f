"""Periodic duties, run by the lease holder only, on a `schedule.Scheduler`.

Every job is safe to run twice, and every write it makes is fenced by the lease value,
so a holder that was paused past its lease cannot act after another replica took over.
A fenced write that is refused (LeaseLost) makes this replica drop the lease at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import schedule

from .cancellation import reraise_if_cancelling
from .config import Settings
from .firing import Sweep
from .lease import Lease
from .metrics import Metrics
from .store import LeaseLost, Store
from .store_errors import STORE_OR_OS_ERRORS

log = logging.getLogger("service.housekeeping")

Job = Callable[[str], Awaitable[None]]
TICK_SECONDS = 0.2
BATCH = 1000


class Housekeeper:
    """Runs due jobs while the lease is held; stops the moment it is not."""

    def __init__(
        self, *, store: Store, lease: Lease, metrics: Metrics, settings: Settings, sweep: Sweep
    ) -> None:
        self.store = store
        self.sweep = sweep
        self.lease = lease
        self.metrics = metrics
        self.retention_ms = int(settings.dead_letter_retention_seconds * 1000)
        self.history_ms = int(settings.history_retention_seconds * 1000)
        self.history_max = settings.history_max_messages
        self.scheduler = schedule.Scheduler()
        self._queue: list[Job] = []
        self._running = True
        self._every(1, self.materialize_fires)
        self._every(1, self.recover_expired_claims)
        self._every(5, self.refresh_stats)
        self._every(1, self.adopt_legacy_messages)
        self._every(60, self.purge_old_dead_letters)
        self._every(10, self.trim_history)

    @property
    def history_keep(self) -> int:
        """The count limit is per partition, so the whole store keeps about the limit (the
        count may change while running: a repartition)."""
        return self.history_max // self.store.layout.count

    def _every(self, seconds: int, job: Job) -> None:
        # `schedule` calls plain functions; it queues the coroutine job for the loop below.
        self.scheduler.every(seconds).seconds.do(self._queue.append, job)

    async def run(self) -> None:
        leading = False
        while self._running:
            reraise_if_cancelling()
            if self.lease.held:
                if not leading:
                    # A new holder does every duty at once instead of waiting a period.
                    self.scheduler.run_all()
                leading = True
                self.scheduler.run_pending()
                await self._run_queued()
            elif leading:
                leading = False
                self._queue.clear()
                self.metrics.cluster.stats = None
            await asyncio.sleep(TICK_SECONDS)

    def stop(self) -> None:
        self._running = False
        self._queue.clear()
        self.metrics.cluster.stats = None

    async def _run_queued(self) -> None:
        while self._queue and self.lease.held and self._running:
            job = self._queue.pop(0)
            try:
                await job(self.lease.value)
            except LeaseLost:
                self.lease.forfeit()
            except STORE_OR_OS_ERRORS as error:
                reraise_if_cancelling()
                log.warning("housekeeping job %s failed: %s", job.__name__, error)
            except Exception:  # a bug in one job must not stop the others
                reraise_if_cancelling()
                log.exception("housekeeping job %s failed", job.__name__)

    async def materialize_fires(self, lease_value: str) -> None:
        """The next fires of recurring schedules become messages, ahead of their time."""
        await self.sweep.run(lease_value)

    async def recover_expired_claims(self, lease_value: str) -> None:
        """Claims whose replica died or hung go back to the due index."""
        returned = await self.store.recover_expired_everywhere(lease_value=lease_value, limit=BATCH)
        if returned > 0:
            log.warning("returned %d expired claims to the schedule", returned)

    async def refresh_stats(self, lease_value: str) -> None:
        """Cluster-wide gauges: pending, in flight, dead letters, stored bytes, Redis memory."""
        stats = await self.store.stats()
        used, limit = await self.store.memory()
        if self.lease.held and self.lease.value == lease_value:
            self.metrics.cluster.stats = stats
            self.metrics.cluster.memory = (used, limit)

    async def purge_old_dead_letters(self, lease_value: str) -> None:
        """Dead letters older than DEAD_LETTER_RETENTION_SECONDS are deleted."""
        for keys in self.store.layout.partitions():
            purged = await self.store.purge_dead(
                keys, lease_value=lease_value, retention_ms=self.retention_ms, limit=BATCH
            )
            if purged > 0:
                log.info("purged %d old dead letters", purged)

    async def adopt_legacy_messages(self, _: str) -> None:
        """Messages of the first storage layout (from before an upgrade, or written by an
        old replica during a rolling one) move to the current layout, for up to half a
        second per run; a single cheap call once none are left."""
        if self.store.layout.count > 1:
            # They all move to partition 0: only right with one partition. A store that
            # held them starts with one (partitioning.py refuses any other count).
            return
        deadline = time.monotonic() + 0.5
        total, left = 0, 1
        while left and time.monotonic() < deadline:
            moved, left = await self.store.migrate_legacy(limit=BATCH)
            total += moved
            if not moved:
                break
        if total:
            log.info("moved %d messages from the first storage layout; %d left", total, left)

    async def trim_history(self, lease_value: str) -> None:
        """History older than HISTORY_RETENTION_SECONDS, or beyond HISTORY_MAX_MESSAGES
        (oldest first), is dropped, a batch at a time."""
        for keys in self.store.layout.partitions():
            dropped = BATCH
            while dropped == BATCH:
                dropped = await self.store.purge_history(
                    keys,
                    lease_value=lease_value,
                    retention_ms=self.history_ms,
                    keep=self.history_keep,
                    limit=BATCH,
                )
