"""Merged pages over partitions: every row once, in (score, id) order, whatever the spread."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

import pytest

from service.paging import Ask, Position, Row, Slice, merged_page, order, share


class Partitions:
    """In-memory partitions answering as page.lua does (filter, examine budget)."""

    def __init__(
        self, entries: list[list[Position]], *, keep: Callable[[str], bool], budget: int
    ) -> None:
        self.entries = [sorted(part, key=order) for part in entries]
        self.keep = keep
        self.budget = budget
        self.asked: list[Ask] = []
        self.rounds = 0

    async def fetch(self, asks: Sequence[Ask]) -> list[Slice]:
        self.rounds += 1
        self.asked += asks
        return [self._page(ask) for ask in asks]

    def _page(self, ask: Ask) -> Slice:
        part = self.entries[ask.partition]
        start = 0 if ask.after is None else sum(order(e) <= order(ask.after) for e in part)
        rows: list[Row] = []
        last: Position | None = None
        for examined, entry in enumerate(part[start:]):
            if examined == self.budget:
                return Slice(rows, len(part), last)
            last = entry
            if self.keep(entry[1]):
                rows.append((entry[0], entry[1].encode(), b"record"))
                if len(rows) == ask.limit:
                    return Slice(rows, len(part), last)
        return Slice(rows, len(part), None)


def spread(count: int, partitions: int, *, ties: int = 3) -> list[list[Position]]:
    chosen = random.Random(count * partitions)
    parts: list[list[Position]] = [[] for _ in range(partitions)]
    for i in range(count):
        parts[chosen.randrange(partitions)].append((i // ties, f"m{i:05d}"))
    return parts


def walk(source: Partitions, partitions: int, limit: int) -> list[str]:
    seen: list[str] = []
    after: Position | None = None
    for _ in range(10_000):
        page = asyncio.run(
            merged_page(source.fetch, partitions=partitions, limit=limit, after=after)
        )
        seen += [member.decode() for _, member, _ in page.rows]
        if page.last is None:
            return seen
        after = page.last
    raise AssertionError("paging did not end")


@pytest.mark.parametrize(("partitions", "limit"), [(1, 7), (4, 1), (16, 7), (16, 100), (5, 33)])
def test_paging_shows_every_row_once_in_order(partitions: int, limit: int) -> None:
    source = Partitions(spread(700, partitions), keep=lambda _: True, budget=5000)
    assert walk(source, partitions, limit) == [f"m{i:05d}" for i in range(700)]


def test_a_sparse_filter_under_a_small_budget_still_shows_every_match_once() -> None:
    source = Partitions(spread(2000, 8), keep=lambda i: i.endswith("7"), budget=30)
    assert walk(source, 8, 10) == [f"m{i:05d}" for i in range(2000) if i % 10 == 7]


def test_a_first_page_asks_each_partition_for_its_share_in_one_round() -> None:
    source = Partitions(spread(5000, 16), keep=lambda _: True, budget=5000)
    page = asyncio.run(merged_page(source.fetch, partitions=16, limit=100, after=None))
    assert [member.decode() for _, member, _ in page.rows] == [f"m{i:05d}" for i in range(100)]
    assert page.total == 5000
    first = source.asked[:16]
    assert {ask.limit for ask in first} == {share(100, 16)} and share(100, 16) < 20
    assert source.rounds <= 2
    assert len(source.asked) - 16 <= 4  # refills go only to the partitions that need them


def test_an_empty_store_has_no_next_page() -> None:
    source = Partitions([[] for _ in range(16)], keep=lambda _: True, budget=5000)
    page = asyncio.run(merged_page(source.fetch, partitions=16, limit=10, after=None))
    assert page.rows == [] and page.last is None and page.total == 0


def test_sizes_are_summed_over_the_partitions_from_the_first_round() -> None:
    held: list[Row] = [(i, f"m{i:02d}".encode(), b"") for i in range(40)]
    asked: list[Ask] = []

    def answer(ask: Ask) -> Slice:
        # Partition 0 holds every row, the others none: it is asked again, alone.
        rows = (
            [r for r in held if ask.after is None or r[0] > ask.after[0]]
            if ask.partition == 0
            else []
        )
        rows = rows[: ask.limit]
        last = (rows[-1][0], rows[-1][1].decode()) if rows and rows[-1] != held[-1] else None
        total = len(held) if ask.partition == 0 else 0
        return Slice(rows, total, last, in_flight=ask.partition + 1)

    async def fetch(asks: Sequence[Ask]) -> list[Slice]:
        asked.extend(asks)
        return [answer(ask) for ask in asks]

    page = asyncio.run(merged_page(fetch, partitions=4, limit=20, after=None))
    assert [member for _, member, _ in page.rows] == [row[1] for row in held[:20]]
    assert len(asked) > 4  # a second round, whose sizes are not counted again
    assert (page.total, page.in_flight) == (40, 1 + 2 + 3 + 4)
