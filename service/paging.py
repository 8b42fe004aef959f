"""One page over every partition: each partition's rows merged in (score, id) order.

Each partition walks its own index from the same position (the cursor: score and id of
where the previous page stopped; page.lua starts any partition right after it, whether
that entry lives there or not). So one cursor holds every partition's position.

A first round asks every partition, in one pipeline, for its share of the page (limit/P
and a margin for the unevenness of hashing). Rows are safe to show up to the *bound*:
the lowest point any partition that has not ended has examined to; a partition that
stopped lower may still hold rows before it. When the rows below the bound fill the
page, it is done. Otherwise the partitions stopped below the page's cut-off (all their
rows were used, and they could still add some) are asked again, and only they.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Position = tuple[int, str]  # (score ms, id) in an index

# Rounds of asking before a page is answered with what is safe to show (filtered
# listings over sparse matches: the next page carries on from the bound).
MAX_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class Slice:
    """One partition's answer: rows (position, row data) in order, where it stopped."""

    rows: list[tuple[Position, bytes]]
    total: int
    last_examined: Position | None  # None: this partition's index ended


@dataclass(frozen=True, slots=True)
class Ask:
    """Ask one partition for up to `limit` rows after `after`."""

    partition: int
    after: Position | None
    limit: int


Fetch = Callable[[Sequence[Ask]], Awaitable[list[Slice]]]


@dataclass(slots=True)
class Merged:
    rows: list[tuple[Position, bytes]]  # position, the partition's row data
    total: int
    last: Position | None  # where the next page starts; None after the last page


def order(position: Position) -> tuple[int, bytes]:
    """Redis's order of index entries: score, then member bytes."""
    return position[0], position[1].encode()


def share(limit: int, partitions: int) -> int:
    """Rows to ask each partition for first: its mean share and about two deviations
    (a binomial's) more, so that a second round is the exception."""
    mean = limit / partitions
    return max(1, min(limit, math.ceil(mean + 2 * math.sqrt(mean) + 1)))


@dataclass(slots=True)
class _Partition:
    rows: list[tuple[Position, bytes]] = field(default_factory=list)
    total: int = 0
    frontier: Position | None = None
    ended: bool = False


async def merged_page(
    fetch: Fetch, *, partitions: int, limit: int, after: Position | None
) -> Merged:
    """Up to `limit` rows after `after` across `partitions`, in index order."""
    state = [_Partition() for _ in range(partitions)]
    asks = [Ask(n, after, share(limit, partitions)) for n in range(partitions)]
    first = True
    for _ in range(MAX_ROUNDS):
        for ask, answer in zip(asks, await fetch(asks), strict=True):
            _take(state[ask.partition], answer, first=first)
        first = False
        rows, bound = _showable(state, limit)
        if len(rows) == limit or bound is None:
            break
        asks = _refills(state, rows, limit)
    return _answer(state, limit)


def _take(part: _Partition, answer: Slice, *, first: bool) -> None:
    part.rows.extend(answer.rows)
    if first:
        part.total = answer.total
    if answer.last_examined is None:
        part.ended = True
    else:
        part.frontier = answer.last_examined


def _bound(state: list[_Partition]) -> tuple[int, bytes] | None:
    """How far every partition that has not ended has looked; None when all ended."""
    frontiers = [order(p.frontier) for p in state if not p.ended and p.frontier is not None]
    return min(frontiers) if frontiers else None


def _showable(
    state: list[_Partition], limit: int
) -> tuple[list[tuple[Position, bytes]], tuple[int, bytes] | None]:
    """The first `limit` rows at or before the bound, and the bound."""
    bound = _bound(state)
    merged = heapq.merge(*(p.rows for p in state), key=lambda row: order(row[0]))
    rows: list[tuple[Position, bytes]] = []
    for row in merged:
        if len(rows) == limit or (bound is not None and order(row[0]) > bound):
            break
        rows.append(row)
    return rows, bound


def _refills(state: list[_Partition], shown: list[tuple[Position, bytes]], limit: int) -> list[Ask]:
    """Partitions stopped below the cut-off (the `limit`-th row of all fetched, if any):
    only they can still add rows to this page."""
    merged = list(heapq.merge(*(p.rows for p in state), key=lambda row: order(row[0])))
    cut = order(merged[limit - 1][0]) if len(merged) >= limit else None
    blocking = [
        n
        for n, p in enumerate(state)
        if not p.ended and p.frontier is not None and (cut is None or order(p.frontier) < cut)
    ]
    missing = limit - len(shown)
    each = share(missing, len(blocking)) if blocking else 0
    return [Ask(n, state[n].frontier, each) for n in blocking]


def _answer(state: list[_Partition], limit: int) -> Merged:
    rows, bound = _showable(state, limit)
    total = sum(p.total for p in state)
    if len(rows) == limit:
        return Merged(rows, total, rows[-1][0])
    if bound is None:
        return Merged(rows, total, None)
    # A partial page (the rounds ran out): the next one starts where every partition
    # has looked, the lowest frontier.
    last = min((p.frontier for p in state if not p.ended and p.frontier), key=order)
    return Merged(rows, total, last)


def parse_slice(reply: Sequence[Any]) -> Slice:
    """A page.lua or sched_page.lua answer: {index size, last examined score and id,
    then per row: id, score, stored record}."""
    rows = [
        ((int(float(reply[i + 1])), _text(reply[i])), bytes(reply[i + 2]))
        for i in range(3, len(reply), 3)
    ]
    last = (int(float(reply[1])), _text(reply[2])) if reply[1] else None
    return Slice(rows=rows, total=int(reply[0]), last_examined=last)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
