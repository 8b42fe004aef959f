"""The partition count is part of the data: recorded at the first start, checked at every
one, and changed only by a repartition that every replica follows.

A message lives in partition `crc32(id) mod REDIS_PARTITIONS` (keys.Layout). Started with
another count, a replica would look for every message in the wrong partition: it would
report them missing and schedule duplicates beside them. So the first start records the
count in the home partition, and a start with a different one refuses, naming the
command that changes it (`scheduler-api repartition`, repartition.py).

While a repartition runs, every replica runs the moving layout (keys.MovingLayout): new
data where the new count puts it, existing data looked for in both places. Each replica
lists itself with the layout it runs (`LayoutWatcher`); the mover begins moving only once
every live replica runs the moving layout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .keys import Layout, layout_named
from .store import Store
from .store_errors import REDIS_AWAY_ERRORS, STORE_OR_OS_ERRORS

log = logging.getLogger("service.partitioning")

# While Redis is unreachable at start-up, the check is retried this often.
RETRY_SECONDS = 1.0
# Each replica reads the layout it should run this often; its report holds this long
# (a replica that died stops counting after it).
WATCH_SECONDS = 1.0
REPORT_TTL_MS = 10_000


class PartitionCountMismatch(RuntimeError):
    """REDIS_PARTITIONS differs from the count the data in Redis was written with."""

    def __init__(self, *, configured: int, recorded: int, prefix: str, target: int = 0) -> None:
        if target:
            text = (
                f"REDIS_PARTITIONS is {configured}, but the data under key prefix '{prefix}' "
                f"is being moved from {recorded} to {target} partitions: start with "
                f"REDIS_PARTITIONS={target}."
            )
        else:
            text = (
                f"REDIS_PARTITIONS is {configured}, but the data under key prefix '{prefix}' "
                f"was written with {recorded} partition(s). Start with "
                f"REDIS_PARTITIONS={recorded}, or move the data to {configured} partitions "
                f"first with `scheduler-api repartition --to {configured}` (it runs while "
                "the service runs), or use another REDIS_KEY_PREFIX for a new, empty schedule."
            )
        super().__init__(text)
        self.configured = configured
        self.recorded = recorded


async def report(store: Store, replica: str, step: str, value: str) -> tuple[int, int, str]:
    """(recorded count, target count or 0, layout listed or '') from replica_report.lua."""
    home = store.layout.home
    extra = [home.partition_count, home.repartition_target, home.replicas]
    reply = await store.scripts.run(
        "replica_report", home, replica, step, value, REPORT_TTL_MS, extra=extra
    )
    recorded, target, name = (item.decode() if isinstance(item, bytes) else item for item in reply)
    return int(recorded or 0), int(target or 0), name


async def join(store: Store, replica: str) -> Layout:
    """Record the count on an empty store, list this replica, and answer the layout it must
    run; PartitionCountMismatch when the configured count fits neither the recorded one
    nor a repartition in progress."""
    configured = store.layout.count
    await store.recorded_partitions()
    recorded, target, name = await report(store, replica, "start", str(configured))
    if not name:
        raise PartitionCountMismatch(
            configured=configured, recorded=recorded, target=target, prefix=store.layout.prefix
        )
    return layout_named(store.layout.prefix, name)


class LayoutWatcher:
    """Keeps this replica on the layout the data has, and lists it with that layout."""

    def __init__(
        self,
        store: Store,
        *,
        replica: str,
        prepare: Callable[[Layout], Awaitable[None]] | None = None,
        switched: Callable[[Layout], None] | None = None,
    ) -> None:
        self.store = store
        self.replica = replica
        self.configured = store.layout.count
        self._prepare = prepare  # before the switch (the lease copied to new partitions)
        self._switched = switched  # after it (the claim loop learns the partitions)
        self._running = True

    async def start(self) -> None:
        """join(), then run this replica on the layout it answered."""
        await self._switch(await join(self.store, self.replica))

    async def start_when_reachable(self) -> None:
        """start(), retried until Redis answers, then run(); PartitionCountMismatch ends
        the task, and so fails liveness."""
        while True:
            try:
                await self.start()
                break
            except REDIS_AWAY_ERRORS as error:
                log.warning("partition count not checked yet, Redis unreachable: %r", error)
                await asyncio.sleep(RETRY_SECONDS)
        await self.run()

    async def run(self) -> None:
        while self._running:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self.tick()
            except STORE_OR_OS_ERRORS as error:
                log.warning("layout not checked, Redis unreachable: %r", error)

    async def tick(self) -> None:
        """Report the layout this replica runs; switch if the data has another."""
        layout = self.store.layout
        recorded, target, _ = await report(self.store, self.replica, "tick", layout.name)
        if not recorded:
            return  # the record is gone (a flushed Redis): the next start records it again
        name = f"{recorded}>{target}" if target else str(recorded)
        if name != layout.name:
            await self._switch(layout_named(layout.prefix, name))
            await report(self.store, self.replica, "tick", name)
            if not target and recorded != self.configured:
                log.warning(
                    "the data now has %d partitions: set REDIS_PARTITIONS=%d before the next "
                    "start of this replica",
                    recorded,
                    recorded,
                )

    async def _switch(self, layout: Layout) -> None:
        if layout.name == self.store.layout.name:
            return
        log.info("partition layout %s -> %s", self.store.layout.name, layout.name)
        if self._prepare is not None:
            await self._prepare(layout)
        self.store.layout = layout
        if self._switched is not None:
            self._switched(layout)

    async def leave(self) -> None:
        """Unlist this replica as it stops (else its report expires by itself)."""
        self._running = False
        try:
            await report(self.store, self.replica, "leave", "")
        except STORE_OR_OS_ERRORS as error:
            log.debug("replica not unlisted: %r", error)
