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

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

Position = tuple[int, str]  # (score ms, id) in an index

# Rounds of asking before a page is answered with what is safe to show (filtered
# listings over sparse matches: the next page carries on from the bound).
MAX_ROUNDS = 4


Key = tuple[int, bytes]  # Redis's order of index entries: score, then member bytes
# Score, member, the partition's row data: rows sort as tuples in index order (an id is
# in one partition and one row, so no two rows tie on score and member and the data is
# never compared). Flat, and the member left as bytes until a row is shown: a merged
# page parses and sorts more rows than it shows (160 for 100 at 16 partitions).
Row = tuple[int, bytes, bytes]


@dataclass(frozen=True, slots=True)
class Slice:
    """One partition's answer: rows in order, where it stopped."""

    rows: list[Row]
    total: int
    last_examined: Position | None  # None: this partition's index ended
    in_flight: int = 0  # claims in flight in the partition (page.lua answers it)


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
    in_flight: int = 0


def order(position: Position) -> Key:
    """Redis's order of index entries: score, then member bytes."""
    return position[0], position[1].encode()


def key(row: Row) -> Key:
    return row[0], row[1]


def position(row: Row) -> Position:
    return row[0], row[1].decode()


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
    in_flight: int = 0
    frontier: Position | None = None
    ended: bool = False


async def merged_page(
    fetch: Fetch, *, partitions: int, limit: int, after: Position | None
) -> Merged:
    """Up to `limit` rows after `after` across `partitions`, in index order."""
    state = [_Partition() for _ in range(partitions)]
    each = share(limit, partitions)
    asks = [Ask(n, after, each) for n in range(partitions)]
    for round_number in range(MAX_ROUNDS):
        for ask, answer in zip(asks, await fetch(asks), strict=True):
            _take(state[ask.partition], answer, first=round_number == 0)
        # One sort of a few sorted runs (timsort merges them); cheaper here than
        # heapq.merge, whose generator steps cost more than the comparisons.
        merged = sorted(chain.from_iterable(p.rows for p in state))
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
        part.in_flight = answer.in_flight
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
    if bound is not None and rows and key(rows[-1]) > bound:
        rows = [row for row in rows if key(row) <= bound]
    return rows


def _refills(state: list[_Partition], merged: list[Row], missing: int, limit: int) -> list[Ask]:
    """Partitions stopped below the cut-off (the `limit`-th row of all fetched, if any):
    only they can still add rows to this page."""
    cut = key(merged[limit - 1]) if len(merged) >= limit else None
    blocking = [
        n
        for n, p in enumerate(state)
        if not p.ended and p.frontier is not None and (cut is None or order(p.frontier) < cut)
    ]
    each = share(missing, len(blocking)) if blocking else 0
    return [Ask(n, state[n].frontier, each) for n in blocking]


def _answer(state: list[_Partition], rows: list[Row], bound: Key | None, limit: int) -> Merged:
    total = sum(p.total for p in state)
    in_flight = sum(p.in_flight for p in state)
    if len(rows) == limit:
        return Merged(rows, total, position(rows[-1]), in_flight)
    if bound is None:
        return Merged(rows, total, None, in_flight)
    # A partial page (the rounds ran out): the next one starts where every partition
    # has looked, the lowest frontier.
    last = min((p.frontier for p in state if not p.ended and p.frontier), key=order)
    return Merged(rows, total, last, in_flight)


def parse_slice(reply: Sequence[Any], *, in_flight: bool = False) -> Slice:
    """A page.lua or sched_page.lua answer: {index size, claims in flight (page.lua's
    only, `in_flight`), last examined score and id, then per row: id, score, stored
    record}."""
    head = 4 if in_flight else 3
    entries = iter(reply[head:])
    rows = [
        (_ms(score), member, raw)
        for member, score, raw in zip(entries, entries, entries, strict=True)
    ]
    last_score, last_id = reply[head - 2], reply[head - 1]
    last = (_ms(last_score), _text(last_id)) if last_score else None
    return Slice(rows, int(reply[0]), last, int(reply[1]) if in_flight else 0)


def merged_reply(reply: Sequence[Any], limit: int) -> Merged:
    """A page from page_merged (the merge inside one Redis, scripts/_page_merge.lua):
    page.lua's answer, with the bound's score and id ('' when every index ended) as the
    last examined entry and the partitions' rows one after another. Lua finds which rows
    are safe to show; which `limit` of them come first is sorted here, where it is cheap."""
    part = parse_slice(reply, in_flight=True)
    # (A record is never missing: an index and its records change together.)
    rows = [row for row in part.rows if row[2] is not None]
    rows.sort()
    if len(rows) >= limit:
        del rows[limit:]
        return Merged(rows, part.total, position(rows[-1]), part.in_flight)
    return Merged(rows, part.total, part.last_examined, part.in_flight)


def _ms(score: bytes) -> int:
    """An index score as Redis writes it: milliseconds, an integer (`%.17g` of one), read
    directly; through float only if it ever is not (a third of a page's parsing)."""
    try:
        return int(score)
    except ValueError:
        return int(float(score))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
