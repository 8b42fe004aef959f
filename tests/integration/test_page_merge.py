"""A listing over partitions is the listing of one index: every row once, in (score, id)
order, the same whether the partitions are merged inside Redis (one script call, on one
Redis) or by the service (a call per partition, as on a Cluster), page by page."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis

from service.keys import Layout, partition_of
from service.options import Options
from service.paging import share
from service.records import Meta, NewMessage
from service.store import Finish, Store, _page_args

T = TypeVar("T")
PARTITIONS = 16
PAST = 1_600_000_000_000
FAR = 32_503_680_000_000  # 3000-01-01: never due during a test
HOOK = "http://127.0.0.1:9/hook"
MERGES = ("in Redis", "by the service")


def run(
    redis_url: str,
    merge: str,
    scenario: Callable[[Store], Awaitable[T]],
    partitions: int = PARTITIONS,
) -> T:
    async def main() -> T:
        client = Redis.from_url(redis_url)
        try:
            store = Store(client, Layout("merge", partitions))
            store.merge_in_redis = merge == "in Redis"
            return await scenario(store)
        finally:
            await client.aclose()

    return asyncio.run(main())


def message(message_id: str, due_ms: int, labels: dict[str, str] | None = None) -> NewMessage:
    return NewMessage(message_id, due_ms, b"{}", HOOK, PAST, options=Options(labels=labels or {}))


async def every_entry(
    store: Store, index: str, state: str, labels: list[str]
) -> list[tuple[int, str]]:
    """What the listing must show: every partition's index read whole, the rows in the
    wanted state with the wanted labels, in Redis's order (score, then id bytes)."""
    rows: list[tuple[int, bytes]] = []
    for keys in store.layout.partitions():
        if index in ("lbl", "dlbl"):
            name, value = labels[0].split("=", 1)
            key = keys.label(name, value, dead=index == "dlbl")
        else:
            key = getattr(keys, index)
        for member, score in await store.redis.zrange(key, 0, -1, withscores=True):
            raw = await store.redis.hget(keys.msgs, member)
            if raw is not None and _wanted(Meta.decode(raw), state, labels):
                rows.append((int(score), member))
    return [(score, member.decode()) for score, member in sorted(rows)]


def _wanted(meta: Meta, state: str, labels: list[str]) -> bool:
    code = {"pending": "p", "in_flight": "i", "dead": "d"}[meta.state.value]
    if state == "s" and (code != "p" or meta.attempts != 0):
        return False
    if state == "r" and (code != "p" or meta.attempts == 0):
        return False
    if state in ("p", "i", "d") and code != state:
        return False
    have = meta.opts.labels
    return all(have.get(name) == value for name, value in (f.split("=", 1) for f in labels))


async def listed(
    store: Store, index: str, state: str, labels: list[str], limit: int
) -> tuple[list[tuple[int, str]], list[int], int]:
    """Every page of the listing, cursor after cursor: the rows, each page's size, and the
    total the first page gave."""
    rows: list[tuple[int, str]] = []
    sizes: list[int] = []
    after = None
    total = -1
    for _ in range(5000):
        page = await store.page(index=index, limit=limit, after=after, state=state, labels=labels)
        total = page.total if total < 0 else total
        rows += [(row.score_ms, row.id) for row in page.rows]
        sizes.append(len(page.rows))
        after = page.last_examined
        if after is None:
            return rows, sizes, total
    raise AssertionError("the listing did not end")


async def fill(store: Store) -> None:
    """Pending messages with many due times shared (ties cross partitions), labelled
    partly; then some claimed and left in flight, retried or dead-lettered."""
    chance = random.Random(7)
    teams = ("a", "b", "c")
    pending = [
        message(
            f"{chance.getrandbits(40):010x}-{i}",
            FAR + chance.randrange(40) * 1000,
            {"team": teams[i % 3]} if i % 2 else None,
        )
        for i in range(700)
    ]
    due = [message(f"due-{i:03d}", PAST + i, {"team": teams[i // 4 % 3]}) for i in range(90)]
    await store.schedule_many(pending + due)
    claims = []
    for keys in store.layout.partitions():
        claims += (await store.claim(keys, limit=100, claim_timeout_ms=3_600_000)).claims
    assert len(claims) == 90
    for number, claim in enumerate(sorted(claims, key=lambda c: c.id)):
        if number % 3 == 0:
            await store.retry(Finish(claim, "e"), delay_ms=10**9, error="503")
        elif number % 3 == 1:
            await store.dead_letter(Finish(claim, "e"), error="410")


LISTINGS = [
    ("due", "", []),
    ("due", "s", []),
    ("retrying", "", []),
    ("inflight", "", []),
    ("dead", "", []),
    ("lbl", "p", ["team=a"]),
    ("lbl", "i", ["team=b"]),
    ("lbl", "r", ["team=c"]),
    ("dlbl", "", ["team=a"]),
]


@pytest.mark.parametrize("merge", MERGES)
@pytest.mark.parametrize("limit", [1, 7, 100])
def test_every_listing_pages_through_each_row_once_in_index_order(
    redis_url: str, merge: str, limit: int
) -> None:
    async def scenario(store: Store) -> None:
        await fill(store)
        for index, state, labels in LISTINGS:
            expected = await every_entry(store, index, state, labels)
            assert expected, (index, state, labels)
            rows, sizes, total = await listed(store, index, state, labels, limit)
            assert rows == expected, (index, state, labels)
            # Every page is full but the last: no partition's unevenness shows as a short page.
            assert all(size == limit for size in sizes[:-1]), (index, state, labels, sizes)
            if not labels:
                assert total == sum(
                    [await store.redis.zcard(getattr(k, index)) for k in store.layout.partitions()]
                )

    run(redis_url, merge, scenario)


@pytest.mark.parametrize("merge", MERGES)
def test_a_partition_holding_the_whole_first_page_is_read_on_until_the_page_is_full(
    redis_url: str, merge: str
) -> None:
    """The first 150 due times all belong to ids of one partition: it was asked for its
    share, and must be asked again (and again) within the same page."""
    crowded = [f"c{i}" for i in range(5000) if partition_of(f"c{i}", PARTITIONS) == 3][:150]
    others = [f"o{i}" for i in range(300)]

    async def scenario(store: Store) -> None:
        first = [message(name, FAR + i) for i, name in enumerate(crowded)]
        later = [message(name, FAR + 1000 + i) for i, name in enumerate(others)]
        await store.schedule_many(first + later)
        page = await store.page(index="due", limit=100, after=None)
        assert [row.id for row in page.rows] == crowded[:100]
        assert page.last_examined == (FAR + 99, crowded[99])
        rest = await store.page(index="due", limit=100, after=page.last_examined)
        assert [row.id for row in rest.rows] == crowded[100:] + others[:50]

    run(redis_url, merge, scenario)


def test_a_partition_without_rows_on_the_first_page_sends_none_of_its_index(
    redis_url: str,
) -> None:
    """Merged in Redis, only the rows up to the bound come back. Partition 5's messages
    are all due after the first page's: it adds no row to the reply, where it once sent
    its whole index (a first page then cost as much as reading that partition)."""
    late = [f"l{i}" for i in range(8000) if partition_of(f"l{i}", PARTITIONS) == 5][:400]
    early = [f"e{i}" for i in range(1000) if partition_of(f"e{i}", PARTITIONS) != 5][:300]

    async def scenario(store: Store) -> list[str]:
        await store.schedule_many(
            [message(name, FAR + i) for i, name in enumerate(early)]
            + [message(name, FAR + 10_000 + i) for i, name in enumerate(late)]
        )
        page = await store.page(index="due", limit=100, after=None)
        assert [row.id for row in page.rows] == early[:100]
        args = _page_args("due", 100, None, "", [], examine=store._examine)
        partitions = store.layout.partitions()
        reply: list[Any] = await store.scripts.page_merged(
            partitions, 100, share(100, PARTITIONS), args
        )
        return [member.decode() for member in reply[4::3]]

    sent = run(redis_url, MERGES[0], scenario)
    assert not [name for name in sent if partition_of(name, PARTITIONS) == 5]
    assert 100 <= len(sent) < 100 + PARTITIONS * share(100, PARTITIONS)


@pytest.mark.parametrize("merge", MERGES)
def test_a_sparse_filter_answers_within_its_budget_and_the_cursor_carries_on(
    redis_url: str, merge: str
) -> None:
    """Four matches among 24,000 pending: a page examines a bounded number of entries
    (in Redis, about PAGE_EXAMINE per script call; merged by the service, as many per
    round) and may come back short, with a cursor from where every partition has looked."""
    wanted = {1000, 9000, 17000, 23999}

    async def scenario(store: Store) -> None:
        messages = [
            message(f"m{i:05d}", FAR + i, {"pick": "yes"} if i in wanted else None)
            for i in range(24_000)
        ]
        for start in range(0, len(messages), 4000):
            await store.schedule_many(messages[start : start + 4000])
        # Filtered on the due index by label (not the label's own index): sparse.
        rows, sizes, _ = await listed(store, "due", "", ["pick=yes"], 10)
        assert [name for _, name in rows] == [f"m{i:05d}" for i in sorted(wanted)]
        assert len(sizes) > 1  # the budget cut the walk into several pages

    run(redis_url, merge, scenario)


def test_both_merges_give_the_same_pages(redis_url: str) -> None:
    async def scenario(store: Store) -> None:
        await fill(store)

        async def pages(*, in_redis: bool) -> list[Any]:
            store.merge_in_redis = in_redis
            out = []
            for index, state, labels in LISTINGS:
                after = None
                for _ in range(3):
                    page = await store.page(
                        index=index, limit=9, after=after, state=state, labels=labels
                    )
                    out.append(([row.id for row in page.rows], page.total, page.in_flight, after))
                    after = page.last_examined
                    if after is None:
                        break
            return out

        assert await pages(in_redis=True) == await pages(in_redis=False)

    run(redis_url, MERGES[0], scenario)


@pytest.mark.parametrize("merge", MERGES)
def test_the_most_partitions_allowed_page_each_row_once(redis_url: str, merge: str) -> None:
    """1,024 partitions (REDIS_PARTITIONS' upper limit), most holding two or three of the
    messages: one script call names 5,120 keys, each partition is asked for one row."""
    due = [FAR + (i % 50) * 1000 for i in range(2500)]  # 50 due times: ties everywhere

    async def scenario(store: Store) -> list[tuple[int, str]]:
        await store.schedule_many([message(f"w{i}", due[i]) for i in range(2500)])
        rows, sizes, total = await listed(store, "due", "", [], 100)
        assert total == 2500 and sizes == [100] * 25 + [0]
        return rows

    expected = sorted((due[i], f"w{i}".encode()) for i in range(2500))
    rows = run(redis_url, merge, scenario, partitions=1024)
    assert rows == [(score, name.decode()) for score, name in expected]
