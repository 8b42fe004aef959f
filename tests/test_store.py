"""The Redis scripts, one behaviour at a time, against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis

from service.keys import Keys
from service.records import NewMessage, base36
from service.store import Store

T = TypeVar("T")
NOW = 1_700_000_000_000


def run(redis_url: str, scenario: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        client = Redis.from_url(redis_url)
        try:
            return await scenario(Store(client, Keys()))
        finally:
            await client.aclose()

    return asyncio.run(main())


def new(message_id: str, *, due_ms: int = NOW, created_ms: int = NOW) -> NewMessage:
    return NewMessage(message_id, due_ms, b'{"a":1}', "http://a.b/hook", created_ms)


def test_base36_round_trips() -> None:
    for number in (0, 1, 35, 36, NOW, 2**53):
        assert int(base36(number), 36) == number


def test_record_keeps_every_field(redis_url: str) -> None:
    async def scenario(store: Store) -> Any:
        await store.schedule(NewMessage("r", NOW + 5, b'{"x":"a\\nb"}', "https://h/p?q=1", NOW))
        return await store.get("r")

    record = run(redis_url, scenario)
    assert (record.schedule_ms, record.created_ms, record.attempts) == (NOW + 5, NOW, 0)
    assert record.payload == b'{"x":"a\\nb"}'
    assert record.url == "https://h/p?q=1"
    assert record.state.value == "pending"


def test_concurrent_claims_hand_each_message_to_one_caller(redis_url: str) -> None:
    async def scenario(store: Store) -> list[list[str]]:
        await store.schedule_many([new(f"c{i}") for i in range(500)])

        async def claimer() -> list[str]:
            got: list[str] = []
            for _ in range(200):
                batch = await store.claim(limit=7, claim_timeout_ms=60_000)
                got += [claim.id for claim in batch.claims]
            return got

        return list(await asyncio.gather(*(claimer() for _ in range(4))))

    results = run(redis_url, scenario)
    every = [message_id for got in results for message_id in got]
    assert sorted(every) == sorted(f"c{i}" for i in range(500))
    assert all(results), "every claimer got some"


def test_ack_spares_a_new_message_that_reuses_the_id(redis_url: str) -> None:
    async def scenario(store: Store) -> Any:
        await store.schedule(new("same", created_ms=NOW))
        [claim] = (await store.claim(limit=1, claim_timeout_ms=60_000)).claims
        await store.cancel("same")
        await store.schedule(new("same", created_ms=NOW + 1, due_ms=NOW + 10**9))
        removed = await store.ack([claim])
        return removed, await store.get("same")

    removed, record = run(redis_url, scenario)
    assert removed == 0
    assert record is not None and record.created_ms == NOW + 1


def test_a_stale_claim_cannot_reschedule(redis_url: str) -> None:
    async def scenario(store: Store) -> Any:
        await store.schedule(new("stale"))
        [first] = (await store.claim(limit=1, claim_timeout_ms=0)).claims
        lease = await store.lease_acquire(owner="me", ttl_ms=10_000)
        await store.recover_expired(lease_value=f"me:{lease}", limit=10)
        [second] = (await store.claim(limit=1, claim_timeout_ms=60_000)).claims
        stale = await store.retry(first, delay_ms=0, error="old")
        current = await store.retry(second, delay_ms=0, error="new")
        return first.attempt, second.attempt, stale, current

    first, second, stale, current = run(redis_url, scenario)
    assert (first, second) == (1, 2)
    assert stale == 0
    assert current > 0


def test_housekeeping_scripts_refuse_a_former_lease_holder(redis_url: str) -> None:
    async def scenario(store: Store) -> Any:
        fence = await store.lease_acquire(owner="old", ttl_ms=10_000)
        await store.lease_release(lease_value=f"old:{fence}")
        newer = await store.lease_acquire(owner="new", ttl_ms=10_000)
        refused = await store.recover_expired(lease_value=f"old:{fence}", limit=10)
        purged = await store.purge_dead(lease_value=f"old:{fence}", retention_ms=0, limit=10)
        allowed = await store.recover_expired(lease_value=f"new:{newer}", limit=10)
        return fence, newer, refused, purged, allowed

    fence, newer, refused, purged, allowed = run(redis_url, scenario)
    assert newer == fence + 1
    assert (refused, purged, allowed) == (-1, -1, 0)


@pytest.mark.parametrize("renewals", [1, 3])
def test_lease_renewal_keeps_the_fence_and_excludes_others(redis_url: str, renewals: int) -> None:
    async def scenario(store: Store) -> Any:
        tokens = [await store.lease_acquire(owner="a", ttl_ms=10_000) for _ in range(renewals)]
        other = await store.lease_acquire(owner="b", ttl_ms=10_000)
        return tokens, other

    tokens, other = run(redis_url, scenario)
    assert len(set(tokens)) == 1 and tokens[0] > 0
    assert other == 0
