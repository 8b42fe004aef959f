"""Partitions (REDIS_PARTITIONS): spread, merged listings, bursts, and the recorded count."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from redis.asyncio import Redis as AsyncRedis

from service.app import create_app
from service.config import Settings
from service.fields import iso
from service.keys import Layout
from service.partitioning import PartitionCountMismatch
from service.store import Store
from tests.conftest import AUTH, FAST, NOWHERE, TOKEN
from tests.support import partitions as stored
from tests.support.async_sink import AsyncSink
from tests.support.polling import wait_until
from tests.support.redis_server import RedisServer

FAR = 32503680000000  # 3000-01-01 in ms: never due during a test


@pytest.fixture
def partitions() -> int:
    return 16


def batch(api: TestClient, bodies: list[dict[str, Any]]) -> None:
    for start in range(0, len(bodies), 1000):
        response = api.post(
            "/messages/batch", json={"messages": bodies[start : start + 1000]}, headers=AUTH
        )
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert all(item["status"] == "scheduled" for item in results), results[:2]


def far(message_id: str, due_ms: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "scheduleTo": iso(due_ms),
        "payload": {},
        "webhookUrl": NOWHERE,
        **extra,
    }


def test_messages_spread_over_every_partition(api: TestClient, raw_redis: redis.Redis) -> None:
    batch(api, [far(f"spread{i}", FAR) for i in range(400)])
    tags = stored.per_partition(raw_redis)
    holding = [tag for tag in tags if raw_redis.hlen(f"{tag}:msgs")]
    # 400 ids over 16 partitions: one left empty has a chance of (15/16)^400, about 1e-11.
    assert len(holding) == 16
    assert stored.size(raw_redis, "msgs") == 400
    assert api.get("/messages", headers=AUTH).json()["count"] == 400


def test_paging_returns_each_message_once_in_due_order(api: TestClient) -> None:
    # Three messages share each due time: ties are ordered by id, across partitions too.
    bodies = [far(f"page{i:04d}", FAR + (i // 3) * 1000) for i in range(1000)]
    batch(api, bodies)
    seen: list[tuple[str, str]] = []
    cursor = None
    for _ in range(200):  # 1,000 / 7 pages, and a margin
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/messages", params=params, headers=AUTH).json()
        seen += [(job["nextRun"], job["messageId"]) for job in page["scheduledJobs"]]
        assert page["count"] == 1000
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert [job_id for _, job_id in seen] == [f"page{i:04d}" for i in range(1000)]


def test_a_label_filter_pages_across_partitions(api: TestClient) -> None:
    batch(
        api, [far(f"l{i:03d}", FAR + i, labels={"team": "a" if i % 5 else "b"}) for i in range(300)]
    )
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": 9, "label": "team:b"}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/messages", params=params, headers=AUTH).json()
        seen += [job["messageId"] for job in page["scheduledJobs"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == [f"l{i:03d}" for i in range(0, 300, 5)]
    response = api.delete("/messages", params={"label": "team:b"}, headers=AUTH)
    assert response.json()["count"] == 60
    assert api.get("/messages", headers=AUTH).json()["count"] == 240


def test_a_burst_at_sixteen_partitions_is_delivered_once_each(
    start_app: Callable[..., TestClient], webhooks: AsyncSink, raw_redis: redis.Redis
) -> None:
    first = start_app()
    # This replica accepts but never delivers: all 5,000 are due when the next one starts.
    first.app.state.runtime.dispatcher.stop_claiming()  # type: ignore[attr-defined]
    ids = [f"burst{i}" for i in range(5000)]
    bodies = [
        {"id": i, "scheduleTo": "2020-01-01T00:00:00Z", "payload": {}, "webhookUrl": webhooks.url()}
        for i in ids
    ]
    batch(first, bodies)
    first.__exit__(None, None, None)
    # (A claim already on its way when claiming stopped comes back when it expires.)
    assert stored.size(raw_redis, "due") + stored.size(raw_redis, "inflight") == 5000
    start_app(delivery_concurrency=128)
    assert webhooks.wait_for_ids(set(ids), timeout=120) == set()
    counts = webhooks.counts()
    assert max(counts[i] for i in ids) == 1
    # Acks follow the receivers' answers (in batches): the store empties soon after.
    assert wait_until(lambda: stored.size(raw_redis, "msgs") == 0, timeout=15)


class TestRecordedCount:
    def test_a_start_with_another_count_refuses_naming_the_recorded_one(
        self, start_app: Callable[..., TestClient], make_settings: Callable[..., Settings]
    ) -> None:
        start_app().__exit__(None, None, None)  # records 16
        client = TestClient(create_app(make_settings(redis_partitions=4)))
        with pytest.raises(PartitionCountMismatch) as refused:
            client.__enter__()
        text = str(refused.value)
        assert "REDIS_PARTITIONS is 4" in text
        assert "written with 16" in text
        assert "REDIS_PARTITIONS=16" in text
        assert "scheduler-api repartition --to 4" in text

    def test_the_same_count_starts_again(
        self, start_app: Callable[..., TestClient], raw_redis: redis.Redis
    ) -> None:
        start_app().__exit__(None, None, None)
        assert start_app().get("/health").status_code == 200
        assert raw_redis.get("{scheduler:0}:partitions") == "16"

    def test_data_written_before_counts_were_recorded_is_one_partition(
        self, make_settings: Callable[..., Settings], raw_redis: redis.Redis
    ) -> None:
        # What a version without partitions leaves: messages in partition 0, no record.
        raw_redis.hset("{scheduler:0}:msgs", "old", "x")
        client = TestClient(create_app(make_settings()))
        with pytest.raises(PartitionCountMismatch, match="written with 1 partition"):
            client.__enter__()


def test_listing_survives_redis_forgetting_its_scripts(
    api: TestClient, raw_redis: redis.Redis
) -> None:
    batch(api, [far(f"flush{i}", FAR + i) for i in range(50)])
    raw_redis.script_flush()
    page = api.get("/messages", params={"limit": 10}, headers=AUTH).json()
    assert [job["messageId"] for job in page["scheduledJobs"]] == [f"flush{i}" for i in range(10)]


class TestCheckedOnceRedisIsBack:
    """A replica that starts while Redis is away still starts (probes answer), and checks
    the count as soon as Redis does."""

    def settings(self, url: str, partitions: int) -> Settings:
        values: dict[str, Any] = {"api_token": TOKEN, "redis_url": url, **FAST}
        return Settings(_env_file=None, redis_partitions=partitions, **values)  # type: ignore[call-arg]

    def test_the_count_is_recorded_when_redis_comes_back(self, own_redis: RedisServer) -> None:
        own_redis.stop()
        with TestClient(create_app(self.settings(own_redis.url, 16))) as client:
            own_redis.start()
            with own_redis.client() as direct:
                assert wait_until(lambda: direct.get("{scheduler:0}:partitions") == b"16")
            assert client.get("/livez").status_code == 200

    def test_a_mismatch_found_then_fails_liveness(self, own_redis: RedisServer) -> None:
        with own_redis.client() as direct:
            direct.set("{scheduler:0}:partitions", 4)
        own_redis.stop()
        with TestClient(create_app(self.settings(own_redis.url, 16))) as client:
            own_redis.start()
            assert wait_until(lambda: client.get("/livez").status_code == 503)


def test_a_claim_that_expires_in_any_partition_is_delivered_again(
    start_app: Callable[..., TestClient], webhooks: AsyncSink, redis_url: str
) -> None:
    first = start_app()
    first.app.state.runtime.dispatcher.stop_claiming()  # type: ignore[attr-defined]
    ids = [f"lost{i}" for i in range(40)]
    batch(first, [{**far(i, 0), "webhookUrl": webhooks.url()} for i in ids])
    first.__exit__(None, None, None)
    # A replica claims them all and dies before settling any: its claims expire.
    claimed = asyncio.run(_claim_everything(redis_url, timeout_ms=300))
    assert claimed == 40
    start_app()
    assert webhooks.wait_for_ids(set(ids), timeout=30) == set()


async def _claim_everything(url: str, *, timeout_ms: int) -> int:
    client = AsyncRedis.from_url(url)
    store = Store(client, Layout("scheduler", 16))
    try:
        batches = [
            await store.claim(keys, limit=100, claim_timeout_ms=timeout_ms)
            for keys in store.layout.partitions()
        ]
        return sum(len(batch.claims) for batch in batches)
    finally:
        await client.aclose()
