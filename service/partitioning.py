"""The partition count is part of the data: recorded at the first start, checked at every one.

A message lives in partition `crc32(id) mod REDIS_PARTITIONS` (keys.Layout). Started with
another count, a replica would look for every message in the wrong partition: it would
report them missing and schedule duplicates beside them. So the first start records the
count in the home partition, and a start with a different one refuses.
"""

from __future__ import annotations

import asyncio
import logging

from .store import Store
from .store_errors import REDIS_AWAY_ERRORS

log = logging.getLogger("service.partitioning")

# While Redis is unreachable at start-up, the check is retried this often.
RETRY_SECONDS = 1.0


class PartitionCountMismatch(RuntimeError):
    """REDIS_PARTITIONS differs from the count the data in Redis was written with."""

    def __init__(self, *, configured: int, recorded: int, prefix: str) -> None:
        super().__init__(
            f"REDIS_PARTITIONS is {configured}, but the data under key prefix '{prefix}' was "
            f"written with {recorded} partition(s). The partition count cannot change yet "
            f"(moving messages between partitions is not built): start with "
            f"REDIS_PARTITIONS={recorded}, or use another REDIS_KEY_PREFIX for a new, empty "
            "schedule."
        )
        self.configured = configured
        self.recorded = recorded


async def check_partition_count(store: Store) -> None:
    """Record the count on an empty store; PartitionCountMismatch if another is recorded."""
    configured = store.layout.count
    recorded = await store.recorded_partitions()
    if recorded != configured:
        raise PartitionCountMismatch(
            configured=configured, recorded=recorded, prefix=store.layout.prefix
        )


async def check_when_reachable(store: Store) -> None:
    """The check, retried until Redis answers (a start while Redis is away still serves
    probes); raises PartitionCountMismatch, which ends this task and so fails liveness."""
    while True:
        try:
            await check_partition_count(store)
            return
        except REDIS_AWAY_ERRORS as error:
            log.warning("partition count not checked yet, Redis unreachable: %r", error)
            await asyncio.sleep(RETRY_SECONDS)
