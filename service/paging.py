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


Key = tuple[int, bytes]  # Redis's order of index entries: score, then member bytes
Row = tuple[Key, Position, bytes]  # order key, position, the partition's row data


@dataclass(frozen=True, slots=True)
class Slice:
    """One partition's answer: rows in order, where it stopped."""

    rows: list[Row]
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
    rows: list[Row]
    total: int
    last: Position | None  # where the next page starts; None after the last page


def order(position: Position) -> Key:
    """Redis's order of index entries: score, then member bytes."""
    return position[0], position[1].encode()


def share(limit: int, partitions: int) -> int:
    """Rows to ask each partition for first: its mean share and about one deviation (a
    binomial's) more. A partition that holds more of the page is asked again, alone;
    asking all of them for more would cost every page for the few that need it."""
    mean = limit / partitions
    return max(1, min(limit, math.ceil(mean + math.sqrt(mean) + 1)))


@dataclass(slots=True)
class _Partition:
    rows: list[Row] = field(default_factory=list)
    total: int = 0
    frontier: Position | None = None
    ended: bool = False


async def merged_page(
    fetch: Fetch, *, partitions: int, limit: int, after: Position | None
) -> Merged:
    """Up to `limit` rows after `after` across `partitions`, in index order."""
    state = [_Partition() for _ in range(partitions)]
    asks = [Ask(n, after, share(limit, partitions)) for n in range(partitions)]
    for round_number in range(MAX_ROUNDS):
        for ask, answer in zip(asks, await fetch(asks), strict=True):
            _take(state[ask.partition], answer, first=round_number == 0)
        merged = list(heapq.merge(*(p.rows for p in state)))  # keys are unique: ids are
        bound = _bound(state)
        rows = _showable(merged, bound, limit)
        if len(rows) == limit or bound is None:
            break
        asks = _refills(state, merged, limit - len(rows), limit)
    return _answer(state, rows, bound, limit)


def _take(part: _Partition, answer: Slice, *, first: bool) -> None:
    part.rows.extend(answer.rows)
    if first:
        part.total = answer.total
    if answer.last_examined is None:
        part.ended = True
    else:
        part.frontier = answer.last_examined


def _bound(state: list[_Partition]) -> Key | None:
    """How far every partition that has not ended has looked; None when all ended."""
    frontiers = [order(p.frontier) for p in state if not p.ended and p.frontier is not None]
    return min(frontiers) if frontiers else None


def _showable(merged: list[Row], bound: Key | None, limit: int) -> list[Row]:
    """The first `limit` rows at or before the bound."""
    rows = merged[:limit]
    if bound is not None and rows and rows[-1][0] > bound:
        rows = [row for row in rows if row[0] <= bound]
    return rows


def _refills(state: list[_Partition], merged: list[Row], missing: int, limit: int) -> list[Ask]:
    """Partitions stopped below the cut-off (the `limit`-th row of all fetched, if any):
    only they can still add rows to this page."""
    cut = merged[limit - 1][0] if len(merged) >= limit else None
    blocking = [
        n
        for n, p in enumerate(state)
        if not p.ended and p.frontier is not None and (cut is None or order(p.frontier) < cut)
    ]
    each = share(missing, len(blocking)) if blocking else 0
    return [Ask(n, state[n].frontier, each) for n in blocking]


def _answer(state: list[_Partition], rows: list[Row], bound: Key | None, limit: int) -> Merged:
    total = sum(p.total for p in state)
    if len(rows) == limit:
        return Merged(rows, total, rows[-1][1])
    if bound is None:
        return Merged(rows, total, None)
    # A partial page (the rounds ran out): the next one starts where every partition
    # has looked, the lowest frontier.
    last = min((p.frontier for p in state if not p.ended and p.frontier), key=order)
    return Merged(rows, total, last)


def parse_slice(reply: Sequence[Any]) -> Slice:
    """A page.lua or sched_page.lua answer: {index size, last examined score and id,
    then per row: id, score, stored record}."""
    rows: list[Row] = []
    for i in range(3, len(reply), 3):
        member, score = _bytes(reply[i]), int(float(reply[i + 1]))
        rows.append(((score, member), (score, member.decode()), bytes(reply[i + 2])))
    last = (int(float(reply[1])), _text(reply[2])) if reply[1] else None
    return Slice(rows=rows, total=int(reply[0]), last_examined=last)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
