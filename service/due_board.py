"""What the claim loop knows of each partition's earliest due message, and whom to ask next.

Each claim answers the partition's next due time; a notify lowers it for the partition of
the message just scheduled. The loop asks the partitions that are due, earliest first:
the most overdue message anywhere is claimed first, so no partition starves another,
whatever their backlogs. Partitions due at the same time (say, all unknown after an idle
second) take turns at going first.
"""

from __future__ import annotations

import math


class DueBoard:
    """The earliest due time (ms, Redis clock) known for each partition."""

    def __init__(self, count: int) -> None:
        self.count = count
        # -inf: unknown, so due now; the first look asks every partition.
        self.next_due = [-math.inf] * count
        self._turn = 0

    def note(self, partition: int, next_due_ms: int | None) -> None:
        """What a claim answered: the partition's next due time (None: nothing pending)."""
        self.next_due[partition] = math.inf if next_due_ms is None else next_due_ms

    def lower(self, partition: int | None, due_ms: float) -> None:
        """A message due at `due_ms` was scheduled in `partition` (None: any of them)."""
        targets = range(self.count) if partition is None else (partition,)
        for n in targets:
            self.next_due[n] = min(self.next_due[n], due_ms)

    def forget(self) -> None:
        """Look at every partition again: others replicas schedule without telling us."""
        self.next_due = [-math.inf] * self.count

    def due(self, now_ms: float) -> list[int]:
        """Partitions with a message due by `now_ms`, earliest first (ties take turns);
        never empty, so each wake-up asks at least the partition due soonest."""
        if self.count == 1:
            return [0]
        self._turn = (self._turn + 1) % self.count
        order = sorted(
            range(self.count),
            key=lambda n: (self.next_due[n], (n - self._turn) % self.count),
        )
        due = [n for n in order if self.next_due[n] <= now_ms]
        return due or order[:1]

    def earliest(self) -> float:
        return min(self.next_due)
